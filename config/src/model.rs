//! The typed model: the merged document split into component sections and the service.
//!
//! Component sections stay `Value`s: only the component knows its own keys, and the engine
//! hands each section to its factory. What this crate owns is checked here, key by key:
//! top-level sections, component and pipeline ids, `service` and `service.telemetry`.

use serde_yaml_ng::{Mapping, Value};

use crate::diagnostics::{dotted, suggest, Diagnostic, Diagnostics};
use crate::ids::{ComponentId, Kind, PipelineId};
use crate::locate::{key_string, Locator};
use crate::parse::kind_name;

/// Section names, in the order they are usually written.
pub const TOP_LEVEL_KEYS: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "extensions",
    "service",
];
const SERVICE_KEYS: [&str; 3] = ["pipelines", "extensions", "telemetry"];
const PIPELINE_KEYS: [&str; 3] = ["receivers", "processors", "exporters"];
const TELEMETRY_KEYS: [&str; 4] = ["logs", "metrics", "resource", "traces"];
const LOGS_KEYS: [&str; 9] = [
    "level",
    "encoding",
    "development",
    "sampling",
    "output_paths",
    "error_output_paths",
    "initial_fields",
    "disable_caller",
    "disable_stacktrace",
];
const METRICS_KEYS: [&str; 3] = ["level", "address", "readers"];
const LOG_LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];
const METRICS_LEVELS: [&str; 4] = ["none", "basic", "normal", "detailed"];
/// Where self-metrics are served when the configuration does not say.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:8888";

/// A loaded configuration: component sections, the service, and the merged document.
#[derive(Clone, Debug)]
pub struct Config {
    /// In file order; `Value::Null` when the section is empty (`otlp:`).
    pub receivers: Vec<(ComponentId, Value)>,
    pub processors: Vec<(ComponentId, Value)>,
    pub exporters: Vec<(ComponentId, Value)>,
    pub connectors: Vec<(ComponentId, Value)>,
    pub extensions: Vec<(ComponentId, Value)>,
    pub service: Service,
    /// The whole merged document after expansion (for `print-config`).
    pub merged: Value,
    /// Key path -> file and line.
    pub locator: Locator,
    /// Warnings found while loading (such as unset environment variables). [`crate::validate`]
    /// repeats them, so a caller that prints validate's result shows everything once.
    pub load_warnings: Vec<Diagnostic>,
}

impl Config {
    /// The components declared under `kind`'s section, in file order.
    pub fn components(&self, kind: Kind) -> &[(ComponentId, Value)] {
        match kind {
            Kind::Receiver => &self.receivers,
            Kind::Processor => &self.processors,
            Kind::Exporter => &self.exporters,
            Kind::Connector => &self.connectors,
            Kind::Extension => &self.extensions,
        }
    }

    /// The component section for this id, if declared.
    pub fn component(&self, kind: Kind, id: &ComponentId) -> Option<&Value> {
        self.components(kind)
            .iter()
            .find(|(declared, _)| declared == id)
            .map(|(_, section)| section)
    }

    /// print-config: the merged document as YAML, with secrets redacted.
    pub fn to_redacted_yaml(&self) -> String {
        crate::redact::to_redacted_yaml(&self.merged)
    }
}

/// The `service` section.
#[derive(Clone, Debug, Default)]
pub struct Service {
    /// In file order.
    pub pipelines: Vec<(PipelineId, Pipeline)>,
    /// Extensions to start, in order.
    pub extensions: Vec<ComponentId>,
    pub telemetry: Telemetry,
}

/// One pipeline's components, in the order listed.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

