"""Issue 8 acceptance: connectors, with the real binary and real clients.

- `forward` under load, then SIGTERM: one `otlp` receiver -> `traces/a` (with `batch`) ->
  `forward` -> `traces/b` (`otlp` exporter to a second weir, the sink, which writes a file)
  and `traces/c` (`file` exporter). OTLP/HTTP and OTLP/gRPC clients keep sending while the
  first weir is told to stop. Every span a client saw acknowledged (HTTP 200 / gRPC OK)
  arrives exactly once at both destinations, and nothing else does: a request that was
  refused, or got no answer, was not admitted. Before the signal, with the load paused,
  the self-metrics count exactly the acknowledged spans at every step (receiver, batch in
  and out, both exporters, the sink, both files). After it, the sink's counts and both
  files equal the acknowledged count, and the log shows shutdown in topological order
  (receivers, traces/a, the connector, then traces/b and traces/c) and nothing undelivered.
- `weir validate` refuses a cycle through two connectors and names it; also a connector
  used on one side only and a signal pair it does not support.
- `weir validate` refuses `sending_queue.storage`, `queue_size: 0` and `num_consumers: 0`.
- `weir components` lists the `forward` connector with its signal pairs.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import grpc
import pytest

from harness import (
    free_port,
    parse_prometheus_text,
    read_file_exporter_output,
    wait_until,
    weir_binary,
)

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

SPANS_PER_REQUEST = 20
HTTP_WORKERS = 3
GRPC_WORKERS = 2
# Each worker sends at most this many requests per second: a steady load, not a flood.
REQUESTS_PER_SECOND = 40
# Phase 1 (settled, exact self-metrics): this many requests, then wait for every count.
WARMUP_REQUESTS = 50
# Phase 2: SIGTERM once the clients have this many spans acknowledged in phase 2.
SIGTERM_AFTER_SPANS = 8000
# Hard bounds on the whole load: no loop in this file runs unbounded.
MAX_REQUESTS = 2000
LOAD_DEADLINE_S = 60


# --- The load: requests with globally unique span ids, each outcome recorded ------------

def span_ids_of(request_no: int) -> range:
    """Span ids (as ints) of request number `request_no`: unique across the test."""
    first = request_no * SPANS_PER_REQUEST + 1
    return range(first, first + SPANS_PER_REQUEST)


def build_request(request_no: int) -> ExportTraceServiceRequest:
    now = time.time_ns()
    spans = [
        Span(
            trace_id=sid.to_bytes(16, "big"),
            span_id=sid.to_bytes(8, "big"),
            name=f"r{request_no}",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1000,
        )
        for sid in span_ids_of(request_no)
    ]
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="load"))])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


# Outcome of one request, from the client's side.
ACKED = "acked"            # HTTP 200 / gRPC OK, no rejected spans: weir admitted it
REFUSED = "refused"        # an answer that is not success (HTTP status, partial rejection)
NOT_SENT = "not_sent"      # the connection was refused: weir never saw it
NO_ANSWER = "no_answer"    # sent, then the connection broke or timed out without an answer
GRPC_FAILED = "grpc_failed"  # a gRPC status other than OK (UNAVAILABLE during shutdown...)


@dataclass
class Load:
    """Workers sending OTLP/HTTP protobuf and OTLP/gRPC requests until told to stop."""

    http_port: int
    grpc_port: int
    outcomes: dict = field(default_factory=dict)   # request_no -> (outcome, transport, detail, t)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    paused: threading.Event = field(default_factory=threading.Event)
    threads: list = field(default_factory=list)
    taken: int = 0  # request numbers handed out so far

    def _record(self, request_no: int, outcome: str, transport: str, detail: str = ""):
        with self.lock:
            self.outcomes[request_no] = (outcome, transport, detail, time.monotonic())

    def _next(self):
        """The next request number, or None when the load must end. Checked under the lock,
        so that once `wait_for_quiet` has seen every number answered no new one starts."""
        deadline = time.monotonic() + LOAD_DEADLINE_S
        while not self.stop.is_set() and time.monotonic() < deadline:
            with self.lock:
                if not self.paused.is_set():
                    if self.taken >= MAX_REQUESTS:
                        return None
                    self.taken += 1
                    return self.taken - 1
            time.sleep(0.01)
        return None

    def start(self):
        for _ in range(HTTP_WORKERS):
            self.threads.append(threading.Thread(target=self._http_worker, daemon=True))
        for _ in range(GRPC_WORKERS):
            self.threads.append(threading.Thread(target=self._grpc_worker, daemon=True))
        for t in self.threads:
            t.start()

    def finish(self, timeout: float = 20.0):
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), "load workers did not stop"

    def _pace(self, started: float):
        rest = 1.0 / REQUESTS_PER_SECOND - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)

    def _http_worker(self):
        conn = None
        while (n := self._next()) is not None:
            started = time.monotonic()
            body = build_request(n).SerializeToString()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
                    conn.connect()
            except ConnectionRefusedError as err:
                conn = None
                self._record(n, NOT_SENT, "http", repr(err))
                self._pace(started)
                continue
            except OSError as err:
                conn = None
                self._record(n, NO_ANSWER, "http", repr(err))
                self._pace(started)
                continue
            try:
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                resp = conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                conn = None
                self._record(n, NO_ANSWER, "http", repr(err))
                self._pace(started)
                continue
            if resp.status == 200:
                parsed = ExportTraceServiceResponse.FromString(payload)
                if parsed.partial_success.rejected_spans:
                    self._record(n, REFUSED, "http", f"partial: {parsed.partial_success}")
                else:
                    self._record(n, ACKED, "http")
            else:
                self._record(n, REFUSED, "http", f"HTTP {resp.status}: {payload[:200]!r}")
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
            self._pace(started)
        if conn is not None:
            conn.close()

    def _grpc_worker(self):
        channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        stub = TraceServiceStub(channel)
        try:
            while (n := self._next()) is not None:
                started = time.monotonic()
                try:
                    resp = stub.Export(build_request(n), timeout=10)
                except grpc.RpcError as err:
                    self._record(n, GRPC_FAILED, "grpc", f"{err.code()}: {err.details()}")
                    self._pace(started)
                    continue
                if resp.partial_success.rejected_spans:
                    self._record(n, REFUSED, "grpc", f"partial: {resp.partial_success}")
                else:
                    self._record(n, ACKED, "grpc")
                self._pace(started)
        finally:
            channel.close()

    # Summaries -------------------------------------------------------------------------

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.outcomes)

    def spans(self, *outcomes: str, since: float | None = None) -> set[int]:
        out = set()
        for n, (outcome, _, _, t) in self.snapshot().items():
            if outcome in outcomes and (since is None or t >= since):
                out.update(span_ids_of(n))
        return out

    def counts(self) -> dict:
        summary: dict = {}
        for outcome, transport, _, _ in self.snapshot().values():
            summary[(outcome, transport)] = summary.get((outcome, transport), 0) + 1
        return summary

    def wait_for_quiet(self, timeout: float = 20.0):
        """Pauses the workers and waits until every request taken has an outcome."""
        self.paused.set()

        def quiet():
            # A number taken but not yet answered is a request in flight.
            with self.lock:
                return len(self.outcomes) == self.taken
        wait_until(quiet, timeout=timeout, interval=0.02, what="load quiet")


# --- Reading what arrived ----------------------------------------------------------------

def file_span_ids(path) -> list[int]:
    """Every span id in a file exporter's output, duplicates kept."""
    return [
        int(span["spanId"], 16)
        for doc in read_file_exporter_output(path)
        for rs in doc.get("resourceSpans", [])
        for ss in rs.get("scopeSpans", [])
        for span in ss.get("spans", [])
    ]


