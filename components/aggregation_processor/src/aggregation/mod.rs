//! The `aggregation` processor: vmagent's stream aggregation inside the pipeline.
//!
//! Each rule picks points (`match`), groups them into output series by the attributes it
//! keeps (`by`, point attributes first, then resource attributes) or drops
//! (`without`), and emits each output once per `interval`, at the interval's boundary
//! (aligned to wall-clock multiples, like vmagent). Points are assigned to the interval
//! in which they arrive, as vmagent does by default.
//!
//! Counter outputs (`total`, `increase`) add up increases: a delta sum's value, or the
//! difference between a cumulative input's point and its previous one, with resets
//! (value down, later start time) counted from zero — the shared
//! `weir_streams::CumulativeToDelta`. The first point of an input series is its
//! baseline unless the series started after Weir did (OTLP start times say so), in which
//! case its whole value is new. Histograms merge the same way, by their increases.
//!
//! The processor reads the batch once through views; when no point is consumed (no
//! match, or `keep_input: true`) the batch leaves untouched, otherwise the consumed
//! points are removed with one `retain_data_points` that replays the decisions.

pub mod config;
mod series;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_api::batch::build::AttributeList;
use weir_api::batch::view::{Attributes, MetricView, ResourceView, ScopeView, Temporality};
use weir_api::batch::{OwnedValue, PointView};
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::{Batch, Processor, Signal};
use weir_ottl::Item;
use weir_streams::delta::unix_now;
use weir_streams::key::{hash_value, hasher, pair_hash};
use weir_streams::{
    CumulativeToDelta, ExplicitHistogram, ExponentialHistogram, Initial, NotEmitted, StreamTable,
};

use crate::emit::{origin_key, Descriptor, Emitter, Interner, Kind, Origin, Point};
use crate::ticker::Ticker;
pub use config::{AggregationConfig, Matcher, Output, RuleConfig};
use series::{Contribution, Merged, OutputSeries};

/// Drop and creation reasons counted by the processor.
pub const AGGREGATED: &str = "aggregated";
pub const OUTPUT_SERIES_LIMIT: &str = "output_series_limit";
pub const INPUT_SERIES_LIMIT: &str = "input_series_limit";
pub const OUT_OF_ORDER: &str = "out_of_order";
pub const LAYOUT_MISMATCH: &str = "histogram_layout_mismatch";

/// The scope of emitted aggregates.
pub const SCOPE_NAME: &str = "weir/aggregation";

#[derive(Debug)]
enum Grouping {
    /// Keep these keys (sorted).
    By(Vec<String>),
    /// Keep everything but these keys.
    Without(Vec<String>),
}

#[derive(Debug)]
struct Rule {
    index: usize,
    names: Vec<String>,
    regexes: Vec<regex::Regex>,
    conditions: Vec<weir_ottl::Condition>,
    grouping: Grouping,
    /// `_by_a_b` / `_without_a` / empty, for output names.
    naming: String,
    interval_text: String,
    outputs: Vec<Output>,
    keep_input: bool,
    output_name: Option<String>,
    ticker: Ticker,
    dedup: Option<Ticker>,
    /// Pending deduplicated samples, by input key.
    pending: HashMap<u64, (u64, Sample)>,
    /// Output names per input metric name.
    output_names: HashMap<String, Arc<Vec<String>>>,
    wants_increase: bool,
    keep_values: bool,
}

/// A point's value, owned, for deduplication and contribution.
#[derive(Debug, Clone)]
enum Value {
    Number(f64),
    Histogram(Merged),
}

#[derive(Debug, Clone)]
struct Sample {
    start: u64,
    time: u64,
    /// Delta values are increases as they are; others go through the input state.
    delta: bool,
    monotonic: bool,
    value: Value,
}

