//! The `filter` section: the Collector's keys, in all three of its forms.
//!
//! - Context-inferred conditions (the Collector's current form, v0.146+):
//!   `trace_conditions`, `metric_conditions`, `log_conditions`, each a list of
//!   conditions with prefixed paths (`span.name == "x"`) or of groups
//!   `{context, conditions, error_mode}`.
//! - Per-context conditions: `traces.{resource,span,spanevent}`,
//!   `metrics.{resource,metric,datapoint}`, `logs.{resource,log_record}`.
//! - Legacy match properties: `spans.{include,exclude}`, `metrics.{include,exclude}`,
//!   `logs.{include,exclude}`.
//!
//! Parsing is strict (`deny_unknown_fields`); every condition is compiled when the
//! config is checked ([`crate::plan`]), so `weir validate` names the key and column of
//! an expression Weir cannot run. The legacy include/exclude sections are kept as YAML
//! here and parsed by [`crate::legacy`], which reports their own key paths.

use serde::Deserialize;
use weir_api::Value;
use weir_ottl::ErrorMode;

/// The `filter` processor's configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// What a condition that fails to evaluate does. Unset means `ignore`: the
    /// Collector's default since v0.153 (the `processor.filter.defaultErrorModeIgnore`
    /// gate, stable and permanent since v0.157).
    pub error_mode: Option<ErrorMode>,
    /// Legacy span match properties (`include`, `exclude`).
    pub spans: IncludeExclude,
    pub traces: TraceFilters,
    pub metrics: MetricFilters,
    pub logs: LogFilters,
    /// Context-inferred trace conditions: strings or groups (raw; read by
    /// the `plan` module).
    pub trace_conditions: Option<Vec<Value>>,
    pub metric_conditions: Option<Vec<Value>>,
    pub log_conditions: Option<Vec<Value>>,
    /// Weir's shadow mode: count what would be dropped (in
    /// `weir_shadow_would_drop_total`) and drop nothing.
    pub shadow: bool,
}

impl FilterConfig {
    /// The error mode conditions run with when their group sets none.
    pub fn effective_error_mode(&self) -> ErrorMode {
        self.error_mode.unwrap_or(ErrorMode::Ignore)
    }
}

/// `spans:` — legacy include/exclude match properties, kept as YAML until
/// [`crate::legacy`] parses them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncludeExclude {
    pub include: Option<Value>,
    pub exclude: Option<Value>,
}

impl IncludeExclude {
    pub fn is_set(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }
}

/// `traces:` — conditions per context.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceFilters {
    pub resource: Option<Vec<String>>,
    pub span: Option<Vec<String>>,
    pub spanevent: Option<Vec<String>>,
}

impl TraceFilters {
    pub fn is_set(&self) -> bool {
        self.resource.is_some() || self.span.is_some() || self.spanevent.is_some()
    }
}

/// `metrics:` — legacy include/exclude and conditions per context.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricFilters {
    pub include: Option<Value>,
    pub exclude: Option<Value>,
    /// The Collector's regexp cache settings; accepted and unused (Weir's regexps
    /// need no result cache).
    pub regexp: Option<RegexpCache>,
    pub resource: Option<Vec<String>>,
    pub metric: Option<Vec<String>>,
    pub datapoint: Option<Vec<String>>,
}

impl MetricFilters {
    pub fn legacy_set(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }

    pub fn conditions_set(&self) -> bool {
        self.resource.is_some() || self.metric.is_some() || self.datapoint.is_some()
    }
}

/// `metrics.regexp`: the Collector's result cache for regexp matching.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexpCache {
    pub cacheenabled: bool,
    pub cachemaxnumentries: u64,
}

/// `logs:` — legacy include/exclude and conditions per context.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFilters {
    pub include: Option<Value>,
    pub exclude: Option<Value>,
    pub resource: Option<Vec<String>>,
    pub log_record: Option<Vec<String>>,
}

impl LogFilters {
    pub fn legacy_set(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }

    pub fn conditions_set(&self) -> bool {
        self.resource.is_some() || self.log_record.is_some()
    }
}

/// One group of a `*_conditions` list in the advanced style.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConditionGroup {
    /// The context every condition of the group is about; inferred from the path
    /// prefixes when unset.
    pub context: Option<String>,
    pub conditions: Vec<String>,
    /// Overrides the processor's `error_mode` for this group.
    pub error_mode: Option<ErrorMode>,
}
