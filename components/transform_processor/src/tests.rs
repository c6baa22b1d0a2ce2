//! The transform processor through its factory, as the engine drives it.

use prost::Message;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ComponentId, PipelineId, Processor, ProcessorBuildContext, Signal, Value};
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn build(config: &str, signal: Signal) -> (Box<dyn Processor>, Telemetry) {
    let telemetry = Telemetry::new();
    let ctx = ProcessorBuildContext {
        id: ComponentId::new(TYPE_NAME, None),
        pipeline: PipelineId::new(signal, None),
        signal,
        telemetry: telemetry.clone(),
    };
    let processor = factory().build(ctx, &yaml(config)).unwrap();
    (processor, telemetry)
}

fn build_error(config: &str, signal: Signal) -> String {
    let ctx = ProcessorBuildContext {
        id: ComponentId::new(TYPE_NAME, None),
        pipeline: PipelineId::new(signal, None),
        signal,
        telemetry: Telemetry::new(),
    };
    match factory().build(ctx, &yaml(config)) {
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

fn run(processor: &mut Box<dyn Processor>, batch: Batch) -> Vec<Batch> {
    let mut out = Vec::new();
    processor.process(batch, &mut out);
    out
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

fn named_span(name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        attributes,
        events: vec![span::Event {
            name: "event".into(),
            ..Default::default()
        }],
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

fn str_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

fn spans(out: &[Batch]) -> Vec<Span> {
    out.iter()
        .flat_map(|b| b.resource_spans())
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

// ---------------------------------------------------------------- factory and config

#[test]
fn factory_takes_every_signal() {
    let info = factory().info();
    assert_eq!(info.type_name, "transform");
    assert_eq!(info.signals, &Signal::ALL);
}

#[test]
fn empty_section_is_valid_and_passes_batches_through() {
    assert!(problems("{}").is_empty());
    let (mut processor, _) = build("{}", Signal::Traces);
    let batch = Batch::from_traces(vec![resource_spans("a", vec![named_span("x", vec![])])]);
    let out = run(&mut processor, batch.clone());
    assert_eq!(out.len(), 1);
    assert!(out[0].shares_data_with(&batch) || out[0] == batch);
}

#[test]
fn unknown_keys_are_named_with_their_path() {
    let found = problems("trace_statement: []");
    assert_eq!(found[0].0, "trace_statement");
    let found = problems("trace_statements:\n  - context: span\n    statement: []\n");
    assert_eq!(found[0].0, "trace_statements.0.statement");
}

#[test]
fn entries_must_be_strings_or_groups() {
    let found = problems("log_statements: [3]");
    assert_eq!(found[0].0, "log_statements.0");
}

#[test]
fn unknown_and_misplaced_contexts_are_refused() {
    let found = problems("trace_statements:\n  - context: spam\n    statements: []\n");
    assert_eq!(found[0].0, "trace_statements.0.context");
    assert!(found[0].1.contains("unknown context `spam`"), "{found:?}");
    let found = problems("trace_statements:\n  - context: log\n    statements: []\n");
    assert_eq!(found[0].0, "trace_statements.0.context");
    assert!(
        found[0].1.contains("cannot be used in trace_statements"),
        "{found:?}"
    );
    let found = problems("metric_statements:\n  - context: span\n    statements: []\n");
    assert_eq!(found[0].0, "metric_statements.0.context");
}

#[test]
fn unsupported_collector_options_are_refused() {
    let found = problems("flatten_data: true");
    assert_eq!(found[0].0, "flatten_data");
    let found =
        problems("log_statements:\n  - context: log\n    shared_cache: true\n    statements: []\n");
    assert_eq!(found[0].0, "log_statements.0.shared_cache");
    assert!(problems("flatten_data: false").is_empty());
}

#[test]
fn error_modes_parse_at_both_levels() {
    let config = "error_mode: ignore\ntrace_statements:\n  - context: span\n    error_mode: silent\n    statements: []\n";
    assert!(problems(config).is_empty(), "{:?}", problems(config));
    let found = problems("error_mode: loud");
    assert_eq!(found[0].0, "error_mode");
    let found = problems("trace_statements:\n  - context: span\n    error_mode: loud\n");
    assert_eq!(found[0].0, "trace_statements.0.error_mode");
}

#[test]
fn statements_compile_at_check_with_their_key_path() {
    let config = r#"
trace_statements:
  - context: span
    statements:
      - set(attributes["a"], "b")
      - set(attributes["a"], "b") where
      - frobnicate(attributes)
"#;
    let found = problems(config);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "trace_statements.0.statements.1");
    assert_eq!(found[1].0, "trace_statements.0.statements.2");
    assert!(found[1].1.starts_with("column "), "{found:?}");
    let error = build_error(config, Signal::Traces);
    assert!(
        error.starts_with("trace_statements.0.statements.1: column "),
        "{error}"
    );
}

#[test]
fn conditions_compile_at_check_with_their_key_path() {
    let config = r#"
log_statements:
  - context: log
    conditions:
      - severity_number >=
    statements:
      - set(attributes["a"], "b")
"#;
    let found = problems(config);
    assert_eq!(found[0].0, "log_statements.0.conditions.0");
}

#[test]
fn flat_statements_infer_their_context() {
    let config = r#"
trace_statements:
  - set(span.attributes["env"], "prod")
  - set(resource.attributes["team"], "a")
  - set(spanevent.attributes["seen"], "yes")
metric_statements:
  - set(metric.description, "d")
  - set(datapoint.attributes["p"], "q")
log_statements:
  - set(log.attributes["l"], "m")
"#;
    assert!(problems(config).is_empty(), "{:?}", problems(config));
    let found = problems("log_statements:\n  - set(attributes[\"x\"], \"y\")\n");
    assert_eq!(found[0].0, "log_statements.0");
    let found = problems("log_statements:\n  - set(span.attributes[\"x\"], \"y\")\n");
    assert_eq!(found[0].0, "log_statements.0");
}

#[test]
fn structured_groups_without_context_infer_it() {
    let config = r#"
trace_statements:
  - conditions:
      - span.name == "GET /"
    statements:
      - set(span.attributes["route"], "root")
"#;
    assert!(problems(config).is_empty(), "{:?}", problems(config));
}

// ---------------------------------------------------------------- execution

#[test]
fn sets_attributes_where_the_condition_matches() {
    let (mut processor, _) = build(
        r#"
trace_statements:
  - context: span
    statements:
      - set(attributes["env"], "prod") where name == "a"
"#,
        Signal::Traces,
    );
    let batch = Batch::from_traces(vec![resource_spans(
        "svc",
        vec![named_span("a", vec![]), named_span("b", vec![])],
    )]);
    let out = spans(&run(&mut processor, batch));
    assert_eq!(str_attr(&out[0].attributes, "env").as_deref(), Some("prod"));
    assert_eq!(str_attr(&out[1].attributes, "env"), None);
}

#[test]
fn each_statement_sees_what_the_previous_ones_changed() {
    let (mut processor, _) = build(
        r#"
trace_statements:
  - set(span.attributes["a"], "1")
  - set(span.attributes["b"], span.attributes["a"])
  - delete_key(span.attributes, "a") where span.attributes["b"] == "1"
"#,
        Signal::Traces,
    );
    let batch = Batch::from_traces(vec![resource_spans("svc", vec![named_span("x", vec![])])]);
    let out = spans(&run(&mut processor, batch));
    assert_eq!(str_attr(&out[0].attributes, "b").as_deref(), Some("1"));
    assert_eq!(str_attr(&out[0].attributes, "a"), None);
}

#[test]
fn group_conditions_are_decided_before_the_groups_first_statement() {
    // As in the Collector: the conditions gate the whole group for an item, even when a
    // statement of the group changes what they read.
    let (mut processor, _) = build(
        r#"
trace_statements:
  - context: span
    conditions:
      - attributes["marked"] == nil
    statements:
      - set(attributes["marked"], "yes")
      - set(attributes["second"], "yes")
"#,
        Signal::Traces,
    );
    let batch = Batch::from_traces(vec![resource_spans(
        "svc",
        vec![
            named_span("fresh", vec![]),
            named_span("old", vec![kv("marked", "before")]),
        ],
    )]);
    let out = spans(&run(&mut processor, batch));
    assert_eq!(
        str_attr(&out[0].attributes, "second").as_deref(),
        Some("yes")
    );
    assert_eq!(str_attr(&out[1].attributes, "second"), None);
    assert_eq!(
        str_attr(&out[1].attributes, "marked").as_deref(),
        Some("before")
    );
}

#[test]
fn group_conditions_gate_span_events_and_resources() {
    let (mut processor, _) = build(
        r#"
trace_statements:
  - context: resource
    conditions:
      - attributes["service.name"] == "b"
    statements:
      - set(attributes["picked"], "yes")
  - context: spanevent
    conditions:
      - name == "event"
    statements:
      - set(attributes["seen"], "yes")
"#,
        Signal::Traces,
    );
    let batch = Batch::from_traces(vec![
        resource_spans("a", vec![named_span("x", vec![])]),
        resource_spans("b", vec![named_span("y", vec![])]),
    ]);
    let out = run(&mut processor, batch);
    let resources = out[0].resource_spans();
    let picked: Vec<Option<String>> = resources
        .iter()
        .map(|rs| str_attr(&rs.resource.as_ref().unwrap().attributes, "picked"))
        .collect();
    assert_eq!(picked, [None, Some("yes".to_string())]);
    for span in spans(&out) {
        assert_eq!(
            str_attr(&span.events[0].attributes, "seen").as_deref(),
            Some("yes")
        );
    }
}

#[test]
fn metric_and_datapoint_contexts() {
    let (mut processor, _) = build(
        r#"
metric_statements:
  - context: metric
    conditions:
      - name == "m"
    statements:
      - set(description, "described")
  - context: datapoint
    statements:
      - set(attributes["p"], "q")
"#,
        Signal::Metrics,
    );
    let batch = Batch::from_metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "m".into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint::default(); 2],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let out = run(&mut processor, batch);
    let metric = &out[0].resource_metrics()[0].scope_metrics[0].metrics[0];
    assert_eq!(metric.description, "described");
    let Some(metric::Data::Gauge(gauge)) = &metric.data else {
        panic!("gauge expected")
    };
    for point in &gauge.data_points {
        assert_eq!(str_attr(&point.attributes, "p").as_deref(), Some("q"));
    }
}

#[test]
fn log_statements() {
    let (mut processor, _) = build(
        r#"
log_statements:
  - context: log
    statements:
      - set(attributes["k"], "v") where body == "hello"
"#,
        Signal::Logs,
    );
    let record = |body: &str| LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        ..Default::default()
    };
    let batch = Batch::from_logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![record("hello"), record("bye")],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let out = run(&mut processor, batch);
    let records = &out[0].resource_logs()[0].scope_logs[0].log_records;
    assert_eq!(str_attr(&records[0].attributes, "k").as_deref(), Some("v"));
    assert_eq!(str_attr(&records[1].attributes, "k"), None);
}

/// A request whose first resource carries an unknown field: decoding would lose it, so
/// finding it in the output proves that resource stayed as received bytes. Also returns
/// the length of the first resource's field (header included).
fn wire_request() -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut first = 0;
    for (service, name) in [("untouched", "a"), ("changed", "b")] {
        let mut resource = resource_spans(service, vec![named_span(name, vec![])]).encode_to_vec();
        if service == "untouched" {
            resource.extend_from_slice(&[0x98, 0x06, 0x01]); // field 99, varint 1
        }
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut body);
        prost::encoding::encode_varint(resource.len() as u64, &mut body);
        body.extend_from_slice(&resource);
        if first == 0 {
            first = body.len();
        }
    }
    // Sanity: it is a valid request.
    assert!(ExportTraceServiceRequest::decode(body.as_slice()).is_ok());
    (body, first)
}

