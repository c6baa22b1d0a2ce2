//! Export requests over gRPC: prepared once per batch, sent once per attempt.
//!
//! All requests share one tonic `Channel` (one HTTP/2 connection, multiplexed), created
//! lazily: `start` never fails because the downstream is down, and a lost connection is
//! re-established by tonic on the next request. The engine runs `num_consumers` requests
//! concurrently on that channel and owns queueing, retries and timeouts; the gRPC
//! deadline is also sent (`grpc-timeout`) so the server can give up on a request the
//! engine gave up on.
//!
//! `prepare` encodes the batch (wire resources are copied as they are), compresses it and
//! frames it as a gRPC length-prefixed message, once. Every attempt sends that same frame:
//! tonic builds the call (path, metadata, `grpc-timeout`, accepted encodings) and reads
//! the answer, and [`Framed`] puts the prepared frame in the HTTP/2 body in place of the
//! message tonic would encode and compress on each call.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::HeaderValue;
use http::uri::PathAndQuery;
use http_body_util::Full;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, Service, StdError};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::Request;
use weir_api::otlp::PartialSuccess;
use weir_api::{Batch, ExportError, ExportRequest, Exporter, Signal, StartError};

use crate::config::{Compression, Config};

use crate::status::to_export_error;
use weir_proto::grpc::{
    RawCodec, LOGS_EXPORT_PATH as LOGS_PATH, METRICS_EXPORT_PATH as METRICS_PATH,
    TRACES_EXPORT_PATH as TRACES_PATH,
};

/// The gRPC message prefix: a compressed flag and a big-endian u32 length.
const FRAME_HEADER: usize = 5;

/// gzip level, as tonic's own compression used (it has no setting).
const GZIP_LEVEL: u32 = 6;

pub struct OtlpGrpcExporter {
    shared: Arc<Shared>,
    compression: Compression,
}

/// What the exporter and its prepared requests share.
struct Shared {
    endpoint: Endpoint,
    /// The TLS connector, for an endpoint that uses TLS.
    tls: Option<crate::tls::TlsConnector>,
    /// The authenticator's headers, added to every call.
    auth: weir_api::auth::ClientAuth,
    channel: OnceLock<Channel>,
    metadata: MetadataMap,
    timeout: Duration,
    /// The endpoint as configured, for error messages.
    target: String,
}

impl OtlpGrpcExporter {
    /// Prepares the connection settings; nothing is connected or spawned yet.
    pub fn new(config: &Config) -> Result<Self, String> {
        Self::with_auth(config, weir_api::auth::ClientAuth::default())
    }

    /// [`OtlpGrpcExporter::new`] with the `auth` resolved from the exporter's build
    /// context (`ClientAuth::default()` sends no credentials).
    pub fn with_auth(config: &Config, auth: weir_api::auth::ClientAuth) -> Result<Self, String> {
        let target = config.target()?;
        // tonic would run its own TLS for https://; the connector does it instead.
        let uri = match target.uri.strip_prefix("https://") {
            Some(rest) => format!("http://{rest}"),
            None => target.uri.clone(),
        };
        let user_agent = format!(
            "Weir/{} ({}/{})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|e| format!("endpoint `{}`: {e}", config.endpoint))?
            .user_agent(user_agent)
            .map_err(|e| format!("user agent: {e}"))?;
        if !config.timeout.is_zero() {
            endpoint = endpoint.connect_timeout(config.timeout);
        }
        if let Some(keepalive) = &config.keepalive {
            if !keepalive.time.is_zero() {
                endpoint = endpoint.http2_keep_alive_interval(keepalive.time);
            }
            if !keepalive.timeout.is_zero() {
                endpoint = endpoint.keep_alive_timeout(keepalive.timeout);
            }
            endpoint = endpoint.keep_alive_while_idle(keepalive.permit_without_stream);
        }
        if !config.authority.is_empty() {
            let origin = format!("http://{}", config.authority)
                .parse()
                .map_err(|e| format!("authority `{}`: {e}", config.authority))?;
            endpoint = endpoint.origin(origin);
        }
        let tls = target
            .tls
            .then(|| crate::tls::connector(&config.tls, config.timeout))
            .transpose()?;
        Ok(Self {
            shared: Arc::new(Shared {
                endpoint,
                tls,
                auth,
                channel: OnceLock::new(),
                metadata: crate::metadata::build(&config.headers)?,
                timeout: config.timeout,
                target: config.endpoint.clone(),
            }),
            compression: config.compression,
        })
    }
}

impl Shared {
    /// The shared channel. `connect_lazy` spawns tonic's worker task, so this runs inside
    /// the runtime (in `start` or the first send), never in `build` or `prepare`.
    fn channel(&self) -> Channel {
        self.channel
            .get_or_init(|| match &self.tls {
                Some(tls) => self.endpoint.connect_with_connector_lazy(tls.clone()),
                None => self.endpoint.connect_lazy(),
            })
            .clone()
    }

