//! OTLP/HTTP: `POST` of protobuf or JSON export requests on three paths, served by
//! hyper (HTTP/1.1 and cleartext HTTP/2 on one port).
//!
//! A request goes through the checks in order, each refusal counted under a fixed
//! reason (`weir_receiver_refused_requests_total{reason=...}`) and logged at debug level
//! so a flood of bad requests cannot flood the logs:
//!
//! | check                                   | answer | reason                   |
//! |-----------------------------------------|--------|--------------------------|
//! | path is one of the three                | 404    | `not_found`              |
//! | method is POST (OPTIONS = CORS preflight)| 405   | `method_not_allowed`     |
//! | Content-Type is protobuf or JSON        | 415    | `unsupported_media_type` |
//! | Content-Encoding is known               | 415    | `unsupported_encoding`   |
//! | body within the limit, before and after decompression | 413 | `too_large`   |
//! | body decompresses and decodes           | 400    | `malformed`              |
//!
//! Then the batch is sent: 200 when the pipeline took it, 503 with `Retry-After` when it
//! is full or shutting down, 404 when no pipeline takes the signal (the Collector
//! registers no handler for it).
//!
//! Before all of these, with `auth` set, a request without valid credentials is
//! answered 401 and counted as `unauthenticated` (a CORS preflight is answered without
//! credentials, as browsers send none). Connections come from `weir_api::conn` (TLS,
//! `max_connections`, `read_header_timeout`).

mod body;
mod cors;
mod reply;

use crate::endpoint::display_addr;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN};
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weir_api::{Batch, ConsumeError, ReceiverOutput, RefusalReason, Signal, StartError};

use crate::config::HttpConfig;
use crate::security::{self, Security, Wanted};
use crate::{endpoint, metadata};
use body::{BodyError, Encoding};
use reply::{code, Format, Reply};
use weir_api::auth::ServerAuthenticator;
use weir_api::conn::ServerOptions;

/// Bodies at least this large (on the wire) are decompressed and decoded on the blocking
/// pool, so a 20 MiB request does not stall the connections sharing its worker thread.
const INLINE_DECODE_LIMIT: usize = 64 * 1024;

/// A bound, not yet serving, HTTP server.
pub struct HttpServer {
    listener: TcpListener,
    state: Arc<State>,
    options: ServerOptions,
}

struct State {
    output: ReceiverOutput,
    auth: Option<Arc<dyn ServerAuthenticator>>,
    routes: [(String, Signal); 3],
    max_body: usize,
    include_metadata: bool,
    cors: Option<cors::Cors>,
}

/// A request refused before or while decoding.
struct Refusal {
    status: StatusCode,
    reason: RefusalReason,
    code: i32,
    message: String,
}

impl Refusal {
    fn malformed(message: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            reason: RefusalReason::Malformed,
            code: code::INVALID_ARGUMENT,
            message,
        }
    }

    fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: RefusalReason::TooLarge,
            code: code::RESOURCE_EXHAUSTED,
            message: format!("request body larger than max_request_body_size ({limit} bytes)"),
        }
    }

    fn from_body(err: BodyError, limit: usize) -> Self {
        match err {
            BodyError::TooLarge => Self::too_large(limit),
            BodyError::Malformed(message) => Self::malformed(message),
        }
    }
}

