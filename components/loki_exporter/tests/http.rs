//! The exporter against an in-process HTTP server on 127.0.0.1: headers, the decoded
//! push bodies (protobuf + snappy, JSON), what each of Loki's answers does, and progress
//! across retries when a batch holds several tenants. Each test drives a request as the
//! engine does: `prepare` once, then `send` for every attempt.
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
use weir_api::{Batch, BuildContext, ComponentId, ExportError, Exporter};
use weir_loki_exporter::push::PushRequest;
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::resource::v1::Resource;

#[derive(Clone, Debug)]
struct Received {
    headers: http::HeaderMap,
    body: Bytes,
}

impl Received {
    fn tenant(&self) -> &str {
        self.headers
            .get("x-scope-orgid")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn push(&self) -> PushRequest {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&self.body)
            .unwrap();
        PushRequest::decode(raw.as_slice()).unwrap()
    }
}

/// Status, Retry-After, body.
type Answer = (u16, Option<&'static str>, String);

#[derive(Clone, Default)]
struct Server {
    /// Every request, answered or not.
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers to give, in order; 204 when empty.
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
                            me.received.lock().unwrap().push(Received { headers, body });
                            let (status, retry_after, text) = me
                                .script
                                .lock()
                                .unwrap()
                                .pop_front()
                                .unwrap_or((204, None, String::new()));
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
        format!("http://{addr}/loki/api/v1/push")
    }

    fn answer(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().extend(answers);
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn exporter(config: &str, telemetry: &Telemetry) -> Arc<dyn Exporter> {
    let value: weir_api::Value = serde_yaml_ng::from_str(config).unwrap();
    let ctx = BuildContext {
        id: ComponentId::new("loki", None),
        telemetry: telemetry.clone(),
    };
    weir_loki_exporter::factory()
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

/// One resource per (service, tenant), with records at `T + offsets[i]` ns.
fn batch(resources: &[(&str, &str, &[u64])]) -> Batch {
    Batch::from_logs(
        resources
            .iter()
            .map(|(service, tenant, offsets)| ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", service), kv("tenant.id", tenant)],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: offsets
                        .iter()
                        .map(|o| LogRecord {
                            time_unix_nano: T + o,
                            body: Some(AnyValue {
                                value: Some(any_value::Value::StringValue(format!("at {o}"))),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    )
}

fn metric(telemetry: &Telemetry, needle: &str) -> f64 {
    telemetry
        .encode()
        .lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn protobuf_pushes_per_tenant_with_sorted_entries() {
    let server = Server::default();
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(
        &format!(
            "{{endpoint: '{url}', tenant: {{source: attributes, value: tenant.id}}, \
             headers: {{X-Scope-OrgID: fallback, X-Custom: yes}}}}"
        ),
        &telemetry,
    );
    let mut request = e
        .prepare(batch(&[("a", "acme", &[30, 10, 20]), ("b", "", &[5])]))
        .unwrap();
    assert_eq!(request.items(), 4);
    request.send().await.unwrap();
    let received = server.received();
    let tenants: Vec<&str> = received.iter().map(Received::tenant).collect();
    assert_eq!(tenants, ["acme", "fallback"]);
    let first = &received[0];
    assert_eq!(first.headers["content-type"], "application/x-protobuf");
    assert_eq!(first.headers["x-custom"], "yes");
    let push = first.push();
    assert_eq!(push.streams.len(), 1);
    assert_eq!(push.streams[0].labels, r#"{exporter="OTLP", job="a"}"#);
    let times: Vec<i32> = push.streams[0]
        .entries
        .iter()
        .map(|e| e.timestamp.unwrap().nanos)
        .collect();
    assert_eq!(times, [10, 20, 30]);
    assert_eq!(
        metric(
            &telemetry,
            "weir_loki_exporter_requests_total{exporter=\"loki\",result=\"sent\"}"
        ),
        2.0
    );
}

#[tokio::test]
async fn json_encoding() {
    let server = Server::default();
    let url = server.start().await;
    let e = exporter(
        &format!("{{endpoint: '{url}', encoding: json, format: raw}}"),
        &Telemetry::new(),
    );
    e.prepare(batch(&[("a", "", &[2, 1])]))
        .unwrap()
        .send()
        .await
        .unwrap();
    let received = server.received();
    assert_eq!(received[0].headers["content-type"], "application/json");
    assert!(received[0].headers.get("x-scope-orgid").is_none());
    let json: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"streams": [{"stream": {"exporter": "OTLP", "job": "a"},
            "values": [[(T + 1).to_string(), "at 1"], [(T + 2).to_string(), "at 2"]]}]})
    );
}

#[tokio::test]
async fn a_retry_resends_only_the_tenants_not_yet_delivered() {
    let server = Server::default();
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(
        &format!("{{endpoint: '{url}', tenant: {{source: attributes, value: tenant.id}}}}"),
        &telemetry,
    );
    let mut request = e
        .prepare(batch(&[("a", "t1", &[1]), ("b", "t2", &[2, 3])]))
        .unwrap();
    server.answer([
        (204, None, String::new()),
        (429, Some("3"), "Ingestion rate limit exceeded".into()),
    ]);
    match request.send().await {
        Err(ExportError::Retryable {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)));
            assert!(
                message.contains("429") && message.contains("rate limit"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    server.answer([(503, None, String::new())]);
    assert!(request.send().await.unwrap_err().is_retryable());
    request.send().await.unwrap();
    let tenants: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.tenant().to_string())
        .collect();
    assert_eq!(tenants, ["t1", "t2", "t2", "t2"]);
    let retryable =
        "weir_loki_exporter_requests_total{exporter=\"loki\",result=\"retryable_error\"}";
    assert_eq!(metric(&telemetry, retryable), 2.0);
}

#[tokio::test]
async fn out_of_order_is_final_for_what_loki_ignored() {
    let server = Server::default();
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(&format!("{{endpoint: '{url}'}}"), &telemetry);
    let mut request = e.prepare(batch(&[("a", "", &[1, 2, 3])])).unwrap();
    let text = "entry with timestamp 2023-11-14 22:13:20.000000001 +0000 UTC ignored, reason: \
                'entry out of order',\nentry with timestamp 2023-11-14 22:13:20.000000002 +0000 \
                UTC ignored, reason: 'entry out of order',\nuser 'fake', total ignored: 2 out \
                of 3 for stream: {exporter=\"OTLP\", job=\"a\"}";
    server.answer([(400, None, text.into())]);
    match request.send().await {
        Err(ExportError::Permanent { rejected, message }) => {
            assert_eq!(rejected, Some(2));
            assert!(message.contains("entry out of order"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        metric(
            &telemetry,
            "weir_loki_exporter_out_of_order_entries_total{exporter=\"loki\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &telemetry,
            "weir_items_dropped_total{component=\"loki\",otel_signal=\"logs\",reason=\"out_of_order\"}"
        ),
        2.0
    );
    // Nothing is left to send: another attempt posts nothing and reports the same.
    assert!(matches!(
        request.send().await,
        Err(ExportError::Permanent {
            rejected: Some(2),
            ..
        })
    ));
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn other_refusals_fail_the_push_and_records_without_labels_are_counted() {
    let server = Server::default();
    let url = server.start().await;
    let telemetry = Telemetry::new();
    let e = exporter(&format!("{{endpoint: '{url}'}}"), &telemetry);
    server.answer([(
        400,
        None,
        "error at least one label pair is required per stream".into(),
    )]);
    let mut request = e.prepare(batch(&[("a", "", &[1, 2])])).unwrap();
    assert!(matches!(
        request.send().await,
        Err(ExportError::Permanent {
            rejected: Some(2),
            ..
        })
    ));
    assert_eq!(
        metric(
            &telemetry,
            "weir_loki_exporter_out_of_order_entries_total{exporter=\"loki\"}"
        ),
        0.0
    );

    let e = exporter(
        &format!("{{endpoint: '{url}', default_labels_enabled: {{exporter: false, job: false}}}}"),
        &telemetry,
    );
    let mut request = e.prepare(batch(&[("a", "", &[1])])).unwrap();
    assert!(matches!(
        request.send().await,
        Err(ExportError::Permanent {
            rejected: Some(1),
            ..
        })
    ));
    assert_eq!(server.received().len(), 1, "nothing to push");
    assert_eq!(
        metric(
            &telemetry,
            "otelcol_lokiexporter_send_failed_due_to_missing_labels_total{exporter=\"loki\"}"
        ),
        1.0
    );
}