    fn request<T>(&self, message: T) -> Result<Request<T>, tonic::Status> {
        let mut request = Request::new(message);
        *request.metadata_mut() = if self.auth.is_set() {
            let mut headers = self.metadata.clone().into_headers();
            self.auth
                .apply(&mut headers)
                .map_err(tonic::Status::unauthenticated)?;
            MetadataMap::from_headers(headers)
        } else {
            self.metadata.clone()
        };
        if !self.timeout.is_zero() {
            request.set_timeout(self.timeout);
        }
        Ok(request)
    }

    fn failed(&self, status: &tonic::Status) -> ExportError {
        match to_export_error(status) {
            ExportError::Retryable {
                message,
                retry_after,
            } => ExportError::Retryable {
                message: format!("exporting to {}: {message}", self.target),
                retry_after,
            },
            ExportError::Permanent { message, rejected } => ExportError::Permanent {
                message: format!("exporting to {}: {message}", self.target),
                rejected,
            },
        }
    }

    /// The outcome of an accepted export: its response's partial success.
    fn partial_success(&self, signal: Signal, reply: &[u8]) -> Result<(), ExportError> {
        match PartialSuccess::from_protobuf(signal, reply) {
            Ok(partial) => partial.outcome(signal),
            Err(err) => {
                // The data was accepted: a response we cannot read is logged, not
                // retried (retrying would send accepted data twice).
                tracing::warn!(endpoint = %self.target, error = %err,
                    "export accepted, but the response could not be decoded");
                Ok(())
            }
        }
    }
}

/// Encodes `encoded` into a gRPC length-prefixed message, compressed as configured.
/// Returns the frame and the `grpc-encoding` it needs.
fn frame(
    compression: Compression,
    encoded: &[u8],
) -> std::io::Result<(Bytes, Option<CompressionEncoding>)> {
    let mut buf = Vec::with_capacity(FRAME_HEADER + encoded.len() / 4);
    buf.extend_from_slice(&[0; FRAME_HEADER]);
    let (mut buf, encoding) = match compression {
        Compression::None => {
            buf.reserve(encoded.len());
            buf.extend_from_slice(encoded);
            (buf, None)
        }
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(buf, flate2::Compression::new(GZIP_LEVEL));
            encoder.write_all(encoded)?;
            (encoder.finish()?, Some(CompressionEncoding::Gzip))
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::Encoder::new(buf, zstd::DEFAULT_COMPRESSION_LEVEL)?;
            encoder.write_all(encoded)?;
            (encoder.finish()?, Some(CompressionEncoding::Zstd))
        }
    };
    let len = u32::try_from(buf.len() - FRAME_HEADER).map_err(|_| {
        std::io::Error::other(format!(
            "the request is {} bytes, over gRPC's 4 GiB message limit",
            buf.len() - FRAME_HEADER
        ))
    })?;
    buf[0] = u8::from(encoding.is_some());
    buf[1..FRAME_HEADER].copy_from_slice(&len.to_be_bytes());
    Ok((Bytes::from(buf), encoding))
}

#[async_trait]
impl Exporter for OtlpGrpcExporter {
    async fn start(&self) -> Result<(), StartError> {
        self.shared.auth.start()?;
        self.shared.channel();
        Ok(())
    }

    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        let signal = batch.signal();
        let items = batch.item_count();
        if batch.is_empty() {
            return Ok(Box::new(GrpcRequest {
                shared: self.shared.clone(),
                signal,
                frame: None,
                encoding: None,
                items,
                encoded_len: 0,
            }));
        }
        let encoded = batch.encode_protobuf();
        let (frame, encoding) = frame(self.compression, &encoded).map_err(|e| {
            ExportError::permanent(format!(
                "preparing the request to {}: {e}",
                self.shared.target
            ))
        })?;
        Ok(Box::new(GrpcRequest {
            shared: self.shared.clone(),
            signal,
            frame: Some(frame),
            encoding,
            items,
            encoded_len: encoded.len(),
        }))
    }
}

