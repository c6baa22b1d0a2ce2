"""Issue 2 acceptance: downstream outages and slow exporters.

- Downstream stopped: retries show in the metrics; when it returns, the queued data arrives.
- A tiny queue in front of a hung downstream: the overflow is counted in
  otelcol_exporter_enqueue_failed_spans, and received = sent + failed + enqueue_failed
  (+ queued, which drains to zero) holds exactly.
- One pipeline, two exporters, one of them hung: the other keeps delivering everything.
"""

from __future__ import annotations

import socket
import threading

import pytest

from harness import free_port, http_post, read_file_exporter_output, wait_until

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

PROTO = {"Content-Type": "application/x-protobuf"}


def spans_request(start: int, count: int) -> bytes:
    spans = [
        Span(trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name=f"s{i}")
        for i in range(start, start + count)
    ]
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


class Blackhole:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: the shape of
    a hung backend."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                return

    def close(self):
        self.stopped = True
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def blackhole():
    hole = Blackhole()
    yield hole
    hole.close()


def sink_config(port: int, out) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  file:
    path: {out}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
"""


def span_ids(path) -> set[str]:
    return {
        span["spanId"]
        for doc in read_file_exporter_output(path)
        for rs in doc.get("resourceSpans", [])
        for ss in rs.get("scopeSpans", [])
        for span in ss.get("spans", [])
    }


def test_downstream_outage_retries_then_delivers(start_weir, tmp_path):
    sink_port, http_port = free_port(), free_port()
    gateway = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink_port}
    tls:
      insecure: true
    timeout: 2s
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 500ms
      max_elapsed_time: 60s
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
""", name="gateway")
    for i in range(3):
        status, _, _ = http_post(f"http://127.0.0.1:{http_port}/v1/traces", spans_request(i * 10, 10), PROTO)
        assert status == 200
    wait_until(lambda: gateway.metric("weir_exporter_retries_total", exporter="otlp") >= 2,
               timeout=20, what="retries while the sink is down")
    assert gateway.metric("otelcol_exporter_sent_spans_total") == 0

    out = tmp_path / "sink.jsonl"
    start_weir(sink_config(sink_port, out), name="sink")
    wait_until(lambda: len(span_ids(out)) == 30, timeout=30, what="queued spans delivered after recovery")
    assert gateway.metric("otelcol_exporter_sent_spans_total") == 30
    assert gateway.metric("otelcol_exporter_send_failed_spans_total") == 0


def test_tiny_queue_overflow_is_counted_and_accounting_is_exact(start_weir, blackhole):
    http_port = free_port()
    gateway = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  otlp:
    endpoint: 127.0.0.1:{blackhole.port}
    tls:
      insecure: true
    timeout: 1s
    retry_on_failure:
      enabled: false
    sending_queue:
      queue_size: 2
      num_consumers: 1
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
""")
    for i in range(40):
        status, _, _ = http_post(f"http://127.0.0.1:{http_port}/v1/traces", spans_request(i * 5, 5), PROTO)
        assert status == 200

    def settled():
        received = gateway.metric("otelcol_receiver_accepted_spans_total")
        sent = gateway.metric("otelcol_exporter_sent_spans_total")
        failed = gateway.metric("otelcol_exporter_send_failed_spans_total")
        dropped = gateway.metric("otelcol_exporter_enqueue_failed_spans_total")
        queued = gateway.metric("otelcol_exporter_queue_size")
        return received == 200 and queued == 0 and received == sent + failed + dropped

    wait_until(settled, timeout=30, what="received = sent + failed + enqueue_failed with an empty queue")
    assert gateway.metric("otelcol_exporter_enqueue_failed_spans_total") > 0
    assert gateway.metric("otelcol_exporter_send_failed_spans_total") > 0
    assert gateway.metric("otelcol_exporter_queue_capacity") == 2


def test_a_hung_exporter_does_not_slow_the_other(start_weir, tmp_path, blackhole):
    sink_port, http_port = free_port(), free_port()
    out = tmp_path / "live.jsonl"
    start_weir(sink_config(sink_port, out), name="sink")
    gateway = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  otlp/live:
    endpoint: 127.0.0.1:{sink_port}
    tls:
      insecure: true
  otlp/dead:
    endpoint: 127.0.0.1:{blackhole.port}
    tls:
      insecure: true
    timeout: 30s
    sending_queue:
      queue_size: 5
      num_consumers: 1
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/live, otlp/dead]
""", name="gateway")
    for i in range(200):
        status, _, _ = http_post(f"http://127.0.0.1:{http_port}/v1/traces", spans_request(i * 10, 10), PROTO)
        assert status == 200
    wait_until(lambda: len(span_ids(out)) == 2000, timeout=30, what="all spans at the live sink")
    assert gateway.metric("otelcol_exporter_sent_spans_total", exporter="otlp/live") == 2000
    # The dead one is still stuck on its first request: it delivered nothing and dropped
    # the overflow instead of holding the pipeline.
    assert gateway.metric("otelcol_exporter_sent_spans_total", exporter="otlp/dead") == 0
    assert gateway.metric("otelcol_exporter_enqueue_failed_spans_total", exporter="otlp/dead") >= 2000 - 60