#[test]
fn untouched_resources_stay_wire_bytes() {
    let (mut processor, _) = build(
        r#"
trace_statements:
  - set(span.attributes["x"], "y") where span.name == "b"
  - set(resource.attributes["r"], "s") where resource.attributes["service.name"] == "changed"
"#,
        Signal::Traces,
    );
    let (input, first) = wire_request();
    let batch = Batch::decode_protobuf(Signal::Traces, &input).unwrap();
    let out = run(&mut processor, batch);
    let encoded = out[0].encode_protobuf();
    // The first resource (with its unknown field) is copied as it came.
    assert_eq!(&encoded[..first], &input[..first]);
    assert_ne!(encoded, input);
    let spans = spans(&out);
    assert_eq!(str_attr(&spans[1].attributes, "x").as_deref(), Some("y"));
    assert_eq!(str_attr(&spans[0].attributes, "x"), None);
}

#[test]
fn a_batch_no_statement_changes_stays_as_it_came() {
    let (mut processor, _) = build(
        r#"
trace_statements:
  - set(span.attributes["x"], "y") where span.name == "nothing has this name"
"#,
        Signal::Traces,
    );
    let (input, _) = wire_request();
    let batch = Batch::decode_protobuf(Signal::Traces, &input).unwrap();
    let out = run(&mut processor, batch);
    assert_eq!(out[0].encode_protobuf(), input);
}

