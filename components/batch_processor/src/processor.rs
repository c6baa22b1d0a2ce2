//! The `batch` processor instance: [`weir_api::Batcher`] driven by the engine's calls,
//! plus the accounting the Batcher leaves to its caller.
//!
//! The grouping logic lives in `weir_api::Batcher` so the exporter-side
//! `sending_queue.batch` means exactly the same thing. What is added here:
//! - the wall clock (`Instant::now()`), which the Batcher takes as an argument so it
//!   stays testable;
//! - counting and warning about batches refused over `metadata_cardinality_limit`
//!   (every item not delivered is counted under a reason);
//! - the Collector's trigger counters, so dashboards can tell size-driven sends from
//!   timeout-driven ones;
//! - trimming each emitted batch's client metadata to `metadata_keys`, as the Collector
//!   does: a merged batch carries several requests' data, so only the keys they share
//!   by construction may travel with it.

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use weir_api::telemetry::names::{BATCH_SIZE_TRIGGER_SEND, BATCH_TIMEOUT_TRIGGER_SEND};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, Batcher, Processor, Signal};

use crate::config::BatchConfig;

/// The reason label under which refused items are counted.
pub const CARDINALITY_REASON: &str = "metadata_cardinality_limit";

/// At most one cardinality warning per this interval, so a flood of tenants cannot
/// flood the log as well.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Counter handles, fetched once at build.
#[derive(Clone, Debug)]
pub struct BatchCounters {
    /// `otelcol_processor_batch_batch_size_trigger_send`: batches sent because they
    /// reached `send_batch_size` (or, with `timeout: 0`, passed straight through).
    pub size_trigger: Counter,
    /// `otelcol_processor_batch_timeout_trigger_send`: batches sent because `timeout`
    /// elapsed.
    pub timeout_trigger: Counter,
    /// `weir_items_dropped{reason="metadata_cardinality_limit"}`.
    pub cardinality_dropped: Counter,
}

impl BatchCounters {
    pub fn new(telemetry: &Telemetry, processor: &str, signal: Signal) -> Self {
        Self {
            size_trigger: telemetry.counter_of(&BATCH_SIZE_TRIGGER_SEND, &[processor]),
            timeout_trigger: telemetry.counter_of(&BATCH_TIMEOUT_TRIGGER_SEND, &[processor]),
            cardinality_dropped: telemetry.dropped(processor, signal, CARDINALITY_REASON),
        }
    }
}

/// One `batch` processor in one pipeline.
pub struct BatchProcessor {
    id: String,
    batcher: Batcher,
    metadata_keys: Vec<String>,
    counters: BatchCounters,
    /// When the last cardinality warning was logged, and how many batches were refused
    /// since then without a warning.
    last_warning: Option<Instant>,
    refused_since_warning: u64,
}

impl BatchProcessor {
    pub fn new(id: String, config: &BatchConfig, counters: BatchCounters) -> Self {
        Self {
            id,
            batcher: Batcher::new(config.batcher_settings()),
            metadata_keys: config.metadata_keys.clone(),
            counters,
            last_warning: None,
            refused_since_warning: 0,
        }
    }

    /// Items currently held, waiting for size or timeout.
    pub fn pending_items(&self) -> usize {
        self.batcher.pending_items()
    }

    /// Like [`Processor::process`] with an explicit clock, for tests.
    pub fn process_at(&mut self, batch: Batch, now: Instant, out: &mut Vec<Batch>) {
        let before = out.len();
        if let Err(refused) = self.batcher.add(batch, now, out) {
            self.refuse(refused, now);
        }
        self.counters
            .size_trigger
            .inc_by((out.len() - before) as u64);
        self.trim_metadata(&mut out[before..]);
    }

    fn refuse(&mut self, refused: Batch, now: Instant) {
        self.counters
            .cardinality_dropped
            .inc_by(refused.item_count() as u64);
        self.refused_since_warning += 1;
        let due = self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= WARN_INTERVAL);
        if due {
            tracing::warn!(
                processor = %self.id,
                refused_batches = self.refused_since_warning,
                metadata_keys = ?self.metadata_keys,
                "batch: too many distinct metadata combinations pending \
                 (metadata_cardinality_limit); dropping data of new combinations"
            );
            self.last_warning = Some(now);
            self.refused_since_warning = 0;
        }
    }

    /// Keeps only the `metadata_keys` on emitted batches (none when the list is empty).
    fn trim_metadata(&self, emitted: &mut [Batch]) {
        for batch in emitted {
            if batch.metadata().is_empty() {
                continue;
            }
            let trimmed = batch.metadata().project(&self.metadata_keys);
            batch.set_metadata(trimmed);
        }
    }
}

impl Processor for BatchProcessor {
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        self.process_at(batch, Instant::now(), out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.batcher.next_deadline()
    }

    fn held_items(&self) -> usize {
        self.batcher.pending_items()
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch>) {
        let before = out.len();
        self.batcher.on_deadline(now, out);
        self.counters
            .timeout_trigger
            .inc_by((out.len() - before) as u64);
        self.trim_metadata(&mut out[before..]);
    }

    /// Shutdown sends are counted by neither trigger counter, as in the Collector.
    fn flush(&mut self, out: &mut Vec<Batch>) {
        let before = out.len();
        self.batcher.flush(out);
        self.trim_metadata(&mut out[before..]);
    }
}
