"""Issue 4 acceptance for the `statsd` receiver, with real client libraries:

- the `statsd` package (UDP and TCP clients) and the `datadog` package's DogStatsd (UDP
  and unix datagram socket) send a scripted set of metrics with known values, sample
  rates and tags to weir;
- weir aggregates them (1 s intervals) and the `file` exporter writes every flushed
  ExportMetricsServiceRequest as one OTLP/JSON line;
- the test adds up the delta points across intervals and checks exact results: counters
  scaled by their sample rate, gauges after relative changes, set cardinality, timer
  count, sum, min and max;
- DogStatsD events and service checks become log records when a logs pipeline takes
  them, and are counted as dropped when only a metrics pipeline lists the receiver;
- end to end into a real Prometheus (the issue's acceptance path): the same clients over
  UDP, TCP and a unix datagram socket, weir -> `prometheusremotewrite` -> Prometheus 2.42,
  and the test checks the exact values and series names through Prometheus' HTTP API
  (see the section "into a real Prometheus" for how each statsd type is mapped).

The clients sample with `random`; the tests pin it so every sampled call is sent (with
its `@rate`), which makes the expected totals exact.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import (
    Prometheus,
    free_port,
    free_udp_port,
    http_get,
    read_file_exporter_output,
    wait_until,
)

statsd = pytest.importorskip("statsd")
dogstatsd_base = pytest.importorskip("datadog.dogstatsd.base")

CONFIG = """
receivers:
  statsd:
    endpoint: {endpoint}
    transport: {transport}
    aggregation_interval: 1s
