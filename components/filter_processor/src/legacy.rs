//! The legacy form: `spans`, `logs` and `metrics` `include`/`exclude` blocks, matched
//! by `weir-match-properties` as the Collector's `filterspan`, `filterlog` and
//! `filtermetric` match them. An item is kept when `include` is absent or matches and
//! `exclude` is absent or does not match.
//!
//! `logs` and `metrics` blocks have the filter processor's own keys
//! (`record_attributes`, `bodies`, `resource_attributes`, ...); they are mapped onto
//! the shared `MatchProperties` as the Collector maps them. Metrics follow the
//! Collector's two-level reading: `resource_attributes` decides per resource and
//! `metric_names` per metric, each on its own (an `exclude` with both drops metrics
//! that match either).

use serde::Deserialize;
use weir_api::batch::view::{MetricView, ResourceView};
use weir_api::config::{problem, problem_with_suggestion};
use weir_api::{Batch, ComponentProblem, Signal, Value};
use weir_match_properties::{
    AttributeMatch, AttributesMatcher, MatchError, MatchProperties, MatchType, Matcher,
    RegexpConfig, SeverityNumberMatch, StringMatcher,
};

use crate::config::FilterConfig;

/// `logs.include` / `logs.exclude`: the filter processor's `LogMatchProperties`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogMatchProperties {
    pub match_type: Option<MatchType>,
    pub resource_attributes: Vec<AttributeMatch>,
    pub record_attributes: Vec<AttributeMatch>,
    pub severity_texts: Vec<String>,
    pub severity_number: Option<SeverityNumberMatch>,
    pub bodies: Vec<String>,
}

impl LogMatchProperties {
    /// The Collector ignores a block that sets nothing to match on.
    fn is_empty(&self) -> bool {
        self.resource_attributes.is_empty()
            && self.record_attributes.is_empty()
            && self.severity_texts.is_empty()
            && self.bodies.is_empty()
            && self.severity_number.is_none()
    }

    /// As the Collector's `LogMatchProperties.matchProperties`.
    fn match_properties(&self) -> MatchProperties {
        MatchProperties {
            match_type: self.match_type,
            resources: self.resource_attributes.clone(),
            attributes: self.record_attributes.clone(),
            log_severity_texts: self.severity_texts.clone(),
            log_bodies: self.bodies.clone(),
            log_severity_number: self.severity_number.clone(),
            ..MatchProperties::default()
        }
    }
}

/// `match_type` of a metrics block: the Collector also has `expr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricMatchType {
    Strict,
    Regexp,
    Expr,
}

/// `metrics.include` / `metrics.exclude`: the Collector's `MetricMatchProperties`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricMatchProperties {
    pub match_type: Option<MetricMatchType>,
    pub regexp: Option<RegexpConfig>,
    pub metric_names: Vec<String>,
    pub expressions: Vec<String>,
    pub resource_attributes: Vec<AttributeMatch>,
}

/// One compiled metrics block: a name matcher (when `metric_names` is set) and a
/// resource matcher (when `resource_attributes` is set).
#[derive(Clone, Debug)]
pub struct MetricBlock {
    names: Option<StringMatcher>,
    resources: Option<AttributesMatcher>,
}

/// The compiled legacy matcher of one signal.
#[derive(Clone, Debug)]
pub enum LegacyFilter {
    Spans(Matcher),
    Logs(Matcher),
    Metrics {
        include: Option<MetricBlock>,
        exclude: Option<MetricBlock>,
    },
}

impl LegacyFilter {
    /// The signal's legacy matcher, `None` when no block is configured.
    pub fn compile(
        config: &FilterConfig,
        signal: Signal,
    ) -> Result<Option<Self>, Vec<ComponentProblem>> {
        match signal {
            Signal::Traces => {
                let spans = &config.spans;
                let include = block::<MatchProperties>(&["spans", "include"], &spans.include)?;
                let exclude = block::<MatchProperties>(&["spans", "exclude"], &spans.exclude)?;
                if include.is_none() && exclude.is_none() {
                    return Ok(None);
                }
                Matcher::compile_for(Signal::Traces, include.as_ref(), exclude.as_ref())
                    .map(|m| Some(Self::Spans(m)))
                    .map_err(|e| vec![match_problem("spans", &e, |k| k)])
            }
            Signal::Logs => {
                let logs = &config.logs;
                let include = block::<LogMatchProperties>(&["logs", "include"], &logs.include)?
                    .filter(|b| !b.is_empty())
                    .map(|b| b.match_properties());
                let exclude = block::<LogMatchProperties>(&["logs", "exclude"], &logs.exclude)?
                    .filter(|b| !b.is_empty())
                    .map(|b| b.match_properties());
                if include.is_none() && exclude.is_none() {
                    return Ok(None);
                }
                Matcher::compile_for(Signal::Logs, include.as_ref(), exclude.as_ref())
                    .map(|m| Some(Self::Logs(m)))
                    .map_err(|e| vec![match_problem("logs", &e, log_key)])
            }
            Signal::Metrics => {
                let metrics = &config.metrics;
                let include = metric_block("include", &metrics.include)?;
                let exclude = metric_block("exclude", &metrics.exclude)?;
                if include.is_none() && exclude.is_none() {
                    return Ok(None);
                }
                Ok(Some(Self::Metrics { include, exclude }))
            }
        }
    }

