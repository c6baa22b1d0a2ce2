//! The routing connector through its factory, as the engine drives it.

use prost::Message;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ClientMetadata, ComponentId, PipelineId, Route};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn pipeline(name: &str) -> PipelineId {
    name.parse().unwrap()
}

fn ctx(signal: Signal, downstream: &[&str]) -> ConnectorBuildContext {
    ConnectorBuildContext {
        id: ComponentId::new(TYPE_NAME, None),
        from: signal,
        to: signal,
        downstream: downstream.iter().map(|p| pipeline(p)).collect(),
        telemetry: Telemetry::new(),
    }
}

fn build(config: &str, signal: Signal, downstream: &[&str]) -> (Box<dyn Connector>, Telemetry) {
    let ctx = ctx(signal, downstream);
    let telemetry = ctx.telemetry.clone();
    (factory().build(ctx, &yaml(config)).unwrap(), telemetry)
}

fn build_error(config: &str, signal: Signal, downstream: &[&str]) -> String {
    match factory().build(ctx(signal, downstream), &yaml(config)) {
        Ok(_) => panic!("built: {config}"),
        Err(error) => error.0,
    }
}

fn problems(config: &str) -> Vec<(String, String)> {
    factory()
        .check(&yaml(config))
        .into_iter()
        .map(|p| (p.path.join("."), p.message))
        .collect()
}

