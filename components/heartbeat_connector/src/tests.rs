use std::time::{Duration, Instant};

use weir_api::batch::build::{
    LogRecordBuilder, LogsBuilder, MetricBuilder, MetricsBuilder, NumberPoint,
};
use weir_api::batch::OwnedValue;
use weir_api::telemetry::Telemetry;
use weir_api::{ComponentId, PipelineId};

use super::*;

const T0_NANOS: u64 = 1_767_225_600_000_000_000;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn config(text: &str) -> HeartbeatConfig {
    weir_api::config::parse_valid(&yaml(text)).unwrap()
}

/// A test config: silent after 3s, checked every 500ms.
fn short() -> HeartbeatConfig {
    config("expected_interval: 3s\ncheck_interval: 500ms\nforget_after: 60s\nmax_sources: 3")
}

/// A logs batch with one record per resource, each resource's attributes given.
fn logs(resources: &[&[(&str, OwnedValue)]]) -> Batch {
    let mut builder = LogsBuilder::new();
    for attrs in resources {
        builder
            .resource(attrs.iter().cloned())
            .scope("test", "1")
            .push(LogRecordBuilder::new().body("hello"));
    }
    builder.build()
}

fn service(name: &str) -> Batch {
    logs(&[&[("service.name", name.into())]])
}

fn metric_value(t: &Telemetry, series: &str) -> Option<String> {
    t.encode()
        .lines()
        .find(|l| l.starts_with(series))
        .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
}

struct Record {
    resource: Vec<(String, String)>,
    state: String,
    silent_for: f64,
    severity: i32,
}

fn records(batch: &Batch) -> Vec<Record> {
    batch
        .log_records()
        .map(|(resource, scope, record)| {
            assert_eq!(scope.name(), SCOPE_NAME);
            let attrs = record.attributes();
            Record {
                resource: resource
                    .attributes()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
                state: attrs.get_str(STATE_ATTRIBUTE).unwrap().to_string(),
                silent_for: attrs
                    .get(SILENT_FOR_ATTRIBUTE)
                    .unwrap()
                    .as_double()
                    .unwrap(),
                severity: record.severity_number().0,
            }
        })
        .collect()
}

#[test]
fn defaults_are_the_issue_shape() {
    let c = config("{}");
    assert_eq!(c.source_attributes, ["service.name", "service.instance.id"]);
    assert_eq!(c.expected_interval, Duration::from_secs(30));
    assert_eq!(c.check_interval, Duration::from_secs(1));
    assert_eq!(c.max_sources, 10_000);
    assert_eq!(c.forget_after, Duration::from_secs(86_400));
    let full = config(
        "source_attributes: [service.name, service.instance.id]\nexpected_interval: 30s\ncheck_interval: 1s\nmax_sources: 10000\nforget_after: 24h",
    );
    assert_eq!(full, c);
}

#[test]
fn bad_configs_name_the_key() {
    let paths = |text: &str| -> Vec<Vec<String>> {
        HeartbeatFactory::default()
            .check(&yaml(text))
            .into_iter()
            .map(|p| p.path)
            .collect()
    };
    assert_eq!(
        paths("expected_interval: 0s"),
        [vec!["expected_interval".to_string()]]
    );
    assert_eq!(
        paths("check_interval: 0s"),
        [vec!["check_interval".to_string()]]
    );
    assert_eq!(paths("max_sources: 0"), [vec!["max_sources".to_string()]]);
    assert_eq!(
        paths("source_attributes: []"),
        [vec!["source_attributes".to_string()]]
    );
    assert_eq!(
        paths("source_attributes: [a, a]"),
        [vec!["source_attributes".to_string(), "1".to_string()]]
    );
    assert_eq!(
        paths("expected_interval: 1h\nforget_after: 30m"),
        [vec!["forget_after".to_string()]]
    );
    assert_eq!(paths("expected_intervall: 1s")[0], ["expected_intervall"]);
    assert!(paths("{}").is_empty());
}

