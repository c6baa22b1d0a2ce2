//! The remote-write 2.0 sender compliance cases (tests/conformance/remote_write/
//! compliance_cases.md, part B) with `protobuf_message: io.prometheus.write.v2.Request`,
//! for the cases that concern the exporter: each test is named after its case (several
//! cases checked by one request share a test, named after all of them). Scrape-side
//! cases (the `prometheus` receiver's parsing of HELP, OpenMetrics exemplars, ...) run end
//! to end in integration/test_remote_write_v2.py, which also decodes with an independent
//! decoder built from the published .proto.
//!
//! Requests are decoded with `weir_proto::remote_write_v2` (prost types written from the
//! published types.proto) and every request is checked against the spec's rules
//! (`check_spec`). The endpoint is a raw HTTP/1.1 server on 127.0.0.1 that records every
//! request and answers as the case says; by default it answers as a 2.0 receiver does: 204
//! with the written-count headers for everything in the request.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, BuildContext, ComponentId, ExportError, Exporter};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::metrics::v1::exponential_histogram_data_point::Buckets;
use weir_proto::metrics::v1::{
    metric, number_data_point, summary_data_point::ValueAtQuantile, Exemplar as OtlpExemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use weir_proto::remote_write::WriteRequest;
use weir_proto::remote_write_v2::{metadata::MetricType, Request, TimeSeries};
use weir_proto::resource::v1::Resource;

const V2: &str = "protobuf_message: io.prometheus.write.v2.Request\n";
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// How the endpoint answers one request.
#[derive(Clone, Debug)]
enum Answer {
    /// A status, extra headers and a body.
    Reply(u16, Vec<(String, String)>, String),
    /// 204 with the written-count headers for everything in a 2.0 body (none for 1.0).
    Honest,
}

fn status(code: u16, body: &str) -> Answer {
    Answer::Reply(code, Vec::new(), body.into())
}

fn written(code: u16, samples: u64, histograms: u64, exemplars: u64) -> Answer {
    Answer::Reply(
        code,
        vec![
            (
                "X-Prometheus-Remote-Write-Samples-Written".into(),
                samples.to_string(),
            ),
            (
                "X-Prometheus-Remote-Write-Histograms-Written".into(),
                histograms.to_string(),
            ),
            (
                "X-Prometheus-Remote-Write-Exemplars-Written".into(),
                exemplars.to_string(),
            ),
        ],
        String::new(),
    )
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_v2(&self) -> bool {
        self.header("content-type")
            == Some("application/x-protobuf;proto=io.prometheus.write.v2.Request")
    }
}

#[derive(Clone, Default)]
struct Endpoint {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Endpoint {
    async fn start(script: Vec<Answer>) -> (Self, String) {
        let me = Self {
            seen: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let server = me.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(stream));
            }
        });
        (me, url)
    }

    async fn serve(self, mut stream: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        loop {
            let Some((seen, rest)) = read_request(&mut stream, std::mem::take(&mut buffer)).await
            else {
                return;
            };
            buffer = rest;
            let answer = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Answer::Honest);
            let (code, headers, body) = match answer {
                Answer::Reply(code, headers, body) => (code, headers, body),
                Answer::Honest if seen.is_v2() => {
                    let r = decode(&seen);
                    let count = |f: fn(&TimeSeries) -> usize| {
                        r.timeseries.iter().map(f).sum::<usize>() as u64
                    };
                    match written(
                        204,
                        count(|t| t.samples.len()),
                        count(|t| t.histograms.len()),
                        count(|t| t.exemplars.len()),
                    ) {
                        Answer::Reply(c, h, b) => (c, h, b),
                        Answer::Honest => unreachable!(),
                    }
                }
                Answer::Honest => (204, Vec::new(), String::new()),
            };
            self.seen.lock().unwrap().push(seen);
            let mut response = format!(
                "HTTP/1.1 {code} Whatever\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in headers {
                response.push_str(&format!("{k}: {v}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every 2.0 request, decoded and checked against the spec's rules.
    fn requests(&self) -> Vec<Request> {
        self.seen()
            .iter()
            .filter(|s| s.is_v2())
            .map(|s| {
                let r = decode(s);
                check_spec(&r);
                r
            })
            .collect()
    }
}

async fn read_request(
    stream: &mut tokio::net::TcpStream,
    mut buffer: Vec<u8>,
) -> Option<(Seen, Vec<u8>)> {
    let header_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let method = lines.next()?.split(' ').next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let rest = buffer.split_off(header_end + length);
    let body = buffer.split_off(header_end);
    Some((
        Seen {
            method,
            headers,
            body,
        },
        rest,
    ))
}

fn raw(seen: &Seen) -> Vec<u8> {
    snap::raw::Decoder::new()
        .decompress_vec(&seen.body)
        .expect("snappy block format")
}

fn decode(seen: &Seen) -> Request {
    Request::decode(raw(seen).as_slice()).expect("a 2.0 Request")
}

fn decode_v1(seen: &Seen) -> WriteRequest {
    WriteRequest::decode(raw(seen).as_slice()).expect("a 1.0 WriteRequest")
}

/// The spec's MUSTs for a request: the symbol table, refs, labels, samples vs histograms,
/// start timestamps, metadata refs, timestamps in order.
fn check_spec(r: &Request) {
    assert_eq!(
        r.symbols.first().map(String::as_str),
        Some(""),
        "symbols[0] is \"\""
    );
    let n = r.symbols.len() as u32;
    for s in &r.timeseries {
        assert!(!s.labels_refs.is_empty(), "labels_refs provided");
        assert_eq!(s.labels_refs.len() % 2, 0, "labels_refs even");
        assert!(s.labels_refs.iter().all(|x| *x < n), "label refs in range");
        let names: Vec<&str> = s
            .labels_refs
            .chunks(2)
            .map(|p| r.symbols[p[0] as usize].as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "label names sorted and unique");
        assert!(names.contains(&"__name__"), "__name__ present");
        for p in s.labels_refs.chunks(2) {
            assert!(!r.symbols[p[0] as usize].is_empty(), "no empty label name");
            assert!(!r.symbols[p[1] as usize].is_empty(), "no empty label value");
        }
        assert!(
            s.samples.is_empty() != s.histograms.is_empty(),
            "samples or histograms, not both, not neither"
        );
        for x in &s.samples {
            assert!(x.start_timestamp <= x.timestamp, "start <= sample time");
        }
        for h in &s.histograms {
            assert!(h.start_timestamp <= h.timestamp, "start <= histogram time");
        }
        assert!(s
            .samples
            .windows(2)
            .all(|w| w[0].timestamp < w[1].timestamp));
        assert!(s
            .histograms
            .windows(2)
            .all(|w| w[0].timestamp < w[1].timestamp));
        let m = s.metadata.expect("metadata provided");
        assert!(m.help_ref < n && m.unit_ref < n, "metadata refs in range");
        for e in &s.exemplars {
            assert_eq!(e.labels_refs.len() % 2, 0, "exemplar refs even");
            assert!(
                e.labels_refs.iter().all(|x| *x < n),
                "exemplar refs in range"
            );
            assert!(e.timestamp > 0, "exemplar timestamp");
        }
    }
}

fn labels(r: &Request, s: &TimeSeries) -> BTreeMap<String, String> {
    s.labels_refs
        .chunks(2)
        .map(|p| {
            (
                r.symbols[p[0] as usize].clone(),
                r.symbols[p[1] as usize].clone(),
            )
        })
        .collect()
}

fn name(r: &Request, s: &TimeSeries) -> String {
    labels(r, s).get("__name__").cloned().unwrap_or_default()
}

/// Every series of every request, with its request (for the symbols).
fn all_series(requests: &[Request]) -> Vec<(&Request, &TimeSeries)> {
    requests
        .iter()
        .flat_map(|r| r.timeseries.iter().map(move |s| (r, s)))
        .collect()
}

fn find<'a>(requests: &'a [Request], metric: &str) -> Vec<(&'a Request, &'a TimeSeries)> {
    all_series(requests)
        .into_iter()
        .filter(|(r, s)| name(r, s) == metric)
        .collect()
}

fn exporter_with(url: &str, extra: &str, telemetry: &Telemetry) -> Arc<dyn Exporter> {
    let config = format!(
        "endpoint: {url}\ntimeout: 500ms\nretry_on_failure: {{initial_interval: 20ms, max_interval: 100ms, randomization_factor: 0}}\n{extra}"
    );
    let value: weir_api::Value = serde_yaml_ng::from_str(&config).unwrap();
    let ctx = BuildContext {
        id: ComponentId::new("prometheusremotewrite", None),
        telemetry: telemetry.clone(),
    };
    weir_prometheusremotewrite_exporter::factory()
        .build(ctx, &value)
        .unwrap()
        .exporter
}

fn exporter(url: &str) -> Arc<dyn Exporter> {
    exporter_with(url, V2, &Telemetry::new())
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

const T: u64 = 1_700_000_000_000_000_000;
const MS: i64 = (T / 1_000_000) as i64;

fn batch(metrics: Vec<Metric>) -> Batch {
    Batch::from_metrics(vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "test"), kv("service.instance.id", "i")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn gauge(name: &str, values: &[f64], attributes: Vec<KeyValue>) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} help"),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: values
                .iter()
                .enumerate()
                .map(|(i, v)| NumberDataPoint {
                    attributes: attributes.clone(),
                    time_unix_nano: T + i as u64 * 1_000_000_000,
                    value: Some(number_data_point::Value::AsDouble(*v)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

/// A cumulative monotonic counter with points 1 s apart, started 10 s before the first.
fn counter(name: &str, values: &[f64]) -> Metric {
    Metric {
        name: name.into(),
        description: "Requests served.".into(),
        unit: "1".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: values
                .iter()
                .enumerate()
                .map(|(i, v)| NumberDataPoint {
                    start_time_unix_nano: T - 10_000_000_000,
                    time_unix_nano: T + i as u64 * 1_000_000_000,
                    value: Some(number_data_point::Value::AsDouble(*v)),
                    exemplars: vec![OtlpExemplar {
                        time_unix_nano: T + i as u64 * 1_000_000_000,
                        value: Some(weir_proto::metrics::v1::exemplar::Value::AsDouble(*v)),
                        trace_id: vec![0xab; 16],
                        span_id: vec![0xcd; 8],
                        filtered_attributes: vec![kv("user", "u1")],
                    }],
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn classic_histogram(name: &str) -> Metric {
    Metric {
        name: name.into(),
        description: "Latency.".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: T - 5_000_000_000,
                time_unix_nano: T,
                count: 2,
                sum: Some(3.0),
                bucket_counts: vec![1, 1, 0],
                explicit_bounds: vec![1.0, 2.0],
                exemplars: vec![OtlpExemplar {
                    time_unix_nano: T,
                    value: Some(weir_proto::metrics::v1::exemplar::Value::AsDouble(1.5)),
                    trace_id: vec![0x01; 16],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    }
}

fn native_histogram(
    name: &str,
    count: u64,
    positive: Vec<u64>,
    negative: Vec<u64>,
    zero: u64,
) -> Metric {
    let sum = if count == 0 { 0.0 } else { 12.5 };
    Metric {
        name: name.into(),
        description: "Sizes.".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                start_time_unix_nano: T - 3_000_000_000,
                time_unix_nano: T,
                count,
                sum: Some(sum),
                scale: 2,
                zero_count: zero,
                zero_threshold: 0.001,
                positive: Some(Buckets {
                    offset: -1,
                    bucket_counts: positive,
                }),
                negative: Some(Buckets {
                    offset: 0,
                    bucket_counts: negative,
                }),
                exemplars: vec![OtlpExemplar {
                    time_unix_nano: T,
                    value: Some(weir_proto::metrics::v1::exemplar::Value::AsDouble(2.0)),
                    trace_id: vec![0x02; 16],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    }
}

fn summary(name: &str) -> Metric {
    Metric {
        name: name.into(),
        description: "A \"quoted\" \\ help\nwith a newline.".into(),
        data: Some(metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                start_time_unix_nano: T - 7_000_000_000,
                time_unix_nano: T,
                count: 3,
                sum: 6.0,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 2.0,
                    },
                    ValueAtQuantile {
                        quantile: 0.9,
                        value: 3.0,
                    },
                ],
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

fn simple() -> Batch {
    batch(vec![gauge("test_metric", &[42.0], vec![])])
}

fn mixed() -> Batch {
    batch(vec![
        gauge("temperature", &[21.5], vec![kv("room", "a")]),
        counter("requests", &[1.0, 2.0]),
        classic_histogram("latency"),
        native_histogram("sizes", 6, vec![1, 2, 0, 1], vec![1], 1),
        summary("rpc"),
    ])
}

/// `prepare`, then `send` until it stops asking for a retry (at most `attempts`).
async fn deliver(e: &Arc<dyn Exporter>, batch: Batch, attempts: usize) -> Result<(), ExportError> {
    let mut request = e.prepare(batch).unwrap();
    let mut last = Ok(());
    for _ in 0..attempts {
        last = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("an attempt ends");
        if !matches!(last, Err(ExportError::Retryable { .. })) {
            return last;
        }
    }
    last
}

/// Delivers `batch` in 2.0 to an endpoint answering as a 2.0 receiver does.
async fn sent(batch: Batch) -> (Endpoint, Vec<Request>) {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url), batch, 1).await.unwrap();
    let requests = endpoint.requests();
    assert!(!requests.is_empty());
    (endpoint, requests)
}

// --- protocol_test.go ---------------------------------------------------------------------

#[tokio::test]
async fn content_type_protobuf_and_content_type_with_proto_param() {
    let (endpoint, _) = sent(simple()).await;
    for seen in endpoint.seen() {
        assert_eq!(
            seen.header("content-type"),
            Some("application/x-protobuf;proto=io.prometheus.write.v2.Request")
        );
    }
}

#[tokio::test]
async fn content_encoding_snappy_and_version_header_present_and_value_and_user_agent_present() {
    let (endpoint, _) = sent(simple()).await;
    for seen in endpoint.seen() {
        assert_eq!(seen.header("content-encoding"), Some("snappy"));
        assert_eq!(
            seen.header("x-prometheus-remote-write-version"),
            Some("2.0.0")
        );
        assert!(seen
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("weir/")));
    }
}

#[tokio::test]
async fn snappy_block_format_and_protobuf_parseable_and_http_method_post() {
    let (endpoint, requests) = sent(simple()).await;
    for seen in endpoint.seen() {
        assert_eq!(seen.method, "POST");
        // The framed format starts with its stream identifier chunk (0xff); the block
        // format with the varint length of the uncompressed data.
        assert_ne!(seen.body[0], 0xff);
    }
    assert_eq!(find(&requests, "test_metric").len(), 1);
}

// --- symbols_test.go, batching_test.go -----------------------------------------------------

#[tokio::test]
async fn empty_string_at_index_zero_and_labels_refs_valid_indices_and_labels_refs_even_length() {
    // check_spec asserts all three on every request.
    let (_, requests) = sent(mixed()).await;
    assert!(requests.iter().all(|r| r.symbols[0].is_empty()));
}

#[tokio::test]
async fn string_deduplication_and_symbol_table_efficiency_and_efficient_symbol_reuse() {
    let metrics = (0..20)
        .map(|i| gauge(&format!("g{i}"), &[1.0], vec![kv("env", "prod")]))
        .collect();
    // One lane, so one request holds every series.
    let (endpoint, url) = Endpoint::start(vec![]).await;
    let one_lane = format!("{V2}remote_write_queue: {{num_consumers: 1}}\n");
    deliver(
        &exporter_with(&url, &one_lane, &Telemetry::new()),
        batch(metrics),
        1,
    )
    .await
    .unwrap();
    let requests = endpoint.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.timeseries.len(), 20);
    let unique: std::collections::HashSet<&String> = r.symbols.iter().collect();
    assert_eq!(unique.len(), r.symbols.len(), "every string once");
    // Shared strings (job, instance, env and their values, HELP texts) appear once; each
    // series adds its own name and HELP text: about as many entries as distinct strings.
    let mut distinct: std::collections::HashSet<String> = std::collections::HashSet::new();
    distinct.insert(String::new());
    for s in &r.timeseries {
        for (k, v) in labels(r, s) {
            distinct.insert(k);
            distinct.insert(v);
        }
        let m = s.metadata.unwrap();
        distinct.insert(r.symbols[m.help_ref as usize].clone());
        distinct.insert(r.symbols[m.unit_ref as usize].clone());
    }
    assert_eq!(r.symbols.len(), distinct.len());
}

#[tokio::test]
async fn multiple_series_per_request_and_metadata_batching_and_samples_with_metadata() {
    let (endpoint, requests) = sent(mixed()).await;
    assert_eq!(endpoint.seen().len(), requests.len());
    assert!(requests.iter().any(|r| r.timeseries.len() > 1));
    // No separate metadata requests in 2.0: every request carries series with samples.
    for r in &requests {
        assert!(r
            .timeseries
            .iter()
            .all(|s| !s.samples.is_empty() || !s.histograms.is_empty()));
    }
}

#[tokio::test]
async fn batch_size_reasonable() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    let e = exporter_with(
        &url,
        &format!("{V2}max_batch_size_bytes: 4000\n"),
        &Telemetry::new(),
    );
    let values: Vec<f64> = (0..1).map(f64::from).collect();
    let metrics = (0..300)
        .map(|i| {
            gauge(
                &format!("metric_{i}"),
                &values,
                vec![kv("k", &"v".repeat(20))],
            )
        })
        .collect();
    deliver(&e, batch(metrics), 1).await.unwrap();
    let seen = endpoint.seen();
    assert!(seen.len() > 3);
    let mut names = std::collections::HashSet::new();
    for s in &seen {
        assert!(
            raw(s).len() <= 4000,
            "max_batch_size_bytes bounds the protobuf"
        );
        let r = decode(s);
        check_spec(&r);
        for t in &r.timeseries {
            names.insert(name(&r, t));
        }
    }
    assert!(names.len() >= 300, "every series arrives: {}", names.len());
}

// --- samples_test.go, timestamps_test.go, edge_cases_test.go --------------------------------

#[tokio::test]
async fn float_integer_zero_negative_infinity_nan_large_small_value_encoding() {
    let values = [
        123.45,
        42.0,
        0.0,
        -15.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
        1.23e-4,
        0.123_456_789_012_345,
    ];
    let (_, requests) = sent(batch(vec![
        gauge("values", &values, vec![]),
        gauge("nan", &[f64::NAN], vec![]),
    ]))
    .await;
    let series = find(&requests, "values");
    let got: Vec<(i64, f64)> = series
        .iter()
        .flat_map(|(_, s)| s.samples.iter().map(|x| (x.timestamp, x.value)))
        .collect();
    let want: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (MS + i as i64 * 1000, *v))
        .collect();
    assert_eq!(got, want);
    assert!(find(&requests, "nan")[0].1.samples[0].value.is_nan());
}

#[tokio::test]
async fn timestamp_milliseconds_format_and_timestamp_int64_milliseconds_and_timestamp_precision() {
    let mut m = gauge("precise", &[1.0], vec![]);
    if let Some(metric::Data::Gauge(g)) = &mut m.data {
        g.data_points[0].time_unix_nano = T + 123_456_789; // 123.456789 ms later
    }
    let (_, requests) = sent(batch(vec![m])).await;
    let ts = find(&requests, "precise")[0].1.samples[0].timestamp;
    assert_eq!(ts, MS + 123, "milliseconds, not rounded to seconds");
    assert!((1_000_000_000_000..10_000_000_000_000).contains(&ts));
}

#[tokio::test]
async fn timestamp_ordering_within_series_and_sample_ordering() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    let e = exporter(&url);
    deliver(
        &e,
        batch(vec![gauge("ordered", &[1.0, 2.0, 3.0], vec![])]),
        1,
    )
    .await
    .unwrap();
    let mut later = gauge("ordered", &[4.0], vec![]);
    if let Some(metric::Data::Gauge(g)) = &mut later.data {
        g.data_points[0].time_unix_nano = T + 10_000_000_000;
    }
    deliver(&e, batch(vec![later]), 1).await.unwrap();
    let times: Vec<i64> = find(&endpoint.requests(), "ordered")
        .iter()
        .flat_map(|(_, s)| s.samples.iter().map(|x| x.timestamp))
        .collect();
    assert_eq!(times, vec![MS, MS + 1000, MS + 2000, MS + 10_000]);
}

#[tokio::test]
async fn start_timestamp_for_counters_and_start_timestamp_before_sample_timestamp() {
    let (_, requests) = sent(batch(vec![counter("requests", &[1.0, 2.0])])).await;
    let series = find(&requests, "requests_total");
    assert_eq!(series.len(), 1);
    for x in &series[0].1.samples {
        assert_eq!(x.start_timestamp, MS - 10_000);
        assert!(x.start_timestamp <= x.timestamp);
    }
}

#[tokio::test]
async fn start_timestamp_for_histograms_and_summaries() {
    let (_, requests) = sent(mixed()).await;
    for metric in [
        "latency_seconds_bucket",
        "latency_seconds_sum",
        "latency_seconds_count",
    ] {
        for (_, s) in find(&requests, metric) {
            assert_eq!(s.samples[0].start_timestamp, MS - 5_000, "{metric}");
        }
    }
    let native = find(&requests, "sizes");
    assert_eq!(native[0].1.histograms[0].start_timestamp, MS - 3_000);
    for metric in ["rpc_sum", "rpc_count"] {
        assert_eq!(
            find(&requests, metric)[0].1.samples[0].start_timestamp,
            MS - 7_000
        );
    }
}

#[tokio::test]
async fn start_timestamp_zero_handling() {
    // Gauges have no start; a counter without start_time_unix_nano has none either; a
    // start after the sample is left unset rather than sent wrong.
    let mut c = counter("nostart", &[1.0]);
    let mut late = counter("late", &[1.0]);
    if let Some(metric::Data::Sum(s)) = &mut c.data {
        s.data_points[0].start_time_unix_nano = 0;
    }
    if let Some(metric::Data::Sum(s)) = &mut late.data {
        s.data_points[0].start_time_unix_nano = T + 5_000_000_000;
    }
    let (_, requests) = sent(batch(vec![c, late, gauge("g", &[1.0], vec![])])).await;
    for metric in ["nostart_total", "late_total", "g"] {
        assert_eq!(
            find(&requests, metric)[0].1.samples[0].start_timestamp,
            0,
            "{metric}"
        );
    }
}

#[tokio::test]
async fn created_series_not_written_in_v2() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    let e = exporter_with(
        &url,
        &format!("{V2}export_created_metric: {{enabled: true}}\n"),
        &Telemetry::new(),
    );
    deliver(&e, mixed(), 1).await.unwrap();
    let requests = endpoint.requests();
    for (r, s) in all_series(&requests) {
        assert!(!name(r, s).ends_with("_created"), "{}", name(r, s));
    }
    assert!(find(&requests, "requests_total")[0].1.samples[0].start_timestamp > 0);
}

#[tokio::test]
async fn timestamp_future_values_and_zero_timestamp() {
    let mut m = gauge("future", &[1.0], vec![]);
    if let Some(metric::Data::Gauge(g)) = &mut m.data {
        g.data_points[0].time_unix_nano = 4_000_000_000_000_000_000;
    }
    let (_, requests) = sent(batch(vec![m])).await;
    assert_eq!(
        find(&requests, "future")[0].1.samples[0].timestamp,
        4_000_000_000_000
    );
}

#[tokio::test]
async fn stale_marker() {
    let mut m = gauge("gone", &[1.0], vec![]);
    if let Some(metric::Data::Gauge(g)) = &mut m.data {
        g.data_points[0].flags = 1; // no recorded value
        g.data_points[0].value = None;
    }
    let mut h = native_histogram("gone_native", 0, vec![], vec![], 0);
    if let Some(metric::Data::ExponentialHistogram(x)) = &mut h.data {
        x.data_points[0].flags = 1;
    }
    let (_, requests) = sent(batch(vec![m, h])).await;
    let v = find(&requests, "gone")[0].1.samples[0].value;
    assert_eq!(v.to_bits(), STALE_NAN_BITS);
    let native = &find(&requests, "gone_native")[0].1.histograms[0];
    assert_eq!(native.sum.to_bits(), STALE_NAN_BITS);
    assert_eq!(native.start_timestamp, 0, "no start on a stale marker");
}

// --- labels_test.go ---------------------------------------------------------------------------

#[tokio::test]
async fn label_lexicographic_ordering_and_metric_name_label_present_and_no_duplicate_label_names() {
    let attrs = vec![
        kv("zeta", "1"),
        kv("Alpha", "2"),
        kv("beta", "3"),
        kv("_x", "4"),
    ];
    let (_, requests) = sent(batch(vec![gauge("order", &[1.0], attrs)])).await;
    // check_spec asserts sorted, unique, __name__ present; the values are kept.
    let l = labels(find(&requests, "order")[0].0, find(&requests, "order")[0].1);
    for (k, v) in [("zeta", "1"), ("Alpha", "2"), ("beta", "3"), ("_x", "4")] {
        assert_eq!(l.get(k).map(String::as_str), Some(v));
    }
}

#[tokio::test]
async fn label_names_not_empty_and_label_values_may_be_empty_and_reserved_label_prefix() {
    let attrs = vec![kv("empty", ""), kv("__reserved", "x")];
    let (_, requests) = sent(batch(vec![gauge("labels", &[1.0], attrs)])).await;
    let (r, s) = find(&requests, "labels")[0];
    let l = labels(r, s);
    assert!(!l.contains_key("empty"), "an empty value is dropped");
    for k in l.keys() {
        assert!(k == "__name__" || !k.starts_with("__"), "{k}");
    }
}

#[tokio::test]
async fn unicode_in_label_values_and_special_chars_and_very_long_and_many_labels() {
    let long_name = "n".repeat(300);
    let long_value = "v".repeat(20_000);
    let mut attrs = vec![
        kv("emoji", "🔥 日本 مرحبا Tiếng Việt"),
        kv("path", "/a=b&c"),
        kv(&long_name, "x"),
        kv("long", &long_value),
    ];
    attrs.extend((0..12).map(|i| kv(&format!("l{i}"), &i.to_string())));
    let (_, requests) = sent(batch(vec![gauge("a:b:c", &[1.0], attrs)])).await;
    let (r, s) = find(&requests, "a:b:c")[0];
    let l = labels(r, s);
    assert_eq!(l["emoji"], "🔥 日本 مرحبا Tiếng Việt");
    assert_eq!(l["path"], "/a=b&c");
    assert_eq!(l[&long_name], "x");
    assert_eq!(l["long"], long_value);
    assert!(l.len() >= 17, "{}", l.len());
}

// --- histograms_test.go -------------------------------------------------------------------------

#[tokio::test]
async fn native_histogram_structure_count_sum_schema_timestamp_and_buckets() {
    let (_, requests) = sent(mixed()).await;
    let series = find(&requests, "sizes");
    assert_eq!(series.len(), 1, "one series for a native histogram");
    let s = series[0].1;
    assert!(s.samples.is_empty(), "histogram_no_mixed_with_samples");
    let h = &s.histograms[0];
    use weir_proto::remote_write_v2::histogram::{Count, ZeroCount};
    assert_eq!(h.count, Some(Count::CountInt(6)), "histogram_count_present");
    assert_eq!(h.sum, 12.5, "histogram_sum_present");
    assert_eq!(h.schema, 2, "histogram_schema");
    assert_eq!(h.timestamp, MS, "histogram_timestamp");
    assert_eq!(
        h.zero_count,
        Some(ZeroCount::ZeroCountInt(1)),
        "histogram_zero_bucket"
    );
    assert_eq!(h.zero_threshold, 0.001);
    // histogram_positive_buckets, histogram_buckets_ordered: OTLP index i is Prometheus
    // bucket i + 1; the empty bucket splits the spans.
    let spans: Vec<(i32, u32)> = h
        .positive_spans
        .iter()
        .map(|s| (s.offset, s.length))
        .collect();
    assert_eq!(spans, vec![(0, 2), (1, 1)]);
    assert_eq!(h.positive_deltas, vec![1, 1, -1]);
    // histogram_negative_buckets
    assert_eq!(h.negative_spans.len(), 1);
    assert_eq!(h.negative_deltas, vec![1]);
}

#[tokio::test]
async fn histogram_empty_buckets_and_histogram_large_counts() {
    let big = u64::MAX / 4;
    let (_, requests) = sent(batch(vec![
        native_histogram("empty", 0, vec![], vec![], 0),
        native_histogram("large", big, vec![big], vec![], 0),
    ]))
    .await;
    use weir_proto::remote_write_v2::histogram::Count;
    let empty = &find(&requests, "empty")[0].1.histograms[0];
    assert_eq!(empty.count, Some(Count::CountInt(0)));
    assert!(empty.positive_spans.is_empty());
    let large = &find(&requests, "large")[0].1.histograms[0];
    assert_eq!(large.count, Some(Count::CountInt(big)));
    assert_eq!(large.positive_deltas, vec![big as i64]);
}

#[tokio::test]
async fn complete_metric_family_and_multiple_metric_types_and_mixed_sample_and_histogram_families()
{
    let (_, requests) = sent(mixed()).await;
    let value = |metric: &str, le: Option<&str>| {
        find(&requests, metric)
            .into_iter()
            .find(|(r, s)| {
                le.is_none_or(|le| labels(r, s).get("le").map(String::as_str) == Some(le))
            })
            .map(|(_, s)| s.samples[0].value)
    };
    assert_eq!(value("latency_seconds_bucket", Some("1")), Some(1.0));
    assert_eq!(value("latency_seconds_bucket", Some("2")), Some(2.0));
    assert_eq!(value("latency_seconds_bucket", Some("+Inf")), Some(2.0));
    assert_eq!(value("latency_seconds_sum", None), Some(3.0));
    assert_eq!(value("latency_seconds_count", None), Some(2.0));
    assert_eq!(value("rpc_sum", None), Some(6.0));
    assert_eq!(value("rpc_count", None), Some(3.0));
    assert_eq!(find(&requests, "rpc").len(), 2, "two quantiles");
    assert_eq!(value("temperature", None), Some(21.5));
    assert_eq!(find(&requests, "requests_total")[0].1.samples.len(), 2);
    assert_eq!(find(&requests, "sizes")[0].1.histograms.len(), 1);
}

// --- exemplars_test.go ---------------------------------------------------------------------------

#[tokio::test]
async fn exemplar_with_trace_id_span_id_custom_labels_value_timestamp_and_valid_refs() {
    let (_, requests) = sent(batch(vec![counter("requests", &[1.0, 2.0])])).await;
    let (r, s) = find(&requests, "requests_total")[0];
    assert_eq!(s.exemplars.len(), 2, "multiple_exemplars_per_series");
    for (i, e) in s.exemplars.iter().enumerate() {
        let l: BTreeMap<&str, &str> = e
            .labels_refs
            .chunks(2)
            .map(|p| {
                (
                    r.symbols[p[0] as usize].as_str(),
                    r.symbols[p[1] as usize].as_str(),
                )
            })
            .collect();
        assert_eq!(l["trace_id"], "ab".repeat(16));
        assert_eq!(l["span_id"], "cd".repeat(8));
        assert_eq!(l["user"], "u1");
        assert_eq!(e.value, (i + 1) as f64);
        assert_eq!(e.timestamp, MS + i as i64 * 1000);
    }
}

#[tokio::test]
async fn exemplar_on_histogram_and_histogram_with_metadata_and_exemplars() {
    let (_, requests) = sent(mixed()).await;
    let bucket = find(&requests, "latency_seconds_bucket")
        .into_iter()
        .find(|(r, s)| labels(r, s)["le"] == "2")
        .unwrap();
    assert_eq!(
        bucket.1.exemplars.len(),
        1,
        "the exemplar goes to its bucket"
    );
    assert_eq!(bucket.1.exemplars[0].value, 1.5);
    let native = find(&requests, "sizes")[0].1;
    assert_eq!(native.exemplars.len(), 1);
    assert_eq!(
        native.metadata.unwrap().r#type,
        MetricType::Histogram as i32
    );
}

// --- metadata_test.go -------------------------------------------------------------------------

#[tokio::test]
async fn metadata_type_counter_gauge_histogram_summary_and_help_unit_refs() {
    let (_, requests) = sent(mixed()).await;
    let meta = |metric: &str| {
        let (r, s) = find(&requests, metric)[0];
        let m = s.metadata.unwrap();
        (
            m.r#type,
            r.symbols[m.help_ref as usize].clone(),
            r.symbols[m.unit_ref as usize].clone(),
        )
    };
    assert_eq!(meta("requests_total").0, MetricType::Counter as i32);
    assert_eq!(
        meta("requests_total").1,
        "Requests served.",
        "metadata_help_text"
    );
    assert_eq!(meta("temperature").0, MetricType::Gauge as i32);
    assert_eq!(meta("temperature").1, "temperature help");
    assert_eq!(
        meta("latency_seconds_count").0,
        MetricType::Histogram as i32
    );
    assert_eq!(meta("latency_seconds_count").2, "seconds", "metadata_unit");
    assert_eq!(meta("sizes").0, MetricType::Histogram as i32);
    assert_eq!(meta("rpc_sum").0, MetricType::Summary as i32);
    assert_eq!(
        meta("rpc_count").1,
        "A \"quoted\" \\ help\nwith a newline.",
        "metadata_help_with_newlines, metadata_help_with_special_chars"
    );
    assert_eq!(meta("temperature").2, "", "no unit: the ref points at \"\"");
}

#[tokio::test]
async fn metadata_consistent_across_series_and_metadata_empty_help_allowed() {
    let mut nohelp = gauge("nohelp", &[1.0], vec![]);
    nohelp.description.clear();
    let mut metrics = vec![nohelp, classic_histogram("latency")];
    metrics.push(summary("rpc"));
    let (_, requests) = sent(batch(metrics)).await;
    let (_, s) = find(&requests, "nohelp")[0];
    assert_eq!(s.metadata.unwrap().help_ref, 0);
    for family in ["latency_seconds", "rpc"] {
        let metas: std::collections::HashSet<(i32, String, String)> = all_series(&requests)
            .into_iter()
            .filter(|(r, s)| name(r, s).starts_with(family))
            .map(|(r, s)| {
                let m = s.metadata.unwrap();
                (
                    m.r#type,
                    r.symbols[m.help_ref as usize].clone(),
                    r.symbols[m.unit_ref as usize].clone(),
                )
            })
            .collect();
        assert_eq!(metas.len(), 1, "{family}: {metas:?}");
    }
}

// --- retry_test.go, error_handling_test.go --------------------------------------------------

async fn status_case(answer: Answer) -> (Result<(), ExportError>, Vec<Seen>) {
    let (endpoint, url) = Endpoint::start(vec![answer]).await;
    let result = deliver(&exporter(&url), simple(), 10).await;
    (result, endpoint.seen())
}

#[tokio::test]
async fn retry_on_500_502_503_504_and_may_retry_on_429() {
    for code in [500, 502, 503, 504, 429] {
        let (result, seen) = status_case(status(code, "busy")).await;
        assert!(result.is_ok(), "{code}: {result:?}");
        assert_eq!(seen.len(), 2, "{code} is retried once, then delivered");
        assert_eq!(seen[0].body, seen[1].body, "the same request again");
        assert!(seen.iter().all(Seen::is_v2), "a retry is not a fallback");
    }
}

#[tokio::test]
async fn no_retry_on_400_401_404_413_and_handle_missing_written_headers() {
    for code in [400, 401, 404, 413] {
        let telemetry = Telemetry::new();
        let (endpoint, url) = Endpoint::start(vec![status(code, "no")]).await;
        let result = deliver(&exporter_with(&url, V2, &telemetry), simple(), 10).await;
        // Without the written headers, nothing was written: the point is rejected.
        assert!(
            matches!(
                result,
                Err(ExportError::Permanent {
                    rejected: Some(1),
                    ..
                })
            ),
            "{code}: {result:?}"
        );
        assert_eq!(endpoint.seen().len(), 1, "{code} is not retried");
        assert!(telemetry.encode().contains(
            "weir_prometheusremotewrite_samples_sent_total{exporter=\"prometheusremotewrite\"} 0"
        ));
    }
}

#[tokio::test]
async fn sender_continues_after_errors() {
    let (endpoint, url) = Endpoint::start(vec![status(400, "bad"), status(503, "busy")]).await;
    let e = exporter(&url);
    assert!(deliver(&e, simple(), 1).await.is_err());
    deliver(&e, batch(vec![gauge("next", &[1.0], vec![])]), 10)
        .await
        .unwrap();
    assert_eq!(endpoint.seen().len(), 3);
}

// --- response_test.go ------------------------------------------------------------------------------

#[tokio::test]
async fn handle_204_no_content_and_200_ok_and_ignore_response_body_on_success() {
    let mut ok_with_body = written(200, 1, 0, 0);
    if let Answer::Reply(_, _, body) = &mut ok_with_body {
        *body = "some body to ignore".into();
    }
    let (endpoint, url) = Endpoint::start(vec![written(204, 1, 0, 0), ok_with_body]).await;
    let e = exporter(&url);
    deliver(&e, simple(), 1).await.unwrap();
    deliver(&e, batch(vec![gauge("other", &[1.0], vec![])]), 1)
        .await
        .unwrap();
    assert_eq!(endpoint.seen().len(), 2);
    assert!(endpoint.seen().iter().all(Seen::is_v2));
}

#[tokio::test]
async fn process_written_count_headers_and_handle_partial_write_response() {
    let telemetry = Telemetry::new();
    // Three points; the endpoint says it wrote 1 sample of 3 (2xx, as some receivers do).
    let (endpoint, url) = Endpoint::start(vec![written(200, 1, 0, 0)]).await;
    let e = exporter_with(&url, V2, &telemetry);
    let result = deliver(&e, batch(vec![gauge("three", &[1.0, 2.0, 3.0], vec![])]), 5).await;
    match result {
        Err(ExportError::Permanent { rejected, message }) => {
            assert_eq!(rejected, Some(2), "{message}");
            assert!(message.contains("partial_write"), "{message}");
        }
        other => panic!("expected a partial write, got {other:?}"),
    }
    assert_eq!(endpoint.seen().len(), 1, "a partial write is not retried");
    let text = telemetry.encode();
    assert!(
        text.contains(
            "weir_prometheusremotewrite_samples_sent_total{exporter=\"prometheusremotewrite\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("reason=\"partial_write\"} 2"), "{text}");
}

#[tokio::test]
async fn handle_partial_write_response_on_400_with_written_headers() {
    let telemetry = Telemetry::new();
    let mut answer = written(400, 2, 0, 0);
    if let Answer::Reply(_, _, body) = &mut answer {
        *body = "1 sample out of bounds".into();
    }
    let (_endpoint, url) = Endpoint::start(vec![answer]).await;
    let e = exporter_with(&url, V2, &telemetry);
    let result = deliver(&e, batch(vec![gauge("three", &[1.0, 2.0, 3.0], vec![])]), 5).await;
    assert!(
        matches!(
            result,
            Err(ExportError::Permanent {
                rejected: Some(1),
                ..
            })
        ),
        "{result:?}"
    );
    let text = telemetry.encode();
    assert!(
        text.contains(
            "weir_prometheusremotewrite_samples_sent_total{exporter=\"prometheusremotewrite\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("reason=\"partial_write\"} 1"), "{text}");
}

// --- fallback_test.go, rw1_compat_test.go ------------------------------------------------------------

#[tokio::test]
async fn fallback_on_415_and_retry_with_different_version_and_fallback_header_changes_and_accept_success_after_fallback_and_persistent_fallback_choice(
) {
    let (endpoint, url) =
        Endpoint::start(vec![status(415, "RW 2.0 not supported, please use RW 1.0")]).await;
    let e = exporter(&url);
    deliver(&e, simple(), 1).await.unwrap();
    deliver(&e, batch(vec![gauge("after", &[1.0], vec![])]), 1)
        .await
        .unwrap();
    let seen = endpoint.seen();
    assert_eq!(
        seen.len(),
        3,
        "the 2.0 attempt, its 1.0 resend, the next batch"
    );
    assert!(seen[0].is_v2());
    for later in &seen[1..] {
        assert_eq!(later.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(
            later.header("x-prometheus-remote-write-version"),
            Some("0.1.0")
        );
    }
    let resent = decode_v1(&seen[1]);
    assert_eq!(
        resent.timeseries[0].samples[0].value, 42.0,
        "the same sample, as 1.0"
    );
    assert_eq!(decode_v1(&seen[2]).timeseries.len(), 1);
}

#[tokio::test]
async fn fallback_on_2xx_without_written_headers() {
    // The spec: a 2xx without any written header to a 2.0 body is a 1.0 receiver that
    // read an empty message; treat it as a 415.
    let (endpoint, url) = Endpoint::start(vec![status(204, "")]).await;
    deliver(&exporter(&url), simple(), 1).await.unwrap();
    let seen = endpoint.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].is_v2() && !seen[1].is_v2());
    assert_eq!(decode_v1(&seen[1]).timeseries.len(), 1);
}

#[tokio::test]
async fn no_fallback_on_2xx() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    let e = exporter(&url);
    for i in 0..3 {
        deliver(&e, batch(vec![gauge(&format!("g{i}"), &[1.0], vec![])]), 1)
            .await
            .unwrap();
    }
    assert_eq!(endpoint.seen().len(), 3);
    assert!(endpoint.seen().iter().all(Seen::is_v2));
}

#[tokio::test]
async fn remote_write1_configuration() {
    // TestRemoteWrite1Configuration: 1.0 is the default and can be named; 2.0 is chosen
    // by name; anything else is refused at validation with the key's path.
    for (extra, v2) in [
        ("", false),
        ("protobuf_message: prometheus.WriteRequest\n", false),
        (V2, true),
    ] {
        let (endpoint, url) = Endpoint::start(vec![]).await;
        deliver(&exporter_with(&url, extra, &Telemetry::new()), simple(), 1)
            .await
            .unwrap();
        assert_eq!(endpoint.seen()[0].is_v2(), v2, "{extra}");
    }
    let value: weir_api::Value =
        serde_yaml_ng::from_str("endpoint: http://127.0.0.1:1/\nprotobuf_message: nope\n").unwrap();
    let problems = weir_prometheusremotewrite_exporter::factory().check(&value);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, vec!["protobuf_message".to_string()]);
}

// --- labels_test.go, edge_cases_test.go, batching_test.go (more) ---------------------------------

#[tokio::test]
async fn metric_name_format_valid_and_label_name_format_valid() {
    // The default strategy escapes what the classic regexes do not allow.
    let (_, requests) = sent(batch(vec![gauge(
        "http.server-latency",
        &[1.0],
        vec![kv("bad-key.x", "1"), kv("9lives", "2")],
    )]))
    .await;
    let name_ok = |s: &str| {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    };
    for (r, s) in all_series(&requests) {
        let l = labels(r, s);
        assert!(name_ok(&l["__name__"]), "{}", l["__name__"]);
        for k in l.keys() {
            assert!(name_ok(k) && !k.contains(':'), "{k}");
        }
    }
    let (r, s) = find(&requests, "http_server_latency")[0];
    let l = labels(r, s);
    assert_eq!(l["bad_key_x"], "1");
    assert_eq!(l["key_9lives"], "2");
}

#[tokio::test]
async fn empty_scrape() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url), batch(vec![]), 1).await.unwrap();
    assert!(endpoint.seen().is_empty(), "nothing to send, nothing sent");
}

#[tokio::test]
async fn many_timeseries_and_high_cardinality_and_concurrent_requests() {
    // 5000 series of one instance: spread over the lanes (several requests, each with
    // its own valid table), every series arrives once.
    let (endpoint, url) = Endpoint::start(vec![]).await;
    let points: Vec<NumberDataPoint> = (0..5000)
        .map(|i| NumberDataPoint {
            attributes: vec![kv("id", &format!("user-{i}"))],
            time_unix_nano: T,
            value: Some(number_data_point::Value::AsDouble(i as f64)),
            ..Default::default()
        })
        .collect();
    let m = Metric {
        name: "sessions".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    };
    deliver(&exporter(&url), batch(vec![m]), 1).await.unwrap();
    let requests = endpoint.requests();
    assert!(
        requests.len() >= 5,
        "one request per lane at least: {}",
        requests.len()
    );
    let ids: std::collections::HashSet<String> = find(&requests, "sessions")
        .into_iter()
        .map(|(r, s)| labels(r, s)["id"].clone())
        .collect();
    assert_eq!(ids.len(), 5000);
}
