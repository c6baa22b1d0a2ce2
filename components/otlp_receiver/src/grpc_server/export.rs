//! One OTLP `Export` service (trace, metrics or logs), served with `RawCodec` (`weir_proto::grpc`) so every
//! refusal passes through Weir's code: counted in
//! `weir_receiver_refused_requests_total{transport="grpc"}`, logged at debug level, and
//! answered with the code the OTLP spec asks for.
//!
//! The method is unary on the wire. It is run through tonic's client-streaming path only
//! because there tonic hands over the message stream instead of reading it first: the
//! errors of framing, size limits and decompression then come back to the handler as a
//! `Status` it can count and re-map (tonic's own answers would be `OUT_OF_RANGE`, which
//! OTLP clients retry forever, and `INTERNAL`). After the first message the rest of the
//! stream is drained and its trailers join the metadata, exactly as tonic's unary path
//! does.
//!
//! Answers: OK with an empty response; malformed protobuf, a corrupt or truncated
//! compressed message, or no message at all is `INVALID_ARGUMENT` (the spec's
//! non-retryable code; grpc-go, hence the Collector, says `INTERNAL`, also
//! non-retryable); a message over `max_recv_msg_size_mib`, on the wire or once
//! decompressed, is `RESOURCE_EXHAUSTED` without `RetryInfo`, as grpc-go answers, so
//! clients do not retry it; an unknown `grpc-encoding` is tonic's `UNIMPLEMENTED`,
//! counted here first; a full pipeline is `UNAVAILABLE` with a `google.rpc.RetryInfo`
//! detail; a signal no pipeline takes is `UNIMPLEMENTED` (the Collector registers no
//! service for it).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tonic::body::Body;
use tonic::codec::{CompressionEncoding, Streaming};
use tonic::codegen::Service;
use tonic::metadata::MetadataMap;
use tonic::server::{Grpc, NamedService};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weir_api::{Batch, ConsumeError, ReceiverOutput, RefusalReason, Signal};
use weir_proto::collector::logs::v1::logs_service_server;
use weir_proto::collector::metrics::v1::metrics_service_server;
use weir_proto::collector::trace::v1::trace_service_server;

use crate::metadata;
use weir_proto::grpc::RawCodec;

/// Which of the three OTLP services: its gRPC name and the signal it carries.
pub trait Rpc: Send + Sync + 'static {
    const SERVICE: &'static str;
    const SIGNAL: Signal;
}

pub struct Traces;
pub struct Metrics;
pub struct Logs;

impl Rpc for Traces {
    const SERVICE: &'static str = trace_service_server::SERVICE_NAME;
    const SIGNAL: Signal = Signal::Traces;
}

impl Rpc for Metrics {
    const SERVICE: &'static str = metrics_service_server::SERVICE_NAME;
    const SIGNAL: Signal = Signal::Metrics;
}

impl Rpc for Logs {
    const SERVICE: &'static str = logs_service_server::SERVICE_NAME;
    const SIGNAL: Signal = Signal::Logs;
}

/// What every export needs, shared by the three services.
#[derive(Clone)]
pub struct Handler {
    pub output: ReceiverOutput,
    /// `max_recv_msg_size_mib` in bytes: tonic checks it on the wire and while
    /// decompressing.
    pub max_message_size: usize,
}

/// The tower service tonic's router calls for `/<R::SERVICE>/*`.
pub struct ExportService<R> {
    handler: Handler,
    rpc: PhantomData<fn() -> R>,
}

impl<R> ExportService<R> {
    pub fn new(handler: Handler) -> Self {
        Self {
            handler,
            rpc: PhantomData,
        }
    }
}

impl<R> Clone for ExportService<R> {
    fn clone(&self) -> Self {
        Self::new(self.handler.clone())
    }
}

impl<R: Rpc> NamedService for ExportService<R> {
    const NAME: &'static str = R::SERVICE;
}

