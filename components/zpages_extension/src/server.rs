//! The HTTP listener and its routes. Bound in `start`, so a port in use fails startup
//! with the address in the error; then served until shutdown.
//!
//! Routes (the Collector's, where Weir has the data):
//! - `/debug/pipelinez`: the live pipeline page (the engine's view, path `/`);
//! - `/api/v1/...`: the JSON the page polls (the engine's view, same path);
//! - `/debug/servicez`: links to the pages;
//! - `/debug/extensionz`, `/debug/featurez`, `/debug/tracez`, `/debug/rpcz`,
//!   `/debug/expvarz`: a line saying what Weir shows instead;
//! - anything else: 404.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::Telemetry;
use weir_api::{RunningComponent, StartError};

use crate::TYPE_NAME;

/// A client that has not sent its request headers by then is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

const SERVICEZ: &str = "<!doctype html><meta charset=utf-8><title>Weir zPages</title>\
<h1>Weir zPages</h1><ul>\
<li><a href=\"/debug/pipelinez\">/debug/pipelinez</a>: the pipelines, live</li>\
<li><a href=\"/api/v1/pipeline\">/api/v1/pipeline</a>: the same as JSON</li>\
<li><a href=\"/api/v1/components\">/api/v1/components</a>: the components this build knows</li>\
</ul>\n";

/// A bound, not yet serving, zpages listener.
#[derive(Debug)]
pub struct ZpagesServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    telemetry: Telemetry,
}

impl ZpagesServer {
    /// Binds `endpoint`; the error names the address and the cause.
    pub async fn bind(endpoint: &str, telemetry: Telemetry) -> Result<Self, StartError> {
        let endpoint = endpoint.trim();
        let cannot_listen = |err: std::io::Error| {
            StartError(format!("{TYPE_NAME}: cannot listen on {endpoint}: {err}"))
        };
        let listener = TcpListener::bind(endpoint).await.map_err(cannot_listen)?;
        let local_addr = listener.local_addr().map_err(cannot_listen)?;
        Ok(Self {
            listener,
            local_addr,
            telemetry,
        })
    }

    /// The address actually bound (the real port when the endpoint said `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled.
    pub fn serve(self, shutdown: CancellationToken) -> RunningComponent {
        Box::pin(async move {
            let Self {
                listener,
                telemetry,
                ..
            } = self;
            let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                let response = respond(request.method(), request.uri().path(), &telemetry);
                async move { Ok::<_, Infallible>(response) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            weir_api::http::serve(listener, builder, service, shutdown, TYPE_NAME).await;
        })
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// The answer to `method path`.
pub fn respond(method: &Method, path: &str, telemetry: &Telemetry) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != Method::GET && method != Method::HEAD {
        return answer(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n".into());
    }
    let from_view = |view_path: &str| {
        telemetry
            .pipeline_view()
            .and_then(|view| view.get(view_path))
            .map(|r| answer(StatusCode::OK, r.content_type, r.body))
    };
    let found = match path {
        "/" | "/debug" | "/debug/" | "/debug/servicez" => Some(answer(
            StatusCode::OK,
            "text/html; charset=utf-8",
            SERVICEZ.into(),
        )),
        "/debug/pipelinez" => from_view("/"),
        p if p.starts_with("/api/") => from_view(p),
        "/debug/extensionz" | "/debug/featurez" | "/debug/tracez" | "/debug/rpcz"
        | "/debug/expvarz" => Some(answer(
            StatusCode::OK,
            TEXT,
            "Weir does not keep this page; see /debug/pipelinez for the pipelines and the \
             self-telemetry address's /metrics for every number\n"
                .into(),
        )),
        _ => None,
    };
    found.unwrap_or_else(|| {
        answer(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /debug/pipelinez\n".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;
    use weir_api::telemetry::{PipelineView, ViewResponse};

    use super::*;

    struct Page;
    impl PipelineView for Page {
        fn get(&self, path: &str) -> Option<ViewResponse> {
            match path {
                "/" => Some(ViewResponse {
                    content_type: "text/html; charset=utf-8",
                    body: "<svg>graph</svg>".into(),
                }),
                "/api/v1/pipeline" => Some(ViewResponse {
                    content_type: "application/json",
                    body: "{}".into(),
                }),
                _ => None,
            }
        }
    }

    async fn body(response: Response<Full<Bytes>>) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn pipelinez_serves_the_published_page() {
        let telemetry = Telemetry::new();
        let missing = respond(&Method::GET, "/debug/pipelinez", &telemetry);
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        telemetry.publish_view(Arc::new(Page));
        let page = respond(&Method::GET, "/debug/pipelinez", &telemetry);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(body(page).await, "<svg>graph</svg>");
        let json = respond(&Method::GET, "/api/v1/pipeline", &telemetry);
        assert_eq!(json.headers()["content-type"], "application/json");
        let servicez = respond(&Method::GET, "/debug/servicez", &telemetry);
        assert!(body(servicez).await.contains("/debug/pipelinez"));
        assert_eq!(
            respond(&Method::POST, "/debug/pipelinez", &telemetry).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            respond(&Method::GET, "/nope", &telemetry).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn a_busy_port_is_a_start_error_naming_the_address() {
        let first = ZpagesServer::bind("127.0.0.1:0", Telemetry::new())
            .await
            .expect("bind");
        let address = first.local_addr().to_string();
        let err = ZpagesServer::bind(&address, Telemetry::new())
            .await
            .expect_err("busy");
        assert!(err.0.contains(&address), "{}", err.0);
    }
}