// ---------------------------------------------------------------- error modes

/// The first statement fails on the span named "bad" (a string plus an integer); the
/// second marks every span it reaches.
fn failing(error_modes: &str) -> String {
    format!(
        r#"
{error_modes}
trace_statements:
  - context: span
    GROUP_MODE
    statements:
      - set(attributes["y"], attributes["n"] + 1) where name == "bad"
      - set(attributes["after"], "yes")
"#
    )
}

fn two_spans() -> Batch {
    Batch::from_traces(vec![resource_spans(
        "svc",
        vec![
            named_span("bad", vec![kv("n", "not a number")]),
            named_span("good", vec![]),
        ],
    )])
}

/// The `ottl_error` drop counter's line, when it is not zero.
fn dropped(telemetry: &Telemetry) -> Option<String> {
    telemetry
        .encode()
        .lines()
        .find(|l| l.starts_with("weir_items_dropped_total{") && l.contains("ottl_error"))
        .filter(|l| !l.ends_with(" 0"))
        .map(str::to_string)
}

#[test]
fn propagate_fails_the_batch_and_counts_it() {
    let config = failing("").replace("GROUP_MODE", "");
    let (mut processor, telemetry) = build(&config, Signal::Traces);
    let out = run(&mut processor, two_spans());
    assert!(out.is_empty());
    let line = dropped(&telemetry).expect("counted");
    assert!(line.ends_with(" 2"), "{line}");
    assert!(line.contains("component=\"transform\""), "{line}");
}

