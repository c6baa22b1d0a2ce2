//! One export attempt over gRPC.
//!
//! All requests share one tonic `Channel` (one HTTP/2 connection, multiplexed), created
//! lazily: `start` never fails because the downstream is down, and a lost connection is
//! re-established by tonic on the next request. The engine runs `num_consumers` exports
//! concurrently on that channel and owns retries and timeouts; the gRPC deadline is also
//! sent (`grpc-timeout`) so the server can give up on a request the engine gave up on.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::uri::PathAndQuery;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::Request;
use weir_api::{Batch, ExportError, Exporter, Signal, StartError};
use weir_proto::collector::logs::v1::ExportLogsServiceResponse;
use weir_proto::collector::metrics::v1::ExportMetricsServiceResponse;
use weir_proto::collector::trace::v1::ExportTraceServiceResponse;

use crate::config::{Compression, Config};

use crate::status::{partial_success, to_export_error};
use weir_proto::grpc::{
    RawCodec, LOGS_EXPORT_PATH as LOGS_PATH, METRICS_EXPORT_PATH as METRICS_PATH,
    TRACES_EXPORT_PATH as TRACES_PATH,
};

pub struct OtlpGrpcExporter {
    endpoint: Endpoint,
    channel: OnceLock<Channel>,
    metadata: MetadataMap,
    compression: Option<CompressionEncoding>,
    timeout: Duration,
    /// The endpoint as configured, for error messages.
    target: String,
}

impl OtlpGrpcExporter {
    /// Prepares the connection settings; nothing is connected or spawned yet.
    pub fn new(config: &Config) -> Result<Self, String> {
        let target = config.target()?;
        let user_agent = format!(
            "Weir/{} ({}/{})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        let mut endpoint = Endpoint::from_shared(target.uri.clone())
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
            let scheme = if target.tls { "https" } else { "http" };
            let origin = format!("{scheme}://{}", config.authority)
                .parse()
                .map_err(|e| format!("authority `{}`: {e}", config.authority))?;
            endpoint = endpoint.origin(origin);
        }
        if target.tls {
            let tls = crate::tls::client_config(&config.tls)?;
            endpoint = endpoint.tls_config(tls).map_err(|e| format!("tls: {e}"))?;
        }
        Ok(Self {
            endpoint,
            channel: OnceLock::new(),
            metadata: crate::metadata::build(&config.headers)?,
            compression: match config.compression {
                Compression::Gzip => Some(CompressionEncoding::Gzip),
                Compression::Zstd => Some(CompressionEncoding::Zstd),
                Compression::None => None,
            },
            timeout: config.timeout,
            target: config.endpoint.clone(),
        })
    }

    /// The shared channel. `connect_lazy` spawns tonic's worker task, so this runs inside
    /// the runtime (in `start` or the first export), never in `build`.
    fn channel(&self) -> Channel {
        self.channel
            .get_or_init(|| self.endpoint.connect_lazy())
            .clone()
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        if !self.timeout.is_zero() {
            request.set_timeout(self.timeout);
        }
        request
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
}

impl OtlpGrpcExporter {
    /// One unary `Export` call with the request's bytes as encoded by the batch.
    async fn call(&self, path: &'static str, body: Bytes) -> Result<Bytes, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel());
        if let Some(encoding) = self.compression {
            grpc = grpc.send_compressed(encoding);
        }
        let mut grpc = grpc
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        // As the generated clients do.
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
        let response = grpc
            .unary(
                self.request(body),
                PathAndQuery::from_static(path),
                RawCodec,
            )
            .await?;
        Ok(response.into_inner())
    }

    /// The response's message (empty when it cannot be read).
    fn response<M: Message + Default>(&self, bytes: Bytes) -> M {
        // The data was accepted: a response we cannot read is logged, not retried
        // (retrying would send accepted data twice).
        M::decode(bytes).unwrap_or_else(|err| {
            tracing::warn!(endpoint = %self.target, error = %err,
                "export accepted, but the response could not be decoded");
            M::default()
        })
    }
}

#[async_trait]
impl Exporter for OtlpGrpcExporter {
    async fn start(&self) -> Result<(), StartError> {
        self.channel();
        Ok(())
    }

    async fn export(&self, batch: Batch) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        match batch.signal() {
            Signal::Traces => {
                let reply = self
                    .call(TRACES_PATH, Bytes::from(batch.encode_protobuf()))
                    .await
                    .map_err(|status| self.failed(&status))?;
                let response: ExportTraceServiceResponse = self.response(reply);
                match response.partial_success {
                    Some(p) => partial_success(Signal::Traces, p.rejected_spans, &p.error_message),
                    None => Ok(()),
                }
            }
            Signal::Metrics => {
                let reply = self
                    .call(METRICS_PATH, Bytes::from(batch.encode_protobuf()))
                    .await
                    .map_err(|status| self.failed(&status))?;
                let response: ExportMetricsServiceResponse = self.response(reply);
                match response.partial_success {
                    Some(p) => {
                        partial_success(Signal::Metrics, p.rejected_data_points, &p.error_message)
                    }
                    None => Ok(()),
                }
            }
            Signal::Logs => {
                let reply = self
                    .call(LOGS_PATH, Bytes::from(batch.encode_protobuf()))
                    .await
                    .map_err(|status| self.failed(&status))?;
                let response: ExportLogsServiceResponse = self.response(reply);
                match response.partial_success {
                    Some(p) => {
                        partial_success(Signal::Logs, p.rejected_log_records, &p.error_message)
                    }
                    None => Ok(()),
                }
            }
        }
    }
}
