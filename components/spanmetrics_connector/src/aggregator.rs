//! The aggregation state: per resource, one `calls` sum and one `duration` histogram per
//! set of dimension values, and how a flush turns it into a metrics batch.
//!
//! Spans are read through views, so an arriving wire batch is never decoded. A series is
//! found by a key: the dimension values, each written with a type tag and its length, so
//! two different attribute sets never share a key. Resources are identified the same way
//! from their attributes (or only `resource_metrics_key_attributes`).
//!
//! Temporality follows the Collector: cumulative keeps every series and its start time
//! across flushes (a resource is forgotten after `metrics_expiration` without spans, or
//! when `resource_metrics_cache_size` is exceeded); delta empties the state at each flush
//! and starts a series' next point where its last one ended. Exemplars belong to one flush.

use std::collections::HashMap;

use weir_api::batch::build::{
    AttributeList, Exemplar, ExponentialHistogramPoint, HistogramPoint, MetricBuilder,
    MetricsBuilder, NumberPoint,
};
use weir_api::batch::view::{
    Attributes, NumberValue, ResourceView, ScopeView, SpanView, Temporality, ValueRef,
};
use weir_api::batch::OwnedValue;

use crate::config::{
    AggregationTemporality, Dimension, HistogramKind, SpanMetricsConfig, SERVICE_NAME, SPAN_KIND,
    SPAN_NAME, STATUS_CODE,
};
use crate::histogram::{Explicit, Exponential};

/// The attribute marking the overflow series (the OpenTelemetry SDKs' name).
pub const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";
/// The scope of the metrics emitted (the Collector's).
pub const SCOPE_NAME: &str = "spanmetricsconnector";
const SCOPE_NAME_ATTRIBUTE: &str = "span.instrumentation.scope.name";
const SCOPE_VERSION_ATTRIBUTE: &str = "span.instrumentation.scope.version";
/// The overflow series' key: no real key starts with this tag.
const OVERFLOW_KEY: &[u8] = &[0xff];

/// What one `consume` did, for the connector's counters and acknowledgements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consumed {
    /// Spans counted into some series.
    pub aggregated: u64,
    /// Spans of resources without `service.name` (not counted, as in the Collector).
    pub no_service_name: u64,
    /// Spans that went to an overflow series.
    pub overflowed: u64,
    /// Resources forgotten to make room (`resource_metrics_cache_size`).
    pub evicted: u64,
}

/// What one flush did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub batch: Option<weir_api::Batch>,
    /// Resources forgotten after `metrics_expiration`.
    pub expired: u64,
}

/// One exemplar: the span it came from and its duration.
#[derive(Clone, Debug, PartialEq)]
struct ExemplarRecord {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    value: f64,
}

#[derive(Clone, Debug)]
enum Histogram {
    Explicit(Explicit),
    Exponential(Exponential),
}

/// One series: its attributes, when it started, and what it holds.
#[derive(Clone, Debug)]
struct Series<T> {
    attributes: AttributeList,
    start_unix_nano: u64,
    value: T,
    exemplars: Vec<ExemplarRecord>,
}

/// Series of one metric, in creation order, found by key.
#[derive(Clone, Debug)]
struct SeriesMap<T> {
    index: HashMap<Box<[u8]>, usize>,
    series: Vec<(Box<[u8]>, Series<T>)>,
}

impl<T> Default for SeriesMap<T> {
    fn default() -> Self {
        Self {
            index: HashMap::new(),
            series: Vec::new(),
        }
    }
}

impl<T> SeriesMap<T> {
    /// The series for `key`, created with `make` when new. Past `limit` series (0 = no
    /// limit) a new key goes to the overflow series instead; the bool says so.
    fn get_or_create(
        &mut self,
        key: &[u8],
        limit: usize,
        attributes: impl FnOnce() -> AttributeList,
        start_unix_nano: u64,
        make: impl FnOnce() -> T,
    ) -> (&mut Series<T>, bool) {
        if let Some(&at) = self.index.get(key) {
            return (&mut self.series[at].1, false);
        }
        let overflow = limit > 0 && self.index.len() >= limit;
        let (key, attributes) = if overflow {
            if let Some(&at) = self.index.get(OVERFLOW_KEY) {
                return (&mut self.series[at].1, true);
            }
            let mut list = AttributeList::with_capacity(1);
            list.push(OVERFLOW_ATTRIBUTE, true);
            (OVERFLOW_KEY, list)
        } else {
            (key, attributes())
        };
        let key: Box<[u8]> = key.into();
        self.index.insert(key.clone(), self.series.len());
        self.series.push((
            key,
            Series {
                attributes,
                start_unix_nano,
                value: make(),
                exemplars: Vec::new(),
            },
        ));
        let last = self.series.len() - 1;
        (&mut self.series[last].1, overflow)
    }