class MetricsWatcher:
    """Scrapes a weir's /metrics every few milliseconds until it stops answering, keeping
    the last exposition it got: the closest to final that the process shows."""

    def __init__(self, weir):
        self.weir = weir
        self.last: str | None = None
        self.scrapes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + LOAD_DEADLINE_S + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                self.last = self.weir.metrics_text()
                self.scrapes += 1
            except Exception:  # noqa: BLE001 - the process is going away
                if self.weir.proc.poll() is not None:
                    return
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.thread.join(10)


def metric_sum(text: str, name: str, **labels) -> float:
    """Sum of every series `name` in an exposition whose labels include `labels`."""
    return sum(
        value
        for (series, series_labels), value in parse_prometheus_text(text).items()
        if series == name and set(labels.items()) <= set(series_labels)
    )


# --- Test 1: forward under load, SIGTERM -----------------------------------------------

def sink_config(grpc_port: int, out) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  file:
    path: {out}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
"""


def forward_config(grpc_port: int, http_port: int, sink_port: int, out_c) -> str:
    # A long batch timeout and a large batch size keep spans in the batch processor when
    # SIGTERM comes: shutdown must flush them through the connector to both pipelines.
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  batch:
    timeout: 2s
    send_batch_size: 1000
connectors:
  forward:
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink_port}
    tls:
      insecure: true
  file:
    path: {out_c}
service:
  pipelines:
    traces/a:
      receivers: [otlp]
      processors: [batch]
      exporters: [forward]
    traces/b:
      receivers: [forward]
      exporters: [otlp]
    traces/c:
      receivers: [forward]
      exporters: [file]
  telemetry:
    logs:
      level: debug
      encoding: json
"""


