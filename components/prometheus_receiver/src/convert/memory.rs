//! What a target remembers between scrapes, and how a remembered point is written.
//!
//! Two tables make a repeated scrape cheap:
//! - **lines**: the identity of a sample line as written (family, series name, labels)
//!   to the point its value joins, with its role (`_bucket` with its bound, `_sum`, ...),
//!   or to "dropped by metric relabeling". A line seen before skips label building,
//!   relabeling, classification and the point lookup: it costs one hash and one map
//!   lookup. Lines not seen in a scrape are forgotten at its end.
//! - **points**: per OTLP data point, its attributes encoded once as OTLP `KeyValue`s
//!   (copied into every later batch), the value accumulated in the current scrape, and
//!   what the conversion needs across scrapes: the start time of a cumulative series
//!   (first seen, re-set at a counter reset) and the shape of histograms and summaries
//!   (bounds, quantiles, whether a `_sum` was written) from the last complete scrape, so
//!   a stale marker covers every series the live point produced.
//!
//! Identities are 64-bit hashes with a per-target random seed; two different lines of one
//! target colliding is about as likely as 1 in 10^13 for a thousand series.
//!
//! Memory is what a fleet pays per series, so points live in a dense `Vec` (lines and
//! the identity map hold 4-byte indexes), and metric names, help texts and units are
//! shared by every target of a job through its [`MetadataPool`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use std::hash::{BuildHasher, Hasher};

use super::wire;

pub(super) type Map<V> = std::collections::HashMap<u64, V, foldhash::fast::RandomState>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

/// What a sample is to its point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Number,
    Created,
    Bucket,
    Quantile,
    Count,
    Sum,
}

/// The point index of a line that metric relabeling dropped (or whose name it removed).
pub(super) const DROPPED: u32 = u32::MAX;

/// Where a known line's value goes: `point` (an index into `TargetMemory::points`, or
/// [`DROPPED`]) as `role`; `bound` is the `le` or `quantile` of buckets/quantiles.
#[derive(Clone, Copy, Debug)]
pub(super) struct Line {
    pub bound: f64,
    pub point: u32,
    pub epoch: u32,
    pub role: Role,
}

/// A scraped resource: the `job` and `instance` its samples carried.
#[derive(Debug)]
pub(super) struct ResourceState {
    pub job: String,
    pub instance: String,
}

/// A metric's name, type and metadata, shared by the targets of a job.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MetricMeta {
    pub name: String,
    pub kind: Kind,
    pub help: String,
    pub unit: String,
}

/// The metric names, types and help texts of one scrape job. Every target of a job usually serves the same
/// families with the same help texts, so a thousand targets hold one copy of each. It
/// grows with the distinct families a job ever served (only on a line's first sight).
#[derive(Debug, Default)]
pub struct MetadataPool(Mutex<HashSet<Arc<MetricMeta>>>);

impl MetadataPool {
    fn get(&self, meta: MetricMeta) -> Arc<MetricMeta> {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = pool.get(&meta) {
            return existing.clone();
        }
        let meta = Arc::new(meta);
        pool.insert(meta.clone());
        meta
    }
}

#[derive(Debug)]
pub(super) struct MetricState {
    pub resource: u32,
    pub meta: Arc<MetricMeta>,
}

/// Buckets or quantiles of the current scrape, and the shape of the last complete one.
#[derive(Debug, Default)]
pub(super) struct Distribution {
    /// `(bound, value)`: cumulative buckets by `le`, or values by quantile.
    pub entries: Vec<(f64, f64)>,
    pub count: Option<f64>,
    pub sum: Option<f64>,
    /// Finite bounds (or quantiles), ascending, of the last complete scrape.
    pub shape: Vec<f64>,
    pub shape_has_sum: bool,
}

impl Distribution {
    fn reset(&mut self) {
        self.entries.clear();
        self.count = None;
        self.sum = None;
    }

