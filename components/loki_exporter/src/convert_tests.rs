//! Conversion tests: labels from hints and from the explicit map, sanitizing, line
//! formats, tenants and their precedence, order within a stream. Every case runs on both
//! batch forms (decoded structs and received wire bytes).

use bytes::Bytes;
use prost::Message;
use serde_json::{json, Value as Json};
use weir_api::{Batch, ClientMetadata, Signal};
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue, KeyValueList};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::resource::v1::Resource;

use crate::config::Config;
use crate::convert::{convert, Converted, Settings};

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| kv(k, s(v))).collect()
}

fn record(time: u64, body: &str, attributes: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        body: Some(s(body)),
        attributes,
        ..Default::default()
    }
}

fn resource_logs(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> ResourceLogs {
    ResourceLogs {
        resource: Some(Resource {
            attributes: resource,
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            scope: Some(InstrumentationScope {
                name: "app".into(),
                version: "1.0".into(),
                ..Default::default()
            }),
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn config(yaml: &str) -> Config {
    let value: weir_api::Value = serde_yaml_ng::from_str(yaml).unwrap();
    weir_api::config::parse(&value).unwrap()
}

/// Converts on both forms and checks they agree; returns one.
fn run(yaml: &str, resources: Vec<ResourceLogs>, metadata: &[(&str, &str)]) -> Converted {
    let settings = Settings::new(&config(yaml));
    let metadata = ClientMetadata::from_pairs(metadata.iter().copied());
    let mut owned = Batch::from_logs(resources.clone());
    owned.set_metadata(metadata.clone());
    let bytes = ExportLogsServiceRequest {
        resource_logs: resources,
    }
    .encode_to_vec();
    let mut wire = Batch::from_protobuf(Signal::Logs, Bytes::from(bytes)).unwrap();
    wire.set_metadata(metadata);
    let a = convert(&owned, &settings, 42).unwrap();
    let b = convert(&wire, &settings, 42).unwrap();
    assert_eq!(a.tenants, b.tenants);
    assert_eq!(
        (a.missing_labels, a.invalid_format),
        (b.missing_labels, b.invalid_format)
    );
    a
}

fn only_stream(c: &Converted) -> &crate::convert::Stream {
    assert_eq!(c.tenants.len(), 1, "{:?}", c.tenants);
    assert_eq!(c.tenants[0].streams.len(), 1, "{:?}", c.tenants[0].streams);
    &c.tenants[0].streams[0]
}

fn labels(pairs: &[(&str, &str)]) -> crate::labels::LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn default_labels_and_hints_like_the_collector() {
    let mut r = record(
        10,
        "paid",
        attrs(&[
            ("loki.attribute.labels", "http.method, event.domain"),
            ("http.method", "GET"),
            ("event.domain", "shop"),
            ("user", "ann"),
        ]),
    );
    r.severity_number = 13;
    r.severity_text = "WARN".into();
    let c = run(
        "endpoint: http://l/p",
        vec![resource_logs(
            attrs(&[
                ("service.name", "cart"),
                ("service.namespace", "shop"),
                ("service.instance.id", "i-1"),
                ("loki.resource.labels", "k8s.pod.name"),
                ("k8s.pod.name", "cart-0"),
                ("host.name", "h1"),
            ]),
            vec![r],
        )],
        &[],
    );
    let stream = only_stream(&c);
    assert_eq!(
        stream.labels,
        labels(&[
            ("exporter", "OTLP"),
            ("job", "shop/cart"),
            ("instance", "i-1"),
            ("k8s_pod_name", "cart-0"),
            ("http_method", "GET"),
            ("event_domain", "shop"),
            ("level", "WARN"),
        ])
    );
    let line: Json = serde_json::from_str(&stream.entries[0].line).unwrap();
    // Promoted attributes and the hints leave the line; the rest stays.
    assert_eq!(
        line,
        json!({
            "body": "paid",
            "severity": "WARN",
            "attributes": {"user": "ann"},
            "resources": {"host.name": "h1", "service.name": "cart",
                          "service.namespace": "shop", "service.instance.id": "i-1"},
            "instrumentation_scope": {"name": "app", "version": "1.0"}
        })
    );
}

#[test]
fn default_labels_can_be_disabled_and_no_label_means_dropped() {
    let c = run(
        "{endpoint: 'http://l/p', default_labels_enabled: {exporter: false, job: false}}",
        vec![resource_logs(
            attrs(&[("service.name", "cart")]),
            vec![record(1, "x", vec![])],
        )],
        &[],
    );
    assert!(c.tenants.is_empty());
    assert_eq!(c.missing_labels, 1);
}

#[test]
fn hints_as_arrays_and_nested_attributes() {
    let array = AnyValue {
        value: Some(any_value::Value::ArrayValue(
            weir_proto::common::v1::ArrayValue {
                values: vec![s("k8s.labels.app"), s("zone")],
            },
        )),
    };
    let nested = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![kv(
                "labels",
                AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: vec![kv("app", s("web"))],
                    })),
                },
            )],
        })),
    };
    let c = run(
        "{endpoint: 'http://l/p', default_labels_enabled: {exporter: false}}",
        vec![resource_logs(
            vec![
                kv("loki.resource.labels", array),
                kv("k8s", nested),
                kv("zone", s("eu-1")),
            ],
            vec![record(1, "x", vec![])],
        )],
        &[],
    );
    assert_eq!(
        only_stream(&c).labels,
        labels(&[("k8s_labels_app", "web"), ("zone", "eu-1")])
    );
}

