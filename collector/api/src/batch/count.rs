//! Item counting: spans, metric data points, log records. The engine's accounting
//! (received = exported + dropped + in flight) is in these units, as the Collector's is.

use weir_proto::metrics::v1::{metric::Data, Metric};

use super::wire::{Field, Msg};

/// Data points of one metric. A metric with no data counts as zero points.
pub fn data_points(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Data points of one metric's wire bytes: the last field of the data oneof counts,
/// as it is the one a decoder keeps.
pub(crate) fn wire_data_points(metric: Msg<'_>) -> usize {
    metric
        .fields()
        .filter_map(|(number, field, _)| match (number, field) {
            (5 | 7 | 9 | 10 | 11, Field::Len(b)) => Some(Msg(b)),
            _ => None,
        })
        .last()
        .map_or(0, |data| data.repeated(1).count())
}
