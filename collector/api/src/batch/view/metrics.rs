//! Views of metrics and their data points of each kind.

use weir_proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point, Exemplar,
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, SummaryDataPoint,
};

use super::{view_type, Attributes, Repr, ResourceView, ScopeView, ViewIter};
use crate::batch::wire::{Field, Msg};

view_type!(
    /// One resource's metrics.
    ResourceMetricsView,
    ResourceMetrics
);
view_type!(
    /// One scope's metrics.
    ScopeMetricsView,
    ScopeMetrics
);
view_type!(
    /// One metric: its descriptor and data points.
    MetricView,
    Metric
);
view_type!(
    /// A gauge or sum data point.
    NumberPointView,
    NumberDataPoint
);
view_type!(
    /// An explicit-bucket histogram data point.
    HistogramPointView,
    HistogramDataPoint
);
view_type!(
    /// An exponential histogram data point.
    ExponentialHistogramPointView,
    ExponentialHistogramDataPoint
);
view_type!(
    /// A summary data point.
    SummaryPointView,
    SummaryDataPoint
);
view_type!(
    /// An exemplar attached to a data point.
    ExemplarView,
    Exemplar
);

impl<'a> ResourceMetricsView<'a> {
    pub fn resource(&self) -> ResourceView<'a> {
        match self.0 {
            Repr::Owned(r) => ResourceView::owned(r.resource.as_ref()),
            Repr::Wire(m) => ResourceView::wire(m.msg(1)),
        }
    }

    pub fn scopes(&self) -> ViewIter<'a, ScopeMetrics, ScopeMetricsView<'a>> {
        match self.0 {
            Repr::Owned(r) => ViewIter::owned(&r.scope_metrics),
            Repr::Wire(m) => ViewIter::wire(m, 2),
        }
    }

    pub fn schema_url(&self) -> &'a str {
        match self.0 {
            Repr::Owned(r) => &r.schema_url,
            Repr::Wire(m) => m.str(3),
        }
    }
}

impl<'a> ScopeMetricsView<'a> {
    pub fn scope(&self) -> ScopeView<'a> {
        match self.0 {
            Repr::Owned(s) => ScopeView::owned(s.scope.as_ref()),
            Repr::Wire(m) => ScopeView::wire(m.msg(1)),
        }
    }

    pub fn metrics(&self) -> ViewIter<'a, Metric, MetricView<'a>> {
        match self.0 {
            Repr::Owned(s) => ViewIter::owned(&s.metrics),
            Repr::Wire(m) => ViewIter::wire(m, 2),
        }
    }

    pub fn schema_url(&self) -> &'a str {
        match self.0 {
            Repr::Owned(s) => &s.schema_url,
            Repr::Wire(m) => m.str(3),
        }
    }
}

/// Which kind of data a metric carries (OTLP's `Metric.data` oneof).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// No data at all.
    Empty,
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl MetricType {
    /// OTTL's name, e.g. `METRIC_DATA_TYPE_SUM`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "METRIC_DATA_TYPE_NONE",
            Self::Gauge => "METRIC_DATA_TYPE_GAUGE",
            Self::Sum => "METRIC_DATA_TYPE_SUM",
            Self::Histogram => "METRIC_DATA_TYPE_HISTOGRAM",
            Self::ExponentialHistogram => "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM",
            Self::Summary => "METRIC_DATA_TYPE_SUMMARY",
        }
    }
}

/// Aggregation temporality of sums and histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Temporality {
    Unspecified,
    Delta,
    Cumulative,
    Other(i32),
}

impl Temporality {
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => Self::Unspecified,
            1 => Self::Delta,
            2 => Self::Cumulative,
            other => Self::Other(other),
        }
    }

    pub fn as_i32(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::Delta => 1,
            Self::Cumulative => 2,
            Self::Other(v) => v,
        }
    }
}

/// The wire field of the metric's data oneof (last one wins) and its message.
fn wire_data(metric: Msg<'_>) -> Option<(u32, Msg<'_>)> {
    metric
        .fields()
        .filter_map(|(number, field, _)| match (number, field) {
            (5 | 7 | 9 | 10 | 11, Field::Len(b)) => Some((number, Msg(b))),
            _ => None,
        })
        .last()
}

