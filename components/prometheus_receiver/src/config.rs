//! The receiver's configuration: `config:` holds a subset of a Prometheus server's
//! configuration file, so scrape jobs can be copied from Prometheus unchanged. Keys
//! outside the subset are refused by name (with a "did you mean"), and the sections a
//! scrape receiver cannot honour (`remote_write`, `rule_files`, `alerting`, ...) are
//! refused with an explanation rather than silently ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use weir_api::config::problem;
use weir_api::ComponentProblem;

use crate::relabel::{RelabelConfig, Rule};

/// The receiver's section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    pub config: PrometheusConfig,
}

/// The Prometheus configuration subset.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    pub global: GlobalConfig,
    pub scrape_configs: Vec<ScrapeConfig>,
    // Sections of a Prometheus config that a scrape receiver does not implement. They
    // parse (so the error can explain) and `problems` refuses them.
    pub remote_write: Option<serde_yaml_ng::Value>,
    pub remote_read: Option<serde_yaml_ng::Value>,
    pub rule_files: Option<serde_yaml_ng::Value>,
    pub alerting: Option<serde_yaml_ng::Value>,
    pub storage: Option<serde_yaml_ng::Value>,
    pub tracing: Option<serde_yaml_ng::Value>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    #[serde(with = "weir_api::duration")]
    pub scrape_interval: Duration,
    #[serde(with = "weir_api::duration")]
    pub scrape_timeout: Duration,
    /// Accepted so a Prometheus config can be pasted; rules are not evaluated.
    #[serde(with = "weir_api::duration::option")]
    pub evaluation_interval: Option<Duration>,
    /// Added to every series that does not already have the label (Prometheus adds them
    /// when it sends data out; here everything this receiver emits is "sent out").
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            evaluation_interval: None,
            external_labels: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(with = "weir_api::duration::option")]
    pub scrape_interval: Option<Duration>,
    #[serde(with = "weir_api::duration::option")]
    pub scrape_timeout: Option<Duration>,
    pub metrics_path: String,
    pub scheme: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Samples per scrape after metric relabeling; 0 = no limit. Over it, the scrape fails.
    pub sample_limit: usize,
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    /// Uncompressed body bytes; 0 = no limit. `10MB`, `512KiB` or a plain number.
    #[serde(deserialize_with = "deserialize_bytes")]
    pub body_size_limit: u64,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: TlsConfig,
    pub follow_redirects: bool,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        Self {
            job_name: String::new(),
            scrape_interval: None,
            scrape_timeout: None,
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: 0,
            basic_auth: None,
            authorization: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSdConfig {
    /// Paths; the last path component may hold `*` and `?` wildcards.
    pub files: Vec<String>,
    /// Re-read every file this often even if unchanged (changes are noticed sooner, by
    /// polling modification times).
    #[serde(with = "weir_api::duration")]
    pub refresh_interval: Duration,
}

impl Default for FileSdConfig {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            refresh_interval: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub min_version: Option<String>,
}

/// Prometheus' byte sizes (`units.Base2Bytes`): `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`,
/// all powers of 1024, or a plain number of bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("invalid size `{text}`"))?;
    let unit = match text[digits..].trim() {
        "" | "B" => 1,
        "KB" | "KiB" | "K" => 1 << 10,
        "MB" | "MiB" | "M" => 1 << 20,
        "GB" | "GiB" | "G" => 1 << 30,
        "TB" | "TiB" | "T" => 1 << 40,
        other => return Err(format!("invalid size `{text}`: unknown unit `{other}`")),
    };
    number
        .checked_mul(unit)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

fn deserialize_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(text) => parse_bytes(&text).map_err(serde::de::Error::custom),
    }
}

impl ScrapeConfig {
    pub fn interval(&self, global: &GlobalConfig) -> Duration {
        self.scrape_interval.unwrap_or(global.scrape_interval)
    }

    /// The timeout, never above the interval (Prometheus refuses that; we clamp only
    /// when the timeout was inherited from `global`).
    pub fn timeout(&self, global: &GlobalConfig) -> Duration {
        let interval = self.interval(global);
        match self.scrape_timeout {
            Some(timeout) => timeout,
            None => global.scrape_timeout.min(interval),
        }
    }
}

