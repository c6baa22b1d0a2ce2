//! The exporter through its factory, and the rendered text for each verbosity.

use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ComponentId};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
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

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", "checkout")],
        ..Default::default()
    })
}

fn traces() -> Batch {
    Batch::from_traces(vec![ResourceSpans {
        resource: resource(),
        scope_spans: vec![ScopeSpans {
            spans: vec![
                Span {
                    name: "GET /cart".into(),
                    trace_id: vec![0xab; 16],
                    span_id: vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
                    attributes: vec![kv("http.method", "GET"), kv("user.email", "a@b.c")],
                    ..Default::default()
                },
                Span {
                    name: "db".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn metrics() -> Batch {
    let point = |value| NumberDataPoint {
        attributes: vec![kv("cpu", "0")],
        value: Some(value),
        ..Default::default()
    };
    Batch::from_metrics(vec![ResourceMetrics {
        resource: resource(),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                Metric {
                    name: "load".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![
                            point(number_data_point::Value::AsDouble(0.5)),
                            point(number_data_point::Value::AsInt(7)),
                        ],
                    })),
                    ..Default::default()
                },
                Metric {
                    name: "latency".into(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            count: 3,
                            sum: Some(1.5),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn logs() -> Batch {
    Batch::from_logs(vec![ResourceLogs {
        resource: resource(),
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord {
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("payment failed".into())),
                }),
                attributes: vec![kv("order", "42")],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn build(config: &str) -> (BuiltExporter, Telemetry) {
    let telemetry = Telemetry::new();
    let ctx = BuildContext {
        id: ComponentId::new("debug", None),
        telemetry: telemetry.clone(),
    };
    (factory().build(ctx, &yaml(config)).unwrap(), telemetry)
}

#[tokio::test]
async fn export_never_fails_for_any_signal_or_verbosity() {
    for config in [
        "verbosity: basic",
        "verbosity: normal",
        "verbosity: detailed",
        "verbosity: detailed\nuse_internal_logger: false",
        "verbosity: normal\nuse_internal_logger: false\noutput_paths: [stderr]",
    ] {
        let (built, _) = build(config);
        for batch in [traces(), metrics(), logs(), Batch::empty(Signal::Logs)] {
            let mut request = built.exporter.prepare(batch).unwrap();
            assert_eq!(request.send().await, Ok(()), "{config}");
        }
    }
}

#[tokio::test]
async fn sampling_skips_writes_and_counts_them() {
    let (built, telemetry) = build("sampling_initial: 1\nsampling_thereafter: 0");
    for _ in 0..3 {
        let mut request = built.exporter.prepare(traces()).unwrap();
        assert_eq!(request.send().await, Ok(()));
    }
    let text = telemetry.encode();
    assert!(
        text.contains(
            "weir_debug_exporter_sampled_out_batches_total{exporter=\"debug\",otel_signal=\"traces\"} 2"
        ),
        "{text}"
    );
}

#[test]
fn basic_summary_counts() {
    assert_eq!(
        Summary::of(&traces()).to_string(),
        "Traces {\"resource spans\": 1, \"spans\": 2}"
    );
    assert_eq!(
        Summary::of(&metrics()).to_string(),
        "Metrics {\"resource metrics\": 1, \"metrics\": 2, \"data points\": 3}"
    );
    assert_eq!(
        Summary::of(&logs()).to_string(),
        "Logs {\"resource logs\": 1, \"log records\": 1}"
    );
}

#[test]
fn normal_is_one_line_per_item() {
    let output = OutputSettings::default();
    let text = normal(&traces(), &output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "ResourceSpans #0 service.name=checkout");
    assert_eq!(
        lines[1],
        format!(
            "GET /cart {} 0102030405060708 http.method=GET user.email=a@b.c",
            "ab".repeat(16)
        )
    );

    let text = normal(&metrics(), &output);
    assert!(text.contains("load{cpu=0} 0.5"), "{text}");
    assert!(text.contains("load{cpu=0} 7"), "{text}");
    assert!(text.contains("latency{} count=3 sum=1.5"), "{text}");

    let text = normal(&logs(), &output);
    assert!(text.contains("payment failed order=42"), "{text}");
}

#[test]
fn detailed_is_indented_json_with_hex_ids() {
    let text = detailed(&traces(), &OutputSettings::default());
    assert!(text.starts_with("ResourceSpans #0\n    {"), "{text}");
    assert!(text.contains(&"ab".repeat(16)), "trace id in hex: {text}");
    assert!(text.contains("user.email"), "{text}");
    assert!(detailed(&metrics(), &OutputSettings::default()).contains("\"latency\""));
    assert!(detailed(&logs(), &OutputSettings::default()).contains("payment failed"));
}

#[test]
fn output_settings_hide_parts_and_attributes() {
    let config = weir_api::config::parse_valid::<DebugConfig>(&yaml(
        "output:\n  record:\n    attributes:\n      exclude: [user.email]\n  resource:\n    enabled: false",
    ))
    .unwrap();
    let original = traces();
    let text = detailed(&original, &config.output);
    assert!(!text.contains("user.email"), "{text}");
    assert!(text.contains("http.method"), "{text}");
    assert!(!text.contains("checkout"), "resource hidden: {text}");
    assert_eq!(
        original.resource_spans()[0].scope_spans[0].spans[0]
            .attributes
            .len(),
        2,
        "the batch itself is untouched"
    );
    let text = normal(&original, &config.output);
    assert!(
        !text.contains("user.email") && !text.contains("ResourceSpans"),
        "{text}"
    );
}

#[test]
fn config_defaults_and_engine_settings() {
    let config = weir_api::config::parse_valid::<DebugConfig>(&Value::Null).unwrap();
    assert_eq!(config.verbosity, Verbosity::Basic);
    assert_eq!(
        (config.sampling_initial, config.sampling_thereafter),
        (2, 1)
    );
    assert!(config.use_internal_logger);

    let (built, _) = build("");
    assert!(
        !built.settings.queue.enabled,
        "no sending_queue key: synchronous"
    );
    assert!(!built.settings.retry.enabled);

    let (built, _) = build("sending_queue:\n  queue_size: 10\n  num_consumers: 2");
    assert!(built.settings.queue.enabled);
    assert_eq!(built.settings.queue.queue_size, 10);
    assert_eq!(built.settings.queue.num_consumers, 2);
    assert_eq!(factory().info().stability, Stability::Development);
}

#[test]
fn config_problems_name_the_key() {
    let problems = factory().check(&yaml("verbosity: detaled"));
    assert_eq!(problems[0].path, ["verbosity"]);
    assert!(
        problems[0].message.contains("detailed"),
        "{}",
        problems[0].message
    );

    let problems = factory().check(&yaml("sampling_inital: 3"));
    assert_eq!(problems[0].path, ["sampling_inital"]);
    assert_eq!(problems[0].suggestion.as_deref(), Some("sampling_initial"));

    let problems = factory().check(&yaml("sending_queue:\n  queue_sise: 3"));
    assert_eq!(problems[0].path, ["sending_queue", "queue_sise"]);

    let problems = factory().check(&yaml("timeout: 5s"));
    assert_eq!(
        problems[0].path,
        ["timeout"],
        "not a key of the Collector's debug exporter"
    );

    let problems = factory().check(&yaml(
        "output:\n  scope:\n    attributes:\n      include: [a]\n      exclude: [b]",
    ));
    assert_eq!(problems[0].path, ["output", "scope", "attributes"]);

    let problems = factory().check(&yaml(
        "use_internal_logger: false\noutput_paths: [/tmp/x.log]",
    ));
    assert_eq!(problems[0].path, ["output_paths", "0"]);

    let ctx = BuildContext {
        id: ComponentId::new("debug", None),
        telemetry: Telemetry::new(),
    };
    let err = factory()
        .build(ctx, &yaml("verbosity: loud"))
        .err()
        .expect("invalid");
    assert!(err.0.starts_with("verbosity: "), "{err}");
}

/// The same batch as it arrives from an OTLP receiver: wire bytes, read lazily.
fn received(batch: &Batch) -> Batch {
    Batch::decode_protobuf(batch.signal(), &batch.encode_protobuf()).unwrap()
}

fn output(text: &str) -> OutputSettings {
    weir_api::config::parse_valid::<DebugConfig>(&yaml(text))
        .unwrap()
        .output
}

#[test]
fn received_batches_render_as_decoded_ones() {
    let hide = output("output:\n  record:\n    attributes:\n      include: [http.method]");
    for batch in [traces(), metrics(), logs()] {
        let wire = received(&batch);
        for output in [OutputSettings::default(), hide.clone()] {
            assert_eq!(normal(&wire, &output), normal(&batch, &output));
            assert_eq!(detailed(&wire, &output), detailed(&batch, &output));
        }
        assert_eq!(Summary::of(&wire), Summary::of(&batch));
    }
}

#[test]
fn detailed_filters_attributes_of_every_part_and_point() {
    let mut batch = metrics();
    batch.edit_scopes(|edit| {
        edit.set_name("meter");
        edit.attributes().insert("scope.secret", "s");
        edit.attributes().insert("scope.kept", "k");
        true
    });
    let hide = output(
        "output:\n  record:\n    attributes:\n      exclude: [cpu]\n  scope:\n    attributes:\n      include: [scope.kept]\n  resource:\n    attributes:\n      enabled: false",
    );
    for batch in [batch.clone(), received(&batch)] {
        let text = detailed(&batch, &hide);
        assert!(!text.contains("\"cpu\""), "point attribute hidden: {text}");
        assert!(
            !text.contains("service.name"),
            "resource attributes off: {text}"
        );
        assert!(!text.contains("scope.secret"), "not included: {text}");
        assert!(
            text.contains("scope.kept") && text.contains("\"meter\""),
            "{text}"
        );
        assert!(
            text.contains("\"load\"") && text.contains("\"latency\""),
            "{text}"
        );
        assert_eq!(batch.item_count(), 3, "the batch itself is untouched");
    }
    let text = normal(&batch, &hide);
    assert!(text.contains("load{} 0.5"), "{text}");
    assert!(text.starts_with("ResourceMetrics #0\n"), "{text}");
}

#[test]
fn hidden_records_leave_resources_and_scopes_shown() {
    let hide = output("output:\n  record:\n    enabled: false\n  scope:\n    enabled: false");
    for batch in [logs(), received(&logs())] {
        let text = detailed(&batch, &hide);
        assert!(text.starts_with("ResourceLogs #0\n"), "{text}");
        assert!(text.contains("checkout"), "resource still shown: {text}");
        assert!(
            text.contains("\"scopeLogs\""),
            "scopes still listed: {text}"
        );
        assert!(
            !text.contains("payment failed") && !text.contains("logRecords"),
            "{text}"
        );
        assert_eq!(
            normal(&batch, &hide),
            "ResourceLog #0 service.name=checkout"
        );
    }
    let text = detailed(&traces(), &hide);
    assert!(
        text.contains("checkout") && !text.contains("GET /cart"),
        "{text}"
    );
}

#[test]
fn filters_hiding_nothing_leave_empty_scopes_and_resources_shown() {
    let batch = Batch::from_traces(vec![
        ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans::default()],
            ..Default::default()
        },
        ResourceSpans {
            resource: resource(),
            ..Default::default()
        },
    ]);
    let all = detailed(&batch, &OutputSettings::default());
    assert!(all.contains("ResourceSpans #1"), "{all}");
    for part in ["record", "scope", "resource"] {
        let hide = output(&format!(
            "output:\n  {part}:\n    attributes:\n      exclude: [absent]"
        ));
        assert_eq!(detailed(&batch, &hide), all, "{part}");
    }
}

#[tokio::test]
async fn prepare_renders_once_and_send_can_repeat() {
    let (built, _) = build("verbosity: detailed\nsampling_initial: 1\nsampling_thereafter: 0");
    let mut request = built.exporter.prepare(traces()).unwrap();
    assert_eq!(request.items(), 2);
    let len = request.encoded_len();
    assert!(
        len > Summary::of(&traces()).to_string().len(),
        "the summary and the detailed body: {len}"
    );
    // A second attempt writes the same text again; nothing is rendered anew.
    assert_eq!(request.send().await, Ok(()));
    assert_eq!(request.send().await, Ok(()));
    assert_eq!(request.encoded_len(), len);

    // Sampled out: the request carries the items and no text.
    let mut skipped = built.exporter.prepare(traces()).unwrap();
    assert_eq!((skipped.items(), skipped.encoded_len()), (2, 0));
    assert_eq!(skipped.send().await, Ok(()));
}
