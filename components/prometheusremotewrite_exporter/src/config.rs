//! The exporter's configuration, in the Collector's shape (`prometheusremotewrite` in
//! opentelemetry-collector-contrib), plus Weir's own `delta_to_cumulative` and
//! `ordering` sections.
//!
//! The HTTP client keys (`endpoint`, `headers`, `timeout`, `tls`, `compression`) can be
//! written at the top level, as the Collector squashes `confighttp`, or in a nested
//! `http:` block, which wins when both are given (as in recent Collector releases).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use weir_api::{ComponentProblem, QueueSettings, RetrySettings, Sizer, Value};

use crate::naming::Strategy;

/// `exporters: prometheusremotewrite:`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub endpoint: String,
    pub headers: BTreeMap<String, String>,
    #[serde(with = "weir_api::duration::option")]
    pub timeout: Option<Duration>,
    pub tls: TlsConfig,
    /// An authenticator extension whose headers are set on every POST.
    pub auth: Option<weir_api::auth::AuthSettings>,
    pub compression: Option<String>,
    /// The nested form of the HTTP client settings.
    pub http: Option<HttpConfig>,
    // Accepted confighttp tuning keys; Weir's client sizes its buffers itself.
    pub read_buffer_size: Option<usize>,
    pub write_buffer_size: Option<usize>,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
    #[serde(with = "weir_api::duration::option")]
    pub idle_conn_timeout: Option<Duration>,

    pub retry_on_failure: RetrySettings,
    pub remote_write_queue: RemoteWriteQueue,
    pub external_labels: BTreeMap<String, String>,
    pub namespace: String,
    pub max_batch_size_bytes: usize,
    /// Accepted; concurrency comes from `remote_write_queue.num_consumers` (see README).
    pub max_batch_request_parallelism: Option<usize>,
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    pub target_info: Enabled,
    pub export_created_metric: Enabled,
    pub add_metric_suffixes: bool,
    pub translation_strategy: Option<String>,
    pub send_metadata: bool,
    pub disable_scope_info: bool,
    /// `prometheus.WriteRequest` (remote-write 1.0, the default) or
    /// `io.prometheus.write.v2.Request` (2.0, see `crate::v2`).
    pub protobuf_message: Option<String>,
    /// The Collector's write-ahead log; refused with a clear message.
    pub wal: Option<Value>,

    pub delta_to_cumulative: DeltaToCumulative,
    pub ordering: Ordering,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            headers: BTreeMap::new(),
            timeout: None,
            tls: TlsConfig::default(),
            auth: None,
            compression: None,
            http: None,
            read_buffer_size: None,
            write_buffer_size: None,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            idle_conn_timeout: None,
            // The Collector's defaults for this exporter (short, fast retries).
            retry_on_failure: RetrySettings {
                enabled: true,
                initial_interval: Duration::from_millis(50),
                randomization_factor: 0.5,
                multiplier: 1.5,
                max_interval: Duration::from_millis(200),
                max_elapsed_time: Duration::from_secs(60),
            },
            remote_write_queue: RemoteWriteQueue::default(),
            external_labels: BTreeMap::new(),
            namespace: String::new(),
            max_batch_size_bytes: 3_000_000,
            max_batch_request_parallelism: None,
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            target_info: Enabled { enabled: true },
            export_created_metric: Enabled { enabled: false },
            add_metric_suffixes: true,
            translation_strategy: None,
            send_metadata: false,
            disable_scope_info: false,
            protobuf_message: None,
            wal: None,
            delta_to_cumulative: DeltaToCumulative::default(),
            ordering: Ordering::default(),
        }
    }
}

/// `http:`: the nested client settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub endpoint: String,
    pub headers: BTreeMap<String, String>,
    #[serde(with = "weir_api::duration::option")]
    pub timeout: Option<Duration>,
    pub tls: Option<TlsConfig>,
    pub compression: Option<String>,
    pub read_buffer_size: Option<usize>,
    pub write_buffer_size: Option<usize>,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
    #[serde(with = "weir_api::duration::option")]
    pub idle_conn_timeout: Option<Duration>,
}

