use std::path::PathBuf;

use serde_json::{json, Map, Value};
use weir_proto::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use weir_proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use weir_proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use super::{decode, encode};
use crate::{Batch, Signal};

/// The OTLP conformance examples, vendored in `tests/conformance/otlp/examples`.
fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/otlp/examples")
}

fn examples() -> Vec<(Signal, &'static str, usize, Vec<u8>)> {
    [
        (Signal::Traces, "trace.json", 1),
        (Signal::Metrics, "metrics.json", 4),
        (Signal::Logs, "logs.json", 1),
        (Signal::Logs, "events.json", 1),
    ]
    .into_iter()
    .map(|(signal, name, items)| {
        let path = examples_dir().join(name);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        (signal, name, items, bytes)
    })
    .collect()
}

/// Keys whose values are 64-bit integers (strings on the wire, numbers accepted).
const INT64_KEYS: &[&str] = &[
    "startTimeUnixNano",
    "endTimeUnixNano",
    "timeUnixNano",
    "observedTimeUnixNano",
    "count",
    "zeroCount",
    "intValue",
    "asInt",
    "bucketCounts",
];

/// Makes two OTLP/JSON documents comparable field by field: numbers and numeric strings
/// compare by value, hex ids ignore case, and default values equal absent fields.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let v = if ["traceId", "spanId", "parentSpanId"].contains(&key.as_str()) {
                    Value::String(v.as_str().unwrap_or_default().to_ascii_lowercase())
                } else {
                    normalise(v)
                };
                let is_default = match &v {
                    Value::Null => true,
                    Value::Bool(b) => !b,
                    Value::String(s) => s.is_empty() || s == "0",
                    Value::Array(a) => a.is_empty(),
                    _ => false,
                };
                if !is_default {
                    out.insert(key.clone(), v);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() < 9e15 {
                Value::String(format!("{}", f as i64))
            } else {
                Value::String(n.to_string())
            }
        }
        other => other.clone(),
    }
}

fn to_snake_case(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let mut snake = String::new();
                    for c in k.chars() {
                        if c.is_ascii_uppercase() {
                            snake.push('_');
                            snake.push(c.to_ascii_lowercase());
                        } else {
                            snake.push(c);
                        }
                    }
                    (snake, to_snake_case(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(to_snake_case).collect()),
        other => other.clone(),
    }
}

/// Writes 64-bit integers as JSON numbers instead of strings.
fn int64_as_numbers(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if INT64_KEYS.contains(&k.as_str()) => s
                            .parse::<u64>()
                            .map(Value::from)
                            .unwrap_or_else(|_| v.clone()),
                        Value::Array(items) if k == "bucketCounts" => Value::Array(
                            items
                                .iter()
                                .map(|i| {
                                    i.as_str()
                                        .and_then(|s| s.parse::<u64>().ok())
                                        .map_or(i.clone(), Value::from)
                                })
                                .collect(),
                        ),
                        other => int64_as_numbers(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(int64_as_numbers).collect()),
        other => other.clone(),
    }
}

#[test]
fn conformance_examples_decode() {
    for (signal, name, items, bytes) in examples() {
        let batch = decode(signal, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(batch.signal(), signal, "{name}");
        assert_eq!(batch.item_count(), items, "{name}");
    }
}

#[test]
fn conformance_examples_round_trip() {
    for (signal, name, _, bytes) in examples() {
        let batch = decode(signal, &bytes).unwrap();
        let encoded = encode(&batch);
        let again = decode(signal, &encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, batch, "{name}: decode(encode(x)) differs");

        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let written: Value = serde_json::from_slice(&encoded).unwrap();
        assert_eq!(
            normalise(&written),
            normalise(&original),
            "{name}: re-encoded JSON differs"
        );
    }
}

#[test]
fn example_values_are_read_right() {
    let (_, _, _, bytes) = examples().remove(0);
    let batch = decode(Signal::Traces, &bytes).unwrap();
    let span = &batch.resource_spans()[0].scope_spans[0].spans[0];
    assert_eq!(
        span.trace_id,
        [
            0x5B, 0x8E, 0xFF, 0xF7, 0x98, 0x03, 0x81, 0x03, 0xD2, 0x69, 0xB6, 0x33, 0x81, 0x3F,
            0xC6, 0x0C
        ]
    );
    assert_eq!(
        span.span_id,
        [0xEE, 0xE1, 0x9B, 0x7E, 0xC3, 0xC1, 0xB1, 0x74]
    );
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.kind, 2);
    let written: Value = serde_json::from_slice(&encode(&batch)).unwrap();
    let span = &written["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(
        span["startTimeUnixNano"], "1544712660000000000",
        "64-bit ints are strings"
    );
    assert_eq!(span["kind"], 2, "enums are integers");
}

