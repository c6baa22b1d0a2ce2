//! OTLP metrics to remote-write time series, following the spec's "OTLP Metric points to
//! Prometheus" section (`shared/conformance/otel_spec/compatibility/
//! prometheus_and_openmetrics.md`).
//!
//! One call converts one batch. Series are grouped by their full label set (so several
//! points of one series in a batch become one series with several samples, sorted by
//! time), and each series is assigned a shard from the hash of the point it came from
//! (name + labels without `le`/`quantile`), so a histogram's `_bucket`, `_sum` and
//! `_count` always travel together and one series always takes the same shard. The
//! hash is a function of the series' labels alone, which is what ordering needs, and it
//! spreads the series of one busy instance (one `job`/`instance`) over every shard.
//!
//! Each point has one *primary* series holding exactly one sample of it (the number
//! series, a histogram's or summary's `_count`, a native histogram's series), so the
//! exporter can tell how many points a request carries and how many of them the
//! ordering record left out ([`Converted::primary`]).
//!
//! Labels are built once per point as a sorted `Vec<Label>` and moved or copied into the
//! point's series; series are found by a hash of their labels, which also becomes the
//! series' key in the exporter's ordering record (see [`Converted::hashes`]).

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use foldhash::HashMap;
use std::hash::Hash;
use std::time::Instant;

use weir_api::batch::view::{
    Attributes, ExemplarView, ExponentialHistogramPointView, HistogramPointView,
    MetricType as Otlp, MetricView, NumberPointView, NumberValue, ResourceMetricsView, ScopeView,
    SummaryPointView, Temporality, ValueRef,
};
use weir_api::batch::Batch;
use weir_proto::remote_write::{
    metric_metadata::MetricType, Exemplar, Histogram, Label, MetricMetadata, Sample, TimeSeries,
};

use crate::attributes::{self, Collector};
use crate::delta::DeltaState;
use crate::naming::{unit_name, LabelNamer, MetricKind, MetricNamer, Strategy};
use crate::native;

/// Prometheus' staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);
const NO_RECORDED_VALUE: u32 = 1;

/// Why a point (or sample) was not converted. Each has a `weir_items_dropped` reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    InvalidMetricName,
    InvalidLabelName,
    MissingTimestamp,
    MissingValue,
    UnspecifiedTemporality,
    ScaleTooLow,
    MissingSum,
    DeltaOutOfOrder,
    DeltaStreamsLimit,
    /// A sample not newer than what was already delivered for its series (samples).
    OutOfOrderSample,
    /// A sample or histogram a 2.0 endpoint answered it did not write (`crate::v2`).
    PartialWrite,
}

impl DropReason {
    pub const ALL: [DropReason; 11] = [
        Self::InvalidMetricName,
        Self::InvalidLabelName,
        Self::MissingTimestamp,
        Self::MissingValue,
        Self::UnspecifiedTemporality,
        Self::ScaleTooLow,
        Self::MissingSum,
        Self::DeltaOutOfOrder,
        Self::DeltaStreamsLimit,
        Self::OutOfOrderSample,
        Self::PartialWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidMetricName => "invalid_metric_name",
            Self::InvalidLabelName => "invalid_label_name",
            Self::MissingTimestamp => "missing_timestamp",
            Self::MissingValue => "missing_value",
            Self::UnspecifiedTemporality => "unspecified_temporality",
            Self::ScaleTooLow => "exponential_histogram_scale_below_-4",
            Self::MissingSum => "exponential_histogram_without_sum",
            Self::DeltaOutOfOrder => "delta_out_of_order",
            Self::DeltaStreamsLimit => "delta_streams_limit",
            Self::OutOfOrderSample => "sample_older_than_delivered",
            Self::PartialWrite => "partial_write",
        }
    }
}

/// The mapping options, from the config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub namer: MetricNamer,
    pub labels: LabelNamer,
    pub utf8_allowed: bool,
    pub external_labels: Vec<(String, String)>,
    pub resource_to_telemetry: bool,
    pub exclude_service_attributes: bool,
    pub target_info: bool,
    pub export_created: bool,
    pub send_metadata: bool,
    pub scope_labels: bool,
    pub target_info_name: String,
    /// Remote-write 2.0: also record, per series, its family's metadata and each
    /// sample's start time ([`Converted::v2_info`], read by `crate::v2`).
    pub v2: bool,
}

impl Settings {
    pub fn new(strategy: Strategy, namespace: &str) -> Self {
        let target_info_name = if namespace.is_empty() {
            "target_info".to_string()
        } else {
            format!("{namespace}_target_info")
        };
        Self {
            namer: MetricNamer::new(namespace, strategy),
            labels: LabelNamer {
                utf8_allowed: !strategy.escapes(),
                ..Default::default()
            },
            utf8_allowed: !strategy.escapes(),
            external_labels: Vec::new(),
            resource_to_telemetry: false,
            exclude_service_attributes: false,
            target_info: true,
            export_created: false,
            send_metadata: false,
            scope_labels: true,
            target_info_name,
            v2: false,
        }
    }
}