#[test]
fn a_quiet_source_goes_silent_once_and_returns_once() {
    let t = Telemetry::new();
    let t0 = Instant::now();
    let mut tracker = Tracker::new(short(), "heartbeat", &t, t0);
    for name in ["a", "b", "c"] {
        let (consumed, returned) = tracker.consume(&service(name), t0, T0_NANOS);
        assert_eq!(consumed.tracked, 1);
        assert!(returned.is_none());
    }
    // b and c keep sending; a stops.
    for tick in 1..=6u64 {
        let now = t0 + Duration::from_millis(500 * tick);
        tracker.consume(&service("b"), now, T0_NANOS);
        tracker.consume(&service("c"), now, T0_NANOS);
        let silent = tracker.on_deadline(now, T0_NANOS);
        if tick < 6 {
            assert!(silent.is_none(), "tick {tick}");
        } else {
            let silent = silent.expect("a is silent after 3s");
            let records = records(&silent);
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].state, SILENT);
            assert_eq!(
                records[0].resource,
                [("service.name".to_string(), "a".to_string())]
            );
            assert_eq!(records[0].silent_for, 3.0);
            assert_eq!(records[0].severity, 13);
        }
    }
    assert_eq!(tracker.is_silent("service.name=a"), Some(true));
    assert_eq!(tracker.is_silent("service.name=b"), Some(false));
    assert_eq!(
        metric_value(
            &t,
            "weir_source_silent{connector=\"heartbeat\",source=\"service.name=a\"}"
        ),
        Some("1".into())
    );
    assert_eq!(
        metric_value(
            &t,
            "weir_source_silent{connector=\"heartbeat\",source=\"service.name=b\"}"
        ),
        Some("0".into())
    );
    assert_eq!(
        metric_value(
            &t,
            "weir_source_last_seen_seconds{connector=\"heartbeat\",source=\"service.name=a\"}"
        ),
        Some("1767225600".into())
    );
    // Still silent at the next checks: no second record.
    for tick in 7..=10u64 {
        assert!(tracker
            .on_deadline(t0 + Duration::from_millis(500 * tick), T0_NANOS)
            .is_none());
    }
    // a returns: one "returned" record, with how long it was away.
    let back = t0 + Duration::from_secs(5);
    let (_, returned) = tracker.consume(&service("a"), back, T0_NANOS + 5_000_000_000);
    let records = records(&returned.expect("a returned"));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, RETURNED);
    assert_eq!(records[0].silent_for, 5.0);
    assert_eq!(records[0].severity, 9);
    let (_, again) = tracker.consume(&service("a"), back, T0_NANOS);
    assert!(again.is_none());
    assert_eq!(
        metric_value(
            &t,
            "weir_source_silent{connector=\"heartbeat\",source=\"service.name=a\"}"
        ),
        Some("0".into())
    );
}

#[test]
fn a_source_is_every_configured_attribute_it_carries() {
    let t = Telemetry::new();
    let t0 = Instant::now();
    let mut tracker = Tracker::new(short(), "hb", &t, t0);
    let batch = logs(&[
        &[
            ("service.name", "api".into()),
            ("service.instance.id", "1".into()),
            ("host.name", "h".into()),
        ],
        &[
            ("service.name", "api".into()),
            ("service.instance.id", "2".into()),
        ],
        &[("service.instance.id", "3".into())],
        &[("host.name", "only-host".into())],
    ]);
    let (consumed, _) = tracker.consume(&batch, t0, T0_NANOS);
    assert_eq!(
        consumed,
        Consumed {
            tracked: 3,
            over_limit: 0,
            unidentified: 1
        }
    );
    assert_eq!(tracker.len(), 3);
    assert_eq!(
        tracker.is_silent("service.name=api,service.instance.id=1"),
        Some(false)
    );
    assert_eq!(tracker.is_silent("service.instance.id=3"), Some(false));
    assert!(t.encode().contains(
        "weir_heartbeat_untracked_resources_total{connector=\"hb\",reason=\"no_source_attributes\"} 1"
    ));
    // The silent records carry the source attributes only.
    let silent = tracker
        .check(t0 + Duration::from_secs(3), T0_NANOS)
        .unwrap();
    let mut resources: Vec<_> = records(&silent).into_iter().map(|r| r.resource).collect();
    resources.sort();
    assert_eq!(
        resources[0],
        [("service.instance.id".to_string(), "3".to_string())]
    );
    assert_eq!(
        resources[1],
        [
            ("service.name".to_string(), "api".to_string()),
            ("service.instance.id".to_string(), "1".to_string())
        ]
    );
}