impl Rule {
    fn new(index: usize, c: &RuleConfig, now: Instant) -> Self {
        let (mut names, mut regexes, mut conditions) = (Vec::new(), Vec::new(), Vec::new());
        for m in c.match_.items() {
            match Matcher::parse(m) {
                Ok(Matcher::Name(n)) => names.push(n),
                Ok(Matcher::Regex(r)) => regexes.push(r),
                Ok(Matcher::Condition(cond)) => conditions.push(cond),
                Err(_) => {}
            }
        }
        let (grouping, naming) = match (&c.by, &c.without) {
            (Some(by), _) if !by.is_empty() => {
                let mut by = by.clone();
                by.sort();
                by.dedup();
                let naming = format!("_by_{}", by.join("_"));
                (Grouping::By(by), naming)
            }
            (_, Some(without)) => {
                let mut w = without.clone();
                w.sort();
                w.dedup();
                let naming = if w.is_empty() {
                    String::new()
                } else {
                    format!("_without_{}", w.join("_"))
                };
                (Grouping::Without(w), naming)
            }
            // Neither (or an empty `by`): every label is kept, as in vmagent.
            _ => (Grouping::Without(Vec::new()), String::new()),
        };
        let interval = config::parse_duration(&c.interval).unwrap_or(Duration::from_secs(60));
        let dedup = c
            .dedup_interval
            .as_deref()
            .and_then(|d| config::parse_duration(d).ok())
            .filter(|d| !d.is_zero())
            .map(|d| Ticker::new(d, now));
        let outputs: Vec<Output> = c
            .outputs
            .iter()
            .filter_map(|o| Output::parse(o).ok())
            .collect();
        Self {
            index,
            names,
            regexes,
            conditions,
            grouping,
            naming,
            interval_text: c.interval.trim().to_string(),
            wants_increase: outputs
                .iter()
                .any(|o| matches!(o, Output::Total | Output::Increase)),
            keep_values: outputs.iter().any(|o| matches!(o, Output::Quantiles(_))),
            outputs,
            keep_input: c.keep_input,
            output_name: c.output_name.clone(),
            ticker: Ticker::new(interval, now),
            dedup,
            pending: HashMap::new(),
            output_names: HashMap::new(),
        }
    }

    fn matches(
        &self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        metric: MetricView<'_>,
        point: PointView<'_>,
    ) -> bool {
        let name = metric.name();
        self.names.iter().any(|n| n == name)
            || self.regexes.iter().any(|r| r.is_match(name))
            || (!self.conditions.is_empty() && {
                let item = Item::data_point(resource, scope, metric, point);
                self.conditions
                    .iter()
                    .any(|c| c.evaluate(&item).unwrap_or(false))
            })
    }

    /// The output names for an input metric, one per output.
    fn names_for(&mut self, metric: &str) -> Arc<Vec<String>> {
        if let Some(n) = self.output_names.get(metric) {
            return n.clone();
        }
        let several = self.outputs.len() > 1;
        let names: Vec<String> = self
            .outputs
            .iter()
            .map(|o| match &self.output_name {
                Some(n) if several => format!("{n}_{}", o.suffix()),
                Some(n) => n.clone(),
                None => format!(
                    "{metric}:{}{}_{}",
                    self.interval_text,
                    self.naming,
                    o.suffix()
                ),
            })
            .collect();
        let names = Arc::new(names);
        self.output_names.insert(metric.to_string(), names.clone());
        names
    }

    /// The output series key of a point: rule, metric name and the kept attributes.
    fn output_key(&self, metric: &str, resource: Attributes<'_>, point: Attributes<'_>) -> u64 {
        let mut h = hasher();
        self.index.hash(&mut h);
        metric.hash(&mut h);
        match &self.grouping {
            Grouping::By(keys) => {
                for key in keys {
                    if let Some(v) = point.get(key).or_else(|| resource.get(key)) {
                        key.hash(&mut h);
                        hash_value(&mut h, v);
                    }
                }
            }
            Grouping::Without(drop) => {
                let mut sum = 0u64;
                for (k, v) in resource.iter().chain(point.iter()) {
                    if !drop.iter().any(|d| d == k) {
                        sum = sum.wrapping_add(pair_hash(k, v));
                    }
                }
                sum.hash(&mut h);
            }
        }
        h.finish()
    }

    /// The kept attributes, owned (only for a new output series).
    fn labels(&self, resource: Attributes<'_>, point: Attributes<'_>) -> AttributeList {
        let mut out = AttributeList::new();
        match &self.grouping {
            Grouping::By(keys) => {
                for key in keys {
                    if let Some(v) = point.get(key).or_else(|| resource.get(key)) {
                        out.push(key.clone(), OwnedValue::from(v));
                    }
                }
            }
            Grouping::Without(drop) => {
                for (k, v) in resource.iter().chain(point.iter()) {
                    if !drop.iter().any(|d| d == k) {
                        out.upsert(k, OwnedValue::from(v));
                    }
                }
            }
        }
        out
    }
}

