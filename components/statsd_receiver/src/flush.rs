//! The end of an interval: merge every reader's series, resolve gauges and cumulative
//! counters against what earlier intervals left, and build OTLP metrics.
//!
//! Output shape: one ResourceMetrics per (client IP when `enable_ip_only_aggregation`,
//! DogStatsD container id), one scope `weir/statsdreceiver`, one Metric per
//! (name, type) with one data point per tag set. Timestamps: delta points start at the
//! interval's start and end at the flush; cumulative counters start when the series
//! was first seen; a DogStatsD `T` timestamp becomes the point time.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use weir_api::Batch;
use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::logs::v1::{ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, summary_data_point,
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use weir_proto::resource::v1::Resource;

use crate::aggregator::{Interval, SeriesMap};
use crate::config::{Observer, Observers};
use crate::key::{decode, KeyView};
use crate::line::MetricType;
use crate::series::{quantile, Observations, Series, State};

/// The instrumentation scope of everything this receiver emits.
pub const SCOPE_NAME: &str = "weir/statsdreceiver";
/// Gauges and cumulative counters not updated for this many intervals are forgotten, so
/// memory stays bounded by the active series (a forgotten cumulative counter that comes
/// back starts again from zero with a new start time).
pub const IDLE_INTERVALS: u32 = 60;

/// What the flusher needs from the config.
#[derive(Clone, Debug)]
pub struct FlushOptions {
    pub enable_metric_type: bool,
    pub monotonic_counters: bool,
    pub observers: Observers,
}

impl FlushOptions {
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            enable_metric_type: config.enable_metric_type,
            monotonic_counters: config.is_monotonic_counter,
            observers: config.observers(),
        }
    }
}

struct Remembered {
    value: f64,
    start_ns: u64,
    idle: u32,
}

/// State kept across intervals.
pub struct Flusher {
    options: FlushOptions,
    interval_start_ns: u64,
    gauges: HashMap<Box<[u8]>, Remembered>,
    counters: HashMap<Box<[u8]>, Remembered>,
}

/// One interval's output.
#[derive(Debug, Default)]
pub struct Flushed {
    pub metrics: Option<Batch>,
    pub logs: Option<Batch>,
    pub series: usize,
}

type ResourceKey = (Option<IpAddr>, String);
type MetricKey = (String, MetricType);

impl Flusher {
    pub fn new(options: FlushOptions, start_ns: u64) -> Self {
        Self {
            options,
            interval_start_ns: start_ns,
            gauges: HashMap::new(),
            counters: HashMap::new(),
        }
    }

    /// Merges the readers' intervals and builds the batches for the interval ending now.
    pub fn flush(&mut self, parts: Vec<Interval>, now_ns: u64) -> Flushed {
        let mut merged = SeriesMap::default();
        let mut records = Vec::new();
        for part in parts {
            records.extend(part.events);
            if merged.is_empty() {
                merged = part.series;
                continue;
            }
            for (key, series) in part.series {
                merge_into(&mut merged, key, series);
            }
        }
        let series = merged.len();
        let metrics = self.build_metrics(merged, now_ns);
        self.interval_start_ns = now_ns;
        Flushed {
            metrics,
            logs: build_logs(records),
            series,
        }
    }