/// `service.telemetry`: Weir's own logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Telemetry {
    /// `service.telemetry.logs.level`, lowercased: debug, info, warn, error. Default info.
    pub log_level: String,
    /// `service.telemetry.logs.encoding`. Default console.
    pub log_encoding: LogEncoding,
    /// `service.telemetry.metrics.level`, lowercased: none, basic, normal, detailed. Default normal.
    pub metrics_level: String,
    /// Where self-metrics are served (`host:port`); `None` when the level is `none` or only
    /// push readers are configured. Default `127.0.0.1:8888`.
    pub metrics_address: Option<String>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            log_level: "info".to_string(),
            log_encoding: LogEncoding::Console,
            metrics_level: "normal".to_string(),
            metrics_address: Some(DEFAULT_METRICS_ADDRESS.to_string()),
        }
    }
}

/// How Weir writes its own logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogEncoding {
    #[default]
    Console,
    Json,
}

/// Builds the typed model from the merged document, reporting every problem.
pub(crate) fn build(merged: Value, locator: Locator, diags: &mut Diagnostics) -> Config {
    let mut b = Builder {
        locator: &locator,
        diags,
    };
    let mut config = Config {
        receivers: Vec::new(),
        processors: Vec::new(),
        exporters: Vec::new(),
        connectors: Vec::new(),
        extensions: Vec::new(),
        service: Service::default(),
        merged: Value::Null,
        locator: Locator::default(),
        load_warnings: Vec::new(),
    };
    let empty = Mapping::new();
    let top = match &merged {
        Value::Mapping(m) => m,
        _ => &empty,
    };
    for (key, value) in b.entries(top, &[], &TOP_LEVEL_KEYS) {
        let path = [key.clone()];
        match key.as_str() {
            "receivers" => config.receivers = b.components(value, &path),
            "processors" => config.processors = b.components(value, &path),
            "exporters" => config.exporters = b.components(value, &path),
            "connectors" => config.connectors = b.components(value, &path),
            "extensions" => config.extensions = b.components(value, &path),
            _ => config.service = b.service(value, &path),
        }
    }
    config.merged = merged;
    config.locator = locator;
    config
}

struct Builder<'a> {
    locator: &'a Locator,
    diags: &'a mut Diagnostics,
}

