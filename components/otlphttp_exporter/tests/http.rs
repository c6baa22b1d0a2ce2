//! The exporter against a small hyper server on 127.0.0.1: what arrives (path, headers,
//! decompressed and decoded body) is compared with what was sent, and scripted answers
//! check how each HTTP outcome maps to the engine's retryable/permanent errors.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on bad fixtures by design

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prost::Message;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, BuildContext, ComponentId, ExportError, Exporter, Signal, Value};
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
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

/// A request as the server saw it (body still compressed).
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The body after undoing `Content-Encoding`.
    fn decompressed(&self) -> Vec<u8> {
        match self.header("content-encoding") {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Some("zstd") => zstd::decode_all(&self.body[..]).unwrap(),
            None => self.body.clone(),
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
    }
}

/// The answer the server gives to every request.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Default for Reply {
    fn default() -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/x-protobuf".into())],
            body: Vec::new(),
        }
    }
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Arc<Mutex<Reply>>,
    /// Answers given, in order, before `reply`.
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Fake {
    fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap()
    }

    fn reply(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// Answers the next requests with `replies`, then with `reply` again.
    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    async fn handle(self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        self.seen().push(Seen {
            path: parts.uri.path().to_string(),
            headers: parts.headers,
            body,
        });
        let scripted = self.script.lock().unwrap().pop_front();
        let reply = scripted.unwrap_or_else(|| self.reply.lock().unwrap().clone());
        let mut response = Response::builder().status(reply.status);
        for (name, value) in reply.headers {
            response = response.header(name, value);
        }
        Ok(response.body(Full::new(Bytes::from(reply.body))).unwrap())
    }
}

