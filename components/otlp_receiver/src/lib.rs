//! The `otlp` receiver: OTLP over gRPC (tonic) and HTTP (hyper, protobuf and JSON),
//! configured as the OpenTelemetry Collector's `otlp` receiver is.
//!
//! Both servers bind inside [`Receiver::start`], before either serves, so a port in use
//! fails the start with an error naming the address and nothing is left half-running.
//! Each transport sends through its own [`ReceiverOutput::for_transport`](weir_api::ReceiverOutput::for_transport), so the
//! accepted/refused counters carry `transport="grpc"` or `transport="http"` as the
//! Collector's do.
//!
//! - [`config`]: the Collector-shaped configuration and its checks.
//! - `grpc_server`: the three OTLP services on tonic, decoding and refusing in Weir's code.
//! - `http_server`: routing, body limits, decompression, CORS and the status codes of OTLP/HTTP.
//! - `security`: TLS, the authenticator and connection limits of each protocol's server,
//!   resolved at start.

pub mod config;
mod endpoint;
mod grpc_server;
mod http_server;
mod metadata;
mod security;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use weir_api::{
    BuildContext, BuildError, ComponentProblem, FactoryInfo, Receiver, ReceiverContext,
    ReceiverFactory, RunningComponent, Signal, Stability, StartError, Value,
};

pub use config::Config;

/// The factory registered under `otlp`.
pub fn factory() -> Arc<dyn ReceiverFactory> {
    Arc::new(OtlpReceiverFactory)
}

struct OtlpReceiverFactory;

impl ReceiverFactory for OtlpReceiverFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "otlp",
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Beta,
            description: "Receives OTLP over gRPC and HTTP (protobuf and JSON).",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        config::parse(config).err().unwrap_or_default()
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(OtlpReceiver::new(ctx, config)?))
    }
}

/// A built receiver: configuration checked, nothing bound yet.
#[derive(Debug)]
pub struct OtlpReceiver {
    config: Config,
}

/// A started receiver: the addresses it listens on and the future that serves.
pub struct Bound {
    /// Where gRPC listens, when enabled (useful with port 0 in tests).
    pub grpc_addr: Option<SocketAddr>,
    /// Where HTTP listens, when enabled.
    pub http_addr: Option<SocketAddr>,
    /// Completes after `shutdown` is cancelled and in-flight requests are answered.
    pub running: RunningComponent,
}

impl OtlpReceiver {
    pub fn new(_ctx: BuildContext, section: &Value) -> Result<Self, BuildError> {
        let config = config::parse(section).map_err(|problems| {
            let text: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.path.join("."), p.message))
                .collect();
            BuildError(text.join("; "))
        })?;
        Ok(Self { config })
    }

    /// Binds every enabled protocol, then returns the serving future.
    pub async fn bind(self, ctx: ReceiverContext) -> Result<Bound, StartError> {
        let protocols = &self.config.protocols;
        let grpc = match &protocols.grpc {
            Some(config) => {
                Some(grpc_server::GrpcServer::bind(config, ctx.output.for_transport("grpc")).await?)
            }
            None => None,
        };
        let http = match &protocols.http {
            Some(config) => {
                Some(http_server::HttpServer::bind(config, ctx.output.for_transport("http")).await?)
            }
            None => None,
        };
        let grpc_addr = grpc.as_ref().and_then(grpc_server::GrpcServer::local_addr);
        let http_addr = http.as_ref().and_then(http_server::HttpServer::local_addr);
        let shutdown = ctx.shutdown;
        let grpc = grpc.map(|server| server.serve(shutdown.clone()));
        let http = http.map(|server| server.serve(shutdown));
        let running: RunningComponent = Box::pin(async move {
            let grpc = async {
                if let Some(serving) = grpc {
                    serving.await;
                }
            };
            let http = async {
                if let Some(serving) = http {
                    serving.await;
                }
            };
            futures_util::future::join(grpc, http).await;
        });
        Ok(Bound {
            grpc_addr,
            http_addr,
            running,
        })
    }
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> Result<RunningComponent, StartError> {
        Ok(self.bind(ctx).await?.running)
    }
}
