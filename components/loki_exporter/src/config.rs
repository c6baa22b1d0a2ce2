//! The `loki` exporter's configuration: the Collector's keys (`confighttp` client
//! settings, `default_labels_enabled`, `exporterhelper`'s queue and retry) and the older
//! exporter's explicit `labels`, `tenant` and `tenant_id`, plus Weir's `encoding`,
//! `format` and `structured_metadata`.
//!
//! serde checks the shape; `Validate::problems` checks what serde cannot (URL, label
//! names, record keys, a tenant set twice), so `weir validate` refuses exactly what
//! `build` would.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use weir_api::config::problem;
use weir_api::{ComponentProblem, QueueSettings, RetrySettings};

use crate::labels::is_valid_label_name;

/// The header Loki reads the tenant from.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// The `loki` exporter's section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The push URL, e.g. `http://loki:3100/loki/api/v1/push` (used as given).
    pub endpoint: String,
    /// `protobuf` (snappy-compressed `logproto.PushRequest`, Loki's default) or `json`.
    pub encoding: Encoding,
    /// The line format when no `loki.format` hint says otherwise.
    pub format: LineFormat,
    /// Which default labels are added (`exporter`, `job`, `instance`, `level`); a label
    /// left out of the map is enabled.
    pub default_labels_enabled: BTreeMap<String, bool>,
    /// The older exporter's explicit attribute-to-label map.
    pub labels: LabelMap,
    /// The same shape, for values sent as structured metadata instead of labels.
    pub structured_metadata: LabelMap,
    /// Where the tenant comes from.
    pub tenant: Option<TenantConfig>,
    /// The older exporter's static tenant (`tenant: {source: static, value: ...}`).
    pub tenant_id: Option<String>,
    pub headers: BTreeMap<String, String>,
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    pub tls: weir_api::tls::TlsClientSettings,
    /// An authenticator extension whose headers are set on every push (a plaintext
    /// endpoint is allowed, as in the Collector, with a warning).
    pub auth: Option<weir_api::auth::AuthSettings>,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
    #[serde(with = "weir_api::duration::option")]
    pub idle_conn_timeout: Option<Duration>,
    /// Accepted for compatibility with the Collector's HTTP client settings; hyper sizes
    /// its buffers and pools itself.
    pub read_buffer_size: Option<usize>,
    pub write_buffer_size: Option<usize>,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
    pub max_conns_per_host: Option<usize>,
    pub disable_keep_alives: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            encoding: Encoding::Protobuf,
            format: LineFormat::Json,
            default_labels_enabled: BTreeMap::new(),
            labels: LabelMap::default(),
            structured_metadata: LabelMap::default(),
            tenant: None,
            tenant_id: None,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(30),
            tls: Default::default(),
            auth: None,
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
            idle_conn_timeout: Some(Duration::from_secs(90)),
            read_buffer_size: None,
            write_buffer_size: None,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            disable_keep_alives: false,
        }
    }
}

/// `encoding`: the push body's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Protobuf,
    Json,
}

/// `format` and the `loki.format` hint: how a record becomes its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineFormat {
    /// A JSON object: body, traceid, spanid, severity, flags, attributes, resources,
    /// instrumentation_scope (the Collector's default).
    Json,
    /// `key=value` pairs: the body's, then traceID, spanID, severity, flags,
    /// `attribute_*`, `resource_*`, the scope.
    Logfmt,
    /// The body alone, as a string.
    Raw,
}

impl LineFormat {
    /// The value of a `loki.format` hint; `None` for an unknown format.
    pub fn from_hint(text: &str) -> Option<Self> {
        match text.trim() {
            "json" => Some(Self::Json),
            "logfmt" => Some(Self::Logfmt),
            "raw" => Some(Self::Raw),
            _ => None,
        }
    }
}

/// `labels` / `structured_metadata`: attribute (or record field) to name. An empty name
/// means "the attribute's own name".
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelMap {
    pub resource: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
    /// Keys: `traceID`, `spanID`, `severity`, `severityN`.
    pub record: BTreeMap<String, String>,
}

