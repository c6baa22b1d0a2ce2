//! One scrape's samples to OTLP, and the per-target memory that needs across scrapes.
//!
//! Samples arrive one by one from the parser (see `scrape.rs`). The first time a line is
//! seen it gets the target's labels (Prometheus' honor_labels rules), metric relabeling
//! and the limits, and is classified: a counter's `_total` and `_created` join one Sum
//! point, a histogram's `_bucket`s, `_sum` and `_count` join one Histogram point, and so
//! on. Points are keyed by a hash of their labels, so samples of one series need not be
//! adjacent. That outcome is remembered per target (`memory.rs`): the same line in a
//! later scrape goes straight to its point, which is what keeps a fleet's repeated
//! scrapes cheap.
//!
//! Across scrapes a target remembers, per series, when it was first seen (the start time
//! of a cumulative point without `_created`, re-set when the value drops: a counter
//! reset) and enough to write a stale marker (a point flagged no-recorded-value, which
//! the remote-write exporter turns into Prometheus' stale NaN) when the series vanishes
//! or the target goes down. The batch is written as OTLP protobuf directly (`encode.rs`,
//! `wire.rs`), each series' attributes encoded once.

mod encode;
mod memory;
mod wire;

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use weir_api::{Batch, Signal};

use crate::parser::{Family, MetricType, Sample};
use crate::relabel::{self, LabelSet, Rule};
use encode::MetricWriter;
use memory::{Acc, Kind, Line, MetricMeta, PointState, Role, DROPPED};
pub use memory::{MetadataPool, TargetMemory};

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
    /// Metric metadata shared by the job's targets.
    pub metadata: Arc<MetadataPool>,
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

/// Counts a scrape reports about itself (the synthetic series).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub scraped: usize,
    pub post_relabel: usize,
    pub series_added: usize,
}

/// Builds one scrape's OTLP, reading and updating the target's memory.
pub struct ScrapeBuilder<'a> {
    target: &'a TargetInfo,
    options: &'a Options,
    memory: &'a mut TargetMemory,
    epoch: u32,
    now_ns: u64,
    counts: ScrapeCounts,
    /// Points (indexes) written in this scrape, with their metric, in first-write order.
    touched: Vec<(u32, u32)>,
    /// Encoded exemplars of this scrape, by point index.
    exemplars: Vec<(u32, Vec<u8>)>,
    labels: LabelSet,
    /// `target_info` samples: job, instance, labels.
    target_info: Vec<(String, String, LabelSet)>,
}

/// Order-independent hash of attributes, minus `skipped`.
fn labels_hash(seed: &foldhash::fast::RandomState, labels: &LabelSet, skipped: &[&str]) -> u64 {
    labels
        .iter()
        .filter(|(name, _)| !skipped.contains(&name.as_str()))
        .map(|(name, value)| {
            let mut h = seed.build_hasher();
            h.write(name.as_bytes());
            h.write_u8(0xff);
            h.write(value.as_bytes());
            h.finish()
        })
        .fold(0u64, u64::wrapping_add)
}

/// The identity of a sample line as written: its family (name and type), series name and
/// labels in order. Value, timestamp and exemplar are not part of it.
fn line_key(seed: &foldhash::fast::RandomState, sample: &Sample<'_>) -> u64 {
    let mut h = seed.build_hasher();
    h.write_u8(sample.family.kind as u8);
    h.write(sample.family.name.as_bytes());
    h.write_u8(0xff);
    h.write(sample.name.as_bytes());
    for (name, value) in sample.labels.iter() {
        h.write_u8(0xfe);
        h.write(name.as_bytes());
        h.write_u8(0xff);
        h.write(value.as_bytes());
    }
    h.finish()
}

