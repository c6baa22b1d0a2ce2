//! The exporter against an in-process HTTP server on 127.0.0.1: headers, the decoded
//! `WriteRequest`, status handling, request splitting and ordering across retries.
//! Each test drives a request as the engine does: `prepare` once, then `send` for every
//! attempt.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prost::Message;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, BuildContext, ComponentId, ExportError, ExportRequest, Exporter};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use weir_proto::remote_write::WriteRequest;
use weir_proto::resource::v1::Resource;

#[derive(Clone, Debug)]
struct Received {
    headers: http::HeaderMap,
    request: WriteRequest,
    compressed_len: usize,
}

/// Status, Retry-After, body.
type Answer = (u16, Option<&'static str>, &'static str);

#[derive(Clone, Default)]
struct Server {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers to give, in order; 200 when empty.
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Server {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let me = me.clone();
                        async move {
                            let headers = req.headers().clone();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                            let request = WriteRequest::decode(raw.as_slice()).unwrap();
                            let (status, retry_after, text) = me
                                .script
                                .lock()
                                .unwrap()
                                .pop_front()
                                .unwrap_or((200, None, ""));
                            if status < 300 {
                                me.received.lock().unwrap().push(Received {
                                    headers,
                                    request,
                                    compressed_len: body.len(),
                                });
                            }
                            let mut response = hyper::Response::builder().status(status);
                            if let Some(ra) = retry_after {
                                response = response.header("Retry-After", ra);
                            }
                            Ok::<_, Infallible>(
                                response.body(Full::new(Bytes::from(text))).unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{addr}/api/v1/write")
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn exporter(config: &str, telemetry: &Telemetry) -> Arc<dyn Exporter> {
    let value: weir_api::Value = serde_yaml_ng::from_str(config).unwrap();
    let ctx = BuildContext {
        id: ComponentId::new("prometheusremotewrite", None),
        telemetry: telemetry.clone(),
    };
    weir_prometheusremotewrite_exporter::factory()
        .build(ctx, &value)
        .unwrap()
        .exporter
}

/// Prepares `batch` and makes one attempt, as the engine's first attempt does.
async fn export(e: &Arc<dyn Exporter>, batch: Batch) -> Result<(), ExportError> {
    let mut request: Box<dyn ExportRequest> = e.prepare(batch)?;
    request.send().await
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

/// `series` counters named `requests` with label `n`, each at `time_ms` past T.
fn batch(series: usize, time_ms: u64, value: f64, temporality: AggregationTemporality) -> Batch {
    let points = (0..series)
        .map(|i| NumberDataPoint {
            attributes: vec![kv("n", &i.to_string())],
            // Delta points cover the second before them; cumulative ones start at T.
            start_time_unix_nano: match temporality {
                AggregationTemporality::Delta => T + time_ms.saturating_sub(1_000) * 1_000_000,
                _ => T,
            },
            time_unix_nano: T + time_ms * 1_000_000,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        })
        .collect();
    Batch::from_metrics(vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "svc")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "requests".into(),
                data: Some(metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: temporality as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn samples(received: &[Received]) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for r in received {
        for s in &r.request.timeseries {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            for sample in &s.samples {
                out.push((labels.join(","), sample.timestamp, sample.value));
            }
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

#[tokio::test]
async fn headers_and_write_request_content() {
    let server = Server::default();
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(&format!("endpoint: {url}\nheaders: {{X-Scope-OrgID: tenant-1}}\nexternal_labels: {{cluster: c1}}\n"), &telemetry);
    export(&e, batch(2, 0, 5.0, AggregationTemporality::Cumulative))
        .await
        .unwrap();
    let received = server.received();
    assert!(!received.is_empty());
    let h = &received[0].headers;
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert!(h["user-agent"].to_str().unwrap().starts_with("weir/"));
    assert_eq!(h["x-scope-orgid"], "tenant-1");
    let all = samples(&received);
    let ts = (T / 1_000_000) as i64;
    assert!(
        all.contains(&(
            "__name__=requests_total,cluster=c1,job=svc,n=0".into(),
            ts,
            5.0
        )),
        "{all:?}"
    );
    assert!(all.contains(&(
        "__name__=requests_total,cluster=c1,job=svc,n=1".into(),
        ts,
        5.0
    )));
    assert_eq!(
        all.len(),
        2,
        "no target_info: the resource has only service.name"
    );
    assert!(telemetry.encode().contains(
        "weir_prometheusremotewrite_samples_sent_total{exporter=\"prometheusremotewrite\"} 2"
    ));
}

#[tokio::test]
async fn retryable_then_delivered_once_and_delta_not_double_counted() {
    let server = Server::default();
    server
        .script
        .lock()
        .unwrap()
        .push_back((503, Some("3"), "busy"));
    let url = server.start().await;
    let e = exporter(&format!("endpoint: {url}\n"), &Telemetry::new());
    let mut request = e
        .prepare(batch(1, 1_000, 2.0, AggregationTemporality::Delta))
        .unwrap();
    match request.send().await {
        Err(ExportError::Retryable {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)));
            assert!(message.contains("503"), "{message}");
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    // The engine retries the same request: it must not add the delta a second time.
    request.send().await.unwrap();
    export(&e, batch(1, 2_000, 3.0, AggregationTemporality::Delta))
        .await
        .unwrap();
    let values: Vec<f64> = samples(&server.received()).iter().map(|s| s.2).collect();
    assert_eq!(values, vec![2.0, 5.0]);
}

#[tokio::test]
async fn too_many_requests_is_retryable_and_bad_request_is_permanent() {
    let server = Server::default();
    server.script.lock().unwrap().push_back((429, None, ""));
    server
        .script
        .lock()
        .unwrap()
        .push_back((400, None, "out of order sample"));
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(
        &format!("endpoint: {url}\nremote_write_queue: {{num_consumers: 1}}\n"),
        &telemetry,
    );
    assert!(matches!(
        export(&e, batch(1, 0, 1.0, AggregationTemporality::Cumulative)).await,
        Err(ExportError::Retryable { .. })
    ));
    match export(&e, batch(3, 5, 1.0, AggregationTemporality::Cumulative)).await {
        Err(ExportError::Permanent { rejected, message }) => {
            assert_eq!(rejected, Some(3));
            assert!(message.contains("out of order sample"), "{message}");
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    let text = telemetry.encode();
    assert!(text.contains("result=\"permanent_error\"} 1"), "{text}");
    assert!(text.contains("result=\"retryable_error\"} 1"), "{text}");
}

#[tokio::test]
async fn network_error_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = exporter(
        &format!("endpoint: http://{addr}/api/v1/write\n"),
        &Telemetry::new(),
    );
    assert!(matches!(
        export(&e, batch(1, 0, 1.0, AggregationTemporality::Cumulative)).await,
        Err(ExportError::Retryable { .. })
    ));
}

#[tokio::test]
async fn requests_are_split_by_bytes() {
    let server = Server::default();
    let url = server.start().await;
    let e = exporter(&format!("endpoint: {url}\nmax_batch_size_bytes: 2000\nremote_write_queue: {{num_consumers: 1}}\n"), &Telemetry::new());
    export(&e, batch(300, 0, 1.0, AggregationTemporality::Cumulative))
        .await
        .unwrap();
    let received = server.received();
    assert!(received.len() > 5, "{} requests", received.len());
    for r in &received {
        assert!(
            r.request.encoded_len() <= 2000,
            "{}",
            r.request.encoded_len()
        );
        assert!(r.compressed_len > 0);
    }
    assert_eq!(samples(&received).len(), 300);
}

#[tokio::test]
async fn an_older_sample_never_follows_a_newer_one() {
    let server = Server::default();
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(&format!("endpoint: {url}\n"), &telemetry);
    // The source sends an older point after a newer one.
    export(&e, batch(1, 2_000, 9.0, AggregationTemporality::Cumulative))
        .await
        .unwrap();
    // Left out, counted as dropped, and reported as rejected: not counted as sent.
    match export(&e, batch(1, 1_000, 4.0, AggregationTemporality::Cumulative)).await {
        Err(ExportError::Permanent { rejected, message }) => {
            assert_eq!(rejected, Some(1));
            assert!(message.contains("sample_older_than_delivered"), "{message}");
        }
        other => panic!("expected the older point rejected, got {other:?}"),
    }
    let all = samples(&server.received());
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].2, 9.0);
    assert!(telemetry
        .encode()
        .contains("reason=\"sample_older_than_delivered\"} 1"));
}

#[tokio::test]
async fn concurrent_exports_keep_each_series_in_order() {
    let server = Server::default();
    let url = server.start().await;
    let e = exporter(
        &format!("endpoint: {url}\nremote_write_queue: {{num_consumers: 4}}\n"),
        &Telemetry::new(),
    );
    // Prepared in order (as the pipeline hands batches over), then sent by concurrent
    // workers that start in the reverse order: the race of issue 13.
    let prepared: Vec<_> = (0..20u64)
        .map(|step| {
            e.prepare(batch(
                50,
                step * 1_000,
                step as f64,
                AggregationTemporality::Cumulative,
            ))
            .unwrap()
        })
        .collect();
    let mut tasks = Vec::new();
    for mut request in prepared.into_iter().rev() {
        tasks.push(tokio::spawn(async move { request.send().await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // In arrival order at the server, every series' timestamps strictly increase.
    let mut newest = std::collections::HashMap::new();
    for r in server.received() {
        for s in &r.request.timeseries {
            let key = format!("{:?}", s.labels);
            for sample in &s.samples {
                let last = newest.insert(key.clone(), sample.timestamp);
                assert!(
                    last.is_none_or(|l| l < sample.timestamp),
                    "out of order for {key}"
                );
            }
        }
    }
    assert_eq!(newest.len(), 50);
    assert_eq!(
        samples(&server.received()).len(),
        50 * 20,
        "every sample arrived"
    );
}

/// Issue 13: a round that failed must not be overtaken by the next round, even when the
/// next round's worker starts first; the retried round is delivered, not dropped by the
/// ordering check, and the sent counters count what was accepted.
#[tokio::test]
async fn a_newer_round_waits_for_the_retry_of_an_older_one() {
    let server = Server::default();
    for _ in 0..3 {
        server.script.lock().unwrap().push_back((503, None, "busy"));
    }
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(
        &format!("endpoint: {url}\nremote_write_queue: {{num_consumers: 1}}\nretry_on_failure: {{initial_interval: 10ms, max_interval: 20ms}}\n"),
        &telemetry,
    );
    let mut older = e
        .prepare(batch(1, 1_000, 1.0, AggregationTemporality::Cumulative))
        .unwrap();
    let mut newer = e
        .prepare(batch(1, 2_000, 2.0, AggregationTemporality::Cumulative))
        .unwrap();
    // Another consumer takes the next round first.
    let next_round = tokio::spawn(async move { newer.send().await });
    let mut failures = 0;
    loop {
        match older.send().await {
            Ok(()) => break,
            Err(ExportError::Retryable { message, .. }) => {
                assert!(message.contains("503"), "{message}");
                failures += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(failures, 3, "each failed attempt reported once");
    next_round.await.unwrap().unwrap();

    let received = server.received();
    let times: Vec<i64> = received
        .iter()
        .flat_map(|r| &r.request.timeseries)
        .flat_map(|s| &s.samples)
        .map(|s| s.timestamp)
        .collect();
    let ts = (T / 1_000_000) as i64;
    assert_eq!(times, vec![ts + 1_000, ts + 2_000], "both rounds, in order");
    let text = telemetry.encode();
    assert!(
        !text.contains("reason=\"sample_older_than_delivered\"} 1"),
        "{text}"
    );
    assert!(text.contains(
        "weir_prometheusremotewrite_samples_sent_total{exporter=\"prometheusremotewrite\"} 2"
    ));
}

/// A request given up by the engine (dropped while its lane retries it) lets the
/// requests behind it go, and what it did not send is never sent.
#[tokio::test]
async fn a_dropped_request_does_not_hold_back_its_shard() {
    let server = Server::default();
    server.script.lock().unwrap().push_back((503, None, "busy"));
    let url = server.start().await;
    let e = exporter(
        &format!("endpoint: {url}\nremote_write_queue: {{num_consumers: 1}}\nretry_on_failure: {{initial_interval: 1s, max_interval: 1s}}\n"),
        &Telemetry::new(),
    );
    let mut older = e
        .prepare(batch(1, 1_000, 1.0, AggregationTemporality::Cumulative))
        .unwrap();
    let mut newer = e
        .prepare(batch(1, 2_000, 2.0, AggregationTemporality::Cumulative))
        .unwrap();
    assert!(older.send().await.is_err());
    let next_round = tokio::spawn(async move { newer.send().await });
    drop(older);
    tokio::time::timeout(Duration::from_secs(5), next_round)
        .await
        .expect("the newer round is not held back by a dropped request")
        .unwrap()
        .unwrap();
    let all = samples(&server.received());
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].2, 2.0);
}
