//! One exporter id at run time: a queue per signal it serves, `num_consumers` workers
//! per queue, and the retry/timeout stack around the component's requests.
//!
//! Pipelines hold an [`ExporterInput`] per exporter they list. A batch is prepared (the
//! component encodes and compresses it, once) before it is queued; workers send the
//! prepared request, and a retry sends the same request again. A full queue drops and
//! counts (`otelcol_exporter_enqueue_failed_*`) so one slow exporter never stalls the
//! pipeline's other exporters, unless `sending_queue.block_on_overflow` asks to push back.
//! Every way a request ends records its outcome on the acknowledgement handles of the
//! data it carries.
//!
//! With `sending_queue.storage`, a lane's queue is a storage extension's log instead
//! (`disk.rs`): batches are written as wire bytes and prepared when read back.

mod disk;
#[cfg(test)]
mod disk_tests;
pub mod graph;
mod queue;
mod retry;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::{ExporterCounters, Telemetry};
use weir_api::{
    Acks, Batch, Batcher, BatcherSettings, ExportError, Exporter, ExporterSettings, Outcome, Signal,
};

use crate::ratelimit::RateLimitedLog;
use disk::DiskQueue;
pub use queue::{MemoryQueue, PushError, Queue, Queued};
use weir_api::storage::Storage;

/// The queue and counters of one (exporter, signal).
struct Lane {
    exporter_id: String,
    signal: Signal,
    exporter: Arc<dyn Exporter>,
    queue: Box<dyn Queue>,
    /// The persistent queue that replaces `queue` when `sending_queue.storage` is set.
    disk: Option<Arc<DiskQueue>>,
    /// Queue fill and delivery latency, for load shedding.
    pressure: Arc<weir_api::pressure::LanePressure>,
    counters: ExporterCounters,
    blocks: bool,
    overflow_log: RateLimitedLog,
    /// Cancelled at the shutdown deadline: a blocked push gives up.
    abort: CancellationToken,
    /// Items given up at the deadline, for the run's report.
    aborted_items: Arc<AtomicU64>,
}

impl Lane {
    /// Prepares the batch's request (once) and queues it.
    async fn enqueue(&self, mut batch: Batch) {
        if let Some(disk) = &self.disk {
            return disk.enqueue(self, batch).await;
        }
        let items = batch.item_count() as u64;
        let acks = batch.take_acks();
        if !self.blocks && items > 0 && self.queue.is_full() {
            // Refused before any work: under overload, preparing requests that the full
            // queue then drops would take the core from the consumers that empty it.
            return self.overflow(items, acks);
        }
        let request = match self.exporter.prepare(batch) {
            Ok(request) => request,
            Err(err) => {
                // A batch that cannot even be encoded will not encode on a retry.
                self.counters.send_failed.inc_by(items);
                acks.record(Outcome::Failed);
                let message = match &err {
                    ExportError::Permanent { message, .. }
                    | ExportError::Retryable { message, .. } => message.as_str(),
                };
                tracing::error!(exporter = %self.exporter_id, signal = %self.signal, items,
                    error = %message, "could not prepare the export request; data dropped");
                return;
            }
        };
        let item = Queued { request, acks };
        let result = if self.blocks {
            self.queue.push(item, &self.abort).await
        } else {
            self.queue.try_push(item)
        };
        match result {
            Ok(()) => {}
            Err(PushError::Full(item)) => self.overflow(items, item.acks),
            Err(PushError::Closed(item)) => {
                self.counters.enqueue_failed.inc_by(items);
                item.acks.record(Outcome::Failed);
                if self.abort.is_cancelled() {
                    self.aborted_items.fetch_add(items, Ordering::Relaxed);
                }
                tracing::warn!(exporter = %self.exporter_id, signal = %self.signal, items,
                    "data arrived after the exporter's queue closed for shutdown; dropped");
            }
        }
    }
}

impl Lane {
    /// A batch the full queue refused: counted, failed upstream, logged at a bounded rate.
    fn overflow(&self, items: u64, acks: Acks) {
        self.counters.enqueue_failed.inc_by(items);
        acks.record(Outcome::Failed);
        self.overflow_log.warn(items, |total| {
            tracing::warn!(exporter = %self.exporter_id, signal = %self.signal,
                dropped_items = total,
                "sending queue is full; data dropped (raise sending_queue.queue_size \
                 or set block_on_overflow)")
        });
    }
}

/// What a pipeline holds to hand batches to one exporter.
#[derive(Clone)]
pub struct ExporterInput {
    lane: Arc<Lane>,
    batcher: Option<mpsc::Sender<Batch>>,
}

impl ExporterInput {
    pub fn exporter_id(&self) -> &str {
        &self.lane.exporter_id
    }