exporters:
  file:
    path: {out}
{extra_exporters}
service:
  pipelines:
    metrics:
      receivers: [statsd]
      exporters: [file]
{extra_pipelines}
"""


def config(endpoint: str, transport: str, out: Path, logs_out: Path | None = None) -> str:
    extra_exporters = extra_pipelines = ""
    if logs_out is not None:
        extra_exporters = f"  file/logs:\n    path: {logs_out}\n"
        extra_pipelines = "    logs:\n      receivers: [statsd]\n      exporters: [file/logs]\n"
    return CONFIG.format(
        endpoint=endpoint,
        transport=transport,
        out=out,
        extra_exporters=extra_exporters,
        extra_pipelines=extra_pipelines,
    )


# ----------------------------------------------------------------- reading the output


def _attributes(point: dict) -> tuple:
    out = []
    for kv in point.get("attributes", []):
        value = kv.get("value", {})
        out.append((kv["key"], next(iter(value.values()), "") if value else ""))
    return tuple(sorted(out))


def _number(point: dict) -> float:
    if "asDouble" in point:
        return float(point["asDouble"])
    return float(point.get("asInt", 0))


def aggregate(out: Path) -> dict:
    """Adds up every interval in the file: {(name, attributes): value}. Sums add their
    delta points, gauges keep the latest point, histograms add count and sum and keep
    the extreme min and max."""
    latest: dict = {}
    totals: dict = {}
    for request in read_file_exporter_output(out):
        for rm in request.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    name = metric["name"]
                    if "sum" in metric:
                        for p in metric["sum"].get("dataPoints", []):
                            key = (name, _attributes(p))
                            totals[key] = totals.get(key, 0.0) + _number(p)
                    elif "gauge" in metric:
                        for p in metric["gauge"].get("dataPoints", []):
                            key = (name, _attributes(p))
                            time = int(p.get("timeUnixNano", 0))
                            if key not in latest or time >= latest[key][0]:
                                latest[key] = (time, _number(p))
                    elif "exponentialHistogram" in metric:
                        for p in metric["exponentialHistogram"].get("dataPoints", []):
                            key = (name, _attributes(p))
                            count, total, low, high = totals.get(key, (0, 0.0, float("inf"), float("-inf")))
                            totals[key] = (
                                count + int(p.get("count", 0)),
                                total + float(p.get("sum", 0.0)),
                                min(low, float(p["min"])),
                                max(high, float(p["max"])),
                            )
    result = dict(totals)
    result.update({key: value for key, (_, value) in latest.items()})
    return result


def wait_for(out: Path, expected: dict, weir) -> dict:
    """Waits (bounded) until every expected series has its expected value; returns what
    was read last so the assertion can show the difference."""
    seen: dict = {}

    def check():
        nonlocal seen
        seen = aggregate(out)
        return all(seen.get(key) == value for key, value in expected.items())

    try:
        wait_until(check, timeout=20, what="the expected aggregates in the file exporter output")
    except TimeoutError:
        pass
    got = {key: seen.get(key) for key in expected}
    assert got == expected, f"weir log:\n{weir.log()}"
    return seen


@pytest.fixture
def every_sample_sent(monkeypatch):
    """Both clients drop a sampled call when random() > rate: make them always send."""
    monkeypatch.setattr(random, "random", lambda: 0.0)
    monkeypatch.setattr(dogstatsd_base, "random", lambda: 0.0)


# ----------------------------------------------------------------- the statsd package


def statsd_script(client) -> dict:
    """Sends the scripted metrics; returns the expected aggregates."""
    client.incr("hits")
    client.incr("hits")
    client.incr("hits", 5, rate=0.5)  # counts 10
    client.decr("hits", 1)
    client.gauge("temperature", 20)
    client.gauge("temperature", -4, delta=True)
    client.gauge("temperature", 1.5, delta=True)
    client.gauge("balance", -7)  # the client sends 0|g then -7|g
    # A set's members must reach one interval: one datagram (or one write) for all.
    with client.pipeline() as pipe:
        for member in ["alice", "bob", "alice", "carol"]:
            pipe.set("users", member)
    client.timing("latency", 10)
    client.timing("latency", 30, rate=0.25)  # counts 4
    client.timing("latency", 20)
    return {
        ("hits", ()): 1 + 1 + 10 - 1,
        ("temperature", ()): 17.5,
        ("balance", ()): -7.0,
        ("users", ()): 3.0,
        ("latency", ()): (6, 10.0 + 4 * 30.0 + 20.0, 10.0, 30.0),
    }


def test_statsd_client_over_udp(start_weir, tmp_path, every_sample_sent):
    port = free_udp_port()
    out = tmp_path / "out.jsonl"
    weir = start_weir(config(f"127.0.0.1:{port}", "udp", out))
    client = statsd.StatsClient("127.0.0.1", port)
    expected = statsd_script(client)
    client.close()
    wait_for(out, expected, weir)
    assert weir.metric("weir_statsd_receiver_invalid_lines_total") == 0
    assert weir.metric("weir_statsd_receiver_kernel_drops_total") == 0


def test_statsd_client_over_tcp(start_weir, tmp_path, every_sample_sent):
    port = free_port()
    out = tmp_path / "out.jsonl"
    weir = start_weir(config(f"127.0.0.1:{port}", "tcp", out))
    client = statsd.TCPStatsClient("127.0.0.1", port, timeout=5)
    expected = statsd_script(client)
    client.close()
    wait_for(out, expected, weir)
    assert weir.metric("weir_statsd_receiver_invalid_lines_total") == 0


# ----------------------------------------------------------------- DogStatsD


def dogstatsd_script(dd) -> dict:
    tags = ["env:test", "service:shop"]
    dd.increment("orders", tags=tags)
    dd.increment("orders", 3, tags=tags, sample_rate=0.1)  # counts 30
    dd.decrement("orders", 2, tags=tags)
    dd.gauge("queue.depth", 42, tags=["queue:emails"])
    dd.gauge("queue.depth", 40, tags=["queue:emails"])
    for member in ["u1", "u2", "u3", "u2"]:
        dd.set("visitors", member, tags=["page:home"])
    dd.timing("db.query", 5, tags=["db:main"])
    dd.timing("db.query", 15, tags=["db:main"], sample_rate=0.5)  # counts 2
    dd.histogram("payload", 100)
    dd.histogram("payload", 300)
    dd.distribution("render", 2.5, tags=["view:cart"])
    dd.flush()
    return {
        ("orders", (("env", "test"), ("service", "shop"))): 1 + 30 - 2,
        ("queue.depth", (("queue", "emails"),)): 40.0,
        ("db.query", (("db", "main"),)): (3, 5.0 + 30.0, 5.0, 15.0),
        ("payload", ()): (2, 400.0, 100.0, 300.0),
        ("render", (("view", "cart"),)): (1, 2.5, 2.5, 2.5),
    }


def dogstatsd(**kwargs):
    return dogstatsd_base.DogStatsd(
        disable_telemetry=True,
        origin_detection_enabled=False,
        constant_tags=[],
        **kwargs,
    )


def test_dogstatsd_over_udp_drops_events_without_logs_pipeline(start_weir, tmp_path, every_sample_sent):
    port = free_udp_port()
    out = tmp_path / "out.jsonl"
    weir = start_weir(config(f"127.0.0.1:{port}", "udp", out))
    dd = dogstatsd(host="127.0.0.1", port=port)
    expected = dogstatsd_script(dd)
    dd.event("Deploy", "version 2 is out", alert_type="success", tags=["env:test"])
    dd.service_check("shop.up", dd.OK, tags=["env:test"], message="fine")
    dd.flush()
    # Unbuffered, each set member is its own datagram and may land in another interval
    # (sets count distinct members per interval); exact cardinality is checked in
    # test_dogstatsd_set_cardinality with buffering on.
    seen = wait_for(out, expected, weir)
    assert ("visitors", (("page", "home"),)) in seen
    wait_until(
        lambda: weir.metric("weir_items_dropped_total", component="statsd", reason="no_logs_pipeline") == 2,
        timeout=10,
        what="2 events counted as dropped",
    )
    assert weir.metric("weir_statsd_receiver_invalid_lines_total") == 0
    dd.close_socket()


def test_dogstatsd_over_unix_socket_with_events_as_logs(start_weir, tmp_path, every_sample_sent):
    socket_path = tmp_path / "dsd.socket"
    out = tmp_path / "out.jsonl"
    logs_out = tmp_path / "logs.jsonl"
    weir = start_weir(config(str(socket_path), "unixgram", out, logs_out))
    wait_until(socket_path.exists, timeout=10, what="the unix socket")
    # The client's unix socket is non-blocking by default and drops a datagram when the
    # kernel queue (net.unix.max_dgram_qlen, often 10) is full; a timeout makes it wait.
    dd = dogstatsd(socket_path=str(socket_path), socket_timeout=5)
    expected = dogstatsd_script(dd)
    dd.event("Deploy", "version 2 | is out", alert_type="error", tags=["env:test"])
    dd.service_check("shop.up", dd.CRITICAL, tags=["env:test"], message="down | since 10s")
    dd.flush()
    wait_for(out, expected, weir)

    def records():
        found = []
        for request in read_file_exporter_output(logs_out):
            for rl in request.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    found.extend(sl.get("logRecords", []))
        return found

    found = wait_until(lambda: len(records()) == 2 and records(), timeout=20, what="2 log records")
    bodies = sorted(r["body"]["stringValue"] for r in found)
    assert bodies == ["down | since 10s", "version 2 | is out"]
    assert sorted(r.get("severityText") for r in found) == ["critical", "error"]
    dd.close_socket()


def test_dogstatsd_set_cardinality(start_weir, tmp_path):
    """DogStatsd sends one datagram per call; with buffering on, the whole set goes in
    one datagram, hence one interval, and its cardinality is exact."""
    port = free_udp_port()
    out = tmp_path / "out.jsonl"
    weir = start_weir(config(f"127.0.0.1:{port}", "udp", out))
    dd = dogstatsd(host="127.0.0.1", port=port, disable_buffering=False)
    for member in ["u1", "u2", "u3", "u2", "u1"]:
        dd.set("visitors", member, tags=["page:home"])
    dd.flush()
    wait_for(out, {("visitors", (("page", "home"),)): 3.0}, weir)
    dd.close_socket()


# ----------------------------------------------------------------- into a real Prometheus
#
# The same scripts, but weir remote-writes into a real Prometheus server (the Debian
# package, 2.42) with the `prometheusremotewrite` exporter, and the test asks Prometheus'
# HTTP API for the results.
#
# How each statsd type reaches Prometheus, and why the queries look as they do:
# - counters, `is_monotonic_counter: false` (statsd package tests): delta, non-monotonic
#   sums; the exporter adds the deltas up (delta -> cumulative) and writes a non-monotonic
#   sum as a Prometheus gauge without a suffix: `hits` holds the running total, so its
#   latest value is the total of everything sent (decrements included);
# - counters, `is_monotonic_counter: true` (DogStatsD tests): cumulative monotonic sums,
#   written as counters with the `_total` suffix (`orders_total`); a decrement is then
#   rejected and counted as `negative_counter`;
# - gauges and sets: gauges; dots become underscores (`queue.depth` -> `queue_depth`);
# - timers (`ms`) are mapped to a summary with percentiles 0 and 100 because Prometheus
#   keeps no min or max for histograms: quantile "0" is the interval's min, "1" its max.
#   A summary point describes one interval (the receiver does not accumulate it), so the
#   test adds `_count`/`_sum` over time and takes the extreme of the quantiles over time,
#   which is exact however the observations fall into intervals;
# - histograms (`h`) and distributions (`d`) keep the default, exponential histograms,
#   which become native histograms: Prometheus 2.42 stores those only with
#   `--enable-feature=native-histograms`, hence the subclass below. Their count and sum
#   are checked exactly (`histogram_count`, `histogram_sum`, cumulative after the
#   exporter's delta -> cumulative); min and max are not carried by native histograms
#   (the file-exporter tests above check them).
#
# Sets count distinct members per interval, so the scripts send a set's members in one
# datagram (statsd pipeline; DogStatsD buffering with the background flush off).

PROMETHEUS_WEIR_CONFIG = """
receivers:
  statsd:
    endpoint: {endpoint}
    transport: {transport}
    aggregation_interval: 1s
    is_monotonic_counter: {monotonic}
    timer_histogram_mapping:
      - statsd_type: timing
        observer_type: summary
        summary:
          percentiles: [0, 100]