/// `tls:`: the shared client settings (`weir_api::tls`). The endpoint's scheme decides plain
/// HTTP or HTTPS; `insecure` is accepted and has no effect.
pub type TlsConfig = weir_api::tls::TlsClientSettings;

/// `remote_write_queue`: the Collector's keys, plus the engine's byte bound and
/// overflow behaviour (`sending_queue.max_size_mib` and `block_on_overflow` elsewhere).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteQueue {
    pub enabled: bool,
    /// Batches queued at most.
    pub queue_size: usize,
    /// Concurrent sends, and the number of ordered lanes (shards).
    pub num_consumers: usize,
    /// Weir's own: the queue also holds at most this many MiB of encoded requests
    /// (protobuf before compression); it is full at whichever bound it reaches first.
    pub max_size_mib: u64,
    /// Weir's own: when full, wait (pushing back to the receivers, which answer "retry
    /// later") instead of dropping and counting.
    pub block_on_overflow: bool,
}

impl Default for RemoteWriteQueue {
    fn default() -> Self {
        Self {
            enabled: true,
            queue_size: 10_000,
            num_consumers: 5,
            max_size_mib: weir_api::exporter_settings::DEFAULT_QUEUE_MAX_SIZE_MIB,
            block_on_overflow: false,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceToTelemetry {
    pub enabled: bool,
    /// Leave out service.name/namespace/instance.id (already `job` and `instance`).
    pub exclude_service_attributes: bool,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Enabled {
    pub enabled: bool,
}

/// Weir's own: the state kept to turn delta temporality into cumulative.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeltaToCumulative {
    /// At most this many delta streams are tracked; points of new streams beyond it are
    /// dropped and counted (reason `delta_streams_limit`).
    pub max_streams: usize,
    /// A stream not seen for this long is forgotten; when it comes back it starts again
    /// from zero, which Prometheus reads as a counter reset.
    #[serde(with = "weir_api::duration")]
    pub max_stale: Duration,
}

impl Default for DeltaToCumulative {
    fn default() -> Self {
        Self {
            max_streams: 100_000,
            max_stale: Duration::from_secs(300),
        }
    }
}

/// Weir's own: the per-series record of the newest timestamp delivered, which keeps a
/// retried or overtaken older sample from being sent after a newer one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ordering {
    /// Series remembered in total (split evenly across shards).
    pub max_series: usize,
    /// A series not written for this long is forgotten.
    #[serde(with = "weir_api::duration")]
    pub max_idle: Duration,
}

impl Default for Ordering {
    fn default() -> Self {
        Self {
            max_series: 1_000_000,
            max_idle: Duration::from_secs(600),
        }
    }
}

/// The configuration with the two spellings of the HTTP settings merged.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub endpoint: String,
    pub headers: BTreeMap<String, String>,
    pub timeout: Duration,
    pub tls: TlsConfig,
    pub idle_conn_timeout: Option<Duration>,
    pub strategy: Strategy,
    pub config: Config,
}

/// Headers the protocol fixes; a user value for them is refused.
const FIXED_HEADERS: &[&str] = &[
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
];

impl Config {
    /// Parses and checks; every problem names its key.
    pub fn resolve(value: &Value) -> Result<Resolved, Vec<ComponentProblem>> {
        let config: Config = weir_api::config::parse(value).map_err(|p| vec![p])?;
        let mut problems = Vec::new();
        let problem = |path: &[&str], message: String| ComponentProblem {
            path: path.iter().map(|s| s.to_string()).collect(),
            message,
            suggestion: None,
        };
        let http = config.http.clone().unwrap_or_default();
        let nested = config.http.is_some();
        let endpoint = if nested && !http.endpoint.is_empty() {
            http.endpoint.clone()
        } else {
            config.endpoint.clone()
        };
        let mut headers = config.headers.clone();
        headers.extend(http.headers.clone());
        let timeout = http
            .timeout
            .or(config.timeout)
            .unwrap_or(Duration::from_secs(5));
        let tls = http.tls.clone().unwrap_or_else(|| config.tls.clone());
        let compression = http.compression.clone().or(config.compression.clone());

        if endpoint.is_empty() {
            problems.push(problem(&["endpoint"], "`endpoint` is required (the remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write)".into()));
        } else {
            match endpoint.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() => {}
                _ => problems.push(problem(
                    &["endpoint"],
                    format!("`{endpoint}` is not an http:// or https:// URL"),
                )),
            }
        }
        for name in headers.keys() {
            if FIXED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                problems.push(problem(
                    &["headers", name],
                    format!(
                        "header `{name}` is set by the remote-write protocol and cannot be changed"
                    ),
                ));
            } else if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(problem(
                    &["headers", name],
                    format!("`{name}` is not a valid header name"),
                ));
            }
        }
        for (name, value) in &headers {
            if http::HeaderValue::from_str(value).is_err() {
                problems.push(problem(
                    &["headers", name],
                    "the value is not a valid header value".into(),
                ));
            }
        }
        match compression.as_deref() {
            None | Some("") | Some("snappy") | Some("none") => {}
            Some(other) => problems.push(problem(
                &["compression"],
                format!("remote-write 1.0 bodies are always snappy-compressed; `{other}` is not supported"),
            )),
        }
        problems.extend(tls.problems("use an http:// endpoint"));
        if let Some(auth) = &config.auth {
            problems.extend(auth.problems());
        }
        if config.wal.is_some() {
            problems.push(problem(
                &["wal"],
                "the write-ahead log is not supported; the engine's queue (`remote_write_queue`) buffers instead".into(),
            ));
        }
        match config.protobuf_message.as_deref() {
            None | Some("prometheus.WriteRequest") | Some(crate::v2::MESSAGE) => {}
            Some(other) => problems.push(problem(
                &["protobuf_message"],
                format!(
                    "unknown message `{other}`; expected `prometheus.WriteRequest` (remote-write 1.0, the default) or `{}` (2.0)",
                    crate::v2::MESSAGE
                ),
            )),
        }
        if config.remote_write_queue.enabled && config.remote_write_queue.queue_size == 0 {
            problems.push(problem(
                &["remote_write_queue", "queue_size"],
                "a 0 size queue will drop all the data".into(),
            ));
        }
        if config.remote_write_queue.enabled && config.remote_write_queue.num_consumers == 0 {
            problems.push(problem(
                &["remote_write_queue", "num_consumers"],
                "must be at least 1 while the queue is enabled (it is also the number of shards)"
                    .into(),
            ));
        }
        if config.remote_write_queue.enabled && config.remote_write_queue.max_size_mib == 0 {
            problems.push(problem(
                &["remote_write_queue", "max_size_mib"],
                "must be at least 1 while the queue is enabled".into(),
            ));
        }
        if config.max_batch_size_bytes == 0 {
            problems.push(problem(
                &["max_batch_size_bytes"],
                "must be greater than 0".into(),
            ));
        }
        if config.delta_to_cumulative.max_streams == 0 {
            problems.push(problem(
                &["delta_to_cumulative", "max_streams"],
                "must be greater than 0".into(),
            ));
        }
        for name in config.external_labels.keys() {
            if name.is_empty()
                || name.starts_with(|c: char| c.is_ascii_digit())
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                problems.push(problem(
                    &["external_labels", name],
                    format!("`{name}` is not a valid Prometheus label name"),
                ));
            }
        }
        let strategy = match config.translation_strategy.as_deref() {
            Some(text) => Strategy::parse(text).unwrap_or_else(|| {
                problems.push(problem(
                    &["translation_strategy"],
                    format!(
                        "unknown strategy `{text}`; expected one of {}",
                        Strategy::NAMES.join(", ")
                    ),
                ));
                Strategy::UnderscoreEscapingWithSuffixes
            }),
            None if config.add_metric_suffixes => Strategy::UnderscoreEscapingWithSuffixes,
            None => Strategy::UnderscoreEscapingWithoutSuffixes,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Resolved {
            endpoint,
            headers,
            timeout,
            tls,
            idle_conn_timeout: http.idle_conn_timeout.or(config.idle_conn_timeout),
            strategy,
            config,
        })
    }
}

