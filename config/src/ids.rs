//! Identifiers that appear in a configuration: component ids (`type[/name]`), signals and
//! pipeline ids (`traces|metrics|logs[/name]`).
//!
//! They live in the config crate because parsing a pipeline graph needs them, and every
//! crate above re-uses them so an id is spelled and printed one way everywhere.

use std::fmt;
use std::str::FromStr;

/// One of the three OpenTelemetry signals a pipeline carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// Every signal, in a fixed order (useful for tables and tests).
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The name used in pipeline ids and in the `otel_signal` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The unit items of this signal are counted in, as the Collector's self-metrics
    /// name them (`otelcol_receiver_accepted_spans`, `..._metric_points`, `..._log_records`).
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Signal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "traces" => Ok(Signal::Traces),
            "metrics" => Ok(Signal::Metrics),
            "logs" => Ok(Signal::Logs),
            other => Err(format!(
                "unknown signal `{other}`: expected traces, metrics or logs"
            )),
        }
    }
}

/// The five sections a component can be declared in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Connector,
    Extension,
}

impl Kind {
    /// The top-level configuration section holding components of this kind.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Connector => "connectors",
            Kind::Extension => "extensions",
        }
    }

    /// The singular name, as used in messages and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Connector => "connector",
            Kind::Extension => "extension",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component id: `type` or `type/name`, e.g. `otlp` or `otlp/eu`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

impl ComponentId {
    /// Builds an id from its parts; `name` is `None` for a bare `type`.
    pub fn new(type_name: impl Into<String>, name: Option<String>) -> Self {
        Self {
            type_name: type_name.into(),
            name,
        }
    }

    /// The component type, such as `otlp`.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The part after the slash, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.type_name, name),
            None => f.write_str(&self.type_name),
        }
    }
}

impl FromStr for ComponentId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (type_name, name) = match s.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (s, None),
        };
        if type_name.is_empty() {
            return Err(format!("component id `{s}` has an empty type"));
        }
        if !type_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "component id `{s}`: the type may hold only letters, digits, `_` and `-`"
            ));
        }
        if let Some(n) = name {
            if n.is_empty() {
                return Err(format!("component id `{s}` has an empty name after `/`"));
            }
        }
        Ok(Self::new(type_name, name.map(str::to_owned)))
    }
}

/// A pipeline id: `traces`, `metrics/prom`, `logs/audit`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    signal: Signal,
    name: Option<String>,
}

impl PipelineId {
    pub fn new(signal: Signal, name: Option<String>) -> Self {
        Self { signal, name }
    }

    /// The signal this pipeline carries.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.signal, name),
            None => write!(f, "{}", self.signal),
        }
    }
}

impl FromStr for PipelineId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (signal, name) = match s.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (s, None),
        };
        let signal = signal
            .parse::<Signal>()
            .map_err(|_| format!("pipeline id `{s}` must start with traces, metrics or logs"))?;
        if let Some(n) = name {
            if n.is_empty() {
                return Err(format!("pipeline id `{s}` has an empty name after `/`"));
            }
        }
        Ok(Self::new(signal, name.map(str::to_owned)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_parse_and_print() {
        let id: ComponentId = "otlp/eu".parse().unwrap();
        assert_eq!(id.type_name(), "otlp");
        assert_eq!(id.name(), Some("eu"));
        assert_eq!(id.to_string(), "otlp/eu");
        assert!("/x".parse::<ComponentId>().is_err());
        assert!("otlp/".parse::<ComponentId>().is_err());
    }

    #[test]
    fn pipeline_ids_need_a_signal() {
        let id: PipelineId = "metrics/prom".parse().unwrap();
        assert_eq!(id.signal(), Signal::Metrics);
        assert!("spans".parse::<PipelineId>().is_err());
    }
}