    fn build_metrics(&mut self, merged: SeriesMap, now_ns: u64) -> Option<Batch> {
        let mut resources: BTreeMap<ResourceKey, BTreeMap<MetricKey, Metric>> = BTreeMap::new();
        let start_ns = self.interval_start_ns;
        for (key, series) in merged {
            let Some(view) = decode(&key) else { continue };
            let time_ns = series
                .timestamp
                .map_or(now_ns, |s| s.saturating_mul(1_000_000_000));
            let attributes = self.attributes(&view);
            let metric = resources
                .entry((view.source, view.container_id.to_string()))
                .or_default()
                .entry((view.name.to_string(), view.kind))
                .or_insert_with(|| Metric {
                    name: view.name.to_string(),
                    ..Default::default()
                });
            let point = Point {
                attributes,
                start_ns: start_ns.min(time_ns),
                time_ns,
            };
            match series.state {
                State::Counter(sum) => self.add_counter(metric, &key, sum, point),
                State::Gauge(gauge) => {
                    let previous = self.gauges.get(&key).map(|g| g.value);
                    let value = gauge.resolve(previous);
                    self.gauges.insert(
                        key,
                        Remembered {
                            value,
                            start_ns,
                            idle: 0,
                        },
                    );
                    add_gauge(
                        metric,
                        point.number(number_data_point::Value::AsDouble(value), false),
                    );
                }
                State::Set(members) => add_gauge(
                    metric,
                    point.number(number_data_point::Value::AsInt(members.len() as i64), false),
                ),
                State::Observed(observations) => {
                    self.add_observations(metric, view.kind, observations, point)
                }
            }
        }
        self.age();
        if resources.is_empty() {
            return None;
        }
        let resource_metrics = resources
            .into_iter()
            .map(|((source, container), metrics)| ResourceMetrics {
                resource: Some(resource(source, &container)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics: metrics.into_values().collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        Some(Batch::from_metrics(resource_metrics))
    }

    /// Forgets gauges and cumulative counters idle for too long.
    fn age(&mut self) {
        for map in [&mut self.gauges, &mut self.counters] {
            map.retain(|_, remembered| {
                remembered.idle += 1;
                remembered.idle <= IDLE_INTERVALS
            });
        }
    }

    fn attributes(&self, view: &KeyView<'_>) -> Vec<KeyValue> {
        let mut attributes: Vec<KeyValue> = view
            .tags
            .iter()
            .map(|(k, v)| string_attribute(k, v))
            .collect();
        if self.options.enable_metric_type && !view.tags.iter().any(|(k, _)| *k == "metric_type") {
            attributes.push(string_attribute("metric_type", view.kind.type_name()));
        }
        attributes
    }

    fn add_counter(&mut self, metric: &mut Metric, key: &[u8], sum: f64, mut point: Point) {
        let value = if self.options.monotonic_counters {
            let remembered = self.counters.entry(key.into()).or_insert(Remembered {
                value: 0.0,
                start_ns: point.start_ns,
                idle: 0,
            });
            remembered.value += sum;
            // `age` runs after this interval's points, so a series updated now ends at 1.
            remembered.idle = 0;
            point.start_ns = remembered.start_ns.min(point.time_ns);
            remembered.value
        } else {
            sum
        };
        let temporality = if self.options.monotonic_counters {
            AggregationTemporality::Cumulative
        } else {
            AggregationTemporality::Delta
        };
        let data = metric.data.get_or_insert_with(|| {
            metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: temporality as i32,
                is_monotonic: self.options.monotonic_counters,
            })
        });
        if let metric::Data::Sum(sum) = data {
            sum.data_points
                .push(point.number(number_data_point::Value::AsDouble(value), true));
        }
    }

    fn add_observations(
        &self,
        metric: &mut Metric,
        kind: MetricType,
        observations: Observations,
        point: Point,
    ) {
        match observations {
            Observations::Last { value, .. } => add_gauge(
                metric,
                point.number(number_data_point::Value::AsDouble(value), false),
            ),
            Observations::Summary(mut summary) => {
                let percentiles = self.percentiles(kind);
                let quantile_values = percentiles
                    .iter()
                    .map(|p| summary_data_point::ValueAtQuantile {
                        quantile: p / 100.0,
                        value: quantile(&mut summary.samples, p / 100.0),
                    })
                    .collect();
                let data = metric.data.get_or_insert_with(|| {
                    metric::Data::Summary(Summary {
                        data_points: Vec::new(),
                    })
                });
                if let metric::Data::Summary(s) = data {
                    s.data_points.push(SummaryDataPoint {
                        attributes: point.attributes,
                        start_time_unix_nano: point.start_ns,
                        time_unix_nano: point.time_ns,
                        count: summary.moments.count,
                        sum: summary.moments.sum,
                        quantile_values,
                        ..Default::default()
                    });
                }
            }
            Observations::Exponential(h) => {
                let data = metric.data.get_or_insert_with(|| {
                    metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: Vec::new(),
                        aggregation_temporality: AggregationTemporality::Delta as i32,
                    })
                });
                if let metric::Data::ExponentialHistogram(e) = data {
                    e.data_points.push(ExponentialHistogramDataPoint {
                        attributes: point.attributes,
                        start_time_unix_nano: point.start_ns,
                        time_unix_nano: point.time_ns,
                        count: h.count,
                        sum: Some(h.sum),
                        scale: h.scale,
                        zero_count: h.zero_count,
                        positive: Some(h.positive.to_proto()),
                        negative: Some(if h.negative.counts.is_empty() {
                            Buckets::default()
                        } else {
                            h.negative.to_proto()
                        }),
                        min: Some(h.min),
                        max: Some(h.max),
                        ..Default::default()
                    });
                }
            }
            Observations::Explicit(explicit) => {
                let bounds = self.bounds(kind);
                let data = metric.data.get_or_insert_with(|| {
                    metric::Data::Histogram(Histogram {
                        data_points: Vec::new(),
                        aggregation_temporality: AggregationTemporality::Delta as i32,
                    })
                });
                if let metric::Data::Histogram(h) = data {
                    h.data_points.push(HistogramDataPoint {
                        attributes: point.attributes,
                        start_time_unix_nano: point.start_ns,
                        time_unix_nano: point.time_ns,
                        count: explicit.moments.count,
                        sum: Some(explicit.moments.sum),
                        bucket_counts: explicit.counts,
                        explicit_bounds: bounds,
                        min: Some(explicit.moments.min),
                        max: Some(explicit.moments.max),
                        ..Default::default()
                    });
                }
            }
        }
    }

    fn observer(&self, kind: MetricType) -> Option<&Observer> {
        let observers = &self.options.observers;
        match kind {
            MetricType::Timer => Some(&observers.timer),
            MetricType::Histogram => Some(&observers.histogram),
            MetricType::Distribution => Some(&observers.distribution),
            _ => None,
        }
    }

    fn percentiles(&self, kind: MetricType) -> Vec<f64> {
        match self.observer(kind) {
            Some(Observer::Summary { percentiles }) => percentiles.clone(),
            _ => Vec::new(),
        }
    }

    fn bounds(&self, kind: MetricType) -> Vec<f64> {
        match self.observer(kind) {
            Some(Observer::Explicit { bounds }) => bounds.clone(),
            _ => Vec::new(),
        }
    }
}

