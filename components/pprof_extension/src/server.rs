//! The HTTP side: `GET /debug/pprof/profile?seconds=N` answers a CPU profile of N
//! seconds (default 30, as Go's `net/http/pprof`), gzipped pprof protobuf like Go's;
//! `/debug/pprof/` lists what is served. Go runtime profiles (heap, goroutine, block,
//! mutex, ...) have no Rust counterpart and answer 404 saying so.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weir_api::{RunningComponent, StartError};

use crate::profile::{self, ProfileError};
use crate::TYPE_NAME;

/// Go's default profile length.
pub const DEFAULT_SECONDS: u64 = 30;
/// The longest profile served.
pub const MAX_SECONDS: u64 = 3600;
/// How often a running profile looks at the shutdown token.
const POLL: Duration = Duration::from_millis(50);

/// Go runtime profiles Weir has no counterpart for.
const GO_ONLY: [&str; 9] = [
    "allocs",
    "block",
    "goroutine",
    "heap",
    "mutex",
    "threadcreate",
    "trace",
    "cmdline",
    "symbol",
];

const INDEX: &str = "<html><head><title>/debug/pprof/</title></head><body>\n\
<p>Weir profiles (Rust: a CPU profile only; Go's runtime profiles do not apply)</p>\n\
<p><a href=\"profile?seconds=30\">profile</a>: CPU profile, pprof protobuf (gzipped). \
Add <code>?seconds=N</code>; read it with <code>go tool pprof</code> or any pprof viewer.</p>\n\
</body></html>\n";

/// A bound, not yet serving, pprof listener.
#[derive(Debug)]
pub struct PprofServer {
    listener: TcpListener,
    local_addr: SocketAddr,
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `seconds` from the query, as Go reads it: missing, unparsable or not positive means 30.
pub fn seconds(query: Option<&str>) -> u64 {
    query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("seconds="))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_SECONDS)
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Profiles for `duration` on a blocking thread; stops early (and fails) at shutdown.
async fn cpu_profile(
    duration: Duration,
    shutdown: CancellationToken,
) -> Result<Vec<u8>, ProfileError> {
    let joined = tokio::task::spawn_blocking(move || {
        let running = profile::start()?;
        let until = Instant::now() + duration;
        while Instant::now() < until {
            if shutdown.is_cancelled() {
                drop(running);
                return Err(ProfileError::Failed("Weir is shutting down".into()));
            }
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
        let encoded = running.finish()?;
        gzip(&encoded)
            .map_err(|e| ProfileError::Failed(format!("cannot compress the profile: {e}")))
    })
    .await;
    joined.unwrap_or_else(|e| {
        Err(ProfileError::Failed(format!(
            "the profiling task failed: {e}"
        )))
    })
}

/// One request.
pub async fn respond(
    request: &Request<impl Sized>,
    shutdown: CancellationToken,
) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let Some(name) = path.strip_prefix("/debug/pprof/") else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match name {
        "" => {
            let mut response = text(StatusCode::OK, INDEX);
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        "profile" => {
            let seconds = seconds(request.uri().query());
            if seconds > MAX_SECONDS {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("profile duration exceeds the {MAX_SECONDS}s limit\n"),
                );
            }
            match cpu_profile(Duration::from_secs(seconds), shutdown).await {
                Ok(body) => {
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    let headers = response.headers_mut();
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                    headers.insert(
                        CONTENT_DISPOSITION,
                        HeaderValue::from_static("attachment; filename=\"profile\""),
                    );
                    response
                }
                Err(err) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Could not enable CPU profiling: {err}\n"),
                ),
            }
        }
        go if GO_ONLY.contains(&go) => text(
            StatusCode::NOT_FOUND,
            format!(
                "{go} is a Go runtime profile; Weir is a Rust program and serves only the CPU profile at /debug/pprof/profile\n"
            ),
        ),
        _ => text(StatusCode::NOT_FOUND, "Unknown profile\n"),
    }
}

impl PprofServer {
    /// Binds `endpoint`; the error names the address and the cause.
    pub async fn bind(endpoint: &str) -> Result<Self, StartError> {
        let endpoint = endpoint.trim();
        let cannot_listen = |err: std::io::Error| {
            StartError(format!("{TYPE_NAME}: cannot listen on {endpoint}: {err}"))
        };
        let listener = TcpListener::bind(endpoint).await.map_err(cannot_listen)?;
        let local_addr = listener.local_addr().map_err(cannot_listen)?;
        Ok(Self {
            listener,
            local_addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled.
    pub fn serve(self, shutdown: CancellationToken) -> RunningComponent {
        Box::pin(async move {
            let token = shutdown.clone();
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let token = token.clone();
                async move { Ok::<_, Infallible>(respond(&request, token).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            weir_api::http::serve(self.listener, builder, service, shutdown, TYPE_NAME).await;
        })
    }
}
