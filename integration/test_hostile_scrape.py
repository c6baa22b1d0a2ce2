"""Hostile-input catalogue, the `prometheus` receiver's scrape targets (issue 12): a target
serving NaN and infinities, binary garbage, a huge body, a body that never ends, a gzip
bomb, a Content-Length that lies, a hundred thousand labels, a ten-megabyte label value,
invalid UTF-8, an empty body, OpenMetrics without `# EOF`. One weir scrapes them all (one
job per target, each on its own path of one local server) next to a good target; each case
checks its job's failure counter and reason (or that it succeeded), and the good target
keeps being scraped. (test_scrape_bad_targets.py has the HTTP 500, slow target and sample
limit cases.)"""

from __future__ import annotations

import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import Weir, read_file_exporter_output, wait_until
from hostile import alive, gzip_bomb

TEXT = "text/plain; version=0.0.4"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
SERVE_AT_MOST = 30.0  # seconds any endless answer goes on, whatever the client does


def many_labels(n: int) -> bytes:
    return b"wide{" + b",".join(b'l%d="v"' % i for i in range(n)) + b"} 1\n"


BODIES = {
    "good": (TEXT, b"# TYPE hostile_good gauge\nhostile_good 42\n"),
    "nan": (TEXT, b"# TYPE nan_values gauge\nnan_values{v=\"nan\"} NaN\n"
                  b"nan_values{v=\"inf\"} +Inf\nnan_values{v=\"ninf\"} -Inf\n"),
    "binary": (TEXT, bytes(range(256)) * 64),
    "huge": (TEXT, b"# TYPE huge gauge\n" + b"huge{i=\"0\"} 1\n" * (256 << 10)),
    "labels": (TEXT, many_labels(20_000)),
    "long_value": (TEXT, b'long{l="' + b"v" * (4 << 20) + b'"} 1\n'),
    "utf8": (TEXT, b'bad_utf8{l="\xff\xfe"} 1\n'),
    "empty": (TEXT, b""),
    "no_eof": (OPENMETRICS, b"# TYPE x gauge\nx 1\n"),
}


