//! OTLP/gRPC: the three generated tonic services on one server.
//!
//! tonic decodes the request (gzip and zstd accepted, size capped by
//! `max_recv_msg_size_mib` after decompression); the handler turns it into a
//! [`Batch`] and sends it. Answers follow the OTLP spec and the Collector: OK with an
//! empty response; a full pipeline is `UNAVAILABLE` with a `google.rpc.RetryInfo`
//! detail so clients back off by the hinted delay; a signal no pipeline takes is
//! `UNIMPLEMENTED`, which is what the Collector answers (it registers no service for it).

use std::net::SocketAddr;

use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weir_api::{Batch, ConsumeError, ReceiverOutput, StartError};
use weir_proto::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use weir_proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use weir_proto::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use weir_proto::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use weir_proto::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use weir_proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};

use crate::config::GrpcConfig;
use crate::{endpoint, metadata};

/// A bound, not yet serving, gRPC server.
pub struct GrpcServer {
    listener: TcpListener,
    config: GrpcConfig,
    handler: Handler,
}

impl GrpcServer {
    pub async fn bind(config: &GrpcConfig, output: ReceiverOutput) -> Result<Self, StartError> {
        let listener = endpoint::listen(&config.endpoint, "grpc").await?;
        Ok(Self {
            listener,
            config: config.clone(),
            handler: Handler {
                output,
                include_metadata: config.include_metadata,
            },
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown`, then stops accepting and lets in-flight calls finish.
    pub fn serve(self, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let addr = self.local_addr();
        let config = self.config;
        let limit = config.max_recv_msg_size();
        let handler = self.handler;
        let mut server = tonic::transport::Server::builder().max_concurrent_streams(
            match config.max_concurrent_streams {
                0 => None,
                n => Some(n),
            },
        );
        if let Some(params) = config
            .keepalive
            .as_ref()
            .and_then(|k| k.server_parameters.as_ref())
        {
            server = server
                .http2_keepalive_interval(params.time)
                .http2_keepalive_timeout(params.timeout);
            if let Some(age) = params.max_connection_age {
                server = server.max_connection_age(age);
            }
            if let Some(grace) = params.max_connection_age_grace {
                server = server.max_connection_age_grace(grace);
            }
        }
        let router = server
            .add_service(
                TraceServiceServer::new(handler.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                MetricsServiceServer::new(handler.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                LogsServiceServer::new(handler)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(limit),
            );
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        Box::pin(async move {
            tracing::info!(endpoint = ?addr, "otlp receiver: gRPC server started");
            if let Err(err) = router
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                .await
            {
                tracing::error!(error = %err, "otlp receiver: gRPC server failed");
            }
            tracing::info!(endpoint = ?addr, "otlp receiver: gRPC server stopped");
        })
    }
}

#[derive(Clone)]
struct Handler {
    output: ReceiverOutput,
    include_metadata: bool,
}

impl Handler {
    async fn accept<T>(
        &self,
        request: Request<T>,
        to_batch: impl FnOnce(T) -> Batch,
    ) -> Result<(), Status> {
        let client = self
            .include_metadata
            .then(|| metadata::from_headers(&request.metadata().clone().into_headers()));
        let mut batch = to_batch(request.into_inner());
        if let Some(client) = client {
            batch.set_metadata(client);
        }
        let signal = batch.signal();
        self.output.send(batch).await.map_err(|err| {
            tracing::debug!(%signal, error = %err, "otlp receiver: gRPC export refused");
            status(&err)
        })
    }
}

/// The gRPC answer to a pipeline's refusal.
pub fn status(err: &ConsumeError) -> Status {
    match err {
        ConsumeError::NoRoom { retry_after } => Status::with_error_details(
            tonic::Code::Unavailable,
            err.to_string(),
            ErrorDetails::with_retry_info(Some(*retry_after)),
        ),
        ConsumeError::ShuttingDown => Status::unavailable(err.to_string()),
        ConsumeError::NoPipeline(_) => Status::unimplemented(err.to_string()),
    }
}

#[tonic::async_trait]
impl TraceService for Handler {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.accept(request, |r| Batch::from_traces(r.resource_spans))
            .await?;
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Handler {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.accept(request, |r| Batch::from_metrics(r.resource_metrics))
            .await?;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Handler {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.accept(request, |r| Batch::from_logs(r.resource_logs))
            .await?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}
