//! Item counting: spans, metric data points, log records. The engine's accounting
//! (received = exported + dropped + in flight) is in these units, as the Collector's is.

use weir_proto::metrics::v1::{metric::Data, Metric};

use super::Payload;

pub(super) fn items(payload: &Payload) -> usize {
    match payload {
        Payload::Traces(rs) => rs
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum(),
        Payload::Metrics(rm) => rm
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(data_points)
            .sum(),
        Payload::Logs(rl) => rl
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum(),
    }
}

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