exporters:
  prometheusremotewrite:
    endpoint: {remote_write_url}
service:
  pipelines:
    metrics:
      receivers: [statsd]
      exporters: [prometheusremotewrite]
"""

SCOPE = "weir/statsdreceiver"
# Long enough to hold every sample a test writes.
WINDOW = "[15m]"


def NativeHistogramPrometheus() -> Prometheus:  # noqa: N802 - reads like the class it returns
    """The harness' Prometheus with native histograms enabled."""
    return Prometheus(features=("native-histograms",))


needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None and not Path("/usr/bin/prometheus").exists(),
    reason="the Debian package `prometheus` is not installed",
)


@pytest.fixture
def prometheus():
    prom = NativeHistogramPrometheus()
    try:
        yield prom.start()
    finally:
        prom.cleanup()


def prometheus_config(endpoint: str, transport: str, prom: Prometheus, monotonic: bool) -> str:
    return PROMETHEUS_WEIR_CONFIG.format(
        endpoint=endpoint,
        transport=transport,
        monotonic="true" if monotonic else "false",
        remote_write_url=prom.remote_write_url,
    )


def scalar(prom: Prometheus, expr: str):
    """The value of an instant query that must answer exactly one series, else None."""
    result = prom.query(expr)
    if len(result) != 1:
        return None
    return float(result[0]["value"][1])


