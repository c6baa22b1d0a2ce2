//! The `otlp` exporter's configuration, with the Collector's keys and defaults
//! (`configgrpc.ClientConfig` plus `exporterhelper`'s `timeout`, `retry_on_failure` and
//! `sending_queue`).
//!
//! Parsing is split in two on purpose: serde checks the shape (unknown keys, types) and
//! [`Config::semantic_problems`] checks what serde cannot (endpoint syntax, header names,
//! settings Weir does not implement). `check` and `build` run the same code, so `weir
//! validate` refuses exactly what `build` would.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use weir_api::config::problem;
use weir_api::{ComponentProblem, QueueSettings, RetrySettings};

/// The `otlp` exporter's section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `host:port`, `http://host:port` (plaintext) or `https://host:port` (TLS).
    pub endpoint: String,
    pub compression: Compression,
    pub tls: TlsSettings,
    /// Sent as gRPC metadata on every request.
    pub headers: BTreeMap<String, String>,
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
    pub keepalive: Option<Keepalive>,
    /// Accepted: `round_robin`, `pick_first` or empty. Weir keeps one HTTP/2 connection
    /// to the endpoint, which behaves like `pick_first`.
    pub balancer_name: String,
    /// Overrides the `:authority` pseudo-header (virtual hosting behind a proxy).
    pub authority: String,
    /// An authenticator extension (`bearertokenauth`, `basicauth`) whose credentials are
    /// sent as metadata on every call; only over TLS, as the Collector's gRPC client.
    pub auth: Option<weir_api::auth::AuthSettings>,
    /// Accepted for compatibility; tonic sizes its buffers itself.
    pub read_buffer_size: Option<usize>,
    /// Accepted for compatibility; tonic sizes its buffers itself.
    pub write_buffer_size: Option<usize>,
    /// Accepted for compatibility; requests wait for the (lazy) connection anyway.
    pub wait_for_ready: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            compression: Compression::Gzip,
            tls: TlsSettings::default(),
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(5),
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
            keepalive: None,
            balancer_name: String::new(),
            authority: String::new(),
            auth: None,
            read_buffer_size: None,
            write_buffer_size: None,
            wait_for_ready: false,
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
            "snappy" | "deflate" | "zlib" | "lz4" => Err(serde::de::Error::custom(format!(
                "compression `{text}` is not supported by the otlp exporter; use gzip, zstd or none"
            ))),
            other => Err(serde::de::Error::custom(format!(
                "unknown compression `{other}`; use gzip, zstd or none"
            ))),
        }
    }
}

/// `tls`: the shared client settings (see `weir_api::tls`).
pub type TlsSettings = weir_api::tls::TlsClientSettings;

/// `keepalive` (`configgrpc.KeepaliveClientConfig`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keepalive {
    #[serde(with = "weir_api::duration")]
    pub time: Duration,
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    pub permit_without_stream: bool,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self {
            time: Duration::ZERO,
            timeout: Duration::ZERO,
            permit_without_stream: false,
        }
    }
}

/// Where and how to connect, derived from `endpoint` and `tls.insecure`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port` or `https://host:port`, as tonic wants it.
    pub uri: String,
    pub tls: bool,
}

