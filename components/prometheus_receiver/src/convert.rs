//! One scrape's samples to OTLP, and the per-target memory that needs across scrapes.
//!
//! Samples arrive one by one from the parser (see `scrape.rs`). Each gets the target's
//! labels (Prometheus' honor_labels rules), metric relabeling and the limits, then joins
//! a data point: a counter's `_total` and `_created` join one Sum point, a histogram's
//! `_bucket`s, `_sum` and `_count` join one Histogram point, and so on. Points are keyed
//! by a hash of their labels, so samples of one series need not be adjacent.
//!
//! Across scrapes a target remembers, per series, when it was first seen (the start time
//! of a cumulative point without `_created`, re-set when the value drops: a counter
//! reset) and enough to write a stale marker (a point flagged no-recorded-value, which
//! the remote-write exporter turns into Prometheus' stale NaN) when the series vanishes
//! or the target goes down.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use weir_api::batch::build::{
    AttributeList, Exemplar, HistogramPoint, MetricBuilder, MetricsBuilder, NumberPoint,
    ScopeMetricsBuilder, SummaryPoint,
};
use weir_api::batch::view::{NumberValue, Temporality};
use weir_api::batch::OwnedValue;
use weir_api::Batch;

use crate::parser::{Family, MetricType, Sample};
use crate::relabel::{self, LabelSet, Rule};

/// OTLP's DataPointFlags.FLAG_NO_RECORDED_VALUE: the point is a stale marker.
pub const FLAG_NO_RECORDED_VALUE: u32 = 1;
/// Prometheus' stale marker NaN, written as the value of stale number points.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

const SCOPE_NAME: &str = "weir/receiver/prometheus";

/// A scraped target as the conversion needs it.
#[derive(Clone, Debug)]
pub struct TargetInfo {
    /// Target labels after relabel_configs, without `__` labels; holds job and instance.
    pub labels: LabelSet,
    pub scheme: String,
    /// host and port of `__address__`.
    pub host: String,
    pub port: Option<u16>,
}

impl TargetInfo {
    pub fn job(&self) -> &str {
        relabel::get(&self.labels, "job")
    }

    pub fn instance(&self) -> &str {
        relabel::get(&self.labels, "instance")
    }
}

/// Per-job settings that shape the conversion.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub metric_relabel: Arc<Vec<Rule>>,
    pub external_labels: LabelSet,
    pub sample_limit: usize,
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
}