#[test]
fn ignore_and_silent_go_on() {
    for mode in ["ignore", "silent"] {
        let config = failing(&format!("error_mode: {mode}")).replace("GROUP_MODE", "");
        let (mut processor, telemetry) = build(&config, Signal::Traces);
        let out = spans(&run(&mut processor, two_spans()));
        assert_eq!(out.len(), 2, "{mode}");
        for span in &out {
            assert_eq!(str_attr(&span.attributes, "after").as_deref(), Some("yes"));
            assert_eq!(str_attr(&span.attributes, "y"), None);
        }
        assert!(dropped(&telemetry).is_none(), "{mode}");
    }
}

#[test]
fn a_groups_error_mode_overrides_the_top_level() {
    let config = failing("error_mode: propagate").replace("GROUP_MODE", "error_mode: ignore");
    let (mut processor, _) = build(&config, Signal::Traces);
    assert_eq!(spans(&run(&mut processor, two_spans())).len(), 2);
    let config = failing("error_mode: ignore").replace("GROUP_MODE", "error_mode: propagate");
    let (mut processor, _) = build(&config, Signal::Traces);
    assert!(run(&mut processor, two_spans()).is_empty());
}

#[test]
fn a_failing_group_condition_follows_the_error_mode() {
    let config = |mode: &str| {
        format!(
            r#"
trace_statements:
  - context: span
    error_mode: {mode}
    conditions:
      - attributes["n"] + 1 > 0
    statements:
      - set(attributes["after"], "yes")
"#
        )
    };
    let (mut processor, telemetry) = build(&config("propagate"), Signal::Traces);
    assert!(run(&mut processor, two_spans()).is_empty());
    assert!(dropped(&telemetry).is_some());
    let (mut processor, _) = build(&config("ignore"), Signal::Traces);
    let out = spans(&run(&mut processor, two_spans()));
    // The condition fails on both (a string and a nil plus 1): no span is changed.
    assert!(out
        .iter()
        .all(|s| str_attr(&s.attributes, "after").is_none()));
}

