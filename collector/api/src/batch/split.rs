//! Cutting a batch in two at an item boundary, for `send_batch_max_size`.
//!
//! Items stay in order. Whole resources move as they are, wire bytes included. A
//! resource or scope whose items straddle the cut is copied into both halves (its
//! attributes are needed on each side); a metric whose data points straddle the cut is
//! split with its descriptor copied. Only the one resource that straddles the cut is
//! decoded.

use weir_proto::logs::v1::{ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{metric::Data, Metric, ResourceMetrics, ScopeMetrics};
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans};

use super::count::data_points;
use super::repr::{OtlpResource, Res};
use super::retain::copy_kept;
use super::wire::Msg;
use super::Payload;

/// Removes the first `n` items of `payload` and returns them.
pub(super) fn split_front(payload: &mut Payload, n: usize) -> Payload {
    match payload {
        Payload::Traces(rs) => Payload::Traces(take_front(rs, n)),
        Payload::Metrics(rm) => Payload::Metrics(take_front(rm, n)),
        Payload::Logs(rl) => Payload::Logs(take_front(rl, n)),
    }
}

impl<P: OtlpResource + Splittable> Splittable for Res<P> {
    fn items(&self) -> usize {
        Res::items(self)
    }
    /// Spans and log records are cut in the bytes: each half copies its items' byte
    /// ranges under the resource's and scopes' own fields, nothing is decoded. Metrics
    /// (points nested in metrics) decode the one resource that straddles the cut.
    fn take(&mut self, n: usize) -> Self {
        if let Res::Wire { bytes, items } = self {
            if P::ITEMS_IN_SCOPES {
                let front_mask: Vec<bool> = (0..*items).map(|i| i < n).collect();
                let back_mask: Vec<bool> = front_mask.iter().map(|front| !front).collect();
                let msg = Msg(bytes);
                if let (Some(front), Some(back)) = (
                    copy_kept(msg, &front_mask, true),
                    copy_kept(msg, &back_mask, false),
                ) {
                    *self = Res::wire(back);
                    return Res::wire(front);
                }
            }
        }
        Res::Owned(self.make_owned().take(n))
    }
}

/// A container of items that can give up its first items.
pub(super) trait Splittable: Sized {
    fn items(&self) -> usize;
    /// Removes up to `n` items from the front and returns them in a copy of the
    /// container's envelope (resource, scope, metric descriptor).
    fn take(&mut self, n: usize) -> Self;
}

/// Moves whole elements while they fit, then cuts the next one. Empty elements left at
/// the front (no items) move with the front half so nothing is lost.
fn take_front<T: Splittable>(elements: &mut Vec<T>, n: usize) -> Vec<T> {
    let mut budget = n;
    let mut whole = 0;
    for element in elements.iter() {
        let count = element.items();
        if count > budget {
            break;
        }
        budget -= count;
        whole += 1;
    }
    let mut front: Vec<T> = elements.drain(..whole).collect();
    if budget > 0 {
        if let Some(first) = elements.first_mut() {
            front.push(first.take(budget));
        }
    }
    front
}

impl Splittable for ResourceSpans {
    fn items(&self) -> usize {
        self.scope_spans.iter().map(Splittable::items).sum()
    }
    fn take(&mut self, n: usize) -> Self {
        Self {
            resource: self.resource.clone(),
            scope_spans: take_front(&mut self.scope_spans, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Splittable for ScopeSpans {
    fn items(&self) -> usize {
        self.spans.len()
    }
    fn take(&mut self, n: usize) -> Self {
        Self {
            scope: self.scope.clone(),
            spans: self.spans.drain(..n.min(self.spans.len())).collect(),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Splittable for ResourceLogs {
    fn items(&self) -> usize {
        self.scope_logs.iter().map(Splittable::items).sum()
    }
    fn take(&mut self, n: usize) -> Self {
        Self {
            resource: self.resource.clone(),
            scope_logs: take_front(&mut self.scope_logs, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Splittable for ScopeLogs {
    fn items(&self) -> usize {
        self.log_records.len()
    }
    fn take(&mut self, n: usize) -> Self {
        Self {
            scope: self.scope.clone(),
            log_records: self
                .log_records
                .drain(..n.min(self.log_records.len()))
                .collect(),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Splittable for ResourceMetrics {
    fn items(&self) -> usize {
        self.scope_metrics.iter().map(Splittable::items).sum()
    }
    fn take(&mut self, n: usize) -> Self {
        Self {
            resource: self.resource.clone(),
            scope_metrics: take_front(&mut self.scope_metrics, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Splittable for ScopeMetrics {
    fn items(&self) -> usize {
        self.metrics.iter().map(data_points).sum()
    }
    fn take(&mut self, n: usize) -> Self {
        Self {
            scope: self.scope.clone(),
            metrics: take_front(&mut self.metrics, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Splittable for Metric {
    fn items(&self) -> usize {
        data_points(self)
    }
    fn take(&mut self, n: usize) -> Self {
        fn drain<P>(points: &mut Vec<P>, n: usize) -> Vec<P> {
            points.drain(..n.min(points.len())).collect()
        }
        let data = match &mut self.data {
            Some(Data::Gauge(g)) => Some(Data::Gauge(weir_proto::metrics::v1::Gauge {
                data_points: drain(&mut g.data_points, n),
            })),
            Some(Data::Sum(s)) => Some(Data::Sum(weir_proto::metrics::v1::Sum {
                data_points: drain(&mut s.data_points, n),
                aggregation_temporality: s.aggregation_temporality,
                is_monotonic: s.is_monotonic,
            })),
            Some(Data::Histogram(h)) => Some(Data::Histogram(weir_proto::metrics::v1::Histogram {
                data_points: drain(&mut h.data_points, n),
                aggregation_temporality: h.aggregation_temporality,
            })),
            Some(Data::ExponentialHistogram(h)) => Some(Data::ExponentialHistogram(
                weir_proto::metrics::v1::ExponentialHistogram {
                    data_points: drain(&mut h.data_points, n),
                    aggregation_temporality: h.aggregation_temporality,
                },
            )),
            Some(Data::Summary(s)) => Some(Data::Summary(weir_proto::metrics::v1::Summary {
                data_points: drain(&mut s.data_points, n),
            })),
            None => None,
        };
        Self {
            name: self.name.clone(),
            description: self.description.clone(),
            unit: self.unit.clone(),
            metadata: self.metadata.clone(),
            data,
        }
    }
}
