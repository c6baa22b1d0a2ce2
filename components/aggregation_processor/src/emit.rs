//! What the four processors share on the way out: a point's origin (resource and scope)
//! and descriptor kept as owned values, points read from views into builders, and an
//! [`Emitter`] that groups built points back into resources, scopes and metrics.
//!
//! Processors that change a point's value (temporality conversion, aggregation, the last
//! value of an interval) take the point out of the batch with `retain_data_points` and
//! emit the new one through here; points they do not touch stay as they arrived.
//! Exemplars and scope attributes are not carried over to emitted points.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use foldhash::HashMap;
use weir_api::batch::build::{
    AttributeList, ExponentialHistogramPoint, HistogramPoint, MetricBuilder, MetricsBuilder,
    NumberPoint, SummaryPoint,
};
use weir_api::batch::view::{
    Attributes, MetricType, MetricView, ResourceView, ScopeView, Temporality,
};
use weir_api::batch::{OwnedValue, PointView};
use weir_api::Batch;
use weir_streams::histogram::{ExplicitHistogram, ExponentialHistogram};
use weir_streams::key::{attributes_hash, hasher};

/// A resource and scope, owned.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    pub resource: AttributeList,
    pub scope_name: String,
    pub scope_version: String,
    /// Identity of the resource and scope.
    pub key: u64,
}

/// The hash of a resource and scope.
pub fn origin_key(resource: ResourceView<'_>, scope: ScopeView<'_>) -> u64 {
    let mut h = hasher();
    attributes_hash(resource.attributes()).hash(&mut h);
    scope.name().hash(&mut h);
    scope.version().hash(&mut h);
    h.finish()
}

/// Owned attributes from a view.
pub fn owned_attributes(attributes: Attributes<'_>) -> AttributeList {
    attributes
        .iter()
        .map(|(k, v)| (k, OwnedValue::from(v)))
        .collect()
}

impl Origin {
    pub fn new(resource: ResourceView<'_>, scope: ScopeView<'_>) -> Self {
        Self {
            resource: owned_attributes(resource.attributes()),
            scope_name: scope.name().to_string(),
            scope_version: scope.version().to_string(),
            key: origin_key(resource, scope),
        }
    }
}

/// The kind of metric a point belongs to, with what a builder needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Gauge,
    Sum {
        temporality: Temporality,
        monotonic: bool,
    },
    Histogram(Temporality),
    Exponential(Temporality),
    Summary,
}

impl Kind {
    pub fn of(metric: &MetricView<'_>) -> Option<Self> {
        Some(match metric.metric_type() {
            MetricType::Gauge => Self::Gauge,
            MetricType::Sum => Self::Sum {
                temporality: metric.temporality(),
                monotonic: metric.is_monotonic(),
            },
            MetricType::Histogram => Self::Histogram(metric.temporality()),
            MetricType::ExponentialHistogram => Self::Exponential(metric.temporality()),
            MetricType::Summary => Self::Summary,
            MetricType::Empty => return None,
        })
    }

    /// The same kind with another temporality (gauges and summaries have none).
    pub fn with_temporality(self, t: Temporality) -> Self {
        match self {
            Self::Sum { monotonic, .. } => Self::Sum {
                temporality: t,
                monotonic,
            },
            Self::Histogram(_) => Self::Histogram(t),
            Self::Exponential(_) => Self::Exponential(t),
            other => other,
        }
    }
}

/// A metric's descriptor, owned.
#[derive(Clone, Debug, PartialEq)]
pub struct Descriptor {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub kind: Kind,
}

impl Descriptor {
    pub fn of(metric: &MetricView<'_>, kind: Kind) -> Self {
        Self {
            name: metric.name().to_string(),
            description: metric.description().to_string(),
            unit: metric.unit().to_string(),
            kind,
        }
    }

    /// Identity of the descriptor (for grouping emitted points into one metric).
    pub fn key(&self) -> u64 {
        let mut h = hasher();
        self.name.hash(&mut h);
        self.description.hash(&mut h);
        self.unit.hash(&mut h);
        self.kind.hash(&mut h);
        h.finish()
    }

    fn builder(&self) -> MetricBuilder {
        let b = match self.kind {
            Kind::Gauge => MetricBuilder::gauge(&self.name),
            Kind::Sum {
                temporality,
                monotonic,
            } => MetricBuilder::sum(&self.name, temporality, monotonic),
            Kind::Histogram(t) => MetricBuilder::histogram(&self.name, t),
            Kind::Exponential(t) => MetricBuilder::exponential_histogram(&self.name, t),
            Kind::Summary => MetricBuilder::summary(&self.name),
        };
        b.description(&self.description).unit(&self.unit)
    }
}

/// A built point of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Point {
    Number(NumberPoint),
    Histogram(HistogramPoint),
    Exponential(ExponentialHistogramPoint),
    Summary(SummaryPoint),
}

/// Times and flags of a point being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub start: u64,
    pub time: u64,
    pub flags: u32,
}

impl Stamp {
    pub fn of(point: &PointView<'_>) -> Self {
        let flags = match point {
            PointView::Number(p) => p.flags(),
            PointView::Histogram(p) => p.flags(),
            PointView::ExponentialHistogram(p) => p.flags(),
            PointView::Summary(p) => p.flags(),
        };
        Self {
            start: point.start_time_unix_nano(),
            time: point.time_unix_nano(),
            flags,
        }
    }
}

