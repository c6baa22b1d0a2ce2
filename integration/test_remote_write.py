"""Issue 3 acceptance for the `prometheusremotewrite` exporter, against real peers:

- the official OpenTelemetry Python SDK sends cumulative and delta metrics (counter,
  up-down counter, histogram, exponential histogram through a View, gauge) over OTLP/gRPC
  to weir, which remote-writes them into a real Prometheus (the Debian package, 2.42);
  the values Prometheus answers must equal what the SDK recorded (counters and native
  histogram count/sum exactly);
- Prometheus is stopped mid-run: weir retries, and the samples arrive after it restarts;
- a backend answering 400 is not retried and the points are counted as failed.

Prometheus 2.42 needs `--enable-feature=native-histograms` to store native histograms,
so the server here is the harness' Prometheus with that flag added.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import uuid

import pytest

from harness import Prometheus, free_port, http_get, wait_until

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None and not shutil.which("/usr/bin/prometheus"),
    reason="the Debian package `prometheus` is not installed",
)

DELTA = {
    Counter: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
    ObservableUpDownCounter: AggregationTemporality.DELTA,
}


def NativeHistogramPrometheus() -> Prometheus:  # noqa: N802 - reads like the class it returns
    """The harness' Prometheus with native histograms enabled."""
    return Prometheus(features=("native-histograms",))


@pytest.fixture
def prometheus():
    prom = NativeHistogramPrometheus()
    try:
        yield prom.start()
    finally:
        prom.cleanup()