def shutdown_events(log: str) -> list[str]:
    """The shutdown steps in the order the JSON log shows them."""
    events = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        fields = entry.get("fields", {})
        message = fields.get("message", "")
        if message.startswith("shutdown requested"):
            events.append("shutdown requested")
        elif "server stopped" in message:
            events.append(f"receiver stopped {fields.get('endpoint')}")
        elif message == "pipeline drained":
            events.append(f"pipeline {fields.get('pipeline')}")
        elif message == "connector drained":
            events.append(f"connector {fields.get('connector')}")
        elif message.startswith("shutdown complete"):
            events.append("shutdown complete")
    return events


def assert_shutdown_order(log: str):
    """Shutdown runs in topological order: receivers, then traces/a, then the connector,
    then traces/b and traces/c, so that no batch meets a closed channel."""
    events = shutdown_events(log)
    head = events[:1]
    receivers = [e for e in events if e.startswith("receiver stopped")]
    rest = [e for e in events if not e.startswith("receiver stopped")]
    assert head == ["shutdown requested"], events
    assert len(receivers) == 2, events
    last_receiver = max(events.index(r) for r in receivers)
    assert events.index("pipeline traces/a") > last_receiver, events
    assert rest[1:3] == ["pipeline traces/a", "connector forward"], events
    assert sorted(rest[3:5]) == ["pipeline traces/b", "pipeline traces/c"], events
    assert rest[5:] == ["shutdown complete"], events


def describe(ids: set[int], load: Load) -> str:
    """Which requests (and their outcomes) a set of span ids came from, for failures."""
    by_request: dict = {}
    outcomes = load.snapshot()
    for sid in sorted(ids)[:2000]:
        n = (sid - 1) // SPANS_PER_REQUEST
        by_request.setdefault(n, 0)
        by_request[n] += 1
    lines = [f"request {n}: {count} spans, outcome {outcomes.get(n)}" for n, count in list(by_request.items())[:20]]
    return f"{len(ids)} spans from {len(by_request)} requests:\n  " + "\n  ".join(lines)


