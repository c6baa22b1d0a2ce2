//! The remote-write sender compliance cases that apply to a 1.0 sender and concern the
//! exporter alone (tests/conformance/remote_write/compliance_cases.md, part B: protocol,
//! rw1_*, retry, backoff, error handling, response processing). Each test is named after
//! its case. Part A (the v1 suite, scrape to receiver) runs end to end in
//! integration/test_remote_write_compliance.py.
//!
//! The endpoint is a raw HTTP/1.1 server on 127.0.0.1 that records every request and
//! answers as the case says (a status, a closed connection, garbage, a slow answer), so
//! that answers no well-behaved server gives can be tested too. Each test drives the
//! exporter as the engine does: `prepare` once, then `send` until it stops asking for a
//! retry.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, BuildContext, ComponentId, ExportError, Exporter};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics,
};
use weir_proto::remote_write::WriteRequest;
use weir_proto::resource::v1::Resource;

/// How the endpoint answers one request.
#[derive(Clone, Debug)]
enum Answer {
    Status(u16, String),
    /// Close the connection without answering.
    Close,
    /// Answer 200 after this long.
    Slow(Duration),
    /// Bytes that are not HTTP.
    Garbage,
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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

    /// Serves requests on one connection until it closes or an answer closes it.
    async fn serve(self, mut stream: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        loop {
            let Some((seen, rest)) = read_request(&mut stream, std::mem::take(&mut buffer)).await
            else {
                return;
            };
            buffer = rest;
            self.seen.lock().unwrap().push(seen);
            let answer = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Answer::Status(200, String::new()));
            let response = match answer {
                Answer::Status(code, body) => format!(
                    "HTTP/1.1 {code} Whatever\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
                Answer::Close => return,
                Answer::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_string()
                }
                Answer::Garbage => {
                    let _ = stream.write_all(b"\x00\x01 this is not http\r\n\r\n").await;
                    return;
                }
            };
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// One request from `buffer` and the stream: request line, headers, Content-Length body.
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
    let seen = Seen {
        method,
        headers,
        body,
        at: Instant::now(),
    };
    Some((seen, rest))
}

fn exporter(url: &str, extra: &str) -> Arc<dyn Exporter> {
    let config = format!(
        "endpoint: {url}\ntimeout: 500ms\nretry_on_failure: {{initial_interval: 20ms, max_interval: 100ms, randomization_factor: 0}}\n{extra}"
    );
    let value: weir_api::Value = serde_yaml_ng::from_str(&config).unwrap();
    let ctx = BuildContext {
        id: ComponentId::new("prometheusremotewrite", None),
        telemetry: Telemetry::new(),
    };
    weir_prometheusremotewrite_exporter::factory()
        .build(ctx, &value)
        .unwrap()
        .exporter
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

fn simple() -> Batch {
    batch(vec![gauge("test_metric", &[1.0], vec![])])
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

fn decode(seen: &Seen) -> WriteRequest {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&seen.body)
        .unwrap();
    WriteRequest::decode(raw.as_slice()).unwrap()
}

async fn status_case(status: u16) -> (Result<(), ExportError>, usize) {
    let (endpoint, url) = Endpoint::start(vec![Answer::Status(status, "no".into())]).await;
    let e = exporter(&url, "");
    let result = deliver(&e, simple(), 10).await;
    (result, endpoint.seen().len())
}

async fn retried(status: u16) {
    let (result, posts) = status_case(status).await;
    assert!(result.is_ok(), "{status}: {result:?}");
    assert_eq!(posts, 2, "{status} is retried once, then delivered");
}

async fn not_retried(status: u16) {
    let (result, posts) = status_case(status).await;
    assert!(
        matches!(
            result,
            Err(ExportError::Permanent {
                rejected: Some(1),
                ..
            })
        ),
        "{status}: {result:?}"
    );
    assert_eq!(posts, 1, "{status} is not retried");
}

// --- protocol_test.go, rw1_compat_test.go -------------------------------------------------

#[tokio::test]
async fn content_type_protobuf() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url, ""), simple(), 1).await.unwrap();
    for seen in endpoint.seen() {
        assert_eq!(seen.header("content-type"), Some("application/x-protobuf"));
    }
}

#[tokio::test]
async fn content_encoding_snappy() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url, ""), simple(), 1).await.unwrap();
    for seen in endpoint.seen() {
        assert_eq!(seen.header("content-encoding"), Some("snappy"));
    }
}

