//! The persistent lane against a log in memory: acknowledgement after the append, a full
//! log refused and counted, and a shutdown that leaves the backlog in the log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use weir_api::ack::InFlight;
use weir_api::storage::{AppendError, Appended, LogStats, Record, RecordId, RecordLog, Storage};
use weir_api::telemetry::Telemetry;
use weir_api::{
    Ack, Batch, ExportError, ExportRequest, Exporter, ExporterSettings, QueueSettings,
    RetrySettings, Signal,
};

use super::ExporterRuntime;

#[derive(Default)]
struct MemLog {
    full: bool,
    queued: Mutex<VecDeque<Record>>,
    done: Mutex<Vec<RecordId>>,
    next_index: AtomicUsize,
}

struct Handle(Arc<MemLog>);

impl RecordLog for Handle {
    fn append(&self, payload: &[u8], items: u32) -> Result<Appended, AppendError> {
        if self.0.full {
            return Err(AppendError::Full);
        }
        let index = self.0.next_index.fetch_add(1, Ordering::SeqCst) as u32;
        self.0.queued.lock().unwrap().push_back(Record {
            id: RecordId { segment: 1, index },
            items,
            payload: payload.to_vec(),
            redelivered: false,
        });
        Ok(Appended::default())
    }
    fn next(&self) -> Result<Option<Record>, String> {
        Ok(self.0.queued.lock().unwrap().pop_front())
    }
    fn done(&self, id: RecordId) {
        self.0.done.lock().unwrap().push(id);
    }
    fn take_damaged(&self) -> u64 {
        0
    }
    fn stats(&self) -> LogStats {
        LogStats::default()
    }
}

struct MemStorage(Arc<MemLog>);

impl Storage for MemStorage {
    fn open_log(&self, _name: &str) -> Result<Box<dyn RecordLog>, String> {
        Ok(Box::new(Handle(self.0.clone())))
    }
}

/// Counts sends; fails them (retryably) while `down`.
struct Backend {
    sent: AtomicUsize,
    down: bool,
}

struct Request(Arc<Backend>, usize);

#[async_trait]
impl ExportRequest for Request {
    fn items(&self) -> usize {
        self.1
    }
    fn encoded_len(&self) -> usize {
        10
    }
    async fn send(&mut self) -> Result<(), ExportError> {
        if self.0.down {
            return Err(ExportError::retryable("down"));
        }
        self.0.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct FakeExporter(Arc<Backend>);

#[async_trait]
impl Exporter for FakeExporter {
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        Ok(Box::new(Request(self.0.clone(), batch.item_count())))
    }
}

fn settings() -> ExporterSettings {
    ExporterSettings {
        timeout: Duration::from_secs(1),
        retry: RetrySettings {
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(10),
            max_elapsed_time: Duration::ZERO,
            ..Default::default()
        },
        queue: QueueSettings {
            num_consumers: 1,
            storage: Some("file_storage".into()),
            ..Default::default()
        },
    }
}

fn one_span() -> (Batch, weir_api::AckReceipt) {
    let bytes = bytes::Bytes::from_static(&[0x0a, 0x04, 0x12, 0x02, 0x12, 0x00]);
    let mut batch = Batch::from_protobuf(Signal::Traces, bytes).expect("valid");
    let (ack, receipt) = Ack::new(1, 6, &InFlight::default());
    batch.attach_ack(ack);
    (batch, receipt)
}

async fn runtime(
    log: Arc<MemLog>,
    backend: Arc<Backend>,
    telemetry: &Telemetry,
) -> (ExporterRuntime, super::ExporterInput) {
    let mut runtime =
        ExporterRuntime::new("otlp".into(), Arc::new(FakeExporter(backend)), settings());
    assert!(runtime.is_persistent());
    let input = runtime.input(Signal::Traces, telemetry);
    runtime.use_storage(Arc::new(MemStorage(log)));
    runtime.start().await.expect("starts");
    (runtime, input)
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn data_is_acknowledged_once_persisted_then_delivered_and_done() {
    let telemetry = Telemetry::new();
    let log = Arc::new(MemLog::default());
    let backend = Arc::new(Backend {
        sent: AtomicUsize::new(0),
        down: false,
    });
    let (mut runtime, input) = runtime(log.clone(), backend.clone(), &telemetry).await;
    let (batch, receipt) = one_span();
    input.send(batch).await;
    let summary = receipt.released().await;
    assert!(summary.persisted && !summary.failed);
    eventually("delivery", || backend.sent.load(Ordering::SeqCst) == 1).await;
    eventually("the record done", || log.done.lock().unwrap().len() == 1).await;
    drop(input);
    assert_eq!(
        runtime
            .shutdown(Instant::now() + Duration::from_secs(5))
            .await,
        0
    );
}

#[tokio::test]
async fn a_full_log_refuses_and_counts() {
    let telemetry = Telemetry::new();
    let log = Arc::new(MemLog {
        full: true,
        ..Default::default()
    });
    let backend = Arc::new(Backend {
        sent: AtomicUsize::new(0),
        down: false,
    });
    let (_runtime, input) = runtime(log, backend, &telemetry).await;
    let (batch, receipt) = one_span();
    input.send(batch).await;
    assert!(receipt.released().await.failed);
    assert_eq!(
        telemetry
            .exporter("otlp", Signal::Traces)
            .enqueue_failed
            .get(),
        1
    );
}

#[tokio::test]
async fn shutdown_leaves_the_backlog_in_the_log_uncounted() {
    let telemetry = Telemetry::new();
    let log = Arc::new(MemLog::default());
    let backend = Arc::new(Backend {
        sent: AtomicUsize::new(0),
        down: true,
    });
    let (mut runtime, input) = runtime(log.clone(), backend, &telemetry).await;
    for _ in 0..3 {
        let (batch, receipt) = one_span();
        input.send(batch).await;
        assert!(!receipt.released().await.failed);
    }
    drop(input);
    let lost = runtime
        .shutdown(Instant::now() + Duration::from_secs(5))
        .await;
    assert_eq!(
        lost, 0,
        "the backlog is not lost: it stays for the next start"
    );
    let counters = telemetry.exporter("otlp", Signal::Traces);
    assert_eq!(counters.send_failed.get(), 0);
    assert!(
        log.done.lock().unwrap().is_empty(),
        "nothing was delivered, nothing is done"
    );
}
