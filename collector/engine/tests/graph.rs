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

/// What an acknowledging receiver saw for one batch: its name, the summary at release,
/// and whether every sink had already handled the batch when it was released.
type Released = Arc<Mutex<Vec<(String, AckSummary, bool)>>>;

/// A receiver that sends the batches a test pushes into a channel. As type `acked`, it
/// awaits each batch's acknowledgement (in a task per batch) and records the release.
struct ScriptedReceiverFactory {
    script: Arc<Mutex<Option<tokio::sync::mpsc::Receiver<Batch>>>>,
    results: Arc<Mutex<Vec<Result<(), ConsumeError>>>>,
    acked: Option<(Released, Sinks)>,
}

struct ScriptedReceiver {
    script: Arc<Mutex<Option<tokio::sync::mpsc::Receiver<Batch>>>>,
    results: Arc<Mutex<Vec<Result<(), ConsumeError>>>>,
    acked: Option<(Released, Sinks)>,
}

#[async_trait]
impl Receiver for ScriptedReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> Result<RunningComponent, StartError> {
        let mut rx = self.script.lock().unwrap().take().expect("one receiver");
        let results = self.results.clone();
        let acked = self.acked.clone();
        Ok(Box::pin(async move {
            let mut waiting = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    batch = rx.recv() => match batch {
                        Some(batch) => match &acked {
                            None => {
                                let result = ctx.output.send(batch).await;
                                results.lock().unwrap().push(result);
                            }
                            Some((released, sinks)) => {
                                let name = batch
                                    .spans()
                                    .next()
                                    .map(|(_, _, s)| s.name().to_string())
                                    .unwrap_or_default();
                                let output = ctx.output.clone();
                                let (released, sinks) = (released.clone(), sinks.clone());
                                waiting.spawn(async move {
                                    let summary = output.send_acknowledged(batch).await.unwrap();
                                    let everywhere = sinks.lock().unwrap().iter().all(|(_, sink)| {
                                        sink.names.lock().unwrap().contains(&name)
                                    });
                                    released.lock().unwrap().push((name, summary, everywhere));
                                });
                            }
                        },
                        None => break,
                    },
                    _ = ctx.shutdown.cancelled() => break,
                }
            }
            while waiting.join_next().await.is_some() {}
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
            acked: self.acked.clone(),
        }))
    }
}

/// A forward connector (the real one is a component; the engine's tests do not depend on
/// components).
struct TestForwardFactory;
struct TestForward;

impl Connector for TestForward {
    fn consume(&mut self, batch: Batch, out: &mut ConnectorOutput) {
        out.to_all(batch);
    }
}

impl ConnectorFactory for TestForwardFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "forward",
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Development,
            description: "test",
        }
    }
    fn pairs(&self) -> &'static [(Signal, Signal)] {
        &[
            (Signal::Traces, Signal::Traces),
            (Signal::Metrics, Signal::Metrics),
            (Signal::Logs, Signal::Logs),
        ]
    }
    fn check(&self, _config: &Value) -> Vec<ComponentProblem> {
        Vec::new()
    }
    fn build(
        &self,
        _ctx: ConnectorBuildContext,
        _config: &Value,
    ) -> Result<Box<dyn Connector>, BuildError> {
        Ok(Box::new(TestForward))
    }
}

/// Every sink built, by component id.
type Sinks = Arc<Mutex<Vec<(ComponentId, Arc<Sink>)>>>;

/// An exporter that records items, or hangs while `dead` is set.
#[derive(Default)]
struct Sink {
    items: AtomicUsize,
    batch_sizes: Mutex<Vec<usize>>,
    /// Span names delivered (the tests name spans after the batch they came in).
    names: Mutex<Vec<String>>,
    dead: AtomicBool,
    fail_retryable: AtomicBool,
    fail_permanent: AtomicBool,
    /// Requests prepared (encoded) and attempts sent.
    prepared: AtomicUsize,
    attempts: AtomicUsize,
}

/// The exporter the engine holds: prepares a request per batch.
struct SinkExporter(Arc<Sink>);

/// What `prepare` made: the batch's item count and span names.
struct SinkRequest {
    sink: Arc<Sink>,
    items: usize,
    names: Vec<String>,
}

#[async_trait]
impl Exporter for SinkExporter {
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        self.0.prepared.fetch_add(1, Ordering::SeqCst);
        let names = batch
            .spans()
            .map(|(_, _, span)| span.name().to_string())
            .collect();
        Ok(Box::new(SinkRequest {
            sink: self.0.clone(),
            items: batch.item_count(),
            names,
        }))
    }
}