#[test]
fn any_signal_counts_as_sending() {
    let t = Telemetry::new();
    let t0 = Instant::now();
    let mut tracker = Tracker::new(short(), "hb", &t, t0);
    let mut metrics = MetricsBuilder::new();
    let mut metric = MetricBuilder::gauge("up");
    metric.push_number(NumberPoint::int(1));
    metrics
        .resource([("service.name", "m")])
        .scope("s", "1")
        .push(metric);
    let mut traces = weir_api::batch::build::TracesBuilder::new();
    traces.resource([("service.name", "t")]);
    tracker.consume(&metrics.build(), t0, T0_NANOS);
    tracker.consume(&traces.build(), t0, T0_NANOS);
    assert_eq!(tracker.is_silent("service.name=m"), Some(false));
    assert_eq!(tracker.is_silent("service.name=t"), Some(false));
}

#[test]
fn a_deliberate_end_is_not_silence() {
    let t = Telemetry::new();
    let t0 = Instant::now();
    let mut tracker = Tracker::new(short(), "hb", &t, t0);
    tracker.consume(&service("a"), t0, T0_NANOS);
    // The flag counts only on the last data: a later batch without it clears it.
    let bye = logs(&[&[
        ("service.name", "a".into()),
        (SHUTDOWN_ATTRIBUTE, true.into()),
    ]]);
    tracker.consume(&bye, t0, T0_NANOS);
    tracker.consume(&service("b"), t0, T0_NANOS);
    tracker.consume(&bye_str("b"), t0 + Duration::from_secs(1), T0_NANOS);
    tracker.consume(&service("b"), t0 + Duration::from_secs(1), T0_NANOS);
    let silent = tracker.check(t0 + Duration::from_secs(4), T0_NANOS);
    let records = records(&silent.unwrap());
    assert_eq!(records.len(), 1, "only b, whose last data had no flag");
    assert_eq!(records[0].resource[0].1, "b");
    assert_eq!(tracker.is_silent("service.name=a"), None);
    assert!(!t.encode().contains("source=\"service.name=a\""));
    assert!(t.encode().contains(
        "weir_heartbeat_forgotten_sources_total{connector=\"hb\",reason=\"shutdown\"} 1"
    ));
}

fn bye_str(name: &str) -> Batch {
    logs(&[&[
        ("service.name", name.into()),
        (SHUTDOWN_ATTRIBUTE, "true".into()),
    ]])
}

#[test]
fn max_sources_bounds_the_table_and_the_series() {
    let t = Telemetry::new();
    let t0 = Instant::now();
    let mut tracker = Tracker::new(short(), "hb", &t, t0);
    for name in ["a", "b", "c", "d", "e"] {
        tracker.consume(&service(name), t0, T0_NANOS);
    }
    assert_eq!(tracker.len(), 3);
    assert_eq!(tracker.is_silent("service.name=d"), None);
    let text = t.encode();
    assert_eq!(text.matches("weir_source_silent{").count(), 3, "{text}");
    assert!(text.contains(
        "weir_heartbeat_untracked_resources_total{connector=\"hb\",reason=\"max_sources\"} 2"
    ));
    assert!(text.contains("weir_heartbeat_sources{connector=\"hb\"} 3"));
    // Known sources still update when the table is full.
    let (consumed, _) = tracker.consume(&service("a"), t0, T0_NANOS);
    assert_eq!(consumed.tracked, 1);
}

