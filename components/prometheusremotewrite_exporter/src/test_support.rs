//! Test helpers: OTLP structs into batches, in both of a batch's representations.

use prost::Message;
use weir_api::batch::Batch;
use weir_api::Signal;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_proto::common::v1::KeyValue;
use weir_proto::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use weir_proto::resource::v1::Resource;

/// The same resources as a batch of decoded structs and as a batch of received bytes.
pub fn both(resources: Vec<ResourceMetrics>) -> [Batch; 2] {
    let bytes = ExportMetricsServiceRequest {
        resource_metrics: resources.clone(),
    }
    .encode_to_vec();
    let wire = Batch::from_protobuf(Signal::Metrics, bytes.into()).expect("valid protobuf");
    [Batch::from_metrics(resources), wire]
}

/// One resource with these attributes and no metrics.
pub fn resource_with(attributes: Vec<KeyValue>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One resource holding one metric with this data.
pub fn metric_with(data: metric::Data) -> ResourceMetrics {
    ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "m".into(),
                data: Some(data),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// One resource with `n` gauge points (label `n` = 0..n) at `time_ms`.
pub fn gauges(n: usize, time_ms: u64) -> Batch {
    use weir_proto::common::v1::{any_value, AnyValue};
    use weir_proto::metrics::v1::{number_data_point, Gauge, NumberDataPoint};
    let string = |s: &str| {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        })
    };
    let points = (0..n)
        .map(|i| NumberDataPoint {
            attributes: vec![KeyValue {
                key: "n".into(),
                value: string(&i.to_string()),
                ..Default::default()
            }],
            time_unix_nano: 1_700_000_000_000_000_000 + time_ms * 1_000_000,
            value: Some(number_data_point::Value::AsDouble(i as f64)),
            ..Default::default()
        })
        .collect();
    let mut resource = resource_with(vec![KeyValue {
        key: "service.name".into(),
        value: string("svc"),
        ..Default::default()
    }]);
    resource.scope_metrics = metric_with(metric::Data::Gauge(Gauge {
        data_points: points,
    }))
    .scope_metrics;
    Batch::from_metrics(vec![resource])
}

/// A remote-write endpoint on 127.0.0.1 that records every POST (status, body) in
/// order and answers 200, or 503 once for each body given to `fail_once`.
pub struct RecordingServer {
    pub url: String,
    posts: std::sync::Arc<std::sync::Mutex<Vec<(u16, bytes::Bytes)>>>,
    fail: std::sync::Arc<std::sync::Mutex<Vec<bytes::Bytes>>>,
}

impl RecordingServer {
    pub async fn start() -> Self {
        use http_body_util::{BodyExt, Full};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let posts: std::sync::Arc<std::sync::Mutex<Vec<(u16, bytes::Bytes)>>> = Default::default();
        let fail: std::sync::Arc<std::sync::Mutex<Vec<bytes::Bytes>>> = Default::default();
        let (p, f) = (posts.clone(), fail.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (p, f) = (p.clone(), f.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (p, f) = (p.clone(), f.clone());
                            async move {
                                let body = req.into_body().collect().await?.to_bytes();
                                let status = {
                                    let mut fail = f.lock().expect("lock");
                                    match fail.iter().position(|b| *b == body) {
                                        Some(i) => {
                                            fail.remove(i);
                                            503
                                        }
                                        None => 200,
                                    }
                                };
                                p.lock().expect("lock").push((status, body));
                                let mut response =
                                    hyper::Response::new(Full::new(bytes::Bytes::new()));
                                *response.status_mut() = http::StatusCode::from_u16(status)
                                    .unwrap_or(http::StatusCode::OK);
                                Ok::<_, hyper::Error>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}/api/v1/write"),
            posts,
            fail,
        }
    }

    pub fn fail_once(&self, body: bytes::Bytes) {
        self.fail.lock().expect("lock").push(body);
    }

    pub fn posts(&self) -> Vec<(u16, bytes::Bytes)> {
        self.posts.lock().expect("lock").clone()
    }
}