def wait_for_prometheus(prom: Prometheus, expected: dict, weir) -> None:
    """Waits (bounded) until every PromQL expression answers its expected value."""
    got: dict = {}

    def check():
        nonlocal got
        got = {expr: scalar(prom, expr) for expr in expected}
        return got == expected

    try:
        wait_until(check, timeout=30, interval=0.5, what="the expected values in Prometheus")
    except TimeoutError:
        pass
    assert got == expected, f"weir log:\n{weir.log()}"


def assert_series(prom: Prometheus, expected: set) -> None:
    """Every series Prometheus holds is expected, by exact name and labels: the tags plus
    the scope labels the exporter adds."""
    found = set()
    for labels in prom.series('{__name__=~".+"}'):
        labels = dict(labels)
        assert labels.pop("otel_scope_name") == SCOPE, labels
        assert labels.pop("otel_scope_version"), labels
        name = labels.pop("__name__")
        found.add((name, tuple(sorted(labels.items()))))
    assert found == expected


def assert_nothing_lost(weir, invalid_lines: float = 0) -> None:
    assert weir.metric("weir_statsd_receiver_invalid_lines_total") == invalid_lines
    assert weir.metric("weir_statsd_receiver_kernel_drops_total") == 0
    assert weir.metric("otelcol_receiver_refused_metric_points_total") == 0
    assert weir.metric("otelcol_exporter_send_failed_metric_points_total") == 0
    # A sample overtaken by a newer one of its series is left out and counted; that never
    # changes the values checked, anything else would be a loss.
    dropped = weir.metric("weir_items_dropped_total", component="prometheusremotewrite")
    superseded = weir.metric("weir_items_dropped_total", component="prometheusremotewrite",
                             reason="sample_older_than_delivered")
    assert dropped == superseded, weir.metrics_text()


