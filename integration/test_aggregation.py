"""Issue 16 acceptance: stream aggregation against a real Prometheus.

- 100 instances x 5 routes of a request counter (some instances restart, resetting their
  counters) are aggregated `by: [service.name, route]` with output `total`; the same
  points also go, raw, through a second pipeline and remote-write exporter. In
  Prometheus, `sum by (route) (rate(...))` over the aggregate equals the same query over
  the raw series, within floating-point error.
- Latency histograms (explicit buckets) from 20 servers of two services are merged per
  service: `histogram_quantile(0.99, ...)` over the merged classic `_bucket` series equals
  the one computed from all raw series.
- `interval` with 1 s input and a 10 s interval writes exactly one point per series per
  interval: the last one.
- `deltatocumulative` then `cumulativetodelta` gives the input back (file exporter).

Why the comparisons can be exact: points are sent as OTLP/HTTP protobuf with explicit
timestamps in the middle of each aggregation interval (k*I + I/2), and the aggregator
writes its outputs at the interval boundaries ((k+1)*I, aligned to the wall clock), so
each output sample holds exactly one round of input. Every series grows by a constant
step per round (a restarted one starts again from one step), so Prometheus' rate over
the raw series and over the aggregate both see the same increases over the same number of
equally spaced samples, and both extrapolate to the whole window.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse

import pytest

from harness import Prometheus, free_port, http_get, http_post, read_file_exporter_output, wait_until

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None and not shutil.which("/usr/bin/prometheus"),
    reason="the Debian package `prometheus` is not installed",
)

CUMULATIVE = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
NS = 1_000_000_000

INSTANCES = 100
ROUTES = ["/a", "/b", "/c", "/d", "/e"]
SERVERS = 20
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]
INTERVAL = 2  # seconds, the aggregation interval
ROUNDS = 10
WINDOW = 5 * INTERVAL  # the rate window, a multiple of the interval


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def post(port: int, request: ExportMetricsServiceRequest):
    status, _, body = http_post(
        f"http://127.0.0.1:{port}/v1/metrics",
        request.SerializeToString(),
        {"Content-Type": "application/x-protobuf"},
    )
    assert status == 200, body


def query(prom: Prometheus, expr: str, at: float) -> list:
    url = f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    status, body = http_get(url)
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def by_label(result: list, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def sleep_until(t: float):
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


class Sources:
    """The simulated services: per-series constant steps and restarts."""

    def __init__(self, begin_ns: int):
        self.begin = begin_ns
        # counter[i][route] = (value, start time)
        self.counters = {(i, r): (0.0, begin_ns) for i in range(INSTANCES) for r in ROUTES}
        self.histograms = {s: ([0] * (len(BOUNDS) + 1), 0.0, begin_ns) for s in range(SERVERS)}

    @staticmethod
    def step(i: int, route: str) -> float:
        return float(1 + (i % 7) + 3 * ROUTES.index(route))

    @staticmethod
    def bucket_steps(server: int) -> list[int]:
        # Each server has its own latency profile; slow servers fill the upper buckets.
        steps = [0] * (len(BOUNDS) + 1)
        steps[server % 4] += 5
        steps[2 + server % 5] += 2
        steps[len(BOUNDS) - (server % 3)] += 1 if server % 6 == 0 else 0
        return steps

    def advance(self, now_ns: int, restarting: set[int]):
        for (i, route), (value, start) in self.counters.items():
            if i in restarting:
                # Restarted right after the previous round: one step from zero.
                self.counters[(i, route)] = (self.step(i, route), now_ns - NS // 10)
            else:
                self.counters[(i, route)] = (value + self.step(i, route), start)
        for s, (counts, total, start) in self.histograms.items():
            steps = self.bucket_steps(s)
            counts = [c + d for c, d in zip(counts, steps)]
            self.histograms[s] = (counts, total + 0.01 * sum(steps), start)

    def request(self, now_ns: int) -> ExportMetricsServiceRequest:
        req = ExportMetricsServiceRequest()
        for i in range(INSTANCES):
            rm = req.resource_metrics.add()
            rm.resource.CopyFrom(Resource(attributes=[kv("service.name", "checkout"), kv("service.instance.id", f"i-{i}")]))
            sm = rm.scope_metrics.add(scope=InstrumentationScope(name="test"))
            metric = sm.metrics.add(name="http.requests")
            metric.sum.aggregation_temporality = CUMULATIVE
            metric.sum.is_monotonic = True
            for route in ROUTES:
                value, start = self.counters[(i, route)]
                metric.sum.data_points.add(
                    attributes=[kv("route", route)], start_time_unix_nano=start,
                    time_unix_nano=now_ns, as_double=value,
                )
        for s in range(SERVERS):
            service = "cart" if s % 2 else "search"
            rm = req.resource_metrics.add()
            rm.resource.CopyFrom(Resource(attributes=[kv("service.name", service), kv("service.instance.id", f"s-{s}")]))
            sm = rm.scope_metrics.add(scope=InstrumentationScope(name="test"))
            metric = sm.metrics.add(name="latency")
            metric.histogram.aggregation_temporality = CUMULATIVE
            counts, total, start = self.histograms[s]
            metric.histogram.data_points.add(
                start_time_unix_nano=start, time_unix_nano=now_ns, count=sum(counts), sum=total,
                bucket_counts=counts, explicit_bounds=BOUNDS,
            )
        return req


def aggregation_config(http_port: int, prom: Prometheus) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  aggregation:
    rules:
      - match: [http.requests]
        by: [service.name, route]
        interval: {INTERVAL}s
        outputs: [total]
      - match: ['/^lat.*/']
        by: [service.name]
        interval: {INTERVAL}s
        outputs: [histogram]
    max_output_series: 1000
    staleness_interval: 1m
exporters:
  prometheusremotewrite/aggregated:
    endpoint: {prom.remote_write_url}
  prometheusremotewrite/raw:
    endpoint: {prom.remote_write_url}
service:
  pipelines:
    metrics/aggregated:
      receivers: [otlp]
      processors: [aggregation]
      exporters: [prometheusremotewrite/aggregated]
    metrics/raw:
      receivers: [otlp]
      exporters: [prometheusremotewrite/raw]
"""


