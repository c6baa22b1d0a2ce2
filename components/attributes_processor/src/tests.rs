use bytes::Bytes;
use prost::Message;
use weir_api::{Batch, ClientMetadata, ProcessorFactory, Signal, Value};
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::{AttributesConfig, AttributesFactory, AttributesProcessor};

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn int(v: i64) -> any_value::Value {
    any_value::Value::IntValue(v)
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Attributes as `(key, value)` for assertions.
fn pairs(list: &[KeyValue]) -> Vec<(String, Option<any_value::Value>)> {
    list.iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().and_then(|v| v.value)))
        .collect()
}

/// SHA-256 hex computed with `ring` directly, independently of `weir_ottl::sha256_hex`.
fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn processor(yaml: &str, signal: Signal) -> AttributesProcessor {
    let config: AttributesConfig = serde_yaml_ng::from_str(yaml).expect("valid yaml");
    AttributesProcessor::new(&config, signal).expect("valid config")
}

fn span(name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        kind: 2,
        attributes,
        ..Default::default()
    }
}

fn traces() -> Vec<ResourceSpans> {
    vec![
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("checkout"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                spans: vec![
                    span(
                        "pay",
                        vec![
                            kv("credit_card", s("4111-1111-1111-1111")),
                            kv("password", s("hunter2")),
                            kv("user", s("ann")),
                        ],
                    ),
                    span("ok", vec![kv("user", s("bob"))]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        },
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("auth"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(
                    "login",
                    vec![kv("password", s("pw")), kv("credit_card", int(42))],
                )],
                ..Default::default()
            }],
            ..Default::default()
        },
    ]
}

fn trace_bytes() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: traces(),
    }
    .encode_to_vec()
}

/// The same traces as decoded structs and as received bytes.
fn trace_batches() -> [Batch; 2] {
    [
        Batch::from_traces(traces()),
        Batch::from_protobuf(Signal::Traces, Bytes::from(trace_bytes())).expect("valid"),
    ]
}

fn all_span_attributes(batch: &Batch) -> Vec<Vec<(String, Option<any_value::Value>)>> {
    batch
        .resource_spans()
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .map(|sp| pairs(&sp.attributes))
        .collect()
}

const REDACT: &str = "
actions:
  - {key: credit_card, action: hash}
  - {key: password, action: delete}
";

#[test]
fn redaction_on_every_span_both_forms() {
    let p = processor(REDACT, Signal::Traces);
    for mut batch in trace_batches() {
        p.apply(&mut batch);
        assert_eq!(batch.item_count(), 3);
        let spans = all_span_attributes(&batch);
        assert_eq!(
            spans[0],
            [
                (
                    "credit_card".to_string(),
                    Some(s(&sha256(b"4111-1111-1111-1111")))
                ),
                ("user".to_string(), Some(s("ann"))),
            ]
        );
        assert_eq!(spans[1], [("user".to_string(), Some(s("bob")))]);
        // An integer is hashed over its 8 little-endian bytes.
        assert_eq!(
            spans[2],
            [(
                "credit_card".to_string(),
                Some(s(&sha256(&42i64.to_le_bytes())))
            )]
        );
        for attrs in spans {
            assert!(attrs.iter().all(|(k, _)| k != "password"));
        }
    }
}