/// Why a scrape's samples were refused as a whole (Prometheus fails the scrape too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitError {
    SampleLimit(usize),
    LabelLimit(String),
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::SampleLimit(limit) => write!(f, "sample_limit of {limit} exceeded"),
            LimitError::LabelLimit(what) => write!(f, "label limit exceeded: {what}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

/// What a stale marker needs to be written after its series is gone: enough for the
/// marker point to expand into every series the live point did (each bucket bound, each
/// quantile, `_sum`), since a consumer writes a stale marker per series it produces.
#[derive(Debug)]
struct StaleTemplate {
    job: String,
    instance: String,
    metric: String,
    kind: Kind,
    attributes: AttributeList,
    shape: Shape,
}

/// The series a histogram or summary point expands into, beyond its `_count`.
#[derive(Debug, Default, PartialEq)]
struct Shape {
    /// Finite bucket bounds (histograms) or quantiles (summaries), ascending.
    bounds: Vec<f64>,
    /// Whether the point has a `_sum` (summaries always write one).
    has_sum: bool,
}

impl Shape {
    fn of(acc: &Acc) -> Self {
        let mut bounds: Vec<f64> = match acc {
            Acc::Number(_) => return Self::default(),
            Acc::Histogram(h) => h
                .buckets
                .iter()
                .map(|b| b.0)
                .filter(|le| le.is_finite())
                .collect(),
            Acc::Summary(s) => s.quantiles.iter().map(|q| q.0).collect(),
        };
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let has_sum = match acc {
            Acc::Histogram(h) => h.sum.is_some(),
            _ => true,
        };
        Self { bounds, has_sum }
    }

    /// Whether `acc` has this shape, without allocating (the usual case: unchanged).
    fn matches(&self, acc: &Acc) -> bool {
        let contains = |v: f64| self.bounds.binary_search_by(|b| b.total_cmp(&v)).is_ok();
        match acc {
            Acc::Number(_) => self.bounds.is_empty(),
            Acc::Histogram(h) => {
                h.sum.is_some() == self.has_sum
                    && h.buckets.iter().filter(|b| b.0.is_finite()).count() == self.bounds.len()
                    && h.buckets.iter().all(|b| !b.0.is_finite() || contains(b.0))
            }
            Acc::Summary(s) => {
                s.quantiles.len() == self.bounds.len() && s.quantiles.iter().all(|q| contains(q.0))
            }
        }
    }
}

#[derive(Debug)]
struct SeriesMemory {
    start_ns: u64,
    last_value: f64,
    last_time_ns: u64,
    template: Arc<StaleTemplate>,
}

/// What a target remembers between scrapes.
#[derive(Debug, Default)]
pub struct TargetMemory {
    series: HashMap<u64, SeriesMemory>,
}

impl TargetMemory {
    pub fn series_count(&self) -> usize {
        self.series.len()
    }
}

#[derive(Debug, Default)]
struct HistogramAcc {
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
}

#[derive(Debug, Default)]
struct SummaryAcc {
    quantiles: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
}

#[derive(Debug)]
enum Acc {
    Number(f64),
    Histogram(HistogramAcc),
    Summary(SummaryAcc),
}

#[derive(Debug)]
struct Point {
    key: u64,
    attributes: AttributeList,
    time_ns: u64,
    created_ns: Option<u64>,
    exemplars: Vec<Exemplar>,
    acc: Acc,
}

#[derive(Debug)]
struct MetricAcc {
    name: String,
    kind: Kind,
    help: String,
    unit: String,
    points: Vec<Point>,
    by_key: HashMap<u64, usize>,
}

#[derive(Debug)]
struct ResourceAcc {
    job: String,
    instance: String,
    /// `target_info` labels, which become resource attributes.
    extra: LabelSet,
    metrics: Vec<MetricAcc>,
    by_name: HashMap<String, usize>,
}

/// Counts a scrape reports about itself (the synthetic series).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub scraped: usize,
    pub post_relabel: usize,
    pub series_added: usize,
}

/// Builds one scrape's OTLP.
pub struct ScrapeBuilder<'a> {
    target: &'a TargetInfo,
    options: &'a Options,
    now_ns: u64,
    resources: Vec<ResourceAcc>,
    counts: ScrapeCounts,
    labels: LabelSet,
    target_info: Vec<(String, String, LabelSet)>,
}

fn hash_one(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Order-independent hash of attributes, minus `skipped`.
fn labels_hash(labels: &LabelSet, skipped: &[&str]) -> u64 {
    labels
        .iter()
        .filter(|(name, _)| !skipped.contains(&name.as_str()))
        .map(hash_one)
        .fold(0u64, u64::wrapping_add)
}

fn seconds_to_ns(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e9) as u64
    } else {
        0
    }
}

/// The OTLP shape of a sample: which metric, which kind, what role.
enum Role {
    Number,
    Created,
    Bucket,
    Quantile,
    Count,
    Sum,
}

fn classify(family: &Family, name: &str) -> (String, Kind, Role) {
    let suffix = family.suffix_of(name);
    let base = || family.name.clone();
    match (family.kind, suffix) {
        (MetricType::Counter, "_created") => (
            format!("{}_total", family.name),
            Kind::Counter,
            Role::Created,
        ),
        (MetricType::Counter, _) => (name.to_string(), Kind::Counter, Role::Number),
        (MetricType::Histogram, "_bucket") => (base(), Kind::Histogram, Role::Bucket),
        (MetricType::Histogram, "_count") => (base(), Kind::Histogram, Role::Count),
        (MetricType::Histogram, "_sum") => (base(), Kind::Histogram, Role::Sum),
        (MetricType::Histogram, "_created") => (base(), Kind::Histogram, Role::Created),
        (MetricType::Summary, "") => (base(), Kind::Summary, Role::Quantile),
        (MetricType::Summary, "_count") => (base(), Kind::Summary, Role::Count),
        (MetricType::Summary, "_sum") => (base(), Kind::Summary, Role::Sum),
        (MetricType::Summary, "_created") => (base(), Kind::Summary, Role::Created),
        // gauge, unknown, info, stateset, gauge histogram: one gauge per series name.
        _ => (name.to_string(), Kind::Gauge, Role::Number),
    }
}

