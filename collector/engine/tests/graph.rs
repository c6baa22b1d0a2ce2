//! The engine with in-process fake components: fan-out, queue overflow accounting, a dead
//! exporter not stalling a live one, and drain on shutdown. (Real components and real
//! peers are tested black-box in tests/ and integration/.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use weir_api::component::BuiltExporter;
use weir_api::telemetry::Telemetry;
use weir_api::*;

/// A receiver that sends the batches a test pushes into a channel.
struct ScriptedReceiverFactory {
    script: Arc<Mutex<Option<tokio::sync::mpsc::Receiver<Batch>>>>,
    results: Arc<Mutex<Vec<Result<(), ConsumeError>>>>,
}

struct ScriptedReceiver {
    script: Arc<Mutex<Option<tokio::sync::mpsc::Receiver<Batch>>>>,
    results: Arc<Mutex<Vec<Result<(), ConsumeError>>>>,
}

#[async_trait]
impl Receiver for ScriptedReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> Result<RunningComponent, StartError> {
        let mut rx = self.script.lock().unwrap().take().expect("one receiver");
        let results = self.results.clone();
        Ok(Box::pin(async move {
            loop {
                tokio::select! {
                    batch = rx.recv() => match batch {
                        Some(batch) => {
                            let result = ctx.output.send(batch).await;
                            results.lock().unwrap().push(result);
                        }
                        None => break,
                    },
                    _ = ctx.shutdown.cancelled() => break,
                }
            }
        }))
    }
}

impl ReceiverFactory for ScriptedReceiverFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "scripted",
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Development,
            description: "test",
        }
    }
    fn check(&self, _config: &Value) -> Vec<ComponentProblem> {
        Vec::new()
    }
    fn build(&self, _ctx: BuildContext, _config: &Value) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(ScriptedReceiver {
            script: self.script.clone(),
            results: self.results.clone(),
        }))
    }
}

/// Every sink built, by component id.
type Sinks = Arc<Mutex<Vec<(ComponentId, Arc<Sink>)>>>;

/// An exporter that records items, or hangs while `dead` is set.
#[derive(Default)]
struct Sink {
    items: AtomicUsize,
    batch_sizes: Mutex<Vec<usize>>,
    dead: AtomicBool,
    fail_retryable: AtomicBool,
}

#[async_trait]
impl Exporter for Sink {
    async fn export(&self, batch: Batch) -> Result<(), ExportError> {
        if self.dead.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail_retryable.load(Ordering::SeqCst) {
            return Err(ExportError::retryable("down"));
        }
        self.items.fetch_add(batch.item_count(), Ordering::SeqCst);
        self.batch_sizes.lock().unwrap().push(batch.item_count());
        Ok(())
    }
}

struct SinkFactory {
    name: &'static str,
    sinks: Sinks,
    prepare: fn(&Sink),
}

impl ExporterFactory for SinkFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: self.name,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Development,
            description: "test",
        }
    }
    fn check(&self, _config: &Value) -> Vec<ComponentProblem> {
        Vec::new()
    }
    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Config {
            sending_queue: QueueSettings,
            retry_on_failure: RetrySettings,
        }
        let parsed: Config = weir_api::config::parse(config).map_err(|p| BuildError(p.message))?;
        let sink = Arc::new(Sink::default());
        (self.prepare)(&sink);
        self.sinks.lock().unwrap().push((ctx.id, sink.clone()));
        Ok(BuiltExporter {
            exporter: sink,
            settings: ExporterSettings {
                timeout: Duration::from_secs(60),
                retry: parsed.retry_on_failure,
                queue: parsed.sending_queue,
            },
        })
    }
}

