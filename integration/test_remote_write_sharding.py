"""Issue 13 acceptance: one busy instance is sent in parallel, in order, and nothing
retried is lost or miscounted.

One OTLP source (this test, over OTLP/HTTP protobuf) sends rounds of 100,000 gauge
series, all under one `service.instance.id`, through `otlp -> batch ->
prometheusremotewrite` to a test remote-write receiver (rw_proto.RecordingReceiver,
decoding with the published remote-write proto). The receiver holds each request a
moment, so concurrent requests overlap, and answers every fifth request with 503. The
test checks:

- requests go out on every consumer: as many requests are in flight at once as there
  are `num_consumers`, and never more (one per ordered lane);
- every sample of every round arrives, once;
- no series ever receives a sample that is not newer than the last one it accepted;
- Weir's `otelcol_exporter_sent_metric_points_total` equals the samples the receiver
  accepted, with nothing counted as failed or dropped.
"""

from __future__ import annotations

import threading
import time

from harness import free_port, http_post, wait_until
from rw_proto import RecordingReceiver, series_key

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

SERIES = 100_000
ROUNDS = 3
POINTS_PER_REQUEST = 5_000
CONSUMERS = 4
BASE_NS = 1_700_000_000_000_000_000


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def otlp_request(round_index: int, first: int, count: int) -> bytes:
    """Gauge points `first..first+count` of one round, one resource (one instance)."""
    time_ns = BASE_NS + round_index * 10_000_000_000
    points = [NumberDataPoint(attributes=[kv("i", str(i))], time_unix_nano=time_ns, as_double=float(round_index))
              for i in range(first, first + count)]
    resource = ResourceMetrics(
        resource=Resource(attributes=[kv("service.name", "gateway"), kv("service.instance.id", "gw-1")]),
        scope_metrics=[ScopeMetrics(metrics=[Metric(name="busy", gauge=Gauge(data_points=points))])],
    )
    return ExportMetricsServiceRequest(resource_metrics=[resource]).SerializeToString()


class InFlight:
    """Counts requests being served at once (the receiver holds each for a moment)."""

    def __init__(self, hold_s: float):
        self.hold_s = hold_s
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, record):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.hold_s)
        with self.lock:
            self.now -= 1


def test_one_instance_is_sent_in_parallel_in_order_and_counted(start_weir):
    in_flight = InFlight(hold_s=0.05)
    receiver = RecordingReceiver(
        answer=lambda n, record: (503, {}, "busy") if n % 5 == 4 else (200, {}, ""),
        delay=in_flight,
    )
    http_port = free_port()
    try:
        weir = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  batch: {{}}
exporters:
  prometheusremotewrite:
    endpoint: {receiver.url}
    target_info:
      enabled: false
    remote_write_queue:
      num_consumers: {CONSUMERS}
    retry_on_failure:
      initial_interval: 20ms
      max_interval: 100ms
      max_elapsed_time: 5m
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheusremotewrite]
""")
        url = f"http://127.0.0.1:{http_port}/v1/metrics"
        for round_index in range(ROUNDS):
            for first in range(0, SERIES, POINTS_PER_REQUEST):
                body = otlp_request(round_index, first, POINTS_PER_REQUEST)

                def accepted():
                    status, _, text = http_post(url, body, {"Content-Type": "application/x-protobuf"})
                    assert status in (200, 429, 503), (status, text)
                    return status == 200

                wait_until(accepted, timeout=60, interval=0.2, what="weir accepting the OTLP request")

        expected = SERIES * ROUNDS
        sent = "otelcol_exporter_sent_metric_points_total"

        def delivered():
            samples = sum(len(s.samples) for r in receiver.accepted() for s in r["request"].timeseries)
            return samples >= expected and weir.metric(sent) >= expected

        wait_until(delivered, timeout=300, interval=1,
                   what=f"{expected} samples accepted; weir log:\n{weir.log()[-2000:]}")
        time.sleep(1)  # nothing more should come

        records = receiver.all()
        refused = [r for r in records if r["status"] == 503]
        assert refused, "the receiver answered some requests with 503"
        assert in_flight.most == CONSUMERS, f"{in_flight.most} requests in flight at most"

        # In arrival order (accepted requests only), each series' timestamps increase.
        newest: dict[tuple, int] = {}
        count = 0
        seen: set[tuple] = set()
        for record in receiver.accepted():
            for series in record["request"].timeseries:
                key = series_key(series)
                for sample in series.samples:
                    last = newest.get(key)
                    assert last is None or sample.timestamp > last, f"out of order for {key}"
                    newest[key] = sample.timestamp
                    seen.add((key, sample.timestamp))
                    count += 1
        assert len(newest) == SERIES
        assert count == expected, f"{count} samples accepted, {expected} sent by the source"
        assert len(seen) == expected, "a sample arrived twice"
        for series in newest:
            labels = dict(series)
            assert labels["job"] == "gateway" and labels["instance"] == "gw-1"

        assert weir.metric(sent) == count
        assert weir.metric("otelcol_exporter_send_failed_metric_points_total") == 0
        assert weir.metric("otelcol_exporter_enqueue_failed_metric_points_total") == 0
        assert weir.metric("weir_items_dropped_total", component="prometheusremotewrite") == 0
        assert weir.metric("weir_prometheusremotewrite_requests_total", result="retryable_error") == len(refused)
    finally:
        receiver.close()