#[async_trait]
impl ExportRequest for SinkRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.items * 10
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let sink = &self.sink;
        sink.attempts.fetch_add(1, Ordering::SeqCst);
        if sink.dead.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if sink.fail_retryable.load(Ordering::SeqCst) {
            return Err(ExportError::retryable("down"));
        }
        if sink.fail_permanent.load(Ordering::SeqCst) {
            sink.names
                .lock()
                .unwrap()
                .extend(self.names.iter().cloned());
            return Err(ExportError::permanent("refused"));
        }
        sink.items.fetch_add(self.items, Ordering::SeqCst);
        sink.batch_sizes.lock().unwrap().push(self.items);
        sink.names
            .lock()
            .unwrap()
            .extend(self.names.iter().cloned());
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
            exporter: Arc::new(SinkExporter(sink)),
            settings: ExporterSettings {
                timeout: Duration::from_secs(60),
                retry: parsed.retry_on_failure,
                queue: parsed.sending_queue,
            },
        })
    }
}

/// `n` spans, each named `name`.
fn named_spans(name: &str, n: usize) -> Batch {
    Batch::from_traces(vec![weir_proto::trace::v1::ResourceSpans {
        scope_spans: vec![weir_proto::trace::v1::ScopeSpans {
            spans: vec![
                weir_proto::trace::v1::Span {
                    name: name.to_string(),
                    ..Default::default()
                };
                n
            ],
            ..Default::default()
        }],
        ..Default::default()
    }])
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
    start_with(yaml, prepare_dead, None)
}

