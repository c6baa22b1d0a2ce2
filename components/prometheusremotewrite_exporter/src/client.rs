//! The HTTP side: one POST per `WriteRequest`, and the remote-write 1.0 rules for what
//! an answer means. 2xx is delivered; 5xx and 429 are worth retrying (honouring
//! `Retry-After`); any other status will fail the same way again and is permanent.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use weir_api::error::chain;

use crate::config::Resolved;

pub const USER_AGENT: &str = concat!("weir/", env!("CARGO_PKG_VERSION"));

/// Why a request was not delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub retryable: bool,
    pub retry_after: Option<Duration>,
    /// The HTTP status, `None` for a network error.
    pub status: Option<u16>,
    pub message: String,
}

/// The `X-Prometheus-Remote-Write-*-Written` headers of an answer (remote-write 2.0);
/// `None` where the header is absent or not a number.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Written {
    pub samples: Option<u64>,
    pub histograms: Option<u64>,
    pub exemplars: Option<u64>,
}

impl Written {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let read = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Self {
            samples: read("x-prometheus-remote-write-samples-written"),
            histograms: read("x-prometheus-remote-write-histograms-written"),
            exemplars: read("x-prometheus-remote-write-exemplars-written"),
        }
    }

    /// Whether the answer had any of the headers.
    pub fn any(&self) -> bool {
        self.samples.is_some() || self.histograms.is_some() || self.exemplars.is_some()
    }

    /// Samples and histograms written (a missing header counts 0).
    pub fn total(&self) -> u64 {
        self.samples.unwrap_or(0) + self.histograms.unwrap_or(0)
    }
}

pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    headers: HeaderMap,
    /// `headers` with the 2.0 Content-Type and version.
    headers_v2: HeaderMap,
    /// The authenticator's headers, set on every POST (found on the first one).
    auth: weir_api::auth::ClientAuth,
}

impl Client {
    /// Sets the headers of `auth` (the exporter's authenticator) on every request.
    pub fn with_auth(mut self, auth: weir_api::auth::ClientAuth) -> Self {
        if auth.is_set() && self.uri.scheme_str() != Some("https") {
            tracing::warn!(
                "prometheusremotewrite exporter: auth is set on a plaintext http:// endpoint: \
                 the credentials travel in clear text; use https://"
            );
        }
        self.auth = auth;
        self
    }

    pub fn new(config: &Resolved) -> Result<Self, String> {
        let uri: Uri = config
            .endpoint
            .parse()
            .map_err(|e| format!("invalid endpoint `{}`: {e}", config.endpoint))?;
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_nodelay(true);
        let https = uri.scheme_str() == Some("https");
        let tls = weir_api::tls::rustls_client_config(&config.tls, https)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let override_name = &config.tls.server_name_override;
        let builder = if override_name.is_empty() {
            builder
        } else {
            let name = rustls::pki_types::ServerName::try_from(override_name.clone())
                .map_err(|e| format!("tls.server_name_override `{override_name}`: {e}"))?;
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        };
        let https = builder.enable_http1().wrap_connector(connector);
        let mut client = HyperClient::builder(TokioExecutor::new());
        if let Some(idle) = config.idle_conn_timeout {
            client.pool_idle_timeout(idle);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header `{name}`: {e}"))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| format!("header `{name}`: {e}"))?;
            headers.insert(name, value);
        }
        let fixed = [
            (http::header::CONTENT_ENCODING, "snappy"),
            (http::header::CONTENT_TYPE, "application/x-protobuf"),
            (
                HeaderName::from_static("x-prometheus-remote-write-version"),
                "0.1.0",
            ),
            (http::header::USER_AGENT, USER_AGENT),
        ];
        for (name, value) in fixed {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let mut headers_v2 = headers.clone();
        headers_v2.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(crate::v2::CONTENT_TYPE),
        );
        headers_v2.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static(crate::v2::VERSION),
        );
        Ok(Self {
            http: client.build(https),
            uri,
            headers,
            headers_v2,
            auth: weir_api::auth::ClientAuth::default(),
        })
    }

    /// POSTs one snappy-compressed `WriteRequest` (a cheap clone of the prepared body,
    /// so every attempt sends the same bytes).
    pub async fn send(&self, body: Bytes) -> Result<(), Failure> {
        self.post(body, &self.headers).await.0
    }

    /// POSTs one snappy-compressed 2.0 `Request`; also returns the written counts the
    /// endpoint answered (on any status).
    pub async fn send_v2(&self, body: Bytes) -> (Result<(), Failure>, Written) {
        self.post(body, &self.headers_v2).await
    }

    async fn post(&self, body: Bytes, headers: &HeaderMap) -> (Result<(), Failure>, Written) {
        match self.post_inner(body, headers).await {
            Ok(written) => (Ok(()), written),
            Err((failure, written)) => (Err(failure), written),
        }
    }

    async fn post_inner(
        &self,
        body: Bytes,
        headers: &HeaderMap,
    ) -> Result<Written, (Failure, Written)> {
        let none = |failure: Failure| (failure, Written::default());
        let mut request = Request::post(self.uri.clone())
            .body(Full::new(body))
            .map_err(|e| Failure {
                retryable: false,
                retry_after: None,
                status: None,
                message: format!("building the request failed: {e}"),
            })
            .map_err(none)?;
        *request.headers_mut() = headers.clone();
        self.auth
            .apply(request.headers_mut())
            .map_err(|e| Failure {
                retryable: false,
                retry_after: None,
                status: None,
                message: format!("auth: {e}"),
            })
            .map_err(none)?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| Failure {
                retryable: true,
                retry_after: None,
                status: None,
                message: format!("sending to {} failed: {}", self.uri, chain(&e)),
            })
            .map_err(none)?;
        let status = response.status();
        let written = Written::from_headers(response.headers());
        if status.is_success() {
            // Drain the body so the connection can be reused.
            let _ = Limited::new(response.into_body(), 64 * 1024)
                .collect()
                .await;
            return Ok(written);
        }
        let retry_after = weir_api::http::retry_after(response.headers(), SystemTime::now());
        let text = match Limited::new(response.into_body(), 1024).collect().await {
            Ok(body) => String::from_utf8_lossy(&body.to_bytes()).trim().to_string(),
            Err(_) => String::new(),
        };
        Err((classify(status, retry_after, &text), written))
    }
}

/// The remote-write spec's retry rules.
pub fn classify(status: StatusCode, retry_after: Option<Duration>, body: &str) -> Failure {
    let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
    let mut message = format!("remote-write endpoint answered {status}");
    if !body.is_empty() {
        message.push_str(": ");
        message.push_str(body);
    }
    Failure {
        retryable,
        retry_after: if retryable { retry_after } else { None },
        status: Some(status.as_u16()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert!(classify(StatusCode::SERVICE_UNAVAILABLE, None, "").retryable);
        assert!(classify(StatusCode::TOO_MANY_REQUESTS, None, "").retryable);
        let bad = classify(
            StatusCode::BAD_REQUEST,
            Some(Duration::from_secs(1)),
            "out of order sample",
        );
        assert!(!bad.retryable);
        assert_eq!(bad.retry_after, None);
        assert!(bad.message.contains("400") && bad.message.contains("out of order sample"));
    }

    #[test]
    fn retry_after_forms() {
        use std::time::UNIX_EPOCH;
        use weir_api::http::parse_retry_after;

        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // Sun, 06 Nov 1994 08:49:30 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
