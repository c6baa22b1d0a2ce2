//! The receiver's configuration, in the Collector's shape:
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc:            # present (even empty) = enabled
//!         endpoint: 127.0.0.1:4317
//!       http:
//!         endpoint: 127.0.0.1:4318
//! ```
//!
//! A protocol is enabled only when its key is present, as in the Collector, so `grpc:`
//! with no value means "gRPC with every default". That is why the protocol fields use
//! `present` instead of plain `Option`: serde reads a YAML null as `None`.
//!
//! Keys the Collector has but Weir does not act on yet (buffer sizes, keepalive
//! enforcement, some HTTP timeouts) are accepted so existing configs load; the README
//! lists them. `tls` (the Collector's `configtls.ServerConfig`, see
//! `weir_api::tls_server`) and `auth` (`{authenticator: NAME}`, see `weir_api::auth`)
//! are served. `max_connections` is Weir's own key: the connection limit of each
//! protocol's server (default 4096, 0 for none).

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use weir_api::auth::AuthSettings;
use weir_api::config::problem;
use weir_api::conn::{DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
use weir_api::tls_server::TlsServerSettings;
use weir_api::{ComponentProblem, Value};

/// The Collector's gRPC default when `max_recv_msg_size_mib` is 0 or unset.
pub const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
/// The Collector's `confighttp` default when `max_request_body_size` is 0 or unset.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: u64 = 20 * 1024 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub protocols: Protocols,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocols {
    #[serde(deserialize_with = "present")]
    pub grpc: Option<GrpcConfig>,
    #[serde(deserialize_with = "present")]
    pub http: Option<HttpConfig>,
}

