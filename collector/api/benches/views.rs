//! The view API on both representations: validate on receipt, attribute lookup,
//! retain, batching and encode, each for a wire batch (the received bytes) and an owned
//! one (decoded structs, as before zero-copy).
//!
//! Input: export requests of 100 spans, each with 10 string attributes, as the OTLP SDKs
//! send them. Reported per request (divide by 100 for per span). The `receive` and
//! `batch_and_encode` rows replace the older receive -> batch -> encode bench.
//!
//! Run: `cargo bench -p weir-api --bench views`

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use prost::Message;
use weir_api::{Batch, Signal};
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

const SPANS_PER_REQUEST: usize = 100;

fn string_attribute(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

fn request(seed: u64) -> Bytes {
    let spans = (0..SPANS_PER_REQUEST as u64)
        .map(|i| Span {
            trace_id: (seed * 1000 + i).to_be_bytes().repeat(2),
            span_id: (seed * 1000 + i).to_be_bytes().to_vec(),
            name: format!("GET /api/v1/items/{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_000_100_000 + i,
            attributes: (0..10)
                .map(|a| {
                    string_attribute(&format!("attr.key.{a}"), format!("value-{seed}-{i}-{a}"))
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    Bytes::from(
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attribute("service.name", "checkout".into())],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "io.opentelemetry.http".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
        .encode_to_vec(),
    )
}

/// Makes one of the two forms from a received request.
type MakeBatch = fn(&Bytes) -> Batch;

fn wire(bytes: &Bytes) -> Batch {
    Batch::from_protobuf(Signal::Traces, bytes.clone()).expect("valid")
}

fn owned(bytes: &Bytes) -> Batch {
    let request = ExportTraceServiceRequest::decode(&bytes[..]).expect("valid");
    Batch::from_traces(request.resource_spans)
}

fn views(c: &mut Criterion) {
    let requests: Vec<Bytes> = (0..64).map(request).collect();
    let mut group = c.benchmark_group("views");
    group.throughput(Throughput::Elements(SPANS_PER_REQUEST as u64));
    group.measurement_time(Duration::from_secs(4));

    let forms: [(&str, MakeBatch); 2] = [("wire", wire), ("owned", owned)];
    for (form, make) in forms {
        group.bench_function(format!("receive/{form}"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % requests.len();
                make(&requests[i])
            })
        });

        let batches: Vec<Batch> = requests.iter().map(make).collect();
        group.bench_function(format!("attribute_lookup/{form}"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % batches.len();
                batches[i]
                    .spans()
                    .filter(|(_, _, span)| span.attributes().get_str("attr.key.7").is_some())
                    .count()
            })
        });

        group.bench_function(format!("retain_half/{form}"), |b| {
            let mut i = 0;
            b.iter_batched(
                || {
                    i = (i + 1) % batches.len();
                    batches[i].clone()
                },
                |mut batch| {
                    batch.retain_spans(|_, _, span| span.span_id().last() < Some(&128));
                    batch
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function(format!("batch_and_encode/{form}"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % batches.len();
                let mut batch = batches[i].clone();
                batch
                    .append(batches[(i + 1) % batches.len()].clone())
                    .expect("same signal");
                batch.encode_protobuf().len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, views);
criterion_main!(benches);