/// What was emitted, by pipeline name.
fn route(connector: &mut Box<dyn Connector>, batch: Batch) -> Vec<(String, Batch)> {
    let mut out = ConnectorOutput::new();
    connector.consume(batch, &mut out);
    out.take()
        .into_iter()
        .map(|(route, batch)| match route {
            Route::Pipeline(p) => (p.to_string(), batch),
            Route::All => panic!("the routing connector names its pipelines"),
        })
        .collect()
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn span(name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        attributes,
        ..Default::default()
    }
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn span_names(batch: &Batch) -> Vec<String> {
    batch
        .spans()
        .map(|(_, _, s)| s.name().to_string())
        .collect()
}

fn counter(telemetry: &Telemetry, reason: &str) -> u64 {
    telemetry
        .encode()
        .lines()
        .find(|l| l.starts_with("weir_items_dropped_total{") && l.contains(reason))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

const SPAN_TABLE: &str = r#"
default_pipelines: [traces/default]
table:
  - context: span
    condition: attributes["tier"] == "gold"
    pipelines: [traces/gold]
  - context: span
    statement: route() where name == "slow" or attributes["tier"] == "gold"
    pipelines: [traces/slow, traces/audit]
"#;

const TRACES: [&str; 4] = [
    "traces/gold",
    "traces/slow",
    "traces/audit",
    "traces/default",
];

// ---------------------------------------------------------------- factory and config

#[test]
fn factory_routes_each_signal_to_itself() {
    let factory = factory();
    assert_eq!(factory.info().type_name, "routing");
    assert_eq!(
        factory.pairs(),
        [
            (Signal::Traces, Signal::Traces),
            (Signal::Metrics, Signal::Metrics),
            (Signal::Logs, Signal::Logs),
        ]
    );
}

#[test]
fn valid_tables_have_no_problems() {
    assert!(
        problems(SPAN_TABLE).is_empty(),
        "{:?}",
        problems(SPAN_TABLE)
    );
    let config = r#"
error_mode: ignore
table:
  - condition: attributes["env"] == "prod"
    pipelines: [logs/prod]
  - context: resource
    statement: route() where attributes["env"] == "dev"
    pipelines: [logs/dev]
    action: move
  - context: request
    condition: request["X-Tenant"] == "acme"
    pipelines: [logs/acme]
  - context: log
    condition: severity_number < SEVERITY_NUMBER_ERROR
    pipelines: [logs/cheap]
"#;
    assert!(problems(config).is_empty(), "{:?}", problems(config));
}

#[test]
fn the_collectors_checks_name_their_key() {
    let cases = [
        ("table: []", "table", "the routing table is empty"),
        ("{}", "table", "the routing table is empty"),
        (
            "table:\n  - pipelines: [logs/a]\n",
            "table.0",
            "no condition or statement provided",
        ),
        (
            "table:\n  - condition: x == 1\n    statement: route() where x == 1\n    pipelines: [logs/a]\n",
            "table.0",
            "both condition and statement provided",
        ),
        (
            "table:\n  - condition: attributes[\"a\"] == \"b\"\n",
            "table.0.pipelines",
            "no pipelines defined",
        ),
        (
            "table:\n  - context: scope\n    condition: name == \"b\"\n    pipelines: [logs/a]\n",
            "table.0.context",
            "invalid context: scope",
        ),
        (
            "table:\n  - context: request\n    statement: route() where request[\"a\"] == \"b\"\n    pipelines: [logs/a]\n",
            "table.0.statement",
            "requires a `condition`",
        ),
        (
            "table:\n  - statement: set(attributes[\"a\"], \"b\")\n    pipelines: [logs/a]\n",
            "table.0.statement",
            "only `route() where <condition>` statements route",
        ),
        (
            "table:\n  - condition: attributes[\"a\"] == \"b\"\n    pipelines: [spans/a]\n",
            "table.0.pipelines.0",
            "must start with traces, metrics or logs",
        ),
        (
            "table:\n  - context: span\n    condition: name == \"b\"\n    pipelines: [logs/a]\n",
            "table.0.pipelines.0",
            "not a traces pipeline",
        ),
        (
            "default_pipelines: [nope]\ntable:\n  - condition: attributes[\"a\"] == \"b\"\n    pipelines: [logs/a]\n",
            "default_pipelines.0",
            "must start with traces, metrics or logs",
        ),
        (
            "error_mode: loud\ntable: []\n",
            "error_mode",
            "unknown variant",
        ),
    ];
    for (config, path, message) in cases {
        let found = problems(config);
        assert!(
            found.iter().any(|(p, m)| p == path && m.contains(message)),
            "{config}: {found:?}"
        );
    }
}

#[test]
fn match_once_is_refused_with_the_reason() {
    let found =
        problems("match_once: true\ntable:\n  - condition: attributes[\"a\"] == \"b\"\n    pipelines: [logs/a]\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "match_once");
    assert!(found[0].1.contains("removed"), "{found:?}");
}

#[test]
fn copy_action_is_refused() {
    let found = problems(
        "table:\n  - condition: attributes[\"a\"] == \"b\"\n    pipelines: [logs/a]\n    action: copy\n",
    );
    assert_eq!(found[0].0, "table.0.action");
}

#[test]
fn conditions_compile_at_check_with_their_key_path() {
    let found = problems("table:\n  - condition: attributes[\"a\"] ==\n    pipelines: [logs/a]\n");
    assert_eq!(found[0].0, "table.0.condition");
    assert!(found[0].1.starts_with("column "), "{found:?}");
    let found = problems(
        "table:\n  - statement: route() where attributes[\"a\"] === 1\n    pipelines: [logs/a]\n",
    );
    assert_eq!(found[0].0, "table.0.statement");
}

#[test]
fn build_checks_the_pipelines_against_the_ones_it_feeds() {
    let error = build_error(
        SPAN_TABLE,
        Signal::Traces,
        &["traces/gold", "traces/default"],
    );
    assert!(
        error.starts_with("table.1.pipelines: pipeline `traces/slow`"),
        "{error}"
    );
    let error = build_error(
        SPAN_TABLE,
        Signal::Traces,
        &["traces/gold", "traces/slow", "traces/audit"],
    );
    assert!(error.starts_with("default_pipelines: "), "{error}");
    let logs_route =
        "table:\n  - context: log\n    condition: body == \"x\"\n    pipelines: [logs/a]\n";
    let error = build_error(logs_route, Signal::Traces, &["logs/a"]);
    assert!(error.contains("cannot route traces"), "{error}");
}

// ---------------------------------------------------------------- routing

#[test]
fn spans_of_one_resource_go_to_different_pipelines() {
    let (mut connector, telemetry) = build(SPAN_TABLE, Signal::Traces, &TRACES);
    let batch = Batch::from_traces(vec![resource_spans(
        "svc",
        vec![
            span("a", vec![kv("tier", "gold")]),
            span("slow", vec![]),
            span("b", vec![]),
        ],
    )]);
    let out = route(&mut connector, batch);
    let got: Vec<(String, Vec<String>)> = out
        .iter()
        .map(|(p, b)| (p.clone(), span_names(b)))
        .collect();
    // First match only: the gold span matches both routes and goes to the first.
    assert_eq!(
        got,
        [
            ("traces/gold".to_string(), vec!["a".to_string()]),
            ("traces/slow".to_string(), vec!["slow".to_string()]),
            ("traces/audit".to_string(), vec!["slow".to_string()]),
            ("traces/default".to_string(), vec!["b".to_string()]),
        ]
    );
    for (_, batch) in &out {
        assert_eq!(batch.resource_count(), 1);
        let attrs = batch.traces().next().unwrap().resource().attributes();
        assert_eq!(attrs.get_str("service.name"), Some("svc"));
    }
    assert_eq!(counter(&telemetry, NO_ROUTE), 0);
}

#[test]
fn items_no_route_takes_are_dropped_and_counted_without_defaults() {
    let config =
        "table:\n  - context: span\n    condition: name == \"a\"\n    pipelines: [traces/a]\n";
    let (mut connector, telemetry) = build(config, Signal::Traces, &["traces/a"]);
    let batch = Batch::from_traces(vec![resource_spans(
        "svc",
        vec![span("a", vec![]), span("b", vec![]), span("c", vec![])],
    )]);
    let out = route(&mut connector, batch);
    assert_eq!(out.len(), 1);
    assert_eq!(span_names(&out[0].1), ["a"]);
    assert_eq!(counter(&telemetry, NO_ROUTE), 2);
    // A batch nothing matches is dropped whole.
    let batch = Batch::from_traces(vec![resource_spans("svc", vec![span("z", vec![])])]);
    assert!(route(&mut connector, batch).is_empty());
    assert_eq!(counter(&telemetry, NO_ROUTE), 3);
}

/// A request whose resources carry an unknown field: decoding would lose it, so finding
/// it in the output proves a resource stayed as received bytes.
fn wire_request(resources: &[(&str, &[&str])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (service, names) in resources {
        let spans = names.iter().map(|n| span(n, vec![])).collect();
        let mut resource = resource_spans(service, spans).encode_to_vec();
        resource.extend_from_slice(&[0x98, 0x06, 0x01]); // field 99, varint 1
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut body);
        prost::encoding::encode_varint(resource.len() as u64, &mut body);
        body.extend_from_slice(&resource);
    }
    body
}

#[test]
fn resource_routing_keeps_wire_bytes_and_shares_whole_batches() {
    let config = r#"
default_pipelines: [traces/other]
table:
  - condition: attributes["service.name"] == "a"
    pipelines: [traces/a]
"#;
    let (mut connector, _) = build(config, Signal::Traces, &["traces/a", "traces/other"]);
    // Everything to one pipeline: the very same data, passed on.
    let input = wire_request(&[("a", &["1", "2"]), ("a", &["3"])]);
    let batch = Batch::decode_protobuf(Signal::Traces, &input).unwrap();
    let out = route(&mut connector, batch.clone());
    assert_eq!(out.len(), 1);
    assert!(out[0].1.shares_data_with(&batch));
    // Split by resource: each copy keeps its resources' bytes as received.
    let input_a = wire_request(&[("a", &["1", "2"])]);
    let input_b = wire_request(&[("b", &["3"])]);
    let input = [input_a.clone(), input_b.clone()].concat();
    let out = route(
        &mut connector,
        Batch::decode_protobuf(Signal::Traces, &input).unwrap(),
    );
    assert_eq!(out[0].0, "traces/a");
    assert_eq!(out[0].1.encode_protobuf(), input_a);
    assert_eq!(out[1].0, "traces/other");
    assert_eq!(out[1].1.encode_protobuf(), input_b);
}

#[test]
fn span_routing_copies_kept_spans_without_decoding() {
    let config =
        "table:\n  - context: span\n    condition: name != \"x\"\n    pipelines: [traces/a]\n";
    let (mut connector, _) = build(config, Signal::Traces, &["traces/a"]);
    let input = wire_request(&[("a", &["1", "x", "2"])]);
    let out = route(
        &mut connector,
        Batch::decode_protobuf(Signal::Traces, &input).unwrap(),
    );
    assert_eq!(span_names(&out[0].1), ["1", "2"]);
    // The unknown field of the resource survived: it was not decoded.
    let encoded = out[0].1.encode_protobuf();
    assert!(encoded.windows(3).any(|w| w == [0x98, 0x06, 0x01]));
}

#[test]
fn request_context_routes_by_client_metadata() {
    let config = r#"
default_pipelines: [logs/other]
table:
  - context: request
    condition: request["X-Tenant"] == "acme"
    pipelines: [logs/acme]
  - context: request
    condition: request["X-Tenant"] == "ecorp"
    pipelines: [logs/ecorp]
"#;
    let downstream = ["logs/acme", "logs/ecorp", "logs/other"];
    let (mut connector, _) = build(config, Signal::Logs, &downstream);
    let logs = |tenant: Option<&str>| {
        let mut batch = Batch::from_logs(vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 2],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        if let Some(tenant) = tenant {
            batch.set_metadata(ClientMetadata::from_pairs([("x-tenant", tenant)]));
        }
        batch
    };
    for (tenant, expected) in [
        (Some("acme"), "logs/acme"),
        (Some("ecorp"), "logs/ecorp"),
        (Some("other"), "logs/other"),
        (None, "logs/other"),
    ] {
        let batch = logs(tenant);
        let out = route(&mut connector, batch.clone());
        assert_eq!(out.len(), 1, "{tenant:?}");
        assert_eq!(out[0].0, expected);
        assert!(out[0].1.shares_data_with(&batch));
        assert_eq!(out[0].1.metadata(), batch.metadata());
    }
}

#[test]
fn item_routes_before_a_request_route_take_their_items_first() {
    let config = r#"
table:
  - context: log
    condition: severity_number < SEVERITY_NUMBER_ERROR
    pipelines: [logs/cheap]
  - context: request
    condition: request["X-Tenant"] == "acme"
    pipelines: [logs/acme]
"#;
    let (mut connector, _) = build(config, Signal::Logs, &["logs/cheap", "logs/acme"]);
    let record = |severity: i32| LogRecord {
        severity_number: severity,
        ..Default::default()
    };
    let mut batch = Batch::from_logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![record(9), record(17), record(21)],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    batch.set_metadata(ClientMetadata::from_pairs([("X-Tenant", "acme")]));
    let out = route(&mut connector, batch);
    let counts: Vec<(String, usize)> = out
        .iter()
        .map(|(p, b)| (p.clone(), b.item_count()))
        .collect();
    assert_eq!(
        counts,
        [("logs/cheap".to_string(), 1), ("logs/acme".to_string(), 2)]
    );
}

#[test]
fn data_points_of_one_metric_go_to_different_pipelines() {
    let config = r#"
default_pipelines: [metrics/rest]
table:
  - context: datapoint
    condition: attributes["host"] == "a"
    pipelines: [metrics/a]
  - context: metric
    condition: name == "other"
    pipelines: [metrics/other]
"#;
    let (mut connector, telemetry) = build(
        config,
        Signal::Metrics,
        &["metrics/a", "metrics/other", "metrics/rest"],
    );
    let point = |host: &str| NumberDataPoint {
        attributes: vec![kv("host", host)],
        ..Default::default()
    };
    let gauge = |name: &str, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    };
    let batch = Batch::from_metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                gauge("m", vec![point("a"), point("b")]),
                gauge("other", vec![point("a"), point("c")]),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let out = route(&mut connector, batch);
    let shape = |batch: &Batch| -> Vec<(String, usize)> {
        batch.resource_metrics()[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| {
                let Some(metric::Data::Gauge(g)) = &m.data else {
                    panic!("gauge")
                };
                (m.name.clone(), g.data_points.len())
            })
            .collect()
    };
    assert_eq!(out[0].0, "metrics/a");
    assert_eq!(
        shape(&out[0].1),
        [("m".to_string(), 1), ("other".to_string(), 1)]
    );
    assert_eq!(out[1].0, "metrics/other");
    assert_eq!(shape(&out[1].1), [("other".to_string(), 1)]);
    assert_eq!(out[2].0, "metrics/rest");
    assert_eq!(shape(&out[2].1), [("m".to_string(), 1)]);
    assert_eq!(counter(&telemetry, NO_ROUTE), 0);
}

#[test]
fn metrics_routed_by_resource_move_whole_resources() {
    let config = r#"
table:
  - condition: attributes["service.name"] == "a"
    pipelines: [metrics/a]
  - condition: attributes["service.name"] == "b"
    pipelines: [metrics/b]
"#;
    let (mut connector, _) = build(config, Signal::Metrics, &["metrics/a", "metrics/b"]);
    let resource = |service: &str| ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("service.name", service)],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: service.into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint::default(); 2],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let batch = Batch::from_metrics(vec![resource("a"), resource("b"), resource("a")]);
    let out = route(&mut connector, batch);
    assert_eq!(out[0].0, "metrics/a");
    assert_eq!(out[0].1.item_count(), 4);
    assert_eq!(out[0].1.resource_count(), 2);
    assert_eq!(out[1].0, "metrics/b");
    assert_eq!(out[1].1.item_count(), 2);
}