#[tokio::test]
async fn version_header_present_and_value_rw1_version_header() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url, ""), simple(), 1).await.unwrap();
    for seen in endpoint.seen() {
        assert_eq!(
            seen.header("x-prometheus-remote-write-version"),
            Some("0.1.0")
        );
    }
}

#[tokio::test]
async fn user_agent_present() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url, ""), simple(), 1).await.unwrap();
    for seen in endpoint.seen() {
        assert!(seen.header("user-agent").is_some_and(|ua| !ua.is_empty()));
    }
}

#[tokio::test]
async fn snappy_block_format_and_protobuf_parseable() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url, ""), simple(), 1).await.unwrap();
    let seen = endpoint.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        // The framed format starts with its stream identifier chunk (0xff "sNaPpY").
        assert_ne!(s.body.first(), Some(&0xff));
        assert!(!decode(s).timeseries.is_empty());
    }
}

#[tokio::test]
async fn http_method_post() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(&exporter(&url, ""), simple(), 1).await.unwrap();
    assert!(endpoint.seen().iter().all(|s| s.method == "POST"));
}

#[tokio::test]
async fn rw1_samples_labels_and_no_native_histograms_or_start_timestamp() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    let histogram = Metric {
        name: "latency".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: T - 1_000_000_000,
                time_unix_nano: T,
                count: 2,
                sum: Some(3.0),
                bucket_counts: vec![1, 1, 0],
                explicit_bounds: vec![1.0, 2.0],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let special = [123.45, 42.0, 0.0, -15.5, f64::INFINITY, f64::NEG_INFINITY];
    let metrics = vec![
        gauge(
            "values",
            &special,
            vec![kv("emoji", "🔥 日本"), kv("path", "/a=b&c")],
        ),
        histogram,
    ];
    deliver(&exporter(&url, ""), batch(metrics), 1)
        .await
        .unwrap();
    let mut samples = Vec::new();
    let mut names = Vec::new();
    for seen in endpoint.seen() {
        for series in decode(&seen).timeseries {
            assert!(series.histograms.is_empty(), "v1: classic series only");
            let labels: Vec<(String, String)> = series
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let mut sorted = labels.clone();
            sorted.sort();
            assert_eq!(labels, sorted, "label_lexicographic_ordering");
            let name = labels
                .iter()
                .find(|(k, _)| k == "__name__")
                .unwrap()
                .1
                .clone();
            if name == "values" {
                assert!(labels.contains(&("emoji".into(), "🔥 日本".into())));
                assert!(labels.contains(&("path".into(), "/a=b&c".into())));
                samples.extend(series.samples.iter().map(|s| (s.timestamp, s.value)));
            }
            names.push(name);
        }
    }
    samples.sort_by_key(|s| s.0);
    let ms = (T / 1_000_000) as i64;
    let want: Vec<(i64, f64)> = special
        .iter()
        .enumerate()
        .map(|(i, v)| (ms + i as i64 * 1000, *v))
        .collect();
    assert_eq!(samples, want, "values and millisecond timestamps kept");
    names.sort();
    for family in ["latency_bucket", "latency_count", "latency_sum"] {
        assert!(names.iter().any(|n| n == family), "{names:?}");
    }
}

#[tokio::test]
async fn nan_encoding() {
    let (endpoint, url) = Endpoint::start(vec![]).await;
    deliver(
        &exporter(&url, ""),
        batch(vec![gauge("n", &[f64::NAN], vec![])]),
        1,
    )
    .await
    .unwrap();
    let value = decode(&endpoint.seen()[0]).timeseries[0].samples[0].value;
    assert!(value.is_nan());
}

// --- retry_test.go -----------------------------------------------------------------------

#[tokio::test]
async fn no_retry_on_400() {
    not_retried(400).await;
}

#[tokio::test]
async fn no_retry_on_401() {
    not_retried(401).await;
}

#[tokio::test]
async fn no_retry_on_404() {
    not_retried(404).await;
}

#[tokio::test]
async fn no_retry_on_413() {
    not_retried(413).await;
}

#[tokio::test]
async fn may_retry_on_429() {
    retried(429).await;
}

#[tokio::test]
async fn retry_on_500() {
    retried(500).await;
}

#[tokio::test]
async fn retry_on_502() {
    retried(502).await;
}

#[tokio::test]
async fn retry_on_503() {
    retried(503).await;
}

