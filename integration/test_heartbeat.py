"""Issue 15 acceptance for silent sources: the `heartbeat` connector against real SDKs.

- Three services, each its own process running the official OpenTelemetry Python SDK
  (different `service.name`, fixed `service.instance.id`), send spans over OTLP/gRPC to
  weir every 200 ms. A fourth, a batch job, marks its data `weir.heartbeat.shutdown=true`
  (it ends on purpose).
- weir's traces pipeline exports to `heartbeat` (expected_interval 3s, check_interval
  500ms), whose logs pipeline writes to a `file` exporter.
- One service is stopped (its process is terminated): within expected_interval plus one
  check (bounded here with slack for a loaded machine; the exact tick is proven by the
  unit test `a_quiet_source_goes_silent_once_and_returns_once`), `weir_source_silent` on
  /metrics is 1 for exactly that source and 0 for the others, and the file holds exactly
  one `silent` record, with the source's attributes. The job's end produces no record,
  and its series disappear.
- The service is started again: exactly one `returned` record follows and its gauge is 0.

Every process is started and stopped by PID; every wait is bounded; loopback only.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from harness import free_port, parse_prometheus_text, read_file_exporter_output, wait_until

EXPECTED_INTERVAL = 3.0
CHECK_INTERVAL = 0.5
SERVICES = ("frontend", "cart", "checkout")
STOPPED = "cart"

SERVICE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    name, endpoint, lifetime, job = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "job"
    attributes = {"service.name": name, "service.instance.id": name + "-1"}
    if job:
        attributes["weir.heartbeat.shutdown"] = True
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    tracer = provider.get_tracer("heartbeat-e2e")
    deadline = time.monotonic() + lifetime
    sent = 0
    while time.monotonic() < deadline and (not job or sent < 5):
        with tracer.start_as_current_span("work"):
            pass
        sent += 1
        time.sleep(0.2)
    provider.shutdown()
    """
)


def source(name: str) -> str:
    return f"service.name={name},service.instance.id={name}-1"


class Services:
    """The SDK processes, each stopped by its PID at teardown."""

    def __init__(self, tmp_path, endpoint: str):
        self.script = tmp_path / "service.py"
        self.script.write_text(SERVICE_SCRIPT)
        self.endpoint = endpoint
        self.logs = tmp_path
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, job: bool = False, lifetime: float = 90.0):
        log = open(self.logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, str(self.script), name, self.endpoint, str(lifetime), "job" if job else "service"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, name: str):
        proc = self.procs.pop(name)
        proc.terminate()
        proc.wait(timeout=10)

    def stop_all(self):
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def gauges(weir, metric: str) -> dict[str, float]:
    """{source label: value} of a heartbeat gauge."""
    out = {}
    for (name, labels), value in parse_prometheus_text(weir.metrics_text()).items():
        if name == metric:
            out[dict(labels)["source"]] = value
    return out


def heartbeat_records(path) -> list[dict]:
    """Every record the file exporter wrote: resource attributes, state, silent_for."""
    out = []
    for request in read_file_exporter_output(path):
        for resource_logs in request.get("resourceLogs", []):
            resource = {
                a["key"]: next(iter(a["value"].values()))
                for a in resource_logs.get("resource", {}).get("attributes", [])
            }
            for scope_logs in resource_logs.get("scopeLogs", []):
                for record in scope_logs.get("logRecords", []):
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in record.get("attributes", [])}
                    out.append(
                        {
                            "resource": resource,
                            "state": attrs.get("weir.heartbeat.state"),
                            "silent_for": float(attrs.get("weir.heartbeat.silent_for_seconds", -1)),
                        }
                    )
    return out


@pytest.fixture
def services(tmp_path):
    made: list[Services] = []

    def make(endpoint: str) -> Services:
        s = Services(tmp_path, endpoint)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop_all()


