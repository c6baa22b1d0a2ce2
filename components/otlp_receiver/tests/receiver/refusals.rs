//! gRPC requests refused before any item is decoded: each is answered with the code
//! the OTLP spec asks for, counted under a reason, and the server keeps serving.

use tonic::codec::CompressionEncoding;
use tonic::Code;
use tonic_types::StatusExt;
use weir_proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use weir_proto::prost::Message;

use crate::support::{self, grpc_frame, grpc_raw, start, Running, GRPC_AND_HTTP};

const TRACES: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const LOGS: &str = "opentelemetry.proto.collector.logs.v1.LogsService";

fn refused(reason: &str) -> String {
    format!(
        "weir_receiver_refused_requests_total{{receiver=\"otlp\",transport=\"grpc\",reason=\"{reason}\"}}"
    )
}

/// A valid export still goes through, and arrives alone.
async fn still_serves(receiver: &Running) {
    let mut client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    client.export(support::traces_request(1)).await.unwrap();
    assert_eq!(receiver.consumer.take().len(), 1);
}

#[tokio::test]
async fn malformed_protobuf_is_invalid_argument_and_counted() {
    let receiver = start(GRPC_AND_HTTP).await;
    let addr = receiver.grpc.unwrap();
    // Field 1 claims a 100-byte length-delimited value that is not there.
    let status = grpc_raw(addr, TRACES, &[], grpc_frame(false, b"\x0a\x64abc")).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("invalid OTLP protobuf"),
        "{status:?}"
    );
    // Bytes that are no protobuf at all, sent to the logs service.
    let status = grpc_raw(addr, LOGS, &[], grpc_frame(false, &[0xff; 8])).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(receiver.metric(&refused("malformed")), 2);
    assert!(receiver.consumer.take().is_empty());
    still_serves(&receiver).await;
    receiver.stop().await;
}

#[tokio::test]
async fn broken_framing_is_invalid_argument_and_counted() {
    let receiver = start(GRPC_AND_HTTP).await;
    let addr = receiver.grpc.unwrap();
    let valid = support::traces_request(1).encode_to_vec();
    // The body ends inside the message the frame header announced.
    let mut short = grpc_frame(false, &valid);
    short.truncate(short.len() - 3);
    let status = grpc_raw(addr, TRACES, &[], short).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // No message at all.
    let status = grpc_raw(addr, TRACES, &[], Vec::new()).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // The compressed flag without a grpc-encoding to undo it.
    let status = grpc_raw(addr, TRACES, &[], grpc_frame(true, &valid)).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(receiver.metric(&refused("malformed")), 3);
    still_serves(&receiver).await;
    receiver.stop().await;
}

#[tokio::test]
async fn corrupt_compression_is_invalid_argument_and_counted() {
    let receiver = start(GRPC_AND_HTTP).await;
    let addr = receiver.grpc.unwrap();
    let gzip = support::gzip(&support::traces_request(3).encode_to_vec());
    let truncated = &gzip[..gzip.len() - 6];
    let status = grpc_raw(
        addr,
        TRACES,
        &[("grpc-encoding", "gzip")],
        grpc_frame(true, truncated),
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("decompressing"), "{status:?}");
    let status = grpc_raw(
        addr,
        TRACES,
        &[("grpc-encoding", "zstd")],
        grpc_frame(true, b"not zstd at all"),
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(receiver.metric(&refused("malformed")), 2);
    assert!(receiver.consumer.take().is_empty());
    still_serves(&receiver).await;
    receiver.stop().await;
}

#[tokio::test]
async fn an_unknown_encoding_is_unimplemented_and_counted() {
    let receiver = start(GRPC_AND_HTTP).await;
    let addr = receiver.grpc.unwrap();
    let frame = grpc_frame(true, b"whatever brotli makes");
    let status = grpc_raw(addr, TRACES, &[("grpc-encoding", "br")], frame).await;
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(receiver.metric(&refused("unsupported_encoding")), 1);
    still_serves(&receiver).await;
    receiver.stop().await;
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented_and_counted() {
    let receiver = start(GRPC_AND_HTTP).await;
    let addr = receiver.grpc.unwrap();
    let service = format!("{TRACES}/Nope");
    let status = grpc_raw(addr, &service, &[], grpc_frame(false, b"")).await;
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(receiver.metric(&refused("not_found")), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn too_large_is_resource_exhausted_on_the_wire_and_once_decompressed() {
    let yaml = "protocols:\n  grpc:\n    endpoint: 127.0.0.1:0\n    max_recv_msg_size_mib: 1\n";
    let receiver = start(yaml).await;
    let mut big = support::traces_request(1);
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(2 * 1024 * 1024);

    let mut client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap();
    let status = client.export(big.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    assert!(
        status.get_details_retry_info().is_none(),
        "no RetryInfo: the same message would be refused again"
    );

    // 2 MiB of one letter gzips to a few KiB: the limit applies after decompression.
    let mut gzip_client = TraceServiceClient::connect(receiver.grpc_url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    let status = gzip_client.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    assert_eq!(receiver.metric(&refused("too_large")), 2);
    assert!(receiver.consumer.take().is_empty());
    still_serves(&receiver).await;
    receiver.stop().await;
}
