//! The persistent queue of one exporter and signal (`sending_queue.storage`): the lane's
//! batches go to a storage extension's log ([`RecordLog`]) instead of memory.
//!
//! - **Enqueue** encodes the batch to OTLP wire bytes, appends it (fsynced as the storage
//!   says), records [`Outcome::Persisted`] on its acknowledgement handles and lets go of
//!   it. Receivers of such pipelines answer OK only then (`ReceiverOutput::acknowledging`).
//!   A full log (`full_policy: block`) is waited on for [`FULL_WAIT`], then the data is
//!   refused, counted as failed to enqueue, and the receiver tells its client to retry.
//!   Under `drop_oldest` the log makes room itself and what it removed is counted in
//!   `weir_items_dropped{reason="queue_full"}`.
//! - **Consumers** (`num_consumers`) take records from the log, decode them into a batch,
//!   let the exporter `prepare` it, and send with the usual retry stack. A record is done
//!   once sent, or failed and counted; only then may its segment go.
//! - **Shutdown** stops the consumers at once: the backlog stays on disk for the next start
//!   and is not counted as failed. A request cut off mid-send is sent again on the next
//!   start, flagged as redelivered (`weir_queue_redelivered_items`).
//! - **Damage** the log skipped is counted in `weir_queue_damaged_records{exporter}`.
//!
//! Log calls do blocking file I/O, so they run on tokio's blocking pool.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use weir_api::storage::{AppendError, Record, RecordLog, Storage};
use weir_api::telemetry::names::{QUEUE_DAMAGED_RECORDS, QUEUE_REDELIVERED_ITEMS};
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::{Batch, ExportError, ExporterSettings, Outcome, Signal};

use super::retry::{self, Delivery};
use super::Lane;
use crate::ratelimit::RateLimitedLog;

/// How long an append waits for room in a full log before the data is refused.
pub const FULL_WAIT: Duration = Duration::from_millis(500);
/// How often a waiting append or an idle consumer looks again.
const POLL: Duration = Duration::from_millis(50);
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// The disk side of a lane.
pub struct DiskQueue {
    /// The log's name in the storage, e.g. `exporter_otlp_traces`.
    name: String,
    log: OnceLock<Arc<dyn RecordLog>>,
    appended: Notify,
    /// Cancelled at shutdown: consumers stop, the backlog stays on disk.
    stop: CancellationToken,
    damaged: Counter,
    redelivered: Counter,
    dropped_full: Counter,
    full_log: RateLimitedLog,
    read_errors: RateLimitedLog,
}

impl DiskQueue {
    pub fn new(exporter_id: &str, signal: Signal, telemetry: &Telemetry) -> Self {
        Self {
            name: format!("exporter_{exporter_id}_{signal}"),
            log: OnceLock::new(),
            appended: Notify::new(),
            stop: CancellationToken::new(),
            damaged: telemetry.counter_of(&QUEUE_DAMAGED_RECORDS, &[exporter_id]),
            redelivered: telemetry
                .counter_of(&QUEUE_REDELIVERED_ITEMS, &[exporter_id, signal.as_str()]),
            dropped_full: telemetry.dropped(exporter_id, signal, "queue_full"),
            full_log: RateLimitedLog::new(Duration::from_secs(5)),
            read_errors: RateLimitedLog::new(Duration::from_secs(5)),
        }
    }

    /// Opens (and replays) the log; called when the exporter starts.
    pub fn open(&self, storage: &dyn Storage, lane: &Lane) -> Result<(), String> {
        let log: Arc<dyn RecordLog> = Arc::from(storage.open_log(&self.name)?);
        let damaged = log.take_damaged();
        self.damaged.inc_by(damaged);
        let _ = self.log.set(log);
        self.report(lane);
        Ok(())
    }

    fn report(&self, lane: &Lane) {
        if let Some(log) = self.log.get() {
            let stats = log.stats();
            lane.counters.queue_size.set(stats.bytes as i64);
            lane.counters.queue_capacity.set(stats.max_bytes as i64);
            let (bytes, max) = (stats.bytes as usize, stats.max_bytes as usize);
            lane.pressure.set_fill(bytes, max, bytes, max);
        }
    }

    /// Stops the consumers; what they have not finished stays on disk.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Bytes left on disk, for the shutdown log.
    pub fn backlog_bytes(&self) -> u64 {
        self.log.get().map_or(0, |log| log.stats().bytes)
    }

