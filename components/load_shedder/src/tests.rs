//! Behaviour through the factory, on injected pressure readings and an injected clock:
//! nothing here needs real memory pressure or sleeps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_api::batch::build::{
    LogRecordBuilder, LogsBuilder, MetricBuilder, MetricsBuilder, NumberPoint, SpanBuilder,
    TracesBuilder,
};
use weir_api::batch::view::{SeverityNumber, StatusCode};
use weir_api::telemetry::names::{
    ITEMS_DROPPED, LOAD_SHEDDER_CLASSES_SHED, LOAD_SHEDDER_PRESSURE_PERCENT, LOAD_SHEDDER_SHEDDING,
    LOAD_SHEDDER_SHED_ITEMS, SHADOW_WOULD_DROP,
};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ComponentId, PipelineId, ProcessorBuildContext, Signal, Value};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

/// Readings the test sets; the shedder reads them through a closure.
#[derive(Clone, Default)]
struct Dial(Arc<Mutex<(Readings, u64)>>);

impl Dial {
    fn queue(&self, percent: f64) {
        self.0.lock().unwrap().0.queue_fill_percent = percent;
    }
    fn memory(&self, percent: Option<f64>) {
        self.0.lock().unwrap().0.memory_percent = percent;
    }
    fn latency(&self, latency: Duration) {
        self.0.lock().unwrap().0.export_latency = latency;
    }
    fn reads(&self) -> u64 {
        self.0.lock().unwrap().1
    }
    fn source(&self) -> Box<dyn PressureSource> {
        let dial = self.0.clone();
        Box::new(move || {
            let mut guard = dial.lock().unwrap();
            guard.1 += 1;
            guard.0.clone()
        })
    }
}

struct Harness {
    shedder: LoadShedder,
    telemetry: Telemetry,
    dial: Dial,
    t0: Instant,
    /// Milliseconds since t0; each `run` moves it past the check interval.
    ms: u64,
    signal: Signal,
}

impl Harness {
    fn new(config: &str, signal: Signal) -> Self {
        Self::try_new(config, signal).unwrap()
    }

    fn try_new(config: &str, signal: Signal) -> Result<Self, weir_api::BuildError> {
        let telemetry = Telemetry::new();
        let ctx = ProcessorBuildContext {
            id: ComponentId::new("load_shedder", None),
            pipeline: PipelineId::new(signal, None),
            signal,
            telemetry: telemetry.clone(),
        };
        let dial = Dial::default();
        let shedder = LoadShedderFactory.build_with_source(&ctx, &yaml(config), dial.source())?;
        Ok(Self {
            shedder,
            telemetry,
            dial,
            t0: Instant::now(),
            ms: 0,
            signal,
        })
    }

    /// Processes a batch after the check interval (100 ms) has passed.
    fn run(&mut self, batch: Batch) -> Vec<Batch> {
        self.ms += 100;
        let mut out = Vec::new();
        let now = self.t0 + Duration::from_millis(self.ms);
        self.shedder.process_at(batch, &mut out, now);
        out
    }

    fn kept(&mut self, batch: Batch) -> usize {
        self.run(batch).iter().map(Batch::item_count).sum()
    }

    /// Reads the pressure now (as a batch would) and returns the level.
    fn level(&mut self) -> usize {
        self.run(Batch::empty(self.signal));
        self.shedder.level()
    }

    fn dropped(&self, class: &str) -> u64 {
        let reason = format!("shed_{class}");
        self.telemetry
            .counter_of(
                &ITEMS_DROPPED,
                &["load_shedder", self.signal.as_str(), &reason],
            )
            .get()
    }

    fn would_drop(&self, class: &str) -> u64 {
        let reason = format!("shed_{class}");
        self.telemetry
            .counter_of(
                &SHADOW_WOULD_DROP,
                &["load_shedder", self.signal.as_str(), &reason],
            )
            .get()
    }

