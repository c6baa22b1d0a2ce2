//! OTLP/gRPC: the three OTLP services on one tonic server.
//!
//! tonic serves HTTP/2, keepalive, connection age and graceful shutdown; each service
//! is hand-written ([`export`]) over a codec that yields the raw message (`weir_proto::grpc::RawCodec`), so
//! decoding, size and decompression refusals are Weir's to count and answer.
//!
//! Connections come from `weir_api::conn` (TLS, `max_connections`, the first-bytes
//! deadline), and every service is wrapped in [`guard::Authenticated`] when `auth` is
//! set.

mod export;
mod guard;

use crate::endpoint::display_addr;
use std::net::SocketAddr;

use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weir_api::conn::DEFAULT_HEADER_TIMEOUT;
use weir_api::{ReceiverOutput, StartError};

use crate::config::GrpcConfig;
use crate::endpoint;
use crate::security::{self, Security, Wanted};
use export::{ExportService, Handler, Logs, Metrics, Traces};
use guard::{Authenticated, GrpcConn};

/// A bound, not yet serving, gRPC server.
pub struct GrpcServer {
    listener: TcpListener,
    config: GrpcConfig,
    handler: Handler,
    security: Security,
}

impl GrpcServer {
    pub async fn bind(config: &GrpcConfig, output: ReceiverOutput) -> Result<Self, StartError> {
        let security = security::resolve(
            Wanted {
                protocol: "grpc",
                name: "otlp receiver: gRPC",
                tls: config.tls.as_ref(),
                auth: config.auth.as_ref(),
                max_connections: config.max_connections,
                header_timeout: DEFAULT_HEADER_TIMEOUT,
                alpn: &[b"h2"],
            },
            &output,
        )?;
        let listener = endpoint::listen(&config.endpoint, "grpc").await?;
        Ok(Self {
            listener,
            config: config.clone(),
            handler: Handler {
                output,
                max_message_size: config.max_recv_msg_size(),
            },
            security,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown`, then stops accepting and lets in-flight calls finish.
    pub fn serve(self, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let addr = self.local_addr();
        let config = self.config;
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
        let Security { options, auth } = self.security;
        let output = handler.output.clone();
        let router = server
            .add_service(Authenticated::new(
                ExportService::<Traces>::new(handler.clone()),
                auth.clone(),
                output.clone(),
            ))
            .add_service(Authenticated::new(
                ExportService::<Metrics>::new(handler.clone()),
                auth.clone(),
                output.clone(),
            ))
            .add_service(Authenticated::new(
                ExportService::<Logs>::new(handler),
                auth,
                output,
            ));
        let tls = options.tls.is_some();
        let (connections, _accepting) =
            weir_api::conn::incoming(self.listener, options, shutdown.clone());
        let incoming = futures_util::stream::unfold(connections, |mut connections| async move {
            let conn = connections.recv().await?;
            Some((Ok::<_, std::io::Error>(GrpcConn(conn)), connections))
        });
        Box::pin(async move {
            tracing::info!(endpoint = %display_addr(addr), tls, "otlp receiver: gRPC server started");
            if let Err(err) = router
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                .await
            {
                tracing::error!(error = %err, "otlp receiver: gRPC server failed");
            }
            tracing::info!(endpoint = %display_addr(addr), "otlp receiver: gRPC server stopped");
        })
    }
}
