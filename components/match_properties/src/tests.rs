use bytes::Bytes;
use prost::Message;
use weir_api::{Batch, Signal};
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::{MatchProperties, Matcher, StringMatcher};

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn span(name: &str, kind: i32, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        kind,
        attributes,
        ..Default::default()
    }
}

fn traces() -> Vec<ResourceSpans> {
    vec![
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("checkout")), kv("env", s("prod"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.lib".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                spans: vec![
                    span(
                        "GET /a",
                        2,
                        vec![kv("http.status", any_value::Value::IntValue(200))],
                    ),
                    span("db", 3, vec![kv("db.system", s("postgres"))]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        },
        ResourceSpans {
            resource: Some(Resource::default()),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![span(
                    "GET /b",
                    1,
                    vec![kv("n", any_value::Value::DoubleValue(1.5))],
                )],
                ..Default::default()
            }],
            ..Default::default()
        },
    ]
}

/// Both forms of the same traces: decoded structs and received bytes.
fn trace_batches() -> [Batch; 2] {
    let bytes = ExportTraceServiceRequest {
        resource_spans: traces(),
    }
    .encode_to_vec();
    [
        Batch::from_traces(traces()),
        Batch::from_protobuf(Signal::Traces, Bytes::from(bytes)).expect("valid"),
    ]
}

fn props(yaml: &str) -> MatchProperties {
    serde_yaml_ng::from_str(yaml).expect("valid block")
}

/// Names of the spans the matcher selects, on both forms (which must agree).
fn selected(include: Option<&str>, exclude: Option<&str>) -> Vec<String> {
    let (inc, exc) = (include.map(props), exclude.map(props));
    let matcher =
        Matcher::compile_for(Signal::Traces, inc.as_ref(), exc.as_ref()).expect("compiles");
    let mut answers = trace_batches().map(|batch| {
        batch
            .spans()
            .filter(|(r, sc, sp)| matcher.matches_span(*r, *sc, *sp))
            .map(|(_, _, sp)| sp.name().to_string())
            .collect::<Vec<_>>()
    });
    assert_eq!(answers[0], answers[1], "owned and wire forms disagree");
    std::mem::take(&mut answers[0])
}

#[test]
fn no_blocks_select_everything() {
    assert_eq!(selected(None, None), ["GET /a", "db", "GET /b"]);
}

#[test]
fn strict_services_and_missing_service_name() {
    assert_eq!(
        selected(Some("{match_type: strict, services: [checkout]}"), None),
        ["GET /a", "db"]
    );
    assert_eq!(
        selected(
            Some("{match_type: strict, services: ['<nil-service-name>']}"),
            None
        ),
        ["GET /b"]
    );
}

#[test]
fn regexp_is_unanchored() {
    assert_eq!(
        selected(Some("{match_type: regexp, span_names: ['GET']}"), None),
        ["GET /a", "GET /b"]
    );
    assert_eq!(
        selected(Some("{match_type: regexp, span_names: ['^/a']}"), None),
        Vec::<String>::new()
    );
    assert_eq!(
        selected(Some("{match_type: regexp, span_names: ['/a$']}"), None),
        ["GET /a"]
    );
}

#[test]
fn strict_is_exact() {
    assert_eq!(
        selected(Some("{match_type: strict, span_names: ['GET']}"), None),
        Vec::<String>::new()
    );
}

#[test]
fn attributes_strict_typed_and_presence() {
    assert_eq!(
        selected(
            Some("{match_type: strict, attributes: [{key: http.status, value: 200}]}"),
            None
        ),
        ["GET /a"]
    );
    // A string "200" is not the integer 200.
    assert_eq!(
        selected(
            Some("{match_type: strict, attributes: [{key: http.status, value: '200'}]}"),
            None
        ),
        Vec::<String>::new()
    );
    // No value: the key must be present (no match_type needed).
    assert_eq!(
        selected(Some("{attributes: [{key: db.system}]}"), None),
        ["db"]
    );
}