impl<'a> MetricView<'a> {
    pub fn name(&self) -> &'a str {
        match self.0 {
            Repr::Owned(m) => &m.name,
            Repr::Wire(m) => m.str(1),
        }
    }

    pub fn description(&self) -> &'a str {
        match self.0 {
            Repr::Owned(m) => &m.description,
            Repr::Wire(m) => m.str(2),
        }
    }

    pub fn unit(&self) -> &'a str {
        match self.0 {
            Repr::Owned(m) => &m.unit,
            Repr::Wire(m) => m.str(3),
        }
    }

    /// The metric's metadata attributes.
    pub fn metadata(&self) -> Attributes<'a> {
        match self.0 {
            Repr::Owned(m) => Attributes::owned(&m.metadata),
            Repr::Wire(m) => Attributes::wire(m, 12),
        }
    }

    pub fn metric_type(&self) -> MetricType {
        match self.0 {
            Repr::Owned(m) => match &m.data {
                None => MetricType::Empty,
                Some(Data::Gauge(_)) => MetricType::Gauge,
                Some(Data::Sum(_)) => MetricType::Sum,
                Some(Data::Histogram(_)) => MetricType::Histogram,
                Some(Data::ExponentialHistogram(_)) => MetricType::ExponentialHistogram,
                Some(Data::Summary(_)) => MetricType::Summary,
            },
            Repr::Wire(m) => match wire_data(m) {
                None => MetricType::Empty,
                Some((5, _)) => MetricType::Gauge,
                Some((7, _)) => MetricType::Sum,
                Some((9, _)) => MetricType::Histogram,
                Some((10, _)) => MetricType::ExponentialHistogram,
                Some(_) => MetricType::Summary,
            },
        }
    }

    /// The aggregation temporality of a sum or (exponential) histogram.
    pub fn temporality(&self) -> Temporality {
        Temporality::from_i32(match self.0 {
            Repr::Owned(m) => match &m.data {
                Some(Data::Sum(s)) => s.aggregation_temporality,
                Some(Data::Histogram(h)) => h.aggregation_temporality,
                Some(Data::ExponentialHistogram(h)) => h.aggregation_temporality,
                _ => 0,
            },
            Repr::Wire(m) => match wire_data(m) {
                Some((7 | 9 | 10, data)) => data.varint(2) as i32,
                _ => 0,
            },
        })
    }

    /// Whether a sum is monotonic (false for every other type).
    pub fn is_monotonic(&self) -> bool {
        match self.0 {
            Repr::Owned(m) => matches!(&m.data, Some(Data::Sum(s)) if s.is_monotonic),
            Repr::Wire(m) => matches!(wire_data(m), Some((7, data)) if data.varint(3) != 0),
        }
    }

    /// The number of data points, whatever their kind.
    pub fn point_count(&self) -> usize {
        match self.0 {
            Repr::Owned(m) => crate::batch::count::data_points(m),
            Repr::Wire(m) => wire_data(m).map_or(0, |(_, data)| data.repeated(1).count()),
        }
    }

    fn wire_points(m: Msg<'a>, numbers: &[u32]) -> Option<Msg<'a>> {
        wire_data(m)
            .filter(|(number, _)| numbers.contains(number))
            .map(|(_, data)| data)
    }

    /// The points of a gauge or a sum; empty for other types.
    pub fn number_points(&self) -> ViewIter<'a, NumberDataPoint, NumberPointView<'a>> {
        match self.0 {
            Repr::Owned(m) => match &m.data {
                Some(Data::Gauge(g)) => ViewIter::owned(&g.data_points),
                Some(Data::Sum(s)) => ViewIter::owned(&s.data_points),
                _ => ViewIter::empty(),
            },
            Repr::Wire(m) => match Self::wire_points(m, &[5, 7]) {
                Some(data) => ViewIter::wire(data, 1),
                None => ViewIter::empty(),
            },
        }
    }

    /// The points of an explicit-bucket histogram; empty for other types.
    pub fn histogram_points(&self) -> ViewIter<'a, HistogramDataPoint, HistogramPointView<'a>> {
        match self.0 {
            Repr::Owned(m) => match &m.data {
                Some(Data::Histogram(h)) => ViewIter::owned(&h.data_points),
                _ => ViewIter::empty(),
            },
            Repr::Wire(m) => match Self::wire_points(m, &[9]) {
                Some(data) => ViewIter::wire(data, 1),
                None => ViewIter::empty(),
            },
        }
    }

    /// The points of an exponential histogram; empty for other types.
    pub fn exponential_histogram_points(
        &self,
    ) -> ViewIter<'a, ExponentialHistogramDataPoint, ExponentialHistogramPointView<'a>> {
        match self.0 {
            Repr::Owned(m) => match &m.data {
                Some(Data::ExponentialHistogram(h)) => ViewIter::owned(&h.data_points),
                _ => ViewIter::empty(),
            },
            Repr::Wire(m) => match Self::wire_points(m, &[10]) {
                Some(data) => ViewIter::wire(data, 1),
                None => ViewIter::empty(),
            },
        }
    }

    /// The points of a summary; empty for other types.
    pub fn summary_points(&self) -> ViewIter<'a, SummaryDataPoint, SummaryPointView<'a>> {
        match self.0 {
            Repr::Owned(m) => match &m.data {
                Some(Data::Summary(s)) => ViewIter::owned(&s.data_points),
                _ => ViewIter::empty(),
            },
            Repr::Wire(m) => match Self::wire_points(m, &[11]) {
                Some(data) => ViewIter::wire(data, 1),
                None => ViewIter::empty(),
            },
        }
    }
}