impl LabelMap {
    pub fn is_empty(&self) -> bool {
        self.resource.is_empty() && self.attributes.is_empty() && self.record.is_empty()
    }
}

/// The record fields `labels.record` may name.
pub const RECORD_FIELDS: [&str; 4] = ["traceID", "spanID", "severity", "severityN"];

/// `tenant`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub source: TenantSource,
    #[serde(default)]
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantSource {
    /// `value` is the tenant.
    Static,
    /// `value` names a client metadata key (the receiver's `include_metadata`).
    Context,
    /// `value` names a resource attribute (else a record attribute) holding the tenant.
    #[serde(alias = "attribute")]
    Attributes,
}

impl Config {
    /// The static tenant, from `tenant: {source: static}`, `tenant_id`, or the
    /// `X-Scope-OrgID` header, in that order (at most one is allowed).
    pub fn static_tenant(&self) -> Option<&str> {
        if let Some(TenantConfig {
            source: TenantSource::Static,
            value,
        }) = &self.tenant
        {
            return Some(value);
        }
        if let Some(id) = &self.tenant_id {
            return Some(id);
        }
        self.tenant_header()
    }

    fn tenant_header(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(TENANT_HEADER))
            .map(|(_, v)| v.as_str())
    }

    fn map_problems(map: &LabelMap, key: &str, problems: &mut Vec<ComponentProblem>) {
        for (section, entries) in [("resource", &map.resource), ("attributes", &map.attributes)] {
            for (attribute, name) in entries {
                let name = if name.is_empty() { attribute } else { name };
                if !is_valid_label_name(name) {
                    problems.push(problem(
                        &[key, section, attribute],
                        format!(
                            "`{name}` is not a valid label name: it must match \
                             [a-zA-Z_][a-zA-Z0-9_]* (map the attribute to a name, e.g. \
                             `{attribute}: {}`)",
                            crate::labels::sanitize(name)
                        ),
                    ));
                }
            }
        }
        for (field, name) in &map.record {
            if !RECORD_FIELDS.contains(&field.as_str()) {
                problems.push(problem(
                    &[key, "record", field],
                    format!(
                        "record field `{field}` not recognized; possible values: {}",
                        RECORD_FIELDS.join(", ")
                    ),
                ));
            } else if !is_valid_label_name(if name.is_empty() { field } else { name }) {
                problems.push(problem(
                    &[key, "record", field],
                    format!("`{name}` is not a valid label name"),
                ));
            }
        }
    }
}