    fn len(&self) -> usize {
        self.series.len()
    }
}

/// The series of one resource.
#[derive(Debug)]
struct ResourceState {
    attributes: AttributeList,
    /// Creation order, for a stable output order.
    seq: u64,
    /// Recency, for `resource_metrics_cache_size`.
    touched: u64,
    last_seen_unix_nano: u64,
    calls: SeriesMap<u64>,
    durations: SeriesMap<Histogram>,
}

/// The aggregation state of one connector.
#[derive(Debug)]
pub struct Aggregator {
    config: SpanMetricsConfig,
    histogram: HistogramKind,
    calls_name: String,
    duration_name: String,
    limit: usize,
    calls_dimensions: Vec<Dimension>,
    duration_dimensions: Vec<Dimension>,
    resources: HashMap<Box<[u8]>, ResourceState>,
    next_seq: u64,
    /// Delta: where each series' next point starts (its last flush time), and recency.
    last_delta: HashMap<Box<[u8]>, (u64, u64)>,
    flushes: u64,
    key: Vec<u8>,
}

/// Writes a value with a type tag and lengths, so distinct values never write the same.
fn encode_value(value: ValueRef<'_>, out: &mut Vec<u8>) {
    fn bytes(tag: u8, b: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    }
    match value {
        ValueRef::Empty => out.push(0),
        ValueRef::Str(s) => bytes(1, s.as_bytes(), out),
        ValueRef::Bool(b) => out.extend_from_slice(&[2, u8::from(b)]),
        ValueRef::Int(i) => {
            out.push(3);
            out.extend_from_slice(&i.to_le_bytes());
        }
        ValueRef::Double(d) => {
            out.push(4);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        ValueRef::Bytes(b) => bytes(5, b, out),
        ValueRef::Array(a) => {
            out.push(6);
            out.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for v in a.iter() {
                encode_value(v, out);
            }
        }
        ValueRef::KvList(kv) => {
            out.push(7);
            out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
            for (k, v) in kv.iter() {
                bytes(1, k.as_bytes(), out);
                encode_value(v, out);
            }
        }
    }
}

/// A dimension's value: the span's attribute, else the resource's, else the default.
fn dimension_value<'a>(
    dimension: &'a Dimension,
    span: &Attributes<'a>,
    resource: &Attributes<'a>,
) -> Option<ValueRef<'a>> {
    span.get(&dimension.name)
        .or_else(|| resource.get(&dimension.name))
        .or_else(|| dimension.default.as_deref().map(ValueRef::Str))
}

/// What one span contributes to keys and attributes.
struct SpanFacts<'a> {
    service: &'a str,
    span: SpanView<'a>,
    span_attributes: Attributes<'a>,
    resource_attributes: Attributes<'a>,
    scope: Option<(&'a str, &'a str)>,
}

impl Aggregator {
    pub fn new(config: SpanMetricsConfig) -> Self {
        let histogram = config.histogram_kind();
        let calls_dimensions = config
            .dimensions
            .iter()
            .chain(&config.calls_dimensions)
            .cloned()
            .collect();
        let duration_dimensions = config
            .dimensions
            .iter()
            .chain(&config.histogram.dimensions)
            .cloned()
            .collect();
        Self {
            calls_name: config.metric_name("calls"),
            duration_name: config.metric_name("duration"),
            limit: config.cardinality_limit(),
            histogram,
            calls_dimensions,
            duration_dimensions,
            config,
            resources: HashMap::new(),
            next_seq: 0,
            last_delta: HashMap::new(),
            flushes: 0,
            key: Vec::with_capacity(256),
        }
    }

    /// Series held now (calls and duration).
    pub fn series(&self) -> usize {
        self.resources
            .values()
            .map(|r| r.calls.len() + r.durations.len())
            .sum()
    }

    /// Resources held now.
    pub fn resources(&self) -> usize {
        self.resources.len()
    }

