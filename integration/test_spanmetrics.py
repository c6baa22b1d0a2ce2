"""Issue 11 acceptance for the `spanmetrics` connector (RED metrics from spans), against
real peers:

- the official OpenTelemetry Python SDK sends spans with known statuses and durations
  from 3 services x 2 hosts (six tracer providers, each its own resource with
  `service.name`, `service.instance.id` and `host.name`) over OTLP/gRPC to weir;
- weir's traces pipeline exports to `spanmetrics` (with `host.name` as a dimension), whose
  metrics pipeline remote-writes into a real Prometheus (the Debian package);
- the error ratio per service and per host, queried with PromQL from the `calls`
  counter, equals the ratio the test sent, exactly;
- `histogram_quantile(0.99, ...)` over the `duration` histogram, per service, lands in
  the bucket that holds the true p99 of the durations sent;
- weir's self-metrics agree: every span accepted was aggregated, nothing dropped or
  overflowed, and the traces' acknowledgements are released.

Span times are set explicitly (start and end), so durations are exact and the test does
not sleep for them. Everything is on loopback and bounded to about a minute.
"""

from __future__ import annotations

import random
import shutil
import time
import uuid

import pytest

from harness import Prometheus, free_port, wait_until

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None and not shutil.which("/usr/bin/prometheus"),
    reason="the Debian package `prometheus` is not installed",
)

SERVICES = ("frontend", "cart", "checkout")
HOSTS = ("host-a", "host-b")
SPANS_PER_PAIR = 300
# Errors out of SPANS_PER_PAIR for each (service, host): ratios differ per service and
# per host, so a wrong grouping shows.
ERRORS = {
    ("frontend", "host-a"): 15,
    ("frontend", "host-b"): 45,
    ("cart", "host-a"): 6,
    ("cart", "host-b"): 30,
    ("checkout", "host-a"): 60,
    ("checkout", "host-b"): 90,
}
# The connector's default explicit buckets, in milliseconds.
BUCKETS_MS = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000]
# Each service's durations: most fast, a tail whose 99th percentile falls well inside a
# bucket (not on a bound), different per service.
TAILS_MS = {"frontend": (120, 180), "cart": (420, 780), "checkout": (1050, 1350)}


def durations_for(service: str, host: str) -> list[float]:
    rng = random.Random(f"{service}/{host}")
    fast = [round(rng.uniform(1.0, 45.0), 3) for _ in range(SPANS_PER_PAIR - 15)]
    low, high = TAILS_MS[service]
    tail = [round(rng.uniform(low, high), 3) for _ in range(15)]
    out = fast + tail
    rng.shuffle(out)
    return out


