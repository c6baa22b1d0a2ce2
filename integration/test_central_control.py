"""Issue 9 acceptance: central control (filter, attributes, resource, transform, routing),
with the real binary, the OpenTelemetry Python SDK as the client and in-process OTLP
capture servers (gRPC and HTTP, on 127.0.0.1) as the backends.

1. Collector configs run unchanged: the examples of the Collector's own READMEs
   (filterprocessor, attributesprocessor, resourceprocessor, transformprocessor,
   routingconnector; integration/collector_configs/, each with its source and licence)
   and a gateway config in the Collector's shapes pass `weir validate` and run; what
   arrives at the backends is what each README says the config does.
2. Redaction: spans and logs with `credit_card` and `password` go through `attributes`
   (hash, delete); at the backend every item has credit_card = SHA-256 hex of the
   original string (the Collector's hash) and no password, and neither secret is in any
   byte the backend received.
3. Routing: logs routed on resource attribute `tenant` to two exporters, the rest to a
   default one; each backend gets exactly its share and the self-metrics count every
   record once (receiver accepted = sent, exporters' sent sum to it).
4. Multi-vendor: one traces pipeline, two OTLP exporters. With one backend down (nothing
   listening, or a backend that stops), the other receives everything within a deadline
   comparable to the both-up run, and the down exporter's failures are counted, not
   waited on.

Every test is bounded in items and time; every process and server started here is
stopped by the fixture or the test that started it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
import subprocess
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest

from harness import free_port, read_file_exporter_output, wait_until, weir_binary
from otlp_compare import items as json_items

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

CONFIGS = Path(__file__).resolve().parent / "collector_configs"

# The SDK's own logging handler is what test_otlp_sdk.py uses too; its deprecation (for a
# separate instrumentation package) changes nothing it sends.
pytestmark = pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")


# --- Capture backends -------------------------------------------------------------------

def any_value(value):
    """An OTLP AnyValue as a Python value (bool stays bool, int stays int)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attrs(key_values) -> dict:
    return {kv.key: any_value(kv.value) for kv in key_values}


@dataclass
class Captured:
    """One span, log record or metric as a backend received it."""

    resource: dict
    scope: str
    item: object  # the protobuf Span / LogRecord / Metric

    @property
    def attributes(self) -> dict:
        return attrs(self.item.attributes)