impl HttpServer {
    pub async fn bind(config: &HttpConfig, output: ReceiverOutput) -> Result<Self, StartError> {
        let Security { options, auth } = security::resolve(
            Wanted {
                protocol: "http",
                name: "otlp receiver: HTTP",
                tls: config.tls.as_ref(),
                auth: config.auth.as_ref(),
                max_connections: config.max_connections,
                header_timeout: config.header_timeout(),
                alpn: &[b"h2", b"http/1.1"],
            },
            &output,
        )?;
        let listener = endpoint::listen(&config.endpoint, "http").await?;
        let state = State {
            output,
            auth,
            routes: [
                (config.traces_url_path.clone(), Signal::Traces),
                (config.metrics_url_path.clone(), Signal::Metrics),
                (config.logs_url_path.clone(), Signal::Logs),
            ],
            max_body: config.max_request_body_size(),
            include_metadata: config.include_metadata,
            cors: config.cors.as_ref().and_then(cors::Cors::new),
        };
        Ok(Self {
            listener,
            state: Arc::new(state),
            options,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown`; then stops accepting, lets every connection finish its
    /// in-flight request (idle keep-alive connections close at once) and returns.
    pub fn serve(self, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let addr = self.local_addr();
        Box::pin(async move {
            tracing::info!(endpoint = %display_addr(addr), tls = self.options.tls.is_some(),
                "otlp receiver: HTTP server started");
            let state = self.state;
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request).await) }
            });
            weir_api::http::serve_with(
                self.listener,
                auto::Builder::new(TokioExecutor::new()),
                service,
                shutdown,
                self.options,
            )
            .await;
            tracing::info!(endpoint = %display_addr(addr), "otlp receiver: HTTP server stopped");
        })
    }
}

async fn handle(state: &State, request: Request<Incoming>) -> Reply {
    let origin = request.headers().get(ORIGIN).cloned();
    let mut reply = match unauthenticated(state, &request) {
        Some(refused) => refused,
        None => route(state, request).await,
    };
    if let (Some(cors), Some(origin)) = (&state.cors, &origin) {
        cors.decorate(origin, &mut reply);
    }
    reply
}

/// The 401 answer when `auth` is set and the request's credentials do not pass.
fn unauthenticated(state: &State, request: &Request<Incoming>) -> Option<Reply> {
    let auth = state.auth.as_ref()?;
    if request.method() == Method::OPTIONS && state.cors.is_some() {
        return None;
    }
    let reason = auth.authenticate(request.headers()).err()?;
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let reply = match Format::from_content_type(content_type) {
        Some(format) => reply::status(
            StatusCode::UNAUTHORIZED,
            format,
            code::UNAUTHENTICATED,
            "Unauthorized".into(),
        ),
        None => reply::text(StatusCode::UNAUTHORIZED, "Unauthorized"),
    };
    Some(state.refuse(RefusalReason::Unauthenticated, &reason, reply))
}

impl State {
    fn signal_for(&self, path: &str) -> Option<Signal> {
        self.routes.iter().find(|(p, _)| p == path).map(|(_, s)| *s)
    }

    /// Counts and logs a refusal, then returns the answer.
    fn refuse(&self, reason: RefusalReason, detail: &str, reply: Reply) -> Reply {
        self.output.refuse_request(reason);
        tracing::debug!(
            reason = reason.as_str(),
            detail,
            status = reply.status().as_u16(),
            "otlp receiver: HTTP request refused"
        );
        reply
    }

    fn refuse_with_status(&self, refusal: Refusal, format: Format) -> Reply {
        let reply = reply::status(
            refusal.status,
            format,
            refusal.code,
            refusal.message.clone(),
        );
        self.refuse(refusal.reason, &refusal.message, reply)
    }
}

async fn route(state: &State, request: Request<Incoming>) -> Reply {
    if request.method() == Method::OPTIONS {
        if let Some(cors) = &state.cors {
            return cors.preflight(request.headers());
        }
    }
    let path = request.uri().path();
    let Some(signal) = state.signal_for(path) else {
        return state.refuse(
            RefusalReason::NotFound,
            path,
            reply::text(StatusCode::NOT_FOUND, "404 page not found"),
        );
    };
    if request.method() != Method::POST {
        return state.refuse(
            RefusalReason::MethodNotAllowed,
            request.method().as_str(),
            reply::method_not_allowed(),
        );
    }
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    let content_type = header(CONTENT_TYPE).unwrap_or_default();
    let Some(format) = Format::from_content_type(content_type) else {
        return state.refuse(
            RefusalReason::UnsupportedMediaType,
            content_type,
            reply::text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "415 unsupported media type, supported: [application/json, application/x-protobuf]",
            ),
        );
    };
    let encoding = match Encoding::from_header(header(CONTENT_ENCODING)) {
        Ok(encoding) => encoding,
        Err(value) => {
            let message = format!(
                "415 unsupported content encoding `{value}`, supported: [gzip, zstd, deflate, identity]"
            );
            return state.refuse(
                RefusalReason::UnsupportedEncoding,
                &value,
                reply::text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message),
            );
        }
    };
    let declared_length = header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > state.max_body as u64) {
        return state.refuse_with_status(Refusal::too_large(state.max_body), format);
    }
    // Charged to the memory budget before the body is read: over budget, the client is
    // told to retry without Weir taking the body in. Without a Content-Length the batch
    // is charged when it is handed on.
    let charge = match declared_length.map(|n| state.output.reserve(n)).transpose() {
        Ok(charge) => charge,
        Err(err) => return consume_error(format, &err),
    };
    let client = state
        .include_metadata
        .then(|| metadata::from_headers(request.headers()));

    let wire = match body::read(request.into_body(), state.max_body).await {
        Ok(wire) => wire,
        Err(err) => {
            return state.refuse_with_status(Refusal::from_body(err, state.max_body), format)
        }
    };
    let mut batch = match decode(signal, format, encoding, wire, state.max_body).await {
        Ok(batch) => batch,
        Err(refusal) => return state.refuse_with_status(refusal, format),
    };
    if let Some(client) = client {
        batch.set_metadata(client);
    }
    let sent = match charge {
        Some(charge) => state.output.send_charged(batch, charge).await,
        None => state.output.send(batch).await,
    };
    match sent {
        Ok(()) => reply::ok(format),
        Err(err) => {
            tracing::debug!(%signal, error = %err, "otlp receiver: HTTP export refused by the pipeline");
            consume_error(format, &err)
        }
    }
}

/// Decompresses and decodes, on the blocking pool when the body is large.
async fn decode(
    signal: Signal,
    format: Format,
    encoding: Encoding,
    wire: Bytes,
    limit: usize,
) -> Result<Batch, Refusal> {
    let inline = wire.len() < INLINE_DECODE_LIMIT;
    let work = move || {
        let payload =
            body::decompress(encoding, wire, limit).map_err(|e| Refusal::from_body(e, limit))?;
        let decoded = match format {
            Format::Protobuf => Batch::from_protobuf(signal, payload),
            Format::Json => Batch::decode_json(signal, &payload),
        };
        decoded.map_err(|e| Refusal::malformed(e.0))
    };
    if inline {
        return work();
    }
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| {
            Err(Refusal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                reason: RefusalReason::Internal,
                code: 13,
                message: format!("decoding failed unexpectedly: {err}"),
            })
        })
}

fn consume_error(format: Format, err: &ConsumeError) -> Reply {
    match err {
        ConsumeError::NoRoom { retry_after } => {
            reply::unavailable(format, err.to_string(), Some(*retry_after))
        }
        ConsumeError::ShuttingDown => reply::unavailable(format, err.to_string(), None),
        ConsumeError::NoPipeline(_) => reply::status(
            StatusCode::NOT_FOUND,
            format,
            code::UNIMPLEMENTED,
            err.to_string(),
        ),
    }
}
