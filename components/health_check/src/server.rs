//! The HTTP listener: bound in `start` so a port in use fails startup with a clear
//! error, then served until shutdown.
//!
//! Binding and serving are two steps on purpose: [`HealthServer::local_addr`] between
//! them tells tests (and logs) the real port when the endpoint asks for port 0.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use weir_api::conn::ServerOptions;
use weir_api::tls_server::ServerTls;
use weir_api::{HealthState, RunningComponent, StartError};

use crate::config::HealthCheckConfig;
use crate::response::Responder;
use crate::TYPE_NAME;

/// A client that has not sent its request headers by then is disconnected, so a stuck
/// prober cannot hold shutdown open.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Probes are few: a flood of connections is closed rather than held.
const MAX_CONNECTIONS: usize = 1024;

/// A bound, not yet serving, health check listener.
#[derive(Debug)]
pub struct HealthServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    responder: Arc<Responder>,
    tls: Option<ServerTls>,
}

impl HealthServer {
    /// Binds `config.endpoint`. The error names the address and the cause, e.g.
    /// `health_check: cannot listen on 127.0.0.1:13133: Address already in use`.
    pub async fn bind(config: &HealthCheckConfig) -> Result<Self, StartError> {
        let endpoint = config.endpoint.trim();
        let tls = config
            .tls
            .as_ref()
            .map(|tls| ServerTls::new(tls, &[b"http/1.1"]))
            .transpose()
            .map_err(|e| StartError(format!("{TYPE_NAME}: {e}")))?;
        let cannot_listen = |err: std::io::Error| {
            StartError(format!(
                "{TYPE_NAME}: cannot listen on {endpoint}: {}",
                without_os_code(&err)
            ))
        };
        let listener = TcpListener::bind(endpoint).await.map_err(cannot_listen)?;
        let local_addr = listener.local_addr().map_err(cannot_listen)?;
        Ok(Self {
            listener,
            local_addr,
            responder: Arc::new(Responder::new(
                config.path.clone(),
                config.response_body.clone(),
            )),
            tls,
        })
    }

    /// The address actually bound (the real port when the endpoint said `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled, answering from the latest `health`; the
    /// future completes once open connections have finished.
    pub fn serve(
        self,
        mut health: watch::Receiver<HealthState>,
        shutdown: CancellationToken,
    ) -> RunningComponent {
        Box::pin(async move {
            let Self {
                listener,
                local_addr,
                responder,
                tls,
            } = self;
            responder.observe(*health.borrow_and_update());
            let service = {
                let responder = responder.clone();
                let health = health.clone();
                service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let state = *health.borrow();
                    let response = responder.respond(request.method(), request.uri().path(), state);
                    async move { Ok::<_, Infallible>(response) }
                })
            };
            let watching = async {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        changed = health.changed() => match changed {
                            Ok(()) => responder.observe(*health.borrow_and_update()),
                            // The engine dropped the sender: the last state stays the answer.
                            Err(_) => break,
                        },
                    }
                }
            };
            let builder = auto::Builder::new(TokioExecutor::new()).http1_only();
            let options = ServerOptions {
                tls,
                max_connections: MAX_CONNECTIONS,
                header_timeout: HEADER_READ_TIMEOUT,
                ..ServerOptions::plain(TYPE_NAME)
            };
            let serving =
                weir_api::http::serve_with(listener, builder, service, shutdown.clone(), options);
            tokio::join!(watching, serving);
            tracing::debug!(%local_addr, "health_check: stopped");
        })
    }
}

/// `Address already in use (os error 98)` -> `Address already in use`.
fn without_os_code(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}
