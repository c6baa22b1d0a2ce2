"""Issue 3 acceptance for bad scrape targets, black-box: the built weir binary scrapes a
good target and five bad ones (garbage body, HTTP 500, a timeout, a body over
body_size_limit, more samples than sample_limit) served on 127.0.0.1, and remote-writes
into a real Prometheus. For every bad target `up` is 0 and the failure is counted under
its reason; the good target is unaffected (`up` 1, its sample stored); weir keeps
running."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import wait_until

GOOD = b"# TYPE good_metric gauge\ngood_metric 42\n"
MANY = "".join(f'many_metric{{i="{i}"}} {i}\n' for i in range(50)).encode()


class Target(BaseHTTPRequestHandler):
    def log_message(self, *_args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        behaviour = self.server.behaviour
        if behaviour == "error500":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"internal error")
            return
        if behaviour == "slow":
            time.sleep(3)
        body = {
            "good": GOOD,
            "slow": GOOD,
            "garbage": b"this is {{ not an exposition at all\n\x00\xff",
            "huge": b"# TYPE big gauge\n" + b"".join(b"big{n=\"%d\"} 1\n" % i for i in range(20000)),
            "many": MANY,
        }[behaviour]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # weir stopped reading: body_size_limit or the scrape timeout


def serve(behaviour: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    server.behaviour = behaviour
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def targets():
    servers = {name: serve(name) for name in ("good", "garbage", "error500", "slow", "huge", "many")}
    yield {name: f"127.0.0.1:{s.server_address[1]}" for name, s in servers.items()}
    for s in servers.values():
        s.shutdown()
        s.server_close()


def job(name: str, address: str, extra: str = "") -> str:
    return f"""        - job_name: {name}
          scrape_interval: 1s
          scrape_timeout: 1s
          static_configs:
            - targets: ["{address}"]
{extra}"""


def test_bad_targets_are_down_counted_and_isolated(start_weir, prometheus_factory, targets):
    prom = prometheus_factory()
    jobs = "".join([
        job("good", targets["good"]),
        job("garbage", targets["garbage"]),
        job("error500", targets["error500"]),
        job("slow", targets["slow"]),
        job("huge", targets["huge"], "          body_size_limit: 10KB\n"),
        job("many", targets["many"], "          sample_limit: 10\n"),
    ])
    weir = start_weir(f"""
receivers:
  prometheus:
    config:
      scrape_configs:
{jobs}
exporters:
  prometheusremotewrite:
    endpoint: {prom.remote_write_url}
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [prometheusremotewrite]
""")

    def up(job_name):
        result = prom.query(f'up{{job="{job_name}"}}')
        return float(result[0]["value"][1]) if result else None

    wait_until(lambda: up("good") == 1.0, timeout=30, what="good target up in Prometheus")
    for bad in ("garbage", "error500", "slow", "huge", "many"):
        wait_until(lambda: up(bad) == 0.0, timeout=30, what=f"up == 0 for {bad}")
    assert float(prom.query('good_metric{job="good"}')[0]["value"][1]) == 42.0

    expected_reasons = {
        "garbage": "parse",
        "error500": "http_status",
        "slow": "timeout",
        "huge": "body_size_limit",
        "many": "sample_limit",
    }
    for job_name, reason in expected_reasons.items():
        wait_until(
            lambda: weir.metric("weir_prometheus_receiver_scrape_failures_total", job=job_name, reason=reason) >= 1,
            timeout=20, what=f"{job_name} failure counted under {reason}",
        )
    assert weir.metric("weir_prometheus_receiver_scrape_failures_total", job="good") == 0
    # The reason is logged, naming the target.
    log = weir.log()
    for job_name in expected_reasons:
        assert targets[job_name] in log, f"no log line names the {job_name} target"

    # Still running, and the good target keeps being scraped.
    assert weir.proc.poll() is None
    before = weir.metric("otelcol_receiver_accepted_metric_points_total")
    wait_until(lambda: weir.metric("otelcol_receiver_accepted_metric_points_total") > before, timeout=10,
               what="scrapes continue")
