"""Issue 2 acceptance: the official OpenTelemetry Python SDK sends traces, metrics and logs
over gRPC and over HTTP to a running weir (A), whose pipeline exports OTLP to a second
weir (B) that writes what it receives to a file. Every span, data point and log record
must arrive with ids, attributes and resource intact, checked item by item against what
the SDK itself recorded (its in-memory exporters)."""

from __future__ import annotations

import logging
import uuid

import pytest

from harness import free_port, read_file_exporter_output, wait_until
from otlp_compare import attributes, items

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor

try:  # renamed across SDK versions
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogExporter
except ImportError:  # pragma: no cover
    from opentelemetry.sdk._logs.export import InMemoryLogExporter

SIGNALS = ("traces", "metrics", "logs")


def sink_config(grpc_port: int, http_port: int, out_dir) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  file/traces:
    path: {out_dir}/traces.jsonl
  file/metrics:
    path: {out_dir}/metrics.jsonl
  file/logs:
    path: {out_dir}/logs.jsonl
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/traces]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
    logs:
      receivers: [otlp]
      exporters: [file/logs]
"""


def gateway_config(grpc_port: int, http_port: int, exporter_yaml: str, exporter_id: str) -> str:
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
    timeout: 100ms
exporters:
{exporter_yaml}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [{exporter_id}]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [{exporter_id}]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [{exporter_id}]
"""


@pytest.fixture
def pair(start_weir, tmp_path):
    """Returns a function building sink B and gateway A exporting to B with `via`."""

    def build(via: str):
        b_grpc, b_http = free_port(), free_port()
        sink = start_weir(sink_config(b_grpc, b_http, tmp_path), name="sink")
        if via == "otlp":
            exporter = f"""  otlp:
    endpoint: 127.0.0.1:{b_grpc}
    tls:
      insecure: true
    compression: zstd"""
            exporter_id = "otlp"
        else:
            exporter = f"""  otlphttp:
    endpoint: http://127.0.0.1:{b_http}
    compression: gzip"""
            exporter_id = "otlphttp"
        a_grpc, a_http = free_port(), free_port()
        gateway = start_weir(gateway_config(a_grpc, a_http, exporter, exporter_id), name="gateway")
        return gateway, sink, a_grpc, a_http

    return build