#[test]
fn attributes_regexp_on_string_forms() {
    assert_eq!(
        selected(
            Some("{match_type: regexp, attributes: [{key: http.status, value: '^2..$'}]}"),
            None
        ),
        ["GET /a"]
    );
    assert_eq!(
        selected(
            Some("{match_type: regexp, attributes: [{key: n, value: '^1\\.5$'}]}"),
            None
        ),
        ["GET /b"]
    );
}

#[test]
fn resources_libraries_and_kinds() {
    assert_eq!(
        selected(
            Some("{match_type: strict, resources: [{key: env, value: prod}]}"),
            None
        ),
        ["GET /a", "db"]
    );
    assert_eq!(
        selected(
            Some("{match_type: strict, libraries: [{name: io.lib, version: '1.2'}]}"),
            None
        ),
        ["GET /a", "db"]
    );
    assert_eq!(
        selected(
            Some("{match_type: strict, libraries: [{name: io.lib, version: ''}]}"),
            None
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        selected(
            Some("{match_type: strict, span_kinds: [SPAN_KIND_CLIENT]}"),
            None
        ),
        ["db"]
    );
}

#[test]
fn exclude_after_include() {
    assert_eq!(
        selected(
            Some("{match_type: strict, services: [checkout]}"),
            Some("{match_type: regexp, span_names: ['^db']}")
        ),
        ["GET /a"]
    );
    assert_eq!(
        selected(None, Some("{match_type: strict, services: [checkout]}")),
        ["GET /b"]
    );
}

#[test]
fn errors_name_the_key() {
    let err = |inc: &str, signal: Signal| {
        Matcher::compile_for(signal, Some(&props(inc)), None)
            .expect_err("must fail")
            .to_string()
    };
    let e = err("{span_names: [x]}", Signal::Traces);
    assert!(
        e.starts_with("include.span_names: unrecognized match_type"),
        "{e}"
    );
    let e = err("{match_type: regexp, span_names: ['(']}", Signal::Traces);
    assert!(
        e.starts_with("include.span_names: error parsing regexp"),
        "{e}"
    );
    let e = err(
        "{match_type: regexp, attributes: [{key: a, value: 1}]}",
        Signal::Traces,
    );
    assert!(
        e.contains("include.attributes[0].value") && e.contains("only supports Str, but found Int"),
        "{e}"
    );
    let e = err(
        "{match_type: strict, attributes: [{value: 1}]}",
        Signal::Traces,
    );
    assert!(
        e.starts_with("include.attributes[0].key: can't have empty key"),
        "{e}"
    );
    let e = err("{match_type: strict, log_bodies: [x]}", Signal::Traces);
    assert!(
        e.starts_with("include.log_bodies: log_bodies should not be specified"),
        "{e}"
    );
    let e = err("{match_type: strict, services: [x]}", Signal::Logs);
    assert!(e.contains("not valid for log records"), "{e}");
    let e = err("{match_type: strict}", Signal::Traces);
    assert!(e.starts_with("include: at least one of"), "{e}");
    let e = err("{match_type: strict, span_kinds: [client]}", Signal::Traces);
    assert!(e.contains("include.span_kinds[0]"), "{e}");
    let unknown = serde_yaml_ng::from_str::<MatchProperties>("{match_type: strict, servces: [a]}");
    assert!(unknown.is_err());
    let bad_type = serde_yaml_ng::from_str::<MatchProperties>("{match_type: glob}");
    assert!(bad_type.is_err());
}

#[test]
fn metrics_use_metric_names_only() {
    let inc = props("{match_type: strict, metric_names: [a], resources: [{key: x, value: y}]}");
    let m = Matcher::compile_for(Signal::Metrics, Some(&inc), None).expect("compiles");
    let batch = Batch::from_metrics(vec![weir_proto::metrics::v1::ResourceMetrics {
        scope_metrics: vec![weir_proto::metrics::v1::ScopeMetrics {
            metrics: vec![
                weir_proto::metrics::v1::Metric {
                    name: "a".into(),
                    ..Default::default()
                },
                weir_proto::metrics::v1::Metric {
                    name: "b".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let mut names = Vec::new();
    for rm in batch.metrics() {
        for sm in rm.scopes() {
            for metric in sm.metrics() {
                if m.matches_metric(rm.resource(), sm.scope(), metric) {
                    names.push(metric.name().to_string());
                }
            }
        }
    }
    assert_eq!(names, ["a"]);
    // A block without metric_names has no effect on metrics.
    let exc = props("{match_type: strict, resources: [{key: x, value: y}]}");
    let m = Matcher::compile_for(Signal::Metrics, None, Some(&exc)).expect("compiles");
    let rm = batch.metrics().next().expect("one");
    let sm = rm.scopes().next().expect("one");
    assert!(sm
        .metrics()
        .all(|metric| m.matches_metric(rm.resource(), sm.scope(), metric)));
}

fn logs() -> Vec<ResourceLogs> {
    let record = |body: any_value::Value, sev: i32, text: &str| LogRecord {
        body: Some(AnyValue { value: Some(body) }),
        severity_number: sev,
        severity_text: text.into(),
        attributes: vec![kv("k", s("v"))],
        ..Default::default()
    };
    vec![ResourceLogs {
        resource: Some(Resource::default()),
        scope_logs: vec![ScopeLogs {
            log_records: vec![
                record(s("user login ok"), 9, "INFO"),
                record(any_value::Value::IntValue(42), 17, "ERROR"),
                record(s("debug noise"), 0, ""),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn selected_logs(include: &str) -> Vec<usize> {
    let inc = props(include);
    let m = Matcher::compile_for(Signal::Logs, Some(&inc), None).expect("compiles");
    let bytes = ExportLogsServiceRequest {
        resource_logs: logs(),
    }
    .encode_to_vec();
    let mut answers = [
        Batch::from_logs(logs()),
        Batch::from_protobuf(Signal::Logs, Bytes::from(bytes)).expect("valid"),
    ]
    .map(|batch| {
        batch
            .log_records()
            .enumerate()
            .filter(|(_, (r, sc, lr))| m.matches_log(*r, *sc, *lr))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    });
    assert_eq!(answers[0], answers[1]);
    std::mem::take(&mut answers[0])
}

#[test]
fn log_properties() {
    assert_eq!(
        selected_logs("{match_type: regexp, log_bodies: [login]}"),
        [0]
    );
    // Bodies are matched in their string form.
    assert_eq!(
        selected_logs("{match_type: strict, log_bodies: ['42']}"),
        [1]
    );
    assert_eq!(
        selected_logs("{match_type: strict, log_severity_texts: [ERROR]}"),
        [1]
    );
    assert_eq!(selected_logs("{log_severity_number: {min: WARN}}"), [1]);
    assert_eq!(
        selected_logs("{log_severity_number: {min: 9, match_undefined: true}}"),
        [0, 1, 2]
    );
    assert_eq!(
        selected_logs("{match_type: strict, attributes: [{key: k, value: v}]}"),
        [0, 1, 2]
    );
}

#[test]
fn string_matcher_primitive() {
    let strict = StringMatcher::new(Some(crate::MatchType::Strict), &["a".into()]).expect("ok");
    assert!(strict.matches("a") && !strict.matches("ab"));
    let re =
        StringMatcher::new(Some(crate::MatchType::Regexp), &["b".into(), "^x".into()]).expect("ok");
    assert!(re.matches("abc") && re.matches("xyz") && !re.matches("yx"));
}

#[test]
fn as_string_forms() {
    use crate::value::{format_double, owned_as_string};
    use weir_api::batch::edit::OwnedValue;
    assert_eq!(format_double(1.0), "1");
    assert_eq!(format_double(0.5), "0.5");
    assert_eq!(format_double(1e21), "1e+21");
    assert_eq!(format_double(1.5e-7), "1.5e-7");
    assert_eq!(
        owned_as_string(&OwnedValue::KvList(vec![
            ("b".into(), OwnedValue::Int(1)),
            (
                "a".into(),
                OwnedValue::Array(vec![OwnedValue::Double(2.0), OwnedValue::Str("x".into())])
            ),
        ])),
        r#"{"a":[2,"x"],"b":1}"#
    );
}
