"""The remote-write 1.0 sender compliance cases (issue 13), one test per case.

The cases are those of the Prometheus compliance suite for remote-write 1.0 senders
(github:prometheus/compliance, summarised in tests/conformance/remote_write/
compliance_cases.md, part A), run the way that suite runs a collector: Weir's
`prometheus` receiver scrapes a local target (an HTTP server in this test) as job
`test`, and `prometheusremotewrite` sends to a local receiver that decodes every request
with the published remote-write proto (rw_proto.RecordingReceiver). Each test is named
after its case (`test_<case in snake case>`); `test_every_v1_case_has_a_test` checks that
no case of the vendored list is missing.

Part B's cases that apply to a 1.0 sender and concern the exporter alone (protocol,
rw1_*, retry, backoff, error handling, response processing) run against the exporter
and a raw HTTP endpoint in components/prometheusremotewrite_exporter/tests/compliance_v1.rs.
"""

from __future__ import annotations

import http.server
import math
import random
import re
import struct
import threading
import time

import pytest

from harness import CONFORMANCE, free_port, wait_until
from rw_proto import STALE_NAN_BITS, RecordingReceiver, labels_of, series_key

CASES = CONFORMANCE / "remote_write" / "compliance_cases.md"
INTERVAL = "1s"


class Target:
    """The scraped target: `body(n)` gives the n-th scrape's exposition (from 0)."""

    def __init__(self, body):
        self.body = body
        self.hits = 0
        self.lock = threading.Lock()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                with target.lock:
                    n = target.hits
                    target.hits += 1
                data = target.body(n).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Case:
    """A target, a receiver, and Weir between them, as the compliance harness runs."""

    def __init__(self, start_weir, body, answer=None, delay=None, exporter_extra=""):
        self.started_ms = int(time.time() * 1000)
        self.target = Target(body)
        self.receiver = RecordingReceiver(answer=answer, delay=delay)
        self.weir = start_weir(f"""
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: test
          scrape_interval: {INTERVAL}
          scrape_timeout: 900ms
          static_configs:
            - targets: ['{self.target.address}']
exporters:
  prometheusremotewrite:
    endpoint: {self.receiver.url}
    target_info:
      enabled: false
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 200ms
{exporter_extra}
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [prometheusremotewrite]
""")

    def samples(self, name: str | None = None) -> list[tuple[dict, int, float]]:
        """(labels, timestamp, value) of every accepted sample, in arrival order."""
        out = []
        for record in self.receiver.accepted():
            for series in record["request"].timeseries:
                labels = labels_of(series)
                if name is not None and labels.get("__name__") != name:
                    continue
                out.extend((labels, s.timestamp, s.value) for s in series.samples)
        return out

    def wait_for(self, check, what: str, timeout: float = 30):
        return wait_until(check, timeout=timeout, interval=0.2,
                          what=f"{what}; weir log:\n{self.weir.log()[-2000:]}")

    def close(self):
        self.receiver.close()
        self.target.close()