/// One batch, converted and split by shard.
#[derive(Debug, Default)]
pub struct Converted {
    pub shards: Vec<Vec<TimeSeries>>,
    /// `labels_hash` of each series in `shards`, in the same order.
    pub hashes: Vec<Vec<u64>>,
    /// Whether each series in `shards` is the primary series of its points (one sample
    /// per point), in the same order.
    pub primary: Vec<Vec<bool>>,
    /// Points converted into each shard (a point belongs to exactly one shard).
    pub shard_points: Vec<usize>,
    pub metadata: Vec<MetricMetadata>,
    /// Points not converted, by reason.
    pub dropped: HashMap<DropReason, usize>,
    /// Remote-write 2.0 only (`Settings::v2`, else empty): per series in `shards`, in
    /// the same order, its family and start times; `v2_families` is what `family`
    /// indexes. See `crate::v2`.
    pub v2_info: Vec<Vec<crate::v2::SeriesInfo>>,
    pub v2_families: Vec<MetricMetadata>,
}

impl Converted {
    pub fn dropped_points(&self) -> usize {
        self.dropped.values().sum()
    }
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// Builds the series of one batch.
struct Builder<'a> {
    settings: &'a Settings,
    shards: usize,
    /// Labels hash -> index in `series`; a colliding hash probes on (see `series_for`).
    index: HashMap<u64, usize>,
    /// Sent series to build new ones in (see [`convert_recycling`]).
    recycled: Vec<TimeSeries>,
    /// The label set being looked up, built in place (its strings are reused).
    scratch: Vec<Label>,
    /// A point's labels, reused from one number point to the next.
    point_scratch: Vec<Label>,
    /// Shard, labels hash, primary (see the module docs), series.
    series: Vec<(usize, u64, bool, TimeSeries)>,
    /// Whether the current resource had a point that is not a stale marker.
    live_points: bool,
    /// Whether the current resource had a stale marker.
    stale_points: bool,
    shard_points: Vec<usize>,
    metadata: BTreeMap<String, MetricMetadata>,
    dropped: HashMap<DropReason, usize>,
    /// Remote-write 2.0 (`Settings::v2`): per series, in step with `series`; the family
    /// of the metric being converted; the series last found by `series_index`.
    v2: crate::v2::Recorder,
}

/// Per-resource labels: `job`/`instance` and, when configured, the resource attributes
/// (as label values, in their order).
struct ResourceContext<'a> {
    job: Option<String>,
    instance: Option<String>,
    attributes: Vec<(&'a str, String)>,
}

/// Per-point label base and identity, shared by the series a point expands into.
struct PointLabels {
    /// Sorted by name, without `__name__`.
    labels: Vec<Label>,
    shard: usize,
    stream_key: u64,
}

/// Adds a pair behind the first `n`; false when there is no room.
fn push<'a>(pairs: &mut [(&'a str, &'a str)], n: &mut usize, k: &'a str, v: &'a str) -> bool {
    let Some(slot) = pairs.get_mut(*n) else {
        return false;
    };
    *slot = (k, v);
    *n += 1;
    true
}

/// The most labels [`Builder::plain_point_labels`] builds on the stack; a point with more
/// takes the general way.
const PLAIN_LABELS: usize = 32;

/// The `otel_scope_*` labels of one scope (the same for all its points), or why its
/// points cannot be converted.
type ScopeLabels = Result<BTreeMap<String, String>, DropReason>;

pub fn convert(
    batch: &Batch,
    settings: &Settings,
    shards: usize,
    delta: &mut DeltaState,
    now: Instant,
) -> Converted {
    convert_recycling(batch, settings, shards, delta, now, &mut Vec::new())
}

/// [`convert`], building the new series in `recycled` ones (sent series handed back by
/// the exporter, see `lane::Encoded::recycling`): their label strings and sample
/// vectors are overwritten in place instead of allocated and freed for every series of
/// every batch. What is not used stays in `recycled`.
pub fn convert_recycling(
    batch: &Batch,
    settings: &Settings,
    shards: usize,
    delta: &mut DeltaState,
    now: Instant,
    recycled: &mut Vec<TimeSeries>,
) -> Converted {
    let shards = shards.max(1);
    let mut b = Builder {
        settings,
        shards,
        index: HashMap::default(),
        recycled: std::mem::take(recycled),
        scratch: Vec::new(),
        point_scratch: Vec::new(),
        series: Vec::new(),
        live_points: false,
        stale_points: false,
        shard_points: vec![0; shards],
        metadata: BTreeMap::new(),
        dropped: HashMap::default(),
        v2: crate::v2::Recorder::new(settings.v2),
    };
    delta.sweep(now, false);
    for rm in batch.metrics() {
        b.resource(rm, delta, now);
    }
    *recycled = std::mem::take(&mut b.recycled);
    b.finish()
}

