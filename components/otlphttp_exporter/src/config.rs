//! The `otlphttp` exporter's configuration, with the Collector's keys and defaults
//! (`confighttp.ClientConfig` plus `encoding`, the per-signal endpoints and
//! `exporterhelper`'s `retry_on_failure` and `sending_queue`).
//!
//! serde checks the shape; [`Config::semantic_problems`] checks what serde cannot (URL
//! syntax, header names, settings Weir does not implement). `check` and `build` run the
//! same code, so `weir validate` refuses exactly what `build` would.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Uri;
use serde::{Deserialize, Deserializer};
use weir_api::config::problem;
use weir_api::{ComponentProblem, QueueSettings, RetrySettings, Signal};

/// The `otlphttp` exporter's section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended.
    pub endpoint: String,
    /// Full URLs that override `endpoint` for one signal (no path is appended).
    pub traces_endpoint: String,
    pub metrics_endpoint: String,
    pub logs_endpoint: String,
    pub encoding: Encoding,
    pub compression: Compression,
    pub compression_params: CompressionParams,
    pub headers: BTreeMap<String, String>,
    /// The Collector's default for this exporter is 30s (not exporterhelper's 5s).
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    pub tls: TlsSettings,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
    /// Idle connections kept per host (Go's `MaxIdleConnsPerHost`).
    pub max_idle_conns_per_host: Option<usize>,
    /// How long an idle connection is kept (Collector default 90s).
    #[serde(with = "weir_api::duration::option")]
    pub idle_conn_timeout: Option<Duration>,
    /// Close each connection after its request.
    pub disable_keep_alives: bool,
    /// Accepted for compatibility: hyper sizes its buffers itself.
    pub read_buffer_size: Option<usize>,
    pub write_buffer_size: Option<usize>,
    /// Accepted for compatibility: Weir talks to a single host, so this is the same as
    /// `max_idle_conns_per_host` in practice and is not enforced separately.
    pub max_idle_conns: Option<usize>,
    /// Accepted for compatibility, not enforced.
    pub max_conns_per_host: Option<usize>,
    /// Accepted for compatibility; HTTP/2 is negotiated by ALPN on TLS connections.
    pub force_attempt_http2: Option<bool>,
    #[serde(with = "weir_api::duration::option")]
    pub http2_read_idle_timeout: Option<Duration>,
    #[serde(with = "weir_api::duration::option")]
    pub http2_ping_timeout: Option<Duration>,
    /// Refused when set: proxies are not implemented.
    pub proxy_url: String,
    /// An authenticator extension (`bearertokenauth`, `basicauth`) whose headers are
    /// set on every request. Over `http://` the credentials travel in clear text: as
    /// in the Collector this is allowed, and Weir logs a warning at start.
    pub auth: Option<weir_api::auth::AuthSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            traces_endpoint: String::new(),
            metrics_endpoint: String::new(),
            logs_endpoint: String::new(),
            encoding: Encoding::Proto,
            compression: Compression::Gzip,
            compression_params: CompressionParams::default(),
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(30),
            tls: TlsSettings::default(),
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
            max_idle_conns_per_host: None,
            idle_conn_timeout: Some(Duration::from_secs(90)),
            disable_keep_alives: false,
            read_buffer_size: None,
            write_buffer_size: None,
            max_idle_conns: None,
            max_conns_per_host: None,
            force_attempt_http2: None,
            http2_read_idle_timeout: None,
            http2_ping_timeout: None,
            proxy_url: String::new(),
            auth: None,
        }
    }
}

/// `encoding`: the request body's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Proto,
    Json,
}

impl Encoding {
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Proto => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `compression`. The Collector's default is gzip, kept for compatibility; on a
/// loopback-class link `none` or `zstd` costs far less CPU (see DESIGN.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "gzip" => Ok(Self::Gzip),
            "zstd" => Ok(Self::Zstd),
            "none" | "" => Ok(Self::None),
            "snappy" | "x-snappy-framed" | "deflate" | "zlib" | "lz4" => {
                Err(serde::de::Error::custom(format!(
                    "compression `{text}` is not supported by the otlphttp exporter; use gzip, zstd or none"
                )))
            }
            other => Err(serde::de::Error::custom(format!(
                "unknown compression `{other}`; use gzip, zstd or none"
            ))),
        }
    }
}

/// `compression_params`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    /// gzip 1-9 (default 1, fastest, as the Collector's HTTP client) or zstd 1-22
    /// (default 1).
    pub level: Option<i32>,
}

/// `tls`: the shared client settings (see `weir_api::tls`). For HTTP the URL's scheme
/// decides whether TLS is used; `insecure` is accepted and has no effect.
pub type TlsSettings = weir_api::tls::TlsClientSettings;

impl Config {
    /// The URL for one signal: its own `*_endpoint`, else `endpoint` + `/v1/<signal>`
    /// (one slash between them, as the Collector composes it).
    pub fn signal_url(&self, signal: Signal) -> Result<Uri, String> {
        let (key, own) = self.signal_endpoint(signal);
        let url = if !own.is_empty() {
            own.to_string()
        } else if !self.endpoint.is_empty() {
            let base = self.endpoint.trim_end_matches('/');
            format!("{base}/v1/{}", signal.as_str())
        } else {
            return Err(format!("no URL for {signal}: set `endpoint` or `{key}`"));
        };
        let key = if own.is_empty() { "endpoint" } else { key };
        weir_api::http::parse_endpoint_url(&url).map_err(|e| format!("{key}: {e}"))
    }

