use prost::Message;
use weir_api::{Batch, Signal};

use crate::support::{
    self, conformance_example, gzip, post, send, send_with, start, start_for, Mode, GRPC_AND_HTTP,
};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn refused(reason: &str) -> String {
    format!("weir_receiver_refused_requests_total{{receiver=\"otlp\",transport=\"http\",reason=\"{reason}\"}}")
}

const ACCEPTED_SPANS: &str =
    "otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"http\"}";
const REFUSED_SPANS: &str =
    "otelcol_receiver_refused_spans_total{receiver=\"otlp\",transport=\"http\"}";

#[tokio::test]
async fn protobuf_export_arrives_intact() {
    let receiver = start(GRPC_AND_HTTP).await;
    let request = support::traces_request(3);
    let answer = post(
        &receiver.http_url("/v1/traces"),
        PROTOBUF,
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    assert!(
        answer.body.is_empty(),
        "an empty ExportTraceServiceResponse"
    );
    assert_eq!(
        receiver.consumer.take(),
        [Batch::from_traces(request.resource_spans)]
    );
    assert_eq!(receiver.metric(ACCEPTED_SPANS), 3);
    receiver.stop().await;
}

#[tokio::test]
async fn json_conformance_examples_are_accepted() {
    let receiver = start(GRPC_AND_HTTP).await;
    for (path, signal, file) in [
        ("/v1/traces", Signal::Traces, "trace.json"),
        ("/v1/metrics", Signal::Metrics, "metrics.json"),
        ("/v1/logs", Signal::Logs, "logs.json"),
        ("/v1/logs", Signal::Logs, "events.json"),
    ] {
        let body = conformance_example(file);
        let answer = post(
            &receiver.http_url(path),
            "application/json; charset=utf-8",
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, 200, "{file}: {:?}", answer.body);
        assert_eq!(answer.header("content-type"), Some(JSON));
        assert_eq!(&answer.body[..], b"{}");
        let expected = Batch::decode_json(signal, &body).unwrap();
        assert_eq!(receiver.consumer.take(), [expected], "{file}");
    }
    receiver.stop().await;
}

#[tokio::test]
async fn gzip_zstd_and_deflate_bodies_are_decompressed() {
    let receiver = start(GRPC_AND_HTTP).await;
    let request = support::logs_request(2);
    let raw = request.encode_to_vec();
    let deflate = {
        use std::io::Write;
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&raw).unwrap();
        encoder.finish().unwrap()
    };
    for (encoding, body) in [
        ("gzip", gzip(&raw)),
        ("zstd", zstd::encode_all(&raw[..], 3).unwrap()),
        ("deflate", deflate),
        ("identity", raw.clone()),
    ] {
        let answer = send(
            "POST",
            &receiver.http_url("/v1/logs"),
            &[("content-type", PROTOBUF), ("content-encoding", encoding)],
            body,
        )
        .await;
        assert_eq!(answer.status, 200, "{encoding}");
        assert_eq!(
            receiver.consumer.take(),
            [Batch::from_logs(request.resource_logs.clone())],
            "{encoding}"
        );
    }
    receiver.stop().await;
}