impl weir_api::config::Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.endpoint.is_empty() {
            problems.push(problem(
                &["endpoint"],
                "endpoint is required, e.g. `http://loki:3100/loki/api/v1/push`",
            ));
        } else if let Err(message) = weir_api::http::parse_endpoint_url(&self.endpoint) {
            problems.push(problem(&["endpoint"], message));
        }
        for key in self.default_labels_enabled.keys() {
            if !["exporter", "job", "instance", "level"].contains(&key.as_str()) {
                problems.push(problem(
                    &["default_labels_enabled", key],
                    format!(
                        "`{key}` is not a default label; possible keys: exporter, job, \
                         instance, level"
                    ),
                ));
            }
        }
        Self::map_problems(&self.labels, "labels", &mut problems);
        Self::map_problems(
            &self.structured_metadata,
            "structured_metadata",
            &mut problems,
        );
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
        let statics = [
            matches!(
                &self.tenant,
                Some(TenantConfig {
                    source: TenantSource::Static,
                    ..
                })
            ),
            self.tenant_id.is_some(),
            self.tenant_header().is_some(),
        ];
        if statics.iter().filter(|s| **s).count() > 1 {
            problems.push(problem(
                &["tenant"],
                "the static tenant is set more than once (`tenant` with source static, \
                 `tenant_id`, `headers.X-Scope-OrgID`); keep one",
            ));
        }
        if let Some(tenant) = &self.tenant {
            if tenant.source != TenantSource::Static && tenant.value.trim().is_empty() {
                problems.push(problem(
                    &["tenant", "value"],
                    "must name the metadata key (source context) or the attribute (source \
                     attributes) that holds the tenant",
                ));
            }
        }
        problems.extend(self.tls.problems("use an http:// endpoint"));
        if let Some(auth) = &self.auth {
            problems.extend(auth.problems());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_api::config::Validate;

    fn config(yaml: &str) -> Config {
        let value: weir_api::Value = serde_yaml_ng::from_str(yaml).unwrap();
        weir_api::config::parse(&value).unwrap()
    }

    fn paths(c: &Config) -> Vec<String> {
        c.problems().into_iter().map(|p| p.path.join(".")).collect()
    }

    #[test]
    fn defaults() {
        let c = config("endpoint: http://loki:3100/loki/api/v1/push");
        assert_eq!(c.encoding, Encoding::Protobuf);
        assert_eq!(c.format, LineFormat::Json);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert!(c.problems().is_empty());
        assert_eq!(c.static_tenant(), None);
    }

    #[test]
    fn the_older_exporters_config_is_accepted() {
        let c = config(
            r#"
endpoint: "https://loki:3100/loki/api/v1/push"
tenant_id: "example"
read_buffer_size: 123
write_buffer_size: 345
headers: {"X-Custom-Header": "loki_rocks"}
labels:
  record: {traceID: traceid}
  attributes: {container.name: "container_name", k8s.cluster.name: "k8s_cluster_name", severity: "severity"}
  resource: {resource.name: "resource_name", severity: "severity"}
"#,
        );
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.static_tenant(), Some("example"));
        assert_eq!(c.labels.record["traceID"], "traceid");
    }

    #[test]
    fn bad_values_name_their_key() {
        let c = config(
            r#"
endpoint: "loki:3100"
default_labels_enabled: {exporter: false, host: true}
labels:
  attributes: {container.name: ""}
  record: {traceId: x}
structured_metadata:
  record: {spanID: "span id"}
"#,
        );
        assert_eq!(
            paths(&c),
            [
                "endpoint",
                "default_labels_enabled.host",
                "labels.attributes.container.name",
                "labels.record.traceId",
                "structured_metadata.record.spanID"
            ]
        );
        assert!(config("{}").problems()[0].message.contains("required"));
    }

    #[test]
    fn tenant_shapes() {
        let c = config("{endpoint: 'http://l/p', tenant: {source: attributes, value: tenant.id}}");
        assert!(c.problems().is_empty());
        let c = config("{endpoint: 'http://l/p', tenant: {source: context}}");
        assert_eq!(paths(&c), ["tenant.value"]);
        let c = config(
            "{endpoint: 'http://l/p', tenant: {source: static, value: a}, headers: {x-scope-orgid: b}}",
        );
        assert_eq!(paths(&c), ["tenant"]);
        let c = config("{endpoint: 'http://l/p', headers: {X-Scope-OrgID: b}}");
        assert_eq!(c.static_tenant(), Some("b"));
        let value: weir_api::Value =
            serde_yaml_ng::from_str("{tenant: {source: header, value: x}}").unwrap();
        let p = weir_api::config::parse::<Config>(&value).unwrap_err();
        assert_eq!(p.path, ["tenant", "source"]);
    }

    #[test]
    fn encodings_and_formats() {
        assert_eq!(config("encoding: json").encoding, Encoding::Json);
        assert_eq!(config("format: logfmt").format, LineFormat::Logfmt);
        let value: weir_api::Value = serde_yaml_ng::from_str("encoding: snappy").unwrap();
        assert_eq!(
            weir_api::config::parse::<Config>(&value).unwrap_err().path,
            ["encoding"]
        );
        assert_eq!(LineFormat::from_hint(" raw"), Some(LineFormat::Raw));
        assert_eq!(LineFormat::from_hint("body"), None);
    }
}