/// A number point's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumberValue {
    /// No value was set.
    None,
    Int(i64),
    Double(f64),
}

impl NumberValue {
    /// The value as a double (integers converted; none is 0).
    pub fn as_f64(self) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Int(i) => i as f64,
            Self::Double(d) => d,
        }
    }
}

/// The oneof of a number point or exemplar: double at `double_field`, sfixed64 at
/// `int_field`, last one wins.
fn wire_number(msg: Msg<'_>, double_field: u32, int_field: u32) -> NumberValue {
    let mut out = NumberValue::None;
    for (number, field, _) in msg.fields() {
        if let Field::Fixed64(v) = field {
            if number == double_field {
                out = NumberValue::Double(f64::from_bits(v));
            } else if number == int_field {
                out = NumberValue::Int(v as i64);
            }
        }
    }
    out
}

/// Fields every data point kind has, at the field numbers each kind gives them.
macro_rules! point_common {
    ($view:ident, attributes = $attrs:expr, flags = $flags:expr) => {
        impl<'a> $view<'a> {
            pub fn attributes(&self) -> Attributes<'a> {
                match self.0 {
                    Repr::Owned(p) => Attributes::owned(&p.attributes),
                    Repr::Wire(m) => Attributes::wire(m, $attrs),
                }
            }

            pub fn start_time_unix_nano(&self) -> u64 {
                match self.0 {
                    Repr::Owned(p) => p.start_time_unix_nano,
                    Repr::Wire(m) => m.fixed64(2),
                }
            }

            pub fn time_unix_nano(&self) -> u64 {
                match self.0 {
                    Repr::Owned(p) => p.time_unix_nano,
                    Repr::Wire(m) => m.fixed64(3),
                }
            }

            /// Data point flags (bit 0: no recorded value, a staleness marker).
            pub fn flags(&self) -> u32 {
                match self.0 {
                    Repr::Owned(p) => p.flags,
                    Repr::Wire(m) => m.varint($flags) as u32,
                }
            }
        }
    };
}

point_common!(NumberPointView, attributes = 7, flags = 8);
point_common!(HistogramPointView, attributes = 9, flags = 10);
point_common!(ExponentialHistogramPointView, attributes = 1, flags = 10);
point_common!(SummaryPointView, attributes = 7, flags = 8);