impl Config {
    /// Problems serde cannot see. Paths are relative to the component's section.
    fn semantic_problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if let Err(message) = self.target() {
            problems.push(problem(&["endpoint"], message));
        }
        for name in self.headers.keys() {
            if let Err(message) = crate::metadata::check_name(name) {
                problems.push(problem(&["headers", name], message));
            }
        }
        for (name, value) in &self.headers {
            if let Err(message) = crate::metadata::check_value(value) {
                problems.push(problem(&["headers", name], message));
            }
        }
        if !matches!(
            self.balancer_name.as_str(),
            "" | "round_robin" | "pick_first"
        ) {
            problems.push(problem(
                &["balancer_name"],
                format!(
                    "unknown balancer `{}`; use round_robin or pick_first",
                    self.balancer_name
                ),
            ));
        }
        if !self.authority.is_empty() && self.authority.parse::<http::uri::Authority>().is_err() {
            problems.push(problem(
                &["authority"],
                format!(
                    "`{}` is not a valid authority (host or host:port)",
                    self.authority
                ),
            ));
        }
        if let Some(auth) = &self.auth {
            problems.extend(auth.problems());
            // grpc-go refuses per-RPC credentials that require transport security on a
            // plaintext connection, and the authenticators require it: the Collector's
            // exporter fails every export. Weir says so before starting.
            if self.target().is_ok_and(|target| !target.tls) {
                problems.push(problem(
                    &["auth", "authenticator"],
                    format!(
                        "`{}` sends credentials, which the otlp exporter sends only over TLS (as \
                         the Collector does): use an https:// endpoint or remove tls.insecure",
                        auth.authenticator
                    ),
                ));
            }
        }
        problems.extend(self.tls.problems("use `tls.insecure: true`"));
        problems
    }

    /// Resolves `endpoint` as the Collector does: `http://` means plaintext, `https://`
    /// means TLS, and a bare `host:port` means TLS unless `tls.insecure` is true.
    pub fn target(&self) -> Result<Target, String> {
        let endpoint = self.endpoint.trim();
        if endpoint.is_empty() {
            return Err(
                "endpoint is required, e.g. `collector:4317` or `http://collector:4317`".into(),
            );
        }
        let (tls, rest) = if let Some(rest) = endpoint.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = endpoint.strip_prefix("https://") {
            (true, rest)
        } else if let Some((scheme, _)) = endpoint.split_once("://") {
            return Err(format!(
                "scheme `{scheme}://` is not supported; use host:port, http://host:port or https://host:port"
            ));
        } else {
            (!self.tls.insecure, endpoint)
        };
        let has_scheme = rest.len() != endpoint.len();
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') {
            return Err(format!(
                "`{endpoint}` has a path; a gRPC endpoint is host:port (the service path is fixed)"
            ));
        }
        let parsed: http::uri::Authority = authority
            .parse()
            .map_err(|_| format!("`{endpoint}` is not host:port"))?;
        if parsed.host().is_empty() {
            return Err(format!("`{endpoint}` has no host"));
        }
        if parsed.port_u16().is_none() && !has_scheme {
            // `collector:` has an empty port: the suggestion is `collector:4317`, not
            // `collector::4317`.
            let host = authority.strip_suffix(':').unwrap_or(authority);
            return Err(format!(
                "`{endpoint}` has no port; write host:port, e.g. `{host}:4317`"
            ));
        }
        let scheme = if tls { "https" } else { "http" };
        Ok(Target {
            uri: format!("{scheme}://{authority}"),
            tls,
        })
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
        let c = config("endpoint: collector:4317");
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(c.sending_queue.enabled);
        assert_eq!(
            c.target().unwrap(),
            Target {
                uri: "https://collector:4317".into(),
                tls: true
            }
        );
    }

    #[test]
    fn endpoint_schemes() {
        let t = |yaml: &str| config(yaml).target();
        assert_eq!(
            t("endpoint: http://a:1").unwrap(),
            Target {
                uri: "http://a:1".into(),
                tls: false
            }
        );
        assert_eq!(
            t("endpoint: https://a").unwrap(),
            Target {
                uri: "https://a".into(),
                tls: true
            }
        );
        assert_eq!(
            t("{endpoint: 'a:1', tls: {insecure: true}}").unwrap(),
            Target {
                uri: "http://a:1".into(),
                tls: false
            }
        );
        assert!(t("endpoint: a").unwrap_err().contains("no port"));
        // An empty port: one colon in the suggestion.
        assert!(t("endpoint: '127.0.0.1:'")
            .unwrap_err()
            .ends_with("e.g. `127.0.0.1:4317`"));
        assert!(t("endpoint: dns:///a:1")
            .unwrap_err()
            .contains("not supported"));
        assert!(t("endpoint: http://a:1/v1/traces")
            .unwrap_err()
            .contains("path"));
        assert!(t("{}").unwrap_err().contains("required"));
    }

    #[test]
    fn compression_values() {
        assert_eq!(config("compression: zstd").compression, Compression::Zstd);
        assert_eq!(config("compression: none").compression, Compression::None);
        assert_eq!(config("compression: ''").compression, Compression::None);
        let value: weir_api::Value = serde_yaml_ng::from_str("compression: snappy").unwrap();
        let problem = weir_api::config::parse::<Config>(&value).unwrap_err();
        assert_eq!(problem.path, ["compression"]);
        assert!(
            problem.message.contains("gzip, zstd or none"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn auth_needs_tls_and_tls_keys_are_checked() {
        let c = config(
            "{endpoint: 'http://a:1', auth: {authenticator: bearertokenauth}, tls: {insecure_skip_verify: true, cert_file: c}}",
        );
        let problems = c.semantic_problems();
        let paths: Vec<Vec<String>> = problems.iter().map(|p| p.path.clone()).collect();
        assert!(paths.contains(&vec!["auth".into(), "authenticator".into()]));
        assert!(problems.iter().any(|p| p.message.contains("only over TLS")));
        assert!(paths.contains(&vec!["tls".into(), "key_file".into()]));
        let over_tls = config(
            "{endpoint: 'https://a:1', auth: {authenticator: bearertokenauth}, tls: {insecure_skip_verify: true}}",
        );
        assert!(over_tls.semantic_problems().is_empty());
    }

    #[test]
    fn bad_header_names_are_problems() {
        let c = config("{endpoint: 'a:1', headers: {'bad header': x, 'x-ok': 'y'}}");
        let problems = c.semantic_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, ["headers", "bad header"]);
    }
}
