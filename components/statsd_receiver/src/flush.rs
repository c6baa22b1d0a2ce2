//! The end of an interval: merge every reader's series, resolve gauges and cumulative
//! counters against what earlier intervals left, and build OTLP metrics.
//!
//! Output shape: one ResourceMetrics per (client IP when `enable_ip_only_aggregation`,
//! DogStatsD container id), one scope `weir/statsdreceiver`, one Metric per
//! (name, type) with one data point per tag set. Timestamps: delta points start at the
//! interval's start and end at the flush; cumulative counters start when the series
//! was first seen; a DogStatsD `T` timestamp becomes the point time.
//!
//! In steps: a flush of many series takes milliseconds of CPU. Where it shares a core
//! with a reader (one core for the whole process), a long stretch would keep the reader
//! off the core for a scheduler slice while datagrams pile up in the socket. The merge
//! and the build loops yield the CPU every [`STEP`] of work (`Pacer`), so a reader
//! with datagrams waiting runs in between; on an idle core the yield returns at once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use weir_api::batch::build::{
    AttributeList, ExponentialHistogramPoint, HistogramPoint, LogRecordBuilder, LogsBuilder,
    MetricBuilder, MetricsBuilder, NumberPoint, SummaryPoint,
};
use weir_api::batch::view::Temporality;
use weir_api::Batch;

use crate::aggregator::{Interval, LineMap, SeriesMap};
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

/// The longest stretch of flush work between two yields.
pub const STEP: Duration = Duration::from_micros(200);

/// Yields the thread every [`STEP`] of work; the clock is read every 64 calls.
struct Pacer {
    since: Instant,
    calls: u32,
}