def test_one_stopped_service_is_reported_silent_once_and_returned_once(start_weir, services, tmp_path):
    grpc_port = free_port()
    records_path = tmp_path / "heartbeat.jsonl"
    weir = start_weir(
        f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
connectors:
  heartbeat:
    source_attributes: [service.name, service.instance.id]
    expected_interval: {EXPECTED_INTERVAL}s
    check_interval: {int(CHECK_INTERVAL * 1000)}ms
    max_sources: 100
    forget_after: 1h
exporters:
  file/heartbeat:
    path: {records_path}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [heartbeat]
    logs/heartbeat:
      receivers: [heartbeat]
      exporters: [file/heartbeat]
""",
        extra_args=["--shutdown-timeout", "5s"],
    )
    sdk = services(f"http://127.0.0.1:{grpc_port}")
    for name in SERVICES:
        sdk.start(name)
    sdk.start("nightly-job", job=True)

    # Every service is tracked and sending.
    wait_until(
        lambda: all(gauges(weir, "weir_source_silent").get(source(n)) == 0 for n in SERVICES),
        timeout=30,
        what="the three services tracked",
    )
    # The job sent its few spans and exited on its own, on purpose.
    wait_until(lambda: sdk.procs["nightly-job"].poll() is not None, timeout=30, what="the job's end")

    sdk.stop(STOPPED)
    stopped_at = time.monotonic()
    wait_until(
        lambda: gauges(weir, "weir_source_silent").get(source(STOPPED)) == 1,
        # expected_interval + one check, with slack for SDK export and a loaded machine.
        timeout=EXPECTED_INTERVAL + CHECK_INTERVAL + 5,
        interval=0.1,
        what=f"{STOPPED} reported silent",
    )
    noticed_after = time.monotonic() - stopped_at
    silent = gauges(weir, "weir_source_silent")
    assert {s for s, v in silent.items() if v == 1} == {source(STOPPED)}, silent
    assert all(silent[source(n)] == 0 for n in SERVICES if n != STOPPED), silent
    assert noticed_after >= EXPECTED_INTERVAL - 1.0, "not before its expected interval"

    # One silent record, with the source's attributes, and no more at later checks.
    wait_until(lambda: heartbeat_records(records_path), timeout=10, what="the silent record")
    time.sleep(4 * CHECK_INTERVAL)
    records = heartbeat_records(records_path)
    assert len(records) == 1, records
    (record,) = records
    assert record["state"] == "silent"
    assert record["resource"] == {"service.name": STOPPED, "service.instance.id": f"{STOPPED}-1"}
    assert record["silent_for"] >= EXPECTED_INTERVAL

    # The job ended deliberately: forgotten, no record, its series gone.
    wait_until(
        lambda: source("nightly-job") not in gauges(weir, "weir_source_last_seen_seconds"),
        timeout=EXPECTED_INTERVAL + 10,
        what="the job forgotten",
    )
    assert weir.metric("weir_heartbeat_forgotten_sources_total", reason="shutdown") == 1
    assert source("nightly-job") not in gauges(weir, "weir_source_silent")

    # The service comes back: one returned record, gauge back to 0.
    sdk.start(STOPPED)
    wait_until(
        lambda: any(r["state"] == "returned" for r in heartbeat_records(records_path)),
        timeout=30,
        what="the returned record",
    )
    wait_until(lambda: gauges(weir, "weir_source_silent").get(source(STOPPED)) == 0, timeout=10,
               what=f"{STOPPED} back to 0")
    time.sleep(4 * CHECK_INTERVAL)
    records = heartbeat_records(records_path)
    assert [r["state"] for r in records] == ["silent", "returned"], records
    returned = records[1]
    assert returned["resource"] == {"service.name": STOPPED, "service.instance.id": f"{STOPPED}-1"}
    assert returned["silent_for"] >= EXPECTED_INTERVAL
    assert all(v == 0 for v in gauges(weir, "weir_source_silent").values())
    assert weir.metric("weir_heartbeat_sources") == len(SERVICES)
    assert weir.metric("weir_items_created_total", reason="heartbeat") == 2