impl<'a> ScrapeBuilder<'a> {
    pub fn new(target: &'a TargetInfo, options: &'a Options, now_ns: u64) -> Self {
        Self {
            target,
            options,
            now_ns,
            resources: Vec::new(),
            counts: ScrapeCounts::default(),
            labels: Vec::new(),
            target_info: Vec::new(),
        }
    }

    /// Adds one parsed sample.
    pub fn add(&mut self, sample: &Sample<'_>) -> Result<(), LimitError> {
        self.counts.scraped += 1;
        let mut labels = std::mem::take(&mut self.labels);
        labels.clear();
        labels.push(("__name__".to_string(), sample.name.to_string()));
        labels.extend(
            sample
                .labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        self.merge_target_labels(&mut labels);
        if !relabel::apply_all(&self.options.metric_relabel, &mut labels) {
            return Ok(());
        }
        let Some(position) = labels.iter().position(|(k, _)| k == "__name__") else {
            return Ok(()); // relabeling removed the name: Prometheus drops such a sample too
        };
        self.counts.post_relabel += 1;
        let limit = self.options.sample_limit;
        if limit > 0 && self.counts.post_relabel > limit {
            return Err(LimitError::SampleLimit(limit));
        }
        self.check_label_limits(&labels)?;
        let (_, name) = labels.swap_remove(position);

        if name == "target_info" {
            let job = relabel::get(&labels, "job").to_string();
            let instance = relabel::get(&labels, "instance").to_string();
            labels.retain(|(k, _)| k != "job" && k != "instance");
            self.target_info.push((job, instance, labels));
            return Ok(());
        }
        for (key, value) in &self.options.external_labels {
            if relabel::get(&labels, key).is_empty() {
                labels.push((key.clone(), value.clone()));
            }
        }
        let unrenamed = name == sample.name;
        let (metric_name, kind, role) = if unrenamed {
            classify(sample.family, &name)
        } else {
            (name.clone(), Kind::Gauge, Role::Number)
        };
        let time_ns = match sample.timestamp_ms {
            Some(ms) if self.options.honor_timestamps => {
                (ms.max(0) as u64).saturating_mul(1_000_000)
            }
            _ => self.now_ns,
        };
        let resource = self.resource(&labels);
        let (help, unit) = if unrenamed {
            (sample.family.help.as_str(), sample.family.unit.as_str())
        } else {
            ("", "")
        };
        let metric = resource.metric(&metric_name, kind, help, unit);
        let skipped: &[&str] = match role {
            Role::Bucket => &["le", "job", "instance"],
            Role::Quantile => &["quantile", "job", "instance"],
            _ => &["job", "instance"],
        };
        let key = labels_hash(&labels, skipped);
        let index = match metric.by_key.get(&key) {
            Some(&index) => index,
            None => {
                let acc = match kind {
                    Kind::Gauge | Kind::Counter => Acc::Number(f64::NAN),
                    Kind::Histogram => Acc::Histogram(HistogramAcc::default()),
                    Kind::Summary => Acc::Summary(SummaryAcc::default()),
                };
                let attributes = labels
                    .iter()
                    .filter(|(k, _)| !skipped.contains(&k.as_str()))
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                metric.points.push(Point {
                    key,
                    attributes,
                    time_ns,
                    created_ns: None,
                    exemplars: Vec::new(),
                    acc,
                });
                metric.by_key.insert(key, metric.points.len() - 1);
                metric.points.len() - 1
            }
        };
        let point = &mut metric.points[index];
        let value = sample.value;
        match (&mut point.acc, role) {
            (_, Role::Created) => point.created_ns = Some(seconds_to_ns(value)),
            (Acc::Number(slot), _) => {
                *slot = value;
                point.time_ns = time_ns;
            }
            (Acc::Histogram(h), Role::Bucket) => {
                let le = relabel::get(&labels, "le")
                    .parse::<f64>()
                    .unwrap_or(f64::INFINITY);
                h.buckets.push((le, value));
                point.time_ns = time_ns;
            }
            (Acc::Histogram(h), Role::Count) => h.count = Some(value),
            (Acc::Histogram(h), Role::Sum) => h.sum = Some(value),
            (Acc::Summary(s), Role::Quantile) => {
                let q = relabel::get(&labels, "quantile")
                    .parse::<f64>()
                    .unwrap_or(f64::NAN);
                s.quantiles.push((q, value));
                point.time_ns = time_ns;
            }
            (Acc::Summary(s), Role::Count) => {
                s.count = Some(value);
                point.time_ns = time_ns;
            }
            (Acc::Summary(s), Role::Sum) => s.sum = Some(value),
            _ => {}
        }
        if let Some(exemplar) = &sample.exemplar {
            if matches!(kind, Kind::Counter | Kind::Histogram) {
                point.exemplars.push(convert_exemplar(exemplar));
            }
        }
        labels.clear();
        self.labels = labels;
        Ok(())
    }

    /// Prometheus' rules: with honor_labels the scraped value wins; without, a clashing
    /// scraped label is kept as `exported_<name>` and the target's value is set.
    fn merge_target_labels(&self, labels: &mut LabelSet) {
        for (name, value) in &self.target.labels {
            let existing = relabel::get(labels, name).to_string();
            if self.options.honor_labels {
                if existing.is_empty() {
                    labels.push((name.clone(), value.clone()));
                }
                continue;
            }
            if !existing.is_empty() {
                let mut exported = format!("exported_{name}");
                while !relabel::get(labels, &exported).is_empty() {
                    exported = format!("exported_{exported}");
                }
                labels.push((exported, existing));
            }
            relabel::set(labels, name, value.clone());
        }
    }

    fn check_label_limits(&self, labels: &LabelSet) -> Result<(), LimitError> {
        let o = self.options;
        if o.label_limit > 0 && labels.len() > o.label_limit {
            return Err(LimitError::LabelLimit(format!(
                "{} labels, limit {}",
                labels.len(),
                o.label_limit
            )));
        }
        for (name, value) in labels {
            if o.label_name_length_limit > 0 && name.len() > o.label_name_length_limit {
                return Err(LimitError::LabelLimit(format!(
                    "label name `{name}` longer than {}",
                    o.label_name_length_limit
                )));
            }
            if o.label_value_length_limit > 0 && value.len() > o.label_value_length_limit {
                return Err(LimitError::LabelLimit(format!(
                    "value of label `{name}` longer than {}",
                    o.label_value_length_limit
                )));
            }
        }
        Ok(())
    }

    fn resource(&mut self, labels: &LabelSet) -> &mut ResourceAcc {
        let job = relabel::get(labels, "job");
        let instance = relabel::get(labels, "instance");
        let index = match self
            .resources
            .iter()
            .position(|r| r.job == job && r.instance == instance)
        {
            Some(index) => index,
            None => {
                self.resources.push(ResourceAcc::new(job, instance));
                self.resources.len() - 1
            }
        };
        &mut self.resources[index]
    }

    /// Ends a successful scrape: start times, histogram buckets, stale markers for
    /// vanished series, the synthetic series. Returns the OTLP and the counts.
    pub fn finish(
        mut self,
        memory: &mut TargetMemory,
        duration_seconds: f64,
    ) -> (Batch, ScrapeCounts) {
        for (job, instance, labels) in std::mem::take(&mut self.target_info) {
            let resource = self.resource(&vec![("job".into(), job), ("instance".into(), instance)]);
            resource.extra.extend(labels);
        }
        let mut seen = std::collections::HashSet::new();
        let now = self.now_ns;
        for resource in &mut self.resources {
            for metric in &mut resource.metrics {
                for point in &mut metric.points {
                    let id = hash_one((&resource.job, &resource.instance, &metric.name, point.key));
                    seen.insert(id);
                    let value = point.acc.monotonic_value();
                    let entry = memory.series.entry(id);
                    let template = || {
                        Arc::new(StaleTemplate {
                            job: resource.job.clone(),
                            instance: resource.instance.clone(),
                            metric: metric.name.clone(),
                            kind: metric.kind,
                            attributes: point.attributes.clone(),
                            shape: Shape::of(&point.acc),
                        })
                    };
                    let state = entry.or_insert_with(|| {
                        self.counts.series_added += 1;
                        SeriesMemory {
                            start_ns: point.time_ns.min(now),
                            last_value: value,
                            last_time_ns: point.time_ns,
                            template: template(),
                        }
                    });
                    if !state.template.shape.matches(&point.acc) {
                        // Buckets or quantiles changed: the marker covers the new set.
                        state.template = template();
                    }
                    if value < state.last_value {
                        // A counter reset: the new run started after the previous scrape.
                        state.start_ns = state.last_time_ns;
                    }
                    state.last_value = value;
                    state.last_time_ns = point.time_ns;
                    if point.created_ns.is_none() {
                        point.created_ns = Some(state.start_ns);
                    }
                }
            }
        }
        let target = self.target;
        let mut out: Vec<OutResource> = self
            .resources
            .into_iter()
            .map(|acc| OutResource::from_acc(target, acc))
            .collect();
        collect_stale_markers(memory, |id| !seen.contains(&id), target, &mut out);
        let target_index = target_resource(&mut out, target);
        out[target_index].synthetic = true;
        let counts = self.counts;
        let synthetic = Synthetic {
            up: true,
            duration_seconds,
            counts,
            stale: false,
        };
        (build(out, target, self.options, now, &synthetic), counts)
    }
}

impl Acc {
    /// The value whose decrease means a reset (counters, histogram and summary counts).
    fn monotonic_value(&self) -> f64 {
        match self {
            Acc::Number(v) => *v,
            Acc::Histogram(h) => h
                .count
                .or(h.buckets.iter().map(|b| b.1).reduce(f64::max))
                .unwrap_or(0.0),
            Acc::Summary(s) => s.count.unwrap_or(0.0),
        }
    }
}

fn convert_exemplar(exemplar: &crate::parser::Exemplar<'_>) -> Exemplar {
    let mut out = Exemplar::new(NumberValue::Double(exemplar.value)).time(
        exemplar
            .timestamp_ms
            .map_or(0, |ms| (ms.max(0) as u64).saturating_mul(1_000_000)),
    );
    let mut filtered = AttributeList::new();
    for (name, value) in exemplar.labels.iter() {
        match (name, decode_hex(value)) {
            ("trace_id", Some(bytes)) if bytes.len() == 16 => out = out.trace_id(bytes),
            ("span_id", Some(bytes)) if bytes.len() == 8 => out = out.span_id(bytes),
            _ => {
                filtered.push(name, value);
            }
        }
    }
    out.filtered_attributes(filtered)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl ResourceAcc {
    fn new(job: &str, instance: &str) -> Self {
        Self {
            job: job.to_string(),
            instance: instance.to_string(),
            extra: Vec::new(),
            metrics: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    fn metric(&mut self, name: &str, kind: Kind, help: &str, unit: &str) -> &mut MetricAcc {
        let index = match self.by_name.get(name) {
            Some(&index) => index,
            None => {
                self.metrics.push(MetricAcc {
                    name: name.to_string(),
                    kind,
                    help: help.to_string(),
                    unit: unit.to_string(),
                    points: Vec::new(),
                    by_key: HashMap::new(),
                });
                self.by_name
                    .insert(name.to_string(), self.metrics.len() - 1);
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[index]
    }
}

/// One resource of the output, gathered in full before it is built: stale markers and
/// the synthetic series join resources made earlier.
#[derive(Debug)]
struct OutResource {
    attributes: AttributeList,
    metrics: Vec<MetricAcc>,
    /// Series that vanished, for stale markers, with their start times.
    stale: Vec<(Arc<StaleTemplate>, u64)>,
    /// Whether the synthetic series (`up`, ...) go here: the target's own resource.
    synthetic: bool,
}

impl OutResource {
    fn new(attributes: AttributeList) -> Self {
        Self {
            attributes,
            metrics: Vec::new(),
            stale: Vec::new(),
            synthetic: false,
        }
    }

    /// A scraped resource; its `target_info` labels join the attributes, each replacing
    /// an attribute of the same name.
    fn from_acc(target: &TargetInfo, acc: ResourceAcc) -> Self {
        let extra = acc.extra;
        // An extra replaces earlier attributes and extras of its name and goes last.
        let replaced = |key: &str, after: &[(String, String)]| after.iter().any(|(k, _)| k == key);
        let mut attributes = AttributeList::new();
        for (key, value) in resource_attributes(target, &acc.job, &acc.instance) {
            if !replaced(key, &extra) {
                attributes.push(key, value);
            }
        }
        for (index, (key, value)) in extra.iter().enumerate() {
            if !replaced(key, &extra[index + 1..]) {
                attributes.push(key.as_str(), value.as_str());
            }
        }
        Self {
            metrics: acc.metrics,
            ..Self::new(attributes)
        }
    }

    fn is(&self, job: &str, instance: &str) -> bool {
        let attributes = self.attributes.view();
        attributes.get_str("service.name") == Some(job)
            && attributes.get_str("service.instance.id") == Some(instance)
    }
}

/// The resource attributes of `job` and `instance` (with the address when they are the
/// target's own).
fn resource_attributes(
    target: &TargetInfo,
    job: &str,
    instance: &str,
) -> impl Iterator<Item = (&'static str, OwnedValue)> {
    let own = job == target.job() && instance == target.instance();
    [
        Some(("service.name", OwnedValue::from(job))),
        Some(("service.instance.id", OwnedValue::from(instance))),
        own.then(|| ("server.address", OwnedValue::from(target.host.as_str()))),
        target
            .port
            .filter(|_| own)
            .map(|port| ("server.port", OwnedValue::from(i64::from(port)))),
        own.then(|| ("url.scheme", OwnedValue::from(target.scheme.as_str()))),
    ]
    .into_iter()
    .flatten()
}

/// The resource for `job` and `instance` in `out`, added when missing.
fn find_resource(
    out: &mut Vec<OutResource>,
    target: &TargetInfo,
    job: &str,
    instance: &str,
) -> usize {
    match out.iter().position(|r| r.is(job, instance)) {
        Some(index) => index,
        None => {
            out.push(OutResource::new(
                resource_attributes(target, job, instance).collect(),
            ));
            out.len() - 1
        }
    }
}

fn target_resource(out: &mut Vec<OutResource>, target: &TargetInfo) -> usize {
    find_resource(out, target, target.job(), target.instance())
}

/// How the synthetic series of a scrape are written.
struct Synthetic {
    up: bool,
    duration_seconds: f64,
    counts: ScrapeCounts,
    /// As stale markers (the target was removed).
    stale: bool,
}

/// Builds the batch: per resource, the scraped metrics, then stale markers, then the
/// synthetic series.
fn build(
    out: Vec<OutResource>,
    target: &TargetInfo,
    options: &Options,
    now_ns: u64,
    synthetic: &Synthetic,
) -> Batch {
    let mut batch = MetricsBuilder::new();
    for resource in out {
        let mut builder = batch.resource_with(resource.attributes);
        let mut scope = builder.scope(SCOPE_NAME, env!("CARGO_PKG_VERSION"));
        scope.reserve(resource.metrics.len() + resource.stale.len());
        for metric in resource.metrics {
            scope.push(metric.into_builder());
        }
        for (template, start_ns) in &resource.stale {
            scope.push(stale_metric(template, *start_ns, now_ns));
        }
        if resource.synthetic {
            push_synthetic(&mut scope, target, options, now_ns, synthetic);
        }
    }
    batch.build()
}

impl MetricAcc {
    fn into_builder(self) -> MetricBuilder {
        let kind = self.kind;
        let mut metric = match kind {
            Kind::Gauge => MetricBuilder::gauge(self.name),
            Kind::Counter => MetricBuilder::sum(self.name, Temporality::Cumulative, true),
            Kind::Histogram => MetricBuilder::histogram(self.name, Temporality::Cumulative),
            Kind::Summary => MetricBuilder::summary(self.name),
        }
        .description(self.help)
        .unit(self.unit);
        metric.reserve_points(self.points.len());
        for point in self.points {
            match kind {
                Kind::Gauge | Kind::Counter => {
                    metric.push_number(number_point(point, kind == Kind::Counter))
                }
                Kind::Histogram => metric.push_histogram(histogram_point(point)),
                Kind::Summary => metric.push_summary(summary_point(point)),
            };
        }
        metric
    }
}

fn number_point(point: Point, counter: bool) -> NumberPoint {
    let value = match point.acc {
        Acc::Number(v) => v,
        _ => f64::NAN,
    };
    let mut out = NumberPoint::double(value)
        .attribute_list(point.attributes)
        .start_time(if counter {
            point.created_ns.unwrap_or(0)
        } else {
            0
        })
        .time(point.time_ns);
    for exemplar in point.exemplars {
        out = out.exemplar(exemplar);
    }
    out
}

/// Cumulative Prometheus buckets to OTLP's explicit bounds and per-bucket counts.
fn histogram_point(point: Point) -> HistogramPoint {
    let Acc::Histogram(mut h) = point.acc else {
        return HistogramPoint::new(0, None, Vec::new(), Vec::new());
    };
    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut bounds = Vec::with_capacity(h.buckets.len());
    let mut counts = Vec::with_capacity(h.buckets.len() + 1);
    let mut previous = 0.0;
    for &(le, cumulative) in &h.buckets {
        let in_bucket = (cumulative - previous).max(0.0);
        previous = previous.max(cumulative);
        if le == f64::INFINITY {
            counts.push(in_bucket as u64);
        } else {
            bounds.push(le);
            counts.push(in_bucket as u64);
        }
    }
    let count = h.count.unwrap_or(previous);
    if h.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        counts.push((count - previous).max(0.0) as u64);
    }
    let mut out = HistogramPoint::new(count.max(0.0) as u64, h.sum, bounds, counts)
        .attribute_list(point.attributes)
        .start_time(point.created_ns.unwrap_or(0))
        .time(point.time_ns);
    for exemplar in point.exemplars {
        out = out.exemplar(exemplar);
    }
    out
}

fn summary_point(point: Point) -> SummaryPoint {
    let Acc::Summary(mut s) = point.acc else {
        return SummaryPoint::new(0, 0.0, []);
    };
    s.quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
    SummaryPoint::new(
        s.count.unwrap_or(0.0).max(0.0) as u64,
        s.sum.unwrap_or(0.0),
        s.quantiles,
    )
    .attribute_list(point.attributes)
    .start_time(point.created_ns.unwrap_or(0))
    .time(point.time_ns)
}

/// Takes the remembered series `vanished` selects for stale markers in `out`, and
/// forgets them.
fn collect_stale_markers(
    memory: &mut TargetMemory,
    vanished: impl Fn(u64) -> bool,
    target: &TargetInfo,
    out: &mut Vec<OutResource>,
) {
    let gone: Vec<u64> = memory
        .series
        .keys()
        .copied()
        .filter(|id| vanished(*id))
        .collect();
    for id in gone {
        let Some(series) = memory.series.remove(&id) else {
            continue;
        };
        let t = series.template;
        let index = find_resource(out, target, &t.job, &t.instance);
        out[index].stale.push((t, series.start_ns));
    }
}

/// A stale marker for a vanished series: a point flagged no-recorded-value with the
/// series' start time (for `_created`) and, for histograms and summaries, the bucket
/// bounds, quantiles and sum the live point had, so that every series it expanded into
/// (each `_bucket`, each quantile, `_sum`, `_count`, `_created`) gets its marker. Values
/// are Prometheus' stale NaN where a float is carried.
fn stale_metric(t: &StaleTemplate, start_ns: u64, now_ns: u64) -> MetricBuilder {
    let attributes = t.attributes.clone();
    let name = t.metric.clone();
    let stale = f64::from_bits(STALE_NAN);
    match t.kind {
        Kind::Gauge => {
            let mut metric = MetricBuilder::gauge(name);
            metric.push_number(stale_number(attributes, now_ns));
            metric
        }
        Kind::Counter => {
            let mut metric = MetricBuilder::sum(name, Temporality::Cumulative, true);
            metric.push_number(stale_number(attributes, now_ns).start_time(start_ns));
            metric
        }
        Kind::Histogram => {
            let mut metric = MetricBuilder::histogram(name, Temporality::Cumulative);
            let bounds = t.shape.bounds.clone();
            let counts = vec![0; bounds.len() + 1];
            let sum = t.shape.has_sum.then_some(stale);
            metric.push_histogram(
                HistogramPoint::new(0, sum, bounds, counts)
                    .attribute_list(attributes)
                    .start_time(start_ns)
                    .time(now_ns)
                    .flags(FLAG_NO_RECORDED_VALUE),
            );
            metric
        }
        Kind::Summary => {
            let mut metric = MetricBuilder::summary(name);
            let quantiles = t.shape.bounds.iter().map(|q| (*q, stale));
            metric.push_summary(
                SummaryPoint::new(0, stale, quantiles)
                    .attribute_list(attributes)
                    .start_time(start_ns)
                    .time(now_ns)
                    .flags(FLAG_NO_RECORDED_VALUE),
            );
            metric
        }
    }
}

fn stale_number(attributes: AttributeList, time_unix_nano: u64) -> NumberPoint {
    NumberPoint::double(f64::from_bits(STALE_NAN))
        .attribute_list(attributes)
        .time(time_unix_nano)
        .flags(FLAG_NO_RECORDED_VALUE)
}

/// `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling`, `scrape_series_added`, with the target's
/// labels, as Prometheus writes them (as stale markers when `synthetic.stale`).
fn push_synthetic(
    scope: &mut ScopeMetricsBuilder<'_>,
    target: &TargetInfo,
    options: &Options,
    now_ns: u64,
    synthetic: &Synthetic,
) {
    let mut attributes: AttributeList = target
        .labels
        .iter()
        .filter(|(k, _)| k != "job" && k != "instance")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (key, value) in &options.external_labels {
        if attributes.view().get(key).is_none() {
            attributes.push(key.as_str(), value.as_str());
        }
    }
    let gauge = |name: &str, help: &str, value: f64| {
        let point = if synthetic.stale {
            stale_number(attributes.clone(), now_ns)
        } else {
            NumberPoint::double(value)
                .attribute_list(attributes.clone())
                .time(now_ns)
        };
        let mut metric = MetricBuilder::gauge(name).description(help);
        metric.push_number(point);
        metric
    };
    let counts = synthetic.counts;
    scope.push(gauge(
        "up",
        "1 if the last scrape of the target succeeded, else 0.",
        if synthetic.up { 1.0 } else { 0.0 },
    ));
    scope.push(gauge(
        "scrape_duration_seconds",
        "Duration of the scrape.",
        synthetic.duration_seconds,
    ));
    scope.push(gauge(
        "scrape_samples_scraped",
        "Samples the target exposed.",
        counts.scraped as f64,
    ));
    scope.push(gauge(
        "scrape_samples_post_metric_relabeling",
        "Samples left after metric relabeling.",
        counts.post_relabel as f64,
    ));
    scope.push(gauge(
        "scrape_series_added",
        "Series not seen in the previous scrape.",
        counts.series_added as f64,
    ));
}

/// A failed scrape: `up` 0 and stale markers for every remembered series.
pub fn failed_scrape(
    target: &TargetInfo,
    options: &Options,
    memory: &mut TargetMemory,
    now_ns: u64,
    duration_seconds: f64,
) -> Batch {
    let mut out = Vec::new();
    collect_stale_markers(memory, |_| true, target, &mut out);
    let index = target_resource(&mut out, target);
    out[index].synthetic = true;
    let synthetic = Synthetic {
        up: false,
        duration_seconds,
        counts: ScrapeCounts::default(),
        stale: false,
    };
    build(out, target, options, now_ns, &synthetic)
}

/// Stale markers for everything a removed target ever reported, including the
/// synthetic series.
pub fn removed_target(
    target: &TargetInfo,
    options: &Options,
    memory: &mut TargetMemory,
    now_ns: u64,
) -> Batch {
    let mut out = Vec::new();
    collect_stale_markers(memory, |_| true, target, &mut out);
    let index = target_resource(&mut out, target);
    out[index].synthetic = true;
    let synthetic = Synthetic {
        up: false,
        duration_seconds: 0.0,
        counts: ScrapeCounts::default(),
        stale: true,
    };
    build(out, target, options, now_ns, &synthetic)
}
