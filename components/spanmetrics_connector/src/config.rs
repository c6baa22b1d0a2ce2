//! The `spanmetrics` section: the Collector's keys and defaults
//! (`connector/spanmetricsconnector/config.go`, `factory.go`), checked strictly.
//!
//! Where the Collector silently accepts something that cannot work (an unknown
//! `aggregation_temporality` read as cumulative, unsorted buckets, an `exclude_dimensions`
//! entry that is not a default dimension), Weir refuses it at validation with the key's
//! path: a typo in a metrics config otherwise shows up weeks later as a wrong dashboard.

use std::time::Duration;

use serde::Deserialize;
use weir_api::config::{problem, problem_with_suggestion, Validate};
use weir_api::ComponentProblem;

/// `service.name`: from the resource.
pub const SERVICE_NAME: &str = "service.name";
/// `span.name`, `span.kind`, `status.code`: the Collector's non-standard attribute names.
pub const SPAN_NAME: &str = "span.name";
pub const SPAN_KIND: &str = "span.kind";
pub const STATUS_CODE: &str = "status.code";
/// The four dimensions every series has (unless excluded).
pub const DEFAULT_DIMENSIONS: [&str; 4] = [SERVICE_NAME, SPAN_NAME, SPAN_KIND, STATUS_CODE];

/// The Collector's default namespace (its `legacyMetricNames` gate is off by default).
pub const DEFAULT_NAMESPACE: &str = "traces.span.metrics";
/// Default explicit buckets, in milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];
/// The exponential histogram's default bucket count per range (go-expohisto's default).
pub const DEFAULT_MAX_SIZE: i32 = 160;
/// Exemplars kept per data point and flush, by default.
pub const DEFAULT_MAX_EXEMPLARS: usize = 5;

/// A Go duration in a list (`buckets: [2ms, 1s]`).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct GoDuration(#[serde(with = "weir_api::duration")] pub Duration);

/// One extra dimension: looked up in the span's attributes, then the resource's; when
/// absent, `default` is used, or the dimension is left out.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub name: String,
    #[serde(default)]
    pub default: Option<String>,
}

/// The unit durations are recorded in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Unit {
    #[default]
    #[serde(rename = "ms")]
    Milliseconds,
    #[serde(rename = "s")]
    Seconds,
}

impl Unit {
    /// The UCUM unit written on the `duration` metric.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
        }
    }

    /// Nanoseconds per unit.
    pub fn nanos(self) -> f64 {
        match self {
            Unit::Milliseconds => 1e6,
            Unit::Seconds => 1e9,
        }
    }
}

/// `AGGREGATION_TEMPORALITY_CUMULATIVE` (default) or `AGGREGATION_TEMPORALITY_DELTA`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum AggregationTemporality {
    #[default]
    #[serde(rename = "AGGREGATION_TEMPORALITY_CUMULATIVE")]
    Cumulative,
    #[serde(rename = "AGGREGATION_TEMPORALITY_DELTA")]
    Delta,
}

/// `histogram.explicit`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplicitConfig {
    /// Bucket upper bounds as durations; absent = the default buckets.
    pub buckets: Option<Vec<GoDuration>>,
}

/// `histogram.exponential`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExponentialConfig {
    /// Most buckets for positive values (0 = the default, 160).
    pub max_size: i32,
}

/// `histogram`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    /// No `duration` metric at all.
    pub disable: bool,
    pub unit: Unit,
    pub explicit: Option<ExplicitConfig>,
    pub exponential: Option<ExponentialConfig>,
    /// Dimensions for the `duration` metric only.
    pub dimensions: Vec<Dimension>,
}

/// `exemplars`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    pub enabled: bool,
    pub max_per_data_point: usize,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_per_data_point: DEFAULT_MAX_EXEMPLARS,
        }
    }
}

/// `events`: accepted so Collector configs parse; `enabled: true` is refused (not
/// implemented in Weir).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    pub enabled: bool,
    pub dimensions: Vec<Dimension>,
}

