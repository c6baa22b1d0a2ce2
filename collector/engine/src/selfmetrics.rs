//! The self-metrics endpoint (`service.telemetry.metrics`, default 127.0.0.1:8888):
//! `GET /metrics` in OpenMetrics text, as the Collector serves its own.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::Telemetry;
use weir_api::StartError;

/// Binds the endpoint; the returned future serves until `shutdown`.
pub async fn start(
    address: &str,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), StartError> {
    let listener = TcpListener::bind(address).await.map_err(|e| {
        StartError(format!(
            "service.telemetry.metrics: cannot listen on {address}: {e}"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| StartError(format!("service.telemetry.metrics: {e}")))?;
    let service = hyper::service::service_fn(move |req| {
        let telemetry = telemetry.clone();
        async move { Ok::<_, Infallible>(respond(&req, &telemetry)) }
    });
    // HTTP/1 only, as Prometheus scrapes; on shutdown an in-flight scrape finishes.
    let builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    let serve = weir_api::http::serve(
        listener,
        builder,
        service,
        shutdown,
        "self-metrics endpoint",
    );
    Ok((local, serve))
}

fn respond(req: &Request<Incoming>, telemetry: &Telemetry) -> Response<Full<Bytes>> {
    let mut response = if req.uri().path() == "/metrics" {
        let mut ok = Response::new(Full::new(Bytes::from(telemetry.encode())));
        ok.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        ok
    } else {
        Response::new(Full::new(Bytes::from_static(b"not found; try /metrics\n")))
    };
    if req.uri().path() != "/metrics" {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}