def test_forward_under_load_sigterm_delivers_every_acknowledged_span_to_both(start_weir, tmp_path):
    sink_port = free_port()
    out_b = tmp_path / "b.jsonl"
    out_c = tmp_path / "c.jsonl"
    sink = start_weir(sink_config(sink_port, out_b), name="sink")
    grpc_port, http_port = free_port(), free_port()
    weir = start_weir(forward_config(grpc_port, http_port, sink_port, out_c), name="forward")
    # The harness waits for the self-metrics endpoint; the receivers log when they serve.
    wait_until(lambda: "HTTP server started" in weir.log() and "gRPC server started" in weir.log(),
               timeout=20, what="both OTLP listeners serving")

    load = Load(http_port=http_port, grpc_port=grpc_port)
    load.start()
    try:
        # Phase 1: a settled pipeline counts exactly at every step.
        wait_until(lambda: len(load.spans(ACKED)) >= WARMUP_REQUESTS * SPANS_PER_REQUEST,
                   timeout=30, what="warm-up load acknowledged")
        load.wait_for_quiet()
        counts = load.counts()
        assert set(counts) <= {(ACKED, "http"), (ACKED, "grpc")}, counts
        warm = len(load.spans(ACKED))

        def settled():
            text = weir.metrics_text()
            steps = {
                "receiver accepted": metric_sum(text, "otelcol_receiver_accepted_spans_total"),
                "batch incoming": metric_sum(text, "otelcol_processor_incoming_items_total",
                                             processor="batch", pipeline="traces/a"),
                "batch outgoing": metric_sum(text, "otelcol_processor_outgoing_items_total",
                                             processor="batch", pipeline="traces/a"),
                "otlp sent": metric_sum(text, "otelcol_exporter_sent_spans_total", exporter="otlp"),
                "file sent": metric_sum(text, "otelcol_exporter_sent_spans_total", exporter="file"),
                "sink accepted": sink.metric("otelcol_receiver_accepted_spans_total"),
                "B file": len(file_span_ids(out_b)),
                "C file": len(file_span_ids(out_c)),
            }
            settled.last = steps
            return all(v == warm for v in steps.values()) and steps
        settled.last = None
        try:
            wait_until(settled, timeout=20, what="every step counting the warm-up spans")
        except TimeoutError as err:
            raise AssertionError(f"expected {warm} at every step, got {settled.last}") from err
        text = weir.metrics_text()
        assert metric_sum(text, "weir_in_flight_items") == 0
        assert metric_sum(text, "otelcol_receiver_refused_spans_total") == 0
        assert metric_sum(text, "otelcol_exporter_send_failed_spans_total") == 0
        assert metric_sum(text, "otelcol_exporter_enqueue_failed_spans_total") == 0
        assert metric_sum(text, "weir_items_dropped_total") == 0

        # Phase 2: steady load, SIGTERM while it is still arriving.
        watcher = MetricsWatcher(weir)
        phase2 = time.monotonic()
        load.paused.clear()
        wait_until(lambda: len(load.spans(ACKED, since=phase2)) >= SIGTERM_AFTER_SPANS,
                   timeout=LOAD_DEADLINE_S, interval=0.02, what="phase 2 load acknowledged")
        sigterm_at = time.monotonic()
        weir.proc.send_signal(signal.SIGTERM)
        code = weir.proc.wait(timeout=40)
        exited_at = time.monotonic()
        # Let the clients notice the weir is gone, then stop them.
        wait_until(lambda: any(o[3] > exited_at for o in load.snapshot().values()),
                   timeout=10, interval=0.02, what="a request after the exit")
    finally:
        load.finish()
    watcher.finish()

    log = weir.log()
    assert code == 0, log[-3000:]
    assert "shutdown complete; every admitted item was handled" in log, log[-3000:]
    assert_shutdown_order(log)

    outcomes = load.snapshot()
    acked = load.spans(ACKED)
    refused = load.spans(REFUSED)
    not_sent = load.spans(NOT_SENT)
    no_answer = load.spans(NO_ANSWER)
    grpc_failed = load.spans(GRPC_FAILED)
    sent_after_sigterm = [n for n, o in outcomes.items() if o[3] >= sigterm_at]
    acked_after_sigterm = len(load.spans(ACKED, since=sigterm_at))
    # The load was still arriving when the signal came.
    assert sent_after_sigterm, "no request was answered after SIGTERM: the load had stopped"
    assert len(acked) > warm + SIGTERM_AFTER_SPANS - 1

    # The sink is still up: wait until it has written everything it accepted.
    wait_until(lambda: len(file_span_ids(out_b)) == sink.metric("otelcol_receiver_accepted_spans_total")
               and sink.metric("weir_in_flight_items") == 0,
               timeout=20, what="sink wrote everything it accepted")
    got_b = file_span_ids(out_b)
    got_c = file_span_ids(out_c)
    summary = (f"outcomes {load.counts()}, acked after SIGTERM {acked_after_sigterm}, "
               f"B {len(got_b)}, C {len(got_c)}, acked {len(acked)}")

    for name, got in (("B (otlp -> sink)", got_b), ("C (file)", got_c)):
        got_set = set(got)
        assert len(got) == len(got_set), f"{name}: duplicates; {summary}"
        missing = acked - got_set
        assert not missing, f"{name}: acknowledged spans lost: {describe(missing, load)}; {summary}"
        extra = got_set - acked
        assert not extra & (refused | not_sent), (
            f"{name}: spans of requests weir refused arrived: "
            f"{describe(extra & (refused | not_sent), load)}; {summary}")
        assert not extra, (
            f"{name}: spans arrived whose request the client never saw acknowledged "
            f"(weir admitted them but the answer was lost: no_answer {len(no_answer)}, "
            f"gRPC failed {len(grpc_failed)}): {describe(extra, load)}; {summary}")
        assert len(got) == len(acked), summary

    assert sink.metric("otelcol_receiver_accepted_spans_total") == len(acked)
    assert sink.metric("otelcol_exporter_sent_spans_total", exporter="file") == len(acked)

    # The last self-metrics the first weir showed (during its shutdown) never exceed the
    # acknowledged count, and never show a loss.
    last = watcher.last
    assert last is not None and watcher.scrapes > 0
    for name, labels in (
        ("otelcol_receiver_accepted_spans_total", {}),
        ("otelcol_processor_incoming_items_total", {"processor": "batch"}),
        ("otelcol_processor_outgoing_items_total", {"processor": "batch"}),
        ("otelcol_exporter_sent_spans_total", {"exporter": "otlp"}),
        ("otelcol_exporter_sent_spans_total", {"exporter": "file"}),
    ):
        assert metric_sum(last, name, **labels) <= len(acked), (name, summary)
    assert metric_sum(last, "otelcol_receiver_accepted_spans_total") >= warm
    for name in ("otelcol_exporter_send_failed_spans_total",
                 "otelcol_exporter_enqueue_failed_spans_total", "weir_items_dropped_total",
                 "otelcol_receiver_refused_spans_total"):
        assert metric_sum(last, name) == 0, (name, summary)
    failures = sorted({(o[0], o[1], o[2][:80]) for o in outcomes.values() if o[0] != ACKED})
    print(f"\nnot acknowledged: {failures}")
    print(f"{summary}; last scrape of {watcher.scrapes}: receiver accepted "
          f"{metric_sum(last, 'otelcol_receiver_accepted_spans_total')}, "
          f"otlp sent {metric_sum(last, 'otelcol_exporter_sent_spans_total', exporter='otlp')}, "
          f"file sent {metric_sum(last, 'otelcol_exporter_sent_spans_total', exporter='file')}")