    /// Hands a batch to the exporter's queue (through its batcher when configured).
    pub async fn send(&self, batch: Batch) {
        match &self.batcher {
            Some(tx) => {
                if let Err(mpsc::error::SendError(batch)) = tx.send(batch).await {
                    self.lane.enqueue(batch).await;
                }
            }
            None => self.lane.enqueue(batch).await,
        }
    }
}

/// One exporter id: the component and its lanes.
pub struct ExporterRuntime {
    id: String,
    exporter: Arc<dyn Exporter>,
    settings: ExporterSettings,
    /// The storage named by `sending_queue.storage`, handed over at build.
    storage: Option<Arc<dyn Storage>>,
    lanes: BTreeMap<Signal, Arc<Lane>>,
    inputs: BTreeMap<Signal, ExporterInput>,
    batcher_inputs: Vec<(mpsc::Receiver<Batch>, Arc<Lane>)>,
    workers: JoinSet<()>,
    batchers: JoinSet<()>,
    abort: CancellationToken,
    /// Items whose delivery was cut short by the shutdown deadline.
    aborted_items: Arc<AtomicU64>,
}

impl ExporterRuntime {
    pub fn new(id: String, exporter: Arc<dyn Exporter>, settings: ExporterSettings) -> Self {
        Self {
            id,
            exporter,
            settings,
            storage: None,
            lanes: BTreeMap::new(),
            inputs: BTreeMap::new(),
            batcher_inputs: Vec::new(),
            workers: JoinSet::new(),
            batchers: JoinSet::new(),
            abort: CancellationToken::new(),
            aborted_items: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The storage extension id `sending_queue.storage` names, if any.
    pub fn storage_name(&self) -> Option<&str> {
        self.settings.queue.storage.as_deref()
    }

    /// Whether this exporter's queues are persistent.
    pub fn is_persistent(&self) -> bool {
        self.storage_name().is_some()
    }

    /// Hands over the storage `sending_queue.storage` names; its logs open at start.
    pub fn use_storage(&mut self, storage: Arc<dyn Storage>) {
        self.storage = Some(storage);
    }

    /// The input for `signal`, creating its lane on first use.
    pub fn input(&mut self, signal: Signal, telemetry: &Telemetry) -> ExporterInput {
        if let Some(input) = self.inputs.get(&signal) {
            return input.clone();
        }
        let counters = telemetry.exporter(&self.id, signal);
        let queue_settings = &self.settings.queue;
        let (capacity, blocks) = if queue_settings.enabled {
            (queue_settings.queue_size, queue_settings.blocks())
        } else {
            // No queue: hand over one request at a time and make the caller wait.
            (1, true)
        };
        let queue = MemoryQueue::new(
            capacity,
            if queue_settings.enabled {
                queue_settings.sizer
            } else {
                weir_api::Sizer::Requests
            },
            queue_settings.max_bytes(),
            counters.queue_size.clone(),
            &counters.queue_capacity,
        );
        let pressure = telemetry
            .pressure()
            .lane(&format!("{} {}", self.id, signal));
        let queue = queue.reporting_to(pressure.clone());
        let disk = self
            .is_persistent()
            .then(|| Arc::new(DiskQueue::new(&self.id, signal, telemetry)));
        let lane = Arc::new(Lane {
            exporter_id: self.id.clone(),
            signal,
            exporter: self.exporter.clone(),
            queue: Box::new(queue),
            disk,
            pressure,
            counters,
            blocks,
            overflow_log: RateLimitedLog::new(Duration::from_secs(5)),
            abort: self.abort.clone(),
            aborted_items: self.aborted_items.clone(),
        });
        let batcher = queue_settings.batch.as_ref().map(|_| {
            let (tx, rx) = mpsc::channel(64);
            self.batcher_inputs.push((rx, lane.clone()));
            tx
        });
        let input = ExporterInput {
            lane: lane.clone(),
            batcher,
        };
        self.lanes.insert(signal, lane);
        self.inputs.insert(signal, input.clone());
        input
    }

    /// Starts the component, then its workers (and batchers). Inputs must all have been
    /// taken before.
    pub async fn start(&mut self) -> Result<(), weir_api::StartError> {
        self.exporter.start().await?;
        let consumers = if self.settings.queue.enabled {
            self.settings.queue.num_consumers
        } else {
            1
        };
        for lane in self.lanes.values() {
            if let Some(disk) = &lane.disk {
                let Some(storage) = &self.storage else {
                    return Err(weir_api::StartError(format!(
                        "sending_queue.storage names `{}`, which was not handed to the exporter",
                        self.storage_name().unwrap_or_default()
                    )));
                };
                disk.open(storage.as_ref(), lane).map_err(|err| {
                    weir_api::StartError(format!("persistent queue for {}: {err}", lane.signal))
                })?;
                for _ in 0..consumers {
                    self.workers.spawn(disk.clone().consume(
                        lane.clone(),
                        self.settings.clone(),
                        self.abort.clone(),
                    ));
                }
                continue;
            }
            for _ in 0..consumers {
                let lane = lane.clone();
                let settings = self.settings.clone();
                let abort = self.abort.clone();
                let aborted = self.aborted_items.clone();
                self.workers.spawn(async move {
                    while !abort.is_cancelled() {
                        let Some(item) = lane.queue.pop().await else {
                            break;
                        };
                        let started = Instant::now();
                        let outcome = retry::deliver(
                            &settings,
                            &lane.counters,
                            item,
                            &abort,
                            &lane.exporter_id,
                        )
                        .await;
                        lane.pressure.observe_latency(started.elapsed());
                        if let retry::Delivery::Failed { items, .. } = outcome {
                            if abort.is_cancelled() {
                                aborted.fetch_add(items as u64, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        }
        if let Some(batch_settings) = self.settings.queue.batch.clone() {
            let settings = BatcherSettings {
                send_batch_size: batch_settings.min_size.max(1),
                send_batch_max_size: batch_settings.max_size,
                timeout: batch_settings.flush_timeout,
                sizer: batch_settings.sizer,
                ..Default::default()
            };
            for (rx, lane) in self.batcher_inputs.drain(..) {
                self.batchers
                    .spawn(run_batcher(rx, lane, Batcher::new(settings.clone())));
            }
        }
        Ok(())
    }

    /// The shutdown deadline passed: workers stop after their current attempt and
    /// blocked pushes give up (their data is counted as failed to enqueue).
    pub fn abort_now(&self) {
        self.abort.cancel();
    }

    /// Drops the runtime's own inputs so that, once pipelines drop theirs, batchers end.
    pub fn release_inputs(&mut self) {
        self.inputs.clear();
    }

    /// Closes the queues and lets workers drain until `deadline`; what is left then is
    /// counted as failed and reported. Returns the number of items not delivered.
    pub async fn shutdown(&mut self, deadline: Instant) -> u64 {
        // Batchers end once every pipeline has dropped its input; they flush into the
        // queues, which must still be open then.
        self.release_inputs();
        let _ = tokio::time::timeout_at(deadline.into(), async {
            while self.batchers.join_next().await.is_some() {}
        })
        .await;
        for lane in self.lanes.values() {
            lane.queue.close();
            if let Some(disk) = &lane.disk {
                // The backlog stays on disk for the next start: not drained, not failed.
                disk.stop();
            }
        }
        let drained = tokio::time::timeout_at(deadline.into(), async {
            while self.workers.join_next().await.is_some() {}
        })
        .await;
        let mut lost = 0u64;
        if drained.is_err() {
            self.abort.cancel();
            while self.workers.join_next().await.is_some() {}
        }
        // Workers stop early once aborted; whatever they left queued is undelivered.
        {
            for lane in self.lanes.values() {
                let remaining = lane.queue.drain_remaining();
                for item in &remaining {
                    item.acks.record(Outcome::Failed);
                }
                let left: u64 = remaining.iter().map(|item| item.items() as u64).sum();
                if left > 0 {
                    lane.counters.send_failed.inc_by(left);
                    tracing::error!(exporter = %self.id, signal = %lane.signal, items = left,
                        "shutdown deadline reached; queued data was not delivered");
                    lost += left;
                }
            }
        }
        lost += self.aborted_items.load(Ordering::Relaxed);
        for lane in self.lanes.values() {
            if let Some(disk) = &lane.disk {
                let bytes = disk.backlog_bytes();
                tracing::info!(exporter = %self.id, signal = %lane.signal, bytes,
                    "persistent queue: the backlog stays on disk for the next start");
            }
        }
        self.exporter.shutdown().await;
        lost
    }
}

async fn run_batcher(mut rx: mpsc::Receiver<Batch>, lane: Arc<Lane>, mut batcher: Batcher) {
    let mut ready = Vec::new();
    loop {
        let deadline = batcher.next_deadline();
        tokio::select! {
            received = rx.recv() => match received {
                Some(batch) => {
                    if let Err(refused) = batcher.add(batch, Instant::now(), &mut ready) {
                        ready.push(refused);
                    }
                }
                None => break,
            },
            _ = sleep_until_opt(deadline) => batcher.on_deadline(Instant::now(), &mut ready),
        }
        for batch in ready.drain(..) {
            lane.enqueue(batch).await;
        }
    }
    batcher.flush(&mut ready);
    for batch in ready.drain(..) {
        lane.enqueue(batch).await;
    }
}

/// Sleeps until `deadline`, or forever when there is none.
pub async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