    /// Makes the current scrape's bounds the remembered shape (no allocation when
    /// unchanged, the usual case).
    fn commit_shape(&mut self, histogram: bool) {
        self.shape_has_sum = !histogram || self.sum.is_some();
        let finite = self.entries.iter().map(|e| e.0).filter(|b| b.is_finite());
        let sorted_same = finite.clone().count() == self.shape.len()
            && finite.zip(&self.shape).all(|(a, b)| a.total_cmp(b).is_eq());
        if !sorted_same {
            self.shape = self
                .entries
                .iter()
                .map(|e| e.0)
                .filter(|b| b.is_finite())
                .collect();
            self.shape.sort_by(f64::total_cmp);
            self.shape.dedup();
        }
    }
}

#[derive(Debug)]
pub(super) enum Acc {
    Number(f64),
    Distribution(Box<Distribution>),
}

#[derive(Debug)]
pub(super) struct PointState {
    pub metric: u32,
    /// The scrape that last wrote to it.
    pub epoch: u32,
    /// `KeyValue`s, each as the attributes field of this point's message type.
    pub attributes: Box<[u8]>,
    pub acc: Acc,
    pub time_ns: u64,
    /// From a `_created` sample in the current scrape; 0 when there was none.
    pub created_ns: u64,
    pub start_ns: u64,
    pub last_value: f64,
    pub last_time_ns: u64,
    /// First seen in the current scrape (`scrape_series_added`).
    pub new: bool,
    /// The current scrape holds exemplars for it (in the builder's list).
    pub has_exemplars: bool,
}

impl PointState {
    pub fn new(metric: u32, kind: Kind, attributes: Box<[u8]>) -> Self {
        Self {
            metric,
            epoch: 0,
            attributes,
            acc: match kind {
                Kind::Gauge | Kind::Counter => Acc::Number(f64::NAN),
                Kind::Histogram | Kind::Summary => Acc::Distribution(Box::default()),
            },
            time_ns: 0,
            created_ns: 0,
            start_ns: 0,
            last_value: 0.0,
            last_time_ns: 0,
            new: true,
            has_exemplars: false,
        }
    }

    /// Clears what the previous scrape accumulated (the remembered shape stays).
    pub fn begin_scrape(&mut self, epoch: u32) {
        self.epoch = epoch;
        self.created_ns = 0;
        self.has_exemplars = false;
        match &mut self.acc {
            Acc::Number(v) => *v = f64::NAN,
            Acc::Distribution(d) => d.reset(),
        }
    }

    /// The value whose decrease means a reset (counters, histogram and summary counts).
    pub fn monotonic_value(&self) -> f64 {
        match &self.acc {
            Acc::Number(v) => *v,
            Acc::Distribution(d) => d
                .count
                .or(d.entries.iter().map(|b| b.1).reduce(f64::max))
                .unwrap_or(0.0),
        }
    }

    /// The end of a successful scrape: start time, reset detection, remembered shape.
    pub fn commit(&mut self, kind: Kind, now_ns: u64) -> bool {
        let value = self.monotonic_value();
        let added = self.new;
        if self.new {
            self.new = false;
            self.start_ns = self.time_ns.min(now_ns);
        } else if value < self.last_value {
            // A counter reset: the new run started after the previous scrape.
            self.start_ns = self.last_time_ns;
        }
        self.last_value = value;
        self.last_time_ns = self.time_ns;
        if let Acc::Distribution(d) = &mut self.acc {
            d.commit_shape(kind == Kind::Histogram);
        }
        added
    }
}

/// What a target remembers between scrapes (see the module docs).
#[derive(Debug, Default)]
pub struct TargetMemory {
    pub(super) seed: foldhash::fast::RandomState,
    pub(super) epoch: u32,
    pub(super) lines: Map<Line>,
    pub(super) points: Vec<PointState>,
    /// Point identity -> index in `points`.
    pub(super) ids: Map<u32>,
    pub(super) resources: Vec<ResourceState>,
    pub(super) metrics: Vec<MetricState>,
    /// Metric name hash -> index in `metrics` (with its resource; see `metric_index`).
    pub(super) metric_ids: Map<u32>,
}