/// Counter handles.
#[derive(Clone, Debug)]
pub struct Counters {
    aggregated: Counter,
    created: Counter,
    output_limit: Counter,
    input_limit: Counter,
    out_of_order: Counter,
    layout: Counter,
}

impl Counters {
    pub fn new(telemetry: &Telemetry, id: &str) -> Self {
        let dropped = |reason| telemetry.dropped(id, Signal::Metrics, reason);
        Self {
            aggregated: dropped(AGGREGATED),
            created: telemetry.created(id, Signal::Metrics, AGGREGATED),
            output_limit: dropped(OUTPUT_SERIES_LIMIT),
            input_limit: dropped(INPUT_SERIES_LIMIT),
            out_of_order: dropped(OUT_OF_ORDER),
            layout: dropped(LAYOUT_MISMATCH),
        }
    }
}

/// What one batch did, counted once at its end.
#[derive(Default)]
struct Tally {
    aggregated: u64,
    output_limit: u64,
    input_limit: u64,
    out_of_order: u64,
    layout: u64,
}

/// One `aggregation` instance.
pub struct AggregationProcessor {
    rules: Vec<Rule>,
    outputs: StreamTable<OutputSeries>,
    inputs: CumulativeToDelta,
    origin: Arc<Origin>,
    interner: Interner,
    counters: Counters,
    tally: Tally,
}

