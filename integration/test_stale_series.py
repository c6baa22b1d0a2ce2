"""Issue 13 acceptance: every series of a failed target goes stale, through Weir as directly.

A small target (an HTTP server in this test, on 127.0.0.1) serves a counter, a gauge, a
classic histogram, a summary and an untyped metric in the text format. A real
Prometheus (the Debian package, 2.42) scrapes it itself as job `direct`; Weir scrapes it
as job `weir` with its `prometheus` receiver and remote-writes into the same Prometheus
with `prometheusremotewrite`. Then the target starts answering 503.

Prometheus' own scrape marks every series of the target stale at the failed scrape. The
test checks that Weir's job does the same: an instant query evaluated two scrape
intervals after the switch returns nothing for any of the target's series (each
histogram bucket, `_sum`, `_count`, each summary quantile, the counter, the gauge and
the untyped metric), in both jobs, while just before the switch all of them were there.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from harness import Prometheus, free_port, http_get, wait_until

pytestmark = pytest.mark.skipif(
    not (shutil.which("prometheus") or Path("/usr/bin/prometheus").exists()),
    reason="the Debian package `prometheus` is not installed",
)

INTERVAL_S = 2
# Every series the target serves: 1 counter + 1 gauge + (3 buckets + _sum + _count)
# + (2 quantiles + _sum + _count) + 1 untyped.
SERIES = 12
SELECTOR = '__name__=~"stale_.*"'


class Target:
    """The scraped target: the exposition while `up`, 503 after `fail()`."""

    def __init__(self):
        self.failing = threading.Event()
        self.hits = 0
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                target.hits += 1
                if target.failing.is_set():
                    body = b"down for maintenance\n"
                    self.send_response(503)
                else:
                    body = target.exposition().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def exposition(self) -> str:
        n = self.hits
        return (
            "# TYPE stale_requests_total counter\n"
            f'stale_requests_total{{code="200"}} {n}\n'
            "# TYPE stale_temperature gauge\n"
            "stale_temperature 21.5\n"
            "# TYPE stale_latency_seconds histogram\n"
            f'stale_latency_seconds_bucket{{le="0.1"}} {n}\n'
            f'stale_latency_seconds_bucket{{le="1"}} {2 * n}\n'
            f'stale_latency_seconds_bucket{{le="+Inf"}} {3 * n}\n'
            f"stale_latency_seconds_sum {0.5 * n}\n"
            f"stale_latency_seconds_count {3 * n}\n"
            "# TYPE stale_rpc_seconds summary\n"
            'stale_rpc_seconds{quantile="0.5"} 0.2\n'
            'stale_rpc_seconds{quantile="0.9"} 0.7\n'
            f"stale_rpc_seconds_sum {0.3 * n}\n"
            f"stale_rpc_seconds_count {n}\n"
            f"stale_untyped {n % 7}\n"
        )

    def fail(self):
        self.failing.set()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def query_at(prom: Prometheus, expr: str, at: float) -> list:
    url = f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    status, body = http_get(url)
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def series_names(result: list) -> set[str]:
    """`name{le or quantile}` of each series in a query result."""
    out = set()
    for sample in result:
        m = sample["metric"]
        extra = m.get("le") or m.get("quantile") or ""
        out.add(f'{m["__name__"]}{{{extra}}}' if extra else m["__name__"])
    return out


@pytest.fixture
def peers():
    target = Target()
    prom = Prometheus(scrape_interval=f"{INTERVAL_S}s")
    try:
        prom.config_path.write_text(
            f"global:\n  scrape_interval: {INTERVAL_S}s\n  evaluation_interval: {INTERVAL_S}s\n"
            "scrape_configs:\n"
            f"  - job_name: direct\n    static_configs:\n      - targets: ['{target.address}']\n"
        )
        prom.start()
        yield target, prom
    finally:
        prom.cleanup()
        target.close()


def test_every_series_of_a_failed_target_goes_stale(peers, start_weir):
    target, prom = peers
    weir = start_weir(f"""
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: weir
          scrape_interval: {INTERVAL_S}s
          scrape_timeout: 1s
          static_configs:
            - targets: ['{target.address}']
exporters:
  prometheusremotewrite:
    endpoint: {prom.remote_write_url}
    remote_write_queue:
      num_consumers: 3
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [prometheusremotewrite]
""")
    for job in ("weir", "direct"):
        wait_until(lambda: len(prom.query(f'{{job="{job}",{SELECTOR}}}')) == SERIES, timeout=60,
                   what=f"all {SERIES} series of job {job}; weir log:\n{weir.log()[-2000:]}")
        # Two scrapes each, so every series was live a while before the switch.
        wait_until(lambda: prom.query(f'count_over_time(stale_temperature{{job="{job}"}}[1m])') and
                   float(prom.query(f'count_over_time(stale_temperature{{job="{job}"}}[1m])')[0]["value"][1]) >= 2,
                   timeout=30, what=f"two scrapes of job {job}")
    live_weir = series_names(prom.query(f'{{job="weir",{SELECTOR}}}'))
    live_direct = series_names(prom.query(f'{{job="direct",{SELECTOR}}}'))
    assert live_weir == live_direct, (live_weir, live_direct)

    before = time.time()
    target.fail()
    switched = time.time()
    for job in ("weir", "direct"):
        wait_until(lambda: prom.query(f'up{{job="{job}"}}') and
                   float(prom.query(f'up{{job="{job}"}}')[0]["value"][1]) == 0.0,
                   timeout=30, what=f"up == 0 for {job}")
    # Let a remote-written marker reach Prometheus, then look back at the moment two
    # scrape intervals after the switch.
    deadline = switched + 2 * INTERVAL_S
    for job in ("weir", "direct"):
        selector = f'{{job="{job}",{SELECTOR}}}'
        try:
            wait_until(lambda: not query_at(prom, selector, deadline), timeout=30,
                       what=f"every series of {job} stale two intervals after the switch")
        except TimeoutError:
            live = series_names(query_at(prom, selector, deadline))
            raise AssertionError(f"{job}: still live two intervals after the switch: {sorted(live)}")
        # Just before the switch every one of them was live: the check above is not vacuous.
        assert len(query_at(prom, selector, before - 0.05)) == SERIES, job
    # Nothing Weir sent was refused or dropped on the way.
    assert weir.metric("otelcol_exporter_send_failed_metric_points_total") == 0
    assert weir.metric("weir_items_dropped_total", component="prometheusremotewrite") == 0