    fn signal_endpoint(&self, signal: Signal) -> (&'static str, &str) {
        match signal {
            Signal::Traces => ("traces_endpoint", &self.traces_endpoint),
            Signal::Metrics => ("metrics_endpoint", &self.metrics_endpoint),
            Signal::Logs => ("logs_endpoint", &self.logs_endpoint),
        }
    }

    /// Whether any configured URL uses TLS.
    pub fn uses_tls(&self) -> bool {
        Signal::ALL
            .iter()
            .filter_map(|s| self.signal_url(*s).ok())
            .any(|uri| uri.scheme_str() == Some("https"))
    }

    /// Problems serde cannot see. Paths are relative to the component's section.
    fn semantic_problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        let all_empty = self.endpoint.is_empty()
            && Signal::ALL
                .iter()
                .all(|s| self.signal_endpoint(*s).1.is_empty());
        if all_empty {
            problems.push(problem(
                &["endpoint"],
                "endpoint is required, e.g. `https://collector:4318` (or set traces_endpoint, \
                 metrics_endpoint, logs_endpoint)",
            ));
        }
        if !self.endpoint.is_empty() {
            if let Err(message) = weir_api::http::parse_endpoint_url(&self.endpoint) {
                problems.push(problem(&["endpoint"], message));
            }
        }
        for signal in Signal::ALL {
            let (key, own) = self.signal_endpoint(signal);
            if !own.is_empty() {
                if let Err(message) = weir_api::http::parse_endpoint_url(own) {
                    problems.push(problem(&[key], message));
                }
            }
        }
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(problem(
                    &["headers", name],
                    format!("`{name}` is not a valid HTTP header name"),
                ));
            } else if HeaderValue::from_str(value).is_err() {
                problems.push(problem(
                    &["headers", name],
                    "a header value must be visible ASCII (no control characters)",
                ));
            }
        }
        if let Some(level) = self.compression_params.level {
            let range = match self.compression {
                Compression::Gzip => 1..=9,
                Compression::Zstd => 1..=22,
                Compression::None => 0..=0,
            };
            if self.compression != Compression::None && !range.contains(&level) {
                problems.push(problem(
                    &["compression_params", "level"],
                    format!(
                        "level {level} is out of range {}..={} for {:?}",
                        range.start(),
                        range.end(),
                        self.compression
                    ),
                ));
            }
        }
        if !self.proxy_url.is_empty() {
            problems.push(problem(
                &["proxy_url"],
                "proxies are not supported by Weir yet",
            ));
        }
        if let Some(auth) = &self.auth {
            problems.extend(auth.problems());
        }
        problems.extend(self.tls.problems("use an http:// endpoint"));
        problems
    }
}

impl weir_api::config::Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        self.semantic_problems()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        let value: weir_api::Value = serde_yaml_ng::from_str(yaml).unwrap();
        weir_api::config::parse(&value).unwrap()
    }

    #[test]
    fn defaults_follow_the_collector() {
        let c = config("endpoint: https://collector:4318");
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.encoding, Encoding::Proto);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert!(c.semantic_problems().is_empty());
    }

    #[test]
    fn signal_urls_are_composed_like_the_collector() {
        let c = config(
            "{endpoint: 'http://a:4318/otlp/', logs_endpoint: 'https://logs.example/ingest'}",
        );
        assert_eq!(
            c.signal_url(Signal::Traces).unwrap(),
            "http://a:4318/otlp/v1/traces"
        );
        assert_eq!(
            c.signal_url(Signal::Metrics).unwrap(),
            "http://a:4318/otlp/v1/metrics"
        );
        assert_eq!(
            c.signal_url(Signal::Logs).unwrap(),
            "https://logs.example/ingest"
        );
        assert!(c.uses_tls());
        let only_traces = config("traces_endpoint: 'http://a/t'");
        assert!(only_traces.semantic_problems().is_empty());
        assert!(only_traces
            .signal_url(Signal::Logs)
            .unwrap_err()
            .contains("logs_endpoint"));
    }

    #[test]
    fn bad_urls_name_their_key() {
        let problems = config("{endpoint: 'collector:4318', metrics_endpoint: 'ftp://x/y'}")
            .semantic_problems();
        let paths: Vec<_> = problems.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(paths, ["endpoint", "metrics_endpoint"], "{problems:?}");
        assert_eq!(config("{}").semantic_problems()[0].path, ["endpoint"]);
    }

    #[test]
    fn compression_and_encoding_values() {
        assert_eq!(config("compression: zstd").compression, Compression::Zstd);
        assert_eq!(config("encoding: json").encoding, Encoding::Json);
        let value: weir_api::Value = serde_yaml_ng::from_str("compression: snappy").unwrap();
        let problem = weir_api::config::parse::<Config>(&value).unwrap_err();
        assert_eq!(problem.path, ["compression"]);
        assert!(
            problem.message.contains("gzip, zstd or none"),
            "{}",
            problem.message
        );
        let value: weir_api::Value = serde_yaml_ng::from_str("encoding: xml").unwrap();
        assert_eq!(
            weir_api::config::parse::<Config>(&value).unwrap_err().path,
            ["encoding"]
        );
    }

    #[test]
    fn unimplemented_settings_are_refused_by_path() {
        let c = config("{endpoint: 'http://a', proxy_url: 'http://p', auth: {authenticator: ''}, tls: {insecure_skip_verify: true, insecure: true}, compression_params: {level: 12}}");
        let paths: Vec<_> = c
            .semantic_problems()
            .into_iter()
            .map(|p| p.path.join("."))
            .collect();
        assert_eq!(
            paths,
            [
                "compression_params.level",
                "proxy_url",
                "auth.authenticator"
            ]
        );
    }
}