def true_quantile(values: list[float], q: float) -> float:
    """The value Prometheus' rank q*n falls on: the ceil(q*n)-th smallest."""
    ordered = sorted(values)
    rank = q * len(ordered)
    index = max(0, -int(-rank // 1) - 1)
    return ordered[index]


def bucket_of(value: float) -> tuple[float, float]:
    """The (lower, upper] explicit bucket holding `value`."""
    lower = 0.0
    for bound in BUCKETS_MS:
        if value <= bound:
            return lower, float(bound)
        lower = float(bound)
    return lower, float("inf")


def weir_config(grpc_port: int, endpoint: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
connectors:
  spanmetrics:
    dimensions:
      - name: host.name
    metrics_flush_interval: 1s
exporters:
  prometheusremotewrite:
    endpoint: {endpoint}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spanmetrics]
    metrics:
      receivers: [spanmetrics]
      exporters: [prometheusremotewrite]
"""


@pytest.fixture
def prometheus():
    prom = Prometheus()
    try:
        yield prom.start()
    finally:
        prom.cleanup()


def scalar_by(prom: Prometheus, expr: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prom.query(expr)}


def send_spans(grpc_port: int, run: str, base_ns: int) -> dict[tuple[str, str], list[float]]:
    """Sends every (service, host)'s spans through its own tracer provider; returns the
    durations sent, in ms."""
    sent = {}
    for service in SERVICES:
        for host in HOSTS:
            provider = TracerProvider(resource=Resource.create({
                "service.name": service,
                "service.instance.id": f"{service}-{host}-{run}",
                "host.name": host,
                "test.run": run,
            }))
            processor = BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True),
                max_export_batch_size=512,
            )
            provider.add_span_processor(processor)
            tracer = provider.get_tracer("weir.test.spanmetrics")
            durations = durations_for(service, host)
            errors = ERRORS[(service, host)]
            for i, ms in enumerate(durations):
                start = base_ns + i * 1_000_000
                span = tracer.start_span("GET /item", kind=SpanKind.SERVER, start_time=start)
                if i < errors:
                    span.set_status(Status(StatusCode.ERROR, "boom"))
                span.end(end_time=start + int(round(ms * 1_000_000)))
            assert provider.force_flush(20_000), "the SDK could not export its spans"
            provider.shutdown()
            sent[(service, host)] = durations
    return sent


def test_red_metrics_from_sdk_spans_in_prometheus(start_weir, prometheus):
    grpc_port = free_port()
    weir = start_weir(weir_config(grpc_port, prometheus.remote_write_url))
    run = uuid.uuid4().hex[:8]
    sent = send_spans(grpc_port, run, base_ns=time.time_ns() - 60 * 1_000_000_000)
    total = SPANS_PER_PAIR * len(sent)

    calls = "traces_span_metrics_calls_total"
    sel = f'{{span_name="GET /item",span_kind="SPAN_KIND_SERVER"}}'
    # Every span is counted once the connector has flushed and Prometheus has the write.
    wait_until(
        lambda: sum(scalar_by(prometheus, f"sum({calls}{sel})", "").values()) == total,
        timeout=30,
        what=f"sum({calls}) == {total}",
    )

    # Error ratio per service and per host, from `calls` alone.
    for label, keys in (("service_name", SERVICES), ("host_name", HOSTS)):
        ratio = scalar_by(
            prometheus,
            f'sum by ({label}) ({calls}{{status_code="STATUS_CODE_ERROR"}})'
            f" / sum by ({label}) ({calls})",
            label,
        )
        for key in keys:
            pairs = [p for p in ERRORS if key in p]
            want = sum(ERRORS[p] for p in pairs) / (SPANS_PER_PAIR * len(pairs))
            assert ratio.get(key) == pytest.approx(want, abs=1e-12), (label, key, ratio)
        assert set(ratio) == set(keys), ratio

    # One series per service x host x status, with the Collector's attribute names.
    series = prometheus.query(f"{calls}{sel}")
    assert len(series) == 12, series
    for s in series:
        m = s["metric"]
        assert m["status_code"] in ("STATUS_CODE_ERROR", "STATUS_CODE_UNSET")
        assert m["job"] == m["service_name"], "service.name is also the resource's job"
        assert m["instance"] == f'{m["service_name"]}-{m["host_name"]}-{run}'

    # p99 per service lands in the bucket of the true p99.
    duration = "traces_span_metrics_duration_milliseconds_bucket"
    wait_until(
        lambda: sum(scalar_by(
            prometheus, f'sum({duration}{{le="+Inf"}})', "").values()) == total,
        timeout=15,
        what="every duration in the histogram",
    )

    # Remote-write sends series in shards, so one bucket may land a moment after another:
    # poll until the answer matches (bounded), then assert with the details.
    def p99_problems() -> list[str]:
        p99 = scalar_by(
            prometheus,
            f"histogram_quantile(0.99, sum by (le, service_name) ({duration}))",
            "service_name",
        )
        sums = scalar_by(
            prometheus,
            "sum by (service_name) (traces_span_metrics_duration_milliseconds_sum)",
            "service_name",
        )
        problems = []
        for service in SERVICES:
            values = sent[(service, HOSTS[0])] + sent[(service, HOSTS[1])]
            truth = true_quantile(values, 0.99)
            lower, upper = bucket_of(truth)
            got = p99.get(service)
            if got is None or not lower <= got <= upper:
                problems.append(
                    f"{service}: histogram_quantile(0.99) = {got}, true p99 {truth} is in "
                    f"({lower}, {upper}]"
                )
            # The sum is exact too (durations in ms).
            if sums.get(service) != pytest.approx(sum(values), rel=1e-9, abs=1e-3):
                problems.append(f"{service}: duration sum {sums.get(service)} != {sum(values)}")
        return problems

    try:
        wait_until(lambda: not p99_problems(), timeout=15, what="p99 in the true p99's bucket")
    except TimeoutError:
        pass
    assert p99_problems() == []

    # Weir's own account: everything accepted was aggregated; nothing dropped or lost.
    assert weir.metric("otelcol_receiver_accepted_spans_total") == total
    assert weir.metric("weir_items_dropped_total", component="spanmetrics") == 0
    assert weir.metric("weir_spanmetrics_overflow_spans_total") == 0
    assert weir.metric("otelcol_exporter_send_failed_metric_points_total") == 0
    wait_until(lambda: weir.metric("weir_in_flight_items") == 0, timeout=5,
               what="the traces' acknowledgements released")
