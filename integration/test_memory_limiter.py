"""The memory_limiter processor, black-box: while weir's resident memory is above the
soft limit, OTLP clients are told to retry (HTTP 503 with Retry-After) and the refusal is
counted; under the limit the same request is accepted."""

from __future__ import annotations

from harness import free_port, http_post

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTO = {"Content-Type": "application/x-protobuf"}


def request() -> bytes:
    record = LogRecord(body=AnyValue(string_value="storm"))
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[record] * 3)])]
    ).SerializeToString()


def config(port: int, limit_mib: int, out) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
processors:
  memory_limiter:
    check_interval: 100ms
    limit_mib: {limit_mib}
    spike_limit_mib: 0
exporters:
  file:
    path: {out}
service:
  pipelines:
    logs:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [file]
"""


def test_over_the_limit_clients_are_told_to_retry(start_weir, tmp_path):
    port = free_port()
    # 1 MiB is far below any process's resident memory: the limiter refuses.
    weir = start_weir(config(port, 1, tmp_path / "out.jsonl"))
    status, headers, _ = http_post(f"http://127.0.0.1:{port}/v1/logs", request(), PROTO)
    assert status == 503
    assert int(headers["retry-after"]) >= 1
    assert weir.metric("weir_memory_limiter_refusing") == 1
    assert weir.metric("weir_memory_limiter_refused_requests_total") >= 1
    assert weir.metric("otelcol_receiver_refused_log_records_total") == 3
    assert weir.metric("otelcol_receiver_accepted_log_records_total") == 0


def test_under_the_limit_data_flows(start_weir, tmp_path):
    port = free_port()
    weir = start_weir(config(port, 4096, tmp_path / "out.jsonl"))
    status, _, _ = http_post(f"http://127.0.0.1:{port}/v1/logs", request(), PROTO)
    assert status == 200
    assert weir.metric("weir_memory_limiter_refusing") == 0
    assert weir.metric("otelcol_receiver_accepted_log_records_total") == 3
    assert weir.metric("weir_memory_limiter_resident_bytes") > 1024 * 1024