impl<R: Rpc> Service<http::Request<Body>> for ExportService<R> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let handler = self.handler.clone();
        Box::pin(async move {
            let path = request.uri().path();
            let method = path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(R::SERVICE))
                .and_then(|p| p.strip_prefix('/'));
            if method != Some("Export") {
                let status = Status::unimplemented(format!("unknown method {path}"));
                return Ok(handler.refuse(RefusalReason::NotFound, status).into_http());
            }
            if let Some(encoding) = unsupported_encoding(request.headers()) {
                // tonic answers UNIMPLEMENTED with grpc-accept-encoding (as grpc-go
                // does) before calling the handler; count it here.
                handler
                    .output
                    .refuse_request(RefusalReason::UnsupportedEncoding);
                tracing::debug!(
                    reason = RefusalReason::UnsupportedEncoding.as_str(),
                    encoding,
                    "otlp receiver: gRPC request refused"
                );
            }
            let mut grpc = Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(handler.max_message_size);
            let call = ExportCall {
                handler,
                signal: R::SIGNAL,
            };
            Ok(grpc.client_streaming(call, request).await)
        })
    }
}

/// A `grpc-encoding` tonic will refuse (it compares the bytes exactly).
fn unsupported_encoding(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get("grpc-encoding")?;
    match value.as_bytes() {
        b"gzip" | b"zstd" | b"identity" => None,
        other => Some(String::from_utf8_lossy(other).into_owned()),
    }
}

/// One call of `Export`, given the message stream tonic has not read yet.
struct ExportCall {
    handler: Handler,
    signal: Signal,
}

impl Service<Request<Streaming<Bytes>>> for ExportCall {
    type Response = Response<Bytes>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Response<Bytes>, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        let handler = self.handler.clone();
        let signal = self.signal;
        Box::pin(async move { handler.export(signal, request).await })
    }
}

impl Handler {
    async fn export(
        &self,
        signal: Signal,
        request: Request<Streaming<Bytes>>,
    ) -> Result<Response<Bytes>, Status> {
        let (metadata, _, mut stream) = request.into_parts();
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => {
                let status = Status::invalid_argument("the request carries no message");
                return Err(self.refuse(RefusalReason::Malformed, status));
            }
            Err(status) => return Err(self.refuse_unread(status)),
        };
        let trailers = stream
            .trailers()
            .await
            .map_err(|status| self.refuse_unread(status))?;
        let mut batch = Batch::from_protobuf(signal, message).map_err(|err| {
            self.refuse(
                RefusalReason::Malformed,
                Status::invalid_argument(err.to_string()),
            )
        })?;
        // gRPC metadata is kept whatever `include_metadata` says: the Collector exposes
        // a call's incoming metadata to its consumers (the routing connector's `request`
        // context reads it) without the flag, so configs written for it route the same.
        batch.set_metadata(metadata::from_headers(&merged(metadata, trailers)));
        self.output.send(batch).await.map_err(|err| {
            tracing::debug!(%signal, error = %err, "otlp receiver: gRPC export refused");
            status(&err)
        })?;
        // An empty Export*ServiceResponse (no partial_success) encodes to no bytes.
        Ok(Response::new(Bytes::new()))
    }

    /// Re-maps an error tonic met while reading the message, then counts it.
    fn refuse_unread(&self, status: Status) -> Status {
        match status.code() {
            Code::OutOfRange | Code::ResourceExhausted => self.refuse(
                RefusalReason::TooLarge,
                Status::resource_exhausted(format!(
                    "request message too large: {}",
                    status.message()
                )),
            ),
            _ => self.refuse(
                RefusalReason::Malformed,
                Status::invalid_argument(format!(
                    "cannot read the request message: {}",
                    status.message()
                )),
            ),
        }
    }

    /// Counts and logs a refusal, then returns the answer.
    fn refuse(&self, reason: RefusalReason, status: Status) -> Status {
        self.output.refuse_request(reason);
        tracing::debug!(
            reason = reason.as_str(),
            detail = status.message(),
            code = ?status.code(),
            "otlp receiver: gRPC request refused"
        );
        status
    }
}

/// Request metadata plus the request's trailers, as tonic's unary path merges them.
fn merged(metadata: MetadataMap, trailers: Option<MetadataMap>) -> http::HeaderMap {
    let mut headers = metadata.into_headers();
    if let Some(trailers) = trailers {
        headers.extend(trailers.into_headers());
    }
    headers
}

/// The gRPC answer to a pipeline's refusal.
pub fn status(err: &ConsumeError) -> Status {
    match err {
        ConsumeError::NoRoom { retry_after } => Status::with_error_details(
            Code::Unavailable,
            err.to_string(),
            ErrorDetails::with_retry_info(Some(*retry_after)),
        ),
        ConsumeError::ShuttingDown => Status::unavailable(err.to_string()),
        ConsumeError::NoPipeline(_) => Status::unimplemented(err.to_string()),
    }
}