def sdk_exporters(protocol: str, grpc_port: int, http_port: int):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        endpoint = f"127.0.0.1:{grpc_port}"
        return (
            OTLPSpanExporter(endpoint=endpoint, insecure=True),
            OTLPMetricExporter(endpoint=endpoint, insecure=True),
            OTLPLogExporter(endpoint=endpoint, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    base = f"http://127.0.0.1:{http_port}"
    return (
        OTLPSpanExporter(endpoint=f"{base}/v1/traces"),
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
        OTLPLogExporter(endpoint=f"{base}/v1/logs"),
    )


def emit_telemetry(protocol: str, grpc_port: int, http_port: int, run_id: str):
    """Sends spans, metrics and logs through the SDK; returns what the SDK recorded."""
    span_exporter, metric_exporter, log_exporter = sdk_exporters(protocol, grpc_port, http_port)
    resource = Resource.create({"service.name": f"e2e-{protocol}", "test.run": run_id, "host.cores": 2})

    tracer_provider = TracerProvider(resource=resource)
    memory_spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory_spans))
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("weir.e2e", "1.2.3")
    for i in range(25):
        with tracer.start_as_current_span(f"parent-{i}", attributes={"i": i, "kind": "parent", "ok": True}):
            with tracer.start_as_current_span(f"child-{i}", attributes={"ratio": i / 4.0}) as child:
                child.add_event("evt", {"n": i})
    assert tracer_provider.force_flush(10_000)
    tracer_provider.shutdown()

    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("weir.e2e", "1.2.3")
    counter = meter.create_counter("e2e.requests", unit="1")
    histogram = meter.create_histogram("e2e.latency", unit="ms")
    updown = meter.create_up_down_counter("e2e.queue")
    expected_metrics = {}
    for route, n in (("/a", 5), ("/b", 7), ("/c", 11)):
        counter.add(n, {"route": route})
        expected_metrics[("e2e.requests", route)] = n
    for v in (1.0, 2.5, 40.0, 900.0):
        histogram.record(v, {"route": "/a"})
    updown.add(10, {"q": "x"})
    updown.add(-3, {"q": "x"})
    meter_provider.force_flush(10_000)
    meter_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    memory_logs = InMemoryLogExporter()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(memory_logs))
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    handler = LoggingHandler(logger_provider=logger_provider)
    logger = logging.getLogger(f"weir.e2e.{protocol}.{run_id}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with tracer_provider.get_tracer("x").start_as_current_span("logging-span"):
        for i in range(15):
            logger.warning("log line %d", i, extra={"line.index": i, "component": "e2e"})
    logger_provider.force_flush(10_000)
    logger_provider.shutdown()
    logger.removeHandler(handler)

    return memory_spans.get_finished_spans(), expected_metrics, memory_logs.get_finished_logs()


def collected(out_dir, signal):
    docs = read_file_exporter_output(out_dir / f"{signal}.jsonl")
    return [entry for doc in docs for entry in items(doc, signal)]


@pytest.mark.parametrize("via", ["otlp", "otlphttp"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_to_weir_to_weir_item_by_item(pair, tmp_path, protocol, via):
    gateway, sink, a_grpc, a_http = pair(via)
    run_id = uuid.uuid4().hex
    spans, expected_metrics, logs = emit_telemetry(protocol, a_grpc, a_http, run_id)
    assert len(spans) == 50 and len(logs) == 15

    wait_until(lambda: len(collected(tmp_path, "traces")) >= len(spans), timeout=20, what="spans at sink")
    wait_until(lambda: len(collected(tmp_path, "logs")) >= len(logs), timeout=20, what="logs at sink")
    wait_until(lambda: len(collected(tmp_path, "metrics")) >= 3, timeout=20, what="metrics at sink")

    # Spans: every one, by span id, with trace id, parent, name, attributes, resource.
    got_spans = {e["item"]["spanId"].lower(): e for e in collected(tmp_path, "traces")}
    assert len(got_spans) == len(spans)
    for span in spans:
        entry = got_spans[format(span.context.span_id, "016x")]
        got = entry["item"]
        assert got["traceId"].lower() == format(span.context.trace_id, "032x")
        assert got["name"] == span.name
        parent = got.get("parentSpanId", "")
        assert parent.lower() == (format(span.parent.span_id, "016x") if span.parent else "")
        assert attributes(got.get("attributes")) == dict(span.attributes)
        assert int(got["startTimeUnixNano"]) == span.start_time
        assert int(got["endTimeUnixNano"]) == span.end_time
        assert [e["name"] for e in got.get("events", [])] == [e.name for e in span.events]
        assert attributes(entry["resource"]["attributes"]) == dict(span.resource.attributes)
        assert entry["scope"]["name"] in ("weir.e2e",)

    # Logs: every record, by body, with trace context, attributes, severity, resource.
    got_logs = {e["item"]["body"]["stringValue"]: e for e in collected(tmp_path, "logs")}
    assert len(got_logs) == len(logs)
    for data in logs:
        record = data.log_record
        entry = got_logs[record.body]
        got = entry["item"]
        assert got.get("severityNumber") == record.severity_number.value
        assert got.get("severityText") == record.severity_text
        assert got["traceId"].lower() == format(record.trace_id, "032x")
        assert got["spanId"].lower() == format(record.span_id, "016x")
        assert attributes(got.get("attributes"))["line.index"] == record.attributes["line.index"]
        assert attributes(entry["resource"]["attributes"])["test.run"] == run_id

    # Metrics: every data point with its value and attributes.
    metrics = {e["item"]["name"]: e for e in collected(tmp_path, "metrics")}
    requests = metrics["e2e.requests"]["item"]["sum"]
    assert requests["isMonotonic"] is True
    points = {attributes(p["attributes"])["route"]: int(p["asInt"]) for p in requests["dataPoints"]}
    assert points == {route: n for (_, route), n in expected_metrics.items()}
    hist = metrics["e2e.latency"]["item"]["histogram"]["dataPoints"][0]
    assert int(hist["count"]) == 4
    assert hist["sum"] == pytest.approx(943.5)
    assert sum(int(c) for c in hist["bucketCounts"]) == 4
    queue = metrics["e2e.queue"]["item"]["sum"]
    assert queue.get("isMonotonic", False) is False
    assert int(queue["dataPoints"][0]["asInt"]) == 7
    assert attributes(metrics["e2e.requests"]["resource"]["attributes"])["test.run"] == run_id

    # The gateway counted what it accepted and sent.
    assert gateway.metric("otelcol_receiver_accepted_spans_total", transport=protocol) == 50
    assert gateway.metric("otelcol_exporter_sent_spans_total", exporter=via) == 50
    assert gateway.metric("otelcol_exporter_sent_log_records_total", exporter=via) == 15
    assert sink.metric("otelcol_receiver_accepted_spans_total") == 50