impl<'a> NumberPointView<'a> {
    pub fn value(&self) -> NumberValue {
        match self.0 {
            Repr::Owned(p) => match p.value {
                None => NumberValue::None,
                Some(number_data_point::Value::AsInt(i)) => NumberValue::Int(i),
                Some(number_data_point::Value::AsDouble(d)) => NumberValue::Double(d),
            },
            Repr::Wire(m) => wire_number(m, 4, 6),
        }
    }

    pub fn exemplars(&self) -> ViewIter<'a, Exemplar, ExemplarView<'a>> {
        match self.0 {
            Repr::Owned(p) => ViewIter::owned(&p.exemplars),
            Repr::Wire(m) => ViewIter::wire(m, 5),
        }
    }
}

impl<'a> HistogramPointView<'a> {
    pub fn count(&self) -> u64 {
        match self.0 {
            Repr::Owned(p) => p.count,
            Repr::Wire(m) => m.fixed64(4),
        }
    }

    pub fn sum(&self) -> Option<f64> {
        match self.0 {
            Repr::Owned(p) => p.sum,
            Repr::Wire(m) => m.opt_double(5),
        }
    }

    pub fn bucket_counts(&self) -> impl Iterator<Item = u64> + 'a {
        let (owned, wire) = match self.0 {
            Repr::Owned(p) => (Some(p.bucket_counts.iter().copied()), None),
            Repr::Wire(m) => (None, Some(m.packed_fixed64(6))),
        };
        owned
            .into_iter()
            .flatten()
            .chain(wire.into_iter().flatten())
    }

    pub fn explicit_bounds(&self) -> impl Iterator<Item = f64> + 'a {
        let (owned, wire) = match self.0 {
            Repr::Owned(p) => (Some(p.explicit_bounds.iter().copied()), None),
            Repr::Wire(m) => (None, Some(m.packed_fixed64(7).map(f64::from_bits))),
        };
        owned
            .into_iter()
            .flatten()
            .chain(wire.into_iter().flatten())
    }

    pub fn exemplars(&self) -> ViewIter<'a, Exemplar, ExemplarView<'a>> {
        match self.0 {
            Repr::Owned(p) => ViewIter::owned(&p.exemplars),
            Repr::Wire(m) => ViewIter::wire(m, 8),
        }
    }

    pub fn min(&self) -> Option<f64> {
        match self.0 {
            Repr::Owned(p) => p.min,
            Repr::Wire(m) => m.opt_double(11),
        }
    }

    pub fn max(&self) -> Option<f64> {
        match self.0 {
            Repr::Owned(p) => p.max,
            Repr::Wire(m) => m.opt_double(12),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum BucketsInner<'a> {
    Owned(Option<&'a Buckets>),
    Wire(Option<Msg<'a>>),
}

/// The positive or negative buckets of an exponential histogram point.
#[derive(Clone, Copy, Debug)]
pub struct BucketsView<'a>(BucketsInner<'a>);

impl<'a> BucketsView<'a> {
    /// The index of the first bucket.
    pub fn offset(&self) -> i32 {
        match self.0 {
            BucketsInner::Owned(b) => b.map_or(0, |b| b.offset),
            BucketsInner::Wire(m) => m.map_or(0, |m| zigzag32(m.varint(1))),
        }
    }

    pub fn bucket_counts(&self) -> impl Iterator<Item = u64> + 'a {
        let (owned, wire) = match self.0 {
            BucketsInner::Owned(b) => (b.map(|b| b.bucket_counts.iter().copied()), None),
            BucketsInner::Wire(m) => (None, m.map(|m| m.packed_varint(2))),
        };
        owned
            .into_iter()
            .flatten()
            .chain(wire.into_iter().flatten())
    }
}

/// Decodes a protobuf `sint32`.
fn zigzag32(raw: u64) -> i32 {
    let value = raw as u32;
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

impl<'a> ExponentialHistogramPointView<'a> {
    pub fn count(&self) -> u64 {
        match self.0 {
            Repr::Owned(p) => p.count,
            Repr::Wire(m) => m.fixed64(4),
        }
    }

    pub fn sum(&self) -> Option<f64> {
        match self.0 {
            Repr::Owned(p) => p.sum,
            Repr::Wire(m) => m.opt_double(5),
        }
    }

    pub fn scale(&self) -> i32 {
        match self.0 {
            Repr::Owned(p) => p.scale,
            Repr::Wire(m) => zigzag32(m.varint(6)),
        }
    }

    pub fn zero_count(&self) -> u64 {
        match self.0 {
            Repr::Owned(p) => p.zero_count,
            Repr::Wire(m) => m.fixed64(7),
        }
    }

    pub fn positive(&self) -> BucketsView<'a> {
        BucketsView(match self.0 {
            Repr::Owned(p) => BucketsInner::Owned(p.positive.as_ref()),
            Repr::Wire(m) => BucketsInner::Wire(m.msg(8)),
        })
    }

    pub fn negative(&self) -> BucketsView<'a> {
        BucketsView(match self.0 {
            Repr::Owned(p) => BucketsInner::Owned(p.negative.as_ref()),
            Repr::Wire(m) => BucketsInner::Wire(m.msg(9)),
        })
    }

    pub fn exemplars(&self) -> ViewIter<'a, Exemplar, ExemplarView<'a>> {
        match self.0 {
            Repr::Owned(p) => ViewIter::owned(&p.exemplars),
            Repr::Wire(m) => ViewIter::wire(m, 11),
        }
    }

    pub fn min(&self) -> Option<f64> {
        match self.0 {
            Repr::Owned(p) => p.min,
            Repr::Wire(m) => m.opt_double(12),
        }
    }

    pub fn max(&self) -> Option<f64> {
        match self.0 {
            Repr::Owned(p) => p.max,
            Repr::Wire(m) => m.opt_double(13),
        }
    }

    pub fn zero_threshold(&self) -> f64 {
        match self.0 {
            Repr::Owned(p) => p.zero_threshold,
            Repr::Wire(m) => m.double(14),
        }
    }
}