fn seconds_to_ns(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e9) as u64
    } else {
        0
    }
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
    pub fn new(
        target: &'a TargetInfo,
        options: &'a Options,
        memory: &'a mut TargetMemory,
        now_ns: u64,
    ) -> Self {
        let epoch = memory.next_epoch();
        Self {
            target,
            options,
            memory,
            epoch,
            now_ns,
            counts: ScrapeCounts::default(),
            touched: Vec::new(),
            exemplars: Vec::new(),
            labels: Vec::new(),
            target_info: Vec::new(),
        }
    }

    /// Adds one parsed sample.
    pub fn add(&mut self, sample: &Sample<'_>) -> Result<(), LimitError> {
        self.counts.scraped += 1;
        let key = line_key(&self.memory.seed, sample);
        let line = match self.memory.lines.get_mut(&key) {
            Some(line) => {
                line.epoch = self.epoch;
                *line
            }
            None => match self.first_sight(sample)? {
                Some(line) => {
                    self.memory.lines.insert(key, line);
                    line
                }
                // target_info: handled anew in every scrape.
                None => return Ok(()),
            },
        };
        if line.point == DROPPED {
            return Ok(());
        }
        self.counts.post_relabel += 1;
        let limit = self.options.sample_limit;
        if limit > 0 && self.counts.post_relabel > limit {
            return Err(LimitError::SampleLimit(limit));
        }
        self.record(line.point, line.role, line.bound, sample);
        Ok(())
    }

    /// Writes a sample's value into its point.
    fn record(&mut self, index: u32, role: Role, bound: f64, sample: &Sample<'_>) {
        let Some(point) = self.memory.points.get_mut(index as usize) else {
            return;
        };
        if point.epoch != self.epoch {
            point.begin_scrape(self.epoch);
            point.time_ns = self.now_ns;
            self.touched.push((point.metric, index));
        }
        let time_ns = match sample.timestamp_ms {
            Some(ms) if self.options.honor_timestamps => {
                (ms.max(0) as u64).saturating_mul(1_000_000)
            }
            _ => self.now_ns,
        };
        let value = sample.value;
        match (&mut point.acc, role) {
            (_, Role::Created) => point.created_ns = seconds_to_ns(value),
            (Acc::Number(slot), _) => {
                *slot = value;
                point.time_ns = time_ns;
            }
            (Acc::Distribution(d), Role::Bucket | Role::Quantile) => {
                d.entries.push((bound, value));
                point.time_ns = time_ns;
            }
            (Acc::Distribution(d), Role::Count) => {
                d.count = Some(value);
                if self.memory.metrics[point.metric as usize].meta.kind == Kind::Summary {
                    point.time_ns = time_ns;
                }
            }
            (Acc::Distribution(d), Role::Sum) => d.sum = Some(value),
            (Acc::Distribution(_), Role::Number) => {}
        }
        if let Some(exemplar) = &sample.exemplar {
            let kind = self.memory.metrics[point.metric as usize].meta.kind;
            if matches!(kind, Kind::Counter | Kind::Histogram) {
                point.has_exemplars = true;
                self.exemplars.push((index, encode::exemplar(exemplar)));
            }
        }
    }

    /// The first time a line is seen: labels, relabeling, limits, classification, and
    /// its point (created when new). `None` for `target_info`, which is not remembered.
    fn first_sight(&mut self, sample: &Sample<'_>) -> Result<Option<Line>, LimitError> {
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
        let slot = self.classify_labels(sample, &mut labels);
        labels.clear();
        self.labels = labels;
        slot
    }

    fn classify_labels(
        &mut self,
        sample: &Sample<'_>,
        labels: &mut LabelSet,
    ) -> Result<Option<Line>, LimitError> {
        let dropped = Line {
            bound: 0.0,
            point: DROPPED,
            epoch: self.epoch,
            role: Role::Number,
        };
        if !relabel::apply_all(&self.options.metric_relabel, labels) {
            return Ok(Some(dropped));
        }
        let Some(position) = labels.iter().position(|(k, _)| k == "__name__") else {
            // Relabeling removed the name: Prometheus drops such a sample too.
            return Ok(Some(dropped));
        };
        // The sample limit counts this sample in `add`, which follows; the label limits
        // are checked here, once per line: a line that passed them passes again.
        self.check_label_limits(labels)?;
        let (_, name) = labels.swap_remove(position);

        if name == "target_info" {
            self.counts.post_relabel += 1;
            let limit = self.options.sample_limit;
            if limit > 0 && self.counts.post_relabel > limit {
                return Err(LimitError::SampleLimit(limit));
            }
            let job = relabel::get(labels, "job").to_string();
            let instance = relabel::get(labels, "instance").to_string();
            labels.retain(|(k, _)| k != "job" && k != "instance");
            self.target_info
                .push((job, instance, std::mem::take(labels)));
            return Ok(None);
        }
        for (key, value) in &self.options.external_labels {
            if relabel::get(labels, key).is_empty() {
                labels.push((key.clone(), value.clone()));
            }
        }
        let unrenamed = name == sample.name;
        let (metric_name, kind, role) = if unrenamed {
            classify(sample.family, &name)
        } else {
            (name.clone(), Kind::Gauge, Role::Number)
        };
        let (help, unit) = if unrenamed {
            (sample.family.help.as_str(), sample.family.unit.as_str())
        } else {
            ("", "")
        };
        let memory = &mut *self.memory;
        let resource = memory.resource_index(
            relabel::get(labels, "job"),
            relabel::get(labels, "instance"),
        );
        let meta = MetricMeta {
            name: metric_name,
            kind,
            help: help.to_string(),
            unit: unit.to_string(),
        };
        let metric = memory.metric_index(&self.options.metadata, resource, meta);
        // The metric's kind wins over this line's when a renamed line joins it.
        let kind = memory.metrics[metric as usize].meta.kind;
        let skipped: &[&str] = match role {
            Role::Bucket => &["le", "job", "instance"],
            Role::Quantile => &["quantile", "job", "instance"],
            _ => &["job", "instance"],
        };
        let point = {
            let mut h = memory.seed.build_hasher();
            h.write_u32(metric);
            h.write_u64(labels_hash(&memory.seed, labels, skipped));
            h.finish()
        };
        let point = memory.point_index(point, || {
            let attributes = memory::encode_attributes(
                kind,
                labels
                    .iter()
                    .filter(|(k, _)| !skipped.contains(&k.as_str()))
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            PointState::new(metric, kind, attributes)
        });
        let bound = match role {
            Role::Bucket => relabel::get(labels, "le")
                .parse::<f64>()
                .unwrap_or(f64::INFINITY),
            Role::Quantile => relabel::get(labels, "quantile")
                .parse::<f64>()
                .unwrap_or(f64::NAN),
            _ => 0.0,
        };
        Ok(Some(Line {
            bound,
            point,
            epoch: self.epoch,
            role,
        }))
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

    /// Ends a successful scrape: start times, histogram buckets, stale markers for
    /// vanished series, the synthetic series. Returns the OTLP and the counts.
    pub fn finish(mut self, duration_seconds: f64) -> (Batch, ScrapeCounts) {
        let (epoch, now) = (self.epoch, self.now_ns);
        let memory = &mut *self.memory;
        for &(metric, index) in &self.touched {
            let kind = memory.metrics[metric as usize].meta.kind;
            if let Some(point) = memory.points.get_mut(index as usize) {
                if point.commit(kind, now) {
                    self.counts.series_added += 1;
                }
            }
        }
        // One Metric message per metric: points of a metric together, in the order
        // metrics were first seen (a stable sort keeps each metric's point order).
        self.touched.sort_by_key(|&(metric, _)| metric);
        let mut out = Output::new(memory);
        let mut writer = MetricWriter::new();
        let mut exemplars: Vec<&[u8]> = Vec::new();
        let mut current: Option<u32> = None;
        for &(metric, index) in &self.touched {
            if current != Some(metric) {
                if let Some(previous) = current {
                    out.finish_metric(memory, &mut writer, previous);
                }
                current = Some(metric);
            }
            let Some(point) = memory.points.get(index as usize) else {
                continue;
            };
            exemplars.clear();
            if point.has_exemplars {
                exemplars.extend(
                    self.exemplars
                        .iter()
                        .filter(|(p, _)| *p == index)
                        .map(|(_, e)| e.as_slice()),
                );
            }
            writer.live_point(memory.metrics[metric as usize].meta.kind, point, &exemplars);
        }
        if let Some(previous) = current {
            out.finish_metric(memory, &mut writer, previous);
        }
        // Series not written in this scrape are gone: their stale markers, then forget them.
        out.stale_markers(memory, &mut writer, |p| p.epoch != epoch, now);
        memory.remove_points(|p| p.epoch != epoch);
        memory.lines.retain(|_, line| line.epoch == epoch);
        // A fleet holds thousands of these: no doubling slack once the series are known.
        if memory.points.capacity() > memory.points.len() * 9 / 8 + 16 {
            memory.points.shrink_to_fit();
        }
        let counts = self.counts;
        let synthetic = Synthetic {
            up: true,
            duration_seconds,
            counts,
            stale: false,
        };
        let batch = out.build(
            std::mem::take(&mut self.target_info),
            self.target,
            self.options,
            now,
            &synthetic,
        );
        (batch, counts)
    }
}

/// The resources of one batch being written: the target memory's resources (same
/// indexes), then any that only stale markers or the synthetic series need.
struct Output {
    resources: Vec<OutResource>,
}

struct OutResource {
    job: String,
    instance: String,
    /// Encoded `Metric` messages of its one scope.
    metrics: Vec<u8>,
    synthetic: bool,
}

impl Output {
    fn new(memory: &TargetMemory) -> Self {
        Self {
            resources: memory
                .resources
                .iter()
                .map(|r| OutResource {
                    job: r.job.clone(),
                    instance: r.instance.clone(),
                    metrics: Vec::new(),
                    synthetic: false,
                })
                .collect(),
        }
    }

    fn finish_metric(&mut self, memory: &TargetMemory, writer: &mut MetricWriter, metric: u32) {
        let m = &memory.metrics[metric as usize];
        let out = &mut self.resources[m.resource as usize].metrics;
        let meta = &m.meta;
        writer.finish_metric(out, &meta.name, meta.kind, &meta.help, &meta.unit);
    }

    /// Stale markers for the remembered points `gone` selects (the caller then forgets
    /// them).
    fn stale_markers(
        &mut self,
        memory: &TargetMemory,
        writer: &mut MetricWriter,
        gone: impl Fn(&PointState) -> bool,
        now_ns: u64,
    ) {
        for point in memory.points.iter().filter(|p| gone(p)) {
            let m = &memory.metrics[point.metric as usize];
            encode::stale_metric(
                &mut self.resources[m.resource as usize].metrics,
                writer,
                &m.meta,
                point,
                now_ns,
            );
        }
    }

    fn find(&mut self, job: &str, instance: &str) -> usize {
        match self
            .resources
            .iter()
            .position(|r| r.job == job && r.instance == instance)
        {
            Some(index) => index,
            None => {
                self.resources.push(OutResource {
                    job: job.to_string(),
                    instance: instance.to_string(),
                    metrics: Vec::new(),
                    synthetic: false,
                });
                self.resources.len() - 1
            }
        }
    }

    /// The batch: per resource (its attributes, `target_info` labels joining them), the
    /// scraped metrics, the stale markers, and on the target's own resource the
    /// synthetic series.
    fn build(
        mut self,
        target_info: Vec<(String, String, LabelSet)>,
        target: &TargetInfo,
        options: &Options,
        now_ns: u64,
        synthetic: &Synthetic,
    ) -> Batch {
        let own = self.find(target.job(), target.instance());
        self.resources[own].synthetic = true;
        let mut extras: Vec<(usize, LabelSet)> = Vec::new();
        for (job, instance, labels) in target_info {
            let index = self.find(&job, &instance);
            match extras.iter_mut().find(|(i, _)| *i == index) {
                Some((_, existing)) => existing.extend(labels),
                None => extras.push((index, labels)),
            }
        }
        let mut request = Vec::new();
        let mut scope = Vec::new();
        let mut resource = Vec::new();
        let mut writer = MetricWriter::new();
        for (index, r) in self.resources.iter_mut().enumerate() {
            let extra = extras
                .iter()
                .find(|(i, _)| *i == index)
                .map_or(&[][..], |(_, l)| l.as_slice());
            if r.metrics.is_empty() && !r.synthetic && extra.is_empty() {
                continue;
            }
            if r.synthetic {
                push_synthetic(
                    &mut r.metrics,
                    &mut writer,
                    target,
                    options,
                    now_ns,
                    synthetic,
                );
            }
            // ScopeMetrics { scope = 1 { name = 1, version = 2 }, metrics = 2 }
            scope.clear();
            let mut instrumentation = Vec::new();
            wire::string(&mut instrumentation, 1, SCOPE_NAME);
            wire::string(&mut instrumentation, 2, env!("CARGO_PKG_VERSION"));
            wire::message(&mut scope, 1, &instrumentation);
            scope.extend_from_slice(&r.metrics);
            // ResourceMetrics { resource = 1 { attributes = 1 }, scope_metrics = 2 }
            resource.clear();
            let attributes = resource_attributes(target, &r.job, &r.instance, extra);
            wire::message(&mut resource, 1, &attributes);
            wire::message(&mut resource, 2, &scope);
            wire::message(&mut request, 1, &resource);
        }
        match Batch::from_protobuf(Signal::Metrics, Bytes::from(request)) {
            Ok(batch) => batch,
            Err(error) => {
                // Only a bug in this module could get here; the scrape is then lost,
                // loudly, instead of the process.
                tracing::error!(%error, "the scrape's OTLP encoding is invalid");
                Batch::empty(Signal::Metrics)
            }
        }
    }
}

/// The resource attributes of `job` and `instance` (with the address when they are the
/// target's own), `target_info` labels replacing attributes of their name.
fn resource_attributes(
    target: &TargetInfo,
    job: &str,
    instance: &str,
    extra: &[(String, String)],
) -> Vec<u8> {
    let own = job == target.job() && instance == target.instance();
    let replaced = |key: &str, after: &[(String, String)]| after.iter().any(|(k, _)| k == key);
    let mut buf = Vec::new();
    for (key, value) in [
        ("service.name", Some(job)),
        ("service.instance.id", Some(instance)),
        ("server.address", own.then_some(target.host.as_str())),
    ] {
        if let Some(value) = value.filter(|_| !replaced(key, extra)) {
            wire::string_attribute(&mut buf, 1, key, value);
        }
    }
    if let Some(port) = target
        .port
        .filter(|_| own && !replaced("server.port", extra))
    {
        wire::int_attribute(&mut buf, 1, "server.port", i64::from(port));
    }
    if own && !replaced("url.scheme", extra) {
        wire::string_attribute(&mut buf, 1, "url.scheme", &target.scheme);
    }
    // An extra replaces earlier extras of its name and goes last.
    for (index, (key, value)) in extra.iter().enumerate() {
        if !replaced(key, &extra[index + 1..]) {
            wire::string_attribute(&mut buf, 1, key, value);
        }
    }
    buf
}

/// How the synthetic series of a scrape are written.
struct Synthetic {
    up: bool,
    duration_seconds: f64,
    counts: ScrapeCounts,
    /// As stale markers (the target was removed).
    stale: bool,
}

/// `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling`, `scrape_series_added`, with the target's
/// labels, as Prometheus writes them (as stale markers when `synthetic.stale`).
fn push_synthetic(
    out: &mut Vec<u8>,
    writer: &mut MetricWriter,
    target: &TargetInfo,
    options: &Options,
    now_ns: u64,
    synthetic: &Synthetic,
) {
    let mut pairs: Vec<(&str, &str)> = target
        .labels
        .iter()
        .filter(|(k, _)| k != "job" && k != "instance")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (key, value) in &options.external_labels {
        if !pairs.iter().any(|(k, _)| k == key) {
            pairs.push((key.as_str(), value.as_str()));
        }
    }
    let attributes = encode::number_attributes(pairs.into_iter());
    let counts = synthetic.counts;
    let series = [
        (
            "up",
            "1 if the last scrape of the target succeeded, else 0.",
            if synthetic.up { 1.0 } else { 0.0 },
        ),
        (
            "scrape_duration_seconds",
            "Duration of the scrape.",
            synthetic.duration_seconds,
        ),
        (
            "scrape_samples_scraped",
            "Samples the target exposed.",
            counts.scraped as f64,
        ),
        (
            "scrape_samples_post_metric_relabeling",
            "Samples left after metric relabeling.",
            counts.post_relabel as f64,
        ),
        (
            "scrape_series_added",
            "Series not seen in the previous scrape.",
            counts.series_added as f64,
        ),
    ];
    for (name, help, value) in series {
        writer.gauge_point(&attributes, value, now_ns, synthetic.stale);
        writer.finish_metric(out, name, Kind::Gauge, help, "");
    }
}

/// Stale markers for every remembered series, then the memory is emptied.
fn everything_stale(
    target: &TargetInfo,
    options: &Options,
    memory: &mut TargetMemory,
    now_ns: u64,
    synthetic: &Synthetic,
) -> Batch {
    let mut out = Output::new(memory);
    let mut writer = MetricWriter::new();
    out.stale_markers(memory, &mut writer, |_| true, now_ns);
    memory.clear();
    out.build(Vec::new(), target, options, now_ns, synthetic)
}

/// A failed scrape: `up` 0 and stale markers for every remembered series.
pub fn failed_scrape(
    target: &TargetInfo,
    options: &Options,
    memory: &mut TargetMemory,
    now_ns: u64,
    duration_seconds: f64,
) -> Batch {
    let synthetic = Synthetic {
        up: false,
        duration_seconds,
        counts: ScrapeCounts::default(),
        stale: false,
    };
    everything_stale(target, options, memory, now_ns, &synthetic)
}

/// Stale markers for everything a removed target ever reported, including the
/// synthetic series.
pub fn removed_target(
    target: &TargetInfo,
    options: &Options,
    memory: &mut TargetMemory,
    now_ns: u64,
) -> Batch {
    let synthetic = Synthetic {
        up: false,
        duration_seconds: 0.0,
        counts: ScrapeCounts::default(),
        stale: true,
    };
    everything_stale(target, options, memory, now_ns, &synthetic)
}