fn start_with(yaml: &str, prepare_dead: fn(&Sink), released: Option<Released>) -> Harness {
    let (feed, script) = tokio::sync::mpsc::channel(1000);
    let sinks = Arc::new(Mutex::new(Vec::new()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let registry = Registry {
        receivers: vec![Arc::new(ScriptedReceiverFactory {
            script: Arc::new(Mutex::new(Some(script))),
            results: results.clone(),
            acked: released.map(|r| (r, sinks.clone())),
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
        connectors: vec![Arc::new(TestForwardFactory)],
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
    // Encoded once, sent several times.
    assert_eq!(sink.prepared.load(Ordering::SeqCst), 1);
    assert!(sink.attempts.load(Ordering::SeqCst) >= 3);
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
    let accepted = h.metric("otelcol_receiver_accepted_spans_total");
    h.stop.cancel();
    // The exporter never answers: at the deadline every accepted span, wherever it
    // waits (pipeline channel, blocked push, queue, in flight), is reported undelivered.
    let report = h.run.await.unwrap().unwrap();
    assert_eq!(report.undelivered_items as f64, accepted, "{report:?}");
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

const FORWARD_FAN_OUT: &str = r#"
receivers:
  scripted:
connectors:
  forward:
exporters:
  sink/b:
    sending_queue:
      batch:
        min_size: 7
        max_size: 9
        flush_timeout: 10ms
  sink/c:
service:
  pipelines:
    traces/a:
      receivers: [scripted]
      exporters: [forward]
    traces/b:
      receivers: [forward]
      exporters: [sink/b]
    traces/c:
      receivers: [forward]
      exporters: [sink/c]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_fans_out_and_shutdown_under_load_delivers_every_accepted_item() {
    let h = start(FORWARD_FAN_OUT, |_| {});
    for i in 0..300 {
        h.feed.send(named_spans(&format!("b{i}"), 3)).await.unwrap();
    }
    wait_for("some data admitted", || {
        h.metric("otelcol_receiver_accepted_spans_total") >= 90.0
    })
    .await;
    // Stop while data is still moving through the connector.
    h.stop.cancel();
    let (b, c) = (h.sink("sink/b"), h.sink("sink/c"));
    let telemetry = h.telemetry.clone();
    let report = h.run.await.unwrap().unwrap();
    let accepted = Harness::read(&telemetry, "otelcol_receiver_accepted_spans_total");
    assert!(accepted > 0.0);
    assert_eq!(report.undelivered_items, 0);
    for sink in [&b, &c] {
        assert_eq!(sink.items.load(Ordering::SeqCst) as f64, accepted);
    }
    let metric = Harness::metric_of(&telemetry);
    for id in ["sink/b", "sink/c"] {
        let sent = metric(&format!(
            "otelcol_exporter_sent_spans_total{{exporter=\"{id}\"}}"
        ));
        assert_eq!(sent, accepted, "{id}");
    }
    assert!(
        telemetry.encode().contains("weir_in_flight_items{"),
        "in-flight gauges are served"
    );
    assert_eq!(
        Harness::read(&telemetry, "weir_in_flight_items{"),
        0.0,
        "nothing left in flight after shutdown"
    );
}

/// A random graph: a receiver into traces/a, `fan_out` sinks on traces/a, then a chain
/// of `depth` forward connectors each feeding a pipeline with one sink; optional
/// exporter-side batching; optionally one sink failing permanently.
fn random_graph(
    fan_out: usize,
    depth: usize,
    batch: Option<(usize, usize)>,
    failing: bool,
) -> String {
    let batching = match batch {
        Some((min, max)) => format!(
            "\n    sending_queue:\n      batch:\n        min_size: {min}\n        max_size: {max}\n        flush_timeout: 5ms"
        ),
        None => String::new(),
    };
    let mut exporters = String::new();
    let mut connectors = String::new();
    let mut pipelines = String::new();
    let mut a_exporters: Vec<String> = (0..fan_out).map(|i| format!("sink/a{i}")).collect();
    for name in &a_exporters {
        let kind = if failing && name == "sink/a0" {
            "deadsink"
        } else {
            "sink"
        };
        let id = name.replacen("sink", kind, 1);
        exporters.push_str(&format!("  {id}:{batching}\n"));
    }
    if failing {
        a_exporters[0] = "deadsink/a0".into();
    }
    for level in 0..depth {
        connectors.push_str(&format!("  forward/{level}:\n"));
        exporters.push_str(&format!("  sink/l{level}:{batching}\n"));
    }
    let mut upstream_exporters = a_exporters.clone();
    if depth > 0 {
        upstream_exporters.push("forward/0".into());
    }
    pipelines.push_str(&format!(
        "    traces/a:\n      receivers: [scripted]\n      exporters: [{}]\n",
        upstream_exporters.join(", ")
    ));
    for level in 0..depth {
        let mut out = vec![format!("sink/l{level}")];
        if level + 1 < depth {
            out.push(format!("forward/{}", level + 1));
        }
        pipelines.push_str(&format!(
            "    traces/l{level}:\n      receivers: [forward/{level}]\n      exporters: [{}]\n",
            out.join(", ")
        ));
    }
    let connectors = if connectors.is_empty() {
        String::new()
    } else {
        format!("connectors:\n{connectors}")
    };
    format!(
        "receivers:\n  scripted:\n{connectors}exporters:\n{exporters}service:\n  pipelines:\n{pipelines}"
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, .. Default::default() })]

    /// Every admitted batch's acknowledgement is released exactly once, and only after
    /// every exporter has handled its data, across fan-out, exporter-side batching
    /// (merge and split), connectors and a failing exporter.
    #[test]
    fn acknowledgements_are_released_once_after_the_last_outcome(
        fan_out in 1usize..=3,
        depth in 0usize..=2,
        batch in proptest::option::of((1usize..6, 0usize..8)),
        failing in proptest::bool::ANY,
        sizes in proptest::collection::vec(1usize..5, 1..15),
    ) {
        let batch = batch.map(|(min, extra)| (min, if extra == 0 { 0 } else { min + extra }));
        let yaml = random_graph(fan_out, depth, batch, failing);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let released: Released = Arc::new(Mutex::new(Vec::new()));
            let h = start_with(&yaml, |s| s.fail_permanent.store(true, Ordering::SeqCst), Some(released.clone()));
            for (i, n) in sizes.iter().enumerate() {
                h.feed.send(named_spans(&format!("b{i}"), *n)).await.unwrap();
            }
            wait_for("every batch released", || released.lock().unwrap().len() == sizes.len()).await;
            h.stop.cancel();
            h.run.await.unwrap().unwrap();
            let released = released.lock().unwrap();
            let mut names: Vec<&String> = released.iter().map(|(n, _, _)| n).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), sizes.len(), "each batch released exactly once: {yaml}");
            for (name, summary, everywhere) in released.iter() {
                assert!(everywhere, "{name} released before every exporter had it: {yaml}");
                assert_eq!(summary.failed, failing, "{name}: {summary:?}\n{yaml}");
                assert!(summary.delivered || (failing && fan_out == 1 && depth == 0), "{name}: {summary:?}\n{yaml}");
            }
        });
    }
}