/// One quantile of a summary point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantileView {
    pub quantile: f64,
    pub value: f64,
}

impl<'a> SummaryPointView<'a> {
    pub fn count(&self) -> u64 {
        match self.0 {
            Repr::Owned(p) => p.count,
            Repr::Wire(m) => m.fixed64(4),
        }
    }

    pub fn sum(&self) -> f64 {
        match self.0 {
            Repr::Owned(p) => p.sum,
            Repr::Wire(m) => m.double(5),
        }
    }

    pub fn quantiles(&self) -> impl Iterator<Item = QuantileView> + 'a {
        let (owned, wire) = match self.0 {
            Repr::Owned(p) => (Some(p.quantile_values.iter()), None),
            Repr::Wire(m) => (None, Some(m.repeated(6))),
        };
        owned
            .into_iter()
            .flatten()
            .map(|q| QuantileView {
                quantile: q.quantile,
                value: q.value,
            })
            .chain(wire.into_iter().flatten().map(|q| QuantileView {
                quantile: q.double(1),
                value: q.double(2),
            }))
    }
}

impl<'a> ExemplarView<'a> {
    pub fn filtered_attributes(&self) -> Attributes<'a> {
        match self.0 {
            Repr::Owned(e) => Attributes::owned(&e.filtered_attributes),
            Repr::Wire(m) => Attributes::wire(m, 7),
        }
    }

    pub fn time_unix_nano(&self) -> u64 {
        match self.0 {
            Repr::Owned(e) => e.time_unix_nano,
            Repr::Wire(m) => m.fixed64(2),
        }
    }

    pub fn value(&self) -> NumberValue {
        match self.0 {
            Repr::Owned(e) => match e.value {
                None => NumberValue::None,
                Some(exemplar::Value::AsInt(i)) => NumberValue::Int(i),
                Some(exemplar::Value::AsDouble(d)) => NumberValue::Double(d),
            },
            Repr::Wire(m) => wire_number(m, 3, 6),
        }
    }

    pub fn span_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(e) => &e.span_id,
            Repr::Wire(m) => m.bytes(4),
        }
    }

    pub fn trace_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(e) => &e.trace_id,
            Repr::Wire(m) => m.bytes(5),
        }
    }
}