#[test]
fn snake_case_and_numeric_variants_decode_the_same() {
    for (signal, name, _, bytes) in examples() {
        let batch = decode(signal, &bytes).unwrap();
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let snake = serde_json::to_vec(&to_snake_case(&original)).unwrap();
        assert_eq!(decode(signal, &snake).unwrap(), batch, "{name}: snake_case");
        let numeric = serde_json::to_vec(&int64_as_numbers(&original)).unwrap();
        assert_eq!(
            decode(signal, &numeric).unwrap(),
            batch,
            "{name}: numbers for int64"
        );
    }
}

#[test]
fn unknown_fields_nulls_and_enum_names_are_accepted() {
    let doc = json!({
        "resourceSpans": [{
            "futureField": {"deep": [1, 2]},
            "resource": null,
            "scopeSpans": [{"spans": [{
                "traceId": "",
                "spanId": "",
                "name": "s",
                "kind": "SPAN_KIND_CLIENT",
                "status": {"code": "STATUS_CODE_ERROR", "futureField": true},
                "attributes": [{"key": "empty"}, {"key": "n", "value": {"intValue": -5}}]
            }]}]
        }]
    });
    let batch = decode(Signal::Traces, doc.to_string().as_bytes()).unwrap();
    let span = &batch.resource_spans()[0].scope_spans[0].spans[0];
    assert!(span.trace_id.is_empty());
    assert_eq!(span.kind, span::SpanKind::Client as i32);
    assert_eq!(span.status.as_ref().unwrap().code, 2);
    assert_eq!(span.attributes[0].value, None);
    assert_eq!(
        span.attributes[1].value.as_ref().unwrap().value,
        Some(any_value::Value::IntValue(-5))
    );
}

