//! The receiver against an in-process HTTP target on 127.0.0.1: the OTLP it produces
//! from a fixed exposition, gzip, stale markers, and up=0 (with the failure counted) for
//! a 500, garbage, a timeout, a body over body_size_limit and sample_limit exceeded,
//! while a good target in the same receiver keeps working.

#![allow(clippy::unwrap_used)] // test helpers, like the tests themselves, may panic

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::Telemetry;
use weir_api::{
    Batch, BuildContext, ComponentId, ConsumeError, Consumer, ReceiverContext, ReceiverOutput,
    Signal,
};
use weir_proto::common::v1::any_value::Value as AnyValue;
use weir_proto::common::v1::KeyValue;
use weir_proto::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Metric, ResourceMetrics,
};

const TEXT: &str = "# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code=\"200\"} 10
http_requests_total{code=\"500\"} 2
# TYPE temperature gauge
temperature{room=\"a\",job=\"scraped_job\"} 21.5
# TYPE latency histogram
latency_bucket{le=\"0.1\"} 1
latency_bucket{le=\"1\"} 3
latency_bucket{le=\"+Inf\"} 4
latency_sum 2.5
latency_count 4
# TYPE rpc summary
rpc{quantile=\"0.5\"} 0.2
rpc{quantile=\"0.9\"} 0.7
rpc_sum 9
rpc_count 30
untyped_thing 7
target_info{env=\"prod\",version=\"1.2\"} 1
";

const OPENMETRICS: &str = "# TYPE jobs counter
jobs_total 5 # {trace_id=\"0102030405060708090a0b0c0d0e0f10\"} 1 1700000000
jobs_created 1700000000.5
# EOF
";

struct Collect(mpsc::UnboundedSender<Batch>);

#[async_trait]
impl Consumer for Collect {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let _ = self.0.send(batch);
        Ok(())
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// Serves a few fixed paths; `/vanishing` drops a series after its first scrape.
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let flaky_hits = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let hits = hits.clone();
            let flaky_hits = flaky_hits.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let hits = hits.clone();
                    let flaky_hits = flaky_hits.clone();
                    async move {
                        let accept = request
                            .headers()
                            .get("accept")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        let builder = Response::builder();
                        let response = match request.uri().path() {
                            "/text" => builder
                                .header("content-type", "text/plain; version=0.0.4")
                                .body(Full::<Bytes>::from(TEXT)),
                            "/openmetrics" => {
                                assert!(
                                    accept
                                        .starts_with("application/openmetrics-text;version=1.0.0"),
                                    "{accept}"
                                );
                                builder
                                    .header(
                                        "content-type",
                                        "application/openmetrics-text; version=1.0.0",
                                    )
                                    .body(Full::<Bytes>::from(OPENMETRICS))
                            }
                            "/gzip" => builder
                                .header("content-encoding", "gzip")
                                .body(Full::<Bytes>::from(Bytes::from(gzip(TEXT)))),
                            "/error" => builder.status(500).body(Full::<Bytes>::from("boom")),
                            "/garbage" => {
                                builder.body(Full::<Bytes>::from("this is { not metrics\n"))
                            }
                            "/slow" => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                builder.body(Full::<Bytes>::from(TEXT))
                            }
                            "/big" => builder.body(Full::<Bytes>::from("x 1\n".repeat(10_000))),
                            "/vanishing" => {
                                let n = hits.fetch_add(1, Ordering::SeqCst);
                                let body = if n == 0 { "a 1\nb 2\n" } else { "a 1\n" };
                                builder.body(Full::<Bytes>::from(body))
                            }
                            "/flaky" => {
                                // Serves TEXT once, then answers 503 for good.
                                if flaky_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                                    builder.body(Full::<Bytes>::from(TEXT))
                                } else {
                                    builder.status(503).body(Full::<Bytes>::from("down"))
                                }
                            }
                            _ => builder.status(404).body(Full::<Bytes>::from("")),
                        };
                        Ok::<_, Infallible>(response.unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

struct Running {
    batches: mpsc::UnboundedReceiver<Batch>,
    telemetry: Telemetry,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Waits (bounded) for the next batch whose target resource has this job.
    async fn next_for_job(&mut self, job: &str) -> Vec<ResourceMetrics> {
        loop {
            let batch = tokio::time::timeout(Duration::from_secs(20), self.batches.recv())
                .await
                .unwrap_or_else(|_| panic!("no batch for job {job}"))
                .expect("channel open");
            let resources = batch.resource_metrics().to_vec();
            if resources.iter().any(|r| {
                string_attr(&r.resource.as_ref().unwrap().attributes, "service.name") == Some(job)
            }) {
                return resources;
            }
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

async fn start(config: &str) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let telemetry = Telemetry::new();
    let id: ComponentId = "prometheus".parse().unwrap();
    let output = ReceiverOutput::new(
        id.clone(),
        telemetry.clone(),
        [(Signal::Metrics, Arc::new(Collect(tx)) as Arc<dyn Consumer>)],
    );
    let value: weir_api::Value = serde_yaml_ng::from_str(config).unwrap();
    let factory = weir_prometheus_receiver::factory();
    assert!(
        factory.check(&value).is_empty(),
        "{:?}",
        factory.check(&value)
    );
    let receiver = factory
        .build(
            BuildContext {
                id,
                telemetry: telemetry.clone(),
            },
            &value,
        )
        .unwrap();
    let shutdown = CancellationToken::new();
    let running = receiver
        .start(ReceiverContext {
            output,
            shutdown: shutdown.clone(),
        })
        .await
        .unwrap();
    Running {
        batches: rx,
        telemetry,
        shutdown,
        task: tokio::spawn(running),
    }
}

/// A job scraping `path` every 300ms. The timeout is generous (a loaded CI machine must
/// not turn a healthy local target into a timeout) except for `/slow`.
fn job(name: &str, address: SocketAddr, path: &str, extra: &str) -> String {
    let timeout = if path == "/slow" { "100ms" } else { "300ms" };
    format!(
        "  - job_name: {name}\n    scrape_interval: 300ms\n    scrape_timeout: {timeout}\n    metrics_path: {path}\n    static_configs: [{{targets: ['{address}'], labels: {{team: core}}}}]\n{extra}"
    )
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn metrics(resources: &[ResourceMetrics]) -> HashMap<String, Metric> {
    resources
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| (m.name.clone(), m.clone()))
        .collect()
}

fn gauge_value(metric: &Metric) -> f64 {
    let Some(Data::Gauge(gauge)) = &metric.data else {
        panic!("{} is not a gauge", metric.name)
    };
    match gauge.data_points[0].value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        _ => panic!("no value"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_exposition_to_otlp() {
    let address = serve().await;
    let mut running = start(&format!(
        "config:\n  scrape_configs:\n{}",
        job("app", address, "/text", "")
    ))
    .await;
    let resources = running.next_for_job("app").await;
    running.stop().await;

    let app = resources
        .iter()
        .find(|r| {
            string_attr(&r.resource.as_ref().unwrap().attributes, "service.name") == Some("app")
        })
        .unwrap();
    let attributes = &app.resource.as_ref().unwrap().attributes;
    assert_eq!(
        string_attr(attributes, "service.instance.id"),
        Some(address.to_string().as_str())
    );
    assert_eq!(string_attr(attributes, "server.address"), Some("127.0.0.1"));
    assert_eq!(string_attr(attributes, "url.scheme"), Some("http"));
    assert_eq!(
        string_attr(attributes, "env"),
        Some("prod"),
        "target_info merged into the resource"
    );
    let m = metrics(&resources);
    assert!(!m.contains_key("target_info"));

    let Some(Data::Sum(sum)) = &m["http_requests_total"].data else {
        panic!("counter is not a sum")
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    assert_eq!(sum.data_points.len(), 2);
    let point = &sum.data_points[0];
    assert!(point.start_time_unix_nano > 0 && point.start_time_unix_nano <= point.time_unix_nano);
    assert_eq!(
        string_attr(&point.attributes, "team"),
        Some("core"),
        "target labels on every point"
    );
    assert_eq!(m["http_requests_total"].description, "Requests.");

    // honor_labels is false: the scraped `job` is kept as exported_job.
    let temperature = &m["temperature"];
    let Some(Data::Gauge(gauge)) = &temperature.data else {
        panic!()
    };
    assert_eq!(
        string_attr(&gauge.data_points[0].attributes, "exported_job"),
        Some("scraped_job")
    );
    assert_eq!(gauge_value(temperature), 21.5);

    let Some(Data::Histogram(histogram)) = &m["latency"].data else {
        panic!("no histogram")
    };
    let point = &histogram.data_points[0];
    assert_eq!(point.explicit_bounds, [0.1, 1.0]);
    assert_eq!(point.bucket_counts, [1, 2, 1]);
    assert_eq!((point.count, point.sum), (4, Some(2.5)));

    let Some(Data::Summary(summary)) = &m["rpc"].data else {
        panic!("no summary")
    };
    let point = &summary.data_points[0];
    assert_eq!((point.count, point.sum), (30, 9.0));
    assert_eq!(point.quantile_values.len(), 2);

    assert_eq!(gauge_value(&m["untyped_thing"]), 7.0);
    assert_eq!(gauge_value(&m["up"]), 1.0);
    // 14 samples; 6 series (the histogram and the summary are one point each).
    assert_eq!(gauge_value(&m["scrape_samples_scraped"]), 14.0);
    assert_eq!(
        gauge_value(&m["scrape_samples_post_metric_relabeling"]),
        14.0
    );
    assert_eq!(gauge_value(&m["scrape_series_added"]), 6.0);
    assert!(m.contains_key("scrape_duration_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_created_and_exemplar() {
    let address = serve().await;
    let mut running = start(&format!(
        "config:\n  scrape_configs:\n{}",
        job("om", address, "/openmetrics", "")
    ))
    .await;
    let resources = running.next_for_job("om").await;
    running.stop().await;
    let m = metrics(&resources);
    let Some(Data::Sum(sum)) = &m["jobs_total"].data else {
        panic!("{m:?}")
    };
    let point = &sum.data_points[0];
    assert_eq!(
        point.start_time_unix_nano, 1_700_000_000_500_000_000,
        "start time from _created"
    );
    assert_eq!(point.exemplars.len(), 1);
    assert_eq!(point.exemplars[0].trace_id, (1..=16).collect::<Vec<u8>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_metric_relabeling() {
    let address = serve().await;
    let extra = "    metric_relabel_configs:\n    - {source_labels: [__name__], regex: 'rpc.*|latency.*', action: drop}\n";
    let mut running = start(&format!(
        "config:\n  scrape_configs:\n{}",
        job("zipped", address, "/gzip", extra)
    ))
    .await;
    let resources = running.next_for_job("zipped").await;
    running.stop().await;
    let m = metrics(&resources);
    assert_eq!(gauge_value(&m["up"]), 1.0);
    assert!(m.contains_key("http_requests_total"));
    assert!(!m.contains_key("rpc") && !m.contains_key("latency"));
    assert_eq!(gauge_value(&m["scrape_samples_scraped"]), 14.0);
    assert_eq!(
        gauge_value(&m["scrape_samples_post_metric_relabeling"]),
        5.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_series_get_stale_markers() {
    let address = serve().await;
    let mut running = start(&format!(
        "config:\n  scrape_configs:\n{}",
        job("stale", address, "/vanishing", "")
    ))
    .await;
    let first = metrics(&running.next_for_job("stale").await);
    assert!(first.contains_key("b"));
    let second = metrics(&running.next_for_job("stale").await);
    running.stop().await;
    let Some(Data::Gauge(gauge)) = &second["b"].data else {
        panic!()
    };
    let point = &gauge.data_points[0];
    assert_eq!(point.flags & 1, 1, "flagged no-recorded-value");
    let Some(number_data_point::Value::AsDouble(v)) = point.value else {
        panic!()
    };
    assert_eq!(v.to_bits(), 0x7ff0_0000_0000_0002);
    assert_eq!(gauge_value(&second["a"]), 1.0);
}

fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == 0x7ff0_0000_0000_0002
}

/// Issue 13: a target that starts failing gets a stale marker for every series it had:
/// the histogram's marker keeps its bucket bounds and sum, the summary's its quantiles,
/// so a consumer can mark each `_bucket`, `_sum` and quantile series, not only `_count`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_gets_stale_markers_for_every_series() {
    let address = serve().await;
    let mut running = start(&format!(
        "config:\n  scrape_configs:\n{}",
        job("flaky", address, "/flaky", "")
    ))
    .await;
    let first = metrics(&running.next_for_job("flaky").await);
    assert_eq!(gauge_value(&first["up"]), 1.0);
    let resources = running.next_for_job("flaky").await;
    let second = metrics(&resources);
    running.stop().await;
    assert_eq!(gauge_value(&second["up"]), 0.0);

    let Some(Data::Histogram(h)) = &second["latency"].data else {
        panic!("latency: {:?}", second["latency"])
    };
    let p = &h.data_points[0];
    assert_eq!(p.flags & 1, 1);
    assert_eq!(
        p.explicit_bounds,
        vec![0.1, 1.0],
        "the bounds the live point had"
    );
    assert_eq!(p.bucket_counts.len(), 3);
    assert!(p.sum.is_some_and(is_stale_nan), "{:?}", p.sum);

    let Some(Data::Summary(s)) = &second["rpc"].data else {
        panic!("rpc: {:?}", second["rpc"])
    };
    let p = &s.data_points[0];
    assert_eq!(p.flags & 1, 1);
    let quantiles: Vec<f64> = p.quantile_values.iter().map(|q| q.quantile).collect();
    assert_eq!(quantiles, vec![0.5, 0.9]);
    assert!(p.quantile_values.iter().all(|q| is_stale_nan(q.value)));
    assert!(is_stale_nan(p.sum));

    // Each vanished series is a metric of its own: gather the counter's points.
    let counter_points: Vec<_> = resources
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "http_requests_total")
        .flat_map(|m| match &m.data {
            Some(Data::Sum(c)) => c.data_points.clone(),
            _ => panic!("{m:?}"),
        })
        .collect();
    assert_eq!(counter_points.len(), 2, "both counter series");
    for p in &counter_points {
        assert_eq!(p.flags & 1, 1);
        assert!(p.start_time_unix_nano > 0, "the start time, for `_created`");
    }
    for name in ["temperature", "untyped_thing"] {
        let Some(Data::Gauge(g)) = &second[name].data else {
            panic!("{name}")
        };
        assert_eq!(g.data_points[0].flags & 1, 1, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_are_down_and_counted_while_others_work() {
    let address = serve().await;
    let jobs = [
        job("good", address, "/text", ""),
        job("error", address, "/error", ""),
        job("garbage", address, "/garbage", ""),
        job("slow", address, "/slow", ""),
        job("big", address, "/big", "    body_size_limit: 1KiB\n"),
        job("limited", address, "/text", "    sample_limit: 3\n"),
        job("labels", address, "/text", "    label_limit: 2\n"),
    ];
    let mut running = start(&format!("config:\n  scrape_configs:\n{}", jobs.concat())).await;
    for (name, reason) in [
        ("error", "http_status"),
        ("garbage", "parse"),
        ("slow", "timeout"),
        ("big", "body_size_limit"),
        ("limited", "sample_limit"),
        ("labels", "label_limit"),
    ] {
        let m = metrics(&running.next_for_job(name).await);
        assert_eq!(gauge_value(&m["up"]), 0.0, "{name}");
        let text = running.telemetry.encode();
        let counted = format!(
            "weir_prometheus_receiver_scrape_failures_total{{receiver=\"prometheus\",job=\"{name}\",reason=\"{reason}\"}}"
        );
        let line = text
            .lines()
            .find(|l| l.starts_with(&counted))
            .unwrap_or_else(|| panic!("{counted} missing"));
        assert!(!line.ends_with(" 0"), "{line}");
    }
    let m = metrics(&running.next_for_job("good").await);
    assert_eq!(gauge_value(&m["up"]), 1.0);
    running.stop().await;
}

#[test]
fn check_refuses_unsupported_sections() {
    let value: weir_api::Value =
        serde_yaml_ng::from_str("config:\n  alerting: {}\n  scrape_configs: [{job_name: a}]\n")
            .unwrap();
    let problems = weir_prometheus_receiver::factory().check(&value);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains("alerting"), "{problems:?}");
}
