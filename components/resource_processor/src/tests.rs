use bytes::Bytes;
use prost::Message;
use weir_api::{Batch, ClientMetadata, ProcessorFactory, Signal, Value};
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::{ResourceConfig, ResourceFactory, ResourceProcessor};

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(s(value)),
        }),
        ..Default::default()
    }
}

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

fn pairs(r: &Option<Resource>) -> Vec<(String, Option<any_value::Value>)> {
    r.iter()
        .flat_map(|r| r.attributes.iter())
        .map(|kv| (kv.key.clone(), kv.value.clone().and_then(|v| v.value)))
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn processor(yaml: &str) -> ResourceProcessor {
    let config: ResourceConfig = serde_yaml_ng::from_str(yaml).expect("yaml");
    ResourceProcessor::new(&config).expect("valid")
}

const ACTIONS: &str = "
attributes:
  - {key: deployment.environment, value: prod, action: upsert}
  - {key: host.name, action: hash}
  - {key: secret, action: delete}
  - {key: tenant, from_context: metadata.x-tenant, action: insert}
";

fn traces() -> Vec<ResourceSpans> {
    let spans = vec![ScopeSpans {
        spans: vec![Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "s".into(),
            ..Default::default()
        }],
        ..Default::default()
    }];
    vec![
        ResourceSpans {
            resource: resource(vec![kv("host.name", "h1"), kv("secret", "x")]),
            scope_spans: spans.clone(),
            ..Default::default()
        },
        ResourceSpans {
            resource: None,
            scope_spans: spans,
            ..Default::default()
        },
    ]
}

#[test]
fn traces_both_forms() {
    let bytes = ExportTraceServiceRequest {
        resource_spans: traces(),
    }
    .encode_to_vec();
    let p = processor(ACTIONS);
    for mut batch in [
        Batch::from_traces(traces()),
        Batch::from_protobuf(Signal::Traces, Bytes::from(bytes.clone())).expect("valid"),
    ] {
        batch.set_metadata(ClientMetadata::from_pairs([("x-tenant", "t1")]));
        p.apply(&mut batch);
        let rs = batch.resource_spans();
        assert_eq!(
            pairs(&rs[0].resource),
            [
                ("host.name".to_string(), Some(s(&sha256(b"h1")))),
                ("deployment.environment".to_string(), Some(s("prod"))),
                ("tenant".to_string(), Some(s("t1"))),
            ]
        );
        assert_eq!(
            pairs(&rs[1].resource),
            [
                ("deployment.environment".to_string(), Some(s("prod"))),
                ("tenant".to_string(), Some(s("t1"))),
            ]
        );
        assert_eq!(rs[0].scope_spans, traces()[0].scope_spans);
        assert_eq!(batch.item_count(), 2);
    }
}

#[test]
fn logs_and_metrics() {
    let logs = vec![ResourceLogs {
        resource: resource(vec![kv("secret", "x")]),
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord::default()],
            ..Default::default()
        }],
        ..Default::default()
    }];
    let metrics = vec![ResourceMetrics {
        resource: resource(vec![kv("deployment.environment", "dev")]),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "m".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }];
    let p = processor(ACTIONS);
    let log_bytes = ExportLogsServiceRequest {
        resource_logs: logs.clone(),
    }
    .encode_to_vec();
    for mut batch in [
        Batch::from_logs(logs.clone()),
        Batch::from_protobuf(Signal::Logs, Bytes::from(log_bytes.clone())).expect("valid"),
    ] {
        p.apply(&mut batch);
        let rl = batch.resource_logs();
        assert_eq!(
            pairs(&rl[0].resource),
            [("deployment.environment".to_string(), Some(s("prod")))]
        );
        assert_eq!(rl[0].scope_logs, logs[0].scope_logs);
    }
    let metric_bytes = ExportMetricsServiceRequest {
        resource_metrics: metrics.clone(),
    }
    .encode_to_vec();
    for mut batch in [
        Batch::from_metrics(metrics.clone()),
        Batch::from_protobuf(Signal::Metrics, Bytes::from(metric_bytes.clone())).expect("valid"),
    ] {
        p.apply(&mut batch);
        let rm = batch.resource_metrics();
        assert_eq!(
            pairs(&rm[0].resource),
            [("deployment.environment".to_string(), Some(s("prod")))]
        );
    }
}

#[test]
fn unchanged_resources_keep_their_bytes() {
    let bytes = ExportTraceServiceRequest {
        resource_spans: traces(),
    }
    .encode_to_vec();
    let p = processor("attributes: [{key: absent, action: delete}, {key: host.name, action: insert, value: other}]");
    let mut batch =
        Batch::from_protobuf(Signal::Traces, Bytes::from(bytes.clone())).expect("valid");
    // The second resource has no host.name: it gains one; the first stays as received.
    p.apply(&mut batch);
    let first = ExportTraceServiceRequest {
        resource_spans: vec![traces()[0].clone()],
    }
    .encode_to_vec();
    assert!(batch.encode_protobuf().starts_with(&first));

    let noop =
        processor("attributes: [{key: absent, action: delete}, {key: absent, action: hash}]");
    let mut batch =
        Batch::from_protobuf(Signal::Traces, Bytes::from(bytes.clone())).expect("valid");
    noop.apply(&mut batch);
    assert_eq!(batch.encode_protobuf(), bytes);
}

#[test]
fn config_errors() {
    let check = |yaml: &str| -> Vec<String> {
        let value: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        ResourceFactory
            .check(&value)
            .into_iter()
            .map(|p| format!("{}: {}", p.path.join("."), p.message))
            .collect()
    };
    assert_eq!(
        check("{}"),
        ["attributes: missing required field \"attributes\""]
    );
    let problems = check("attributes: [{key: a, action: delete, value: 1}]");
    assert!(
        problems[0].starts_with("attributes.0.value:"),
        "{problems:?}"
    );
    let problems = check("attributes: [{key: a, action: upsert}]");
    assert!(problems[0].contains("Either field"), "{problems:?}");
    let problems = check("actions: [{key: a, action: upsert, value: 1}]");
    assert!(problems[0].contains("actions"), "{problems:?}");
    assert!(check("attributes: [{key: a, action: UPSERT, value: 1}]").is_empty());
}