# --- Test 2: validate names a cycle through two connectors ------------------------------

def run_weir(*args, timeout: float = 30):
    return subprocess.run([weir_binary(), *args], capture_output=True, text=True, timeout=timeout)


CYCLE = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
exporters:
  file:
    path: {out}
connectors:
  forward/1:
  forward/2:
service:
  pipelines:
    traces/a:
      receivers: [otlp, forward/2]
      exporters: [forward/1]
    traces/b:
      receivers: [forward/1]
      exporters: [forward/2, file]
"""


def test_validate_refuses_a_cycle_through_two_connectors_and_names_it(tmp_path):
    config = tmp_path / "cycle.yaml"
    config.write_text(CYCLE.format(out=tmp_path / "out.jsonl"))
    result = run_weir("validate", "--config", str(config))
    output = result.stderr + result.stdout
    assert result.returncode == 1, output
    # The key path of the edge that closes the cycle, the file and line, and the cycle.
    line = next((l for l in output.splitlines() if "cycle" in l), None)
    assert line is not None, output
    assert "service.pipelines.traces/a.exporters.0" in line, output
    assert f"{config}:16" in line, output
    assert "traces/a -> forward/1 -> traces/b -> forward/2 -> traces/a" in line, output
    # Nothing was started, and the same config refuses to run.
    run = run_weir("--config", str(config), timeout=30)
    assert run.returncode != 0
    assert "cycle" in run.stderr + run.stdout


def test_the_same_pipelines_without_the_back_edge_validate(tmp_path):
    config = tmp_path / "chain.yaml"
    config.write_text(CYCLE.format(out=tmp_path / "out.jsonl")
                      .replace("receivers: [otlp, forward/2]", "receivers: [otlp]")
                      .replace("exporters: [forward/2, file]", "exporters: [file]")
                      .replace("  forward/2:\n", ""))
    result = run_weir("validate", "--config", str(config))
    assert result.returncode == 0, result.stderr


# --- Test 3: shared exporter settings refused with their key paths ----------------------

EXPORTERS = {
    "otlp": "    endpoint: 127.0.0.1:4317\n    tls:\n      insecure: true\n",
    "otlphttp": "    endpoint: http://127.0.0.1:4318\n",
    "file": "    path: {out}\n",
    "debug": "    verbosity: basic\n",
}


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize(
    "setting, key, message",
    [
        ("storage: file_storage", "storage", "storage extension `file_storage` is not declared under `extensions`"),
        ("queue_size: 0", "queue_size", "`queue_size` must be at least 1"),
        ("num_consumers: 0", "num_consumers", "`num_consumers` must be at least 1"),
    ],
    ids=["storage", "queue_size_0", "num_consumers_0"],
)
def test_validate_refuses_queue_settings_with_key_path(tmp_path, exporter, setting, key, message):
    config = tmp_path / "queue.yaml"
    config.write_text(f"""\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