@pytest.fixture
def prometheus():
    prom = Prometheus()
    try:
        yield prom.start()
    finally:
        prom.cleanup()


def test_aggregated_counters_and_histograms_answer_like_the_raw_series(start_weir, prometheus):
    http_port = free_port()
    weir = start_weir(aggregation_config(http_port, prometheus))
    # Rounds in the middle of each interval, from the next boundary on.
    first = (int(time.time()) // INTERVAL + 1) * INTERVAL
    sources = Sources(first * NS - NS)
    restarts = {3: set(range(0, 10)), 5: set(range(40, 50)), 7: set(range(90, 100))}
    for k in range(ROUNDS):
        at = first + k * INTERVAL + INTERVAL / 2
        at_ns = int(at * NS)
        sources.advance(at_ns, restarts.get(k, set()))
        sleep_until(at)
        post(http_port, sources.request(at_ns))
    # Evaluate at m*I + I/4, the window covering the last rounds that have both their raw
    # samples and the aggregate written after them.
    m = first // INTERVAL + ROUNDS
    at = m * INTERVAL + INTERVAL / 4
    sleep_until(at + INTERVAL)
    raw_expr = f"sum by (route) (rate(http_requests_total[{WINDOW}s]))"
    agg_name = "http_requests:2s_by_route_service_name_total"
    agg_expr = f'sum by (route) (rate({{__name__="{agg_name}"}}[{WINDOW}s]))'

    def both_written():
        return len(query(prometheus, raw_expr, at)) == 5 and len(query(prometheus, agg_expr, at)) == 5

    wait_until(both_written, timeout=20, what="raw and aggregated rates in Prometheus")
    raw = by_label(query(prometheus, raw_expr, at), "route")
    agg = by_label(query(prometheus, agg_expr, at), "route")
    assert set(raw) == set(ROUTES)
    for route in ROUTES:
        assert raw[route] > 0
        assert agg[route] == pytest.approx(raw[route], rel=1e-9), (route, agg, raw)
    # The aggregate is five series (one per route of the one service), not 500.
    assert len(prometheus.series(agg_name)) == 5
    assert len(prometheus.series("http_requests_total")) == INSTANCES * len(ROUTES)
    # The restarts happened inside the window: the raw series saw resets.
    assert float(query(prometheus, f"sum(resets(http_requests_total[{WINDOW}s]))", at)[0]["value"][1]) > 0

    # Histograms: merged per service, still classic buckets after remote-write.
    merged = "latency:2s_by_service_name_histogram_bucket"
    # Raw series carry the resource's service.name as `job`; the aggregate as a label.
    raw_q = f"histogram_quantile(0.99, sum by (job, le) (rate(latency_bucket[{WINDOW}s])))"
    agg_q = f'histogram_quantile(0.99, sum by (service_name, le) (rate({{__name__="{merged}"}}[{WINDOW}s])))'
    wait_until(lambda: len(query(prometheus, agg_q, at)) == 2, timeout=20, what="merged histogram quantiles")
    raw_quantiles = by_label(query(prometheus, raw_q, at), "job")
    agg_quantiles = by_label(query(prometheus, agg_q, at), "service_name")
    assert set(raw_quantiles) == {"cart", "search"}
    for service, value in raw_quantiles.items():
        assert value > 0
        assert agg_quantiles[service] == pytest.approx(value, rel=1e-9), (agg_quantiles, raw_quantiles)
    # One merged series per service and bucket: 2 x (8 bounds + Inf).
    assert len(prometheus.series(merged)) == 2 * (len(BOUNDS) + 1)

    # The cost saved, measured in Prometheus over the whole run (printed for the README).
    whole = f"{ROUNDS * INTERVAL + 2 * INTERVAL}s"

    def stored(names: list[str]) -> tuple[int, int]:
        series = samples = 0
        for name in names:
            series += int(float(query(prometheus, f'count({{__name__="{name}"}})', at)[0]["value"][1]))
            samples += int(float(query(
                prometheus, f'sum(count_over_time({{__name__="{name}"}}[{whole}]))', at)[0]["value"][1]))
        return series, samples

    raw_series, raw_samples = stored(["http_requests_total", "latency_bucket", "latency_sum", "latency_count"])
    merged_base = "latency:2s_by_service_name_histogram"
    agg_series, agg_samples = stored(
        [agg_name, merged_base + "_bucket", merged_base + "_sum", merged_base + "_count"])
    print(f"\ncost: raw {raw_series} series {raw_samples} samples; "
          f"aggregated {agg_series} series {agg_samples} samples")
    assert agg_series * 10 < raw_series

    # The processor counted what it consumed and made.
    consumed = weir.metric("weir_items_dropped_total", component="aggregation", reason="aggregated")
    assert consumed == ROUNDS * (INSTANCES * len(ROUTES) + SERVERS)
    assert weir.metric("weir_items_created_total", component="aggregation") > 0


def test_interval_writes_one_point_per_series_per_interval(start_weir, prometheus):
    http_port = free_port()
    config = f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  interval:
    interval: 10s
exporters:
  prometheusremotewrite:
    endpoint: {prometheus.remote_write_url}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [interval]
      exporters: [prometheusremotewrite]
"""
    start_weir(config)
    start = int(time.time()) + 1
    seconds = 21
    sent: dict[int, float] = {}
    for n in range(seconds):
        at = start + n + 0.5
        sleep_until(at)
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        rm.resource.CopyFrom(Resource(attributes=[kv("service.name", "ticker")]))
        metric = rm.scope_metrics.add().metrics.add(name="work.done")
        metric.sum.aggregation_temporality = CUMULATIVE
        metric.sum.is_monotonic = True
        for series in range(3):
            metric.sum.data_points.add(
                attributes=[kv("series", str(series))], start_time_unix_nano=start * NS,
                time_unix_nano=int(at * NS), as_int=n * 10 + series,
            )
        sent[int(at * 1000)] = n * 10
        post(http_port, req)
    end = start + seconds + 0.5
    # The last interval holding points ends at the next multiple of 10 s.
    sleep_until((int(end) // 10 + 1) * 10 + 1)
    expr = f"work_done_total[{seconds + 20}s]"

    def samples():
        result = query(prometheus, expr, time.time())
        return {r["metric"]["series"]: r["values"] for r in result}

    wait_until(lambda: len(samples()) == 3, timeout=20, what="interval output in Prometheus")
    # Which 10 s window each input second belongs to, and the last input of each.
    windows: dict[int, int] = {}
    for ms in sent:
        windows[ms // 10_000] = max(windows.get(ms // 10_000, 0), ms)
    for series, values in samples().items():
        got = [(int(round(float(t) * 1000)), float(v)) for t, v in values]
        # Exactly one point per window, and it is the window's last input.
        assert [ms // 10_000 for ms, _ in got] == sorted(windows), got
        for ms, value in got:
            assert ms == windows[ms // 10_000], got
            assert value == sent[ms] + int(series), got


def test_deltatocumulative_then_cumulativetodelta_gives_back_the_input(start_weir, tmp_path):
    http_port = free_port()
    out = tmp_path / "out.json"
    config = f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  deltatocumulative:
    max_stale: 1m
  cumulativetodelta:
    initial_value: auto
exporters:
  file:
    path: {out}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [deltatocumulative, cumulativetodelta]
      exporters: [file]
"""
    start_weir(config)
    # Series that start after weir did, so `auto` keeps their first point.
    t0 = time.time_ns()
    sent = []
    for n in range(6):
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        rm.resource.CopyFrom(Resource(attributes=[kv("service.name", "deltas")]))
        metric = rm.scope_metrics.add().metrics.add(name="jobs.finished")
        metric.sum.aggregation_temporality = DELTA
        metric.sum.is_monotonic = True
        for series in range(2):
            value = (n * 7 + series * 3) % 5
            start, end = t0 + n * NS, t0 + (n + 1) * NS
            metric.sum.data_points.add(
                attributes=[kv("series", str(series))], start_time_unix_nano=start,
                time_unix_nano=end, as_int=value,
            )
            sent.append((str(series), start, end, value))
        post(http_port, req)

    def received():
        got = []
        for request in read_file_exporter_output(out):
            for rm in request.get("resourceMetrics", []):
                for sm in rm.get("scopeMetrics", []):
                    for m in sm.get("metrics", []):
                        s = m["sum"]
                        assert s.get("aggregationTemporality") in (1, "AGGREGATION_TEMPORALITY_DELTA"), m
                        for p in s["dataPoints"]:
                            series = p["attributes"][0]["value"]["stringValue"]
                            got.append((series, int(p["startTimeUnixNano"]), int(p["timeUnixNano"]), int(p["asInt"])))
        return sorted(got)

    wait_until(lambda: len(received()) == len(sent), timeout=15, what="all deltas back")
    assert received() == sorted(sent)