def summary_queries(name: str, labels: str, count: int, total: float, low: float, high: float) -> dict:
    """PromQL for a timer mapped to a summary with percentiles 0 and 100. `labels` is the
    inside of a selector (`db="main"`) or empty. Each summary point covers one interval,
    so counts and sums are added over time and the extremes taken over time."""
    quantile = (lambda q: f'{{quantile="{q}",{labels}}}') if labels else (lambda q: f'{{quantile="{q}"}}')
    selector = f"{{{labels}}}" if labels else ""
    return {
        f"sum_over_time({name}_count{selector}{WINDOW})": float(count),
        f"sum_over_time({name}_sum{selector}{WINDOW})": total,
        f"min_over_time({name}{quantile(0)}{WINDOW})": low,
        f"max_over_time({name}{quantile(1)}{WINDOW})": high,
    }


STATSD_SERIES = {
    ("hits", ()),
    ("temperature", ()),
    ("balance", ()),
    ("users", ()),
    ("latency", (("quantile", "0"),)),
    ("latency", (("quantile", "1"),)),
    ("latency_count", ()),
    ("latency_sum", ()),
}


@needs_prometheus
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_statsd_client_into_prometheus(start_weir, prometheus, every_sample_sent, transport):
    port = free_udp_port() if transport == "udp" else free_port()
    weir = start_weir(prometheus_config(f"127.0.0.1:{port}", transport, prometheus, monotonic=False))
    if transport == "udp":
        client = statsd.StatsClient("127.0.0.1", port)
    else:
        client = statsd.TCPStatsClient("127.0.0.1", port, timeout=5)
    sent = statsd_script(client)
    client.close()

    expected = {
        # 1 + 1 + 5 at @0.5 (10) - 1: the exporter's running total of the delta sums.
        "hits": float(sent[("hits", ())]),
        "temperature": 17.5,  # 20, then -4 and +1.5
        "balance": -7.0,  # the client sends 0|g then -7|g
        "users": 3.0,  # alice, bob, alice, carol
        # 10, 30 at @0.25 (counts 4), 20
        **summary_queries("latency", "", count=6, total=150.0, low=10.0, high=30.0),
    }
    wait_for_prometheus(prometheus, expected, weir)
    assert_series(prometheus, STATSD_SERIES)
    assert_nothing_lost(weir)


