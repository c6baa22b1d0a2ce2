//! One pipeline at run time: a task that takes batches from its receivers' fan-out (and
//! from the connectors it receives from), runs its processors inline (no channel hop per
//! processor), and hands the result to each of its outputs: exporters' inputs and
//! connectors' channels.
//!
//! Time-driven processors (batch) say when they next need waking; the task sleeps until
//! the earliest such deadline or the next batch, whichever comes first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::ProcessorCounters;
use weir_api::{Batch, ComponentId, Outcome, PipelineId, Processor};

use crate::exporter::{sleep_until_opt, ExporterInput};

/// How many batches may wait between the receivers and a pipeline.
pub const CHANNEL_CAPACITY: usize = 64;

pub struct Stage {
    pub processor: Box<dyn Processor>,
    pub counters: ProcessorCounters,
}

/// Where a pipeline's output goes.
pub enum Output {
    Exporter(ExporterInput),
    /// A connector's input channel; waiting for room there is backpressure.
    Connector {
        id: ComponentId,
        tx: mpsc::Sender<Batch>,
    },
}

impl Output {
    async fn send(&self, batch: Batch) {
        match self {
            Output::Exporter(exporter) => exporter.send(batch).await,
            Output::Connector { id, tx } => {
                if let Err(mpsc::error::SendError(batch)) = tx.send(batch).await {
                    batch.record_outcome(Outcome::Failed);
                    tracing::error!(connector = %id, items = batch.item_count(),
                        "connector stopped before its upstream pipeline drained; data dropped");
                }
            }
        }
    }
}

pub struct PipelineRuntime {
    pub id: PipelineId,
    pub input: mpsc::Receiver<Batch>,
    pub stages: Vec<Stage>,
    pub outputs: Vec<Output>,
    /// Its place in the shutdown order: 0 when fed only by receivers, else one more
    /// than the deepest pipeline upstream of its connectors.
    pub level: usize,
}

/// Records batches that will never be delivered (the shutdown deadline passed) as failed
/// and adds their items to the run's count of undelivered items.
pub fn abandon(batches: impl IntoIterator<Item = Batch>, lost: &AtomicU64) -> u64 {
    let mut items = 0;
    for batch in batches {
        batch.record_outcome(Outcome::Failed);
        items += batch.item_count() as u64;
    }
    lost.fetch_add(items, Ordering::Relaxed);
    items
}

impl PipelineRuntime {
    /// Runs until `drain` is cancelled and every batch already admitted has passed
    /// through; then flushes the processors. When `hard_stop` is cancelled first (the
    /// shutdown deadline), what the pipeline still holds (its input channel and its
    /// processors' buffers) is recorded as failed and counted in `lost`.
    ///
    /// `hard_stop` is only looked at between batches, never while a batch is being
    /// handed on, so no batch is dropped half way: a push blocked on a full exporter queue
    /// returns when the exporters are aborted (first, at the deadline) and counts its
    /// batch there.
    pub async fn run(
        mut self,
        drain: CancellationToken,
        hard_stop: CancellationToken,
        lost: Arc<AtomicU64>,
    ) {
        let mut draining = false;
        loop {
            let deadline = self
                .stages
                .iter()
                .filter_map(|s| s.processor.next_deadline())
                .min();
            tokio::select! {
                received = self.input.recv() => match received {
                    Some(batch) => self.push_through(0, vec![batch]).await,
                    None => break,
                },
                _ = sleep_until_opt(deadline) => self.wake_due(Instant::now()).await,
                _ = drain.cancelled(), if !draining => {
                    draining = true;
                    // Refuse new batches; the ones already queued are still received.
                    self.input.close();
                }
                _ = hard_stop.cancelled() => {
                    self.input.close();
                    let mut held = Vec::new();
                    while let Ok(batch) = self.input.try_recv() {
                        held.push(batch);
                    }
                    for stage in &mut self.stages {
                        stage.processor.flush(&mut held);
                    }
                    let items = abandon(held, &lost);
                    if items > 0 {
                        tracing::error!(pipeline = %self.id, items,
                            "shutdown deadline reached; data still in the pipeline was not delivered");
                    }
                    return;
                }
            }
        }
        for index in 0..self.stages.len() {
            let mut out = Vec::new();
            self.stages[index].processor.flush(&mut out);
            count(&self.stages[index], &out);
            self.push_through(index + 1, out).await;
        }
        tracing::debug!(pipeline = %self.id, "pipeline drained");
    }

    async fn wake_due(&mut self, now: Instant) {
        for index in 0..self.stages.len() {
            let due = self.stages[index]
                .processor
                .next_deadline()
                .is_some_and(|at| at <= now);
            if due {
                let mut out = Vec::new();
                self.stages[index].processor.on_deadline(now, &mut out);
                count(&self.stages[index], &out);
                self.push_through(index + 1, out).await;
            }
        }
    }

    /// Runs `batches` through the stages from `from` on, then to every exporter.
    async fn push_through(&mut self, from: usize, mut batches: Vec<Batch>) {
        for stage in &mut self.stages[from..] {
            let mut next = Vec::new();
            for batch in batches {
                stage.counters.incoming.inc_by(batch.item_count() as u64);
                stage.processor.process(batch, &mut next);
            }
            count(stage, &next);
            batches = next;
        }
        for batch in batches {
            if batch.is_empty() {
                continue;
            }
            let last = self.outputs.len().saturating_sub(1);
            for (index, output) in self.outputs.iter().enumerate() {
                if index == last {
                    output.send(batch).await;
                    break;
                }
                output.send(batch.clone()).await;
            }
        }
    }
}

/// Counts what a stage emitted and shows what it still holds.
fn count(stage: &Stage, out: &[Batch]) {
    let items: usize = out.iter().map(Batch::item_count).sum();
    stage.counters.outgoing.inc_by(items as u64);
    stage.counters.held.set(stage.processor.held_items() as i64);
}
