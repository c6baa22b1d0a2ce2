//! The exporter against an in-process tonic server on 127.0.0.1 implementing the three
//! OTLP services: what arrives is compared with what was sent, and scripted answers
//! check how each gRPC outcome maps to the engine's retryable/permanent errors.

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
    exporter.export(batch.clone()).await.unwrap();

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
    zstd.export(traces(1)).await.unwrap();
    let none = exporter(&format!(
        "{{endpoint: 'http://{address}', compression: none}}"
    ));
    none.export(traces(1)).await.unwrap();

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
    exporter.export(m.clone()).await.unwrap();
    exporter.export(l.clone()).await.unwrap();

    let state = fake.state();
    assert_eq!(state.metrics, vec![m.to_metrics_request()]);
    assert_eq!(state.logs, vec![l.to_logs_request()]);
}

#[tokio::test]
async fn partial_success_is_permanent_with_the_rejected_count() {
    let (fake, address) = serve().await;
    fake.state().reject_spans = 2;
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    match exporter.export(traces(5)).await {
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
    match exporter.export(logs()).await {
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
    assert!(!exporter.export(traces(1)).await.unwrap_err().is_retryable());
    fake.state().fail_with = Some(Status::with_error_details(
        Code::ResourceExhausted,
        "quota",
        ErrorDetails::with_retry_info(None),
    ));
    assert!(exporter.export(traces(1)).await.unwrap_err().is_retryable());
}

#[tokio::test]
async fn invalid_argument_is_permanent() {
    let (fake, address) = serve().await;
    fake.state().fail_with = Some(Status::invalid_argument("bad span id"));
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    match exporter.export(metrics()).await {
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
    let err = exporter.export(traces(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn empty_batches_are_not_sent() {
    let (fake, address) = serve().await;
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    exporter
        .export(Batch::empty(weir_api::Signal::Traces))
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
        exporter.export(batch.clone()).await.unwrap();
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
    exporter.export(batch.clone()).await.unwrap();
    assert_eq!(fake.state().traces[0].1, batch.to_traces_request());
}