// ---------------------------------------------------------------- error modes

/// The first route's condition fails on every span (a string plus an integer).
const FAILING: &str = r#"
default_pipelines: [traces/default]
table:
  - context: span
    condition: attributes["n"] + 1 > 0
    pipelines: [traces/a]
  - context: span
    condition: name == "b"
    pipelines: [traces/b]
"#;

fn failing_batch() -> Batch {
    Batch::from_traces(vec![resource_spans(
        "svc",
        vec![span("a", vec![kv("n", "text")]), span("b", vec![])],
    )])
}

#[test]
fn propagate_fails_the_batch_and_counts_it() {
    let (mut connector, telemetry) = build(
        FAILING,
        Signal::Traces,
        &["traces/a", "traces/b", "traces/default"],
    );
    assert!(route(&mut connector, failing_batch()).is_empty());
    assert_eq!(counter(&telemetry, OTTL_ERROR), 2);
}

#[test]
fn ignore_and_silent_treat_a_failing_condition_as_no_match() {
    for mode in ["ignore", "silent"] {
        let config = format!("error_mode: {mode}\n{FAILING}");
        let (mut connector, telemetry) = build(
            &config,
            Signal::Traces,
            &["traces/a", "traces/b", "traces/default"],
        );
        let out = route(&mut connector, failing_batch());
        let got: Vec<(String, Vec<String>)> = out
            .iter()
            .map(|(p, b)| (p.clone(), span_names(b)))
            .collect();
        assert_eq!(
            got,
            [
                ("traces/b".to_string(), vec!["b".to_string()]),
                ("traces/default".to_string(), vec!["a".to_string()]),
            ],
            "{mode}"
        );
        assert_eq!(counter(&telemetry, OTTL_ERROR), 0);
    }
}

#[test]
fn split_copies_are_not_recorded_as_dropped() {
    use std::sync::{Arc, Mutex};
    use weir_api::ack::InFlight;
    let (mut connector, _) = build(SPAN_TABLE, Signal::Traces, &TRACES);
    let mut batch = Batch::from_traces(vec![resource_spans(
        "svc",
        vec![span("a", vec![kv("tier", "gold")]), span("b", vec![])],
    )]);
    let (ack, _receipt) = weir_api::Ack::new(2, 100, &InFlight::default());
    let released = Arc::new(Mutex::new(None));
    ack.on_release({
        let released = released.clone();
        move |summary| *released.lock().unwrap() = Some(*summary)
    });
    batch.attach_ack(ack);
    let out = route(&mut connector, batch);
    assert_eq!(out.len(), 2, "one copy per pipeline");
    for (_, copy) in &out {
        assert_eq!(copy.acks().len(), 1, "each copy carries the handle");
        copy.record_outcome(weir_api::Outcome::Delivered);
    }
    drop(out);
    let summary = released
        .lock()
        .unwrap()
        .expect("released once both copies are gone");
    assert!(summary.delivered);
    assert!(
        !summary.dropped,
        "routing a span elsewhere is not dropping it"
    );
}