fn ms(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

/// The identity of a label set: the key of the series index and of the ordering record.
pub fn labels_hash(labels: &[Label]) -> u64 {
    use std::hash::Hasher;
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    for label in labels {
        h.write(label.name.as_bytes());
        h.write_u8(0xff);
        h.write(label.value.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

fn to_label_vec(labels: BTreeMap<String, String>) -> Vec<Label> {
    labels
        .into_iter()
        .map(|(name, value)| Label { name, value })
        .collect()
}

/// Makes `out[at]` the label `k`=`v`, overwriting the strings of a label already there
/// (their allocations are reused) or appending one (`at` is at most `out.len()`).
fn set_label(out: &mut Vec<Label>, at: usize, k: &str, v: &str) {
    match out.get_mut(at) {
        Some(label) => {
            label.name.clear();
            label.name.push_str(k);
            label.value.clear();
            label.value.push_str(v);
        }
        None => out.push(Label {
            name: k.to_string(),
            value: v.to_string(),
        }),
    }
}

/// `base` (sorted, without `__name__`) plus `__name__` and an optional extra label that
/// replaces a base label of the same name, still sorted by name, written into `out`
/// over the labels already there (their strings are reused, not reallocated).
fn fill_with_name(out: &mut Vec<Label>, base: &[Label], name: &str, extra: Option<(&str, &str)>) {
    let mut added: [Option<(&str, &str)>; 2] = [Some(("__name__", name)), extra];
    if let [Some(a), Some(b)] = added {
        if b.0 < a.0 {
            added = [Some(b), Some(a)];
        }
    }
    let mut n = 0;
    let mut put = |out: &mut Vec<Label>, k: &str, v: &str| {
        set_label(out, n, k, v);
        n += 1;
    };
    let mut next = 0;
    for label in base {
        if extra.is_some_and(|(k, _)| k == label.name) {
            continue;
        }
        while let Some(Some((k, v))) = added.get(next) {
            if *k > label.name.as_str() {
                break;
            }
            put(out, k, v);
            next += 1;
        }
        put(out, &label.name, &label.value);
    }
    for (k, v) in added[next..].iter().flatten() {
        put(out, k, v);
    }
    out.truncate(n);
}

fn hash_of(value: &impl Hash) -> u64 {
    // foldhash with a fixed seed: several times cheaper than SipHash on label sets, and
    // stable for the process's life (shards and delta streams are keyed by it).
    foldhash::fast::FixedState::default().hash_one(value)
}

fn number_value(p: &NumberPointView<'_>) -> Option<f64> {
    match p.value() {
        NumberValue::None => None,
        value => Some(value.as_f64()),
    }
}

fn is_service_attribute(key: &str) -> bool {
    [SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&key)
}

fn stale(flags: u32) -> bool {
    flags & NO_RECORDED_VALUE != 0
}

/// `le` and `quantile` values as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes them.
fn format_bound(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        v.to_string()
    }
}

impl Builder<'_> {
    fn drop(&mut self, reason: DropReason, n: usize) {
        if n > 0 {
            *self.dropped.entry(reason).or_default() += n;
        }
    }

    fn resource(&mut self, rm: ResourceMetricsView<'_>, delta: &mut DeltaState, now: Instant) {
        let attrs = rm.resource().attributes();
        let get = |key: &str| {
            attrs
                .get(key)
                .map(attributes::value_to_string)
                .filter(|v| !v.is_empty())
        };
        let job = match (get(SERVICE_NAMESPACE), get(SERVICE_NAME)) {
            (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
            (None, Some(name)) => Some(name),
            _ => None,
        };
        let ctx = ResourceContext {
            job,
            instance: get(SERVICE_INSTANCE_ID),
            attributes: if self.settings.resource_to_telemetry {
                attrs
                    .iter()
                    .filter(|(key, _)| {
                        !self.settings.exclude_service_attributes || !is_service_attribute(key)
                    })
                    .map(|(key, value)| (key, attributes::value_to_string(value)))
                    .collect()
            } else {
                Vec::new()
            },
        };
        let mut newest = 0u64;
        self.live_points = false;
        self.stale_points = false;
        for sm in rm.scopes() {
            let scope_labels = self.scope_labels(sm.scope(), sm.schema_url());
            for m in sm.metrics() {
                newest = newest.max(self.metric(m, &scope_labels, &ctx, delta, now));
            }
        }
        if self.settings.target_info && newest > 0 {
            // A resource holding only stale markers is gone: so is its target_info.
            let stale = self.stale_points && !self.live_points;
            self.target_info(attrs, &ctx, newest, stale);
        }
    }

    /// Notes whether a converted point of the current resource is a stale marker.
    fn note_point(&mut self, is_stale: bool) {
        if is_stale {
            self.stale_points = true;
        } else {
            self.live_points = true;
        }
    }

    /// `target_info`: one sample per resource with the attributes that are not `job`/`instance`.
    fn target_info(
        &mut self,
        attrs: Attributes<'_>,
        ctx: &ResourceContext,
        newest: u64,
        stale: bool,
    ) {
        let mut collector = Collector::default();
        let mut others = 0;
        for (key, value) in attrs.iter().filter(|(key, _)| !is_service_attribute(key)) {
            others += 1;
            collector.add_with(key, || attributes::value_to_string(value));
        }
        if others == 0 {
            return;
        }
        let Ok(mut labels) = collector.into_labels(&self.settings.labels) else {
            self.drop(DropReason::InvalidLabelName, 1);
            return;
        };
        self.identity(&mut labels, ctx);
        let name = self.settings.target_info_name.clone();
        self.v2.family(&name, MetricType::Gauge, "", String::new);
        let labels = to_label_vec(labels);
        let shard = self.shard_for(hash_of(&(&name, &labels)));
        let series = self.series(shard, &name, &labels, None);
        series.samples.push(Sample {
            value: if stale { STALE_NAN } else { 1.0 },
            timestamp: ms(newest),
        });
    }

    /// Sets `job`/`instance` from the resource (they win over attributes of the same
    /// name) and adds external labels that are not already there.
    fn identity(&self, labels: &mut BTreeMap<String, String>, ctx: &ResourceContext) {
        if let Some(job) = &ctx.job {
            labels.insert("job".into(), job.clone());
        }
        if let Some(instance) = &ctx.instance {
            labels.insert("instance".into(), instance.clone());
        }
        for (k, v) in &self.settings.external_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// The `otel_scope_*` labels of a scope, computed once for all its points.
    fn scope_labels(&self, scope: ScopeView<'_>, scope_schema_url: &str) -> ScopeLabels {
        let mut scope_labels = BTreeMap::new();
        if self.settings.scope_labels {
            // An absent scope reads as one without a name, version or attributes, which
            // adds no labels either.
            let mut scope_attrs = Collector::default();
            for (key, value) in scope.attributes().iter() {
                scope_attrs.add_with(&format!("otel_scope_{key}"), || {
                    attributes::value_to_string(value)
                });
            }
            scope_labels = scope_attrs
                .into_labels(&self.settings.labels)
                .map_err(|_| DropReason::InvalidLabelName)?;
            for (k, v) in [
                ("otel_scope_name", scope.name()),
                ("otel_scope_version", scope.version()),
            ] {
                scope_labels.remove(k);
                if !v.is_empty() {
                    scope_labels.insert(k.into(), v.to_string());
                }
            }
            scope_labels.remove("otel_scope_schema_url");
            if !scope_schema_url.is_empty() {
                scope_labels.insert("otel_scope_schema_url".into(), scope_schema_url.to_string());
            }
        }
        Ok(scope_labels)
    }

    /// The shard of a series: by the identity hash of the point it came from.
    fn shard_for(&self, identity: u64) -> usize {
        (identity % self.shards as u64) as usize
    }

    fn point_labels(
        &mut self,
        name: &str,
        kind: MetricKind,
        point_attrs: Attributes<'_>,
        scope_labels: &ScopeLabels,
        ctx: &ResourceContext,
    ) -> Result<PointLabels, DropReason> {
        let scope_labels = scope_labels.as_ref().map_err(|reason| *reason)?;
        let mut labels = std::mem::take(&mut self.point_scratch);
        if self.plain_point_labels(point_attrs, scope_labels, ctx, &mut labels) {
            return Ok(self.identified(name, kind, labels));
        }
        self.point_scratch = labels;
        let mut collector = Collector::default();
        collector.add(point_attrs);
        for (key, value) in &ctx.attributes {
            collector.add_with(key, || value.clone());
        }
        let mut labels = collector
            .into_labels(&self.settings.labels)
            .map_err(|_| DropReason::InvalidLabelName)?;
        for (k, v) in scope_labels {
            match labels.get_mut(k) {
                Some(existing) => {
                    existing.push(';');
                    existing.push_str(v);
                }
                None => {
                    labels.insert(k.clone(), v.clone());
                }
            }
        }
        self.identity(&mut labels, ctx);
        Ok(self.identified(name, kind, to_label_vec(labels)))
    }

    /// The common case of [`Self::point_labels`], without its intermediate maps: every
    /// attribute a string under a key that is already a label name of its own, none
    /// repeated or clashing with a scope label, no resource attributes to copy, at most
    /// [`PLAIN_LABELS`] labels. Writes the sorted labels into `out` over its old ones
    /// (their strings are reused); `false` sends the point the general way, which gives
    /// the same labels.
    fn plain_point_labels(
        &self,
        point_attrs: Attributes<'_>,
        scope_labels: &BTreeMap<String, String>,
        ctx: &ResourceContext,
        out: &mut Vec<Label>,
    ) -> bool {
        if !ctx.attributes.is_empty() {
            return false;
        }
        let mut pairs: [(&str, &str); PLAIN_LABELS] = [("", ""); PLAIN_LABELS];
        let mut n = 0;
        for (key, value) in point_attrs.iter() {
            let ValueRef::Str(value) = value else {
                return false;
            };
            if !self.settings.labels.keeps(key) || scope_labels.contains_key(key) {
                return false;
            }
            if !push(&mut pairs, &mut n, key, value) {
                return false;
            }
        }
        let attributes = n;
        pairs[..attributes].sort_unstable_by(|a, b| a.0.cmp(b.0));
        if pairs[..attributes].windows(2).any(|w| w[0].0 == w[1].0) {
            return false;
        }
        for (k, v) in scope_labels {
            if !push(&mut pairs, &mut n, k, v) {
                return false;
            }
        }
        for (key, value) in [("job", &ctx.job), ("instance", &ctx.instance)] {
            let Some(value) = value else { continue };
            match pairs[..attributes].iter_mut().find(|(k, _)| *k == key) {
                Some(existing) => existing.1 = value,
                None => {
                    if !push(&mut pairs, &mut n, key, value) {
                        return false;
                    }
                }
            }
        }
        for (k, v) in &self.settings.external_labels {
            if !pairs[..n].iter().any(|(name, _)| name == k) && !push(&mut pairs, &mut n, k, v) {
                return false;
            }
        }
        let pairs = &mut pairs[..n];
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut written = 0;
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            set_label(out, written, k, v);
            written += 1;
        }
        out.truncate(written);
        true
    }

    /// A point's labels (sorted, without `__name__`) with its identity and shard.
    fn identified(&self, name: &str, kind: MetricKind, labels: Vec<Label>) -> PointLabels {
        use std::hash::Hasher;
        let mut h = foldhash::fast::FixedState::default().build_hasher();
        h.write(name.as_bytes());
        h.write_u8(0xff);
        h.write_u8(kind as u8);
        for label in &labels {
            h.write(label.name.as_bytes());
            h.write_u8(0xff);
            h.write(label.value.as_bytes());
            h.write_u8(0xfe);
        }
        let identity = h.finish();
        PointLabels {
            shard: self.shard_for(identity),
            stream_key: identity,
            labels,
        }
    }

    /// The series with these labels plus `__name__` (and an optional extra label such as
    /// `le`), created on first use.
    fn series(
        &mut self,
        shard: usize,
        name: &str,
        base: &[Label],
        extra: Option<(&str, String)>,
    ) -> &mut TimeSeries {
        let index = self.series_index(shard, name, base, extra);
        &mut self.series[index].3
    }

    /// The primary series of a point (see the module docs).
    fn primary_series(&mut self, shard: usize, name: &str, base: &[Label]) -> &mut TimeSeries {
        let index = self.series_index(shard, name, base, None);
        self.series[index].2 = true;
        &mut self.series[index].3
    }

    fn series_index(
        &mut self,
        shard: usize,
        name: &str,
        base: &[Label],
        extra: Option<(&str, String)>,
    ) -> usize {
        fill_with_name(
            &mut self.scratch,
            base,
            name,
            extra.as_ref().map(|(k, v)| (*k, v.as_str())),
        );
        let hash = labels_hash(&self.scratch);
        // Open addressing over the hash: a different label set under the same key
        // (a 64-bit collision) moves on to the next key.
        let mut key = hash;
        loop {
            match self.index.get(&key) {
                Some(&i) if self.series[i].3.labels == self.scratch => break self.v2.found(i),
                Some(_) => key = key.wrapping_add(0x9e37_79b9_7f4a_7c15),
                None => {
                    let mut series = self.recycled.pop().unwrap_or_default();
                    series.samples.clear();
                    series.exemplars.clear();
                    series.histograms.clear();
                    // The series takes the built labels; the scratch takes its old ones,
                    // whose strings the next lookup overwrites.
                    std::mem::swap(&mut series.labels, &mut self.scratch);
                    self.series.push((shard, hash, false, series));
                    self.index.insert(key, self.series.len() - 1);
                    self.v2.created();
                    break self.v2.found(self.series.len() - 1);
                }
            }
        }
    }

    fn note_metadata(&mut self, family: &str, kind: MetricType, m: &MetricView<'_>) {
        self.v2.family(family, kind, m.description(), || {
            unit_name(m.unit(), self.settings.utf8_allowed)
        });
        if !self.settings.send_metadata {
            return;
        }
        self.metadata
            .entry(family.to_string())
            .or_insert_with(|| MetricMetadata {
                r#type: kind as i32,
                metric_family_name: family.to_string(),
                help: m.description().to_string(),
                unit: unit_name(m.unit(), self.settings.utf8_allowed),
            });
    }

    /// Converts one metric; returns the newest point time seen (for `target_info`).
    fn metric(
        &mut self,
        m: MetricView<'_>,
        scope_labels: &ScopeLabels,
        ctx: &ResourceContext,
        delta: &mut DeltaState,
        now: Instant,
    ) -> u64 {
        let otlp_type = m.metric_type();
        let kind = match otlp_type {
            Otlp::Empty => return 0,
            Otlp::Gauge => MetricKind::Gauge,
            Otlp::Sum if m.is_monotonic() => MetricKind::MonotonicCounter,
            Otlp::Sum => MetricKind::NonMonotonicCounter,
            Otlp::Histogram => MetricKind::Histogram,
            Otlp::ExponentialHistogram => MetricKind::ExponentialHistogram,
            Otlp::Summary => MetricKind::Summary,
        };
        let name = match self.settings.namer.build(m.name(), m.unit(), kind) {
            Ok(name) => name,
            Err(_) => {
                self.drop(DropReason::InvalidMetricName, m.point_count());
                return 0;
            }
        };
        // Anything but delta or cumulative (an unknown value too) counts as unspecified.
        let temporality = match m.temporality() {
            Temporality::Delta => Some(true),
            Temporality::Cumulative => Some(false),
            Temporality::Unspecified | Temporality::Other(_) => None,
        };
        let mut newest = 0;
        let mut see = |t: u64| newest = newest.max(t);
        let point_ctx = PointCtx {
            name: &name,
            kind,
            scope_labels,
            ctx,
        };
        match otlp_type {
            Otlp::Empty => {}
            Otlp::Gauge => {
                self.note_metadata(&name, MetricType::Gauge, &m);
                for p in m.number_points() {
                    see(p.time_unix_nano());
                    self.number(&point_ctx, &p, None, false, delta, now);
                }
            }
            Otlp::Sum => {
                let monotonic = m.is_monotonic();
                let metadata_type = if monotonic {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                };
                self.note_metadata(&name, metadata_type, &m);
                for p in m.number_points() {
                    let Some(is_delta) = temporality else {
                        self.drop(DropReason::UnspecifiedTemporality, 1);
                        continue;
                    };
                    see(p.time_unix_nano());
                    self.number(&point_ctx, &p, Some(is_delta), monotonic, delta, now);
                }
            }
            Otlp::Histogram => {
                self.note_metadata(&name, MetricType::Histogram, &m);
                for p in m.histogram_points() {
                    let Some(is_delta) = temporality else {
                        self.drop(DropReason::UnspecifiedTemporality, 1);
                        continue;
                    };
                    see(p.time_unix_nano());
                    self.histogram(&point_ctx, &p, is_delta, delta, now);
                }
            }
            Otlp::ExponentialHistogram => {
                self.note_metadata(&name, MetricType::Histogram, &m);
                for p in m.exponential_histogram_points() {
                    let Some(is_delta) = temporality else {
                        self.drop(DropReason::UnspecifiedTemporality, 1);
                        continue;
                    };
                    see(p.time_unix_nano());
                    self.exponential(&point_ctx, &p, is_delta, delta, now);
                }
            }
            Otlp::Summary => {
                self.note_metadata(&name, MetricType::Summary, &m);
                for p in m.summary_points() {
                    see(p.time_unix_nano());
                    self.summary(&point_ctx, &p);
                }
            }
        }
        newest
    }

    fn labels_for(
        &mut self,
        pc: &PointCtx,
        attrs: Attributes<'_>,
        time: u64,
    ) -> Option<PointLabels> {
        if time == 0 {
            self.drop(DropReason::MissingTimestamp, 1);
            return None;
        }
        match self.point_labels(pc.name, pc.kind, attrs, pc.scope_labels, pc.ctx) {
            Ok(l) => Some(l),
            Err(reason) => {
                self.drop(reason, 1);
                None
            }
        }
    }

    /// Gauges and sums. `delta` is `None` for gauges.
    fn number(
        &mut self,
        pc: &PointCtx,
        p: &NumberPointView<'_>,
        delta_sum: Option<bool>,
        monotonic: bool,
        delta: &mut DeltaState,
        now: Instant,
    ) {
        let point_time = p.time_unix_nano();
        let Some(pl) = self.labels_for(pc, p.attributes(), point_time) else {
            return;
        };
        let is_stale = stale(p.flags());
        let Some(raw) = number_value(p).or(if is_stale { Some(0.0) } else { None }) else {
            self.drop(DropReason::MissingValue, 1);
            return;
        };
        let mut start = p.start_time_unix_nano();
        let mut value = raw;
        let mut time = point_time;
        if delta_sum == Some(true) && !is_stale {
            match delta.add_number(pl.stream_key, start, point_time, raw, now) {
                Ok((s, at, total)) => (start, time, value) = (s, at, total),
                Err(reason) => {
                    self.drop(reason, 1);
                    return;
                }
            }
        }
        if is_stale {
            value = STALE_NAN;
        }
        let ts = ms(time);
        self.shard_points[pl.shard] += 1;
        self.note_point(is_stale);
        let is_counter = delta_sum.is_some() && monotonic;
        let with_created = is_counter && self.settings.export_created && start != 0;
        let series = self.primary_series(pl.shard, pc.name, &pl.labels);
        series.samples.push(Sample {
            value,
            timestamp: ts,
        });
        if is_counter {
            series.exemplars.extend(p.exemplars().map(convert_exemplar));
            self.v2.start(ts, start, is_stale);
        }
        if with_created {
            let base = pc.name.strip_suffix("_total").unwrap_or(pc.name);
            let created = format!("{base}_created");
            self.series(pl.shard, &created, &pl.labels, None)
                .samples
                .push(Sample {
                    value: if is_stale {
                        STALE_NAN
                    } else {
                        start as f64 / 1e9
                    },
                    timestamp: ts,
                });
        }
        self.point_scratch = pl.labels;
    }

    fn histogram(
        &mut self,
        pc: &PointCtx,
        p: &HistogramPointView<'_>,
        is_delta: bool,
        delta: &mut DeltaState,
        now: Instant,
    ) {
        let Some(pl) = self.labels_for(pc, p.attributes(), p.time_unix_nano()) else {
            return;
        };
        let is_stale = stale(p.flags());
        if is_delta && !is_stale {
            match delta.add_histogram(pl.stream_key, p, now) {
                Ok(total) => self.histogram_series(
                    pc,
                    &pl,
                    HistogramValues {
                        start: total.start_time_unix_nano,
                        time: total.time_unix_nano,
                        count: total.count,
                        sum: total.sum,
                        bounds: total.explicit_bounds.iter().copied(),
                        counts: total.bucket_counts.iter().copied(),
                    },
                    p,
                    is_stale,
                ),
                Err(reason) => self.drop(reason, 1),
            }
        } else {
            self.histogram_series(
                pc,
                &pl,
                HistogramValues {
                    start: p.start_time_unix_nano(),
                    time: p.time_unix_nano(),
                    count: p.count(),
                    sum: p.sum(),
                    bounds: p.explicit_bounds(),
                    counts: p.bucket_counts(),
                },
                p,
                is_stale,
            );
        }
    }

    /// The `_bucket`, `_sum`, `_count` (and `_created`) series of one cumulative
    /// histogram point; exemplars are the received point's.
    fn histogram_series(
        &mut self,
        pc: &PointCtx,
        pl: &PointLabels,
        h: HistogramValues<impl Iterator<Item = f64>, impl Iterator<Item = u64>>,
        p: &HistogramPointView<'_>,
        is_stale: bool,
    ) {
        let ts = ms(h.time);
        let value = |v: f64| if is_stale { STALE_NAN } else { v };
        self.shard_points[pl.shard] += 1;
        self.note_point(is_stale);
        let bucket_name = format!("{}_bucket", pc.name);
        let mut cumulative_count = 0u64;
        let mut exemplars: Vec<ExemplarView<'_>> = p.exemplars().collect();
        let mut counts = h.counts;
        for bound in h.bounds {
            cumulative_count += counts.next().unwrap_or(0);
            let series = self.series(
                pl.shard,
                &bucket_name,
                &pl.labels,
                Some(("le", format_bound(bound))),
            );
            series.samples.push(Sample {
                value: value(cumulative_count as f64),
                timestamp: ts,
            });
            // An exemplar goes to the first bucket whose bound holds its value.
            exemplars.retain(|e| {
                if exemplar_value(e) <= bound {
                    series.exemplars.push(convert_exemplar(*e));
                    false
                } else {
                    true
                }
            });
            self.v2.start(ts, h.start, is_stale);
        }
        let inf = self.series(
            pl.shard,
            &bucket_name,
            &pl.labels,
            Some(("le", "+Inf".into())),
        );
        inf.samples.push(Sample {
            value: value(h.count as f64),
            timestamp: ts,
        });
        inf.exemplars
            .extend(exemplars.into_iter().map(convert_exemplar));
        self.v2.start(ts, h.start, is_stale);
        if let Some(sum) = h.sum {
            self.series(pl.shard, &format!("{}_sum", pc.name), &pl.labels, None)
                .samples
                .push(Sample {
                    value: value(sum),
                    timestamp: ts,
                });
            self.v2.start(ts, h.start, is_stale);
        }
        self.primary_series(pl.shard, &format!("{}_count", pc.name), &pl.labels)
            .samples
            .push(Sample {
                value: value(h.count as f64),
                timestamp: ts,
            });
        self.v2.start(ts, h.start, is_stale);
        self.created(pc.name, pl, h.start, ts, is_stale);
    }

    /// `_created` (the start time in seconds), or its stale marker for a stale point.
    fn created(&mut self, name: &str, pl: &PointLabels, start: u64, ts: i64, is_stale: bool) {
        if self.settings.export_created && start != 0 {
            self.series(pl.shard, &format!("{name}_created"), &pl.labels, None)
                .samples
                .push(Sample {
                    value: if is_stale {
                        STALE_NAN
                    } else {
                        start as f64 / 1e9
                    },
                    timestamp: ts,
                });
        }
    }

    fn exponential(
        &mut self,
        pc: &PointCtx,
        p: &ExponentialHistogramPointView<'_>,
        is_delta: bool,
        delta: &mut DeltaState,
        now: Instant,
    ) {
        let Some(pl) = self.labels_for(pc, p.attributes(), p.time_unix_nano()) else {
            return;
        };
        let is_stale = stale(p.flags());
        // Check what would make the point unconvertible before it enters the delta state.
        if p.scale() < native::MIN_SCHEMA {
            self.drop(DropReason::ScaleTooLow, 1);
            return;
        }
        if !is_stale && p.sum().is_none() {
            self.drop(DropReason::MissingSum, 1);
            return;
        }
        let mut start = p.start_time_unix_nano();
        let converted = if is_delta && !is_stale {
            delta
                .add_exponential(pl.stream_key, p, now)
                .and_then(|total| {
                    start = total.start_time_unix_nano;
                    native::to_native(total, ms(total.time_unix_nano), is_stale)
                })
        } else {
            native::to_native(p, ms(p.time_unix_nano()), is_stale)
        };
        let histogram: Histogram = match converted {
            Ok(h) => h,
            Err(reason) => {
                self.drop(reason, 1);
                return;
            }
        };
        self.shard_points[pl.shard] += 1;
        self.note_point(is_stale);
        let ts = histogram.timestamp;
        let series = self.primary_series(pl.shard, pc.name, &pl.labels);
        series.histograms.push(histogram);
        series.exemplars.extend(p.exemplars().map(convert_exemplar));
        self.v2.start(ts, start, is_stale);
    }

    fn summary(&mut self, pc: &PointCtx, p: &SummaryPointView<'_>) {
        let Some(pl) = self.labels_for(pc, p.attributes(), p.time_unix_nano()) else {
            return;
        };
        let is_stale = stale(p.flags());
        let value = |v: f64| if is_stale { STALE_NAN } else { v };
        let ts = ms(p.time_unix_nano());
        self.shard_points[pl.shard] += 1;
        self.note_point(is_stale);
        let mut quantiles: Vec<_> = p.quantiles().collect();
        quantiles.sort_by(|a, b| a.quantile.total_cmp(&b.quantile));
        for q in quantiles {
            self.series(
                pl.shard,
                pc.name,
                &pl.labels,
                Some(("quantile", format_bound(q.quantile))),
            )
            .samples
            .push(Sample {
                value: value(q.value),
                timestamp: ts,
            });
        }
        self.series(pl.shard, &format!("{}_sum", pc.name), &pl.labels, None)
            .samples
            .push(Sample {
                value: value(p.sum()),
                timestamp: ts,
            });
        self.v2.start(ts, p.start_time_unix_nano(), is_stale);
        self.primary_series(pl.shard, &format!("{}_count", pc.name), &pl.labels)
            .samples
            .push(Sample {
                value: value(p.count() as f64),
                timestamp: ts,
            });
        self.v2.start(ts, p.start_time_unix_nano(), is_stale);
        self.created(pc.name, &pl, p.start_time_unix_nano(), ts, is_stale);
    }

    fn finish(self) -> Converted {
        let mut shards: Vec<Vec<TimeSeries>> = vec![Vec::new(); self.shards];
        let mut hashes: Vec<Vec<u64>> = vec![Vec::new(); self.shards];
        let mut primary: Vec<Vec<bool>> = vec![Vec::new(); self.shards];
        let (v2_info, v2_families) = self.v2.split(self.shards, &self.series);
        for (shard, hash, is_primary, mut series) in self.series {
            sort_and_dedupe(&mut series);
            shards[shard].push(series);
            hashes[shard].push(hash);
            primary[shard].push(is_primary);
        }
        Converted {
            shards,
            hashes,
            primary,
            shard_points: self.shard_points,
            metadata: self.metadata.into_values().collect(),
            dropped: self.dropped,
            v2_info,
            v2_families,
        }
    }
}

struct PointCtx<'a> {
    name: &'a str,
    kind: MetricKind,
    scope_labels: &'a ScopeLabels,
    ctx: &'a ResourceContext<'a>,
}

/// What the series of a cumulative histogram point are made from: the point as it
/// arrived, or the delta state's total.
struct HistogramValues<B, C> {
    start: u64,
    time: u64,
    count: u64,
    sum: Option<f64>,
    bounds: B,
    counts: C,
}

/// Samples in time order; of several at the same millisecond the last one wins, since
/// Prometheus refuses a second, different value for a timestamp.
fn sort_and_dedupe(series: &mut TimeSeries) {
    series.samples.sort_by_key(|s| s.timestamp);
    dedupe_last(&mut series.samples, |s| s.timestamp);
    series.histograms.sort_by_key(|h| h.timestamp);
    dedupe_last(&mut series.histograms, |h| h.timestamp);
    series.exemplars.sort_by_key(|e| e.timestamp);
}

fn dedupe_last<T>(items: &mut Vec<T>, key: impl Fn(&T) -> i64) {
    let mut i = 0;
    while i + 1 < items.len() {
        if key(&items[i]) == key(&items[i + 1]) {
            items.remove(i);
        } else {
            i += 1;
        }
    }
}

fn exemplar_value(e: &ExemplarView<'_>) -> f64 {
    e.value().as_f64()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// OpenMetrics limits an exemplar's label names and values to 128 characters together;
/// the filtered attributes are left out when they would exceed it (trace and span ids
/// are kept: they are what exemplars are for).
const EXEMPLAR_LABELS_LIMIT: usize = 128;

fn convert_exemplar(e: ExemplarView<'_>) -> Exemplar {
    let mut labels = Vec::new();
    let mut ids = Vec::new();
    let (trace_id, span_id) = (e.trace_id(), e.span_id());
    if !trace_id.is_empty() && trace_id.iter().any(|b| *b != 0) {
        ids.push(Label {
            name: "trace_id".into(),
            value: hex(trace_id),
        });
    }
    if !span_id.is_empty() && span_id.iter().any(|b| *b != 0) {
        ids.push(Label {
            name: "span_id".into(),
            value: hex(span_id),
        });
    }
    let namer = LabelNamer::default();
    let mut size: usize = ids
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    let mut attrs = Vec::new();
    for (key, value) in e.filtered_attributes().iter() {
        let Ok(name) = namer.build(key) else {
            continue;
        };
        if name == "trace_id" || name == "span_id" {
            continue;
        }
        let value = attributes::value_to_string(value);
        size += name.chars().count() + value.chars().count();
        attrs.push(Label { name, value });
    }
    if size <= EXEMPLAR_LABELS_LIMIT {
        labels.extend(attrs);
    }
    labels.extend(ids);
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels.dedup_by(|a, b| a.name == b.name);
    Exemplar {
        labels,
        value: exemplar_value(&e),
        timestamp: ms(e.time_unix_nano()),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