impl Resolved {
    /// The engine's queue: `remote_write_queue` counts batches, as the Collector's does.
    pub fn queue(&self) -> QueueSettings {
        let q = &self.config.remote_write_queue;
        QueueSettings {
            enabled: q.enabled,
            num_consumers: q.num_consumers.max(1),
            queue_size: q.queue_size,
            sizer: Sizer::Requests,
            max_size_mib: q.max_size_mib.max(1),
            block_on_overflow: q.block_on_overflow,
            ..QueueSettings::default()
        }
    }

    /// How many ordered lanes requests go through: one per consumer.
    pub fn shards(&self) -> usize {
        self.config.remote_write_queue.num_consumers.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn defaults_follow_the_collector() {
        let r = Config::resolve(&yaml("endpoint: http://127.0.0.1:9090/api/v1/write")).unwrap();
        assert_eq!(r.config.max_batch_size_bytes, 3_000_000);
        assert!(r.config.target_info.enabled);
        assert!(!r.config.export_created_metric.enabled);
        assert_eq!(r.strategy, Strategy::UnderscoreEscapingWithSuffixes);
        assert_eq!(r.queue().queue_size, 10_000);
        assert_eq!(r.queue().num_consumers, 5);
        // Bounded in bytes by default too (issue 13): 10,000 batches could be gigabytes.
        assert_eq!(r.queue().max_bytes(), 128 << 20);
        assert!(!r.queue().blocks());
        assert_eq!(r.timeout, Duration::from_secs(5));
        assert_eq!(
            r.config.retry_on_failure.initial_interval,
            Duration::from_millis(50)
        );
    }

    #[test]
    fn the_queue_bound_in_bytes_and_push_back_are_configurable() {
        let r = Config::resolve(&yaml(
            "endpoint: http://a:1/\nremote_write_queue: {max_size_mib: 2, block_on_overflow: true}\n",
        ))
        .unwrap();
        assert_eq!(r.queue().max_bytes(), 2 << 20);
        assert!(r.queue().blocks());
        let problems = Config::resolve(&yaml(
            "endpoint: http://a:1/\nremote_write_queue: {max_size_mib: 0}\n",
        ))
        .unwrap_err();
        assert_eq!(
            problems[0].path.join("."),
            "remote_write_queue.max_size_mib"
        );
    }

    #[test]
    fn nested_http_block_wins() {
        let r = Config::resolve(&yaml(
            "endpoint: http://a:1/x\nhttp:\n  endpoint: http://b:2/y\n  timeout: 2s\n  headers: {X-Scope-OrgID: t1}\n",
        ))
        .unwrap();
        assert_eq!(r.endpoint, "http://b:2/y");
        assert_eq!(r.timeout, Duration::from_secs(2));
        assert_eq!(r.headers["X-Scope-OrgID"], "t1");
    }

    #[test]
    fn clear_errors_for_bad_values() {
        let problems = Config::resolve(&yaml(
            "endpoint: ftp://x\nheaders: {Content-Type: text/plain}\ncompression: gzip\ntranslation_strategy: Nope\nwal: {directory: /tmp}\n",
        ))
        .unwrap_err();
        let paths: Vec<String> = problems.iter().map(|p| p.path.join(".")).collect();
        for want in [
            "endpoint",
            "headers.Content-Type",
            "compression",
            "translation_strategy",
            "wal",
        ] {
            assert!(paths.contains(&want.to_string()), "{paths:?} lacks {want}");
        }
        let typo = Config::resolve(&yaml(
            "endpoint: http://a:1/\nremote_write_queue: {num_consumer: 2}\n",
        ))
        .unwrap_err();
        assert_eq!(typo[0].suggestion.as_deref(), Some("num_consumers"));
    }

    #[test]
    fn add_metric_suffixes_false_and_strategy() {
        let r =
            Config::resolve(&yaml("endpoint: http://a:1/\nadd_metric_suffixes: false\n")).unwrap();
        assert_eq!(r.strategy, Strategy::UnderscoreEscapingWithoutSuffixes);
        let r = Config::resolve(&yaml(
            "endpoint: http://a:1/\nadd_metric_suffixes: false\ntranslation_strategy: NoUTF8EscapingWithSuffixes\n",
        ))
        .unwrap();
        assert_eq!(r.strategy, Strategy::NoUtf8EscapingWithSuffixes);
    }
}