/// A key that is present enables its section, even with a null value.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `host:port`; `:port` listens on every interface, as in the Collector.
    pub endpoint: String,
    /// Only `tcp` is supported.
    pub transport: String,
    /// Largest request message (after decompression), in MiB; 0 means the default 4.
    pub max_recv_msg_size_mib: u64,
    /// HTTP/2 streams per connection; 0 means no limit.
    pub max_concurrent_streams: u32,
    pub include_metadata: bool,
    pub keepalive: Option<Keepalive>,
    /// Accepted for compatibility, not used: tonic sizes its own buffers.
    pub read_buffer_size: Option<u64>,
    /// Accepted for compatibility, not used.
    pub write_buffer_size: Option<u64>,
    /// Server TLS; absent means plaintext.
    pub tls: Option<TlsServerSettings>,
    /// The authenticator extension every call must satisfy.
    pub auth: Option<AuthSettings>,
    /// Open connections at most (Weir's key); 0 means no limit.
    pub max_connections: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: "127.0.0.1:4317".into(),
            transport: "tcp".into(),
            max_recv_msg_size_mib: 0,
            max_concurrent_streams: 0,
            include_metadata: false,
            keepalive: None,
            read_buffer_size: None,
            write_buffer_size: None,
            tls: None,
            auth: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl GrpcConfig {
    pub fn max_recv_msg_size(&self) -> usize {
        let mib = match self.max_recv_msg_size_mib {
            0 => DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            n => n,
        };
        usize::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keepalive {
    pub server_parameters: Option<KeepaliveServerParameters>,
    /// Accepted for compatibility, not enforced (tonic has no equivalent).
    pub enforcement_policy: Option<Value>,
}

/// gRPC server keepalive, as the Collector's `keepalive.server_parameters`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerParameters {
    /// Accepted for compatibility, not enforced (tonic has no idle limit).
    #[serde(with = "weir_api::duration::option")]
    pub max_connection_idle: Option<Duration>,
    #[serde(with = "weir_api::duration::option")]
    pub max_connection_age: Option<Duration>,
    #[serde(with = "weir_api::duration::option")]
    pub max_connection_age_grace: Option<Duration>,
    /// HTTP/2 PING interval.
    #[serde(with = "weir_api::duration::option")]
    pub time: Option<Duration>,
    /// How long to wait for a PING answer.
    #[serde(with = "weir_api::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub endpoint: String,
    /// Largest request body, checked on the wire and again after decompression;
    /// 0 means the default 20 MiB.
    pub max_request_body_size: u64,
    pub include_metadata: bool,
    pub cors: Option<CorsConfig>,
    pub traces_url_path: String,
    pub metrics_url_path: String,
    pub logs_url_path: String,
    /// Accepted for compatibility, not used yet.
    #[serde(with = "weir_api::duration::option")]
    pub read_timeout: Option<Duration>,
    /// How long a client has to send a request head (and a new connection its first
    /// bytes and TLS handshake); default 1 minute, as in the Collector.
    #[serde(with = "weir_api::duration::option")]
    pub read_header_timeout: Option<Duration>,
    /// Accepted for compatibility, not used yet.
    #[serde(with = "weir_api::duration::option")]
    pub write_timeout: Option<Duration>,
    /// Accepted for compatibility, not used yet.
    #[serde(with = "weir_api::duration::option")]
    pub idle_timeout: Option<Duration>,
    /// Server TLS; absent means plaintext.
    pub tls: Option<TlsServerSettings>,
    /// The authenticator extension every request must satisfy.
    pub auth: Option<AuthSettings>,
    /// Open connections at most (Weir's key); 0 means no limit.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: "127.0.0.1:4318".into(),
            max_request_body_size: 0,
            include_metadata: false,
            cors: None,
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
            read_timeout: None,
            read_header_timeout: None,
            write_timeout: None,
            idle_timeout: None,
            tls: None,
            auth: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpConfig {
    /// `read_header_timeout`, or the default when unset or 0.
    pub fn header_timeout(&self) -> Duration {
        self.read_header_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_HEADER_TIMEOUT)
    }

    pub fn max_request_body_size(&self) -> usize {
        let bytes = match self.max_request_body_size {
            0 => DEFAULT_MAX_REQUEST_BODY_SIZE,
            n => n,
        };
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to send cross-origin requests; `*` allows any, and a `*` inside
    /// an entry matches any characters (`https://*.example.com`).
    pub allowed_origins: Vec<String>,
    /// Request headers allowed beyond the always-allowed `Accept`, `Content-Type`,
    /// `X-Requested-With`; `*` allows any.
    pub allowed_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer; 0 omits the header.
    pub max_age: u64,
}

/// Parses and checks a config section: the `check` and `build` of the factory share it.
pub fn parse(section: &Value) -> Result<Config, Vec<ComponentProblem>> {
    let config: Config = weir_api::config::parse(section).map_err(|p| vec![p])?;
    let problems = semantic_problems(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

fn semantic_problems(config: &Config) -> Vec<ComponentProblem> {
    let mut problems = Vec::new();
    let protocols = &config.protocols;
    if protocols.grpc.is_none() && protocols.http.is_none() {
        problems.push(problem(
            &["protocols"],
            "must specify at least one protocol (`grpc` or `http`) when using the otlp receiver",
        ));
    }
    if let Some(grpc) = &protocols.grpc {
        if let Err(message) = crate::endpoint::validate(&grpc.endpoint) {
            problems.push(problem(&["protocols", "grpc", "endpoint"], message));
        }
        if grpc.transport != "tcp" {
            problems.push(problem(
                &["protocols", "grpc", "transport"],
                format!(
                    "transport `{}` is not supported; only `tcp` is",
                    grpc.transport
                ),
            ));
        }
        security(&mut problems, "grpc", grpc.tls.as_ref(), grpc.auth.as_ref());
    }
    if let Some(http) = &protocols.http {
        if let Err(message) = crate::endpoint::validate(&http.endpoint) {
            problems.push(problem(&["protocols", "http", "endpoint"], message));
        }
        let paths = [
            ("traces_url_path", &http.traces_url_path),
            ("metrics_url_path", &http.metrics_url_path),
            ("logs_url_path", &http.logs_url_path),
        ];
        for (key, path) in paths {
            if !path.starts_with('/') {
                problems.push(problem(
                    &["protocols", "http", key],
                    format!("`{path}` must start with `/`"),
                ));
            }
        }
        let distinct: std::collections::BTreeSet<&String> = paths.iter().map(|(_, p)| *p).collect();
        if distinct.len() != paths.len() {
            problems.push(problem(
                &["protocols", "http"],
                "traces_url_path, metrics_url_path and logs_url_path must differ",
            ));
        }
        security(&mut problems, "http", http.tls.as_ref(), http.auth.as_ref());
    }
    problems
}

/// The `tls` and `auth` problems of one protocol, with their full paths.
fn security(
    problems: &mut Vec<ComponentProblem>,
    protocol: &str,
    tls: Option<&TlsServerSettings>,
    auth: Option<&AuthSettings>,
) {
    let nested = tls
        .map(TlsServerSettings::problems)
        .unwrap_or_default()
        .into_iter()
        .chain(auth.map(AuthSettings::problems).unwrap_or_default());
    for mut nested in nested {
        let mut path = vec!["protocols".to_string(), protocol.to_string()];
        path.append(&mut nested.path);
        nested.path = path;
        problems.push(nested);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn present_but_empty_protocol_means_defaults() {
        let config = parse(&yaml("protocols:\n  grpc:\n")).unwrap();
        let grpc = config.protocols.grpc.unwrap();
        assert_eq!(grpc.endpoint, "127.0.0.1:4317");
        assert_eq!(grpc.max_recv_msg_size(), 4 * 1024 * 1024);
        assert!(config.protocols.http.is_none());

        let config = parse(&yaml("protocols:\n  http: {}\n")).unwrap();
        let http = config.protocols.http.unwrap();
        assert_eq!(http.endpoint, "127.0.0.1:4318");
        assert_eq!(http.max_request_body_size(), 20 * 1024 * 1024);
        assert_eq!(http.traces_url_path, "/v1/traces");
    }

    #[test]
    fn no_protocol_is_an_error() {
        let problems = parse(&Value::Null).unwrap_err();
        assert_eq!(problems[0].path, ["protocols"]);
        assert!(problems[0].message.contains("at least one protocol"));
    }

    #[test]
    fn misspelled_key_has_path_and_suggestion() {
        let problems =
            parse(&yaml("protocols:\n  grpc:\n    max_recv_msg_size_mb: 8\n")).unwrap_err();
        assert_eq!(
            problems[0].path,
            ["protocols", "grpc", "max_recv_msg_size_mb"]
        );
        assert_eq!(
            problems[0].suggestion.as_deref(),
            Some("max_recv_msg_size_mib")
        );
    }

    #[test]
    fn tls_and_auth_problems_name_the_full_path() {
        let problems = parse(&yaml(
            "protocols:\n  http:\n    tls:\n      cert_file: a.pem\n  grpc:\n    auth: {}\n    tls: {cert_file: a.pem, key_file: b.pem, min_version: '1.1'}\n",
        ))
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(
            paths,
            [
                "protocols.grpc.tls.min_version",
                "protocols.grpc.auth.authenticator",
                "protocols.http.tls.key_file"
            ]
        );
    }

    #[test]
    fn security_keys_and_limits_parse() {
        let config = parse(&yaml(
            "protocols:\n  grpc:\n    tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, reload_interval: 1h}\n    auth: {authenticator: bearertokenauth}\n  http:\n    max_connections: 10\n    read_header_timeout: 2s\n",
        ))
        .unwrap();
        let grpc = config.protocols.grpc.unwrap();
        assert_eq!(grpc.max_connections, 4096);
        assert_eq!(grpc.auth.unwrap().authenticator, "bearertokenauth");
        let tls = grpc.tls.unwrap();
        assert_eq!(tls.client_ca_file, "ca.pem");
        assert_eq!(tls.reload_interval, Some(Duration::from_secs(3600)));
        let http = config.protocols.http.unwrap();
        assert_eq!(http.max_connections, 10);
        assert_eq!(http.header_timeout(), Duration::from_secs(2));
        assert!(http.tls.is_none());
    }

    #[test]
    fn bad_endpoint_and_paths_are_reported() {
        let problems = parse(&yaml(
            "protocols:\n  http:\n    endpoint: nowhere\n    logs_url_path: v1/logs\n",
        ))
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(
            paths,
            ["protocols.http.endpoint", "protocols.http.logs_url_path"]
        );
    }

    #[test]
    fn collector_keepalive_keys_are_accepted() {
        let config = parse(&yaml(
            "protocols:\n  grpc:\n    keepalive:\n      server_parameters:\n        time: 30s\n        max_connection_age: 1m\n      enforcement_policy:\n        min_time: 10s\n",
        ))
        .unwrap();
        let params = config
            .protocols
            .grpc
            .unwrap()
            .keepalive
            .unwrap()
            .server_parameters
            .unwrap();
        assert_eq!(params.time, Some(Duration::from_secs(30)));
        assert_eq!(params.max_connection_age, Some(Duration::from_secs(60)));
    }
}