@pytest.fixture
def case(start_weir):
    made = []

    def make(body, **kwargs) -> Case:
        c = Case(start_weir, body, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def static(text: str):
    return lambda n: text


def values(c: Case, name: str, **labels) -> list[float]:
    return [v for l, _, v in c.samples(name) if all(l.get(k) == v2 for k, v2 in labels.items())]


# --- 1-19: part A, the v1 sender suite ------------------------------------------------------

def test_up(case):
    c = case(static("some_metric 1\n"))
    c.wait_for(lambda: 1.0 in values(c, "up", job="test"), "up{job=test} == 1")


def test_invalid(case):
    c = case(static("this is { not metrics\n"))
    c.wait_for(lambda: 0.0 in values(c, "up", job="test"), "up{job=test} == 0")
    assert not values(c, "up", job="test").count(1.0)


def test_counter(case):
    c = case(lambda n: f"# TYPE counter_total counter\ncounter_total {n}\n")
    c.wait_for(lambda: len(values(c, "counter_total")) >= 3, "three counter samples")
    got = values(c, "counter_total")
    assert got == [float(v) for v in range(int(got[0]), int(got[0]) + len(got))], got


def test_gauge(case):
    c = case(lambda n: f"# TYPE gauge gauge\ngauge {time.time() * 1000:.0f}\n")
    c.wait_for(lambda: len(c.samples("gauge")) >= 2, "two gauge samples")
    for _, ts, value in c.samples("gauge"):
        assert abs(value - ts) <= 0.01 * ts, (value, ts)


HISTOGRAM = """# TYPE histogram histogram
histogram_bucket{le="1"} 1
histogram_bucket{le="2"} 2
histogram_bucket{le="+Inf"} 2
histogram_sum 3
histogram_count 2
"""


def test_histogram(case):
    c = case(static(HISTOGRAM))
    c.wait_for(lambda: len(c.samples("histogram_count")) >= 2, "two histogram scrapes")
    counts = {}
    for le, want in (("1", 1.0), ("2", 2.0), ("+Inf", 2.0)):
        got = values(c, "histogram_bucket", le=le)
        assert got and set(got) == {want}, (le, got)
        counts[f"bucket{le}"] = len(got)
    for name, want in (("histogram_sum", 3.0), ("histogram_count", 2.0)):
        got = values(c, name)
        assert got and set(got) == {want}, (name, got)
        counts[name] = len(got)
    assert len(set(counts.values())) == 1, f"each series has as many samples: {counts}"


SUMMARY = """# TYPE summary summary
summary{quantile="0.5"} 2
summary{quantile="0.9"} 3
summary{quantile="0.99"} 3
summary_sum 6
summary_count 3
"""


def test_summary(case):
    c = case(static(SUMMARY))
    c.wait_for(lambda: len(c.samples("summary_count")) >= 2, "two summary scrapes")
    counts = {}
    for q, want in (("0.5", 2.0), ("0.9", 3.0), ("0.99", 3.0)):
        got = values(c, "summary", quantile=q)
        assert got and set(got) == {want}, (q, got)
        counts[q] = len(got)
    for name, want in (("summary_sum", 6.0), ("summary_count", 3.0)):
        got = values(c, name)
        assert got and set(got) == {want}, (name, got)
        counts[name] = len(got)
    assert len(set(counts.values())) == 1, f"each series has as many samples: {counts}"


def test_job_label(case):
    c = case(static("some_metric 1\n"))
    c.wait_for(lambda: c.samples("some_metric"), "some_metric")
    assert all(labels.get("job") == "test" for labels, _, _ in c.samples())


def test_instance_label(case):
    c = case(static("some_metric 1\n"))
    c.wait_for(lambda: c.samples("some_metric"), "some_metric")
    assert all(labels.get("instance") == c.target.address for labels, _, _ in c.samples())


def test_sorted_labels(case):
    c = case(static('test{b="2",a="1"} 1\n'))
    c.wait_for(lambda: c.samples("test"), "test")
    for record in c.receiver.accepted():
        for series in record["request"].timeseries:
            names = [label.name for label in series.labels]
            assert names == sorted(names), names


def test_repeated_labels(case):
    c = case(static('test{a="1",a="1"} 1\n'))
    c.wait_for(lambda: 0.0 in values(c, "up", job="test"), "up == 0 (the scrape fails)")
    assert not c.samples("test"), "the series with a repeated label was sent"
    for record in c.receiver.accepted():
        for series in record["request"].timeseries:
            names = [label.name for label in series.labels]
            assert len(names) == len(set(names)), names


def test_empty_labels(case):
    c = case(static('test{a=""} 1\n'))
    c.wait_for(lambda: c.samples("test"), "test")
    for record in c.receiver.accepted():
        for series in record["request"].timeseries:
            assert all(label.value != "" for label in series.labels), series_key(series)
    assert all("a" not in labels for labels, _, _ in c.samples("test"))


def test_name_label(case):
    c = case(static('{label="value"} 1\n'))
    c.wait_for(lambda: values(c, "up", job="test"), "up")
    time.sleep(1.5)
    for record in c.receiver.accepted():
        for series in record["request"].timeseries:
            labels = labels_of(series)
            assert labels.get("__name__"), labels
            assert labels.get("label") != "value", labels


def test_honor_labels(case):
    c = case(static('test{job="foo",instance="bar"} 1\n'))
    c.wait_for(lambda: c.samples("test"), "test")
    for labels, _, _ in c.samples("test"):
        assert labels["exported_job"] == "foo" and labels["exported_instance"] == "bar", labels
        assert labels["job"] == "test" and labels["instance"] == c.target.address, labels


def test_timestamp(case):
    c = case(lambda n: f"test {n}\n")
    c.wait_for(lambda: len(c.samples("test")) >= 3, "three samples")
    now_ms = int(time.time() * 1000)
    newest = {}
    for labels, ts, _ in c.samples():
        assert c.started_ms <= ts <= now_ms, (ts, c.started_ms, now_ms)
        key = tuple(sorted(labels.items()))
        assert ts >= newest.get(key, 0), "a timestamp went backwards"
        newest[key] = ts


def test_ordering(case):
    rng = random.Random(13)
    c = case(lambda n: "".join(f'test{{i="{i}"}} {n}\n' for i in range(1000)),
             delay=lambda record: time.sleep(rng.uniform(0, 2.0)),
             exporter_extra="    remote_write_queue:\n      num_consumers: 4\n")
    c.wait_for(lambda: len(c.samples("test")) >= 5000, "five scrapes of 1000 gauges", timeout=90)
    newest = {}
    for labels, ts, _ in c.samples("test"):
        key = labels["i"]
        assert ts > newest.get(key, -1), f"out of order for i={key}"
        newest[key] = ts
    assert len(newest) == 1000


def refused_samples(c: Case) -> set:
    first = c.receiver.all()[0]
    return {(series_key(s), sample.timestamp) for s in first["request"].timeseries for sample in s.samples}


def accepted_samples(c: Case) -> set:
    return {(series_key(s), sample.timestamp)
            for r in c.receiver.accepted() for s in r["request"].timeseries for sample in s.samples}


def test_retries500(case):
    c = case(lambda n: f"test {n}\n",
             answer=lambda n, record: (500, {}, "boom") if n == 0 else (204, {}, ""))
    c.wait_for(lambda: len(c.receiver.all()) >= 3, "three writes")
    refused = refused_samples(c)
    assert refused
    c.wait_for(lambda: refused <= accepted_samples(c), "the samples refused with 500 sent again")


def test_retries400(case):
    c = case(lambda n: f"test {n}\n",
             answer=lambda n, record: (400, {}, "bad") if n == 0 else (204, {}, ""))
    c.wait_for(lambda: len(c.samples("test")) >= 3, "three accepted samples after the 400")
    refused = refused_samples(c)
    assert refused
    assert not refused & accepted_samples(c), "a sample refused with 400 was sent again"


def test_staleness(case):
    c = case(lambda n: "test 1\nother 2\n" if n == 0 else "other 2\n")
    c.wait_for(lambda: any(math.isnan(v) for v in values(c, "test")), "a stale marker for `test`")
    markers = [v for v in values(c, "test") if math.isnan(v)]
    assert struct.unpack("<Q", struct.pack("<d", markers[0]))[0] == STALE_NAN_BITS


def test_headers(case):
    c = case(static("some_metric 1\n"))
    c.wait_for(lambda: c.receiver.accepted(), "a write")
    for record in c.receiver.all():
        h = record["headers"]
        assert record["method"] == "POST"
        assert h.get("content-encoding") == "snappy"
        assert h.get("content-type") == "application/x-protobuf"
        assert h.get("x-prometheus-remote-write-version") == "0.1.0"
        assert h.get("user-agent", "").startswith("weir/")


def test_every_v1_case_has_a_test():
    text = CASES.read_text()
    part_a = text.split("## A.", 1)[1].split("## B.", 1)[0]
    names = re.findall(r"^\|\s*\d+\s*\|\s*`(\w+)`\s*\|", part_a, re.M)
    assert len(names) == 19, names
    snake = [re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in names]
    missing = [name for name in snake if f"test_{name}" not in globals()]
    assert not missing, missing
