//! Receive -> batch -> encode: the work every OTLP request does in a default pipeline
//! (otlp receiver -> batch processor -> otlp exporter), without the sockets.
//!
//! Input: export requests of 100 spans, each span with 10 string attributes, as the OTLP
//! SDKs send them. Reported per request (divide by 100 for per span).
//!
//! Run: `cargo bench -p weir-api --bench receive_batch_encode`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use weir_api::{Batch, Batcher, BatcherSettings, Signal};
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

fn request(seed: u64) -> Vec<u8> {
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
    .encode_to_vec()
}

fn receive_batch_encode(c: &mut Criterion) {
    let requests: Vec<Vec<u8>> = (0..64).map(request).collect();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(SPANS_PER_REQUEST as u64));
    group.measurement_time(Duration::from_secs(8));

    group.bench_function("decode", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % requests.len();
            Batch::decode_protobuf(Signal::Traces, &requests[i]).expect("valid")
        })
    });

    group.bench_function("decode_batch_encode", |b| {
        // The batch processor's defaults: 8192 spans per emitted batch.
        let mut batcher = Batcher::new(BatcherSettings::default());
        let mut out = Vec::new();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % requests.len();
            let batch = Batch::decode_protobuf(Signal::Traces, &requests[i]).expect("valid");
            let _ = batcher.add(batch, Instant::now(), &mut out);
            let mut bytes = 0;
            for ready in out.drain(..) {
                bytes += ready.encode_protobuf().len();
            }
            bytes
        })
    });
    group.finish();
}

criterion_group!(benches, receive_batch_encode);
criterion_main!(benches);
