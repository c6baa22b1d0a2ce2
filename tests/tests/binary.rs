//! Black-box tests of the built `weir` binary over loopback: a gRPC client with gzip,
//! data held by the batch processor drained on SIGTERM, and startup failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use weir_proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use weir_tests::{free_port, span_names, weir_binary, TempDir, Weir};

fn request(names: &[&str]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| Span {
                        name: name.to_string(),
                        trace_id: vec![7; 16],
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn config(grpc: u16, batch_timeout: &str, out: &std::path::Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    timeout: {batch_timeout}
exporters:
  file:
    path: {out}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file]
"#,
        out = out.display()
    )
}

#[tokio::test]
async fn shutdown_drains_data_held_by_the_batch_processor() {
    let dir = TempDir::new("drain");
    let grpc = free_port();
    let out = dir.0.join("out.jsonl");
    // A batch timeout far beyond the test: only shutdown's flush can deliver the spans.
    let mut weir = Weir::start(&dir.0, &config(grpc, "1h", &out), grpc);
    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    client.export(request(&["a", "b"])).await.unwrap();
    client.export(request(&["c"])).await.unwrap();
    assert!(span_names(&out).is_empty(), "held by the batch processor");
    let status = weir.terminate();
    assert!(status.success(), "exit {status}: {}", weir.log_text());
    assert_eq!(span_names(&out), ["a", "b", "c"], "{}", weir.log_text());
    assert!(weir.log_text().contains("shutdown complete"));
}

#[tokio::test]
async fn grpc_export_reaches_the_exporter() {
    let dir = TempDir::new("grpc");
    let grpc = free_port();
    let out = dir.0.join("out.jsonl");
    let mut weir = Weir::start(&dir.0, &config(grpc, "10ms", &out), grpc);
    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    let reply = client.export(request(&["x"])).await.unwrap().into_inner();
    assert!(reply.partial_success.is_none_or(|p| p.rejected_spans == 0));
    for _ in 0..200 {
        if !span_names(&out).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(span_names(&out), ["x"]);
    assert!(weir.terminate().success());
}

#[test]
fn invalid_config_exits_one_with_the_reason() {
    let dir = TempDir::new("invalid");
    let path = dir.0.join("bad.yaml");
    std::fs::write(&path, "receivers:\n  otlp:\n    protocols:\n      grpcc:\n").unwrap();
    let output = Command::new(weir_binary())
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("receivers.otlp.protocols.grpcc"),
        "{stderr}"
    );
    assert!(stderr.contains("grpc"), "{stderr}");
}