    /// Drops the items the blocks leave out.
    pub fn apply(&self, batch: &mut Batch) {
        match self {
            Self::Spans(matcher) => {
                batch.retain_spans(|resource, scope, span| {
                    matcher.matches_span(resource, scope, span)
                });
            }
            Self::Logs(matcher) => {
                batch.retain_log_records(|resource, scope, record| {
                    matcher.matches_log(resource, scope, record)
                });
            }
            Self::Metrics { include, exclude } => {
                batch.retain_metrics(|resource, _, metric| {
                    keep_metric(include.as_ref(), exclude.as_ref(), resource, metric)
                });
            }
        }
    }
}

/// The Collector's `shouldKeepMetricsForResource` and `shouldKeepMetric`, together.
fn keep_metric(
    include: Option<&MetricBlock>,
    exclude: Option<&MetricBlock>,
    resource: ResourceView<'_>,
    metric: MetricView<'_>,
) -> bool {
    let attributes = resource.attributes();
    let resource_matches = |b: &MetricBlock| b.resources.as_ref().map(|m| m.matches(attributes));
    let name_matches = |b: &MetricBlock| b.names.as_ref().map(|m| m.matches(metric.name()));
    let included = include
        .is_none_or(|b| resource_matches(b).unwrap_or(true) && name_matches(b).unwrap_or(true));
    let excluded = exclude
        .is_some_and(|b| resource_matches(b).unwrap_or(false) || name_matches(b).unwrap_or(false));
    included && !excluded
}

/// Parses one block; `None` when absent or null.
fn block<T: serde::de::DeserializeOwned>(
    path: &[&str],
    value: &Option<Value>,
) -> Result<Option<T>, Vec<ComponentProblem>> {
    let Some(value) = value.as_ref().filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    weir_api::config::parse::<T>(value)
        .map(Some)
        .map_err(|mut p| {
            let mut full: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            full.append(&mut p.path);
            p.path = full;
            vec![p]
        })
}

fn metric_block(
    key: &str,
    value: &Option<Value>,
) -> Result<Option<MetricBlock>, Vec<ComponentProblem>> {
    let Some(block) = block::<MetricMatchProperties>(&["metrics", key], value)? else {
        return Ok(None);
    };
    let match_type = match block.match_type {
        Some(MetricMatchType::Strict) => Some(MatchType::Strict),
        Some(MetricMatchType::Regexp) => Some(MatchType::Regexp),
        None => None,
        Some(MetricMatchType::Expr) => {
            return Err(vec![problem_with_suggestion(
                &["metrics", key, "match_type"],
                "match_type `expr` (the antonmedv/expr language) is not supported by Weir",
                "write the expressions as OTTL conditions: `metrics.metric` (e.g. `name == \"my.metric\"`) or `metrics.datapoint` (e.g. `attributes[\"my_label\"] == \"abc123\"`)",
            )]);
        }
    };
    let names = if block.metric_names.is_empty() {
        None
    } else {
        Some(
            StringMatcher::new(match_type, &block.metric_names)
                .map_err(|m| vec![problem(&["metrics", key, "metric_names"], m)])?,
        )
    };
    let resources = if block.resource_attributes.is_empty() {
        None
    } else {
        Some(
            AttributesMatcher::new(
                match_type,
                "resource_attributes",
                &block.resource_attributes,
            )
            .map_err(|e| vec![match_problem_under(&["metrics", key], &e, |k| k)])?,
        )
    };
    Ok(Some(MetricBlock { names, resources }))
}

/// The shared matcher's key names, as the filter processor's `logs` blocks spell them.
fn log_key(key: &str) -> &str {
    match key {
        "resources" => "resource_attributes",
        "attributes" => "record_attributes",
        "log_severity_texts" => "severity_texts",
        "log_severity_number" => "severity_number",
        "log_bodies" => "bodies",
        other => other,
    }
}

fn match_problem(
    section: &str,
    error: &MatchError,
    rename: impl Fn(&str) -> &str,
) -> ComponentProblem {
    match_problem_under(&[section], error, rename)
}

fn match_problem_under(
    prefix: &[&str],
    error: &MatchError,
    rename: impl Fn(&str) -> &str,
) -> ComponentProblem {
    let mut path: Vec<&str> = prefix.to_vec();
    path.extend(error.path.iter().map(|k| rename(k)));
    problem(&path, error.message.clone())
}