exporters:
  {exporter}:
{EXPORTERS[exporter].format(out=tmp_path / 'out.jsonl')}    sending_queue:
      enabled: true
      {setting}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [{exporter}]
""")
    result = run_weir("validate", "--config", str(config))
    output = result.stderr + result.stdout
    assert result.returncode == 1, output
    errors = [l for l in output.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, output
    # `storage` is reported at its own key; the zero checks are made on the section as a
    # whole (they are one group), reported at `sending_queue` with the key named first in
    # the message. Either way the user is pointed at the key.
    section = f"exporters.{exporter}.sending_queue"
    match = re.match(rf"error: ({re.escape(section)}(?:\.{key})?) \({re.escape(str(config))}:(\d+)\): (.*)",
                     errors[0])
    assert match, output
    assert message in match.group(3), output
    if match.group(1) == section:
        assert match.group(3).startswith(f"`{key}`"), output


@pytest.mark.parametrize("setting", ["queue_size: 0", "num_consumers: 0", "queue_size: 0\n      num_consumers: 0"])
def test_zero_queue_settings_are_fine_with_the_queue_disabled(tmp_path, setting):
    config = tmp_path / "queue.yaml"
    config.write_text(f"""\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    sending_queue:
      enabled: false
      {setting}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
""")
    result = run_weir("validate", "--config", str(config))
    assert result.returncode == 0, result.stderr


# --- Test 4: components lists the forward connector -------------------------------------

def test_components_lists_forward_connector_with_signal_pairs():
    result = run_weir("components")
    assert result.returncode == 0, result.stderr
    rows = [l.split() for l in result.stdout.splitlines()]
    forward = [r for r in rows if r and r[0] == "forward"]
    assert len(forward) == 1, result.stdout
    row = forward[0]
    assert row[1] == "connector", row
    assert set(row[2].split(",")) == {"traces->traces", "metrics->metrics", "logs->logs"}, row
    assert row[3] in ("development", "alpha", "beta", "stable"), row


# --- The other graph checks the issue lists: one-sided use, unsupported signal pair -----

GRAPH_BASE = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
exporters:
  file:
    path: {out}
connectors:
  forward:
service:
  pipelines:
"""


@pytest.mark.parametrize(
    "pipelines, expected",
    [
        pytest.param(
            "    traces/a:\n      receivers: [otlp]\n      exporters: [forward, file]\n",
            ["error: connectors.forward ({config}:10): connector `forward` is an exporter of "
             "pipeline `traces/a` but no pipeline uses it as a receiver"],
            id="exporter_side_only"),
        pytest.param(
            "    traces:\n      receivers: [otlp]\n      exporters: [forward]\n"
            "    metrics:\n      receivers: [forward]\n      exporters: [file]\n",
            ["error: service.pipelines.traces.exporters.0 ({config}:15): connector `forward` "
             "cannot turn traces into metrics",
             "error: service.pipelines.metrics.receivers.0 ({config}:17): connector `forward` "
             "cannot turn traces into metrics"],
            id="traces_to_metrics"),
    ],
)
def test_validate_refuses_connector_misuse_with_key_path(tmp_path, pipelines, expected):
    config = tmp_path / "graph.yaml"
    config.write_text(GRAPH_BASE.format(out=tmp_path / "out.jsonl") + pipelines)
    result = run_weir("validate", "--config", str(config))
    output = result.stderr + result.stdout
    assert result.returncode == 1, output
    for line in expected:
        assert line.format(config=config) in output, output
