//! Export requests over OTLP/HTTP: `prepare` encodes and compresses a batch once; each
//! `send` (one attempt) POSTs those same bytes and reads the answer.
//!
//! One hyper client (a pool of keep-alive connections, HTTP/2 when TLS negotiates it)
//! serves every signal and every concurrent request; the engine runs `num_consumers`
//! requests at once and owns queueing, retries and timeouts. A connection that cannot be
//! made or breaks mid-request is retryable: the server may not have seen the data.

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;
use weir_api::error::chain;
use weir_api::{Batch, ExportError, ExportRequest, Exporter, Signal};

use crate::config::{Compression, Config, Encoding};
use crate::response;

/// Response bodies are read up to this size (the Collector's limit); the rest is
/// dropped. An `Export*ServiceResponse` or a `google.rpc.Status` is far smaller.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What the exporter and its prepared requests share.
struct Shared {
    client: HttpClient,
    /// Content type, encoding, user agent and the configured headers.
    headers: HeaderMap,
    /// The authenticator's headers, set on every request.
    auth: weir_api::auth::ClientAuth,
}

pub struct OtlpHttpExporter {
    shared: Arc<Shared>,
    /// Per signal, in `Signal::ALL` order: the URL, or why there is none.
    urls: [Result<Uri, String>; 3],
    encoding: Encoding,
    compression: Compression,
    level: i32,
}

impl OtlpHttpExporter {
    /// Builds the client; nothing is connected or spawned yet.
    pub fn new(config: &Config) -> Result<Self, String> {
        Self::with_auth(config, weir_api::auth::ClientAuth::default())
    }

    /// [`OtlpHttpExporter::new`] with the `auth` resolved from the exporter's build
    /// context.
    pub fn with_auth(config: &Config, auth: weir_api::auth::ClientAuth) -> Result<Self, String> {
        if auth.is_set() && !config.uses_tls() {
            tracing::warn!(
                "otlphttp exporter: auth is set on a plaintext http:// endpoint: the \
                 credentials travel in clear text; use https://"
            );
        }
        let tls = weir_api::tls::rustls_client_config(&config.tls, config.uses_tls())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        if !config.timeout.is_zero() {
            http.set_connect_timeout(Some(config.timeout));
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = if config.tls.server_name_override.is_empty() {
            builder
        } else {
            let name = ServerName::try_from(config.tls.server_name_override.clone())
                .map_err(|e| format!("tls.server_name_override: {e}"))?;
            builder.with_server_name_resolver(FixedServerNameResolver::new(name))
        };
        let connector = builder.enable_http1().enable_http2().wrap_connector(http);

        let mut client = Client::builder(TokioExecutor::new());
        client.pool_timer(TokioTimer::new());
        client.pool_idle_timeout(config.idle_conn_timeout);
        if config.disable_keep_alives {
            client.pool_max_idle_per_host(0);
        } else if let Some(max) = config.max_idle_conns_per_host {
            client.pool_max_idle_per_host(max);
        }

        Ok(Self {
            shared: Arc::new(Shared {
                client: client.build(connector),
                headers: headers(config)?,
                auth,
            }),
            urls: Signal::ALL.map(|signal| config.signal_url(signal)),
            encoding: config.encoding,
            compression: config.compression,
            level: config.compression_params.level.unwrap_or(1),
        })
    }

    fn url(&self, signal: Signal) -> Result<&Uri, ExportError> {
        let index = Signal::ALL.iter().position(|s| *s == signal).unwrap_or(0);
        self.urls[index]
            .as_ref()
            .map_err(|reason| ExportError::permanent(reason.clone()))
    }
}

fn headers(config: &Config) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    map.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(config.encoding.content_type()),
    );
    match config.compression {
        Compression::Gzip => map.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip")),
        Compression::Zstd => map.insert(CONTENT_ENCODING, HeaderValue::from_static("zstd")),
        Compression::None => None,
    };
    let user_agent = format!(
        "Weir/{} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    map.insert(
        USER_AGENT,
        HeaderValue::from_str(&user_agent).map_err(|e| format!("user agent: {e}"))?,
    );
    // Configured headers come last, so they can override the user agent, as in the
    // Collector.
    for (name, value) in &config.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("headers: `{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("headers.{name}: the value is not visible ASCII"))?;
        map.insert(name, value);
    }
    Ok(map)
}

pub(crate) fn compress(
    compression: Compression,
    level: i32,
    body: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(body),
        Compression::Gzip => {
            let level = flate2::Compression::new(level.clamp(1, 9).unsigned_abs());
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), level);
            encoder.write_all(&body)?;
            encoder.finish()
        }
        Compression::Zstd => zstd::bulk::compress(&body, level),
    }
}

/// Reads at most `limit` bytes of a body; a body cut short is returned as far as read.
async fn read_body(mut body: hyper::body::Incoming, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

#[async_trait]
impl Exporter for OtlpHttpExporter {
    async fn start(&self) -> Result<(), weir_api::StartError> {
        self.shared.auth.start()
    }

    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        let signal = batch.signal();
        let items = batch.item_count();
        if batch.is_empty() {
            return Ok(Box::new(HttpRequest {
                shared: self.shared.clone(),
                signal,
                post: None,
                items,
                encoded_len: 0,
            }));
        }
        let url = self.url(signal)?.clone();
        let encoded = match self.encoding {
            Encoding::Proto => batch.encode_protobuf(),
            Encoding::Json => batch.encode_json(),
        };
        let encoded_len = encoded.len();
        let body = compress(self.compression, self.level, encoded)
            .map_err(|e| ExportError::permanent(format!("compressing the request: {e}")))?;
        Ok(Box::new(HttpRequest {
            shared: self.shared.clone(),
            signal,
            post: Some((url, Bytes::from(body))),
            items,
            encoded_len,
        }))
    }
}

/// One batch, encoded and compressed, ready to POST as often as the engine retries.
struct HttpRequest {
    shared: Arc<Shared>,
    signal: Signal,
    /// The URL and the body as sent (compressed); `None` for an empty batch, which is
    /// not sent.
    post: Option<(Uri, Bytes)>,
    items: usize,
    encoded_len: usize,
}

#[async_trait]
impl ExportRequest for HttpRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let Some((url, body)) = &self.post else {
            return Ok(());
        };
        let mut request = Request::post(url.clone())
            .body(Full::new(body.clone()))
            .map_err(|e| ExportError::permanent(format!("building the request to {url}: {e}")))?;
        *request.headers_mut() = self.shared.headers.clone();
        self.shared
            .auth
            .apply(request.headers_mut())
            .map_err(|e| ExportError::permanent(format!("auth: {e}")))?;

        let response = self
            .shared
            .client
            .request(request)
            .await
            .map_err(|e| ExportError::retryable(format!("sending to {url}: {}", chain(&e))))?;
        let (parts, body) = response.into_parts();
        let body = read_body(body, MAX_RESPONSE_BODY).await;
        response::outcome(
            self.signal,
            parts.status,
            &parts.headers,
            &body,
            &url.to_string(),
        )
    }
}