impl AggregationProcessor {
    pub fn new(config: &AggregationConfig, counters: Counters, now: Instant) -> Self {
        let max_inputs = if config.max_input_series == 0 {
            config.max_output_series.saturating_mul(10)
        } else {
            config.max_input_series
        };
        let origin = Arc::new(Origin {
            resource: AttributeList::new(),
            scope_name: SCOPE_NAME.to_string(),
            scope_version: String::new(),
            key: origin_key(ResourceView::empty(), ScopeView::empty()),
        });
        Self {
            rules: config
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| Rule::new(i, r, now))
                .collect(),
            outputs: StreamTable::new(config.max_output_series, config.staleness_interval),
            inputs: CumulativeToDelta::new(max_inputs, config.staleness_interval, Initial::Auto),
            origin,
            interner: Interner::default(),
            counters,
            tally: Tally::default(),
        }
    }

    /// Output series held.
    pub fn output_series(&self) -> usize {
        self.outputs.len()
    }

    /// Input series whose previous value is held.
    pub fn input_series(&self) -> usize {
        self.inputs.len()
    }

    /// Reads one point for one rule; `false` when it was refused (a limit).
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        r: usize,
        origin: u64,
        resource: ResourceView<'_>,
        metric: MetricView<'_>,
        kind: Kind,
        point: PointView<'_>,
        now: Instant,
    ) -> bool {
        let (delta, monotonic) = match kind {
            Kind::Gauge => (false, true),
            Kind::Sum {
                temporality,
                monotonic,
            } => (temporality == Temporality::Delta, monotonic),
            Kind::Histogram(t) | Kind::Exponential(t) => (t == Temporality::Delta, true),
            Kind::Summary => return true,
        };
        let value = match &point {
            PointView::Number(p) => {
                if p.flags() & 1 != 0 {
                    return true;
                }
                Value::Number(p.value().as_f64())
            }
            PointView::Histogram(p) => {
                if p.flags() & 1 != 0 {
                    return true;
                }
                Value::Histogram(Merged::Explicit(ExplicitHistogram::from_view(p)))
            }
            PointView::ExponentialHistogram(p) => {
                if p.flags() & 1 != 0 {
                    return true;
                }
                Value::Histogram(Merged::Exponential(ExponentialHistogram::from_view(p)))
            }
            PointView::Summary(_) => return true,
        };
        let rule = &mut self.rules[r];
        let name = metric.name();
        let output_key = rule.output_key(name, resource.attributes(), point.attributes());
        let made = self.outputs.entry(output_key, now, || {
            let labels = rule.labels(resource.attributes(), point.attributes());
            let names = rule.names_for(name);
            OutputSeries::new(rule.index, names, labels, monotonic, unix_now())
        });
        if made.is_err() {
            self.tally.output_limit += 1;
            return false;
        }
        let mut h = hasher();
        r.hash(&mut h);
        origin.hash(&mut h);
        name.hash(&mut h);
        kind.hash(&mut h);
        weir_streams::key::attributes_hash(point.attributes()).hash(&mut h);
        let input_key = h.finish();
        let sample = Sample {
            start: point.start_time_unix_nano(),
            time: point.time_unix_nano(),
            delta,
            monotonic,
            value,
        };
        let rule = &mut self.rules[r];
        if rule.dedup.is_some() && !delta {
            match rule.pending.get_mut(&input_key) {
                Some((_, held)) if held.time > sample.time => {}
                Some(held) => held.1 = sample,
                None => {
                    rule.pending.insert(input_key, (output_key, sample));
                }
            }
            return true;
        }
        self.feed(r, input_key, output_key, sample, now)
    }

    /// Adds a sample to its output series; `false` when it was refused.
    fn feed(&mut self, r: usize, input_key: u64, output_key: u64, s: Sample, now: Instant) -> bool {
        let wants_increase = self.rules[r].wants_increase;
        let keep_values = self.rules[r].keep_values;
        let contribution = match s.value {
            Value::Number(v) => {
                let increase = if s.delta {
                    Some(v)
                } else if wants_increase {
                    match self
                        .inputs
                        .add_number(input_key, s.start, s.time, v, s.monotonic, now)
                    {
                        Ok(d) => Some(d.value),
                        Err(NotEmitted::First) => None,
                        Err(NotEmitted::OutOfOrder) => {
                            self.tally.out_of_order += 1;
                            return false;
                        }
                        Err(NotEmitted::StreamsLimit) => {
                            self.tally.input_limit += 1;
                            return false;
                        }
                    }
                } else {
                    None
                };
                Contribution::Number { value: v, increase }
            }
            Value::Histogram(h) => {
                let increase = if s.delta {
                    Ok(h)
                } else {
                    match h {
                        Merged::Explicit(h) => self
                            .inputs
                            .add_histogram(input_key, s.start, s.time, h, now)
                            .map(|d| Merged::Explicit(d.value)),
                        Merged::Exponential(h) => self
                            .inputs
                            .add_exponential(input_key, s.start, s.time, h, now)
                            .map(|d| Merged::Exponential(d.value)),
                    }
                };
                match increase {
                    Ok(h) => Contribution::Histogram(h),
                    Err(NotEmitted::First) => return true,
                    Err(NotEmitted::OutOfOrder) => {
                        self.tally.out_of_order += 1;
                        return false;
                    }
                    Err(NotEmitted::StreamsLimit) => {
                        self.tally.input_limit += 1;
                        return false;
                    }
                }
            }
        };
        let Some(series) = self.outputs.get_mut(output_key) else {
            return false;
        };
        if !series.add(contribution, keep_values) {
            self.tally.layout += 1;
            return false;
        }
        true
    }

    /// Feeds a rule's deduplicated samples.
    fn release_pending(&mut self, r: usize, now: Instant) {
        let pending: Vec<(u64, (u64, Sample))> = self.rules[r].pending.drain().collect();
        for (input_key, (output_key, sample)) in pending {
            self.feed(r, input_key, output_key, sample, now);
        }
    }

    /// Emits a rule's outputs at `time`.
    fn emit_rule(&mut self, r: usize, time: u64, emitter: &mut Emitter) {
        let outputs = self.rules[r].outputs.clone();
        let mut made: Vec<(Arc<Descriptor>, Point)> = Vec::new();
        let interner = &mut self.interner;
        for (_, series) in self.outputs.iter_mut() {
            if series.rule != r {
                continue;
            }
            let names = series.names.clone();
            let monotonic = series.monotonic;
            series.emit(&outputs, time, |i, point| {
                let kind = match (&outputs[i], &point) {
                    (Output::Total, _) => Kind::Sum {
                        temporality: Temporality::Cumulative,
                        monotonic,
                    },
                    (_, Point::Histogram(_)) => Kind::Histogram(Temporality::Cumulative),
                    (_, Point::Exponential(_)) => Kind::Exponential(Temporality::Cumulative),
                    _ => Kind::Gauge,
                };
                let descriptor = interner.descriptor(Descriptor {
                    name: names[i].clone(),
                    description: String::new(),
                    unit: String::new(),
                    kind,
                });
                made.push((descriptor, point));
            });
        }
        // Stable order: by metric name (points keep the table's order within one).
        made.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (descriptor, point) in made {
            emitter.push(self.origin.clone(), descriptor, point);
        }
    }

    fn count(&mut self) {
        let t = std::mem::take(&mut self.tally);
        self.counters.aggregated.inc_by(t.aggregated);
        self.counters.output_limit.inc_by(t.output_limit);
        self.counters.input_limit.inc_by(t.input_limit);
        self.counters.out_of_order.inc_by(t.out_of_order);
        self.counters.layout.inc_by(t.layout);
    }

    fn finish(&mut self, emitter: &mut Emitter, out: &mut Vec<Batch>) {
        self.counters.created.inc_by(emitter.len() as u64);
        out.extend(emitter.build());
        self.count();
    }
}

