"""A controllable OTLP/HTTP backend for the storm scenario: it can be fast, slow, or down,
and counts exactly what it was given.

Used by examples/storm/run.py and by integration/test_storm.py. It listens on 127.0.0.1
only and takes OTLP/HTTP protobuf (`POST /v1/traces`, `/v1/logs`, uncompressed or gzip), as
Weir's `otlphttp` exporter sends it.

- `ok()`: answers at once.
- `slow(capacity=items_per_second, delay=seconds)`: each request waits `delay`, and the
  sink takes at most `capacity` items a second over all connections (requests queue for it).
- `down()`: the listening socket is closed and open connections are cut, without an answer:
  the exporter sees connection errors and retries. `ok()` or `slow()` listens again on the
  same port.

What it counts (`counts()`), per signal: items that are not summaries, error items (spans
with status ERROR, log records at severity >= 17), log records by severity number, and
the error limiter's summaries (`weir.summary` = true): how many, and the sum of their
`weir.error_rate_limiter.dropped`, by key. A request is counted only when it is answered
200, so an exporter's retry of an unanswered request is never counted twice.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import socketserver
import threading
import time
from collections import Counter

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SUMMARY_SCOPE = "weir/error_rate_limiter"


def _attrs(kvs) -> dict:
    out = {}
    for kv in kvs:
        v = kv.value
        which = v.WhichOneof("value")
        out[kv.key] = getattr(v, which) if which else None
    return out


class Counts:
    """What the sink has taken, per signal. Read it under `Sink.lock` (counts() copies)."""

    def __init__(self):
        self.items = Counter()  # signal -> items that are not summaries
        self.errors = Counter()  # signal -> error items among them
        self.severities = Counter()  # severity_number -> log records
        self.summaries = Counter()  # signal -> summary items
        self.summary_dropped = Counter()  # signal -> sum of weir.error_rate_limiter.dropped
        self.summary_keys = Counter()  # (signal, key) -> dropped
        self.summaries_flagged = Counter()  # signal -> summary items with weir.summary = true
        self.requests = Counter()  # signal -> requests answered 200
        self.refused = 0  # requests cut while down
        self.bytes = 0

    def copy(self) -> "Counts":
        c = Counts()
        for name, value in vars(self).items():
            setattr(c, name, value.copy() if isinstance(value, Counter) else value)
        return c


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sink: "Sink"

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        sink = self.server.sink
        if sink.mode == "down":
            sink._cut(self)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        path = self.path.split("?")[0]
        if path.endswith("/v1/traces"):
            signal, request = "traces", ExportTraceServiceRequest()
        elif path.endswith("/v1/logs"):
            signal, request = "logs", ExportLogsServiceRequest()
        else:
            self._answer(404)
            return
        try:
            request.ParseFromString(body)
        except Exception:  # noqa: BLE001 - a malformed request is a 400, counted nowhere
            self._answer(400)
            return
        counts = Counts()
        items = _count(signal, request, counts)
        sink._wait_turn(items)
        if sink.mode == "down":  # went down while this request waited: not taken
            sink._cut(self)
            return
        with sink.lock:
            self._answer(200)
            _merge(sink.counts_, counts)
            sink.counts_.requests[signal] += 1
            sink.counts_.bytes += len(body)
            sink.timeline.append((time.monotonic(), signal, counts.items[signal], counts.errors[signal]))

    def _answer(self, status: int):
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.wfile.flush()


def _count(signal: str, request, counts: Counts) -> int:
    n = 0
    groups = request.resource_spans if signal == "traces" else request.resource_logs
    for group in groups:
        scopes = group.scope_spans if signal == "traces" else group.scope_logs
        for scoped in scopes:
            items = scoped.spans if signal == "traces" else scoped.log_records
            if scoped.scope.name == SUMMARY_SCOPE:
                for item in items:
                    a = _attrs(item.attributes)
                    counts.summaries[signal] += 1
                    if a.get("weir.summary") is True:
                        counts.summaries_flagged[signal] += 1
                    dropped = int(a.get("weir.error_rate_limiter.dropped") or 0)
                    counts.summary_dropped[signal] += dropped
                    counts.summary_keys[(signal, a.get("weir.error_rate_limiter.key"))] += dropped
                continue
            k = len(items)
            n += k
            counts.items[signal] += k
            if signal == "traces":
                counts.errors[signal] += sum(1 for s in items if s.status.code == 2)
            else:
                sev = Counter(r.severity_number for r in items)
                counts.severities.update(sev)
                counts.errors[signal] += sum(v for s, v in sev.items() if s >= 17)
    return n


def _merge(into: Counts, new: Counts):
    for name, value in vars(new).items():
        if isinstance(value, Counter):
            getattr(into, name).update(value)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Sink:
    """See the module docs. `port` is chosen when started; it stays the same across down/up."""

    def __init__(self, port: int = 0):
        self.port = port
        self.mode = "ok"
        self.capacity = 0.0  # items/s, 0 = unlimited
        self.delay = 0.0
        self.lock = threading.Lock()
        self._turn = threading.Lock()
        self.counts_ = Counts()
        self.timeline: list[tuple[float, str, int, int]] = []
        self._server: _Server | None = None
        self._conns: set = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Sink":
        self._listen()
        return self

    def _listen(self):
        if self._server is not None:
            return
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.sink = self
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _wait_turn(self, items: int):
        delay, capacity = self.delay, self.capacity  # read once: another thread may change them
        if delay:
            time.sleep(delay)
        if capacity:
            with self._turn:  # one request at a time through the capacity
                time.sleep(items / capacity)

    def _cut(self, handler):
        with self.lock:
            self.counts_.refused += 1
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def ok(self):
        self.capacity, self.delay = 0.0, 0.0
        self.mode = "ok"
        self._listen()

    def slow(self, capacity: float = 0.0, delay: float = 0.0):
        self.capacity, self.delay = float(capacity), float(delay)
        self.mode = "slow"
        self._listen()

    def down(self):
        self.mode = "down"
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def stop(self):
        self.down()

    def counts(self) -> Counts:
        with self.lock:
            return self.counts_.copy()
