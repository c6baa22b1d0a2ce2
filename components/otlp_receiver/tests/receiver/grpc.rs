use tonic::codec::CompressionEncoding;
use tonic_types::StatusExt;
use weir_api::{Batch, Signal};
use weir_proto::collector::logs::v1::logs_service_client::LogsServiceClient;
use weir_proto::collector::trace::v1::trace_service_client::TraceServiceClient;

use crate::support::{self, start, start_for, Mode, GRPC_AND_HTTP, RETRY_AFTER};

const ACCEPTED_SPANS: &str =
    "otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\"}";
const REFUSED_SPANS: &str =
    "otelcol_receiver_refused_spans_total{receiver=\"otlp\",transport=\"grpc\"}";

#[tokio::test]
async fn export_arrives_intact_plain_and_gzip() {
    let receiver = start(GRPC_AND_HTTP).await;
    let request = support::traces_request(3);
    let mut client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let response = client.export(request.clone()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);

    let mut gzip_client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    gzip_client.export(request.clone()).await.unwrap();
    let mut zstd_client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Zstd);
    zstd_client.export(request.clone()).await.unwrap();

    let expected = Batch::from_traces(request.resource_spans.clone()).to_traces_request();
    let received: Vec<_> = receiver
        .consumer
        .take()
        .iter()
        .map(|b| b.to_traces_request())
        .collect();
    assert_eq!(received, [expected.clone(), expected.clone(), expected]);
    assert_eq!(receiver.metric(ACCEPTED_SPANS), 9);
    receiver.stop().await;
}

#[tokio::test]
async fn grpc_metadata_is_kept_with_or_without_include_metadata() {
    for flag in ["true", "false"] {
        metadata_is_kept(&format!(
            "protocols:\n  grpc:\n    endpoint: 127.0.0.1:0\n    include_metadata: {flag}\n"
        ))
        .await;
    }
}

async fn metadata_is_kept(yaml: &str) {
    let receiver = start(yaml).await;
    assert!(
        receiver.http.is_none(),
        "http is off when its key is absent"
    );
    let mut client = LogsServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let mut request = tonic::Request::new(support::logs_request(1));
    request
        .metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    client.export(request).await.unwrap();
    let batches = receiver.consumer.take();
    assert_eq!(batches[0].metadata().get("x-tenant"), ["acme"]);
    receiver.stop().await;
}

#[tokio::test]
async fn a_full_pipeline_is_unavailable_with_retry_info() {
    let receiver = start(GRPC_AND_HTTP).await;
    receiver.consumer.set_mode(Mode::NoRoom);
    let mut client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let status = client.export(support::traces_request(2)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let retry = status.get_details_retry_info().expect("a RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(RETRY_AFTER));
    assert_eq!(receiver.metric(REFUSED_SPANS), 2);

    receiver.consumer.set_mode(Mode::ShuttingDown);
    let status = client.export(support::traces_request(1)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    receiver.stop().await;
}

#[tokio::test]
async fn a_signal_without_pipeline_is_unimplemented() {
    let receiver = start_for(GRPC_AND_HTTP, &[Signal::Traces]).await;
    let mut client = LogsServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let status = client.export(support::logs_request(1)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    receiver.stop().await;
}

#[tokio::test]
async fn oversized_message_is_refused_and_the_server_keeps_serving() {
    let yaml = "protocols:\n  grpc:\n    endpoint: 127.0.0.1:0\n    max_recv_msg_size_mib: 1\n";
    let receiver = start(yaml).await;
    let mut client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let mut big = support::traces_request(1);
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(2 * 1024 * 1024);
    let status = client.export(big).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    client.export(support::traces_request(1)).await.unwrap();
    assert_eq!(receiver.consumer.take().len(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn a_port_in_use_is_a_start_error_naming_it() {
    let first = start(GRPC_AND_HTTP).await;
    let taken = first.grpc.unwrap();
    let yaml = format!("protocols:\n  grpc:\n    endpoint: {taken}\n");
    let section: weir_api::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let telemetry = weir_api::telemetry::Telemetry::new();
    let id = weir_api::ComponentId::new("otlp", None);
    let receiver = weir_otlp_receiver::OtlpReceiver::new(
        weir_api::BuildContext {
            id: id.clone(),
            telemetry: telemetry.clone(),
        },
        &section,
    )
    .unwrap();
    let err = receiver
        .bind(weir_api::ReceiverContext {
            output: weir_api::ReceiverOutput::new(id, telemetry, []),
            shutdown: Default::default(),
        })
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.0,
        format!("cannot listen on {taken} (grpc): Address already in use")
    );
    first.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_the_call_in_flight() {
    let receiver = start(GRPC_AND_HTTP).await;
    receiver.consumer.set_mode(Mode::Hold);
    let mut client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let in_flight = tokio::spawn(async move { client.export(support::traces_request(1)).await });
    receiver.consumer.entered.notified().await;
    let (consumer, serving) = receiver.begin_shutdown();
    consumer.release.notify_one();
    assert!(in_flight.await.unwrap().is_ok());
    serving.await.unwrap();
    assert_eq!(consumer.take().len(), 1);
}
