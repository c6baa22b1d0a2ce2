"""Issue 13 acceptance for the `cardinality_limiter` processor, against a real Prometheus.

A bad deploy puts a request id into a metric's attributes: an OTLP source (this test,
over OTLP/HTTP protobuf) sends the `requests` gauge with 100,000 distinct `request_id`
values, next to a well-behaved `cpu` gauge, through `otlp -> cardinality_limiter ->
batch -> prometheusremotewrite` into Prometheus (the Debian package, 2.42). The test
checks in Prometheus that `requests` stays within `max_series` series while every `cpu`
series arrives, and in Weir's self-metrics that the excess is counted by metric name
and action (and, for `drop_point`, as dropped with reason `cardinality_limit`).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from harness import Prometheus, free_port, http_post, wait_until

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

pytestmark = pytest.mark.skipif(
    not (shutil.which("prometheus") or Path("/usr/bin/prometheus").exists()),
    reason="the Debian package `prometheus` is not installed",
)

IDS = 100_000
MAX_SERIES = 100
PER_REQUEST = 5_000
CPUS = 8


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def export(points_by_metric: dict[str, list[list[KeyValue]]], time_ns: int) -> bytes:
    metrics = [
        Metric(name=name, gauge=Gauge(data_points=[
            NumberDataPoint(attributes=attrs, time_unix_nano=time_ns, as_double=1.0) for attrs in points]))
        for name, points in points_by_metric.items()
    ]
    resource = ResourceMetrics(
        resource=Resource(attributes=[kv("service.name", "shop"), kv("service.instance.id", "shop-1")]),
        scope_metrics=[ScopeMetrics(metrics=metrics)],
    )
    return ExportMetricsServiceRequest(resource_metrics=[resource]).SerializeToString()


def post(url: str, body: bytes):
    def accepted():
        status, _, text = http_post(url, body, {"Content-Type": "application/x-protobuf"})
        assert status in (200, 429, 503), (status, text)
        return status == 200

    wait_until(accepted, timeout=60, interval=0.2, what="weir accepting the OTLP request")


def count(prom: Prometheus, expr: str) -> float:
    result = prom.query(f"count({expr})")
    return float(result[0]["value"][1]) if result else 0.0


@pytest.mark.parametrize("action", ["drop_point", "drop_attributes"])
def test_an_exploding_label_stays_within_max_series(start_weir, action):
    prom = Prometheus(scrape_interval="1s")
    http_port = free_port()
    try:
        prom.start()
        extra = "    attributes: [request_id]\n" if action == "drop_attributes" else ""
        weir = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  cardinality_limiter:
    max_series: {MAX_SERIES}
    action: {action}
{extra}  batch: {{}}
exporters:
  prometheusremotewrite:
    endpoint: {prom.remote_write_url}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [cardinality_limiter, batch]
      exporters: [prometheusremotewrite]
""")
        url = f"http://127.0.0.1:{http_port}/v1/metrics"
        now_ns = int(time.time() * 1e9)
        cpu = [[kv("core", str(c))] for c in range(CPUS)]
        # Before the bad deploy: one series per route.
        healthy = [[kv("route", "/buy")], [kv("route", "/cart")]]
        post(url, export({"requests": healthy, "cpu": cpu}, now_ns - 2_000_000_000))
        # The bad deploy: every request gets its own id.
        routes = ["/buy", "/cart"]
        for first in range(0, IDS, PER_REQUEST):
            points = [[kv("route", routes[i % 2]), kv("request_id", f"req-{i:06d}")]
                      for i in range(first, first + PER_REQUEST)]
            post(url, export({"requests": points, "cpu": cpu}, now_ns - 1_000_000_000))

        limited = "weir_cardinality_limiter_limited_points_total"
        excess = IDS - (MAX_SERIES - len(healthy))
        wait_until(lambda: weir.metric(limited, metric="requests", action=action) == excess, timeout=120,
                   what=f"{excess} points limited; weir log:\n{weir.log()[-2000:]}")
        sent = "otelcol_exporter_sent_metric_points_total"
        wait_until(lambda: count(prom, 'cpu{job="shop"}') == CPUS and count(prom, 'requests{job="shop"}') > 0,
                   timeout=120, what="the series in Prometheus")
        wait_until(lambda: weir.metric("otelcol_exporter_queue_size") == 0 and weir.metric(sent) > 0, timeout=60,
                   what="the exporter's queue drained")
        # `requests` stays within its limit; `cpu` is untouched.
        assert count(prom, 'requests{job="shop"}') == MAX_SERIES
        assert count(prom, 'cpu{job="shop"}') == CPUS
        assert count(prom, 'requests{job="shop",request_id=""}') == len(healthy)
        assert weir.metric(limited, metric="cpu") == 0
        dropped = weir.metric("weir_items_dropped_total", component="cardinality_limiter",
                              reason="cardinality_limit")
        assert dropped == (excess if action == "drop_point" else 0)
        assert weir.metric("otelcol_exporter_send_failed_metric_points_total") == 0
    finally:
        prom.cleanup()