#[test]
fn the_explicit_map_names_labels_and_record_fields() {
    let mut r = record(
        5,
        "hello",
        attrs(&[("container.name", "api"), ("path", "/a")]),
    );
    r.trace_id = vec![0xab; 16];
    r.span_id = vec![0xcd; 8];
    r.severity_text = "ERROR".into();
    r.severity_number = 17;
    let c = run(
        r#"
endpoint: http://l/p
default_labels_enabled: {exporter: false, job: false, instance: false, level: false}
labels:
  attributes: {container.name: container_name}
  resource: {k8s.cluster.name: cluster}
  record: {traceID: traceid, severity: level, severityN: severity_number}
structured_metadata:
  record: {spanID: span_id}
  attributes: {path: ""}
"#,
        vec![resource_logs(
            attrs(&[("k8s.cluster.name", "prod"), ("service.name", "api")]),
            vec![r],
        )],
        &[],
    );
    let stream = only_stream(&c);
    assert_eq!(
        stream.labels,
        labels(&[
            ("container_name", "api"),
            ("cluster", "prod"),
            ("traceid", &"ab".repeat(16)),
            ("level", "ERROR"),
            ("severity_number", "Error"),
        ])
    );
    let entry = &stream.entries[0];
    assert_eq!(
        entry.metadata,
        vec![
            ("path".to_string(), "/a".to_string()),
            ("span_id".to_string(), "cd".repeat(8))
        ]
    );
    let line: Json = serde_json::from_str(&entry.line).unwrap();
    assert_eq!(
        line,
        json!({"body": "hello", "resources": {"service.name": "api"},
               "instrumentation_scope": {"name": "app", "version": "1.0"}})
    );
}

#[test]
fn logfmt_and_raw_lines_from_the_format_hint() {
    let mut r = record(
        1,
        "user=ann action=\"log in\"",
        attrs(&[("loki.format", "logfmt"), ("tries", "2")]),
    );
    r.attributes.push(kv(
        "n",
        AnyValue {
            value: Some(any_value::Value::IntValue(7)),
        },
    ));
    r.trace_id = vec![1; 16];
    r.severity_text = "INFO".into();
    let plain = record(2, "two words", attrs(&[("loki.format", "logfmt")]));
    let raw = record(3, "as is = fine", attrs(&[("loki.format", "raw")]));
    let bad = record(4, "x", attrs(&[("loki.format", "xml")]));
    let c = run(
        "endpoint: http://l/p",
        vec![resource_logs(
            attrs(&[("service.name", "web"), ("host.name", "h 1")]),
            vec![r, plain, raw, bad],
        )],
        &[],
    );
    assert_eq!(c.invalid_format, 1);
    let entries = &only_stream(&c).entries;
    assert_eq!(
        entries[0].line,
        format!(
            "user=ann action=\"log in\" traceID={} severity=INFO attribute_tries=2 attribute_n=7 \
             resource_service.name=web resource_host.name=\"h 1\" instrumentation_scope_name=app \
             instrumentation_scope_version=1.0",
            "01".repeat(16)
        )
    );
    assert!(
        entries[1]
            .line
            .starts_with("msg=\"two words\" resource_service.name=web"),
        "{}",
        entries[1].line
    );
    assert_eq!(entries[2].line, "as is = fine");
}

#[test]
fn format_default_from_config_and_resource_hint_wins() {
    let c = run(
        "{endpoint: 'http://l/p', format: raw}",
        vec![
            resource_logs(
                attrs(&[("service.name", "a")]),
                vec![record(1, "raw body", vec![])],
            ),
            resource_logs(
                attrs(&[("service.name", "b"), ("loki.format", "json")]),
                vec![record(1, "json body", attrs(&[("loki.format", "raw")]))],
            ),
        ],
        &[],
    );
    let streams = &c.tenants[0].streams;
    assert_eq!(streams[0].entries[0].line, "raw body");
    assert!(streams[1].entries[0]
        .line
        .starts_with("{\"body\":\"json body\""));
}

