//! The exporter against an in-process tonic server on 127.0.0.1 implementing the three
//! OTLP services: what arrives is compared with what was sent, and scripted answers
//! check how each gRPC outcome maps to the engine's retryable/permanent errors. A raw
//! HTTP/2 server below gRPC checks what retries put on the wire.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on bad fixtures by design

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, BuildContext, ComponentId, ExportError, Exporter, Value};
use weir_proto::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use weir_proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use weir_proto::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use weir_proto::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use weir_proto::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use weir_proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// What the fake server saw and how it answers.
#[derive(Default)]
struct State {
    traces: Vec<(MetadataMap, ExportTraceServiceRequest)>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    /// Answer every request with this status.
    fail_with: Option<Status>,
    /// Answer traces with a partial success rejecting this many spans.
    reject_spans: i64,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<State>>);

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    fn failure(&self) -> Result<(), Status> {
        match &self.state().fail_with {
            Some(status) => Err(status.clone()),
            None => Ok(()),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Fake {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.failure()?;
        let mut state = self.state();
        state
            .traces
            .push((request.metadata().clone(), request.into_inner()));
        let partial_success = (state.reject_spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: state.reject_spans,
            error_message: "spans too old".into(),
        });
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Fake {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.failure()?;
        self.state().metrics.push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Fake {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.failure()?;
        self.state().logs.push(request.into_inner());
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Starts the fake server on an ephemeral loopback port; returns it and `host:port`.
async fn serve() -> (Fake, String) {
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let router = tonic::transport::Server::builder()
        .add_service(
            TraceServiceServer::new(fake.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        )
        .add_service(
            MetricsServiceServer::new(fake.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        )
        .add_service(
            LogsServiceServer::new(fake.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        );
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    (fake, address)
}

fn exporter(yaml: &str) -> Arc<dyn Exporter> {
    let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
    let factory = weir_otlp_exporter::factory();
    assert!(
        factory.check(&value).is_empty(),
        "{:?}",
        factory.check(&value)
    );
    let ctx = BuildContext {
        id: ComponentId::new("otlp", None),
        telemetry: Telemetry::new(),
    };
    factory.build(ctx, &value).unwrap().exporter
}

/// One prepared request, sent once: what a single attempt of the engine does.
async fn export(exporter: &Arc<dyn Exporter>, batch: Batch) -> Result<(), ExportError> {
    exporter.prepare(batch)?.send().await
}

fn attribute(key: &str, value: &str) -> KeyValue {
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
        attributes: vec![attribute("service.name", "checkout")],
        ..Default::default()
    })
}

fn traces(spans: usize) -> Batch {
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![i as u8 + 1; 8],
            name: format!("span-{i}"),
            attributes: vec![attribute("http.route", "/pay")],
            ..Default::default()
        })
        .collect();
    Batch::from_traces(vec![ResourceSpans {
        resource: resource(),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn metrics() -> Batch {
    let point = NumberDataPoint {
        time_unix_nano: 7,
        value: Some(weir_proto::metrics::v1::number_data_point::Value::AsDouble(
            1.5,
        )),
        ..Default::default()
    };
    Batch::from_metrics(vec![ResourceMetrics {
        resource: resource(),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "queue.depth".into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![point],
                })),
                ..Default::default()
            }],
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
                severity_text: "ERROR".into(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("payment failed".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn header<'a>(metadata: &'a MetadataMap, name: &str) -> Option<&'a str> {
    metadata.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn traces_arrive_intact_gzipped_with_headers() {
    let (fake, address) = serve().await;
    let exporter = exporter(&format!(
        "{{endpoint: 'http://{address}', headers: {{X-Tenant: acme}}}}"
    ));
    exporter.start().await.unwrap();
    let batch = traces(3);
    export(&exporter, batch.clone()).await.unwrap();

    let state = fake.state();
    assert_eq!(state.traces.len(), 1);
    let (metadata, request) = &state.traces[0];
    assert_eq!(*request, batch.to_traces_request());
    assert_eq!(header(metadata, "x-tenant"), Some("acme"));
    assert_eq!(header(metadata, "grpc-encoding"), Some("gzip"));
    assert!(header(metadata, "user-agent").unwrap().contains("Weir/"));
}

#[tokio::test]
async fn zstd_and_none_compression() {
    let (fake, address) = serve().await;
    let zstd = exporter(&format!(
        "{{endpoint: 'http://{address}', compression: zstd}}"
    ));
    export(&zstd, traces(1)).await.unwrap();
    let none = exporter(&format!(
        "{{endpoint: 'http://{address}', compression: none}}"
    ));
    export(&none, traces(1)).await.unwrap();

    let state = fake.state();
    assert_eq!(header(&state.traces[0].0, "grpc-encoding"), Some("zstd"));
    assert_eq!(header(&state.traces[1].0, "grpc-encoding"), None);
}

#[tokio::test]
async fn metrics_and_logs_arrive_intact_over_insecure_host_port() {
    let (fake, address) = serve().await;
    let exporter = exporter(&format!(
        "{{endpoint: '{address}', tls: {{insecure: true}}}}"
    ));
    let (m, l) = (metrics(), logs());
    export(&exporter, m.clone()).await.unwrap();
    export(&exporter, l.clone()).await.unwrap();

    let state = fake.state();
    assert_eq!(state.metrics, vec![m.to_metrics_request()]);
    assert_eq!(state.logs, vec![l.to_logs_request()]);
}

#[tokio::test]
async fn partial_success_is_permanent_with_the_rejected_count() {
    let (fake, address) = serve().await;
    fake.state().reject_spans = 2;
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    match export(&exporter, traces(5)).await {
        Err(ExportError::Permanent { message, rejected }) => {
            assert_eq!(rejected, Some(2));
            assert!(message.contains("spans too old"), "{message}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn unavailable_with_retry_info_is_retryable_after_that_delay() {
    let (fake, address) = serve().await;
    fake.state().fail_with = Some(Status::with_error_details(
        Code::Unavailable,
        "overloaded",
        ErrorDetails::with_retry_info(Some(Duration::from_secs(7))),
    ));
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    match export(&exporter, logs()).await {
        Err(ExportError::Retryable {
            message,
            retry_after,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(message.contains("overloaded"), "{message}");
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

#[tokio::test]
async fn resource_exhausted_is_retryable_only_with_retry_info() {
    let (fake, address) = serve().await;
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    fake.state().fail_with = Some(Status::resource_exhausted("quota"));
    assert!(!export(&exporter, traces(1))
        .await
        .unwrap_err()
        .is_retryable());
    fake.state().fail_with = Some(Status::with_error_details(
        Code::ResourceExhausted,
        "quota",
        ErrorDetails::with_retry_info(None),
    ));
    assert!(export(&exporter, traces(1))
        .await
        .unwrap_err()
        .is_retryable());
}

#[tokio::test]
async fn invalid_argument_is_permanent() {
    let (fake, address) = serve().await;
    fake.state().fail_with = Some(Status::invalid_argument("bad span id"));
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    match export(&exporter, metrics()).await {
        Err(ExportError::Permanent { message, rejected }) => {
            assert_eq!(rejected, None);
            assert!(message.contains("InvalidArgument") && message.contains("bad span id"));
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    // Bind then release a port so nothing listens on it.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    exporter.start().await.unwrap();
    let err = export(&exporter, traces(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn empty_batches_are_not_sent() {
    let (fake, address) = serve().await;
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    export(&exporter, Batch::empty(weir_api::Signal::Traces))
        .await
        .unwrap();
    assert!(fake.state().traces.is_empty());
}

/// The canonical OTLP/JSON examples from `tests/conformance/otlp/examples`, as batches.
fn conformance_examples() -> Vec<Batch> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance/otlp/examples");
    [
        (weir_api::Signal::Traces, "trace.json"),
        (weir_api::Signal::Metrics, "metrics.json"),
        (weir_api::Signal::Logs, "logs.json"),
        (weir_api::Signal::Logs, "events.json"),
    ]
    .into_iter()
    .map(|(signal, file)| {
        let bytes = std::fs::read(dir.join(file)).expect("conformance example");
        let batch = Batch::decode_json(signal, &bytes).expect(file);
        assert!(!batch.is_empty(), "{file}");
        batch
    })
    .collect()
}

#[tokio::test]
async fn the_conformance_examples_arrive_intact() {
    let (fake, address) = serve().await;
    let exporter = exporter(&format!(
        "{{endpoint: 'http://{address}', compression: zstd}}"
    ));
    let examples = conformance_examples();
    for batch in &examples {
        export(&exporter, batch.clone()).await.unwrap();
    }
    let state = fake.state();
    assert_eq!(state.traces.len(), 1);
    assert_eq!(state.traces[0].1, examples[0].to_traces_request());
    assert_eq!(state.metrics, vec![examples[1].to_metrics_request()]);
    assert_eq!(
        state.logs,
        vec![examples[2].to_logs_request(), examples[3].to_logs_request()]
    );
}

/// Test certificates in `tests/tls` (100-year validity, test use only): a CA and a server
/// certificate for `localhost` and `127.0.0.1`, made with
/// `openssl req -x509 -newkey ec ...` then `openssl x509 -req ... -extfile` (SANs,
/// serverAuth).
fn tls_file(name: &str) -> String {
    format!("{}/tests/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn tls_with_a_ca_file_delivers() {
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let identity = tonic::transport::Identity::from_pem(
        std::fs::read(tls_file("server.pem")).unwrap(),
        std::fs::read(tls_file("server.key")).unwrap(),
    );
    let router = tonic::transport::Server::builder()
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
        .unwrap()
        .add_service(
            TraceServiceServer::new(fake.clone()).accept_compressed(CompressionEncoding::Gzip),
        );
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));

    // A bare host:port means TLS, as in the Collector; the name checked is overridden.
    let exporter = exporter(&format!(
        "{{endpoint: '127.0.0.1:{}', tls: {{ca_file: '{}', server_name_override: localhost}}}}",
        address.port(),
        tls_file("ca.pem")
    ));
    let batch = traces(2);
    export(&exporter, batch.clone()).await.unwrap();
    assert_eq!(fake.state().traces[0].1, batch.to_traces_request());
}

/// What a raw HTTP/2 server saw of one request: its path, headers and body exactly as
/// they arrived on the wire (the gRPC frame, compressed payload included).
struct WireRequest {
    path: String,
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

/// A plaintext HTTP/2 server below gRPC: it records every request's raw body and answers
/// the first `fail_first` with a retryable `UNAVAILABLE` (trailers-only), then OK with an
/// empty `Export*ServiceResponse`.
async fn serve_raw(fail_first: usize) -> (Arc<Mutex<Vec<WireRequest>>>, String) {
    use http_body_util::{combinators::BoxBody, BodyExt, Full};

    type Body = BoxBody<bytes::Bytes, std::convert::Infallible>;

    let seen: Arc<Mutex<Vec<WireRequest>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let recorder = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = recorder.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let attempt = {
                                let mut seen = seen.lock().unwrap();
                                seen.push(WireRequest {
                                    path: parts.uri.path().to_string(),
                                    headers: parts.headers,
                                    body,
                                });
                                seen.len()
                            };
                            let response = http::Response::builder()
                                .header("content-type", "application/grpc");
                            let response = if attempt <= fail_first {
                                response
                                    .header("grpc-status", "14")
                                    .header("grpc-message", "try again")
                                    .body::<Body>(Full::new(bytes::Bytes::new()).boxed())
                            } else {
                                let mut trailers = http::HeaderMap::new();
                                trailers.insert("grpc-status", "0".parse().unwrap());
                                // An empty, uncompressed message: a default response.
                                let message = Full::new(bytes::Bytes::from_static(&[0; 5]))
                                    .with_trailers(std::future::ready(Some(Ok(trailers))));
                                response.body(message.boxed())
                            };
                            Ok::<_, std::convert::Infallible>(response.unwrap())
                        }
                    },
                );
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
            });
        }
    });
    (seen, address)
}

fn wire_header<'a>(request: &'a WireRequest, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

/// The payload of a gRPC frame, decompressed as its flag and `encoding` say.
fn unframe(body: &[u8], encoding: Option<&str>) -> Vec<u8> {
    use std::io::Read;

    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    assert_eq!(body.len(), 5 + len, "one whole message");
    let payload = &body[5..];
    match (body[0], encoding) {
        (0, None) => payload.to_vec(),
        (1, Some("gzip")) => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(payload)
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        (1, Some("zstd")) => zstd::decode_all(payload).unwrap(),
        other => panic!("unexpected compressed flag and grpc-encoding {other:?}"),
    }
}

/// Prepared once, sent three times against a server failing twice: the server receives
/// three byte-identical bodies (compressed form included). `send` never sees the batch,
/// so the batch was encoded and compressed once, in `prepare`.
#[tokio::test]
async fn retries_send_the_bytes_prepared_once() {
    for (compression, encoding) in [
        ("gzip", Some("gzip")),
        ("zstd", Some("zstd")),
        ("none", None),
    ] {
        let (seen, address) = serve_raw(2).await;
        let exporter = exporter(&format!(
            "{{endpoint: 'http://{address}', compression: {compression}, headers: {{X-Tenant: acme}}}}"
        ));
        exporter.start().await.unwrap();
        let batch = traces(4);
        let encoded = batch.encode_protobuf();

        let mut request = exporter.prepare(batch.clone()).unwrap();
        assert_eq!(request.items(), 4);
        assert_eq!(request.encoded_len(), encoded.len());
        for _ in 0..2 {
            match request.send().await {
                Err(ExportError::Retryable { message, .. }) => {
                    assert!(message.contains("try again"), "{message}")
                }
                other => panic!("{compression}: expected a retryable error, got {other:?}"),
            }
        }
        request.send().await.unwrap();

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{compression}");
        for attempt in seen.iter() {
            assert_eq!(
                attempt.body, seen[0].body,
                "{compression}: a retry changed the body"
            );
            assert_eq!(
                attempt.path,
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
            );
            assert_eq!(wire_header(attempt, "x-tenant"), Some("acme"));
            assert_eq!(wire_header(attempt, "grpc-encoding"), encoding);
            assert!(wire_header(attempt, "grpc-timeout").is_some());
        }
        let payload = unframe(&seen[0].body, encoding);
        assert_eq!(payload, encoded, "{compression}");
        assert_eq!(
            <ExportTraceServiceRequest as prost::Message>::decode(&payload[..]).unwrap(),
            batch.to_traces_request()
        );
    }
}