def weir_config(grpc_port: int, endpoint: str, extra: str = "") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  prometheusremotewrite:
    endpoint: {endpoint}
    tls:
      insecure: true
{extra}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheusremotewrite]
"""


def meter_provider(grpc_port: int, job: str, delta: bool) -> MeterProvider:
    exporter = OTLPMetricExporter(
        endpoint=f"127.0.0.1:{grpc_port}",
        insecure=True,
        preferred_temporality=DELTA if delta else None,
    )
    # A long interval: the test exports explicitly with force_flush, so what was sent
    # when is known exactly.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(
        resource=Resource.create({"service.name": job, "service.instance.id": "i-1"}),
        metric_readers=[reader],
        views=[View(instrument_name="payload.size", aggregation=ExponentialBucketHistogramAggregation())],
    )


def scalar(prom: Prometheus, expr: str):
    result = prom.query(expr)
    if len(result) != 1:
        return None
    return float(result[0]["value"][1])


def wait_for_value(prom: Prometheus, expr: str, want: float, timeout: float = 30.0):
    wait_until(lambda: scalar(prom, expr) == want, timeout=timeout,
               what=f"{expr} == {want} (last: {scalar(prom, expr)})")


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_sdk_metrics_reach_prometheus_exactly(start_weir, prometheus, temporality):
    grpc_port = free_port()
    weir = start_weir(weir_config(grpc_port, prometheus.remote_write_url))
    job = f"sdk-{temporality}-{uuid.uuid4().hex[:8]}"
    provider = meter_provider(grpc_port, job, delta=temporality == "delta")
    meter = provider.get_meter("weir.test", "1.0")
    orders = meter.create_counter("orders")
    inflight = meter.create_up_down_counter("inflight")
    latency = meter.create_histogram("request.latency", unit="ms")
    size = meter.create_histogram("payload.size", unit="By")
    temperature = meter.create_gauge("room.temperature", unit="Cel")

    rounds = [
        dict(orders=[3, 4], inflight=[5, -2], latency=[0.5, 7, 120], size=[1, 2, 3], temperature=21.5),
        dict(orders=[10], inflight=[-1, 4], latency=[3000, 1.25], size=[100, 1000], temperature=19.0),
    ]
    try:
        for r in rounds:
            for v in r["orders"]:
                orders.add(v, {"shop": "eu"})
            for v in r["inflight"]:
                inflight.add(v)
            for v in r["latency"]:
                latency.record(v, {"route": "/buy"})
            for v in r["size"]:
                size.record(v)
            temperature.set(r["temperature"])
            assert provider.force_flush(10_000)
    finally:
        provider.shutdown()

    sel = f'{{job="{job}",instance="i-1"}}'
    all_orders = sum(v for r in rounds for v in r["orders"])
    all_inflight = sum(v for r in rounds for v in r["inflight"])
    all_latency = [v for r in rounds for v in r["latency"]]
    all_size = [v for r in rounds for v in r["size"]]
    wait_for_value(prometheus, f'orders_total{sel}', all_orders)
    assert prometheus.query(f'orders_total{sel}')[0]["metric"]["shop"] == "eu"
    wait_for_value(prometheus, f"inflight{sel}", all_inflight)
    wait_for_value(prometheus, f'request_latency_milliseconds_count{sel}', len(all_latency))
    wait_for_value(prometheus, f'request_latency_milliseconds_sum{sel}', sum(all_latency))
    wait_for_value(prometheus, f'request_latency_milliseconds_bucket{{job="{job}",le="+Inf"}}',
                   len(all_latency))
    wait_for_value(prometheus, f'histogram_count(payload_size_bytes{sel})', len(all_size))
    wait_for_value(prometheus, f'histogram_sum(payload_size_bytes{sel})', sum(all_size))
    wait_for_value(prometheus, f"room_temperature_celsius{sel}", rounds[-1]["temperature"])
    # Buckets are cumulative and never decrease with `le`.
    buckets = prometheus.query(f'request_latency_milliseconds_bucket{sel}')
    by_le = sorted((float(b["metric"]["le"]), float(b["value"][1])) for b in buckets)
    assert [c for _, c in by_le] == sorted(c for _, c in by_le)
    # The resource's other attributes are on target_info.
    info = prometheus.query(f'target_info{sel}')
    assert info and info[0]["metric"].get("telemetry_sdk_language") == "python"
    assert weir.metric("otelcol_exporter_send_failed_metric_points_total") == 0
    # Nothing lost in conversion. (A sample overtaken by a newer one of the same series,
    # when two exports race, is left out and counted as `sample_older_than_delivered`;
    # that is allowed, it never changes the values checked above.)
    dropped = weir.metric("weir_items_dropped_total", component="prometheusremotewrite")
    superseded = weir.metric("weir_items_dropped_total", component="prometheusremotewrite",
                             reason="sample_older_than_delivered")
    assert dropped == superseded, weir.metrics_text()


def test_prometheus_restart_samples_are_retried(start_weir, prometheus):
    grpc_port = free_port()
    weir = start_weir(weir_config(grpc_port, prometheus.remote_write_url, """
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 120s
"""))
    job = f"restart-{uuid.uuid4().hex[:8]}"
    provider = meter_provider(grpc_port, job, delta=False)
    counter = provider.get_meter("weir.test").create_counter("jobs.done")
    sel = f'jobs_done_total{{job="{job}"}}'
    try:
        counter.add(5)
        assert provider.force_flush(10_000)
        wait_for_value(prometheus, sel, 5)

        prometheus.stop()
        counter.add(7)
        assert provider.force_flush(10_000)
        # weir holds the batch and retries while Prometheus is down.
        wait_until(lambda: weir.metric("weir_exporter_retries_total", exporter="prometheusremotewrite") >= 2,
                   timeout=30, what="retries while prometheus is down")
        prometheus.start()
        wait_for_value(prometheus, sel, 12, timeout=60)
    finally:
        provider.shutdown()
    assert weir.metric("otelcol_exporter_send_failed_metric_points_total") == 0


class _RefusingHandler(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            self.bodies.append(body)
        self.send_response(400)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"bad request: test refuses everything")

    def log_message(self, *args):
        pass


def test_bad_request_is_not_retried_and_counted(start_weir):
    _RefusingHandler.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        grpc_port = free_port()
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/api/v1/write"
        weir = start_weir(weir_config(grpc_port, endpoint, """
    target_info:
      enabled: false
    remote_write_queue:
      num_consumers: 1
"""))
        provider = meter_provider(grpc_port, "refused", delta=False)
        counter = provider.get_meter("weir.test").create_counter("refused.things")
        try:
            counter.add(1, {"k": "a"})
            counter.add(1, {"k": "b"})
            assert provider.force_flush(10_000)
            failed = "otelcol_exporter_send_failed_metric_points_total"
            wait_until(lambda: weir.metric(failed, exporter="prometheusremotewrite") >= 2, timeout=30,
                       what="failed points counted")
            # One export of two points, refused once, never retried.
            assert weir.metric(failed, exporter="prometheusremotewrite") == 2
            assert weir.metric("weir_exporter_retries_total", exporter="prometheusremotewrite") == 0
            with _RefusingHandler.lock:
                bodies = list(_RefusingHandler.bodies)
            assert bodies and len(bodies) == len(set(bodies)), "a refused request was sent again"
            assert weir.metric("weir_prometheusremotewrite_requests_total", exporter="prometheusremotewrite",
                               result="permanent_error") == len(bodies)
        finally:
            # Shutting down exports once more; that export is refused as well.
            provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
