//! Cutting a batch into Kafka messages.
//!
//! With `partition_traces_by_id` (or `partition_metrics_by_resource_attributes`,
//! `partition_logs_by_resource_attributes`) items are grouped by a hash of their key (the
//! trace id; the resource's attributes) into [`BUCKETS`] groups, and each group becomes a
//! message whose Kafka key is the group's number. Kafka sends equal keys to one
//! partition, so every span of a trace lands in one partition, in at most `BUCKETS`
//! messages per batch rather than one per trace. Without partitioning, a batch is one
//! message with no key. Either way a message larger than `producer.max_message_bytes` is
//! cut in halves until each fits (a single item that does not fit is refused for good).

use weir_api::{Batch, Signal};

use crate::client::Encoding;
use crate::encoding::encode;

/// How many keys items are hashed into.
pub const BUCKETS: u32 = 64;

/// One message ready to produce.
#[derive(Debug)]
pub struct Message {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub items: usize,
}

/// What `prepare` makes of a batch: the messages, and the items that cannot be sent.
#[derive(Debug, Default)]
pub struct Messages {
    pub messages: Vec<Message>,
    pub too_large: usize,
}

/// FNV-1a 64, for the bucket of a key: fixed, so agents agree across restarts.
fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            h = (h ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A resource's bucket, from its attributes in any order (read once per resource).
fn resource_bucket(attributes: weir_api::batch::view::Attributes<'_>) -> u32 {
    let mut h: u64 = 0;
    for (key, value) in attributes.iter() {
        let text = format!("{value:?}");
        h = h.wrapping_add(hash(&[key.as_bytes(), text.as_bytes()]));
    }
    (h % u64::from(BUCKETS)) as u32
}

/// The bucket of every item (in walk order), or `None` when the batch is not partitioned.
fn buckets(batch: &Batch, by_key: bool) -> Option<Vec<u32>> {
    if !by_key {
        return None;
    }
    let buckets = match batch.signal() {
        Signal::Traces => batch
            .spans()
            .map(|(_, _, span)| (hash(&[span.trace_id()]) % u64::from(BUCKETS)) as u32)
            .collect(),
        Signal::Logs => {
            let mut out = Vec::with_capacity(batch.item_count());
            for resource_logs in batch.logs() {
                let bucket = resource_bucket(resource_logs.resource().attributes());
                for scope in resource_logs.scopes() {
                    out.extend(std::iter::repeat_n(bucket, scope.log_records().count()));
                }
            }
            out
        }
        Signal::Metrics => {
            let mut out = Vec::with_capacity(batch.item_count());
            for resource_metrics in batch.metrics() {
                let bucket = resource_bucket(resource_metrics.resource().attributes());
                for scope in resource_metrics.scopes() {
                    for metric in scope.metrics() {
                        out.extend(std::iter::repeat_n(bucket, metric.point_count()));
                    }
                }
            }
            out
        }
    };
    Some(buckets)
}

/// The messages for `batch`.
pub fn messages(batch: Batch, encoding: Encoding, by_key: bool, max_bytes: usize) -> Messages {
    let mut out = Messages::default();
    match buckets(&batch, by_key) {
        None => fit(batch, None, encoding, max_bytes, &mut out),
        Some(groups) => {
            for (bucket, part) in batch.partition_by(&groups) {
                let key = bucket.to_be_bytes().to_vec();
                fit(part, Some(key), encoding, max_bytes, &mut out);
            }
        }
    }
    out
}

/// Encodes `batch` as one message, or halves it until each half fits.
fn fit(
    mut batch: Batch,
    key: Option<Vec<u8>>,
    encoding: Encoding,
    max_bytes: usize,
    out: &mut Messages,
) {
    let items = batch.item_count();
    if items == 0 {
        return;
    }
    let value = encode(&batch, encoding);
    if value.len() <= max_bytes || max_bytes == 0 {
        out.messages.push(Message { key, value, items });
        return;
    }
    if items == 1 {
        out.too_large += 1;
        return;
    }
    let front = batch.split_front(items / 2);
    fit(front, key.clone(), encoding, max_bytes, out);
    fit(batch, key, encoding, max_bytes, out);
}
