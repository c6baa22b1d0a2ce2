//! Grouping small batches into larger ones: the logic of the `batch` processor, shared
//! with the exporter-side `sending_queue.batch` so both mean the same thing.
//!
//! A pending batch is kept per distinct value of the configured metadata keys (one
//! tenant's data never rides in another tenant's request). A pending batch is emitted
//! when it reaches `send_batch_size` or when it has waited `timeout`; emitted batches are
//! cut to at most `send_batch_max_size` when that is set. Sizes count items, or encoded
//! bytes with [`Sizer::Bytes`] (`sending_queue.batch.sizer: bytes`); a cut by bytes
//! takes as many items as fit at the batch's average item size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::{Batch, ClientMetadata, Sizer};

/// The `batch` processor's settings, with the Collector's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct BatcherSettings {
    pub send_batch_size: usize,
    /// Zero means no upper limit.
    pub send_batch_max_size: usize,
    /// Zero means emit immediately (only cutting to `send_batch_max_size`).
    pub timeout: Duration,
    pub metadata_keys: Vec<String>,
    /// How many distinct metadata combinations may be pending at once; zero means no limit.
    pub metadata_cardinality_limit: usize,
    /// What the sizes count: items (the default) or encoded bytes.
    pub sizer: Sizer,
}

impl Default for BatcherSettings {
    fn default() -> Self {
        Self {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            timeout: Duration::from_millis(200),
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
            sizer: Sizer::Items,
        }
    }
}

struct Pending {
    batch: Batch,
    deadline: Instant,
}

/// Accumulates batches; see the module docs.
pub struct Batcher {
    settings: BatcherSettings,
    pending: HashMap<ClientMetadata, Pending>,
}

impl Batcher {
    pub fn new(settings: BatcherSettings) -> Self {
        Self {
            settings,
            pending: HashMap::new(),
        }
    }

    /// Adds a batch, pushing whatever is ready to `out`. Returns the batch back when a new
    /// metadata combination would pass `metadata_cardinality_limit`; the caller counts
    /// and drops it.
    pub fn add(
        &mut self,
        mut batch: Batch,
        now: Instant,
        out: &mut Vec<Batch>,
    ) -> Result<(), Batch> {
        if batch.is_empty() {
            return Ok(());
        }
        let key = if self.settings.metadata_keys.is_empty() {
            ClientMetadata::default()
        } else {
            batch.metadata().project(&self.settings.metadata_keys)
        };
        // Only the grouping keys travel on: one client's other headers (credentials, say)
        // must not ride along with another client's data merged into the same batch.
        batch.set_metadata(key.clone());
        if self.settings.timeout.is_zero() {
            self.emit(batch, out);
            return Ok(());
        }
        let limit = self.settings.metadata_cardinality_limit;
        if limit != 0 && !self.pending.contains_key(&key) && self.pending.len() >= limit {
            return Err(batch);
        }
        let deadline = now + self.settings.timeout;
        let pending = match self.pending.entry(key) {
            std::collections::hash_map::Entry::Occupied(entry) => {
                let pending = entry.into_mut();
                if let Err(other) = pending.batch.append(batch) {
                    // A batcher serves one pipeline, hence one signal; a mismatch is a
                    // wiring bug. Emit it alone rather than lose it.
                    out.push(other);
                }
                pending
            }
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(Pending { batch, deadline })
            }
        };
        let sizer = self.settings.sizer;
        if size(sizer, &pending.batch) >= self.settings.send_batch_size {
            let signal = pending.batch.signal();
            let mut full = std::mem::replace(&mut pending.batch, Batch::empty(signal));
            pending.deadline = deadline;
            let metadata = full.metadata().clone();
            // Keep the remainder under the limit pending only when a max size forces a cut.
            if self.settings.send_batch_max_size > 0 {
                let max = self.settings.send_batch_max_size;
                while size(sizer, &full) > max {
                    let front = full.split_front(items_within(sizer, &full, max));
                    out.push(front);
                }
                if size(sizer, &full) >= self.settings.send_batch_size {
                    out.push(full);
                } else {
                    pending.batch = full;
                    pending.batch.set_metadata(metadata);
                }
            } else {
                out.push(full);
            }
        }
        self.pending.retain(|_, p| !p.batch.is_empty());
        Ok(())
    }

    /// Emits one batch, cut to the max size.
    fn emit(&self, mut batch: Batch, out: &mut Vec<Batch>) {
        let max = self.settings.send_batch_max_size;
        let sizer = self.settings.sizer;
        if max > 0 {
            while size(sizer, &batch) > max && batch.item_count() > 0 {
                let front = batch.split_front(items_within(sizer, &batch, max));
                out.push(front);
            }
        }
        if !batch.is_empty() {
            out.push(batch);
        }
    }

    /// The earliest time a pending batch must be emitted.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Emits every pending batch whose deadline has passed.
    pub fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch>) {
        let due: Vec<ClientMetadata> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(pending) = self.pending.remove(&key) {
                self.emit(pending.batch, out);
            }
        }
    }

    /// Emits everything pending.
    pub fn flush(&mut self, out: &mut Vec<Batch>) {
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            self.emit(p.batch, out);
        }
    }

    /// Items currently held.
    pub fn pending_items(&self) -> usize {
        self.pending.values().map(|p| p.batch.item_count()).sum()
    }
}