class Sink:
    """What an OTLP backend received, decoded, with the raw request bytes kept."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: dict[str, list] = {"traces": [], "logs": [], "metrics": []}
        self.raw: list[bytes] = []
        self.headers: list[dict] = []

    def record(self, signal: str, request, raw: bytes, headers: dict):
        with self.lock:
            self.requests[signal].append(request)
            self.raw.append(raw)
            self.headers.append(headers)

    def spans(self) -> list[Captured]:
        with self.lock:
            reqs = list(self.requests["traces"])
        return [Captured(attrs(rs.resource.attributes), ss.scope.name, span)
                for req in reqs for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def logs(self) -> list[Captured]:
        with self.lock:
            reqs = list(self.requests["logs"])
        return [Captured(attrs(rl.resource.attributes), sl.scope.name, rec)
                for req in reqs for rl in req.resource_logs for sl in rl.scope_logs for rec in sl.log_records]

    def metrics(self) -> list[Captured]:
        with self.lock:
            reqs = list(self.requests["metrics"])
        return [Captured(attrs(rm.resource.attributes), sm.scope.name, m)
                for req in reqs for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]

    def all_raw(self) -> bytes:
        with self.lock:
            return b"".join(self.raw)


class GrpcSink(Sink):
    """An OTLP/gRPC backend on 127.0.0.1 (Trace, Logs and Metrics services)."""

    def __init__(self):
        super().__init__()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        sink = self

        def handler(signal, response):
            def export(self, request, context):
                sink.record(signal, request, request.SerializeToString(),
                            {k: v for k, v in context.invocation_metadata()})
                return response()
            return export

        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            type("T", (trace_service_pb2_grpc.TraceServiceServicer,),
                 {"Export": handler("traces", trace_service_pb2.ExportTraceServiceResponse)})(), self.server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
            type("L", (logs_service_pb2_grpc.LogsServiceServicer,),
                 {"Export": handler("logs", logs_service_pb2.ExportLogsServiceResponse)})(), self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            type("M", (metrics_service_pb2_grpc.MetricsServiceServicer,),
                 {"Export": handler("metrics", metrics_service_pb2.ExportMetricsServiceResponse)})(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"
        self.running = False

    def start(self) -> "GrpcSink":
        self.server.start()
        self.running = True
        return self

    def stop(self):
        if self.running:
            self.running = False
            self.server.stop(grace=None).wait(10)


HTTP_TYPES = {
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
}


class HttpSink(Sink):
    """An OTLP/HTTP protobuf backend on 127.0.0.1 (gzip or uncompressed bodies)."""

    def __init__(self):
        super().__init__()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                kind = HTTP_TYPES.get(self.path)
                encoding = self.headers.get("Content-Encoding", "")
                if kind is None or encoding not in ("", "gzip"):
                    self.send_response(404 if kind is None else 415)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if encoding == "gzip":
                    body = gzip.decompress(body)
                signal, request_type, response_type = kind
                sink.record(signal, request_type.FromString(body), body, dict(self.headers.items()))
                payload = response_type().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "HttpSink":
        self.thread.start()
        return self

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(10)
        self.server.server_close()


@pytest.fixture
def sinks():
    """Call with "grpc" or "http"; every backend is stopped at teardown."""
    started: list[Sink] = []

    def make(kind: str = "grpc"):
        sink = (GrpcSink() if kind == "grpc" else HttpSink()).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()


# --- The OpenTelemetry Python SDK as the client ----------------------------------------

class Recorder:
    """Wraps an SDK exporter; counts the items of the exports weir answered OK, and the rest."""

    def __init__(self, inner):
        self.inner = inner
        self.ok = 0
        self.failed = 0
        self.lock = threading.Lock()

    def export(self, batch):
        result = self.inner.export(batch)
        with self.lock:
            if result.name == "SUCCESS":
                self.ok += len(batch)
            else:
                self.failed += len(batch)
        return result

    def shutdown(self, *args, **kwargs):
        return self.inner.shutdown(*args, **kwargs)

    def force_flush(self, timeout_millis: int = 30_000):
        flush = getattr(self.inner, "force_flush", None)
        return flush(timeout_millis) if flush else True


@dataclass
class SpanSpec:
    name: str
    attributes: dict
    events: tuple = ()  # (name, attributes) pairs


def send_spans(port: int, resource: dict, spans: list[SpanSpec], headers: dict | None = None) -> Recorder:
    """Sends `spans` through the SDK (BatchSpanProcessor -> OTLP/gRPC) and waits until the
    SDK has exported them all (or given up). Returns the export outcomes."""
    exporter = Recorder(OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True,
                                         headers=headers, timeout=10))
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=20_000,
                                                   schedule_delay_millis=50, max_export_batch_size=256))
    tracer = provider.get_tracer("weir.central_control", "1.0.0")
    for spec in spans:
        with tracer.start_as_current_span(spec.name, attributes=spec.attributes) as span:
            for event_name, event_attrs in spec.events:
                span.add_event(event_name, event_attrs)
    assert provider.force_flush(30_000), "SDK span flush timed out"
    provider.shutdown()
    return exporter


def send_logs(port: int, resource: dict, records: list[tuple[int, str, dict]],
              headers: dict | None = None) -> Recorder:
    """Sends log records (level, message, attributes) through the SDK's logging handler
    (BatchLogRecordProcessor -> OTLP/gRPC). Returns the export outcomes."""
    exporter = Recorder(OTLPLogExporter(endpoint=f"127.0.0.1:{port}", insecure=True,
                                        headers=headers, timeout=10))
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_queue_size=20_000,
                                                              schedule_delay_millis=50,
                                                              max_export_batch_size=256))
    handler = LoggingHandler(level=logging.NOTSET, logger_provider=provider)
    logger = logging.getLogger(f"weir.central_control.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        for level, message, extra in records:
            logger.log(level, message, extra=extra)
        assert provider.force_flush(30_000), "SDK log flush timed out"
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    return exporter


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def run_weir(*args, env: dict | None = None, timeout: float = 30):
    return subprocess.run([weir_binary(), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# --- 1. Collector configs, unchanged --------------------------------------------------------

@pytest.fixture
def collector_env(monkeypatch, tmp_path, sinks):
    """The environment the files in collector_configs/ read their endpoints from, all on
    127.0.0.1 (weir inherits it). Returns (env, receiver gRPC port, sinks by name)."""
    grpc_port, http_port = free_port(), free_port()
    backends = {"sink": sinks("grpc"), "acme": sinks("grpc"), "other": sinks("grpc"), "logs": sinks("http")}
    env = {
        "WEIR_TEST_OTLP_GRPC": f"127.0.0.1:{grpc_port}",
        "WEIR_TEST_OTLP_HTTP": f"127.0.0.1:{http_port}",
        "WEIR_TEST_SINK": backends["sink"].endpoint,
        "WEIR_TEST_SINK_ACME": backends["acme"].endpoint,
        "WEIR_TEST_SINK_OTHER": backends["other"].endpoint,
        "WEIR_TEST_SINK_LOGS": backends["logs"].endpoint,
        "WEIR_TEST_OUT": str(tmp_path),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env, grpc_port, backends


CONFIG_FILES = sorted(p.name for p in CONFIGS.glob("*.yaml"))


def test_every_collector_config_names_its_source_and_licence():
    assert len([n for n in CONFIG_FILES if "readme" in n]) >= 3, CONFIG_FILES
    for name in CONFIG_FILES:
        head = (CONFIGS / name).read_text().split("\n\n", 1)[0]
        assert "Licence: Apache-2.0" in head, name
        if "readme" in name:
            assert "Source: open-telemetry/opentelemetry-collector-contrib" in head, name
            assert "https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/" in head, name
            assert "Adapted for the test" in head, name


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_collector_config_validates(name, collector_env):
    env, _, _ = collector_env
    result = run_weir("validate", "--config", str(CONFIGS / name), env=env)
    output = result.stderr + result.stdout
    assert result.returncode == 0, output
    assert not [line for line in output.splitlines() if line.startswith("error")], output


def start_config(start_weir, name: str):
    """Runs a file of collector_configs/ as it is (weir reads it from its own copy)."""
    return start_weir((CONFIGS / name).read_text(), name=name.split(".")[0])


def test_filter_readme_example_drops_what_it_says(start_weir, collector_env):
    _, port, backends = collector_env
    sink = backends["sink"]
    weir = start_config(start_weir, "filter_processor_readme.yaml")
    spans = [
        SpanSpec("kept", {"n": 1}, (("evt-plain", {"k": 1}), ("evt-grpc-flag", {"grpc": True}),
                                    ("call-grpc-out", {}))),
        SpanSpec("app_3", {"n": 2}),                                      # name == "app_3"
        SpanSpec("in-container", {"n": 3, "container.name": "app_container_1"}),
        SpanSpec("other-container", {"n": 4, "container.name": "app_container_2"}),
    ]
    assert send_spans(port, {"service.name": "filter-e2e"}, spans).ok == 4
    assert send_spans(port, {"service.name": "filter-e2e", "host.name": "localhost"},
                      [SpanSpec("on-localhost", {"n": 5})]).ok == 1
    records = [
        (logging.WARNING, "kept warning", {"n": 1}),
        (logging.ERROR, "the password is hunter2", {"n": 2}),             # IsMatch(body, ".*password.*")
        (logging.INFO, "info is below WARN", {"n": 3}),                  # severity_number < WARN
        (logging.ERROR, "kept error", {"n": 4}),
    ]
    assert send_logs(port, {"service.name": "filter-e2e"}, records).ok == 4
    send_metrics(port, {"service.name": "filter-e2e", "my_label": "abc123"},
                 counters={"my.metric": 3, "other.metric": 4}, histograms={"my.histogram": 2.5})
    send_metrics(port, {"service.name": "filter-e2e-2"}, counters={"my.metric": 5})

    wait_until(lambda: len(sink.spans()) >= 2 and len(sink.logs()) >= 2 and len(sink.metrics()) >= 2,
               timeout=20, what="filtered telemetry at the backend")
    time.sleep(0.5)  # anything that should have been dropped would show by now
    names = sorted(c.item.name for c in sink.spans())
    assert names == ["kept", "other-container"], names
    by_name = {c.item.name: c for c in sink.spans()}
    assert [e.name for e in by_name["kept"].item.events] == ["evt-plain"]
    assert sorted(c.item.body.string_value for c in sink.logs()) == ["kept error", "kept warning"]
    metrics = sorted((c.resource.get("service.name"), c.item.name) for c in sink.metrics())
    assert metrics == [("filter-e2e", "other.metric"), ("filter-e2e-2", "my.metric")], metrics
    # Every drop counted, under the Collector's names; in = out + filtered.
    filtered = {signal: weir.metric(f"otelcol_processor_filter_{signal}_filtered_total", filter="filter/ottl")
                for signal in ("spans", "logs", "datapoints")}
    assert filtered == {"spans": 3, "logs": 2, "datapoints": 2}, filtered
    assert weir.metric("otelcol_receiver_accepted_spans_total") == 5
    assert weir.metric("otelcol_exporter_sent_spans_total") == 2
    assert weir.metric("otelcol_receiver_accepted_log_records_total") == 4
    assert weir.metric("otelcol_exporter_sent_log_records_total") == 2


def send_metrics(port: int, resource: dict, counters: dict | None = None, histograms: dict | None = None):
    exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create(resource), metric_readers=[reader])
    meter = provider.get_meter("weir.central_control", "1.0.0")
    for name, value in (counters or {}).items():
        meter.create_counter(name).add(value, {"k": "v"})
    for name, value in (histograms or {}).items():
        meter.create_histogram(name).record(value, {"k": "v"})
    # Shutdown collects and exports once (a flush before it would export the same
    # cumulative points a second time).
    provider.shutdown()


def test_attributes_readme_example_does_each_action(start_weir, collector_env):
    _, port, backends = collector_env
    sink = backends["sink"]
    start_config(start_weir, "attributes_processor_readme.yaml")
    spans = [
        SpanSpec("all", {"db.table": "users", "copy_key": "old", "key_original": "orig",
                         "account_password": "pw", "account_email": "a@example.com",
                         "http.status_code": "200"}),
        SpanSpec("has-account", {"account_id": 7, "redacted_span": False}),
    ]
    assert send_spans(port, {"service.name": "attributes-e2e"}, spans).ok == 2
    wait_until(lambda: len(sink.spans()) == 2, timeout=20, what="2 spans at the backend")
    got = {c.item.name: c.attributes for c in sink.spans()}
    assert got["all"] == {
        "redacted_span": True,                                   # upsert
        "copy_key": "orig",                                      # update from_attribute
        "key_original": "orig",
        "account_id": 2245,                                      # insert (absent)
        "account_email": sha256_hex("a@example.com"),            # hash
        "http.status_code": 200,                                 # convert to int
    }, got["all"]
    # insert leaves an existing key alone; update does not create a missing one.
    assert got["has-account"] == {"account_id": 7, "redacted_span": True}, got["has-account"]


def test_resource_readme_example_changes_the_resource(start_weir, collector_env):
    _, port, backends = collector_env
    sink = backends["sink"]
    start_config(start_weir, "resource_processor_readme.yaml")
    resource = {"service.name": "resource-e2e", "cloud.availability_zone": "zone-0",
                "k8s-cluster": "c1", "redundant-attribute": "x"}
    assert send_spans(port, resource, [SpanSpec("s", {})]).ok == 1
    assert send_logs(port, resource, [(logging.WARNING, "l", {})]).ok == 1
    wait_until(lambda: len(sink.spans()) == 1 and len(sink.logs()) == 1, timeout=20,
               what="a span and a log at the backend")
    for captured in (sink.spans()[0], sink.logs()[0]):
        res = captured.resource
        assert res["cloud.availability_zone"] == "zone-1", res
        assert res["k8s.cluster.name"] == "c1", res
        assert res["k8s-cluster"] == "c1", res
        assert "redundant-attribute" not in res, res
        assert res["service.name"] == "resource-e2e", res


def test_transform_readme_examples_do_what_they_say(start_weir, collector_env):
    _, port, backends = collector_env
    sink = backends["sink"]
    start_config(start_weir, "transform_processor_readme.yaml")
    resource = {"service.name": "transform-e2e", "k8s.namespace.name": "ns1", "foo": "a", "bar": "b"}
    spans = [SpanSpec("no-test", {}), SpanSpec("has-test", {"test": "kept"})]
    assert send_spans(port, resource, spans).ok == 2
    assert send_logs(port, {"service.name": "transform-e2e"}, [(logging.WARNING, "the body", {})]).ok == 1
    wait_until(lambda: len(sink.spans()) == 2 and len(sink.logs()) == 1, timeout=20,
               what="2 spans and 1 log at the backend")
    got = {c.item.name: c for c in sink.spans()}
    assert got["no-test"].attributes["test"] == "pass"
    assert got["has-test"].attributes["test"] == "kept"
    res = got["no-test"].resource
    assert res["namespace"] == "ns1" and "k8s.namespace.name" not in res, res
    assert res["test"] == "a b", res
    assert sink.logs()[0].attributes["body"] == "the body"


def file_log_bodies(path: Path) -> list[str]:
    return sorted(entry["item"]["body"]["stringValue"]
                  for doc in read_file_exporter_output(path) for entry in json_items(doc, "logs"))


def test_routing_readme_example_routes_by_region(start_weir, collector_env, tmp_path):
    _, port, _ = collector_env
    start_config(start_weir, "routing_connector_readme.yaml")
    records = ([(logging.WARNING, f"east {i}", {"region": "east"}) for i in range(7)]
               + [(logging.WARNING, f"west {i}", {"region": "west"}) for i in range(5)]
               + [(logging.WARNING, f"north {i}", {"region": "north"}) for i in range(3)]
               + [(logging.WARNING, f"none {i}", {}) for i in range(2)])
    assert send_logs(port, {"service.name": "routing-e2e"}, records).ok == 17
    expected = {
        "east": sorted(f"east {i}" for i in range(7)),
        "west": sorted(f"west {i}" for i in range(5)),
        "other": sorted([f"north {i}" for i in range(3)] + [f"none {i}" for i in range(2)]),
    }
    wait_until(lambda: all(file_log_bodies(tmp_path / f"{k}.log") == v for k, v in expected.items()),
               timeout=20, what="each region's logs in its file")
    time.sleep(0.5)
    for key, bodies in expected.items():
        assert file_log_bodies(tmp_path / f"{key}.log") == bodies, key


def test_routing_readme_example_routes_by_request_metadata(start_weir, collector_env, tmp_path):
    _, port, _ = collector_env
    start_config(start_weir, "routing_connector_readme_request.yaml")
    for tenant, count in (("acme", 4), ("ecorp", 3), ("initech", 2), (None, 1)):
        headers = {"x-tenant": tenant} if tenant else None
        records = [(logging.WARNING, f"{tenant} {i}", {}) for i in range(count)]
        assert send_logs(port, {"service.name": "routing-request-e2e"}, records, headers=headers).ok == count
    expected = {
        "acme": sorted(f"acme {i}" for i in range(4)),
        "ecorp": sorted(f"ecorp {i}" for i in range(3)),
        "other": sorted([f"initech {i}" for i in range(2)] + ["None 0"]),
    }
    # The Collector's routing connector reads a gRPC request's metadata from the call
    # itself (connector/routingconnector/request.go, matchGRPC), so this README config
    # routes gRPC clients by `x-tenant` without `include_metadata` on the receiver.
    def routed():
        return {k: file_log_bodies(tmp_path / f"{k}.log") for k in expected}
    try:
        wait_until(lambda: routed() == expected, timeout=15, what="each tenant's logs in its file")
    except TimeoutError:
        pass
    assert routed() == expected


def test_gateway_config_runs_unchanged(start_weir, collector_env):
    env, port, backends = collector_env
    weir = start_config(start_weir, "gateway.yaml")
    acme_spans = [SpanSpec(f"acme {i}", {"credit_card": f"4111-{i:04d}", "password": "pw",
                                         "http.route": "/orders"}) for i in range(10)]
    acme_spans.append(SpanSpec("health", {"http.route": "/health"}))
    assert send_spans(port, {"service.name": "gw", "tenant": "acme"}, acme_spans).ok == 11
    assert send_spans(port, {"service.name": "gw", "tenant": "zeta"},
                      [SpanSpec(f"zeta {i}", {"credit_card": "5500-0000"}) for i in range(6)]).ok == 6
    records = [(logging.WARNING, f"log {i}", {"password": "pw", "credit_card": "4111"}) for i in range(5)]
    records.append((logging.DEBUG, "debug is noise", {}))
    assert send_logs(port, {"service.name": "gw"}, records).ok == 6

    acme, other, logs = backends["acme"], backends["other"], backends["logs"]
    wait_until(lambda: len(acme.spans()) == 10 and len(other.spans()) == 6 and len(logs.logs()) == 5,
               timeout=20, what="routed spans and filtered logs at the backends")
    time.sleep(0.5)
    assert len(acme.spans()) == 10 and len(other.spans()) == 6 and len(logs.logs()) == 5
    for c in acme.spans():
        a = c.attributes
        assert c.item.name != "health"
        assert "password" not in a and a["gateway"] == "weir" and a["route.seen"] == "/orders", a
        assert a["credit_card"] == sha256_hex(f"4111-{int(c.item.name.split()[1]):04d}"), a
        assert c.resource["deployment.environment"] == "test" and c.resource["tenant"] == "acme"
    for c in other.spans():
        assert c.resource["tenant"] == "zeta" and c.attributes["credit_card"] == sha256_hex("5500-0000")
    for c in logs.logs():
        assert "password" not in c.attributes and c.attributes["credit_card"] == sha256_hex("4111")
        assert c.resource["deployment.environment"] == "test"
    assert weir.metric("otelcol_receiver_accepted_spans_total") == 17
    assert weir.metric("otelcol_exporter_sent_spans_total", exporter="otlp/acme") == 10
    assert weir.metric("otelcol_exporter_sent_spans_total", exporter="otlp/other") == 6
    assert weir.metric("otelcol_exporter_sent_log_records_total", exporter="otlphttp/logs") == 5
    assert weir.metric("otelcol_processor_filter_spans_filtered_total", filter="filter/noise") == 1
    assert weir.metric("otelcol_processor_filter_logs_filtered_total", filter="filter/noise") == 1


BAD_OTTL = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
processors:
  filter/bad:
    traces:
      span:
        - 'name == "ok"'
        - 'name == == "x"'
  transform/bad:
    trace_statements:
      - context: span
        statements:
          - set(attributes["a"], 1)
          - frobnicate(attributes["a"])
  attributes/bad:
    actions:
      - key: x
        action: hash_it
connectors:
  routing/bad:
    table:
      - condition: attributes["tenant"] === "a"
        pipelines: [traces/a]
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [filter/bad, transform/bad, attributes/bad]
      exporters: [routing/bad]
    traces/a:
      receivers: [routing/bad]
      exporters: [debug]
"""