/// The common parts of a data point.
struct Point {
    attributes: Vec<KeyValue>,
    start_ns: u64,
    time_ns: u64,
}

impl Point {
    fn number(self, value: number_data_point::Value, with_start: bool) -> NumberDataPoint {
        NumberDataPoint {
            attributes: self.attributes,
            start_time_unix_nano: if with_start { self.start_ns } else { 0 },
            time_unix_nano: self.time_ns,
            value: Some(value),
            ..Default::default()
        }
    }
}

fn add_gauge(metric: &mut Metric, point: NumberDataPoint) {
    let data = metric.data.get_or_insert_with(|| {
        metric::Data::Gauge(Gauge {
            data_points: Vec::new(),
        })
    });
    if let metric::Data::Gauge(gauge) = data {
        gauge.data_points.push(point);
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn resource(source: Option<IpAddr>, container: &str) -> Resource {
    let mut attributes = Vec::new();
    if let Some(ip) = source {
        attributes.push(string_attribute("server.address", &ip.to_string()));
    }
    if !container.is_empty() {
        attributes.push(string_attribute("container.id", container));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

fn build_logs(records: Vec<weir_proto::logs::v1::LogRecord>) -> Option<Batch> {
    if records.is_empty() {
        return None;
    }
    Some(Batch::from_logs(vec![ResourceLogs {
        resource: Some(Resource::default()),
        scope_logs: vec![ScopeLogs {
            scope: Some(scope()),
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    }]))
}

/// Merges one reader's `series` into the interval's map.
fn merge_into(map: &mut SeriesMap, key: Box<[u8]>, series: Series) {
    match map.get_mut(&key) {
        Some(existing) => existing.merge(series),
        None => {
            map.insert(key, series);
        }
    }
}
