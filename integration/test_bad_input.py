"""Issue 2 acceptance: malformed protobuf, truncated gzip, a body that decompresses past
the limit, a wrong content type and invalid JSON each get the right status, are counted
as refused, and the process keeps serving."""

from __future__ import annotations

import gzip
import socket

import pytest

from harness import free_port, http_get, http_post

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def valid_request() -> bytes:
    span = Span(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="ok")
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()


@pytest.fixture
def receiver(start_weir, tmp_path):
    port = free_port()
    weir = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
        max_request_body_size: 1048576
exporters:
  file:
    path: {tmp_path}/out.jsonl
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
""")
    return weir, f"http://127.0.0.1:{port}"


PROTO = {"Content-Type": "application/x-protobuf"}

CASES = [
    ("malformed protobuf", b"\x0a\xff\xff\xff\xff\x0f", PROTO, 400),
    ("truncated gzip", gzip.compress(valid_request() * 50)[:40], {**PROTO, "Content-Encoding": "gzip"}, 400),
    ("decompresses past the limit", gzip.compress(b"\x00" * (8 * 1024 * 1024)),
     {**PROTO, "Content-Encoding": "gzip"}, 413),
    ("wrong content type", valid_request(), {"Content-Type": "text/plain"}, 415),
    ("invalid JSON", b'{"resourceSpans": [', {"Content-Type": "application/json"}, 400),
]


@pytest.mark.parametrize("what,body,headers,status", CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_refused_and_counted(receiver, what, body, headers, status):
    weir, base = receiver
    before = weir.metric("weir_receiver_refused_requests_total")
    got, _, reply = http_post(f"{base}/v1/traces", body, headers)
    assert got == status, (what, reply[:200])
    assert weir.metric("weir_receiver_refused_requests_total") == before + 1
    # Still serving.
    ok, _, _ = http_post(f"{base}/v1/traces", valid_request(), PROTO)
    assert ok == 200
    assert weir.proc.poll() is None


def test_declared_body_over_the_limit_is_refused_before_reading(receiver):
    # The receiver answers 413 from Content-Length alone and closes the connection
    # without reading the body, so send only the headers (a client writing the whole
    # body would see a broken pipe after the answer).
    weir, base = receiver
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-protobuf\r\nContent-Length: 2097152\r\n\r\n")
        reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    assert weir.metric("weir_receiver_refused_requests_total", reason="too_large") == 1
    assert http_post(f"{base}/v1/traces", valid_request(), PROTO)[0] == 200


def test_wrong_path_and_method(receiver):
    weir, base = receiver
    assert http_post(f"{base}/v1/nothing", valid_request(), PROTO)[0] == 404
    assert http_get(f"{base}/v1/traces")[0] == 405
    assert http_post(f"{base}/v1/traces", valid_request(), PROTO)[0] == 200
    assert weir.metric("otelcol_receiver_accepted_spans_total") == 1