#[tokio::test]
async fn bad_requests_get_their_status_a_counter_and_the_server_keeps_serving() {
    let yaml = "protocols:\n  http:\n    endpoint: 127.0.0.1:0\n    max_request_body_size: 4096\n";
    let receiver = start(yaml).await;
    let url = receiver.http_url("/v1/traces");

    // Malformed protobuf: 400 with a google.rpc.Status saying why.
    let answer = post(&url, PROTOBUF, vec![0xff, 0xff, 0xff]).await;
    assert_eq!(answer.status, 400);
    let status = tonic_types::Status::decode(answer.body.clone()).unwrap();
    assert_eq!(status.code, 3);
    assert!(
        status.message.contains("invalid OTLP protobuf"),
        "{}",
        status.message
    );

    // Invalid JSON: 400 with a JSON google.rpc.Status.
    let answer = post(&url, JSON, "{\"resourceSpans\": [").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("content-type"), Some(JSON));
    let status: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP/JSON"),
        "{status}"
    );

    // Truncated gzip: 400.
    let whole = gzip(&support::traces_request(5).encode_to_vec());
    let truncated = whole[..whole.len() / 2].to_vec();
    let answer = send(
        "POST",
        &url,
        &[("content-type", PROTOBUF), ("content-encoding", "gzip")],
        truncated,
    )
    .await;
    assert_eq!(answer.status, 400);

    // A decompression bomb: tiny on the wire, past the limit once inflated.
    let bomb = gzip(&vec![0u8; 1024 * 1024]);
    assert!(bomb.len() < 4096);
    let answer = send(
        "POST",
        &url,
        &[("content-type", PROTOBUF), ("content-encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(answer.status, 413);

    // Too large on the wire.
    let answer = post(&url, PROTOBUF, vec![0u8; 5000]).await;
    assert_eq!(answer.status, 413);

    // Wrong content type, unknown encoding, path and method.
    let answer = post(&url, "text/plain", "hello").await;
    assert_eq!(answer.status, 415);
    let answer = send(
        "POST",
        &url,
        &[("content-type", PROTOBUF), ("content-encoding", "br")],
        "x",
    )
    .await;
    assert_eq!(answer.status, 415);
    let answer = post(&receiver.http_url("/v1/nothing"), PROTOBUF, "").await;
    assert_eq!(answer.status, 404);
    let answer = send("GET", &url, &[], "").await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));

    assert_eq!(receiver.metric(&refused("malformed")), 3);
    assert_eq!(receiver.metric(&refused("too_large")), 2);
    assert_eq!(receiver.metric(&refused("unsupported_media_type")), 1);
    assert_eq!(receiver.metric(&refused("unsupported_encoding")), 1);
    assert_eq!(receiver.metric(&refused("not_found")), 1);
    assert_eq!(receiver.metric(&refused("method_not_allowed")), 1);
    assert!(receiver.consumer.take().is_empty());

    // Still serving.
    let answer = post(&url, PROTOBUF, support::traces_request(1).encode_to_vec()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(receiver.consumer.take().len(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn a_full_pipeline_is_503_with_retry_after() {
    let receiver = start(GRPC_AND_HTTP).await;
    let url = receiver.http_url("/v1/traces");
    receiver.consumer.set_mode(Mode::NoRoom);
    let answer = post(&url, PROTOBUF, support::traces_request(4).encode_to_vec()).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("2"));
    let status = tonic_types::Status::decode(answer.body.clone()).unwrap();
    assert_eq!(status.code, 14);
    assert_eq!(receiver.metric(REFUSED_SPANS), 4);

    receiver.consumer.set_mode(Mode::ShuttingDown);
    let answer = post(
        &url,
        JSON,
        &b"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{}]}]}]}"[..],
    )
    .await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("content-type"), Some(JSON));
    assert_eq!(receiver.metric(REFUSED_SPANS), 5);
    receiver.stop().await;
}

#[tokio::test]
async fn a_signal_without_pipeline_is_404() {
    let receiver = start_for(GRPC_AND_HTTP, &[Signal::Traces]).await;
    let answer = post(
        &receiver.http_url("/v1/logs"),
        PROTOBUF,
        support::logs_request(2).encode_to_vec(),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        receiver.metric(
            "otelcol_receiver_refused_log_records_total{receiver=\"otlp\",transport=\"http\"}"
        ),
        2
    );
    receiver.stop().await;
}

#[tokio::test]
async fn custom_paths_metadata_and_cors() {
    let yaml = "
protocols:
  http:
    endpoint: 127.0.0.1:0
    include_metadata: true
    traces_url_path: /otlp/traces
    cors:
      allowed_origins: [\"https://*.example.com\"]
      allowed_headers: [X-Tenant]
      max_age: 60
";
    let receiver = start(yaml).await;
    let url = receiver.http_url("/otlp/traces");
    let answer = send(
        "POST",
        &url,
        &[
            ("content-type", PROTOBUF),
            ("x-tenant", "acme"),
            ("origin", "https://app.example.com"),
        ],
        support::traces_request(1).encode_to_vec(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let batches = receiver.consumer.take();
    assert_eq!(batches[0].metadata().get("x-tenant"), ["acme"]);

    let preflight = send(
        "OPTIONS",
        &url,
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-tenant"),
        ],
        "",
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("60"));

    // The default path is not served when another is configured.
    let answer = post(&receiver.http_url("/v1/traces"), PROTOBUF, "").await;
    assert_eq!(answer.status, 404);
    receiver.stop().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let receiver = start(GRPC_AND_HTTP).await;
    let addr = receiver.http.unwrap();
    receiver.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn cleartext_http2_is_served() {
    let receiver = start(GRPC_AND_HTTP).await;
    let answer = send_with(
        true,
        "POST",
        &receiver.http_url("/v1/traces"),
        &[("content-type", PROTOBUF)],
        support::traces_request(2).encode_to_vec(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(receiver.consumer.take()[0].item_count(), 2);
    receiver.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight() {
    let receiver = start(GRPC_AND_HTTP).await;
    receiver.consumer.set_mode(Mode::Hold);
    let url = receiver.http_url("/v1/traces");
    let in_flight = tokio::spawn(async move {
        post(&url, PROTOBUF, support::traces_request(1).encode_to_vec()).await
    });
    receiver.consumer.entered.notified().await;
    let (consumer, serving) = receiver.begin_shutdown();
    consumer.release.notify_one();
    assert_eq!(in_flight.await.unwrap().status, 200);
    serving.await.unwrap();
    assert_eq!(consumer.take().len(), 1);
}

#[tokio::test]
async fn over_the_memory_budget_is_503_before_the_body_is_read_and_charges_are_released() {
    let receiver = start(GRPC_AND_HTTP).await;
    let url = receiver.http_url("/v1/traces");
    let body = support::traces_request(4).encode_to_vec();
    let budget = receiver.telemetry.memory_budget().clone();
    // Room for one request's bytes, not two.
    let size = body.len() as u64;
    budget.limit(size + size / 2, 2 * size, std::time::Duration::from_secs(3));

    // The fake pipeline holds the batch (and its charge) until released.
    receiver.consumer.set_mode(Mode::Hold);
    let held = tokio::spawn({
        let (url, body) = (url.clone(), body.clone());
        async move { post(&url, PROTOBUF, body).await }
    });
    receiver.consumer.entered.notified().await;
    assert_eq!(budget.used(), size);

    let answer = post(&url, PROTOBUF, body.clone()).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("3"));
    assert_eq!(
        receiver.metric(
            "weir_receiver_refused_requests_total{receiver=\"otlp\",transport=\"http\",reason=\"memory_budget\"}"
        ),
        1
    );
    receiver.consumer.release.notify_one();
    assert_eq!(held.await.unwrap().status, 200);
    // The accepted batch still holds its charge until its data has an outcome.
    assert_eq!(budget.used(), size);
    drop(receiver.consumer.take());
    assert_eq!(budget.used(), 0);
    receiver.consumer.set_mode(Mode::Accept);
    assert_eq!(post(&url, PROTOBUF, body).await.status, 200);
    receiver.stop().await;
}