def dogstatsd_prometheus_script(dd) -> None:
    tags = ["env:test", "service:shop"]
    dd.increment("orders", tags=tags)
    dd.increment("orders", 3, tags=tags, sample_rate=0.1)  # counts 30
    dd.decrement("orders", 2, tags=tags)  # a monotonic counter refuses it: negative_counter
    dd.gauge("queue.depth", 42, tags=["queue:emails"])
    dd.gauge("queue.depth", 40, tags=["queue:emails"])
    for member in ["u1", "u2", "u3", "u2"]:
        dd.set("visitors", member, tags=["page:home"])
    dd.timing("db.query", 5, tags=["db:main"])
    dd.timing("db.query", 15, tags=["db:main"], sample_rate=0.5)  # counts 2
    dd.histogram("payload", 100)
    dd.histogram("payload", 300)
    dd.histogram("payload", 0.5, sample_rate=0.25)  # counts 4
    dd.distribution("render", 2.5, tags=["view:cart"])
    dd.distribution("render", 7.5, tags=["view:cart"])
    dd.flush()


DOGSTATSD_QUERIES = {
    'orders_total{env="test",service="shop"}': 31.0,  # 1 + 3 at @0.1; the -2 refused
    'queue_depth{queue="emails"}': 40.0,
    'visitors{page="home"}': 3.0,
    **summary_queries("db_query", 'db="main"', count=3, total=35.0, low=5.0, high=15.0),
    "histogram_count(payload)": 6.0,
    "histogram_sum(payload)": 402.0,
    'histogram_count(render{view="cart"})': 2.0,
    'histogram_sum(render{view="cart"})': 10.0,
}

DOGSTATSD_SERIES = {
    ("orders_total", (("env", "test"), ("service", "shop"))),
    ("queue_depth", (("queue", "emails"),)),
    ("visitors", (("page", "home"),)),
    ("db_query", (("db", "main"), ("quantile", "0"))),
    ("db_query", (("db", "main"), ("quantile", "1"))),
    ("db_query_count", (("db", "main"),)),
    ("db_query_sum", (("db", "main"),)),
    ("payload", ()),
    ("render", (("view", "cart"),)),
}


@needs_prometheus
@pytest.mark.parametrize("transport", ["udp", "unixgram"])
def test_dogstatsd_into_prometheus(start_weir, prometheus, tmp_path, every_sample_sent, transport):
    # Buffered with the background flush off: the script leaves in one datagram at
    # dd.flush(), so the set's members share an interval.
    buffering = dict(disable_buffering=False, flush_interval=0)
    if transport == "udp":
        port = free_udp_port()
        weir = start_weir(prometheus_config(f"127.0.0.1:{port}", "udp", prometheus, monotonic=True))
        dd = dogstatsd(host="127.0.0.1", port=port, **buffering)
    else:
        socket_path = tmp_path / "dsd.socket"
        weir = start_weir(prometheus_config(str(socket_path), "unixgram", prometheus, monotonic=True))
        wait_until(socket_path.exists, timeout=10, what="the unix socket")
        dd = dogstatsd(socket_path=str(socket_path), socket_timeout=5, **buffering)
    dogstatsd_prometheus_script(dd)
    wait_for_prometheus(prometheus, DOGSTATSD_QUERIES, weir)
    assert_series(prometheus, DOGSTATSD_SERIES)
    assert weir.metric("weir_statsd_receiver_invalid_lines_total", reason="negative_counter") == 1
    assert_nothing_lost(weir, invalid_lines=1)
    dd.close_socket()