impl TargetMemory {
    /// Series (OTLP data points) remembered for stale markers.
    pub fn series_count(&self) -> usize {
        self.points.len()
    }

    /// Starts a scrape; returns its epoch.
    pub(super) fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1).max(1);
        self.epoch
    }

    pub(super) fn resource_index(&mut self, job: &str, instance: &str) -> u32 {
        match self
            .resources
            .iter()
            .position(|r| r.job == job && r.instance == instance)
        {
            Some(index) => index as u32,
            None => {
                self.resources.push(ResourceState {
                    job: job.to_string(),
                    instance: instance.to_string(),
                });
                (self.resources.len() - 1) as u32
            }
        }
    }

    /// The metric of this name in the resource; the first kind and metadata seen win.
    pub(super) fn metric_index(
        &mut self,
        pool: &MetadataPool,
        resource: u32,
        meta: MetricMeta,
    ) -> u32 {
        let key = {
            let mut h = self.seed.build_hasher();
            h.write_u32(resource);
            h.write(meta.name.as_bytes());
            h.finish()
        };
        let same = |m: &MetricState| m.resource == resource && m.meta.name == meta.name;
        if let Some(&index) = self.metric_ids.get(&key) {
            if same(&self.metrics[index as usize]) {
                return index;
            }
            // A hash collision: the slow way, which only such a collision takes.
            if let Some(index) = self.metrics.iter().position(same) {
                return index as u32;
            }
        }
        let index = self.metrics.len() as u32;
        self.metrics.push(MetricState {
            resource,
            meta: pool.get(meta),
        });
        self.metric_ids.entry(key).or_insert(index);
        index
    }

    /// The point with this identity, created by `make` when new; returns its index.
    pub(super) fn point_index(&mut self, id: u64, make: impl FnOnce() -> PointState) -> u32 {
        let points = &mut self.points;
        *self.ids.entry(id).or_insert_with(|| {
            points.push(make());
            (points.len() - 1) as u32
        })
    }

    /// Removes the points `gone` selects (after their stale markers were written), keeps
    /// the others in order, and re-points lines and identities at the new indexes. Lines
    /// of removed points are forgotten.
    pub(super) fn remove_points(&mut self, gone: impl Fn(&PointState) -> bool) {
        if !self.points.iter().any(&gone) {
            return;
        }
        let mut new_index = vec![DROPPED; self.points.len()];
        let mut kept = 0u32;
        for (old, point) in self.points.iter().enumerate() {
            if !gone(point) {
                new_index[old] = kept;
                kept += 1;
            }
        }
        self.points.retain(|p| !gone(p));
        self.ids.retain(|_, index| {
            *index = new_index[*index as usize];
            *index != DROPPED
        });
        self.lines.retain(|_, line| {
            if line.point == DROPPED {
                return true;
            }
            line.point = new_index[line.point as usize];
            line.point != DROPPED
        });
        self.points.shrink_to(self.points.len() * 9 / 8);
    }

    /// Forgets everything (after stale markers for it were written).
    pub(super) fn clear(&mut self) {
        self.lines = Map::default();
        self.points = Vec::new();
        self.ids = Map::default();
        self.resources.clear();
        self.metrics.clear();
        self.metric_ids = Map::default();
    }
}

/// The attributes field number of a point of this kind.
pub(super) fn attributes_field(kind: Kind) -> u32 {
    match kind {
        Kind::Histogram => 9,
        Kind::Gauge | Kind::Counter | Kind::Summary => 7,
    }
}

/// Encodes string attributes for a point of `kind`.
pub(super) fn encode_attributes<'a>(
    kind: Kind,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Box<[u8]> {
    let field = attributes_field(kind);
    let mut buf = Vec::new();
    for (key, value) in pairs {
        wire::string_attribute(&mut buf, field, key, value);
    }
    buf.into_boxed_slice()
}
