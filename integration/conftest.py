"""pytest fixtures shared by the end-to-end tests: processes are started per test and
always stopped (by PID) and cleaned up, pass or fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Prometheus, Weir  # noqa: E402


@pytest.fixture
def start_weir():
    """Call with a config text; returns a started Weir. Every one is stopped at teardown."""
    started: list[Weir] = []

    def start(config: str, name: str = "weir", wait: bool = True, extra_args=None) -> Weir:
        weir = Weir(config, name=name, extra_args=extra_args)
        started.append(weir)
        return weir.start(wait=wait)

    yield start
    for weir in started:
        try:
            weir.stop(timeout=15)
        except Exception:  # noqa: BLE001 - teardown must stop the rest
            pass
        weir.cleanup()


@pytest.fixture
def prometheus_factory():
    started: list[Prometheus] = []

    def start(scrape_configs_yaml: str = "", scrape_interval: str = "1s") -> Prometheus:
        prom = Prometheus(scrape_configs_yaml, scrape_interval)
        started.append(prom)
        return prom.start()

    yield start
    for prom in started:
        prom.cleanup()


# A steady stream of spans from the OpenTelemetry SDK over OTLP/HTTP, in its own process:
# `spans` spans every 50 ms, exported every `delay_ms`.
SPAN_LOAD_SCRIPT = """
import sys, time
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
endpoint, spans, delay_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
provider = TracerProvider(resource=Resource.create({"service.name": "span-load"}))
provider.add_span_processor(BatchSpanProcessor(
    OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=delay_ms))
tracer = provider.get_tracer("span-load")
while True:
    for _ in range(spans):
        with tracer.start_as_current_span("work"):
            pass
    time.sleep(0.05)
"""


@pytest.fixture
def load_process():
    """Call with an OTLP/HTTP traces URL; the load runs until it is killed (by its PID) or the
    test ends."""
    started: list[subprocess.Popen] = []

    def start(endpoint: str, spans: int = 40, delay_ms: int = 200) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", SPAN_LOAD_SCRIPT, endpoint, str(spans), str(delay_ms)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