fn spans(n: usize) -> Batch {
    Batch::from_traces(vec![weir_proto::trace::v1::ResourceSpans {
        scope_spans: vec![weir_proto::trace::v1::ScopeSpans {
            spans: vec![Default::default(); n],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

struct Harness {
    feed: tokio::sync::mpsc::Sender<Batch>,
    sinks: Sinks,
    results: Arc<Mutex<Vec<Result<(), ConsumeError>>>>,
    telemetry: Telemetry,
    stop: CancellationToken,
    run: tokio::task::JoinHandle<Result<weir_engine::RunReport, StartError>>,
}

impl Harness {
    fn sink(&self, id: &str) -> Arc<Sink> {
        self.sinks
            .lock()
            .unwrap()
            .iter()
            .find(|(i, _)| i.to_string() == id)
            .map(|(_, s)| s.clone())
            .unwrap()
    }

    fn metric(&self, needle: &str) -> f64 {
        Self::metric_of(&self.telemetry)(needle)
    }

    fn metric_of(telemetry: &Telemetry) -> impl Fn(&str) -> f64 + '_ {
        move |needle| Self::read(telemetry, needle)
    }

    fn read(telemetry: &Telemetry, needle: &str) -> f64 {
        let text = telemetry.encode();
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.parse().unwrap())
            .unwrap_or(0.0)
    }
}

fn start(yaml: &str, prepare_dead: fn(&Sink)) -> Harness {
    let (feed, script) = tokio::sync::mpsc::channel(1000);
    let sinks = Arc::new(Mutex::new(Vec::new()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let registry = Registry {
        receivers: vec![Arc::new(ScriptedReceiverFactory {
            script: Arc::new(Mutex::new(Some(script))),
            results: results.clone(),
        })],
        processors: vec![],
        exporters: vec![
            Arc::new(SinkFactory {
                name: "sink",
                sinks: sinks.clone(),
                prepare: |_| {},
            }),
            Arc::new(SinkFactory {
                name: "deadsink",
                sinks: sinks.clone(),
                prepare: prepare_dead,
            }),
        ],
        extensions: vec![],
    };
    let sources = [weir_config::Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }];
    let env = |_: &str| None;
    let config = weir_config::load(
        &sources,
        &weir_config::LoadOptions {
            sets: &["service.telemetry.metrics.level=none".to_string()],
            env: &env,
        },
    )
    .unwrap();
    let diagnostics = weir_engine::validate(&config, &registry);
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    let telemetry = Telemetry::new();
    let graph = weir_engine::build(&config, &registry, telemetry.clone()).unwrap();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let run = tokio::spawn(async move {
        weir_engine::run(
            graph,
            async move { stopped.cancelled().await },
            Duration::from_secs(2),
        )
        .await
    });
    Harness {
        feed,
        sinks,
        results,
        telemetry,
        stop,
        run,
    }
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not reached in 5s: {what}");
}

const TWO_EXPORTERS: &str = r#"
receivers:
  scripted:
exporters:
  sink/live:
  deadsink/stuck:
    sending_queue:
      queue_size: 2
      num_consumers: 1
service:
  pipelines:
    traces:
      receivers: [scripted]
      exporters: [sink/live, deadsink/stuck]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_exporter_does_not_stall_a_live_one_and_overflow_is_counted() {
    let h = start(TWO_EXPORTERS, |s| s.dead.store(true, Ordering::SeqCst));
    for _ in 0..50 {
        h.feed.send(spans(10)).await.unwrap();
    }
    let live = h.sink("sink/live");
    wait_for("live sink got everything", || {
        live.items.load(Ordering::SeqCst) == 500
    })
    .await;
    // The stuck exporter holds at most one batch in its worker and two in its queue; the
    // rest overflowed and was counted.
    let stuck = "{exporter=\"deadsink/stuck\"}";
    let overflowed = h.metric(&format!(
        "otelcol_exporter_enqueue_failed_spans_total{stuck}"
    ));
    assert!(overflowed == 470.0 || overflowed == 480.0, "{overflowed}");
    assert_eq!(h.metric("otelcol_receiver_accepted_spans_total"), 500.0);
    assert!(h.results.lock().unwrap().iter().all(Result::is_ok));
    h.stop.cancel();
    let telemetry = h.telemetry.clone();
    let report = h.run.await.unwrap().unwrap();
    // At the deadline the queued batches and the one in flight are counted undelivered. Received = sent + failed + enqueue_failed, exactly.
    assert_eq!(
        report.undelivered_items,
        500 - overflowed as u64,
        "{report:?}"
    );
    let metric = Harness::metric_of(&telemetry);
    let failed = metric(&format!("otelcol_exporter_send_failed_spans_total{stuck}"));
    let sent = metric(&format!("otelcol_exporter_sent_spans_total{stuck}"));
    assert_eq!(sent + failed + overflowed, 500.0);
}

const RETRYING: &str = r#"
receivers:
  scripted:
exporters:
  deadsink:
    retry_on_failure:
      initial_interval: 10ms
      max_interval: 20ms
service:
  pipelines:
    logs:
      receivers: [scripted]
      exporters: [deadsink]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_show_in_metrics_and_data_arrives_when_downstream_returns() {
    let h = start(RETRYING, |s| s.fail_retryable.store(true, Ordering::SeqCst));
    let logs = Batch::from_logs(vec![weir_proto::logs::v1::ResourceLogs {
        scope_logs: vec![weir_proto::logs::v1::ScopeLogs {
            log_records: vec![Default::default(); 4],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    h.feed.send(logs).await.unwrap();
    wait_for("retries counted", || {
        h.metric("weir_exporter_retries_total{exporter=\"deadsink\",data_type=\"logs\"}") >= 2.0
    })
    .await;
    let sink = h.sink("deadsink");
    sink.fail_retryable.store(false, Ordering::SeqCst);
    wait_for("data arrived", || sink.items.load(Ordering::SeqCst) == 4).await;
    assert_eq!(
        h.metric("otelcol_exporter_sent_log_records_total{exporter=\"deadsink\"}"),
        4.0
    );
    h.stop.cancel();
    assert_eq!(h.run.await.unwrap().unwrap().undelivered_items, 0);
}

const BLOCKING: &str = r#"
receivers:
  scripted:
exporters:
  deadsink:
    sending_queue:
      queue_size: 1
      num_consumers: 1
      block_on_overflow: true
service:
  pipelines:
    traces:
      receivers: [scripted]
      exporters: [deadsink]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_on_overflow_pushes_back_to_the_receiver() {
    let h = start(BLOCKING, |s| s.dead.store(true, Ordering::SeqCst));
    for _ in 0..100 {
        h.feed.send(spans(1)).await.unwrap();
    }
    // With the exporter stuck and the queue blocking, the pipeline channel fills and the
    // receiver is told to retry instead of data being dropped.
    wait_for("receiver told to retry", || {
        h.results
            .lock()
            .unwrap()
            .iter()
            .any(|r| matches!(r, Err(ConsumeError::NoRoom { .. })))
    })
    .await;
    assert_eq!(h.metric("otelcol_exporter_enqueue_failed_spans_total"), 0.0);
    h.stop.cancel();
    let _ = h.run.await.unwrap();
}

const EXPORTER_SIDE_BATCHING: &str = r#"
receivers:
  scripted:
exporters:
  sink:
    sending_queue:
      batch:
        min_size: 10
        max_size: 12
        flush_timeout: 1h
service:
  pipelines:
    traces:
      receivers: [scripted]
      exporters: [sink]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_queue_batch_groups_like_the_batch_processor() {
    let h = start(EXPORTER_SIDE_BATCHING, |_| {});
    for _ in 0..25 {
        h.feed.send(spans(1)).await.unwrap();
    }
    let sink = h.sink("sink");
    // Two full batches leave before the (very long) flush timeout; the rest waits.
    wait_for("two batches of at least min_size", || {
        sink.items.load(Ordering::SeqCst) == 20
    })
    .await;
    assert!(sink
        .batch_sizes
        .lock()
        .unwrap()
        .iter()
        .all(|&n| (10..=12).contains(&n)));
    // Shutdown flushes what the exporter-side batcher still holds.
    h.stop.cancel();
    let sink_after = sink.clone();
    assert_eq!(h.run.await.unwrap().unwrap().undelivered_items, 0);
    assert_eq!(sink_after.items.load(Ordering::SeqCst), 25);
}