#[test]
fn redaction_on_every_log_record_both_forms() {
    let record = |attrs: Vec<KeyValue>| LogRecord {
        body: Some(AnyValue {
            value: Some(s("x")),
        }),
        attributes: attrs,
        ..Default::default()
    };
    let logs = || {
        vec![ResourceLogs {
            resource: Some(Resource::default()),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(vec![kv("password", s("a")), kv("credit_card", s("1234"))]),
                    record(vec![kv("credit_card", any_value::Value::BoolValue(true))]),
                    record(vec![]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]
    };
    let bytes = ExportLogsServiceRequest {
        resource_logs: logs(),
    }
    .encode_to_vec();
    let p = processor(REDACT, Signal::Logs);
    for mut batch in [
        Batch::from_logs(logs()),
        Batch::from_protobuf(Signal::Logs, Bytes::from(bytes.clone())).expect("valid"),
    ] {
        p.apply(&mut batch);
        let records: Vec<_> = batch
            .resource_logs()
            .iter()
            .flat_map(|rl| rl.scope_logs.iter())
            .flat_map(|sl| sl.log_records.iter())
            .map(|lr| pairs(&lr.attributes))
            .collect();
        assert_eq!(
            records,
            [
                vec![("credit_card".to_string(), Some(s(&sha256(b"1234"))))],
                vec![("credit_card".to_string(), Some(s(&sha256(&[1]))))],
                vec![],
            ]
        );
    }
}

#[test]
fn unchanged_items_keep_their_wire_bytes() {
    let bytes = trace_bytes();
    // Actions that find nothing to do, or set a value to what it already is.
    let noop = processor(
        "
actions:
  - {key: absent, action: delete}
  - {key: absent, action: hash}
  - {key: absent, action: update, value: x}
  - {key: absent, action: convert, converted_type: int}
  - {key: absent, action: extract, pattern: '(?P<y>.)'}
  - {key: user, action: update, from_attribute: user}
  - {key: user, action: convert, converted_type: string}
  - {key: absent, action: upsert, from_attribute: also_absent}
",
        Signal::Traces,
    );
    let mut batch =
        Batch::from_protobuf(Signal::Traces, Bytes::from(bytes.clone())).expect("valid");
    noop.apply(&mut batch);
    assert_eq!(
        batch.encode_protobuf(),
        bytes,
        "an edit recording nothing must keep the bytes"
    );

    // Only the first resource has `user`: the second stays as it arrived.
    let p = processor(
        "actions: [{key: user, action: update, value: zed}]",
        Signal::Traces,
    );
    let mut batch =
        Batch::from_protobuf(Signal::Traces, Bytes::from(bytes.clone())).expect("valid");
    p.apply(&mut batch);
    let second = ExportTraceServiceRequest {
        resource_spans: vec![traces()[1].clone()],
    }
    .encode_to_vec();
    assert!(batch.encode_protobuf().ends_with(&second));
}

#[test]
fn actions_see_earlier_actions() {
    let p = processor(
        "
actions:
  - {key: copy, action: insert, from_attribute: user}
  - {key: user, action: delete}
  - {key: user, action: insert, from_attribute: copy}
  - {key: copy, action: hash}
  - {key: n, action: upsert, value: 7}
  - {key: n, action: convert, converted_type: string}
",
        Signal::Traces,
    );
    for mut batch in trace_batches() {
        p.apply(&mut batch);
        let spans = all_span_attributes(&batch);
        // "ok": user was deleted and re-inserted, so it moves after copy.
        assert_eq!(
            spans[1],
            [
                ("copy".to_string(), Some(s(&sha256(b"bob")))),
                ("user".to_string(), Some(s("bob"))),
                ("n".to_string(), Some(s("7"))),
            ]
        );
        // "login" has no user: nothing copied.
        assert_eq!(
            spans[2],
            [
                ("password".to_string(), Some(s("pw"))),
                ("credit_card".to_string(), Some(int(42))),
                ("n".to_string(), Some(s("7"))),
            ]
        );
    }
}

#[test]
fn extract_named_groups() {
    let p = processor(
        r"
actions:
  - key: url
    action: extract
    pattern: '^/api/(?P<version>v\d+)/users/(?P<user_id>\d+)(?P<rest>/x)?'
",
        Signal::Traces,
    );
    let mut batch = Batch::from_traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![
                span(
                    "a",
                    vec![
                        kv("url", s("/api/v1/users/42/orders")),
                        kv("user_id", s("old")),
                    ],
                ),
                span("b", vec![kv("url", int(1))]),
                span("c", vec![kv("url", s("/nope"))]),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.apply(&mut batch);
    let spans = all_span_attributes(&batch);
    assert_eq!(
        spans[0],
        [
            ("url".to_string(), Some(s("/api/v1/users/42/orders"))),
            ("user_id".to_string(), Some(s("42"))),
            ("version".to_string(), Some(s("v1"))),
            ("rest".to_string(), Some(s(""))),
        ]
    );
    assert_eq!(spans[1], [("url".to_string(), Some(int(1)))]);
    assert_eq!(spans[2], [("url".to_string(), Some(s("/nope")))]);
}

#[test]
fn pattern_delete_and_hash() {
    let p = processor(
        "actions: [{pattern: '^pass', action: delete}, {key: user, pattern: 'card', action: hash}]",
        Signal::Traces,
    );
    for mut batch in trace_batches() {
        p.apply(&mut batch);
        let spans = all_span_attributes(&batch);
        assert_eq!(
            spans[0],
            [
                (
                    "credit_card".to_string(),
                    Some(s(&sha256(b"4111-1111-1111-1111")))
                ),
                ("user".to_string(), Some(s(&sha256(b"ann")))),
            ]
        );
    }
}

#[test]
fn convert_semantics() {
    use crate::actions::ConvertTarget::{Double, Int, String as Str};
    use weir_api::batch::edit::OwnedValue as V;
    let c = crate::actions::convert_value;
    assert_eq!(c(V::Str("12".into()), Int), Some(V::Int(12)));
    assert_eq!(c(V::Str(" 12".into()), Int), None);
    assert_eq!(c(V::Str("1.5".into()), Int), None);
    assert_eq!(c(V::Double(-2.7), Int), Some(V::Int(-2)));
    assert_eq!(c(V::Bool(true), Int), Some(V::Int(1)));
    assert_eq!(c(V::Int(3), Double), Some(V::Double(3.0)));
    assert_eq!(c(V::Str("1e3".into()), Double), Some(V::Double(1000.0)));
    assert_eq!(c(V::Str("1e400".into()), Double), None);
    assert_eq!(c(V::Str("x".into()), Double), None);
    assert_eq!(c(V::Double(1.0), Str), Some(V::Str("1".into())));
    assert_eq!(c(V::Bool(false), Str), Some(V::Str("false".into())));
    assert_eq!(c(V::Bytes(vec![0xff]), Int), None);
}

#[test]
fn hash_forms() {
    use weir_api::batch::edit::OwnedValue as V;
    let h = crate::actions::hash_value;
    assert_eq!(h(&V::Str("a".into())), sha256(b"a"));
    assert_eq!(h(&V::Bool(false)), sha256(&[0]));
    assert_eq!(h(&V::Double(1.5)), sha256(&1.5f64.to_bits().to_le_bytes()));
    assert_eq!(h(&V::Str(String::new())), "");
    assert_eq!(h(&V::Bytes(vec![1])), "");
}

#[test]
fn include_exclude() {
    let p = processor(
        "
include: {match_type: strict, services: [checkout]}
exclude: {match_type: regexp, span_names: ['^ok$']}
actions: [{key: marked, action: insert, value: true}]
",
        Signal::Traces,
    );
    for mut batch in trace_batches() {
        p.apply(&mut batch);
        let marked: Vec<bool> = all_span_attributes(&batch)
            .iter()
            .map(|a| a.iter().any(|(k, _)| k == "marked"))
            .collect();
        assert_eq!(marked, [true, false, false]);
    }
}

#[test]
fn from_context_reads_client_metadata() {
    let p = processor(
        "actions: [{key: tenant, action: upsert, from_context: metadata.x-tenant}, {key: legacy, action: insert, from_context: x-tenant}, {key: none, action: insert, from_context: metadata.absent}]",
        Signal::Traces,
    );
    for mut batch in trace_batches() {
        batch.set_metadata(ClientMetadata::from_pairs([
            ("X-Tenant", "a"),
            ("x-tenant", "b"),
        ]));
        p.apply(&mut batch);
        let spans = all_span_attributes(&batch);
        assert_eq!(
            spans[1],
            [
                ("user".to_string(), Some(s("bob"))),
                ("tenant".to_string(), Some(s("a;b"))),
                ("legacy".to_string(), Some(s("a;b"))),
            ]
        );
    }
}

fn metrics() -> Vec<ResourceMetrics> {
    let point = |attrs: Vec<KeyValue>| NumberDataPoint {
        attributes: attrs,
        value: Some(number_data_point::Value::AsInt(1)),
        ..Default::default()
    };
    let gauge = |name: &str, points| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    };
    vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                gauge(
                    "a",
                    vec![point(vec![kv("password", s("x"))]), point(vec![])],
                ),
                gauge("b", vec![point(vec![kv("password", s("y"))])]),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

#[test]
fn metrics_every_data_point_and_metric_names() {
    let bytes = ExportMetricsServiceRequest {
        resource_metrics: metrics(),
    }
    .encode_to_vec();
    let p = processor(
        "include: {match_type: strict, metric_names: [a]}\nactions: [{key: password, action: delete}, {key: env, action: insert, value: prod}]",
        Signal::Metrics,
    );
    for mut batch in [
        Batch::from_metrics(metrics()),
        Batch::from_protobuf(Signal::Metrics, Bytes::from(bytes.clone())).expect("valid"),
    ] {
        p.apply(&mut batch);
        let points: Vec<_> = batch
            .resource_metrics()
            .iter()
            .flat_map(|rm| rm.scope_metrics.iter())
            .flat_map(|sm| sm.metrics.iter())
            .flat_map(|m| match &m.data {
                Some(Data::Gauge(g)) => g.data_points.clone(),
                _ => Vec::new(),
            })
            .map(|p| pairs(&p.attributes))
            .collect();
        assert_eq!(
            points,
            [
                vec![("env".to_string(), Some(s("prod")))],
                vec![("env".to_string(), Some(s("prod")))],
                vec![("password".to_string(), Some(s("y")))],
            ]
        );
    }
}

fn check(yaml: &str) -> Vec<String> {
    let value: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    AttributesFactory
        .check(&value)
        .into_iter()
        .map(|p| format!("{}: {}", p.path.join("."), p.message))
        .collect()
}

#[test]
fn config_errors_name_the_key() {
    let one = |yaml: &str| {
        let problems = check(yaml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.into_iter().next().unwrap_or_default()
    };
    assert!(one("{}").starts_with("actions: missing required field"));
    assert!(one("actions: [{action: insert, value: 1}]").starts_with(
        "actions.0.key: error creating AttrProc due to missing required field \"key\""
    ));
    assert!(one("actions: [{key: a, action: delete, value: 1}]").starts_with("actions.0.value:"));
    assert!(one("actions: [{key: a, action: frobnicate}]")
        .contains("unsupported action \"frobnicate\" at the 0-th actions"));
    assert!(one("actions: [{key: a, action: insert}]").contains("Either field \"value\""));
    assert!(
        one("actions: [{key: a, action: upsert, value: 1, from_attribute: b}]")
            .contains("multiple value sources")
    );
    assert!(one("actions: [{key: a, action: extract, pattern: 'abc'}]")
        .contains("no named matcher groups"));
    assert!(
        one("actions: [{key: a, action: extract, pattern: '(?P<x>a)(b)'}]")
            .contains("unnamed matcher group")
    );
    assert!(
        one("actions: [{key: a, action: convert, converted_type: bool}]").starts_with(
            "actions.0.converted_type: error creating AttrProc due to invalid value \"bool\""
        )
    );
    assert!(
        one("actions: [{key: a, action: insert, from_context: client.address}]")
            .starts_with("actions.0.from_context:")
    );
    assert!(
        one("actions: [{key: a, action: HASH, pattern: '('}]").starts_with("actions.0.pattern:")
    );
    assert!(one("actions: [{key: a, action: delete, valeu: 1}]").contains("valeu"));
    assert!(
        one("{include: {span_names: [x]}, actions: [{key: a, action: delete}]}")
            .starts_with("include.span_names: unrecognized match_type")
    );
    assert!(check("actions: [{key: a, action: UPSERT, value: [1, x]}]").is_empty());

    // Per-signal rules apply at build.
    let config: AttributesConfig = serde_yaml_ng::from_str(
        "{include: {match_type: strict, services: [x]}, actions: [{key: a, action: delete}]}",
    )
    .expect("yaml");
    let err =
        AttributesProcessor::new(&config, Signal::Logs).expect_err("services are not for logs");
    assert_eq!(err.path, ["include", "services"]);
    assert!(AttributesProcessor::new(&config, Signal::Traces).is_ok());
}

#[test]
fn garbage_values_do_not_panic() {
    let p = processor(
        "actions: [{key: a, action: convert, converted_type: int}, {key: a, action: extract, pattern: '(?P<b>.)'}, {pattern: '.*', action: hash}]",
        Signal::Traces,
    );
    let mut batch = Batch::from_traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![span(
                "x",
                vec![
                    KeyValue {
                        key: "a".into(),
                        value: None,
                        ..Default::default()
                    },
                    kv("a", s("dup")),
                    kv("f", any_value::Value::DoubleValue(f64::NAN)),
                ],
            )],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.apply(&mut batch);
    assert_eq!(batch.item_count(), 1);
}

/// A direct model of the Collector's `pcommon.Map` and `AttrProc.Process`, to check the
/// overlay + recorded-ops engine against, on many random attribute lists and actions.
mod model {
    use crate::actions::{convert_value, hash_value, Action, Actions, Source};
    use weir_api::batch::edit::OwnedValue;

    pub type Map = Vec<(String, OwnedValue)>;

    fn get<'m>(m: &'m Map, k: &str) -> Option<&'m OwnedValue> {
        m.iter().find(|(key, _)| key == k).map(|(_, v)| v)
    }

    fn put(m: &mut Map, k: &str, v: OwnedValue) {
        match m.iter_mut().find(|(key, _)| key == k) {
            Some(entry) => entry.1 = v,
            None => m.push((k.to_string(), v)),
        }
    }

    fn remove(m: &mut Map, k: &str) {
        if let Some(i) = m.iter().position(|(key, _)| key == k) {
            m.remove(i);
        }
    }

    fn source(m: &Map, s: &Source) -> Option<OwnedValue> {
        match s {
            Source::Value(v) => Some(v.clone()),
            Source::Attribute(k) => get(m, k).cloned(),
            Source::Metadata(_) => None,
        }
    }

    fn matching(m: &Map, re: &Option<regex::Regex>) -> Vec<String> {
        re.as_ref().map_or(Vec::new(), |re| {
            m.iter()
                .filter(|(k, _)| re.is_match(k))
                .map(|(k, _)| k.clone())
                .collect()
        })
    }

    pub fn run(actions: &Actions, m: &mut Map) {
        for action in actions.iter() {
            match action {
                Action::Insert { key, source: s } => {
                    if let Some(v) = source(m, s) {
                        if get(m, key).is_none() {
                            put(m, key, v);
                        }
                    }
                }
                Action::Update { key, source: s } => {
                    if let Some(v) = source(m, s) {
                        if get(m, key).is_some() {
                            put(m, key, v);
                        }
                    }
                }
                Action::Upsert { key, source: s } => {
                    if let Some(v) = source(m, s) {
                        put(m, key, v);
                    }
                }
                Action::Delete { key, pattern } => {
                    remove(m, key);
                    for k in matching(m, pattern) {
                        remove(m, &k);
                    }
                }
                Action::Hash { key, pattern } => {
                    let mut keys = vec![key.clone()];
                    keys.extend(matching(m, pattern));
                    for k in keys {
                        if let Some(v) = get(m, &k).cloned() {
                            put(m, &k, OwnedValue::Str(hash_value(&v)));
                        }
                    }
                }
                Action::Extract {
                    key,
                    pattern,
                    names,
                } => {
                    if let Some(OwnedValue::Str(text)) = get(m, key).cloned() {
                        if let Some(c) = pattern.captures(&text) {
                            for (i, name) in names.iter().enumerate() {
                                let g = c.get(i + 1).map_or("", |g| g.as_str());
                                put(m, name, OwnedValue::Str(g.to_string()));
                            }
                        }
                    }
                }
                Action::Convert { key, to } => {
                    if let Some(v) = get(m, key).cloned() {
                        if let Some(c) = convert_value(v, *to) {
                            put(m, key, c);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn engine_agrees_with_a_direct_model() {
    use weir_api::batch::edit::OwnedValue;
    let keys = ["a", "b", "c", "d"];
    let action_pool = [
        "{key: a, action: delete}",
        "{key: b, action: insert, value: 1}",
        "{key: c, action: upsert, from_attribute: a}",
        "{key: d, action: update, value: x}",
        "{key: a, action: insert, from_attribute: d}",
        "{pattern: '^[bc]$', action: delete}",
        "{key: a, pattern: 'd', action: hash}",
        "{key: a, action: extract, pattern: '(?P<b>.)(?P<d>z)?'}",
        "{key: b, action: convert, converted_type: string}",
        "{key: c, action: convert, converted_type: int}",
        "{key: d, action: convert, converted_type: double}",
        "{key: b, action: upsert, value: 1}",
        "{key: a, action: upsert, value: '12'}",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut changed_cases = 0;
    for _ in 0..400 {
        let mut attrs = Vec::new();
        let mut map: model::Map = Vec::new();
        for key in keys {
            if next(3) == 0 {
                continue;
            }
            let (value, owned) = match next(4) {
                0 => (s("7"), OwnedValue::Str("7".into())),
                1 => (int(3), OwnedValue::Int(3)),
                2 => (any_value::Value::DoubleValue(2.5), OwnedValue::Double(2.5)),
                _ => (s("xz"), OwnedValue::Str("xz".into())),
            };
            attrs.push(kv(key, value));
            map.push((key.to_string(), owned));
        }
        let chosen: Vec<&str> = (0..1 + next(5))
            .map(|_| action_pool[next(action_pool.len())])
            .collect();
        let yaml = format!("actions: [{}]", chosen.join(", "));
        let p = processor(&yaml, Signal::Traces);
        let original = map.clone();
        model::run(&p.actions, &mut map);
        changed_cases += usize::from(map != original);
        let expected = map;
        let spans = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span("x", attrs)],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let bytes = ExportTraceServiceRequest {
            resource_spans: spans.clone(),
        }
        .encode_to_vec();
        for mut batch in [
            Batch::from_traces(spans.clone()),
            Batch::from_protobuf(Signal::Traces, Bytes::from(bytes)).expect("valid"),
        ] {
            p.apply(&mut batch);
            let got: Vec<(String, OwnedValue)> = batch
                .spans()
                .flat_map(|(_, _, sp)| {
                    sp.attributes()
                        .iter()
                        .map(|(k, v)| (k.to_string(), OwnedValue::from(v)))
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(got, expected, "actions: {yaml}");
        }
    }
    assert!(
        changed_cases > 200,
        "only {changed_cases} cases changed anything"
    );
}