impl Pacer {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            calls: 0,
        }
    }

    fn step(&mut self) {
        self.calls = self.calls.wrapping_add(1);
        if !self.calls.is_multiple_of(64) || self.since.elapsed() < STEP {
            return;
        }
        std::thread::yield_now();
        self.since = Instant::now();
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
    /// The readers' maps, emptied, to give back ([`crate::aggregator::Aggregator::recycle`]).
    pub recycled: Vec<LineMap>,
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

    /// Merges the readers' intervals by series key and builds the batches for the
    /// interval ending now. The readers' maps come back emptied in `recycled`.
    pub fn flush(&mut self, parts: Vec<Interval>, now_ns: u64) -> Flushed {
        let entries = parts.iter().map(|part| part.lines.len()).sum();
        let mut merged = SeriesMap::with_capacity_and_hasher(entries, Default::default());
        let mut records = Vec::new();
        let mut recycled = Vec::with_capacity(parts.len());
        let mut pacer = Pacer::new();
        for mut part in parts {
            records.extend(part.events);
            for (_, entry) in part.lines.drain() {
                merge_into(&mut merged, entry.key, entry.series);
                pacer.step();
            }
            recycled.push(part.lines);
        }
        let series = merged.len();
        let metrics = self.build_metrics(merged, now_ns, &mut pacer);
        self.interval_start_ns = now_ns;
        Flushed {
            metrics,
            logs: build_logs(records),
            series,
            recycled,
        }
    }

    fn build_metrics(
        &mut self,
        merged: SeriesMap,
        now_ns: u64,
        pacer: &mut Pacer,
    ) -> Option<Batch> {
        let mut resources: BTreeMap<ResourceKey, BTreeMap<MetricKey, Option<MetricBuilder>>> =
            BTreeMap::new();
        let start_ns = self.interval_start_ns;
        for (key, series) in merged {
            pacer.step();
            let Some(view) = decode(&key) else { continue };
            let time_ns = series
                .timestamp
                .map_or(now_ns, |s| s.saturating_mul(1_000_000_000));
            let attributes = self.attributes(&view);
            let slot = Slot {
                name: view.name,
                metric: resources
                    .entry((view.source, view.container_id.to_string()))
                    .or_default()
                    .entry((view.name.to_string(), view.kind))
                    .or_default(),
            };
            let point = Point {
                attributes,
                start_ns: start_ns.min(time_ns),
                time_ns,
            };
            match series.state {
                State::Counter(sum) => self.add_counter(slot, &key, sum, point),
                State::Gauge(gauge) => {
                    let previous = self.gauges.get(&key).map(|g| g.value);
                    let value = gauge.resolve(previous);
                    slot.gauge()
                        .push_number(point.number(NumberPoint::double(value), false));
                    self.gauges.insert(
                        key,
                        Remembered {
                            value,
                            start_ns,
                            idle: 0,
                        },
                    );
                }
                State::Set(members) => {
                    slot.gauge()
                        .push_number(point.number(NumberPoint::int(members.len() as i64), false));
                }
                State::Observed(observations) => {
                    self.add_observations(slot, view.kind, observations, point)
                }
            }
        }
        self.age();
        if resources.is_empty() {
            return None;
        }
        let mut batch = MetricsBuilder::new();
        for ((source, container), metrics) in resources {
            let mut resource = batch.resource_with(resource_attributes(source, &container));
            let mut scope = resource.scope(SCOPE_NAME, env!("CARGO_PKG_VERSION"));
            for metric in metrics.into_values().flatten() {
                scope.push(metric);
            }
        }
        Some(batch.build())
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

    fn attributes(&self, view: &KeyView<'_>) -> AttributeList {
        let mut attributes: AttributeList = view.tags.iter().map(|&(k, v)| (k, v)).collect();
        if self.options.enable_metric_type && !view.tags.iter().any(|(k, _)| *k == "metric_type") {
            attributes.push("metric_type", view.kind.type_name());
        }
        attributes
    }

    fn add_counter(&mut self, slot: Slot<'_>, key: &[u8], sum: f64, mut point: Point) {
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
        let monotonic = self.options.monotonic_counters;
        let temporality = if monotonic {
            Temporality::Cumulative
        } else {
            Temporality::Delta
        };
        slot.get(|name| MetricBuilder::sum(name, temporality, monotonic))
            .push_number(point.number(NumberPoint::double(value), true));
    }

    fn add_observations(
        &self,
        slot: Slot<'_>,
        kind: MetricType,
        observations: Observations,
        point: Point,
    ) {
        match observations {
            Observations::Last { value, .. } => {
                slot.gauge()
                    .push_number(point.number(NumberPoint::double(value), false));
            }
            Observations::Summary(mut summary) => {
                let percentiles = self.percentiles(kind);
                let quantiles = percentiles
                    .iter()
                    .map(|p| (p / 100.0, quantile(&mut summary.samples, p / 100.0)));
                let summary_point =
                    SummaryPoint::new(summary.moments.count, summary.moments.sum, quantiles)
                        .attribute_list(point.attributes)
                        .start_time(point.start_ns)
                        .time(point.time_ns);
                slot.get(MetricBuilder::summary).push_summary(summary_point);
            }
            Observations::Exponential(h) => {
                let negative = if h.negative.counts.is_empty() {
                    (0, Vec::new())
                } else {
                    (h.negative.offset, h.negative.counts)
                };
                let exp_point =
                    ExponentialHistogramPoint::new(h.scale, h.count, Some(h.sum), h.zero_count)
                        .attribute_list(point.attributes)
                        .start_time(point.start_ns)
                        .time(point.time_ns)
                        .positive(h.positive.offset, h.positive.counts)
                        .negative(negative.0, negative.1)
                        .min(h.min)
                        .max(h.max);
                slot.get(|name| MetricBuilder::exponential_histogram(name, Temporality::Delta))
                    .push_exponential_histogram(exp_point);
            }
            Observations::Explicit(explicit) => {
                let bounds = self.bounds(kind);
                let histogram_point = HistogramPoint::new(
                    explicit.moments.count,
                    Some(explicit.moments.sum),
                    bounds,
                    explicit.counts,
                )
                .attribute_list(point.attributes)
                .start_time(point.start_ns)
                .time(point.time_ns)
                .min(explicit.moments.min)
                .max(explicit.moments.max);
                slot.get(|name| MetricBuilder::histogram(name, Temporality::Delta))
                    .push_histogram(histogram_point);
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
    attributes: AttributeList,
    start_ns: u64,
    time_ns: u64,
}

impl Point {
    fn number(self, point: NumberPoint, with_start: bool) -> NumberPoint {
        let point = point.attribute_list(self.attributes).time(self.time_ns);
        if with_start {
            point.start_time(self.start_ns)
        } else {
            point
        }
    }
}

/// Where one (name, type) metric of a resource goes. Its type is set by the first point,
/// so the builder is made then.
struct Slot<'a> {
    name: &'a str,
    metric: &'a mut Option<MetricBuilder>,
}

impl<'a> Slot<'a> {
    fn get(self, make: impl FnOnce(String) -> MetricBuilder) -> &'a mut MetricBuilder {
        let name = self.name;
        self.metric.get_or_insert_with(|| make(name.to_string()))
    }

    fn gauge(self) -> &'a mut MetricBuilder {
        self.get(MetricBuilder::gauge)
    }
}

fn resource_attributes(source: Option<IpAddr>, container: &str) -> AttributeList {
    let mut attributes = AttributeList::new();
    if let Some(ip) = source {
        attributes.push("server.address", ip.to_string());
    }
    if !container.is_empty() {
        attributes.push("container.id", container);
    }
    attributes
}

fn build_logs(records: Vec<LogRecordBuilder>) -> Option<Batch> {
    if records.is_empty() {
        return None;
    }
    let mut batch = LogsBuilder::new();
    let mut resource = batch.resource_with(AttributeList::new());
    let mut scope = resource.scope(SCOPE_NAME, env!("CARGO_PKG_VERSION"));
    scope.reserve(records.len());
    for record in records {
        scope.push(record);
    }
    Some(batch.build())
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