    /// Writes the batch to the log, then settles its acknowledgement handles.
    pub async fn enqueue(&self, lane: &Lane, mut batch: Batch) {
        let items = batch.item_count();
        let acks = batch.take_acks();
        let mut payload = batch.encode_protobuf();
        drop(batch);
        let Some(log) = self.log.get().cloned() else {
            lane.counters.enqueue_failed.inc_by(items as u64);
            acks.record(Outcome::Failed);
            tracing::error!(exporter = %lane.exporter_id, signal = %lane.signal, items,
                "persistent queue used before it was opened; data refused");
            return;
        };
        let started = Instant::now();
        let result = loop {
            let log = log.clone();
            let count = u32::try_from(items).unwrap_or(u32::MAX);
            let appended = tokio::task::spawn_blocking(move || {
                let result = log.append(&payload, count);
                (result, payload)
            })
            .await;
            let (result, back) = match appended {
                Ok(done) => done,
                Err(join) => break Err(AppendError::Io(format!("append task failed: {join}"))),
            };
            payload = back;
            match result {
                Err(AppendError::Full)
                    if started.elapsed() < FULL_WAIT && !lane.abort.is_cancelled() =>
                {
                    tokio::time::sleep(POLL).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(appended) => {
                acks.record(Outcome::Persisted);
                drop(acks);
                self.appended.notify_one();
                if appended.dropped_items > 0 || appended.dropped_records > 0 {
                    self.dropped_full.inc_by(appended.dropped_items);
                }
                self.report(lane);
            }
            Err(err) => {
                lane.counters.enqueue_failed.inc_by(items as u64);
                acks.record(Outcome::Failed);
                match err {
                    AppendError::Full => self.full_log.warn(items as u64, |total| {
                        tracing::warn!(exporter = %lane.exporter_id, signal = %lane.signal,
                            refused_items = total,
                            "persistent queue is full (full_policy: block); clients are told \
                             to retry (raise the storage's max_size_mib or use drop_oldest)")
                    }),
                    other => tracing::error!(exporter = %lane.exporter_id,
                        signal = %lane.signal, items, error = %other,
                        "persistent queue could not write; data refused"),
                }
            }
        }
    }

    /// One consumer: takes records from the log until shutdown.
    pub async fn consume(
        self: Arc<Self>,
        lane: Arc<Lane>,
        settings: ExporterSettings,
        abort: CancellationToken,
    ) {
        let Some(log) = self.log.get().cloned() else {
            return;
        };
        // The consumer gives up an attempt at shutdown: the record stays on disk.
        let give_up = abort.child_token();
        let stop = self.stop.clone();
        let cancel_on_stop = {
            let give_up = give_up.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                give_up.cancel();
            })
        };
        while !stop.is_cancelled() {
            let wake = self.appended.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let reader = log.clone();
            let next = tokio::task::spawn_blocking(move || reader.next()).await;
            self.damaged.inc_by(log.take_damaged());
            match next {
                Ok(Ok(Some(record))) => {
                    // More may be waiting: wake another consumer.
                    self.appended.notify_one();
                    self.deliver(&lane, &log, record, &settings, &give_up).await;
                    self.report(&lane);
                }
                Ok(Ok(None)) => {
                    tokio::select! {
                        _ = wake => {}
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(IDLE_RECHECK) => {}
                    }
                }
                Ok(Err(message)) => {
                    self.read_errors.warn(1, |_| {
                        tracing::error!(exporter = %lane.exporter_id, signal = %lane.signal,
                            error = %message, "persistent queue: cannot read the log; will retry")
                    });
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(IDLE_RECHECK) => {}
                    }
                }
                Err(_) => break,
            }
        }
        cancel_on_stop.abort();
    }

    async fn deliver(
        &self,
        lane: &Lane,
        log: &Arc<dyn RecordLog>,
        record: Record,
        settings: &ExporterSettings,
        give_up: &CancellationToken,
    ) {
        let id = record.id;
        let batch = match Batch::from_protobuf(lane.signal, Bytes::from(record.payload)) {
            Ok(batch) => batch,
            Err(err) => {
                // The checksum matched, so the bytes are as written; still never a crash.
                self.damaged.inc();
                tracing::warn!(exporter = %lane.exporter_id, signal = %lane.signal,
                    segment = id.segment, index = id.index, error = %err,
                    "persistent queue: a record is not a valid OTLP request; skipped");
                log.done(id);
                return;
            }
        };
        let items = batch.item_count();
        if record.redelivered {
            self.redelivered.inc_by(items as u64);
        }
        let mut request = match lane.exporter.prepare(batch) {
            Ok(request) => request,
            Err(err) => {
                lane.counters.send_failed.inc_by(items as u64);
                let message = match &err {
                    ExportError::Permanent { message, .. }
                    | ExportError::Retryable { message, .. } => message.clone(),
                };
                tracing::error!(exporter = %lane.exporter_id, signal = %lane.signal, items,
                    error = %message, "could not prepare the export request; data dropped");
                log.done(id);
                return;
            }
        };
        let started = Instant::now();
        let outcome = retry::attempts(
            settings,
            &lane.counters,
            request.as_mut(),
            give_up,
            &lane.exporter_id,
        )
        .await;
        lane.pressure.observe_latency(started.elapsed());
        match outcome {
            // Left on disk for the next start; not counted.
            Delivery::Abandoned { .. } => {}
            Delivery::Sent | Delivery::Failed { .. } => log.done(id),
        }
    }
}
