use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;
use weir_api::telemetry::Telemetry;
use weir_api::{
    Batch, BuildContext, ComponentId, ConsumeError, Consumer, ReceiverContext, ReceiverOutput,
    Signal, Value,
};
use weir_otlp_receiver::OtlpReceiver;
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// How the fake pipeline answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Accept,
    NoRoom,
    ShuttingDown,
    /// Signals `entered`, then waits for `release` before accepting.
    Hold,
}

pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Records what it accepts; refuses on demand.
pub struct FakeConsumer {
    pub batches: Mutex<Vec<Batch>>,
    mode: Mutex<Mode>,
    pub entered: tokio::sync::Notify,
    pub release: tokio::sync::Notify,
}

impl FakeConsumer {
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn take(&self) -> Vec<Batch> {
        std::mem::take(&mut *self.batches.lock().unwrap())
    }
}

#[async_trait]
impl Consumer for FakeConsumer {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Hold => {
                self.entered.notify_one();
                self.release.notified().await;
                self.batches.lock().unwrap().push(batch);
                Ok(())
            }
            Mode::Accept => {
                self.batches.lock().unwrap().push(batch);
                Ok(())
            }
            Mode::NoRoom => Err(ConsumeError::NoRoom {
                retry_after: RETRY_AFTER,
            }),
            Mode::ShuttingDown => Err(ConsumeError::ShuttingDown),
        }
    }
}

pub struct Running {
    pub grpc: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub consumer: Arc<FakeConsumer>,
    pub telemetry: Telemetry,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http.expect("http enabled"))
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc.expect("grpc enabled"))
    }

    /// Cancels and waits for the receiver to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }

    /// Cancels without waiting; returns the serving task.
    pub fn begin_shutdown(self) -> (Arc<FakeConsumer>, tokio::task::JoinHandle<()>) {
        self.shutdown.cancel();
        (self.consumer, self.task)
    }

    /// The value of one self-metric line, e.g.
    /// `weir_receiver_refused_requests_total{receiver="otlp",transport="http",reason="malformed"}`.
    pub fn metric(&self, series: &str) -> u64 {
        let text = self.telemetry.encode();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0)
    }
}

pub const GRPC_AND_HTTP: &str = "
protocols:
  grpc:
    endpoint: 127.0.0.1:0
  http:
    endpoint: 127.0.0.1:0
";

pub async fn start(yaml: &str) -> Running {
    start_for(yaml, &[Signal::Traces, Signal::Metrics, Signal::Logs]).await
}

/// Starts a receiver whose pipelines take only `signals`.
pub async fn start_for(yaml: &str, signals: &[Signal]) -> Running {
    try_start_with(yaml, signals, Telemetry::new())
        .await
        .unwrap()
}

/// Starts a receiver sharing `telemetry` (where authenticators are registered), or
/// returns its start error.
pub async fn try_start_with(
    yaml: &str,
    signals: &[Signal],
    telemetry: Telemetry,
) -> Result<Running, weir_api::StartError> {
    let section: Value = serde_yaml_ng::from_str(yaml).unwrap();
    let id = ComponentId::new("otlp", None);
    let consumer = Arc::new(FakeConsumer {
        batches: Mutex::new(Vec::new()),
        mode: Mutex::new(Mode::Accept),
        entered: Default::default(),
        release: Default::default(),
    });
    let output = ReceiverOutput::new(
        id.clone(),
        telemetry.clone(),
        signals
            .iter()
            .map(|s| (*s, consumer.clone() as Arc<dyn Consumer>)),
    );
    let receiver = OtlpReceiver::new(
        BuildContext {
            id,
            telemetry: telemetry.clone(),
        },
        &section,
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let bound = receiver
        .bind(ReceiverContext {
            output,
            shutdown: shutdown.clone(),
        })
        .await?;
    Ok(Running {
        grpc: bound.grpc_addr,
        http: bound.http_addr,
        consumer,
        telemetry,
        shutdown,
        task: tokio::spawn(bound.running),
    })
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

pub fn traces_request(spans: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attribute("service.name", "checkout")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: vec![7; 16],
                        span_id: vec![i as u8 + 1; 8],
                        name: format!("span-{i}"),
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        attributes: vec![string_attribute("k", "v")],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn logs_request(records: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..records)
                    .map(|i| LogRecord {
                        severity_number: 9,
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!("record {i}"))),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// An HTTP answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    send_with(false, method, url, headers, body).await
}

/// Like [`send`]; `http2` speaks cleartext HTTP/2 (h2c, prior knowledge).
pub async fn send_with(
    http2: bool,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn post(url: &str, content_type: &str, body: impl Into<Bytes>) -> Answer {
    send("POST", url, &[("content-type", content_type)], body).await
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The conformance examples, vendored in `tests/conformance/otlp/examples`.
pub fn conformance_example(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance/otlp/examples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One gRPC message frame: the compressed flag, the big-endian length, the bytes.
pub fn grpc_frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut frame = vec![u8::from(compressed)];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// Calls `/<service>/Export` over cleartext HTTP/2 with a hand-made body, so a test can
/// send what no well-behaved gRPC client would. Returns the status from the trailers,
/// or from the headers of a trailers-only answer.
pub async fn grpc_raw(
    addr: SocketAddr,
    service: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> tonic::Status {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::post(format!("http://{addr}/{service}/Export"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "gRPC answers travel in HTTP 200");
    let head = response.headers().clone();
    let collected = response.into_body().collect().await.unwrap();
    tonic::Status::from_header_map(&head)
        .or_else(|| tonic::Status::from_header_map(collected.trailers()?))
        .expect("a grpc-status in the headers or the trailers")
}