class Target(BaseHTTPRequestHandler):
    def log_message(self, *_args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        behaviour = self.path.strip("/")
        try:
            if behaviour in BODIES:
                content_type, body = BODIES[behaviour]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif behaviour.startswith("endless"):
                # No Content-Length: the body ends when the connection does, and it never does.
                self.send_response(200)
                self.send_header("Content-Type", TEXT)
                self.end_headers()
                self.wfile.write(b"# TYPE endless gauge\n")
                chunk = b"# more to come\n" * 4000
                deadline = time.monotonic() + SERVE_AT_MOST
                while time.monotonic() < deadline:
                    self.wfile.write(chunk)
                    time.sleep(0.002)  # endless, without starving the other targets
            elif behaviour == "bomb":
                body = gzip_bomb(256 << 20)
                self.send_response(200)
                self.send_header("Content-Type", TEXT)
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif behaviour == "lying_length":
                self.send_response(200)
                self.send_header("Content-Type", TEXT)
                self.send_header("Content-Length", str(10 << 30))
                self.end_headers()
                self.wfile.write(b"# TYPE lie gauge\nlie 1\n")
                self.wfile.flush()
                self.close_connection = True
            else:
                self.send_response(404)
                self.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            pass  # weir stopped reading: a limit or the timeout


# job name -> (path, extra job config, expected failure reason or None for success)
JOBS = {
    "good": ("good", "", None),
    "nan": ("nan", "", None),
    "binary": ("binary", "", "parse"),
    "huge": ("huge", "body_size_limit: 1MB", "body_size_limit"),
    "endless": ("endless", "", "timeout"),
    "endless_limited": ("endless2", "body_size_limit: 1MB", "body_size_limit"),
    "bomb": ("bomb", "body_size_limit: 16MB", "body_size_limit"),
    "lying_length": ("lying_length", "", "read"),
    "labels": ("labels", "label_limit: 100", "label_limit"),
    "long_value": ("long_value", "label_value_length_limit: 1024", "label_limit"),
    "utf8": ("utf8", "", "parse"),
    "empty": ("empty", "", None),
    "no_eof": ("no_eof", "", "parse"),
}


@pytest.fixture(scope="module")
def scrape(tmp_path_factory):
    gzip_bomb(256 << 20)  # compress once, before the first scrape asks for it
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    out = tmp_path_factory.mktemp("hostile-scrape") / "out.jsonl"
    jobs = "".join(f"""        - job_name: {name}
          scrape_interval: 2s
          scrape_timeout: 2s
          metrics_path: /{path}
          {extra}
          static_configs:
            - targets: ["{address}"]
""" for name, (path, extra, _) in JOBS.items())
    weir = Weir(f"""
receivers:
  prometheus:
    config:
      scrape_configs:
{jobs}
exporters:
  file:
    path: {out}
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [file]
""", name="hostile-scrape").start()
    yield weir, out
    weir.cleanup()
    server.shutdown()
    server.server_close()


def failures(weir, job: str, reason: str | None = None) -> float:
    labels = {"job": job}
    if reason:
        labels["reason"] = reason
    return weir.metric("weir_prometheus_receiver_scrape_failures_total", **labels)


def exported(out, metric_name: str) -> list:
    """The data points of `metric_name` the file exporter wrote so far."""
    points = []
    for doc in read_file_exporter_output(out):
        for rm in doc.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    if metric.get("name") == metric_name:
                        for kind in ("gauge", "sum"):
                            points += metric.get(kind, {}).get("dataPoints", [])
    return points


def up_values(out, job: str) -> list:
    values = []
    for doc in read_file_exporter_output(out):
        for rm in doc.get("resourceMetrics", []):
            attrs = {a["key"]: a["value"].get("stringValue") for a in
                     rm.get("resource", {}).get("attributes", [])}
            if attrs.get("service.name") != job:
                continue
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    if metric.get("name") == "up":
                        values += [p.get("asDouble") for p in metric["gauge"]["dataPoints"]]
    return values


def still_serving(weir, out) -> None:
    """The good target is still scraped: a new point of hostile_good arrives. (Its scrapes
    are not required to never fail: on a loaded machine one may time out.)"""
    before = len(exported(out, "hostile_good"))
    wait_until(lambda: len(exported(out, "hostile_good")) > before, timeout=20,
               what="the good target scraped again")
    assert alive(weir), weir.log()[-2000:]


@pytest.mark.parametrize("job", [j for j, (_, _, reason) in JOBS.items() if reason])
def test_hostile_target_fails_its_scrape_under_its_reason(scrape, job):
    weir, out = scrape
    reason = JOBS[job][2]
    wait_until(lambda: failures(weir, job, reason) >= 1, timeout=30,
               what=f"{job} failed under {reason}")
    wait_until(lambda: 0.0 in up_values(out, job), timeout=15, what=f"up == 0 for {job}")
    assert 1.0 not in up_values(out, job)
    still_serving(weir, out)


def test_nan_and_infinities_are_scraped_as_values(scrape):
    weir, out = scrape

    def values():
        points = exported(out, "nan_values")
        by_label = {}
        for p in points:
            label = {a["key"]: a["value"]["stringValue"] for a in p["attributes"]}["v"]
            by_label[label] = str(p.get("asDouble"))
        return by_label if len(by_label) == 3 else None
    got = wait_until(values, timeout=20, what="the NaN, +Inf and -Inf samples exported")
    assert got == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}, got
    assert 1.0 in up_values(out, "nan")
    assert failures(weir, "nan", "parse") == 0
    still_serving(weir, out)


def test_empty_body_is_a_successful_scrape_of_nothing(scrape):
    weir, out = scrape
    wait_until(lambda: 1.0 in up_values(out, "empty"), timeout=20, what="up == 1 for empty")
    assert failures(weir, "empty", "parse") == 0
    still_serving(weir, out)


def test_gzip_bomb_inflates_no_further_than_the_limit(scrape):
    weir, out = scrape
    wait_until(lambda: failures(weir, "bomb", "body_size_limit") >= 1, timeout=30,
               what="the bomb refused")
    # The bomb is 256 MiB inflated; weir stops at 16 MiB (plus a 4 KiB piece's worth).
    rss_kib = int(next(line.split()[1] for line in
                       open(f"/proc/{weir.proc.pid}/status").read().splitlines()
                       if line.startswith("VmRSS:")))
    assert rss_kib < 200 * 1024, f"weir holds {rss_kib} KiB after the bomb"
    still_serving(weir, out)


def test_the_bomb_is_a_bomb():
    # The bomb cases are only as good as the bomb: it must be small and inflate far.
    data = gzip_bomb(256 << 20)
    inflated = zlib.decompressobj(31).decompress(data, 64 << 20)
    assert len(inflated) == 64 << 20 and len(data) < 1 << 20