#[test]
fn forget_after_removes_the_source_and_its_series() {
    let t = Telemetry::new();
    let t0 = Instant::now();
    let mut tracker = Tracker::new(short(), "hb", &t, t0);
    tracker.consume(&service("a"), t0, T0_NANOS);
    assert!(tracker
        .check(t0 + Duration::from_secs(3), T0_NANOS)
        .is_some());
    assert!(tracker
        .check(t0 + Duration::from_secs(60), T0_NANOS)
        .is_none());
    assert!(tracker.is_empty());
    let text = t.encode();
    assert!(!text.contains("source=\"service.name=a\""), "{text}");
    assert!(text.contains(
        "weir_heartbeat_forgotten_sources_total{connector=\"hb\",reason=\"forget_after\"} 1"
    ));
    assert!(text.contains("weir_heartbeat_sources{connector=\"hb\"} 0"));
    // Sending again makes it a new source, with no "returned" record.
    let (_, returned) = tracker.consume(&service("a"), t0 + Duration::from_secs(61), T0_NANOS);
    assert!(returned.is_none());
    assert!(t
        .encode()
        .contains("weir_source_silent{connector=\"hb\",source=\"service.name=a\"} 0"));
}

#[test]
fn checks_follow_the_check_interval_grid() {
    let t0 = Instant::now();
    let mut tracker = Tracker::new(short(), "hb", &Telemetry::new(), t0);
    assert_eq!(tracker.next_check(), t0 + Duration::from_millis(500));
    assert!(tracker
        .on_deadline(t0 + Duration::from_millis(100), T0_NANOS)
        .is_none());
    assert_eq!(tracker.next_check(), t0 + Duration::from_millis(500));
    tracker.on_deadline(t0 + Duration::from_millis(1700), T0_NANOS);
    assert_eq!(tracker.next_check(), t0 + Duration::from_millis(2000));
}

#[test]
fn labels_render_every_value_kind() {
    use weir_api::batch::view::ValueRef;
    let attrs = [
        ("s".to_string(), ValueRef::Str("x")),
        ("i".to_string(), ValueRef::Int(7)),
        ("b".to_string(), ValueRef::Bool(true)),
        ("d".to_string(), ValueRef::Double(1.5)),
        ("y".to_string(), ValueRef::Bytes(&[0xab, 0x01])),
    ];
    assert_eq!(label(&attrs), "s=x,i=7,b=true,d=1.5,y=ab01");
}

fn ctx(from: Signal, telemetry: &Telemetry) -> ConnectorBuildContext {
    ConnectorBuildContext {
        id: ComponentId::new(TYPE_NAME, None),
        from,
        to: Signal::Logs,
        downstream: vec![PipelineId::new(Signal::Logs, None)],
        telemetry: telemetry.clone(),
    }
}

#[test]
fn the_instances_of_one_id_share_one_table() {
    let factory = HeartbeatFactory::default();
    let t = Telemetry::new();
    let section = yaml("expected_interval: 50ms\ncheck_interval: 10ms\nforget_after: 1h");
    let mut traces = factory.build(ctx(Signal::Traces, &t), &section).unwrap();
    let mut metrics = factory.build(ctx(Signal::Metrics, &t), &section).unwrap();
    let mut out = ConnectorOutput::new();
    let mut spans = weir_api::batch::build::TracesBuilder::new();
    spans.resource([("service.name", "svc")]);
    traces.consume(spans.build(), &mut out);
    assert!(out.is_empty());
    std::thread::sleep(Duration::from_millis(80));
    let now = Instant::now();
    assert!(metrics.next_deadline().unwrap() <= now);
    metrics.on_deadline(now, &mut out);
    let emitted = out.take();
    assert_eq!(emitted.len(), 1);
    assert_eq!(records(&emitted[0].1)[0].state, SILENT);
    // The other instance finds the check done: nothing twice.
    traces.on_deadline(now, &mut out);
    assert!(out.is_empty());
    assert!(t.encode().contains(
        "weir_items_created_total{component=\"heartbeat\",otel_signal=\"logs\",reason=\"heartbeat\"} 1"
    ));
}

#[test]
fn only_logs_downstream() {
    let factory = HeartbeatFactory::default();
    let t = Telemetry::new();
    let mut c = ctx(Signal::Traces, &t);
    c.to = Signal::Metrics;
    assert!(factory.build(c, &Value::Null).is_err());
    assert_eq!(factory.pairs().len(), 3);
    assert!(factory.pairs().iter().all(|(_, to)| *to == Signal::Logs));
}
