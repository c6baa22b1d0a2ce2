//! The self-metrics endpoint (`service.telemetry.metrics`, default 127.0.0.1:8888):
//! `GET /metrics` in OpenMetrics text, as the Collector serves its own, and the live
//! pipeline page: `/` and its JSON under `/api/v1/` (see `page`).

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
    tracing::info!(address = %local, "the pipeline page is at http://{local}/");
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
    let path = req.uri().path();
    let (content_type, body) = if path == "/metrics" {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            telemetry.encode(),
        )
    } else if let Some(answer) = telemetry.pipeline_view().and_then(|view| view.get(path)) {
        (answer.content_type, answer.body)
    } else {
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"not found; try / (the pipeline page) or /metrics\n",
        )));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let mut ok = Response::new(Full::new(Bytes::from(body)));
    ok.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    ok
}