impl PrometheusConfig {
    /// The semantic checks serde cannot express, with the path of each problem.
    pub fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        for (key, present, why) in [
            (
                "remote_write",
                self.remote_write.is_some(),
                "use a `prometheusremotewrite` exporter in a pipeline instead",
            ),
            (
                "remote_read",
                self.remote_read.is_some(),
                "this receiver only scrapes",
            ),
            (
                "rule_files",
                self.rule_files.is_some(),
                "recording and alerting rules are not evaluated by this receiver",
            ),
            (
                "alerting",
                self.alerting.is_some(),
                "alerts are not evaluated by this receiver",
            ),
            (
                "storage",
                self.storage.is_some(),
                "this receiver stores nothing",
            ),
            (
                "tracing",
                self.tracing.is_some(),
                "configure Weir's own telemetry under `service` instead",
            ),
        ] {
            if present {
                problems.push(problem(
                    &["config", key],
                    format!("`{key}` is not supported in the prometheus receiver: {why}"),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (index, job) in self.scrape_configs.iter().enumerate() {
            let index = index.to_string();
            let at = |key: &'static str| vec!["config", "scrape_configs", index.as_str(), key];
            if job.job_name.is_empty() {
                problems.push(problem(
                    &at("job_name"),
                    "every scrape config needs a `job_name`",
                ));
            } else if !names.insert(job.job_name.as_str()) {
                problems.push(problem(
                    &at("job_name"),
                    format!("job name `{}` is used twice", job.job_name),
                ));
            }
            if job.scheme != "http" && job.scheme != "https" {
                problems.push(problem(
                    &at("scheme"),
                    format!("scheme must be http or https, not `{}`", job.scheme),
                ));
            }
            if !job.metrics_path.starts_with('/') {
                problems.push(problem(
                    &at("metrics_path"),
                    "metrics_path must start with `/`",
                ));
            }
            let interval = job.interval(&self.global);
            if interval.is_zero() {
                problems.push(problem(
                    &at("scrape_interval"),
                    "scrape_interval must be above 0",
                ));
            }
            if job.scrape_timeout.is_some_and(|t| t > interval) {
                problems.push(problem(
                    &at("scrape_timeout"),
                    "scrape_timeout must not exceed scrape_interval",
                ));
            }
            for (key, rules) in [
                ("relabel_configs", &job.relabel_configs),
                ("metric_relabel_configs", &job.metric_relabel_configs),
            ] {
                for (n, rule) in rules.iter().enumerate() {
                    if let Err(message) = Rule::new(rule.clone()) {
                        let n = n.to_string();
                        problems.push(problem(
                            &["config", "scrape_configs", &index, key, &n],
                            message,
                        ));
                    }
                }
            }
            let auth_methods = [
                job.basic_auth.is_some(),
                job.authorization.is_some(),
                job.bearer_token.is_some() || job.bearer_token_file.is_some(),
            ];
            if auth_methods.iter().filter(|x| **x).count() > 1 {
                problems.push(problem(
                    &at("authorization"),
                    "use only one of basic_auth, authorization and bearer_token",
                ));
            }
            if let Some(kind) = job.authorization.as_ref().and_then(|a| a.kind.as_deref()) {
                if kind.eq_ignore_ascii_case("basic") {
                    problems.push(problem(
                        &at("authorization"),
                        "authorization type Basic is not allowed; use basic_auth",
                    ));
                }
            }
            if job.tls_config.cert_file.is_some() != job.tls_config.key_file.is_some() {
                problems.push(problem(
                    &at("tls_config"),
                    "cert_file and key_file go together",
                ));
            }
            for (n, group) in job.static_configs.iter().enumerate() {
                if let Some(bad) = group
                    .labels
                    .keys()
                    .find(|k| !crate::relabel::is_label_name(k))
                {
                    let n = n.to_string();
                    problems.push(problem(
                        &[
                            "config",
                            "scrape_configs",
                            &index,
                            "static_configs",
                            &n,
                            "labels",
                        ],
                        format!("`{bad}` is not a valid label name"),
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ReceiverConfig, ComponentProblem> {
        weir_api::config::parse(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn prometheus_config_subset() {
        let config = parse(
            "config:\n  global: {scrape_interval: 15s, external_labels: {region: eu}}\n  scrape_configs:\n  - job_name: node\n    body_size_limit: 10MB\n    static_configs: [{targets: ['localhost:9100'], labels: {env: prod}}]\n",
        )
        .unwrap();
        let job = &config.config.scrape_configs[0];
        assert_eq!(job.interval(&config.config.global), Duration::from_secs(15));
        assert_eq!(job.timeout(&config.config.global), Duration::from_secs(10));
        assert_eq!(job.body_size_limit, 10 << 20);
        assert!(job.honor_timestamps);
        assert!(config.config.problems().is_empty());
    }

    #[test]
    fn unsupported_sections_are_refused_by_name() {
        let config = parse("config:\n  remote_write: [{url: 'http://x'}]\n  rule_files: [a.yml]\n  scrape_configs: []\n").unwrap();
        let problems = config.config.problems();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].path, ["config", "remote_write"]);
        assert!(problems[0].message.contains("prometheusremotewrite"));
    }

    #[test]
    fn misspelled_key_is_named() {
        let problem =
            parse("config:\n  scrape_configs:\n  - job_name: x\n    scrape_intervall: 5s\n")
                .unwrap_err();
        assert_eq!(problem.suggestion.as_deref(), Some("scrape_interval"));
    }

    #[test]
    fn semantic_problems() {
        let config = parse("config:\n  scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n    relabel_configs: [{action: hashmod, target_label: x}]\n  - job_name: a\n").unwrap();
        let messages: Vec<_> = config
            .config
            .problems()
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("1KiB").unwrap(), 1024);
        assert_eq!(parse_bytes("2GB").unwrap(), 2 << 30);
        assert!(parse_bytes("5 parsecs").is_err());
    }
}