/// One batch, encoded and compressed, ready to send as often as the engine retries.
struct GrpcRequest {
    shared: Arc<Shared>,
    signal: Signal,
    /// The gRPC message (prefix included); `None` for an empty batch, which is not sent.
    frame: Option<Bytes>,
    encoding: Option<CompressionEncoding>,
    items: usize,
    encoded_len: usize,
}

impl GrpcRequest {
    /// One unary `Export` call carrying the prepared frame.
    async fn call(&self, path: &'static str, frame: Bytes) -> Result<Bytes, tonic::Status> {
        let service = Framed {
            channel: self.shared.channel(),
            frame: Some(frame),
            encoding: self.encoding,
        };
        let mut grpc = tonic::client::Grpc::new(service)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        // As the generated clients do.
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
        // The message is a placeholder: `Framed` sends the prepared frame instead.
        let response = grpc
            .unary(
                self.shared.request(Bytes::new())?,
                PathAndQuery::from_static(path),
                RawCodec,
            )
            .await?;
        Ok(response.into_inner())
    }
}

#[async_trait]
impl ExportRequest for GrpcRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let Some(frame) = self.frame.clone() else {
            return Ok(());
        };
        let path = match self.signal {
            Signal::Traces => TRACES_PATH,
            Signal::Metrics => METRICS_PATH,
            Signal::Logs => LOGS_PATH,
        };
        let reply = self
            .call(path, frame)
            .await
            .map_err(|status| self.shared.failed(&status))?;
        self.shared.partial_success(self.signal, &reply)
    }
}

/// The channel for one call: tonic prepares the HTTP/2 request (path, headers, metadata,
/// `grpc-timeout`) and this puts the prepared frame in its body, with the
/// `grpc-encoding` the frame was compressed with. tonic's codec cannot send a message
/// that is already compressed (it sets the compressed flag only when it compresses
/// itself), hence the swap below the codec.
struct Framed {
    channel: Channel,
    frame: Option<Bytes>,
    encoding: Option<CompressionEncoding>,
}

impl Service<http::Request<tonic::body::Body>> for Framed {
    type Response = http::Response<tonic::body::Body>;
    type Error = StdError;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        let Some(frame) = self.frame.take() else {
            return Box::pin(std::future::ready(Err(
                "internal: a prepared gRPC frame can be sent once per call".into(),
            )));
        };
        *request.body_mut() = tonic::body::Body::new(Full::new(frame));
        let headers = request.headers_mut();
        match self.encoding {
            Some(CompressionEncoding::Gzip) => {
                headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
            }
            Some(CompressionEncoding::Zstd) => {
                headers.insert("grpc-encoding", HeaderValue::from_static("zstd"));
            }
            _ => {
                headers.remove("grpc-encoding");
            }
        }
        let response = self.channel.call(request);
        Box::pin(async move { response.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn payload(frame: &[u8]) -> (u8, &[u8]) {
        let len = u32::from_be_bytes(frame[1..5].try_into().unwrap()) as usize;
        assert_eq!(frame.len(), FRAME_HEADER + len);
        (frame[0], &frame[FRAME_HEADER..])
    }

    #[test]
    fn frames_carry_the_flag_length_and_compressed_payload() {
        let encoded = b"some protobuf bytes, some protobuf bytes, some protobuf bytes".to_vec();

        let (none, encoding) = frame(Compression::None, &encoded).unwrap();
        assert_eq!(encoding, None);
        assert_eq!(payload(&none), (0, &encoded[..]));

        let (gzip, encoding) = frame(Compression::Gzip, &encoded).unwrap();
        assert_eq!(encoding, Some(CompressionEncoding::Gzip));
        let (flag, body) = payload(&gzip);
        assert_eq!(flag, 1);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, encoded);

        let (zstd, encoding) = frame(Compression::Zstd, &encoded).unwrap();
        assert_eq!(encoding, Some(CompressionEncoding::Zstd));
        let (flag, body) = payload(&zstd);
        assert_eq!(flag, 1);
        assert_eq!(zstd::decode_all(body).unwrap(), encoded);
    }
}