impl Processor for AggregationProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        let now = Instant::now();
        // Pass 1: read every point through views and decide.
        let mut keep: Vec<bool> = Vec::new();
        // Per resource: (points, points consumed).
        let mut per_resource: Vec<(usize, usize)> = Vec::new();
        for rm in batch.metrics() {
            let resource = rm.resource();
            let (before, mut consumed) = (keep.len(), 0);
            for sm in rm.scopes() {
                let scope = sm.scope();
                let mut origin = None;
                for metric in sm.metrics() {
                    let kind = Kind::of(&metric);
                    for point in metric.points() {
                        let mut kept = true;
                        let mut refused = false;
                        if let Some(kind) = kind {
                            for r in 0..self.rules.len() {
                                if !self.rules[r].matches(resource, scope, metric, point) {
                                    continue;
                                }
                                let o = *origin.get_or_insert_with(|| origin_key(resource, scope));
                                let taken = self.take(r, o, resource, metric, kind, point, now);
                                if !self.rules[r].keep_input && kind != Kind::Summary {
                                    kept = false;
                                    refused |= !taken;
                                }
                            }
                        }
                        if !kept {
                            consumed += 1;
                            if !refused {
                                self.tally.aggregated += 1;
                            }
                        }
                        keep.push(kept);
                    }
                }
            }
            per_resource.push((keep.len() - before, consumed));
        }
        // Pass 2: remove what was consumed. Whole resources go without being decoded;
        // only resources with some points left are walked point by point.
        let whole = |&(points, consumed): &(usize, usize)| consumed > 0 && consumed == points;
        if per_resource.iter().all(|r| r.1 == 0) {
            // Nothing consumed: the batch leaves as it came.
        } else if per_resource.iter().all(|r| whole(r) || r.0 == 0) {
            batch.record_outcome(weir_api::ack::Outcome::Dropped);
            batch = Batch::empty(Signal::Metrics);
        } else {
            if per_resource.iter().any(whole) {
                let mut index = 0;
                batch.retain_resources(|_| {
                    let k = per_resource.get(index).is_none_or(|r| !whole(r));
                    index += 1;
                    k
                });
                // The decisions of the resources that are left, in order.
                let mut at = 0;
                let mut left = Vec::with_capacity(keep.len());
                for r in &per_resource {
                    if !whole(r) {
                        left.extend_from_slice(&keep[at..at + r.0]);
                    }
                    at += r.0;
                }
                keep = left;
            }
            if keep.iter().any(|k| !k) {
                let mut index = 0;
                batch.retain_data_points(|_, _, _, _| {
                    let k = keep.get(index).copied().unwrap_or(true);
                    index += 1;
                    k
                });
            }
        }
        self.count();
        if !batch.is_empty() {
            out.push(batch);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.rules
            .iter()
            .flat_map(|r| {
                std::iter::once(r.ticker.next()).chain(r.dedup.as_ref().map(Ticker::next))
            })
            .min()
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch>) {
        let mut emitter = Emitter::new();
        for r in 0..self.rules.len() {
            if let Some(dedup) = self.rules[r].dedup.as_mut() {
                if dedup.due(now) {
                    self.release_pending(r, now);
                }
            }
            if let Some(boundary) = self.rules[r].ticker.due_at(now) {
                self.release_pending(r, now);
                self.emit_rule(r, boundary, &mut emitter);
            }
        }
        // Emitted first, forgotten after: a stale series' last increase has left.
        self.outputs.sweep(now, false, |_, _| {});
        self.inputs.sweep(now, false);
        self.interner.clear();
        self.finish(&mut emitter, out);
    }

    fn flush(&mut self, out: &mut Vec<Batch>) {
        let now = Instant::now();
        let time = unix_now();
        let mut emitter = Emitter::new();
        for r in 0..self.rules.len() {
            self.release_pending(r, now);
            self.emit_rule(r, time, &mut emitter);
        }
        self.finish(&mut emitter, out);
    }
}