impl Builder<'_> {
    fn error(&mut self, path: &[String], message: String, suggestion: Option<String>) {
        self.diags.push(
            Diagnostic::error(dotted(path), message)
                .at(self.locator.locate_owned(path))
                .suggest(suggestion),
        );
    }

    /// `value` as a mapping; null is empty; anything else is an error.
    fn mapping<'v>(
        &mut self,
        value: &'v Value,
        path: &[String],
        what: &str,
    ) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            other => {
                self.error(
                    path,
                    format!("expected {what}, found {}", kind_name(other)),
                    None,
                );
                None
            }
        }
    }

    /// The entries of a mapping whose keys must be among `known` (any key when empty);
    /// unknown keys are reported with a suggestion and skipped.
    fn entries<'v>(
        &mut self,
        map: &'v Mapping,
        path: &[String],
        known: &[&str],
    ) -> Vec<(String, &'v Value)> {
        let mut out = Vec::new();
        for (key, value) in map {
            let Some(name) = key_string(key) else {
                self.error(path, "keys must be plain text".to_string(), None);
                continue;
            };
            if !known.is_empty() && !known.contains(&name.as_str()) {
                let mut here = path.to_vec();
                here.push(name.clone());
                let expected = known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let suggestion = suggest(&name, known.iter().copied());
                let message = if suggestion.is_some() {
                    format!("unknown key `{name}`")
                } else {
                    format!("unknown key `{name}`; expected one of {expected}")
                };
                self.error(&here, message, suggestion);
                continue;
            }
            out.push((name, value));
        }
        out
    }

    fn components(&mut self, value: &Value, path: &[String]) -> Vec<(ComponentId, Value)> {
        let section = &path[0];
        let what = format!("a mapping of {section} by id (such as `otlp:` or `otlp/eu:`)");
        let Some(map) = self.mapping(value, path, &what) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, section_value) in self.entries(map, path, &[]) {
            let here = [path[0].clone(), key.clone()];
            match key.parse::<ComponentId>() {
                Ok(id) => out.push((id, section_value.clone())),
                Err(message) => self.error(&here, message, None),
            }
        }
        out
    }

    fn service(&mut self, value: &Value, path: &[String]) -> Service {
        let mut service = Service::default();
        let Some(map) = self.mapping(value, path, "a mapping with `pipelines`") else {
            return service;
        };
        for (key, value) in self.entries(map, path, &SERVICE_KEYS) {
            let here = child(path, &key);
            match key.as_str() {
                "pipelines" => service.pipelines = self.pipelines(value, &here),
                "extensions" => service.extensions = self.id_list(value, &here),
                _ => service.telemetry = self.telemetry(value, &here),
            }
        }
        service
    }

    fn pipelines(&mut self, value: &Value, path: &[String]) -> Vec<(PipelineId, Pipeline)> {
        let what = "a mapping of pipelines by id (such as `traces:` or `metrics/prom:`)";
        let Some(map) = self.mapping(value, path, what) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in self.entries(map, path, &[]) {
            let here = child(path, &key);
            let id = match key.parse::<PipelineId>() {
                Ok(id) => Some(id),
                Err(message) => {
                    self.error(&here, message, None);
                    None
                }
            };
            let mut pipeline = Pipeline::default();
            let what = "a mapping with `receivers`, `processors` and `exporters`";
            if let Some(map) = self.mapping(value, &here, what) {
                for (role, list) in self.entries(map, &here, &PIPELINE_KEYS) {
                    let ids = self.id_list(list, &child(&here, &role));
                    match role.as_str() {
                        "receivers" => pipeline.receivers = ids,
                        "processors" => pipeline.processors = ids,
                        _ => pipeline.exporters = ids,
                    }
                }
            }
            if let Some(id) = id {
                out.push((id, pipeline));
            }
        }
        out
    }

    /// A list of component ids; bad entries are reported and skipped.
    fn id_list(&mut self, value: &Value, path: &[String]) -> Vec<ComponentId> {
        let items = match value {
            Value::Sequence(items) => items.as_slice(),
            Value::Null => &[],
            other => {
                let message = format!(
                    "expected a list of component ids (such as `[otlp, otlp/eu]`), found {}",
                    kind_name(other)
                );
                self.error(path, message, None);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let here = child(path, &i.to_string());
            match item {
                Value::String(s) => match s.parse::<ComponentId>() {
                    Ok(id) => out.push(id),
                    Err(message) => self.error(&here, message, None),
                },
                other => {
                    let message = format!("expected a component id, found {}", kind_name(other));
                    self.error(&here, message, None);
                }
            }
        }
        out
    }

    fn telemetry(&mut self, value: &Value, path: &[String]) -> Telemetry {
        let mut t = Telemetry::default();
        let Some(map) = self.mapping(value, path, "a mapping with `logs` and `metrics`") else {
            return t;
        };
        let mut address: Option<(String, Vec<String>)> = None;
        let mut readers: Option<Option<String>> = None;
        for (key, value) in self.entries(map, path, &TELEMETRY_KEYS) {
            let here = child(path, &key);
            match key.as_str() {
                "logs" => {
                    let Some(logs) = self.mapping(value, &here, "a mapping") else {
                        continue;
                    };
                    for (key, value) in self.entries(logs, &here, &LOGS_KEYS) {
                        let at = child(&here, &key);
                        match key.as_str() {
                            "level" => {
                                if let Some(level) = self.choice(value, &at, &LOG_LEVELS) {
                                    t.log_level = level;
                                }
                            }
                            "encoding" => match self.choice(value, &at, &["console", "json"]) {
                                Some(e) if e == "json" => t.log_encoding = LogEncoding::Json,
                                Some(_) => t.log_encoding = LogEncoding::Console,
                                None => {}
                            },
                            _ => {}
                        }
                    }
                }
                "metrics" => {
                    let Some(metrics) = self.mapping(value, &here, "a mapping") else {
                        continue;
                    };
                    for (key, value) in self.entries(metrics, &here, &METRICS_KEYS) {
                        let at = child(&here, &key);
                        match key.as_str() {
                            "level" => {
                                if let Some(level) = self.choice(value, &at, &METRICS_LEVELS) {
                                    t.metrics_level = level;
                                }
                            }
                            "address" => match value {
                                Value::String(s) if !s.trim().is_empty() => {
                                    address = Some((s.trim().to_string(), at))
                                }
                                Value::Null => {}
                                other => {
                                    let message =
                                        format!("expected `host:port`, found {}", kind_name(other));
                                    self.error(&at, message, None);
                                }
                            },
                            _ => readers = Some(self.readers(value, &at)),
                        }
                    }
                }
                _ => {} // resource, traces: passed through, not interpreted here
            }
        }
        t.metrics_address = match (address, readers) {
            (Some((_, at)), Some(_)) => {
                let message = "set either `address` (old form) or `readers`, not both".to_string();
                self.error(&at, message, None);
                None
            }
            (Some((address, _)), None) => Some(address),
            (None, Some(from_readers)) => from_readers,
            (None, None) => t.metrics_address,
        };
        if t.metrics_level == "none" {
            t.metrics_address = None;
        }
        t
    }

    /// The address of the first `pull: {exporter: {prometheus: {host, port}}}` reader.
    fn readers(&mut self, value: &Value, path: &[String]) -> Option<String> {
        let items = match value {
            Value::Sequence(items) => items,
            Value::Null => return None,
            other => {
                let message = format!("expected a list of readers, found {}", kind_name(other));
                self.error(path, message, None);
                return None;
            }
        };
        for (i, reader) in items.iter().enumerate() {
            let Some(prom) = reader
                .get("pull")
                .and_then(|p| p.get("exporter"))
                .and_then(|e| e.get("prometheus"))
            else {
                continue;
            };
            let mut here = path.to_vec();
            here.push(i.to_string());
            here.extend(["pull", "exporter", "prometheus"].map(String::from));
            let host = match prom.get("host") {
                None | Some(Value::Null) => "127.0.0.1".to_string(),
                Some(Value::String(h)) => h.clone(),
                Some(other) => {
                    let message = format!("expected a host name, found {}", kind_name(other));
                    self.error(&child(&here, "host"), message, None);
                    return None;
                }
            };
            let port = match prom.get("port") {
                None | Some(Value::Null) => "8888".to_string(),
                Some(Value::Number(n)) if n.as_u64().is_some_and(|p| p <= 65535) => n.to_string(),
                Some(other) => {
                    let message = format!(
                        "expected a port number (0-65535), found {}",
                        describe(other)
                    );
                    self.error(&child(&here, "port"), message, None);
                    return None;
                }
            };
            return Some(if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            });
        }
        None
    }

    /// A string that must be one of `allowed` (case-insensitive); returned lowercased.
    fn choice(&mut self, value: &Value, path: &[String], allowed: &[&str]) -> Option<String> {
        let expected = allowed.join(", ");
        match value {
            Value::String(s) => {
                let lower = s.to_ascii_lowercase();
                if allowed.contains(&lower.as_str()) {
                    Some(lower)
                } else {
                    let message = format!("`{s}` is not one of {expected}");
                    self.error(path, message, suggest(&lower, allowed.iter().copied()));
                    None
                }
            }
            Value::Null => None,
            other => {
                let message = format!("expected one of {expected}, found {}", kind_name(other));
                self.error(path, message, None);
                None
            }
        }
    }
}

fn child(path: &[String], key: &str) -> Vec<String> {
    let mut out = path.to_vec();
    out.push(key.to_string());
    out
}

/// A value as written, for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        Value::Number(n) => format!("`{n}`"),
        other => kind_name(other).to_string(),
    }
}