#[test]
fn entries_of_a_stream_are_sorted_by_time_and_streams_split_by_labels() {
    let c = run(
        "endpoint: http://l/p",
        vec![
            resource_logs(
                attrs(&[("service.name", "a")]),
                vec![
                    record(30, "third", vec![]),
                    record(10, "first", vec![]),
                    record(0, "no time", vec![]),
                    record(20, "second", vec![]),
                    record(20, "second bis", vec![]),
                ],
            ),
            resource_logs(
                attrs(&[("service.name", "b")]),
                vec![record(5, "b1", vec![])],
            ),
            resource_logs(
                attrs(&[("service.name", "a")]),
                vec![record(15, "between", vec![])],
            ),
        ],
        &[],
    );
    let streams = &c.tenants[0].streams;
    assert_eq!(streams.len(), 2);
    let lines = |i: usize| -> Vec<(u64, String)> {
        streams[i]
            .entries
            .iter()
            .map(|e| {
                let json: Json = serde_json::from_str(&e.line).unwrap();
                (e.nanos, json["body"].as_str().unwrap().to_string())
            })
            .collect()
    };
    assert_eq!(
        lines(0),
        vec![
            (10, "first".into()),
            (15, "between".into()),
            (20, "second".into()),
            (20, "second bis".into()),
            (30, "third".into()),
            (42, "no time".into()),
        ]
    );
    assert_eq!(lines(1), vec![(5, "b1".into())]);
    assert_eq!(c.tenants[0].entries, 7);
}

#[test]
fn observed_time_is_used_without_a_time() {
    let mut r = record(0, "x", vec![]);
    r.observed_time_unix_nano = 99;
    let c = run(
        "endpoint: http://l/p",
        vec![resource_logs(attrs(&[("service.name", "a")]), vec![r])],
        &[],
    );
    assert_eq!(only_stream(&c).entries[0].nanos, 99);
}

fn tenants(c: &Converted) -> Vec<(String, usize)> {
    c.tenants
        .iter()
        .map(|t| (t.tenant.clone(), t.entries))
        .collect()
}

#[test]
fn tenant_from_attributes_wins_over_static() {
    let resources = vec![
        resource_logs(
            attrs(&[("service.name", "a"), ("tenant.id", "acme")]),
            vec![record(1, "x", vec![]), record(2, "y", vec![])],
        ),
        resource_logs(
            attrs(&[("service.name", "b")]),
            vec![
                record(1, "x", attrs(&[("tenant.id", "globex")])),
                record(1, "z", vec![]),
            ],
        ),
    ];
    let yaml = "{endpoint: 'http://l/p', tenant: {source: attributes, value: tenant.id}, \
                headers: {X-Scope-OrgID: fallback}}";
    let c = run(yaml, resources.clone(), &[]);
    assert_eq!(
        tenants(&c),
        [
            ("acme".to_string(), 2),
            ("fallback".to_string(), 1),
            ("globex".to_string(), 1)
        ]
    );
    // Without a fallback, records without the attribute go without a tenant.
    let c = run(
        "{endpoint: 'http://l/p', tenant: {source: attributes, value: tenant.id}}",
        resources,
        &[],
    );
    assert_eq!(c.tenants[0].tenant, "");
}

#[test]
fn tenant_hint_static_and_context_sources() {
    let resources = vec![
        resource_logs(
            attrs(&[
                ("service.name", "a"),
                ("loki.tenant", "host.name"),
                ("host.name", "h1"),
            ]),
            vec![record(1, "x", vec![])],
        ),
        resource_logs(
            attrs(&[("service.name", "b")]),
            vec![record(1, "y", vec![])],
        ),
    ];
    let c = run(
        "{endpoint: 'http://l/p', tenant: {source: static, value: team}}",
        resources.clone(),
        &[],
    );
    assert_eq!(
        tenants(&c),
        [("h1".to_string(), 1), ("team".to_string(), 1)]
    );
    let c = run(
        "{endpoint: 'http://l/p', tenant_id: legacy}",
        resources.clone(),
        &[],
    );
    assert_eq!(c.tenants[1].tenant, "legacy");
    let context = "{endpoint: 'http://l/p', tenant: {source: context, value: x-tenant}}";
    let c = run(context, resources.clone(), &[("X-Tenant", "from-request")]);
    assert_eq!(
        tenants(&c),
        [("from-request".to_string(), 1), ("h1".to_string(), 1)]
    );
    // Several values for the key: the Collector refuses the batch.
    let settings = Settings::new(&config(context));
    let mut batch = Batch::from_logs(resources);
    batch.set_metadata(ClientMetadata::from_pairs([
        ("x-tenant", "a"),
        ("x-tenant", "b"),
    ]));
    assert!(convert(&batch, &settings, 0)
        .unwrap_err()
        .contains("2 tenant values"));
}

#[test]
fn label_values_of_every_type_and_sanitized_names() {
    let c = run(
        "{endpoint: 'http://l/p', default_labels_enabled: {exporter: false}}",
        vec![resource_logs(
            vec![
                kv("loki.resource.labels", s("2xx.count,_tmp,ok")),
                kv(
                    "2xx.count",
                    AnyValue {
                        value: Some(any_value::Value::IntValue(3)),
                    },
                ),
                kv(
                    "_tmp",
                    AnyValue {
                        value: Some(any_value::Value::DoubleValue(1.5)),
                    },
                ),
                kv(
                    "ok",
                    AnyValue {
                        value: Some(any_value::Value::BoolValue(true)),
                    },
                ),
            ],
            vec![record(1, "x", vec![])],
        )],
        &[],
    );
    assert_eq!(
        only_stream(&c).labels,
        labels(&[("key_2xx_count", "3"), ("key_tmp", "1.5"), ("ok", "true")])
    );
}
