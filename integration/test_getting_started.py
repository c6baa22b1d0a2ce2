"""Issue 15 acceptance: the OpenTelemetry Collector's getting-started configuration
(`collector_configs/getting_started.yaml`: otlp receiver, memory_limiter,
resourcedetection, batch, otlp exporter, and the health_check, pprof and zpages
extensions) validates and runs unchanged.

- `weir validate` accepts the file as it is.
- weir runs it; only the listen endpoints are moved to free loopback ports with `--set`
  (the file's receivers and extensions listen on their loopback defaults, which another
  test or process may hold). The exporter's `otelcol:4317` does not resolve here: its
  exports fail and are retried, which does not concern this test.
- A span from the OpenTelemetry Python SDK is received and passes memory_limiter,
  resourcedetection and batch; resourcedetection logged what it detected at start.
- health_check answers 200, zpages serves its pipeline page, and pprof answers a
  1-second CPU profile with a non-empty, gzipped pprof body.

Processes are started and stopped by PID; every wait is bounded; loopback only.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

from harness import free_port, http_get, wait_until, weir_binary

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

CONFIG = Path(__file__).resolve().parent / "collector_configs" / "getting_started.yaml"


def test_validates_unchanged():
    result = subprocess.run(
        [weir_binary(), "validate", "--config", str(CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_runs_receives_a_span_and_serves_its_extensions(start_weir):
    grpc, http, health, pprof, zpages = (free_port() for _ in range(5))
    weir = start_weir(
        CONFIG.read_text(),
        extra_args=[
            "--set", f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{grpc}",
            "--set", f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{http}",
            "--set", f"extensions.health_check.endpoint=127.0.0.1:{health}",
            "--set", f"extensions.pprof.endpoint=127.0.0.1:{pprof}",
            "--set", f"extensions.zpages.endpoint=127.0.0.1:{zpages}",
            "--shutdown-timeout", "2s",
        ],
    )
    # The config on disk is the vendored file, byte for byte.
    assert weir.config_path.read_text() == CONFIG.read_text()

    wait_until(lambda: http_get(f"http://127.0.0.1:{health}/")[0] == 200, timeout=20, what="health 200")

    provider = TracerProvider(resource=Resource.create({"service.name": "getting-started"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{grpc}", insecure=True))
    )
    with provider.get_tracer("getting-started").start_as_current_span("hello"):
        pass
    provider.shutdown()

    wait_until(lambda: weir.metric("otelcol_receiver_accepted_spans_total", receiver="otlp") >= 1,
               timeout=20, what="the span accepted")
    for processor in ("memory_limiter", "resourcedetection", "batch"):
        wait_until(
            lambda: weir.metric("otelcol_processor_incoming_items_total", processor=processor,
                                pipeline="traces") >= 1,
            timeout=20,
            what=f"the span through {processor}",
        )
    log = weir.log()
    assert "resourcedetection: detected resource attributes" in log, log
    assert "host.name" in log

    status, body = http_get(f"http://127.0.0.1:{pprof}/debug/pprof/profile?seconds=1", timeout=30)
    assert status == 200, body[:200]
    assert body, "an empty profile"
    profile = gzip.decompress(body)
    assert len(profile) > 0
    # A pprof Profile protobuf starts with its sample_type field (1, length-delimited).
    assert profile[0] == 0x0A, profile[:16]

    status, page = http_get(f"http://127.0.0.1:{zpages}/debug/pipelinez")
    assert status == 200, page[:200]
