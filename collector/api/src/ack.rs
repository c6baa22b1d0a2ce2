//! Acknowledgements: knowing when data admitted by a receiver has its final outcome.
//!
//! A receiver's [`ReceiverOutput`](crate::ReceiverOutput) attaches one [`Ack`] to each
//! batch it admits. Every copy of that data (fan-out clones, the batch a batcher merged it
//! into, both halves of a split, the output of a connector, a queued export request)
//! holds a clone of the handle, and each place where data ends records what became of
//! it: delivered, dropped on purpose, or failed. When the last holder lets go, the handle
//! is released, exactly once, with the summary of every outcome recorded.
//!
//! Release is tied to `Drop`, so it happens exactly once by construction and never
//! before the last copy has gone; what the engine adds is recording the outcomes.
//!
//! Uses: a byte budget releases what it charged (`on_release`), a Kafka receiver commits
//! an offset, and a receiver that wants end-to-end acknowledgement awaits the
//! [`AckReceipt`]. A persistent queue records [`Outcome::Persisted`] once the data is in
//! its log and lets go of the data: with every copy persisted (or otherwise settled) the
//! handle is released, which is when a receiver of such a pipeline answers OK
//! (`ReceiverOutput::acknowledging`).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::telemetry::Gauge;

/// What became of (part of) a batch's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An exporter delivered it.
    Delivered,
    /// A component dropped it on purpose (sampled out, filtered) and counted it.
    Dropped,
    /// It could not be delivered (permanent error, retries exhausted, queue full,
    /// shutdown deadline).
    Failed,
    /// A persistent queue wrote it to its log: delivery continues from disk, and survives
    /// a restart.
    Persisted,
}

impl Outcome {
    fn bit(self) -> u8 {
        match self {
            Outcome::Delivered => 1,
            Outcome::Dropped => 2,
            Outcome::Failed => 4,
            Outcome::Persisted => 8,
        }
    }
}

/// Every outcome recorded for an admitted batch's data, given at release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckSummary {
    pub delivered: bool,
    pub dropped: bool,
    pub failed: bool,
    /// A persistent queue holds (part of) it on disk.
    pub persisted: bool,
    /// Items and encoded bytes the batch had when it was admitted.
    pub items: u64,
    pub bytes: u64,
}

impl AckSummary {
    /// True when no part of the data failed (it was delivered or dropped on purpose).
    pub fn is_success(&self) -> bool {
        !self.failed
    }
}

/// Self-metrics of the data in flight: admitted and not yet released.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    pub items: Gauge,
    pub bytes: Gauge,
}

type ReleaseHook = Box<dyn FnOnce(&AckSummary) + Send>;

struct State {
    outcomes: AtomicU8,
    items: u64,
    bytes: u64,
    in_flight: InFlight,
    receipt: Mutex<Option<oneshot::Sender<AckSummary>>>,
    hooks: Mutex<Vec<ReleaseHook>>,
}

impl Drop for State {
    fn drop(&mut self) {
        let bits = self.outcomes.load(Ordering::Acquire);
        let summary = AckSummary {
            delivered: bits & Outcome::Delivered.bit() != 0,
            // Data let go of without any recorded outcome was dropped by a component
            // (which counts its drops under a reason); the engine records the failures
            // it causes (queue full, deadline) explicitly.
            dropped: bits & Outcome::Dropped.bit() != 0 || bits == 0,
            failed: bits & Outcome::Failed.bit() != 0,
            persisted: bits & Outcome::Persisted.bit() != 0,
            items: self.items,
            bytes: self.bytes,
        };
        self.in_flight.items.dec_by(self.items as i64);
        self.in_flight.bytes.dec_by(self.bytes as i64);
        let hooks = std::mem::take(self.hooks.get_mut().unwrap_or_else(|p| p.into_inner()));
        for hook in hooks {
            hook(&summary);
        }
        let receipt = self
            .receipt
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(tx) = receipt {
            let _ = tx.send(summary);
        }
    }
}

/// The acknowledgement handle of one admitted batch. Clones share it; it is released
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Ack(Arc<State>);

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack")
            .field("items", &self.0.items)
            .field("holders", &Arc::strong_count(&self.0))
            .finish()
    }
}

/// Awaits the release of an [`Ack`]: end-to-end acknowledgement.
#[derive(Debug)]
pub struct AckReceipt(oneshot::Receiver<AckSummary>);

impl AckReceipt {
    /// The summary once every copy of the data has an outcome.
    pub async fn released(self) -> AckSummary {
        // The sender lives in the handle's state and always sends on drop.
        self.0.await.unwrap_or(AckSummary {
            failed: true,
            ..Default::default()
        })
    }
}

impl Ack {
    /// A handle for `items` items of `bytes` encoded bytes, counted in flight until
    /// released, and a receipt to await that release.
    pub fn new(items: u64, bytes: u64, in_flight: &InFlight) -> (Ack, AckReceipt) {
        let (tx, rx) = oneshot::channel();
        in_flight.items.inc_by(items as i64);
        in_flight.bytes.inc_by(bytes as i64);
        let state = State {
            outcomes: AtomicU8::new(0),
            items,
            bytes,
            in_flight: in_flight.clone(),
            receipt: Mutex::new(Some(tx)),
            hooks: Mutex::new(Vec::new()),
        };
        (Ack(Arc::new(state)), AckReceipt(rx))
    }

    /// Records what became of (part of) the data.
    pub fn record(&self, outcome: Outcome) {
        self.0.outcomes.fetch_or(outcome.bit(), Ordering::AcqRel);
    }

    /// Runs `hook` at release (e.g. a byte budget giving back its charge).
    pub fn on_release(&self, hook: impl FnOnce(&AckSummary) + Send + 'static) {
        self.0
            .hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(hook));
    }

    /// Whether two handles are the same acknowledgement.
    pub fn same_as(&self, other: &Ack) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The handles a piece of data carries: one per admitted batch it contains.
#[derive(Clone, Debug, Default)]
pub struct Acks(Vec<Ack>);

impl Acks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, ack: Ack) {
        self.0.push(ack);
    }

    /// Takes `other`'s handles too (a merge), without repeating one already held.
    pub fn extend(&mut self, other: Acks) {
        for ack in other.0 {
            if !self.0.iter().any(|held| held.same_as(&ack)) {
                self.0.push(ack);
            }
        }
    }

    /// Records an outcome on every handle.
    pub fn record(&self, outcome: Outcome) {
        for ack in &self.0 {
            ack.record(outcome);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Ack> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn released_once_after_the_last_clone_with_every_outcome() {
        let in_flight = InFlight::default();
        let (ack, receipt) = Ack::new(10, 100, &in_flight);
        assert_eq!(in_flight.items.get(), 10);
        let copy = ack.clone();
        ack.record(Outcome::Delivered);
        drop(ack);
        assert_eq!(in_flight.items.get(), 10, "a copy still holds the data");
        copy.record(Outcome::Dropped);
        drop(copy);
        let summary = receipt.released().await;
        assert!(summary.delivered && summary.dropped && !summary.failed);
        assert_eq!(in_flight.items.get(), 0);
        assert_eq!(in_flight.bytes.get(), 0);
    }

    #[tokio::test]
    async fn data_let_go_without_an_outcome_reads_as_dropped() {
        let (ack, receipt) = Ack::new(1, 1, &InFlight::default());
        let released = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = released.clone();
        ack.on_release(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        drop(ack);
        let summary = receipt.released().await;
        assert!(summary.dropped && !summary.failed && !summary.delivered);
        assert_eq!(released.load(Ordering::SeqCst), 1);
    }
}
