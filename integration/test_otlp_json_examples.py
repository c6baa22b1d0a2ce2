"""Issue 2 acceptance: the OTLP/JSON examples from the OpenTelemetry proto repository are
accepted over HTTP/JSON and are identical, field by field, after a round trip through the
exporter: examples -> weir A (otlp http json) -> otlphttp exporter with `encoding: json`
-> weir B -> file exporter (OTLP/JSON) -> compared with the original."""

from __future__ import annotations

import json

import pytest

from harness import CONFORMANCE, free_port, http_post, read_file_exporter_output, wait_until
from otlp_compare import normalize

EXAMPLES = CONFORMANCE / "otlp" / "examples"
CASES = [("trace.json", "traces"), ("metrics.json", "metrics"), ("logs.json", "logs"), ("events.json", "logs")]


def test_examples_are_present():
    for name, _ in CASES:
        assert (EXAMPLES / name).exists(), f"missing conformance example {name}"


@pytest.mark.parametrize("name,signal", CASES)
def test_json_example_round_trip(start_weir, tmp_path, name, signal):
    b_http = free_port()
    out = tmp_path / "out.jsonl"
    start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{b_http}
exporters:
  file:
    path: {out}
service:
  pipelines:
    {signal}:
      receivers: [otlp]
      exporters: [file]
""", name="sink")
    a_http = free_port()
    gateway = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{a_http}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{b_http}
    encoding: json
    compression: none
service:
  pipelines:
    {signal}:
      receivers: [otlp]
      exporters: [otlphttp]
""", name="gateway")

    original = json.loads((EXAMPLES / name).read_text())
    status, headers, body = http_post(
        f"http://127.0.0.1:{a_http}/v1/{signal}",
        (EXAMPLES / name).read_bytes(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    assert headers.get("content-type", "").startswith("application/json")
    # A full success has no partial_success, or an empty one.
    reply = json.loads(body or b"{}")
    assert not reply.get("partialSuccess", {}).get("rejectedSpans")

    docs = wait_until(lambda: read_file_exporter_output(out), timeout=20, what="example at sink")
    assert len(docs) == 1
    assert normalize(docs[0]) == normalize(original)
    assert gateway.metric("weir_receiver_refused_requests_total") == 0