def test_validate_names_the_key_and_line_of_each_bad_condition_statement_and_action(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_OTTL)
    result = run_weir("validate", "--config", str(config))
    output = result.stderr + result.stdout
    assert result.returncode == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4, output
    for key, line, detail in (
        ("processors.filter/bad.traces.span.1", 11, "column"),
        ("processors.transform/bad.trace_statements.0.statements.1", 17, "frobnicate"),
        ("processors.attributes/bad.actions.0.action", 21, "hash_it"),
        ("connectors.routing/bad.table.0.condition", 25, "column"),
    ):
        match = [e for e in errors if e.startswith(f"error: {key} ({config}:{line}): ")]
        assert len(match) == 1 and detail in match[0], (key, output)


# --- 2. Redaction -----------------------------------------------------------------------------

def redaction_config(grpc_port: int, sink) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  attributes/redact:
    actions:
      - key: credit_card
        action: hash
      - key: password
        action: delete
  batch:
    timeout: 100ms
exporters:
  otlp:
    endpoint: {sink.endpoint}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [attributes/redact, batch]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [attributes/redact, batch]
      exporters: [otlp]
"""


SPANS_REDACT = 300
LOGS_REDACT = 200


def card(i: int) -> str:
    return f"4111-1111-{i // 10000:04d}-{i % 10000:04d}"


def secret(i: int) -> str:
    return f"s3cr3t-pw-{i:06d}"


def test_redaction_hashes_credit_card_and_deletes_password(start_weir, sinks):
    sink = sinks("grpc")
    port = free_port()
    weir = start_weir(redaction_config(port, sink), name="redact")
    # Every item carries both secrets, except every 10th, which carries neither (it must
    # pass untouched).
    spans = [SpanSpec(f"op {i}", {"seq": i, "credit_card": card(i), "password": secret(i), "user": "u"}
                      if i % 10 else {"seq": i, "user": "u"}) for i in range(SPANS_REDACT)]
    records = [(logging.WARNING, f"payment {i}", {"seq": i, "credit_card": card(i), "password": secret(i)}
                if i % 10 else {"seq": i}) for i in range(LOGS_REDACT)]
    assert send_spans(port, {"service.name": "shop"}, spans).ok == SPANS_REDACT
    assert send_logs(port, {"service.name": "shop"}, records).ok == LOGS_REDACT
    wait_until(lambda: len(sink.spans()) >= SPANS_REDACT and len(sink.logs()) >= LOGS_REDACT,
               timeout=30, what="every span and log at the backend")
    time.sleep(0.5)

    for captured, count in ((sink.spans(), SPANS_REDACT), (sink.logs(), LOGS_REDACT)):
        assert sorted(c.attributes["seq"] for c in captured) == list(range(count))
        for c in captured:
            a = c.attributes
            seq = a["seq"]
            assert "password" not in a, a
            if seq % 10:
                assert a["credit_card"] == hashlib.sha256(card(seq).encode()).hexdigest(), a
            else:
                assert "credit_card" not in a, a
    for c in sink.spans():
        assert c.attributes["user"] == "u"
    # Neither secret is anywhere in what the backend received.
    raw = sink.all_raw()
    assert b"s3cr3t-pw-" not in raw
    assert b"4111-1111-" not in raw
    assert weir.metric("otelcol_receiver_accepted_spans_total") == SPANS_REDACT
    assert weir.metric("otelcol_exporter_sent_spans_total") == SPANS_REDACT
    assert weir.metric("otelcol_receiver_accepted_log_records_total") == LOGS_REDACT
    assert weir.metric("otelcol_exporter_sent_log_records_total") == LOGS_REDACT


def test_hash_of_non_string_values_matches_the_collector(start_weir, sinks):
    """The Collector hashes the value's bytes: a string's UTF-8, an int's 8 bytes
    little-endian, a double's IEEE-754 bits little-endian, a bool as one byte."""
    sink = sinks("grpc")
    port = free_port()
    start_weir(redaction_config(port, sink).replace(
        "      - key: password\n",
        "      - key: n_int\n        action: hash\n      - key: n_double\n        action: hash\n"
        "      - key: n_bool\n        action: hash\n      - key: password\n"), name="hash")
    span = SpanSpec("typed", {"credit_card": "4111 1111 1111 1111", "n_int": 1234567890123,
                              "n_double": 2.5, "n_bool": True})
    assert send_spans(port, {"service.name": "shop"}, [span]).ok == 1
    wait_until(lambda: len(sink.spans()) == 1, timeout=20, what="the span at the backend")
    a = sink.spans()[0].attributes
    assert a["credit_card"] == sha256_hex("4111 1111 1111 1111")
    assert a["n_int"] == sha256_hex(struct.pack("<q", 1234567890123))
    assert a["n_double"] == sha256_hex(struct.pack("<d", 2.5))
    assert a["n_bool"] == sha256_hex(b"\x01")


