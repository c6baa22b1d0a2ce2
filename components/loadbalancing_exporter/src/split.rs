//! Splitting a batch over the tier: each item's routing key picks its backend, and each
//! backend gets a copy of the batch that keeps only its items.
//!
//! Keys are read through the batch's views in walk order (resource, scope, item), and
//! [`Batch::partition_by`] cuts one copy per backend from the owners recorded. A batch
//! whose items all go to one backend is sent as it is, without a copy.

use weir_api::{Batch, Signal};

use crate::config::RoutingKey;
use crate::routing::{
    attributes_key, metric_key, resource_key, service_key, stream_key, trace_key, Router,
};

/// How keys are made.
#[derive(Clone, Copy, Debug)]
pub struct Rule<'a> {
    pub key: RoutingKey,
    pub attributes: &'a [String],
}

/// The batch's items grouped by owner: `(backend index, batch)`, each batch non-empty.
pub fn split(batch: Batch, hashes: &[u64], rule: Rule<'_>) -> Vec<(usize, Batch)> {
    let owners = owners(&batch, hashes, rule);
    batch
        .partition_by(&owners)
        .into_iter()
        .map(|(owner, part)| (owner as usize, part))
        .collect()
}

/// The owner of every item (every data point, for metrics), in walk order.
fn owners(batch: &Batch, hashes: &[u64], rule: Rule<'_>) -> Vec<u32> {
    let mut router = Router::new(hashes);
    let mut owners = Vec::with_capacity(batch.item_count());
    let mut push = |key: u64| owners.push(router.route(key) as u32);
    match batch.signal() {
        Signal::Traces => {
            for (resource, _, span) in batch.spans() {
                push(match rule.key {
                    RoutingKey::Service => service_key(resource),
                    RoutingKey::Resource => resource_key(resource),
                    RoutingKey::Attributes => {
                        attributes_key(rule.attributes, resource, span.attributes())
                    }
                    RoutingKey::TraceId | RoutingKey::Metric | RoutingKey::StreamId => {
                        trace_key(span.trace_id())
                    }
                });
            }
        }
        Signal::Logs => {
            for (resource, _, record) in batch.log_records() {
                push(match rule.key {
                    RoutingKey::Service => service_key(resource),
                    RoutingKey::Attributes => {
                        attributes_key(rule.attributes, resource, record.attributes())
                    }
                    // A record without a trace id stays with its resource.
                    RoutingKey::TraceId if record.trace_id().iter().any(|&b| b != 0) => {
                        trace_key(record.trace_id())
                    }
                    _ => resource_key(resource),
                });
            }
        }
        Signal::Metrics => {
            for resource_metrics in batch.metrics() {
                let resource = resource_metrics.resource();
                for scope_metrics in resource_metrics.scopes() {
                    let scope = scope_metrics.scope();
                    for metric in scope_metrics.metrics() {
                        for point in metric.points() {
                            push(match rule.key {
                                // Metrics have no trace id: the Collector's advice is
                                // `service` for them, and that is what traceID means here.
                                RoutingKey::TraceId | RoutingKey::Service => service_key(resource),
                                RoutingKey::Resource => resource_key(resource),
                                RoutingKey::Metric => metric_key(metric.name()),
                                RoutingKey::StreamId => {
                                    stream_key(resource, scope, metric.name(), point.attributes())
                                }
                                RoutingKey::Attributes => {
                                    attributes_key(rule.attributes, resource, point.attributes())
                                }
                            });
                        }
                    }
                }
            }
        }
    }
    owners
}