/// A batch's size in the sizer's unit.
fn size(sizer: Sizer, batch: &Batch) -> usize {
    match sizer {
        Sizer::Bytes => batch.encoded_len(),
        Sizer::Items | Sizer::Requests => batch.item_count(),
    }
}

/// How many items of `batch` to cut off so the piece is at most `max` in the sizer's
/// unit: by items exactly, by bytes at the batch's average item size (at least one
/// item, so a cut always progresses).
fn items_within(sizer: Sizer, batch: &Batch, max: usize) -> usize {
    match sizer {
        Sizer::Bytes => {
            let items = batch.item_count().max(1);
            let per_item = batch.encoded_len().div_ceil(items).max(1);
            (max / per_item).max(1)
        }
        Sizer::Items | Sizer::Requests => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn spans(n: usize) -> Batch {
        Batch::from_traces(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default(); n],
                ..Default::default()
            }],
            ..Default::default()
        }])
    }

    fn settings(size: usize, max: usize) -> BatcherSettings {
        BatcherSettings {
            send_batch_size: size,
            send_batch_max_size: max,
            timeout: Duration::from_secs(1),
            ..Default::default()
        }
    }

    fn sizes(out: &[Batch]) -> Vec<usize> {
        out.iter().map(Batch::item_count).collect()
    }

    #[test]
    fn emits_when_size_reached() {
        let mut b = Batcher::new(settings(10, 0));
        let now = Instant::now();
        let mut out = Vec::new();
        b.add(spans(4), now, &mut out).unwrap();
        b.add(spans(4), now, &mut out).unwrap();
        assert!(out.is_empty());
        b.add(spans(4), now, &mut out).unwrap();
        assert_eq!(sizes(&out), [12]);
        assert_eq!(b.pending_items(), 0);
    }

    #[test]
    fn cuts_to_max_size_and_keeps_remainder() {
        let mut b = Batcher::new(settings(10, 10));
        let now = Instant::now();
        let mut out = Vec::new();
        b.add(spans(25), now, &mut out).unwrap();
        assert_eq!(sizes(&out), [10, 10]);
        assert_eq!(b.pending_items(), 5);
    }

    #[test]
    fn timeout_flushes_pending() {
        let mut b = Batcher::new(settings(100, 0));
        let now = Instant::now();
        let mut out = Vec::new();
        b.add(spans(3), now, &mut out).unwrap();
        assert_eq!(b.next_deadline(), Some(now + Duration::from_secs(1)));
        b.on_deadline(now, &mut out);
        assert!(out.is_empty(), "not due yet");
        b.on_deadline(now + Duration::from_secs(1), &mut out);
        assert_eq!(sizes(&out), [3]);
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn metadata_keys_keep_tenants_apart() {
        let mut s = settings(100, 0);
        s.metadata_keys = vec!["x-tenant".into()];
        s.metadata_cardinality_limit = 2;
        let mut b = Batcher::new(s);
        let now = Instant::now();
        let mut out = Vec::new();
        for tenant in ["a", "b", "a"] {
            let mut batch = spans(1);
            batch.set_metadata(ClientMetadata::from_pairs([("X-Tenant", tenant)]));
            b.add(batch, now, &mut out).unwrap();
        }
        let mut third = spans(1);
        third.set_metadata(ClientMetadata::from_pairs([("x-tenant", "c")]));
        assert!(
            b.add(third, now, &mut out).is_err(),
            "over the cardinality limit"
        );
        b.flush(&mut out);
        let mut got = sizes(&out);
        got.sort();
        assert_eq!(got, [1, 2]);
    }

    #[test]
    fn zero_timeout_passes_through() {
        let mut s = settings(100, 4);
        s.timeout = Duration::ZERO;
        let mut b = Batcher::new(s);
        let mut out = Vec::new();
        b.add(spans(6), Instant::now(), &mut out).unwrap();
        assert_eq!(sizes(&out), [4, 2]);
    }

    #[test]
    fn the_bytes_sizer_counts_encoded_bytes() {
        let per_span = spans(10).encoded_len() / 10;
        let mut s = settings(per_span * 25, per_span * 12);
        s.sizer = Sizer::Bytes;
        let mut b = Batcher::new(s);
        let mut out = Vec::new();
        let now = Instant::now();
        for _ in 0..2 {
            b.add(spans(10), now, &mut out).unwrap();
        }
        assert!(
            out.is_empty(),
            "20 spans are under 25 spans' worth of bytes"
        );
        b.add(spans(10), now, &mut out).unwrap();
        assert!(!out.is_empty());
        for batch in &out {
            assert!(
                batch.encoded_len() <= per_span * 12 + 16,
                "{}",
                batch.encoded_len()
            );
        }
        b.flush(&mut out);
        assert_eq!(sizes(&out).iter().sum::<usize>(), 30);
    }
}