# --- 3. Routing by tenant ---------------------------------------------------------------------

ROUTE_TABLES = {
    # The default context (resource): the README's "Route logs based on tenant" shape with
    # a resource attribute instead of a request header.
    "resource_context": """
      - condition: attributes["tenant"] == "acme"
        pipelines: [logs/acme]
      - context: resource
        condition: attributes["tenant"] == "ecorp"
        pipelines: [logs/ecorp]""",
    # The log context reading the resource through its path.
    "log_context": """
      - context: log
        condition: resource.attributes["tenant"] == "acme"
        pipelines: [logs/acme]
      - context: log
        condition: resource.attributes["tenant"] == "ecorp"
        pipelines: [logs/ecorp]""",
}


def routing_config(grpc_port: int, acme, ecorp, default, table: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  otlp/acme:
    endpoint: {acme.endpoint}
    tls:
      insecure: true
  otlphttp/ecorp:
    endpoint: {ecorp.endpoint}
  otlp/default:
    endpoint: {default.endpoint}
    tls:
      insecure: true
connectors:
  routing:
    default_pipelines: [logs/default]
    error_mode: ignore
    table:{table}
processors:
  batch:
    timeout: 100ms
service:
  pipelines:
    logs/in:
      receivers: [otlp]
      exporters: [routing]
    logs/acme:
      receivers: [routing]
      processors: [batch]
      exporters: [otlp/acme]
    logs/ecorp:
      receivers: [routing]
      processors: [batch]
      exporters: [otlphttp/ecorp]
    logs/default:
      receivers: [routing]
      processors: [batch]
      exporters: [otlp/default]
"""


TENANT_LOGS = {"acme": 120, "ecorp": 80, "zeta": 50, None: 30}


@pytest.mark.parametrize("table", sorted(ROUTE_TABLES))
def test_routing_by_tenant_each_sink_gets_its_share_once(start_weir, sinks, table):
    acme, ecorp, default = sinks("grpc"), sinks("http"), sinks("grpc")
    port = free_port()
    weir = start_weir(routing_config(port, acme, ecorp, default, ROUTE_TABLES[table]), name="routing")
    for tenant, count in TENANT_LOGS.items():
        resource = {"service.name": "billing"} | ({"tenant": tenant} if tenant else {})
        records = [(logging.WARNING, f"{tenant}:{i}", {"seq": i}) for i in range(count)]
        assert send_logs(port, resource, records).ok == count
    total = sum(TENANT_LOGS.values())
    expected = {
        "acme": (acme, {f"acme:{i}" for i in range(TENANT_LOGS["acme"])}),
        "ecorp": (ecorp, {f"ecorp:{i}" for i in range(TENANT_LOGS["ecorp"])}),
        "default": (default, {f"{t}:{i}" for t in ("zeta", None) for i in range(TENANT_LOGS[t])}),
    }
    wait_until(lambda: sum(len(s.logs()) for s, _ in expected.values()) >= total, timeout=30,
               what="every log at some backend")
    time.sleep(0.5)  # a duplicate would show now
    for name, (sink, bodies) in expected.items():
        got = [c.item.body.string_value for c in sink.logs()]
        assert len(got) == len(bodies) and set(got) == bodies, (name, len(got), len(bodies))
        assert {c.resource.get("tenant") for c in sink.logs()} <= {"acme", "ecorp", "zeta", None}
    # Self-metrics: each record counted once in, once out.
    assert weir.metric("otelcol_receiver_accepted_log_records_total") == total
    assert weir.metric("otelcol_receiver_refused_log_records_total") == 0
    sent = {name: weir.metric("otelcol_exporter_sent_log_records_total", exporter=name)
            for name in ("otlp/acme", "otlphttp/ecorp", "otlp/default")}
    assert sent == {"otlp/acme": 120, "otlphttp/ecorp": 80, "otlp/default": 80}, sent
    assert sum(sent.values()) == total
    assert weir.metric("otelcol_exporter_send_failed_log_records_total") == 0
    assert weir.metric("weir_items_dropped_total") == 0


@dataclass
class EndpointOnly:
    """A backend that is never started: validate opens nothing."""

    endpoint: str


def test_validate_refuses_a_routing_table_entry_without_a_condition(tmp_path):
    config = tmp_path / "routing.yaml"
    config.write_text(routing_config(4317, EndpointOnly("127.0.0.1:1"), EndpointOnly("http://127.0.0.1:1"),
                                     EndpointOnly("127.0.0.1:1"), """
      - pipelines: [logs/acme]
      - condition: attributes["tenant"] == "ecorp"
        pipelines: [logs/ecorp]"""))
    result = run_weir("validate", "--config", str(config))
    output = result.stderr + result.stdout
    assert result.returncode == 1, output
    assert "connectors.routing.table" in output, output


# --- 4. Multi-vendor: one backend down --------------------------------------------------------

def fanout_config(grpc_port: int, a_endpoint: str, b_endpoint: str) -> str:
    # vendor_b gives up on a batch after 2 s of retries, so its failures settle into the
    # counters within the test's time.
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  batch:
    timeout: 100ms
exporters:
  otlp/vendor_a:
    endpoint: {a_endpoint}
    tls:
      insecure: true
  otlp/vendor_b:
    endpoint: {b_endpoint}
    tls:
      insecure: true
    timeout: 2s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 400ms
      max_elapsed_time: 2s
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/vendor_a, otlp/vendor_b]
"""


FANOUT_SPANS = 2000


def seqs(sink, wave: str) -> list[int]:
    return sorted(c.attributes["seq"] for c in sink.spans() if c.attributes.get("wave") == wave)


def send_wave(port: int, wave: str) -> tuple[Recorder, float]:
    """Sends FANOUT_SPANS spans tagged `wave`; returns the outcomes and when it started."""
    started = time.monotonic()
    spans = [SpanSpec(f"op {i % 7}", {"seq": i, "wave": wave}) for i in range(FANOUT_SPANS)]
    return send_spans(port, {"service.name": "fanout"}, spans), started


def wait_complete(sink, wave: str, started: float, timeout: float) -> float:
    wait_until(lambda: len(seqs(sink, wave)) >= FANOUT_SPANS, timeout=timeout, interval=0.05,
               what=f"all {FANOUT_SPANS} spans of wave {wave} at the live backend")
    return time.monotonic() - started


@pytest.mark.parametrize("outage", ["nothing_listening", "backend_stops"])
def test_one_vendor_down_the_other_keeps_its_rate(start_weir, sinks, outage):
    vendor_a, vendor_b = sinks("grpc"), sinks("grpc")
    port = free_port()
    weir = start_weir(fanout_config(port, vendor_a.endpoint, vendor_b.endpoint), name="fanout")

    # Both up: the reference time for one wave.
    rec, started = send_wave(port, "up")
    assert rec.ok == FANOUT_SPANS and rec.failed == 0
    t_up = wait_complete(vendor_a, "up", started, timeout=30)
    wait_until(lambda: len(seqs(vendor_b, "up")) >= FANOUT_SPANS, timeout=30, what="wave up at vendor_b")
    assert seqs(vendor_a, "up") == list(range(FANOUT_SPANS)) == seqs(vendor_b, "up")

    if outage == "backend_stops":
        vendor_b.stop()
    else:
        # A fresh weir whose vendor_b endpoint is a port nothing listens on.
        weir.stop()
        port = free_port()
        weir = start_weir(fanout_config(port, vendor_a.endpoint, f"127.0.0.1:{free_port()}"), name="fanout-dead")
    b_sent_before = weir.metric("otelcol_exporter_sent_spans_total", exporter="otlp/vendor_b")
    a_sent_before = weir.metric("otelcol_exporter_sent_spans_total", exporter="otlp/vendor_a")

    rec, started = send_wave(port, "down")
    # The client is never held up or refused because vendor_b is down.
    assert rec.ok == FANOUT_SPANS and rec.failed == 0
    deadline = 10 + 5 * t_up
    t_down = wait_complete(vendor_a, "down", started, timeout=deadline)
    print(f"\n{outage}: wave with both up {t_up:.2f}s, with vendor_b down {t_down:.2f}s (deadline {deadline:.1f}s)")
    assert seqs(vendor_a, "down") == list(range(FANOUT_SPANS))
    assert weir.metric("otelcol_exporter_sent_spans_total", exporter="otlp/vendor_a") - a_sent_before \
        == FANOUT_SPANS

    # vendor_b: nothing delivered; it retried, then counted every span of the wave as
    # failed (or refused by its full queue), without holding the pipeline.
    def b_settled():
        failed = weir.metric("otelcol_exporter_send_failed_spans_total", exporter="otlp/vendor_b")
        refused = weir.metric("otelcol_exporter_enqueue_failed_spans_total", exporter="otlp/vendor_b")
        return failed + refused == FANOUT_SPANS
    wait_until(b_settled, timeout=30, what="vendor_b's failures counted")
    assert weir.metric("otelcol_exporter_sent_spans_total", exporter="otlp/vendor_b") == b_sent_before
    assert weir.metric("weir_exporter_retries_total", exporter="otlp/vendor_b") > 0
    assert seqs(vendor_b, "down") == []
    assert weir.metric("otelcol_receiver_accepted_spans_total") == FANOUT_SPANS * (1 if outage != "backend_stops" else 2)