#[test]
fn the_collectors_readme_examples_compile() {
    // The Collector README's basic and advanced examples, less the functions outside
    // Weir's subset (convert_*, replace_all_matches, IsMap).
    let config = r#"
error_mode: ignore
trace_statements:
  - keep_keys(span.attributes, ["service.name", "service.namespace", "cloud.region", "process.command_line"])
  - replace_pattern(span.attributes["process.command_line"], "password\\=[^\\s]*(\\s?)", "password=***")
  - limit(span.attributes, 100, [])
  - truncate_all(span.attributes, 4096)
metric_statements:
  - keep_keys(resource.attributes, ["host.name"])
  - truncate_all(resource.attributes, 4096)
  - set(metric.description, "Sum") where metric.type == "Sum"
  - error_mode: propagate
    conditions:
      - metric.type == METRIC_DATA_TYPE_SUM
    statements:
      - set(metric.description, "Sum")
log_statements:
  - set(log.severity_text, "FAIL") where log.body == "request failed"
  - replace_all_patterns(log.attributes, "value", "/account/\\d{4}", "/account/{accountId}")
  - set(log.body, log.attributes["http.route"])
"#;
    assert!(problems(config).is_empty(), "{:?}", problems(config));
}

#[test]
fn group_conditions_gate_data_points_and_scopes() {
    let (mut processor, _) = build(
        r#"
metric_statements:
  - context: datapoint
    conditions:
      - attributes["host"] == "a"
    statements:
      - set(attributes["picked"], "yes")
  - context: scope
    conditions:
      - name == "lib"
    statements:
      - set(attributes["scoped"], "yes")
"#,
        Signal::Metrics,
    );
    let point = |host: &str| NumberDataPoint {
        attributes: vec![kv("host", host)],
        ..Default::default()
    };
    let batch = Batch::from_metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            scope: Some(weir_proto::common::v1::InstrumentationScope {
                name: "lib".into(),
                ..Default::default()
            }),
            metrics: vec![Metric {
                name: "m".into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![point("a"), point("b")],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let out = run(&mut processor, batch);
    let scope_metrics = &out[0].resource_metrics()[0].scope_metrics[0];
    let scope = scope_metrics.scope.as_ref().unwrap();
    assert_eq!(
        str_attr(&scope.attributes, "scoped").as_deref(),
        Some("yes")
    );
    let Some(metric::Data::Gauge(gauge)) = &scope_metrics.metrics[0].data else {
        panic!("gauge expected")
    };
    let picked: Vec<Option<String>> = gauge
        .data_points
        .iter()
        .map(|p| str_attr(&p.attributes, "picked"))
        .collect();
    assert_eq!(picked, [Some("yes".to_string()), None]);
}