#[test]
fn malformed_input_is_a_clear_error() {
    let cases: &[(&str, &str)] = &[
        ("{\"resourceSpans\": [", "invalid OTLP/JSON: EOF"),
        ("[]", "the request must be an object, found an array"),
        ("{\"resourceSpans\": {}}", "resourceSpans: must be an array, found an object"),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{"traceId":"xyz"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[1].traceId: must be 32 hex digits",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz8efff798038103d269b633813fc60c"}]}]}]}"#,
            "is not valid hex",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
            "startTimeUnixNano: must be an unsigned 64-bit integer (number or decimal string), found the string \"soon\"",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SIDEWAYS"}]}]}]}"#,
            "kind: unknown enum value `SPAN_KIND_SIDEWAYS`",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"droppedLinksCount":-1}]}]}]}"#,
            "droppedLinksCount: must be an unsigned 32-bit integer",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}"#,
            "name: must be a string, found the number 5",
        ),
    ];
    for (input, expected) in cases {
        let err = decode(Signal::Traces, input.as_bytes()).unwrap_err().0;
        assert!(
            err.contains(expected),
            "{input}\n  gave: {err}\n  want: {expected}"
        );
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Every message and field kind, with values that are easy to get wrong.
fn rich_traces() -> Batch {
    use any_value::Value as V;
    Batch::from_traces(vec![ResourceSpans {
        resource: Some(Default::default()),
        scope_spans: vec![ScopeSpans {
            scope: None,
            spans: vec![Span {
                trace_id: vec![0xab; 16],
                span_id: vec![0x01; 8],
                trace_state: "a=b".into(),
                flags: 0x301,
                name: "ñ \"quoted\"".into(),
                kind: 3,
                start_time_unix_nano: u64::MAX,
                end_time_unix_nano: 1,
                attributes: vec![
                    kv("i", V::IntValue(i64::MIN)),
                    kv("zero", V::IntValue(0)),
                    kv("empty", V::StringValue(String::new())),
                    kv("f", V::BoolValue(false)),
                    kv("nan", V::DoubleValue(f64::INFINITY)),
                    kv("b", V::BytesValue(vec![0, 255, 10])),
                    kv(
                        "arr",
                        V::ArrayValue(ArrayValue {
                            values: vec![
                                AnyValue {
                                    value: Some(V::DoubleValue(1.5)),
                                },
                                AnyValue { value: None },
                            ],
                        }),
                    ),
                    kv(
                        "map",
                        V::KvlistValue(KeyValueList {
                            values: vec![kv("k", V::StringValue("v".into()))],
                        }),
                    ),
                ],
                dropped_attributes_count: 7,
                events: vec![span::Event {
                    time_unix_nano: 5,
                    name: "e".into(),
                    ..Default::default()
                }],
                dropped_events_count: 1,
                links: vec![span::Link {
                    trace_id: vec![2; 16],
                    span_id: vec![3; 8],
                    flags: 1,
                    ..Default::default()
                }],
                dropped_links_count: 2,
                status: Some(Status {
                    message: "bad".into(),
                    code: 2,
                }),
                parent_span_id: Vec::new(),
            }],
            schema_url: "https://s".into(),
        }],
        schema_url: String::new(),
    }])
}

fn rich_metrics() -> Batch {
    let exemplar = Exemplar {
        time_unix_nano: 9,
        span_id: vec![4; 8],
        trace_id: vec![5; 16],
        value: Some(exemplar::Value::AsInt(-3)),
        ..Default::default()
    };
    let metric = |name: &str, data| Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    };
    Batch::from_metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                metric(
                    "sum",
                    Data::Sum(Sum {
                        data_points: vec![
                            NumberDataPoint {
                                value: Some(number_data_point::Value::AsInt(0)),
                                exemplars: vec![exemplar],
                                ..Default::default()
                            },
                            NumberDataPoint {
                                value: Some(number_data_point::Value::AsDouble(2.5)),
                                flags: 1,
                                ..Default::default()
                            },
                        ],
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    }),
                ),
                metric(
                    "hist",
                    Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            count: 3,
                            sum: Some(0.0),
                            bucket_counts: vec![0, 1, 2],
                            explicit_bounds: vec![-1.0, 1e300],
                            min: Some(f64::NEG_INFINITY),
                            max: None,
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                    }),
                ),
                metric(
                    "exp",
                    Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: vec![ExponentialHistogramDataPoint {
                            scale: -2,
                            zero_count: 1,
                            positive: Some(Buckets {
                                offset: -1,
                                bucket_counts: vec![1],
                            }),
                            negative: Some(Buckets::default()),
                            zero_threshold: 1e-9,
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                    }),
                ),
                metric(
                    "summary",
                    Data::Summary(Summary {
                        data_points: vec![SummaryDataPoint {
                            count: 2,
                            sum: 3.0,
                            quantile_values: vec![ValueAtQuantile {
                                quantile: 0.5,
                                value: 1.0,
                            }],
                            ..Default::default()
                        }],
                    }),
                ),
                Metric {
                    name: "no data".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

#[test]
fn every_field_kind_round_trips() {
    for batch in [rich_traces(), rich_metrics()] {
        let encoded = encode(&batch);
        let back = decode(batch.signal(), &encoded)
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&encoded)));
        assert_eq!(back, batch, "{}", String::from_utf8_lossy(&encoded));
        // Protobuf of both sides matches too (catches a NaN that PartialEq would hide).
        assert_eq!(back.encode_protobuf(), batch.encode_protobuf());
    }
}

#[test]
fn nan_and_infinity_are_strings() {
    use any_value::Value as V;
    let batch = Batch::from_traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![Span {
                attributes: vec![
                    kv("nan", V::DoubleValue(f64::NAN)),
                    kv("inf", V::DoubleValue(f64::NEG_INFINITY)),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let written: Value = serde_json::from_slice(&encode(&batch)).unwrap();
    let attributes = &written["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
    assert_eq!(attributes[0]["value"]["doubleValue"], "NaN");
    assert_eq!(attributes[1]["value"]["doubleValue"], "-Infinity");
    let back = decode(Signal::Traces, &encode(&batch)).unwrap();
    assert_eq!(back.encode_protobuf(), batch.encode_protobuf());
}

#[test]
fn empty_batches_encode_as_empty_objects() {
    assert_eq!(encode(&Batch::empty(Signal::Logs)), b"{}");
    assert_eq!(
        decode(Signal::Logs, b"{}").unwrap(),
        Batch::empty(Signal::Logs)
    );
}