/// The whole `spanmetrics` section, with the Collector's defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    pub histogram: HistogramConfig,
    /// Extra dimensions on both metrics.
    pub dimensions: Vec<Dimension>,
    /// Extra dimensions on the `calls` metric only.
    pub calls_dimensions: Vec<Dimension>,
    /// Default dimensions to leave out (of `service.name`, `span.name`, `span.kind`,
    /// `status.code`).
    pub exclude_dimensions: Vec<String>,
    /// Deprecated in the Collector for `aggregation_cardinality_limit`; used as the limit
    /// when that is 0.
    pub dimensions_cache_size: usize,
    /// Most resources held; the least recently seen is forgotten beyond it.
    pub resource_metrics_cache_size: usize,
    /// The resource attributes that identify a resource (all of them when empty).
    pub resource_metrics_key_attributes: Vec<String>,
    pub aggregation_temporality: AggregationTemporality,
    #[serde(with = "weir_api::duration")]
    pub metrics_flush_interval: Duration,
    /// A resource with no span for this long is forgotten (0 = never).
    #[serde(with = "weir_api::duration")]
    pub metrics_expiration: Duration,
    /// Delta only: series whose last flush time is remembered (the next point's start).
    pub metric_timestamp_cache_size: usize,
    /// Prefix of the metric names (`namespace.calls`); empty for bare `calls`.
    pub namespace: String,
    pub exemplars: ExemplarsConfig,
    pub events: EventsConfig,
    /// Scope names whose spans get `span.instrumentation.scope.name`/`.version`.
    pub include_instrumentation_scope: Vec<String>,
    /// Most series per resource and metric (0 = no limit); beyond it, spans go to one
    /// `otel.metric.overflow=true` series.
    pub aggregation_cardinality_limit: usize,
    /// Accepted for the Collector's configs: Weir always keeps the resource attributes
    /// (the Collector's behaviour while its `excludeResourceMetrics` gate is off).
    pub add_resource_attributes: bool,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            histogram: HistogramConfig::default(),
            dimensions: Vec::new(),
            calls_dimensions: Vec::new(),
            exclude_dimensions: Vec::new(),
            dimensions_cache_size: 0,
            resource_metrics_cache_size: 1000,
            resource_metrics_key_attributes: Vec::new(),
            aggregation_temporality: AggregationTemporality::Cumulative,
            metrics_flush_interval: Duration::from_secs(60),
            metrics_expiration: Duration::ZERO,
            metric_timestamp_cache_size: 1000,
            namespace: DEFAULT_NAMESPACE.to_string(),
            exemplars: ExemplarsConfig::default(),
            events: EventsConfig::default(),
            include_instrumentation_scope: Vec::new(),
            aggregation_cardinality_limit: 0,
            add_resource_attributes: false,
        }
    }
}

/// Which histogram the `duration` metric is.
#[derive(Clone, Debug, PartialEq)]
pub enum HistogramKind {
    Disabled,
    /// Upper bounds in the configured unit, strictly increasing.
    Explicit(Vec<f64>),
    /// Most buckets.
    Exponential(usize),
}

impl SpanMetricsConfig {
    /// The metric name with the namespace in front.
    pub fn metric_name(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.namespace)
        }
    }

    /// The series limit per resource and metric (0 = none).
    pub fn cardinality_limit(&self) -> usize {
        if self.aggregation_cardinality_limit > 0 {
            self.aggregation_cardinality_limit
        } else {
            self.dimensions_cache_size
        }
    }

    /// The `duration` histogram in effect.
    pub fn histogram_kind(&self) -> HistogramKind {
        let h = &self.histogram;
        if h.disable {
            return HistogramKind::Disabled;
        }
        if let Some(exponential) = &h.exponential {
            let size = if exponential.max_size == 0 {
                DEFAULT_MAX_SIZE
            } else {
                exponential.max_size
            };
            return HistogramKind::Exponential(size.max(2) as usize);
        }
        let bounds = match h.explicit.as_ref().and_then(|e| e.buckets.as_ref()) {
            Some(buckets) => buckets
                .iter()
                .map(|b| b.0.as_nanos() as f64 / h.unit.nanos())
                .collect(),
            None => match h.unit {
                Unit::Milliseconds => DEFAULT_BUCKETS_MS.to_vec(),
                Unit::Seconds => DEFAULT_BUCKETS_MS.iter().map(|ms| ms / 1000.0).collect(),
            },
        };
        HistogramKind::Explicit(bounds)
    }

    /// Whether a default dimension is kept.
    pub fn keeps(&self, default_dimension: &str) -> bool {
        !self
            .exclude_dimensions
            .iter()
            .any(|d| d == default_dimension)
    }
}