/// An explicit-bucket histogram value as a point.
pub fn histogram_point(h: &ExplicitHistogram, attrs: AttributeList, at: Stamp) -> Point {
    let mut p = HistogramPoint::new(h.count, h.sum, h.bounds.clone(), h.counts.clone())
        .attribute_list(attrs)
        .start_time(at.start)
        .time(at.time)
        .flags(at.flags);
    if let Some(min) = h.min {
        p = p.min(min);
    }
    if let Some(max) = h.max {
        p = p.max(max);
    }
    Point::Histogram(p)
}

/// An exponential histogram value as a point.
pub fn exponential_point(h: &ExponentialHistogram, attrs: AttributeList, at: Stamp) -> Point {
    let mut p = ExponentialHistogramPoint::new(h.scale, h.count, h.sum, h.zero_count)
        .zero_threshold(h.zero_threshold)
        .positive(h.positive.offset, h.positive.counts.clone())
        .negative(h.negative.offset, h.negative.counts.clone())
        .attribute_list(attrs)
        .start_time(at.start)
        .time(at.time)
        .flags(at.flags);
    if let Some(min) = h.min {
        p = p.min(min);
    }
    if let Some(max) = h.max {
        p = p.max(max);
    }
    Point::Exponential(p)
}

/// A number point.
pub fn number_point(
    value: weir_api::batch::view::NumberValue,
    attrs: AttributeList,
    at: Stamp,
) -> Point {
    Point::Number(
        NumberPoint::new(value)
            .attribute_list(attrs)
            .start_time(at.start)
            .time(at.time)
            .flags(at.flags),
    )
}

/// The point as it is, owned.
pub fn copy_point(point: &PointView<'_>) -> Point {
    let at = Stamp::of(point);
    let attrs = owned_attributes(point.attributes());
    match point {
        PointView::Number(p) => number_point(p.value(), attrs, at),
        PointView::Histogram(p) => histogram_point(&ExplicitHistogram::from_view(p), attrs, at),
        PointView::ExponentialHistogram(p) => {
            exponential_point(&ExponentialHistogram::from_view(p), attrs, at)
        }
        PointView::Summary(p) => Point::Summary(
            SummaryPoint::new(
                p.count(),
                p.sum(),
                p.quantiles().map(|q| (q.quantile, q.value)),
            )
            .attribute_list(attrs)
            .start_time(at.start)
            .time(at.time)
            .flags(at.flags),
        ),
    }
}

/// Collects built points and makes one batch of them.
#[derive(Debug, Default)]
pub struct Emitter {
    points: Vec<(Arc<Origin>, Arc<Descriptor>, Point)>,
}

impl Emitter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, origin: Arc<Origin>, descriptor: Arc<Descriptor>, point: Point) {
        self.points.push((origin, descriptor, point));
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The batch: one resource per origin, one metric per descriptor, points in the
    /// order pushed. `None` when nothing was pushed.
    pub fn build(&mut self) -> Option<Batch> {
        if self.points.is_empty() {
            return None;
        }
        let mut order: HashMap<u64, usize> = HashMap::default();
        let mut metric_index: HashMap<(usize, u64), usize> = HashMap::default();
        type Metrics = Vec<(Arc<Descriptor>, Vec<Point>)>;
        let mut groups: Vec<(Arc<Origin>, Metrics)> = Vec::new();
        for (origin, descriptor, point) in self.points.drain(..) {
            let g = *order.entry(origin.key).or_insert_with(|| {
                groups.push((origin.clone(), Vec::new()));
                groups.len() - 1
            });
            let metrics = &mut groups[g].1;
            let m = *metric_index
                .entry((g, descriptor.key()))
                .or_insert_with(|| {
                    metrics.push((descriptor, Vec::new()));
                    metrics.len() - 1
                });
            metrics[m].1.push(point);
        }
        let mut batch = MetricsBuilder::new();
        for (origin, metrics) in groups {
            let mut resource = batch.resource_with(origin.resource.clone());
            let mut scope = resource.scope(&origin.scope_name, &origin.scope_version);
            scope.reserve(metrics.len());
            for (descriptor, points) in metrics {
                let mut metric = descriptor.builder();
                metric.reserve_points(points.len());
                for point in points {
                    match point {
                        Point::Number(p) => metric.push_number(p),
                        Point::Histogram(p) => metric.push_histogram(p),
                        Point::Exponential(p) => metric.push_exponential_histogram(p),
                        Point::Summary(p) => metric.push_summary(p),
                    };
                }
                scope.push(metric);
            }
        }
        Some(batch.build())
    }
}

/// Caches the owned origin and descriptor of the metric being walked, so a batch's
/// points share them instead of copying them per point.
#[derive(Debug, Default)]
pub struct Interner {
    origins: HashMap<u64, Arc<Origin>>,
    descriptors: HashMap<u64, Arc<Descriptor>>,
}

impl Interner {
    pub fn origin(&mut self, resource: ResourceView<'_>, scope: ScopeView<'_>) -> Arc<Origin> {
        let key = origin_key(resource, scope);
        self.origins
            .entry(key)
            .or_insert_with(|| Arc::new(Origin::new(resource, scope)))
            .clone()
    }

    pub fn descriptor(&mut self, descriptor: Descriptor) -> Arc<Descriptor> {
        self.descriptors
            .entry(descriptor.key())
            .or_insert_with(|| Arc::new(descriptor))
            .clone()
    }

    /// Forgets everything (between batches, so memory follows what is held).
    pub fn clear(&mut self) {
        self.origins.clear();
        self.descriptors.clear();
    }
}

/// The stream key of a point: origin, descriptor and point attributes.
pub fn stream_key(origin: u64, descriptor: u64, attributes: Attributes<'_>) -> u64 {
    let mut h = hasher();
    origin.hash(&mut h);
    descriptor.hash(&mut h);
    attributes_hash(attributes).hash(&mut h);
    h.finish()
}
