//! What a probe gets back: pure functions of the path, method, health state and the
//! time the pipelines became ready, so they are tested without a socket.
//!
//! The default body mirrors the Collector's (Jaeger-derived) document,
//! `{"status":"Server available","upSince":"...","uptime":"..."}`, because Kubernetes
//! probes and existing scripts may parse it.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;
use weir_api::HealthState;

use crate::config::ResponseBody;

/// Go's zero `time.Time`, which the Collector reports as `upSince` when not ready.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// When the pipelines last became ready: wall time to report, monotonic time to measure.
#[derive(Clone, Copy, Debug)]
struct UpSince {
    wall: SystemTime,
    monotonic: Instant,
}

#[derive(Serialize)]
struct Document<'a> {
    status: &'a str,
    #[serde(rename = "upSince")]
    up_since: String,
    uptime: String,
}

/// Builds responses; shared by every connection.
#[derive(Debug)]
pub struct Responder {
    path: String,
    custom_body: Option<ResponseBody>,
    up_since: Mutex<Option<UpSince>>,
}

impl Responder {
    pub fn new(path: String, custom_body: Option<ResponseBody>) -> Self {
        Self {
            path,
            custom_body,
            up_since: Mutex::new(None),
        }
    }

    fn up_since(&self) -> std::sync::MutexGuard<'_, Option<UpSince>> {
        // Only a plain value is kept under the lock; a poisoned one is still valid.
        self.up_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a health change: ready starts the uptime clock, anything else stops it.
    pub fn observe(&self, state: HealthState) {
        let mut up_since = self.up_since();
        if state != HealthState::Running {
            *up_since = None;
        } else if up_since.is_none() {
            *up_since = Some(UpSince {
                wall: SystemTime::now(),
                monotonic: Instant::now(),
            });
        }
    }

    /// The answer to one request.
    pub fn respond(
        &self,
        method: &Method,
        path: &str,
        state: HealthState,
    ) -> Response<Full<Bytes>> {
        if path != self.path {
            return plain(StatusCode::NOT_FOUND, "404 page not found\n");
        }
        if method != Method::GET && method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        // A probe may arrive before the serve loop has seen the change: the state read
        // from the watch channel is the truth, and the clock starts now if needed.
        self.observe(state);
        let healthy = state == HealthState::Running;
        let status = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        if let Some(custom) = &self.custom_body {
            let body = if healthy {
                &custom.healthy
            } else {
                &custom.unhealthy
            };
            return plain(status, body.as_deref().unwrap_or_default());
        }
        let document = match *self.up_since() {
            Some(since) if healthy => Document {
                status: "Server available",
                up_since: humantime::format_rfc3339_nanos(since.wall).to_string(),
                uptime: go_duration(since.monotonic.elapsed()),
            },
            _ => Document {
                status: "Server not available",
                up_since: ZERO_TIME.into(),
                uptime: String::new(),
            },
        };
        // Serializing two strings cannot fail; an empty body would still carry the status.
        let body = serde_json::to_vec(&document).unwrap_or_default();
        with_type(status, body, "application/json")
    }
}

fn plain(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with_type(
        status,
        body.as_bytes().to_vec(),
        "text/plain; charset=utf-8",
    )
}

fn with_type(
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Formats a duration as Go's `time.Duration.String` does (`1h2m3.5s`, `250ms`), the
/// `uptime` format the Collector reports.
pub fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 1_000_000));
    }
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, (total / 60) % 60, total % 60);
    let seconds = decimal(
        u128::from(seconds) * 1_000_000_000 + u128::from(duration.subsec_nanos()),
        1_000_000_000,
    );
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `value / unit` with the fraction's trailing zeros removed (`unit` a power of ten).
fn decimal(value: u128, unit: u128) -> String {
    let (whole, rest) = (value / unit, value % unit);
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let fraction = format!("{rest:0width$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(15)), "15ns");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(3_723_500)), "1h2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn document_follows_the_state() {
        let r = Responder::new("/".into(), None);
        let starting = r.respond(&Method::GET, "/", HealthState::Starting);
        assert_eq!(starting.status(), StatusCode::SERVICE_UNAVAILABLE);
        let running = r.respond(&Method::HEAD, "/", HealthState::Running);
        assert_eq!(running.status(), StatusCode::OK);
        assert_eq!(running.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            r.respond(&Method::GET, "/other", HealthState::Running)
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            r.respond(&Method::POST, "/", HealthState::Running).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
