//! CORS for browser clients, following what the Collector's `confighttp` does through
//! rs/cors: enabled only when `allowed_origins` is set; preflights (`OPTIONS`) are
//! answered 204 on any path, with the CORS headers only when the origin, method and
//! headers are all allowed; actual requests from an allowed origin get
//! `Access-Control-Allow-Origin`.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use http::{HeaderMap, HeaderValue};

use super::reply::{self, Reply};
use crate::config::CorsConfig;

/// Headers a browser may always send (rs/cors's defaults plus `Origin`).
const ALWAYS_ALLOWED_HEADERS: [&str; 4] = ["accept", "content-type", "x-requested-with", "origin"];

#[derive(Debug)]
pub struct Cors {
    origins: Vec<String>,
    headers: Vec<String>,
    max_age: u64,
}

impl Cors {
    /// `None` when no origin is allowed: CORS is then off, as in the Collector.
    pub fn new(config: &CorsConfig) -> Option<Self> {
        if config.allowed_origins.is_empty() {
            return None;
        }
        Some(Self {
            origins: config
                .allowed_origins
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            headers: config
                .allowed_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            max_age: config.max_age,
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins
            .iter()
            .any(|pattern| wildcard_match(pattern, &origin))
    }

    fn header_allowed(&self, header: &str) -> bool {
        let header = header.trim().to_ascii_lowercase();
        header.is_empty()
            || ALWAYS_ALLOWED_HEADERS.contains(&header.as_str())
            || self.headers.iter().any(|h| h == "*" || *h == header)
    }

    /// Answers an `OPTIONS` preflight.
    pub fn preflight(&self, headers: &HeaderMap) -> Reply {
        let mut reply = reply::no_content();
        let out = reply.headers_mut();
        out.insert(
            VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let (Some(origin), Some(method)) = (text(ORIGIN), text(ACCESS_CONTROL_REQUEST_METHOD))
        else {
            return reply;
        };
        let requested = text(ACCESS_CONTROL_REQUEST_HEADERS).unwrap_or_default();
        if !self.origin_allowed(origin)
            || !method.eq_ignore_ascii_case("POST")
            || !requested.split(',').all(|h| self.header_allowed(h))
        {
            return reply;
        }
        if let Ok(origin) = HeaderValue::from_str(origin) {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        out.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        if !requested.trim().is_empty() {
            if let Ok(value) = HeaderValue::from_str(requested) {
                out.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
            }
        }
        if self.max_age > 0 {
            out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(self.max_age));
        }
        reply
    }

    /// Adds the CORS headers to the answer of an actual request from `origin`.
    pub fn decorate(&self, origin: &HeaderValue, reply: &mut Reply) {
        let allowed = origin
            .to_str()
            .map(|o| self.origin_allowed(o))
            .unwrap_or(false);
        reply
            .headers_mut()
            .append(VARY, HeaderValue::from_static("Origin"));
        if allowed {
            reply
                .headers_mut()
                .insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
}

/// `*` matches any run of characters, anywhere in the pattern.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "https://a.example.com"));
        assert!(wildcard_match(
            "https://*.example.com",
            "https://a.example.com"
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.org"
        ));
        assert!(wildcard_match("https://exact.com", "https://exact.com"));
        assert!(!wildcard_match(
            "https://exact.com",
            "https://exact.com.evil"
        ));
    }

    #[test]
    fn preflight_allows_configured_origin_and_headers() {
        let cors = Cors::new(&CorsConfig {
            allowed_origins: vec!["https://*.example.com".into()],
            allowed_headers: vec!["X-Tenant".into()],
            max_age: 600,
        })
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_static("https://app.example.com"));
        headers.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        headers.insert(
            ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("content-type, x-tenant"),
        );
        let reply = cors.preflight(&headers);
        assert_eq!(reply.status(), http::StatusCode::NO_CONTENT);
        assert_eq!(
            reply.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(reply.headers()[ACCESS_CONTROL_MAX_AGE], "600");

        headers.insert(
            ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("x-secret"),
        );
        assert!(cors
            .preflight(&headers)
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none());
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.com"));
        assert!(cors
            .preflight(&headers)
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none());
    }
}