#[tokio::test]
async fn retry_on_504() {
    retried(504).await;
}

// --- backoff_test.go ------------------------------------------------------------------------

/// Lower bounds only (a loaded machine can only lengthen a gap): each retry waits at
/// least its backoff, and the backoff grows by `multiplier` (1.5, no jitter here) up to
/// `max_interval` (100ms). That the backoff never exceeds its cap is checked on the
/// backoff itself, in `lane.rs`'s unit tests.
#[tokio::test]
async fn backoff_required_exponential_and_capped() {
    let failures = vec![Answer::Status(503, String::new()); 6];
    let (endpoint, url) = Endpoint::start(failures).await;
    deliver(&exporter(&url, ""), simple(), 20).await.unwrap();
    let times: Vec<Instant> = endpoint.seen().iter().map(|s| s.at).collect();
    assert_eq!(times.len(), 7);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // backoff_required and exponential_backoff_on_retries: 20, 30, 45, 67.5, 100, 100 ms.
    let mut backoff = 20.0f64;
    for gap in &gaps {
        assert!(
            gap.as_secs_f64() * 1000.0 >= backoff * 0.95,
            "{gaps:?}: a gap shorter than its backoff of {backoff}ms"
        );
        backoff = (backoff * 1.5).min(100.0);
    }
}

// --- error_handling_test.go, response_test.go ---------------------------------------------

#[tokio::test]
async fn handle_connection_refused_and_sender_continues_after_errors() {
    let (endpoint, url) = Endpoint::start(vec![Answer::Close, Answer::Close]).await;
    let e = exporter(&url, "");
    deliver(&e, simple(), 10).await.unwrap();
    deliver(&e, batch(vec![gauge("later", &[2.0], vec![])]), 10)
        .await
        .unwrap();
    assert!(endpoint.seen().len() >= 4);
}

#[tokio::test]
async fn handle_timeout() {
    let (endpoint, url) = Endpoint::start(vec![Answer::Slow(Duration::from_secs(2))]).await;
    // `timeout: 500ms`: the slow answer is given up and the request retried.
    deliver(&exporter(&url, ""), simple(), 10).await.unwrap();
    assert_eq!(endpoint.seen().len(), 2);
}

#[tokio::test]
async fn handle_malformed_response() {
    let (endpoint, url) = Endpoint::start(vec![Answer::Garbage]).await;
    deliver(&exporter(&url, ""), simple(), 10).await.unwrap();
    assert_eq!(endpoint.seen().len(), 2);
}

#[tokio::test]
async fn handle_invalid_status_code() {
    let (endpoint, url) = Endpoint::start(vec![Answer::Status(599, String::new())]).await;
    deliver(&exporter(&url, ""), simple(), 10).await.unwrap();
    assert_eq!(
        endpoint.seen().len(),
        2,
        "a 5xx, however unusual, is retried"
    );
}

#[tokio::test]
async fn handle_large_error_response() {
    let big = "x".repeat(1 << 20);
    let (endpoint, url) = Endpoint::start(vec![Answer::Status(500, big)]).await;
    deliver(&exporter(&url, ""), simple(), 10).await.unwrap();
    assert_eq!(endpoint.seen().len(), 2);
}

#[tokio::test]
async fn log_error_messages_verbatim() {
    let text = "err: out of order sample for series {a=\"1\"}";
    let (_endpoint, url) = Endpoint::start(vec![Answer::Status(400, text.into())]).await;
    match deliver(&exporter(&url, ""), simple(), 1).await {
        Err(ExportError::Permanent { message, .. }) => {
            assert!(message.contains(text), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn handle_204_no_content_and_200_ok_and_ignore_response_body_on_success() {
    let answers = vec![
        Answer::Status(204, String::new()),
        Answer::Status(200, "some body to ignore".into()),
    ];
    let (endpoint, url) = Endpoint::start(answers).await;
    let e = exporter(&url, "");
    deliver(&e, simple(), 1).await.unwrap();
    deliver(&e, batch(vec![gauge("other", &[1.0], vec![])]), 1)
        .await
        .unwrap();
    assert_eq!(endpoint.seen().len(), 2);
}

#[tokio::test]
async fn handle_empty_response() {
    let (endpoint, url) = Endpoint::start(vec![Answer::Status(200, String::new())]).await;
    deliver(&exporter(&url, ""), simple(), 1).await.unwrap();
    assert_eq!(endpoint.seen().len(), 1);
}