    /// Counts every span of a traces batch.
    pub fn consume(&mut self, batch: &weir_api::Batch, now_unix_nano: u64) -> Consumed {
        let mut done = Consumed::default();
        for resource_spans in batch.traces() {
            let resource = resource_spans.resource();
            let resource_attributes = resource.attributes();
            let Some(service) = resource_attributes.get(SERVICE_NAME) else {
                done.no_service_name += resource_spans
                    .scopes()
                    .map(|s| s.spans().count() as u64)
                    .sum::<u64>();
                continue;
            };
            // The Collector takes the string value; another type reads as "".
            let service = service.as_str().unwrap_or("");
            let resource_key = self.resource_key(resource);
            done.evicted += self.ensure_resource(&resource_key, resource, now_unix_nano);
            for scope_spans in resource_spans.scopes() {
                let scope = scope_spans.scope();
                let scope = self.included_scope(scope);
                for span in scope_spans.spans() {
                    let facts = SpanFacts {
                        service,
                        span,
                        span_attributes: span.attributes(),
                        resource_attributes,
                        scope,
                    };
                    if self.record(&resource_key, &facts, now_unix_nano) {
                        done.overflowed += 1;
                    }
                    done.aggregated += 1;
                }
            }
        }
        done
    }

    /// The scope's name and version when its spans are to carry them.
    fn included_scope<'a>(&self, scope: ScopeView<'a>) -> Option<(&'a str, &'a str)> {
        let name = scope.name();
        (!name.is_empty()
            && self
                .config
                .include_instrumentation_scope
                .iter()
                .any(|s| s == name))
        .then(|| (name, scope.version()))
    }

    fn resource_key(&self, resource: ResourceView<'_>) -> Box<[u8]> {
        let keys = &self.config.resource_metrics_key_attributes;
        let mut pairs: Vec<(&str, ValueRef<'_>)> = resource
            .attributes()
            .iter()
            .filter(|(k, _)| keys.is_empty() || keys.iter().any(|want| want == k))
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs.dedup_by(|a, b| a.0 == b.0);
        let mut key = Vec::new();
        for (k, v) in pairs {
            encode_value(ValueRef::Str(k), &mut key);
            encode_value(v, &mut key);
        }
        key.into()
    }

    /// Makes sure the resource has a state, forgetting the least recently seen one if the
    /// cache is full; returns how many were forgotten.
    fn ensure_resource(&mut self, key: &[u8], resource: ResourceView<'_>, now: u64) -> u64 {
        let touched = self.next_seq;
        self.next_seq += 1;
        if let Some(state) = self.resources.get_mut(key) {
            state.touched = touched;
            state.last_seen_unix_nano = now;
            return 0;
        }
        let mut evicted = 0;
        while self.resources.len() >= self.config.resource_metrics_cache_size {
            let oldest = self
                .resources
                .iter()
                .min_by_key(|(_, state)| state.touched)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.resources.remove(&k);
                    evicted += 1;
                }
                None => break,
            }
        }
        let attributes: AttributeList = resource
            .attributes()
            .iter()
            .map(|(k, v)| (k, OwnedValue::from(v)))
            .collect();
        self.resources.insert(
            key.into(),
            ResourceState {
                attributes,
                seq: touched,
                touched,
                last_seen_unix_nano: now,
                calls: SeriesMap::default(),
                durations: SeriesMap::default(),
            },
        );
        evicted
    }

    /// Writes the key of a span's series over `dimensions` into `self.key`.
    fn write_key(&mut self, facts: &SpanFacts<'_>, dimensions: &[Dimension]) {
        let config = &self.config;
        let key = &mut self.key;
        key.clear();
        if config.keeps(SERVICE_NAME) {
            encode_value(ValueRef::Str(facts.service), key);
        }
        if config.keeps(SPAN_NAME) {
            encode_value(ValueRef::Str(facts.span.name()), key);
        }
        // By name, as the attribute is written: kinds and codes OTLP does not name share
        // the `..._UNSPECIFIED`/`..._UNSET` series.
        if config.keeps(SPAN_KIND) {
            encode_value(ValueRef::Str(facts.span.kind().name()), key);
        }
        if config.keeps(STATUS_CODE) {
            encode_value(ValueRef::Str(facts.span.status_code().name()), key);
        }
        for dimension in dimensions {
            match dimension_value(
                dimension,
                &facts.span_attributes,
                &facts.resource_attributes,
            ) {
                Some(value) => encode_value(value, key),
                // Absent and present-but-empty are different series.
                None => key.push(0xfe),
            }
        }
        if let Some((name, version)) = facts.scope {
            encode_value(ValueRef::Str(name), key);
            encode_value(ValueRef::Str(version), key);
        }
    }

    /// The attributes of a span's series over `dimensions`.
    fn attributes(
        config: &SpanMetricsConfig,
        facts: &SpanFacts<'_>,
        dimensions: &[Dimension],
    ) -> AttributeList {
        let mut list = AttributeList::with_capacity(4 + dimensions.len());
        if config.keeps(SERVICE_NAME) {
            list.push(SERVICE_NAME, facts.service);
        }
        if config.keeps(SPAN_NAME) {
            list.push(SPAN_NAME, facts.span.name());
        }
        if config.keeps(SPAN_KIND) {
            list.push(SPAN_KIND, facts.span.kind().name());
        }
        if config.keeps(STATUS_CODE) {
            list.push(STATUS_CODE, facts.span.status_code().name());
        }
        for dimension in dimensions {
            if let Some(value) = dimension_value(
                dimension,
                &facts.span_attributes,
                &facts.resource_attributes,
            ) {
                list.push(dimension.name.as_str(), OwnedValue::from(value));
            }
        }
        if let Some((name, version)) = facts.scope {
            list.push(SCOPE_NAME_ATTRIBUTE, name);
            if !version.is_empty() {
                list.push(SCOPE_VERSION_ATTRIBUTE, version);
            }
        }
        list
    }

    /// Counts one span; true when it went to an overflow series.
    fn record(&mut self, resource_key: &[u8], facts: &SpanFacts<'_>, now: u64) -> bool {
        let span = facts.span;
        let duration = span.duration_nanos() as f64 / self.config.histogram.unit.nanos();
        let exemplar = (self.config.exemplars.enabled && !span.trace_id().is_empty()).then(|| {
            ExemplarRecord {
                trace_id: span.trace_id().to_vec(),
                span_id: span.span_id().to_vec(),
                value: duration,
            }
        });
        let max_exemplars = self.config.exemplars.max_per_data_point;
        let limit = self.limit;

        let calls_dimensions = std::mem::take(&mut self.calls_dimensions);
        self.write_key(facts, &calls_dimensions);
        let key = std::mem::take(&mut self.key);
        let config = &self.config;
        let Some(state) = self.resources.get_mut(resource_key) else {
            self.calls_dimensions = calls_dimensions;
            self.key = key;
            return false;
        };
        let (series, mut overflowed) = state.calls.get_or_create(
            &key,
            limit,
            || Self::attributes(config, facts, &calls_dimensions),
            now,
            || 0,
        );
        series.value += 1;
        if let Some(exemplar) = &exemplar {
            if series.exemplars.len() < max_exemplars {
                series.exemplars.push(exemplar.clone());
            }
        }
        self.calls_dimensions = calls_dimensions;
        self.key = key;

        let histogram = match &self.histogram {
            HistogramKind::Disabled => return overflowed,
            HistogramKind::Explicit(bounds) => Histogram::Explicit(Explicit::new(bounds.len())),
            HistogramKind::Exponential(size) => Histogram::Exponential(Exponential::new(*size)),
        };
        let duration_dimensions = std::mem::take(&mut self.duration_dimensions);
        self.write_key(facts, &duration_dimensions);
        let key = std::mem::take(&mut self.key);
        let config = &self.config;
        if let Some(state) = self.resources.get_mut(resource_key) {
            let (series, overflow) = state.durations.get_or_create(
                &key,
                limit,
                || Self::attributes(config, facts, &duration_dimensions),
                now,
                || histogram,
            );
            overflowed |= overflow;
            match (&mut series.value, &self.histogram) {
                (Histogram::Explicit(h), HistogramKind::Explicit(bounds)) => {
                    h.record(bounds, duration)
                }
                (Histogram::Exponential(h), _) => h.record(duration),
                _ => {}
            }
            if let Some(exemplar) = exemplar {
                if series.exemplars.len() < max_exemplars {
                    series.exemplars.push(exemplar);
                }
            }
        }
        self.duration_dimensions = duration_dimensions;
        self.key = key;
        overflowed
    }

    /// Builds the metrics of every series held and resets per the temporality.
    pub fn flush(&mut self, now_unix_nano: u64) -> Flushed {
        let mut flushed = Flushed::default();
        let delta = self.config.aggregation_temporality == AggregationTemporality::Delta;
        let temporality = if delta {
            Temporality::Delta
        } else {
            Temporality::Cumulative
        };
        self.flushes += 1;
        let flush_stamp = self.flushes;
        let mut order: Vec<(&Box<[u8]>, &ResourceState)> = self.resources.iter().collect();
        order.sort_by_key(|(_, state)| state.seq);
        let mut builder = MetricsBuilder::new();
        let last_delta = &mut self.last_delta;
        let mut start_of = |resource: &[u8], metric: u8, series: &[u8], created: u64| -> u64 {
            if !delta {
                return created;
            }
            let mut key = Vec::with_capacity(resource.len() + series.len() + 9);
            key.extend_from_slice(&(resource.len() as u64).to_le_bytes());
            key.extend_from_slice(resource);
            key.push(metric);
            key.extend_from_slice(series);
            let key: Box<[u8]> = key.into();
            let start = last_delta.get(&key).map_or(created, |(ts, _)| *ts);
            last_delta.insert(key, (now_unix_nano, flush_stamp));
            start
        };
        for (resource_key, state) in order {
            let mut resource = builder.resource_with(state.attributes.clone());
            let mut scope = resource.scope(SCOPE_NAME, "");
            let mut calls = MetricBuilder::sum(self.calls_name.as_str(), temporality, true);
            calls.reserve_points(state.calls.len());
            for (key, series) in &state.calls.series {
                let start = start_of(resource_key, 0, key, series.start_unix_nano);
                let mut point = NumberPoint::int(series.value as i64)
                    .attribute_list(series.attributes.clone())
                    .start_time(start)
                    .time(now_unix_nano);
                for e in &series.exemplars {
                    point = point.exemplar(exemplar(e, now_unix_nano));
                }
                calls.push_number(point);
            }
            scope.push(calls);
            if self.histogram == HistogramKind::Disabled {
                continue;
            }
            let mut duration = match &self.histogram {
                HistogramKind::Exponential(_) => {
                    MetricBuilder::exponential_histogram(self.duration_name.as_str(), temporality)
                }
                _ => MetricBuilder::histogram(self.duration_name.as_str(), temporality),
            }
            .unit(self.config.histogram.unit.as_str());
            duration.reserve_points(state.durations.len());
            for (key, series) in &state.durations.series {
                let start = start_of(resource_key, 1, key, series.start_unix_nano);
                match (&series.value, &self.histogram) {
                    (Histogram::Explicit(h), HistogramKind::Explicit(bounds)) => {
                        let mut point = HistogramPoint::new(
                            h.count,
                            Some(h.sum),
                            bounds.clone(),
                            h.counts.clone(),
                        )
                        .attribute_list(series.attributes.clone())
                        .start_time(start)
                        .time(now_unix_nano);
                        for e in &series.exemplars {
                            point = point.exemplar(exemplar(e, now_unix_nano));
                        }
                        duration.push_histogram(point);
                    }
                    (Histogram::Exponential(h), _) => {
                        let mut point = ExponentialHistogramPoint::new(
                            h.scale,
                            h.count,
                            Some(h.sum),
                            h.zero_count,
                        )
                        .positive(h.offset, h.counts.clone())
                        .attribute_list(series.attributes.clone())
                        .start_time(start)
                        .time(now_unix_nano);
                        if h.count > 0 {
                            point = point.min(h.min).max(h.max);
                        }
                        // The builder has no exemplars for exponential points yet.
                        duration.push_exponential_histogram(point);
                    }
                    _ => {}
                }
            }
            scope.push(duration);
        }
        if !builder.is_empty() {
            flushed.batch = Some(builder.build());
        }
        if delta {
            self.resources.clear();
            let cap = self.config.metric_timestamp_cache_size;
            if self.last_delta.len() > cap {
                let mut stamps: Vec<(Box<[u8]>, u64)> = self
                    .last_delta
                    .iter()
                    .map(|(k, (_, stamp))| (k.clone(), *stamp))
                    .collect();
                stamps.sort_by_key(|(_, stamp)| *stamp);
                let excess = stamps.len() - cap;
                for (key, _) in stamps.into_iter().take(excess) {
                    self.last_delta.remove(&key);
                }
            }
        } else {
            let expiration = self.config.metrics_expiration.as_nanos() as u64;
            let before = self.resources.len();
            if expiration > 0 {
                self.resources.retain(|_, state| {
                    now_unix_nano.saturating_sub(state.last_seen_unix_nano) < expiration
                });
            }
            flushed.expired = (before - self.resources.len()) as u64;
            for state in self.resources.values_mut() {
                for (_, series) in &mut state.calls.series {
                    series.exemplars.clear();
                }
                for (_, series) in &mut state.durations.series {
                    series.exemplars.clear();
                }
            }
        }
        flushed
    }
}

fn exemplar(record: &ExemplarRecord, now_unix_nano: u64) -> Exemplar {
    Exemplar::new(NumberValue::Double(record.value))
        .trace_id(record.trace_id.clone())
        .span_id(record.span_id.clone())
        .time(now_unix_nano)
}