/// Starts the fake server on an ephemeral loopback port; returns it and its base URL.
async fn serve() -> (Fake, String) {
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = fake.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let fake = server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| fake.clone().handle(request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (fake, base)
}

fn exporter(yaml: &str) -> Arc<dyn Exporter> {
    let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
    let factory = weir_otlphttp_exporter::factory();
    assert!(
        factory.check(&value).is_empty(),
        "{:?}",
        factory.check(&value)
    );
    let ctx = BuildContext {
        id: ComponentId::new("otlphttp", None),
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
                time_unix_nano: 1_700_000_000_000_000_000,
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

#[tokio::test]
async fn traces_arrive_intact_as_gzipped_protobuf_with_headers() {
    let (fake, base) = serve().await;
    let exporter = exporter(&format!(
        "{{endpoint: '{base}', headers: {{X-Tenant: acme}}}}"
    ));
    let batch = traces(3);
    export(&exporter, batch.clone()).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("x-tenant"), Some("acme"));
    assert!(request.header("user-agent").unwrap().starts_with("Weir/"));
    let decoded = ExportTraceServiceRequest::decode(&request.decompressed()[..]).unwrap();
    assert_eq!(decoded, batch.to_traces_request());
}

#[tokio::test]
async fn metrics_arrive_intact_zstd_compressed() {
    let (fake, base) = serve().await;
    let exporter = exporter(&format!("{{endpoint: '{base}/', compression: zstd}}"));
    let batch = metrics();
    export(&exporter, batch.clone()).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/v1/metrics");
    assert_eq!(seen[0].header("content-encoding"), Some("zstd"));
    let decoded = ExportMetricsServiceRequest::decode(&seen[0].decompressed()[..]).unwrap();
    assert_eq!(decoded, batch.to_metrics_request());
}

#[tokio::test]
async fn json_encoding_sends_application_json() {
    let (fake, base) = serve().await;
    let exporter = exporter(&format!(
        "{{endpoint: '{base}', encoding: json, compression: none}}"
    ));
    let batch = logs();
    export(&exporter, batch.clone()).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/v1/logs");
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(seen[0].header("content-encoding"), None);
    let decoded = Batch::decode_json(Signal::Logs, &seen[0].body).unwrap();
    assert_eq!(decoded.resource_logs(), batch.resource_logs());
}

#[tokio::test]
async fn a_signal_endpoint_overrides_the_base() {
    let (fake, base) = serve().await;
    let exporter = exporter(&format!(
        "{{endpoint: 'http://127.0.0.1:1', logs_endpoint: '{base}/custom/ingest', compression: none}}"
    ));
    let batch = logs();
    export(&exporter, batch.clone()).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/custom/ingest");
    let decoded = ExportLogsServiceRequest::decode(&seen[0].body[..]).unwrap();
    assert_eq!(decoded, batch.to_logs_request());
}

#[tokio::test]
async fn unavailable_with_retry_after_is_retryable_after_that_delay() {
    let (fake, base) = serve().await;
    fake.reply(Reply {
        status: 503,
        headers: vec![("retry-after", "7".into())],
        body: b"overloaded".to_vec(),
    });
    let exporter = exporter(&format!("endpoint: '{base}'"));
    match export(&exporter, traces(1)).await {
        Err(ExportError::Retryable {
            message,
            retry_after,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(
                message.contains("503") && message.contains("overloaded"),
                "{message}"
            );
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

#[tokio::test]
async fn too_many_requests_without_retry_after_uses_the_backoff() {
    let (fake, base) = serve().await;
    fake.reply(Reply {
        status: 429,
        headers: Vec::new(),
        body: Vec::new(),
    });
    let exporter = exporter(&format!("endpoint: '{base}'"));
    assert_eq!(
        export(&exporter, traces(1)).await,
        Err(ExportError::Retryable {
            message: format!("HTTP 429 Too Many Requests from {base}/v1/traces"),
            retry_after: None,
        })
    );
}

/// `google.rpc.Status`, as an OTLP/HTTP server encodes its errors.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test]
async fn bad_request_is_permanent_with_the_servers_message() {
    let (fake, base) = serve().await;
    fake.reply(Reply {
        status: 400,
        headers: vec![("content-type", "application/x-protobuf".into())],
        body: RpcStatus {
            code: 3,
            message: "invalid span id length".into(),
        }
        .encode_to_vec(),
    });
    let exporter = exporter(&format!("endpoint: '{base}'"));
    assert_eq!(
        export(&exporter, traces(1)).await,
        Err(ExportError::permanent(format!(
            "HTTP 400 Bad Request from {base}/v1/traces: invalid span id length"
        )))
    );
}

#[tokio::test]
async fn partial_success_is_permanent_with_the_rejected_count() {
    let (fake, base) = serve().await;
    fake.reply(Reply {
        body: ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 2,
                error_message: "spans too old".into(),
            }),
        }
        .encode_to_vec(),
        ..Reply::default()
    });
    let exporter = exporter(&format!("endpoint: '{base}'"));
    match export(&exporter, traces(5)).await {
        Err(ExportError::Permanent { message, rejected }) => {
            assert_eq!(rejected, Some(2));
            assert!(message.contains("spans too old"), "{message}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn json_partial_success_is_read_in_json() {
    let (fake, base) = serve().await;
    fake.reply(Reply {
        status: 200,
        headers: vec![("content-type", "application/json".into())],
        body: br#"{"partialSuccess":{"rejectedLogRecords":"1","errorMessage":"too big"}}"#.to_vec(),
    });
    let exporter = exporter(&format!("{{endpoint: '{base}', encoding: json}}"));
    let err = export(&exporter, logs()).await.unwrap_err();
    assert!(
        matches!(&err, ExportError::Permanent { rejected: Some(1), message } if message.contains("too big")),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    // Bind then release a port so nothing listens on it.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let exporter = exporter(&format!("endpoint: 'http://{address}'"));
    let err = export(&exporter, traces(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains(&address.to_string()), "{err}");
}

#[tokio::test]
async fn a_signal_without_url_is_permanent() {
    let (_fake, base) = serve().await;
    let exporter = exporter(&format!("traces_endpoint: '{base}/t'"));
    let err = export(&exporter, logs()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("logs_endpoint"), "{err}");
}

/// The canonical OTLP/JSON examples from `tests/conformance/otlp/examples`, as batches.
fn conformance_examples() -> Vec<Batch> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance/otlp/examples");
    [
        (Signal::Traces, "trace.json"),
        (Signal::Metrics, "metrics.json"),
        (Signal::Logs, "logs.json"),
        (Signal::Logs, "events.json"),
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

/// Decodes what the server received back into a batch, in the request's encoding.
fn received(seen: &Seen, signal: Signal) -> Batch {
    let body = seen.decompressed();
    match seen.header("content-type") {
        Some("application/json") => Batch::decode_json(signal, &body).unwrap(),
        _ => Batch::decode_protobuf(signal, &body).unwrap(),
    }
}

#[tokio::test]
async fn the_conformance_examples_arrive_intact_in_both_encodings() {
    let (fake, base) = serve().await;
    let examples = conformance_examples();
    for encoding in ["proto", "json"] {
        let exporter = exporter(&format!("{{endpoint: '{base}', encoding: {encoding}}}"));
        for batch in &examples {
            export(&exporter, batch.clone()).await.unwrap();
        }
    }
    let seen = fake.seen();
    assert_eq!(seen.len(), 2 * examples.len());
    for (request, sent) in seen.iter().zip(examples.iter().chain(examples.iter())) {
        let signal = sent.signal();
        assert_eq!(request.path, format!("/v1/{signal}"));
        assert_eq!(
            received(request, signal),
            *sent,
            "{signal} as {:?}",
            request.header("content-type")
        );
    }
}

/// Test certificates in `tests/tls` (100-year validity, test use only): a CA and a server
/// certificate for `localhost` and `127.0.0.1`, made with
/// `openssl req -x509 -newkey ec ...` then `openssl x509 -req ... -extfile` (SANs,
/// serverAuth).
fn tls_file(name: &str) -> String {
    format!("{}/tests/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The fake server behind TLS; returns its `https://` base URL.
async fn serve_tls(fake: Fake) -> String {
    let pem = std::fs::read(tls_file("server.pem")).unwrap();
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key_pem = std::fs::read(tls_file("server.key")).unwrap();
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .unwrap()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (fake, acceptor) = (fake.clone(), acceptor.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request| fake.clone().handle(request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    base
}

#[tokio::test]
async fn https_with_a_ca_file_delivers() {
    let fake = Fake::default();
    let base = serve_tls(fake.clone()).await;
    let exporter = exporter(&format!(
        "{{endpoint: '{base}', tls: {{ca_file: '{}'}}}}",
        tls_file("ca.pem")
    ));
    let batch = metrics();
    export(&exporter, batch.clone()).await.unwrap();
    let seen = fake.seen();
    assert_eq!(received(&seen[0], Signal::Metrics), batch);
}

#[tokio::test]
async fn https_with_an_unknown_ca_is_refused_by_the_client() {
    let fake = Fake::default();
    let base = serve_tls(fake.clone()).await;
    // Trusting only a CA that did not sign the server's certificate.
    let exporter = exporter(&format!(
        "{{endpoint: '{base}', tls: {{ca_file: '{}'}}}}",
        tls_file("server.pem")
    ));
    let err = export(&exporter, metrics()).await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(fake.seen().is_empty());
}

/// Prepared once, sent three times against a server failing twice (503, retryable): the
/// server receives three byte-identical bodies, compressed form included. `send` never
/// sees the batch, so the batch was encoded and compressed once, in `prepare`.
#[tokio::test]
async fn retries_send_the_bytes_prepared_once() {
    for (encoding, compression) in [
        ("proto", "gzip"),
        ("proto", "zstd"),
        ("proto", "none"),
        ("json", "gzip"),
    ] {
        let (fake, base) = serve().await;
        let unavailable = Reply {
            status: 503,
            headers: Vec::new(),
            body: b"try again".to_vec(),
        };
        fake.script([unavailable.clone(), unavailable]);
        let exporter = exporter(&format!(
            "{{endpoint: '{base}', encoding: {encoding}, compression: {compression}, headers: {{X-Tenant: acme}}}}"
        ));
        let batch = traces(4);
        let encoded = match encoding {
            "json" => batch.encode_json(),
            _ => batch.encode_protobuf(),
        };

        let mut request = exporter.prepare(batch.clone()).unwrap();
        assert_eq!(request.items(), 4);
        assert_eq!(request.encoded_len(), encoded.len());
        for _ in 0..2 {
            let err = request.send().await.unwrap_err();
            assert!(err.is_retryable(), "{encoding}/{compression}: {err:?}");
        }
        request.send().await.unwrap();

        let seen = fake.seen();
        assert_eq!(seen.len(), 3, "{encoding}/{compression}");
        for attempt in seen.iter() {
            assert_eq!(
                attempt.body, seen[0].body,
                "{encoding}/{compression}: a retry changed the body"
            );
            assert_eq!(attempt.path, "/v1/traces");
            assert_eq!(attempt.header("x-tenant"), Some("acme"));
            assert_eq!(
                attempt.header("content-encoding"),
                (compression != "none").then_some(compression)
            );
        }
        assert_eq!(seen[0].decompressed(), encoded, "{encoding}/{compression}");
        assert_eq!(received(&seen[0], Signal::Traces), batch);
    }
}

#[tokio::test]
async fn an_empty_batch_is_prepared_but_not_sent() {
    let (fake, base) = serve().await;
    // No URL for logs: an empty batch still is not an error, as nothing is sent.
    let exporter = exporter(&format!("traces_endpoint: '{base}/t'"));
    let mut request = exporter.prepare(Batch::empty(Signal::Logs)).unwrap();
    assert_eq!((request.items(), request.encoded_len()), (0, 0));
    request.send().await.unwrap();
    assert!(fake.seen().is_empty());
}