    fn shed(&self, class: &str) -> u64 {
        self.telemetry
            .counter_of(
                &LOAD_SHEDDER_SHED_ITEMS,
                &["load_shedder", self.signal.as_str(), class],
            )
            .get()
    }
}

fn trace_id(n: u64) -> [u8; 16] {
    // splitmix64, so the low bits are spread like real random trace ids.
    let mut z = n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let mut id = [0; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[8..].copy_from_slice(&z.to_be_bytes());
    id
}

fn spans(items: &[(u64, bool)]) -> Batch {
    let mut builder = TracesBuilder::new();
    let mut resource = builder.resource([("service.name", "checkout")]);
    let mut scope = resource.scope("lib", "1.0");
    for &(n, error) in items {
        let mut span = SpanBuilder::new("op", trace_id(n), [1; 8]).times(1, 2);
        if error {
            span = span.status(StatusCode::Error, "boom");
        }
        scope.push(span);
    }
    builder.build()
}

fn logs(severities: &[SeverityNumber]) -> Batch {
    let mut builder = LogsBuilder::new();
    let mut resource = builder.resource([("service.name", "checkout")]);
    let mut scope = resource.scope("lib", "1.0");
    for &severity in severities {
        scope.push(LogRecordBuilder::new().severity(severity, "").body("x"));
    }
    builder.build()
}

fn severities(batch: &[Batch]) -> Vec<i32> {
    batch
        .iter()
        .flat_map(|b| {
            b.log_records()
                .map(|(_, _, r)| r.severity_number().0)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The same batch as received bytes.
fn wire(batch: &Batch) -> Batch {
    Batch::from_protobuf(batch.signal(), batch.encode_protobuf().into()).unwrap()
}

const DEBUG: SeverityNumber = SeverityNumber::DEBUG;
const INFO: SeverityNumber = SeverityNumber::INFO;
const WARN: SeverityNumber = SeverityNumber::WARN;
const ERROR: SeverityNumber = SeverityNumber::ERROR;

/// Three log classes: debug, then info, then warn. Errors are in no class.
const THREE_CLASSES: &str = "
pressure: {memory_percent: 0, queue_fill_percent: 70, hysteresis_percent: 10}
classes:
  - {name: debug, condition: 'severity_number < SEVERITY_NUMBER_INFO'}
  - {name: info, condition: 'severity_number < SEVERITY_NUMBER_WARN'}
  - {name: warn, condition: 'severity_number < SEVERITY_NUMBER_ERROR'}
";

#[test]
fn enters_at_the_threshold_and_leaves_below_it_minus_the_hysteresis() {
    let mut h = Harness::new(
        "pressure: {memory_percent: 80, queue_fill_percent: 80, hysteresis_percent: 10}",
        Signal::Logs,
    );
    let gauge = |h: &Harness, def| h.telemetry.gauge_of(def, &["load_shedder"]).get();
    h.dial.queue(79.9);
    assert_eq!(h.level(), 0);
    assert_eq!(gauge(&h, &LOAD_SHEDDER_SHEDDING), 0);
    h.dial.queue(80.0);
    assert_eq!(h.level(), 1, "enters when an input reaches its threshold");
    assert_eq!(gauge(&h, &LOAD_SHEDDER_SHEDDING), 1);
    assert_eq!(gauge(&h, &LOAD_SHEDDER_CLASSES_SHED), 1);
    let pressure = h
        .telemetry
        .gauge_of(
            &LOAD_SHEDDER_PRESSURE_PERCENT,
            &["load_shedder", "queue_fill"],
        )
        .get();
    assert_eq!(pressure, 80);
    for stays in [79.0, 75.0, 70.0] {
        h.dial.queue(stays);
        assert_eq!(h.level(), 1, "{stays}% is within the hysteresis");
    }
    h.dial.queue(69.9);
    assert_eq!(h.level(), 0, "leaves below threshold - hysteresis");
    assert_eq!(gauge(&h, &LOAD_SHEDDER_SHEDDING), 0);
    h.dial.queue(75.0);
    assert_eq!(h.level(), 0, "does not re-enter below the threshold");

    // Any input enters; all must fall to leave.
    h.dial.memory(Some(85.0));
    assert_eq!(h.level(), 1);
    h.dial.queue(79.0);
    h.dial.memory(Some(60.0));
    assert_eq!(h.level(), 1, "the queue still holds it");
    h.dial.queue(10.0);
    assert_eq!(h.level(), 0);
    // No memory limit: the input is absent, not zero pressure that could enter.
    h.dial.memory(None);
    assert_eq!(h.level(), 0);
}

#[test]
fn export_latency_is_an_input_when_configured() {
    let config = "pressure: {memory_percent: 0, queue_fill_percent: 0, export_latency: 2s, hysteresis_percent: 10}";
    let mut h = Harness::new(config, Signal::Logs);
    h.dial.latency(Duration::from_millis(1900));
    assert_eq!(h.level(), 0);
    h.dial.latency(Duration::from_millis(2000));
    assert_eq!(h.level(), 1);
    // 200% of the threshold is full scale: both default classes.
    h.dial.latency(Duration::from_secs(3));
    assert_eq!(h.level(), 2);
    h.dial.latency(Duration::from_millis(1850));
    assert_eq!(
        h.level(),
        1,
        "92.5% of the threshold is within the hysteresis"
    );
    h.dial.latency(Duration::from_millis(1790));
    assert_eq!(h.level(), 0);
}

#[test]
fn classes_escalate_in_order_as_pressure_grows() {
    // Threshold 70, 3 classes: class i starts at 70 + i * 10.
    let mut h = Harness::new(THREE_CLASSES, Signal::Logs);
    let all = [DEBUG, INFO, WARN, ERROR, DEBUG, INFO, WARN, ERROR];
    let expect = [
        (0.0, vec![5, 9, 13, 17, 5, 9, 13, 17]),
        (70.0, vec![9, 13, 17, 9, 13, 17]),
        (79.9, vec![9, 13, 17, 9, 13, 17]),
        (80.0, vec![13, 17, 13, 17]),
        (90.0, vec![17, 17]),
        (100.0, vec![17, 17]),
        // Falling: class 2 stays down to 90 - 10, class 1 down to 70, class 0 to 60.
        (80.5, vec![17, 17]),
        (79.9, vec![13, 17, 13, 17]),
        (69.9, vec![9, 13, 17, 9, 13, 17]),
        (59.9, vec![5, 9, 13, 17, 5, 9, 13, 17]),
    ];
    for (pressure, kept) in expect {
        h.dial.queue(pressure);
        let out = h.run(logs(&all));
        assert_eq!(severities(&out), kept, "at {pressure}%");
    }
    // Steps with each class shed: debug 8 (70 .. 69.9), info 5, warn 3; 2 logs each.
    assert_eq!(h.dropped("debug"), 2 * 8);
    assert_eq!(h.dropped("info"), 2 * 5);
    assert_eq!(h.dropped("warn"), 2 * 3);
    assert_eq!(h.shed("warn"), 2 * 3);
    assert_eq!(h.would_drop("warn"), 0);
}

#[test]
fn an_item_belongs_to_the_first_class_it_matches() {
    // `bulk` matches every log, but debug logs are in `debug` first: at level 1 only
    // debug logs go, whatever `bulk` matches.
    let config = "
pressure: {memory_percent: 0, queue_fill_percent: 80, hysteresis_percent: 10}
classes:
  - {name: debug, condition: 'severity_number < SEVERITY_NUMBER_INFO'}
  - {name: bulk, condition: 'true'}
";
    let mut h = Harness::new(config, Signal::Logs);
    h.dial.queue(85.0);
    assert_eq!(severities(&h.run(logs(&[DEBUG, INFO, ERROR]))), [9, 17]);
    h.dial.queue(95.0);
    assert!(h.run(logs(&[DEBUG, INFO, ERROR])).is_empty());
    assert_eq!((h.dropped("debug"), h.dropped("bulk")), (2, 2));
}

#[test]
fn a_floor_class_is_sampled_down_along_its_band_and_never_below_the_floor() {
    let config = "
pressure: {memory_percent: 0, queue_fill_percent: 80, hysteresis_percent: 10}
classes:
  - {name: chatty, condition: 'severity_number < SEVERITY_NUMBER_WARN', keep_floor_percent: 5}
";
    let mut h = Harness::new(config, Signal::Logs);
    let batch = || logs(&[INFO; 1000]);
    // One class over 80..100: keep 100% at 80, 52.5% at 90, 5% from 100.
    for (pressure, kept) in [(80.0, 1000), (90.0, 525), (100.0, 50), (100.0, 50)] {
        h.dial.queue(pressure);
        assert_eq!(h.kept(batch()), kept, "at {pressure}%");
    }
    // Memory past the soft limit is past full scale: still the floor, never below.
    let config = "
pressure: {memory_percent: 80, queue_fill_percent: 0, hysteresis_percent: 10}
classes:
  - {name: chatty, condition: 'severity_number < SEVERITY_NUMBER_WARN', keep_floor_percent: 5}
";
    let mut h = Harness::new(config, Signal::Logs);
    h.dial.memory(Some(140.0));
    let kept: usize = (0..10).map(|_| h.kept(batch())).sum();
    assert_eq!(kept, 500);
    assert_eq!(h.dropped("chatty"), 9500);
    assert_eq!(h.shedder.keep_of(0), Some(50_000));
}

#[test]
fn spans_are_sampled_by_trace_id_so_a_trace_is_kept_or_shed_whole() {
    let mut h = Harness::new("{}", Signal::Traces);
    h.dial.queue(100.0);
    // Default classes: ok_spans is class 1 of 2, at its floor (5%) from 100%.
    assert_eq!(h.level(), 2);
    let items: Vec<(u64, bool)> = (0..10_000).map(|n| (n, false)).collect();
    let first = h.run(spans(&items));
    let kept_ids = |out: &[Batch]| {
        out.iter()
            .flat_map(|b| {
                b.spans()
                    .map(|(_, _, s)| s.trace_id().to_vec())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let kept = kept_ids(&first);
    assert!(
        (400..=600).contains(&kept.len()),
        "about 5% of 10000: {}",
        kept.len()
    );
    // The same traces again (other spans of them): the same decisions.
    let again = kept_ids(&h.run(spans(&items)));
    assert_eq!(kept, again);
    assert_eq!(h.dropped("ok_spans"), 2 * (10_000 - kept.len() as u64));
}

#[test]
fn error_logs_and_error_spans_are_never_shed_by_the_defaults() {
    let mut traces = Harness::new("{}", Signal::Traces);
    let mut logs_h = Harness::new("{}", Signal::Logs);
    for h in [&mut traces, &mut logs_h] {
        h.dial.queue(100.0);
        h.dial.memory(Some(150.0));
    }
    let items: Vec<(u64, bool)> = (0..1000).map(|n| (n, n % 2 == 0)).collect();
    let out = traces.run(spans(&items));
    let errors = out
        .iter()
        .flat_map(|b| {
            b.spans()
                .map(|(_, _, s)| s.status_code())
                .collect::<Vec<_>>()
        })
        .filter(|c| *c == StatusCode::Error)
        .count();
    assert_eq!(errors, 500);
    let out = logs_h.run(logs(&[DEBUG, INFO, WARN, ERROR, SeverityNumber::FATAL]));
    assert_eq!(severities(&out), [13, 17, 21]);
    assert_eq!(logs_h.dropped("verbose_logs"), 2);
}

#[test]
fn summaries_are_never_shed() {
    let mut h = Harness::new(THREE_CLASSES, Signal::Logs);
    h.dial.queue(100.0);
    let mut builder = LogsBuilder::new();
    let mut resource = builder.resource([("service.name", "checkout")]);
    let mut scope = resource.scope("weir", "");
    scope.push(
        LogRecordBuilder::new()
            .severity(WARN, "")
            .attributes([("weir.summary", true)]),
    );
    scope.push(
        LogRecordBuilder::new()
            .severity(WARN, "")
            .attributes([("weir.summary", false)]),
    );
    scope.push(LogRecordBuilder::new().severity(DEBUG, ""));
    let batch = builder.build();
    assert_eq!(h.kept(wire(&batch)), 1);
    assert_eq!(h.kept(batch), 1);
    // A summary span, in a class of spans.
    let mut h = Harness::new("{}", Signal::Traces);
    h.dial.queue(100.0);
    let mut builder = TracesBuilder::new();
    let mut resource = builder.resource([("service.name", "checkout")]);
    let mut scope = resource.scope("weir", "");
    for n in 0..100 {
        scope.push(
            SpanBuilder::new("summary", trace_id(n), [1; 8]).attributes([("weir.summary", true)]),
        );
    }
    assert_eq!(h.kept(builder.build()), 100);
    assert_eq!(h.dropped("ok_spans"), 0);
}

/// A mixed workload at changing pressure.
fn workload(signal: Signal) -> Vec<(f64, Batch)> {
    let pressures = [50.0, 82.0, 88.0, 93.0, 97.0, 100.0, 85.0, 75.0, 65.0, 99.0];
    pressures
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let batch = match signal {
                Signal::Logs => {
                    let all: Vec<SeverityNumber> = (0..200)
                        .map(|n| [DEBUG, INFO, WARN, ERROR][(n * 7 + i) % 4])
                        .collect();
                    logs(&all)
                }
                _ => {
                    let items: Vec<(u64, bool)> = (0..300)
                        .map(|n| ((i * 1000 + n) as u64, n % 5 == 0))
                        .collect();
                    spans(&items)
                }
            };
            (p, batch)
        })
        .collect()
}

const FLOORS: &str = "
pressure: {memory_percent: 0, queue_fill_percent: 80, hysteresis_percent: 10}
classes:
  - {name: debug, condition: 'severity_number < SEVERITY_NUMBER_INFO', keep_floor_percent: 20}
  - {name: ok_spans, condition: 'status.code != STATUS_CODE_ERROR', keep_floor_percent: 5}
  - {name: chatty, condition: 'severity_number < SEVERITY_NUMBER_ERROR', keep_floor_percent: 1}
";

#[test]
fn shadow_mode_counts_exactly_what_enforcement_drops_and_drops_nothing() {
    for signal in [Signal::Logs, Signal::Traces] {
        let mut enforce = Harness::new(FLOORS, signal);
        let mut shadow = Harness::new(&format!("{FLOORS}shadow: true\n"), signal);
        let (mut sent, mut enforced_out, mut shadow_out) = (0, 0, 0);
        for (pressure, batch) in workload(signal) {
            sent += batch.item_count();
            enforce.dial.queue(pressure);
            shadow.dial.queue(pressure);
            enforced_out += enforce.kept(batch.clone());
            shadow_out += shadow.kept(batch);
        }
        assert_eq!(shadow_out, sent, "{signal:?}: shadow mode drops nothing");
        let mut total = 0;
        for class in ["debug", "ok_spans", "chatty"] {
            assert_eq!(
                shadow.would_drop(class),
                enforce.dropped(class),
                "{signal:?} {class}"
            );
            assert_eq!(shadow.dropped(class), 0);
            assert_eq!(enforce.would_drop(class), 0);
            assert_eq!(shadow.shed(class), enforce.shed(class));
            total += enforce.dropped(class);
        }
        assert!(total > 0, "{signal:?}: the workload sheds something");
        assert_eq!(
            enforced_out as u64 + total,
            sent as u64,
            "{signal:?}: in = out + dropped"
        );
    }
}

#[test]
fn wire_and_owned_batches_give_the_same_result() {
    for signal in [Signal::Logs, Signal::Traces] {
        let mut owned = Harness::new(FLOORS, signal);
        let mut received = Harness::new(FLOORS, signal);
        for (pressure, batch) in workload(signal) {
            owned.dial.queue(pressure);
            received.dial.queue(pressure);
            let a = owned.run(batch.clone());
            let b = received.run(wire(&batch));
            let encode = |out: &[Batch]| out.iter().map(Batch::encode_protobuf).collect::<Vec<_>>();
            assert_eq!(encode(&a), encode(&b), "{signal:?} at {pressure}%");
        }
        for class in ["debug", "ok_spans", "chatty"] {
            assert_eq!(owned.dropped(class), received.dropped(class));
        }
    }
}

#[test]
fn data_points_are_shed_by_datapoint_classes_only() {
    let config = "
pressure: {memory_percent: 0, queue_fill_percent: 80, hysteresis_percent: 10}
classes:
  - {name: verbose_logs, condition: 'severity_number < SEVERITY_NUMBER_WARN'}
  - {name: debug_points, condition: 'attributes[\"tier\"] == \"debug\"', context: datapoint}
";
    let metrics = || {
        let mut builder = MetricsBuilder::new();
        let mut resource = builder.resource([("service.name", "checkout")]);
        let mut scope = resource.scope("lib", "1.0");
        let mut metric = MetricBuilder::gauge("g");
        for n in 0..10 {
            let tier = if n % 2 == 0 { "debug" } else { "core" };
            metric.push_number(NumberPoint::int(n).attributes([("tier", tier)]));
        }
        scope.push(metric);
        builder.build()
    };
    let mut h = Harness::new(config, Signal::Metrics);
    h.dial.queue(85.0);
    assert_eq!(h.kept(metrics()), 10, "level 1: only the log class is shed");
    h.dial.queue(95.0);
    let out = h.run(metrics());
    assert_eq!(out.iter().map(Batch::item_count).sum::<usize>(), 5);
    assert_eq!(h.kept(wire(&metrics())), 5);
    assert_eq!(h.dropped("debug_points"), 10);
    // The `context: datapoint` class does not apply to logs.
    let mut h = Harness::new(config, Signal::Logs);
    h.dial.queue(95.0);
    let mut builder = LogsBuilder::new();
    let mut resource = builder.resource([("service.name", "checkout")]);
    let mut scope = resource.scope("lib", "1.0");
    scope.push(
        LogRecordBuilder::new()
            .severity(ERROR, "")
            .attributes([("tier", "debug")]),
    );
    assert_eq!(h.kept(builder.build()), 1);
}

#[test]
fn sampled_points_give_the_same_result_on_wire_and_owned_batches_and_in_shadow() {
    let config = "
pressure: {memory_percent: 0, queue_fill_percent: 80, hysteresis_percent: 10}
classes:
  - {name: points, condition: 'true', keep_floor_percent: 30}
";
    let metrics = || {
        let mut builder = MetricsBuilder::new();
        for service in ["a", "b", "c"] {
            let mut resource = builder.resource([("service.name", service)]);
            let mut scope = resource.scope("lib", "1.0");
            for name in ["x", "y"] {
                let mut metric = MetricBuilder::gauge(name);
                for n in 0..200 {
                    metric.push_number(NumberPoint::int(n).attributes([("n", n)]).time(n as u64));
                }
                scope.push(metric);
            }
        }
        builder.build()
    };
    let mut owned = Harness::new(config, Signal::Metrics);
    let mut received = Harness::new(config, Signal::Metrics);
    let mut shadow = Harness::new(&format!("{config}shadow: true\n"), Signal::Metrics);
    for h in [&mut owned, &mut received, &mut shadow] {
        h.dial.queue(100.0);
    }
    let a = owned.run(metrics());
    let b = received.run(wire(&metrics()));
    assert_eq!(shadow.kept(metrics()), 1200);
    let encode = |out: &[Batch]| out.iter().map(Batch::encode_protobuf).collect::<Vec<_>>();
    assert_eq!(encode(&a), encode(&b));
    let kept: usize = a.iter().map(Batch::item_count).sum();
    assert!((250..=470).contains(&kept), "about 30% of 1200: {kept}");
    assert_eq!(owned.dropped("points"), 1200 - kept as u64);
    assert_eq!(received.dropped("points"), 1200 - kept as u64);
    assert_eq!(shadow.would_drop("points"), 1200 - kept as u64);
}

#[test]
fn pressure_is_read_at_most_once_per_check_interval() {
    let mut h = Harness::new(THREE_CLASSES, Signal::Logs);
    let now = h.t0;
    let mut out = Vec::new();
    for ms in [0, 10, 50, 99] {
        h.shedder
            .process_at(logs(&[DEBUG]), &mut out, now + Duration::from_millis(ms));
    }
    assert_eq!(h.dial.reads(), 1);
    h.shedder
        .process_at(logs(&[DEBUG]), &mut out, now + Duration::from_millis(100));
    assert_eq!(h.dial.reads(), 2);
}

#[test]
fn while_shedding_a_deadline_reads_pressure_without_data() {
    let mut h = Harness::new(THREE_CLASSES, Signal::Logs);
    assert_eq!(weir_api::Processor::next_deadline(&h.shedder), None);
    h.dial.queue(95.0);
    assert_eq!(h.level(), 3);
    let deadline = weir_api::Processor::next_deadline(&h.shedder).unwrap();
    h.dial.queue(0.0);
    weir_api::Processor::on_deadline(&mut h.shedder, deadline, &mut Vec::new());
    assert_eq!(h.shedder.level(), 0);
    assert_eq!(weir_api::Processor::next_deadline(&h.shedder), None);
}

#[test]
fn memory_is_read_as_a_percentage_of_the_budget_soft_limit() {
    let telemetry = Telemetry::new();
    let source = TelemetrySource::new(&telemetry);
    assert_eq!(source.read().memory_percent, None, "no limit: absent");
    let budget = telemetry.memory_budget();
    budget.limit(1000, 1500, Duration::from_secs(1));
    let _charge = budget.charge(850).unwrap();
    assert_eq!(source.read().memory_percent, Some(85.0));
    let lane = telemetry.pressure().lane("otlp/backend traces");
    lane.set_fill(90, 100, 0, 1);
    let readings = source.read();
    assert_eq!(readings.queue_fill_percent, 90.0);
    assert_eq!(readings.queue_lane, "otlp/backend traces");
}

#[test]
fn defaults_are_the_documented_example() {
    let config: LoadShedderConfig = weir_api::config::parse_valid(&yaml("{}")).unwrap();
    let example: LoadShedderConfig = weir_api::config::parse_valid(&yaml(
        "
pressure: {memory_percent: 80, queue_fill_percent: 80, hysteresis_percent: 10}
classes:
  - {name: verbose_logs, condition: 'severity_number < SEVERITY_NUMBER_WARN'}
  - {name: ok_spans, condition: 'status.code != STATUS_CODE_ERROR', keep_floor_percent: 5}
shadow: false
",
    ))
    .unwrap();
    assert_eq!(config, example);
    assert_eq!(config.pressure.check_interval, Duration::from_millis(100));
    assert!(config.pressure.export_latency.is_zero());
}

fn problems(config: &str) -> Vec<(String, String)> {
    LoadShedderFactory
        .check(&yaml(config))
        .into_iter()
        .map(|p| (p.path.join("."), p.message))
        .collect()
}

#[test]
fn bad_config_is_reported_with_its_key() {
    let bad_condition = problems(
        "classes:
  - {name: a, condition: 'severity_number < SEVERITY_NUMBER_WARN'}
  - {name: b, condition: 'status.code !! 2'}",
    );
    assert_eq!(bad_condition.len(), 1, "{bad_condition:?}");
    assert_eq!(bad_condition[0].0, "classes.1.condition");
    assert!(bad_condition[0].1.contains("column"), "{bad_condition:?}");

    let wrong_context =
        problems("classes: [{name: a, condition: 'severity_number < 9', context: span}]");
    assert_eq!(
        wrong_context[0].0, "classes.0.condition",
        "{wrong_context:?}"
    );
    assert!(wrong_context[0].1.contains("column"), "{wrong_context:?}");

    let cases = [
        ("classes: []", "classes"),
        (
            "classes: [{name: a, condition: 'true'}, {name: a, condition: 'true'}]",
            "classes.1.name",
        ),
        (
            "classes: [{name: 'a b', condition: 'true'}]",
            "classes.0.name",
        ),
        ("classes: [{name: '', condition: 'true'}]", "classes.0.name"),
        ("classes: [{name: a, condition: ''}]", "classes.0.condition"),
        (
            "classes: [{name: a, condition: 'true', keep_floor_percent: 100}]",
            "classes.0.keep_floor_percent",
        ),
        (
            "classes: [{name: a, condition: 'true', keep_floor_percent: -1}]",
            "classes.0.keep_floor_percent",
        ),
        (
            "classes: [{name: a, condition: 'true', context: resource}]",
            "classes.0.context",
        ),
        ("pressure: {memory_percent: 120}", "pressure.memory_percent"),
        (
            "pressure: {queue_fill_percent: -5}",
            "pressure.queue_fill_percent",
        ),
        (
            "pressure: {hysteresis_percent: 80}",
            "pressure.hysteresis_percent",
        ),
        (
            "pressure: {hysteresis_percent: -1}",
            "pressure.hysteresis_percent",
        ),
        (
            "pressure: {memory_percent: 0, queue_fill_percent: 0}",
            "pressure",
        ),
        ("pressure: {check_interval: 0s}", "pressure.check_interval"),
        ("pressure: {queue_fill: 80}", "pressure.queue_fill"),
        ("shadow: maybe", "shadow"),
    ];
    for (config, path) in cases {
        let found = problems(config);
        assert!(
            found.iter().any(|(p, _)| p == path),
            "{config}: expected a problem at {path}, got {found:?}"
        );
    }
    // serde names the list item `[0]`.
    let unknown = problems("classes: [{name: a, condition: 'true', keep_floor: 5}]");
    assert!(
        unknown[0].0.starts_with("classes.") && unknown[0].0.ends_with(".keep_floor"),
        "{unknown:?}"
    );
    let suggestion = LoadShedderFactory.check(&yaml("pressure: {queue_fill: 80}"));
    assert_eq!(
        suggestion[0].suggestion.as_deref(),
        Some("queue_fill_percent")
    );
    // Build refuses what check refuses, naming the key.
    let error = Harness::try_new(
        "classes: [{name: b, condition: 'status.code !! 2'}]",
        Signal::Traces,
    )
    .err()
    .unwrap();
    assert!(error.0.contains("classes.0.condition"), "{error:?}");
    assert!(problems("{}").is_empty());
    assert!(problems(FLOORS).is_empty());
}

#[test]
fn a_class_applies_to_the_signals_its_condition_compiles_for() {
    let config = LoadShedderConfig::default();
    let applies = |class: &ClassConfig| {
        [Signal::Traces, Signal::Logs, Signal::Metrics]
            .into_iter()
            .filter(|&s| class.compile_for(s).unwrap().is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(applies(&config.classes[0]), [Signal::Logs]);
    assert_eq!(applies(&config.classes[1]), [Signal::Traces]);
    let any = ClassConfig {
        name: "tier".into(),
        condition: "attributes[\"tier\"] == \"bulk\"".into(),
        keep_floor_percent: None,
        context: None,
    };
    assert_eq!(
        applies(&any),
        [Signal::Traces, Signal::Logs, Signal::Metrics]
    );
    let only_logs = ClassConfig {
        context: Some("log".into()),
        ..any
    };
    assert_eq!(applies(&only_logs), [Signal::Logs]);
}