/// Problems with one list of dimensions: empty names, duplicates of a default dimension,
/// of an earlier entry, or of an entry of `shared` (the `dimensions` list).
fn dimension_problems(
    key: &str,
    list: &[Dimension],
    shared: &[Dimension],
    out: &mut Vec<ComponentProblem>,
) {
    for (index, dimension) in list.iter().enumerate() {
        let index_text = index.to_string();
        let path: Vec<&str> = key
            .split('.')
            .chain([index_text.as_str(), "name"])
            .collect();
        if dimension.name.is_empty() {
            out.push(problem(&path, "a dimension needs a name"));
            continue;
        }
        let duplicate = DEFAULT_DIMENSIONS.contains(&dimension.name.as_str())
            || list[..index].iter().any(|d| d.name == dimension.name)
            || (!std::ptr::eq(list, shared) && shared.iter().any(|d| d.name == dimension.name));
        if duplicate {
            out.push(problem(
                &path,
                format!(
                    "duplicate dimension name `{}` (the defaults are {}, plus `dimensions`)",
                    dimension.name,
                    DEFAULT_DIMENSIONS.join(", ")
                ),
            ));
        }
    }
}

impl Validate for SpanMetricsConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut out = Vec::new();
        dimension_problems("dimensions", &self.dimensions, &self.dimensions, &mut out);
        dimension_problems(
            "calls_dimensions",
            &self.calls_dimensions,
            &self.dimensions,
            &mut out,
        );
        dimension_problems(
            "histogram.dimensions",
            &self.histogram.dimensions,
            &self.dimensions,
            &mut out,
        );
        for (index, name) in self.exclude_dimensions.iter().enumerate() {
            if !DEFAULT_DIMENSIONS.contains(&name.as_str()) {
                let index = index.to_string();
                let message = format!(
                    "`{name}` is not a default dimension, so it cannot be excluded (the defaults are {})",
                    DEFAULT_DIMENSIONS.join(", ")
                );
                let dotted = name.replace('_', ".");
                out.push(if DEFAULT_DIMENSIONS.contains(&dotted.as_str()) {
                    problem_with_suggestion(&["exclude_dimensions", &index], message, dotted)
                } else {
                    problem(&["exclude_dimensions", &index], message)
                });
            }
        }
        let h = &self.histogram;
        if h.explicit.is_some() && h.exponential.is_some() {
            out.push(problem(
                &["histogram"],
                "use either `explicit` or `exponential` buckets histogram",
            ));
        }
        if let Some(exponential) = &h.exponential {
            if exponential.max_size != 0 && exponential.max_size < 2 {
                out.push(problem(
                    &["histogram", "exponential", "max_size"],
                    format!(
                        "max_size must be at least 2, not {} (remove it to use the default of 160)",
                        exponential.max_size
                    ),
                ));
            }
        }
        if let Some(buckets) = h.explicit.as_ref().and_then(|e| e.buckets.as_ref()) {
            if buckets.is_empty() {
                out.push(problem(
                    &["histogram", "explicit", "buckets"],
                    "an empty bucket list would put every span in one +Inf bucket (remove `buckets` to use the defaults)",
                ));
            }
            for (index, pair) in buckets.windows(2).enumerate() {
                if pair[1].0 <= pair[0].0 {
                    let at = (index + 1).to_string();
                    out.push(problem(
                        &["histogram", "explicit", "buckets", &at],
                        format!(
                            "buckets must be strictly increasing: {} does not follow {}",
                            weir_api::duration::format(pair[1].0),
                            weir_api::duration::format(pair[0].0)
                        ),
                    ));
                }
            }
        }
        if self.metrics_flush_interval.is_zero() {
            out.push(problem(
                &["metrics_flush_interval"],
                "metrics_flush_interval must be positive (remove it to use the default of 60s)",
            ));
        }
        if self.resource_metrics_cache_size == 0 {
            out.push(problem(
                &["resource_metrics_cache_size"],
                "resource_metrics_cache_size must be positive (remove it to use the default of 1000)",
            ));
        }
        if self.aggregation_temporality == AggregationTemporality::Delta
            && self.metric_timestamp_cache_size == 0
        {
            out.push(problem(
                &["metric_timestamp_cache_size"],
                "invalid delta timestamp cache size: 0, the maximum number of the items in the cache should be positive",
            ));
        }
        if self.events.enabled {
            out.push(problem(
                &["events", "enabled"],
                "the `events` metric is not supported by Weir's spanmetrics connector (remove `events`, or count span events with a transform before this connector)",
            ));
        }
        out
    }
}
