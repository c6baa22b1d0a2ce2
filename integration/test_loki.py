"""Issue 11 acceptance for the `loki` exporter.

Loki cannot be installed here, so the peer is a fake Loki on 127.0.0.1 that:

- decodes every push with Loki's published schema: `proto/loki/push.proto` (Apache-2.0,
  copied from grafana/loki `pkg/push`) is read by a small parser below and turned into a
  protobuf descriptor, and the snappy block format is decoded by a small decoder below
  (no snappy package needed); JSON pushes are read as Loki's JSON push body;
- answers as Loki does: 204 on success; a scripted 429 (with Retry-After) or 503; and, in
  "ordered" mode (Loki with `unordered_writes: false`), 400 with Loki's own error text for
  entries not newer than what the stream already has, accepting the others.

The client is the OpenTelemetry Python SDK (OTLP/gRPC into weir). Checked: labels, lines,
order within a stream and tenant of what arrives, for the protobuf and the JSON encoding;
429/503 retried (Retry-After honoured) then delivered; an out-of-order 400 counted in
weir's metrics and not retried. Each test is bounded to well under 60 s.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
import uuid
from pathlib import Path

import pytest

from harness import REPO, free_port, wait_until

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

PUSH_PROTO = REPO / "proto" / "loki" / "push.proto"


# --- Loki's schema, from the published .proto -------------------------------------------

SCALARS = {
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}


def parse_proto(text: str) -> dict[str, list[tuple[bool, str, str, int]]]:
    """Messages of a simple proto3 file: {name: [(repeated, type, field, number)]}.
    Enough for push.proto (no nesting, no oneofs, no enums); options are skipped."""
    text = re.sub(r"//[^\n]*", "", text)
    messages = {}
    for name, body in re.findall(r"message\s+(\w+)\s*\{([^{}]*)\}", text):
        fields = re.findall(
            r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;", body, re.S)
        messages[name] = [(bool(rep), typ, field, int(num)) for rep, typ, field, num in fields]
    return messages


def push_request_class():
    """The `logproto.PushRequest` message class, built from push.proto."""
    text = PUSH_PROTO.read_text()
    package = re.search(r"^package\s+([\w.]+)\s*;", text, re.M).group(1)
    messages = parse_proto(text)
    # The published schema a client relies on (a drift in the copy fails here).
    assert package == "logproto"
    assert messages["PushRequest"][0] == (True, "StreamAdapter", "streams", 1)
    assert messages["StreamAdapter"][:2] == [(False, "string", "labels", 1),
                                             (True, "EntryAdapter", "entries", 2)]
    assert messages["EntryAdapter"][:3] == [
        (False, "google.protobuf.Timestamp", "timestamp", 1),
        (False, "string", "line", 2),
        (True, "LabelPairAdapter", "structuredMetadata", 3)]

    pool = descriptor_pool.DescriptorPool()
    ts_file = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(ts_file)
    pool.Add(ts_file)
    file = descriptor_pb2.FileDescriptorProto(
        name="loki/push.proto", package=package, syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"])
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        for repeated, typ, field, number in fields:
            f = message.field.add(name=field, number=number, json_name=field)
            f.label = (descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED if repeated
                       else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
            if typ in SCALARS:
                f.type = SCALARS[typ]
            else:
                f.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                f.type_name = "." + (typ if "." in typ else f"{package}.{typ}")
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = push_request_class()


def snappy_decompress(data: bytes) -> bytes:
    """The snappy block format (what Loki reads): a varint length, then literals and
    back-references."""
    pos, length, shift = 0, 0, 0
    while True:
        b = data[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n < 60:
                n += 1
            else:
                width = n - 59
                n = int.from_bytes(data[pos:pos + width], "little") + 1
                pos += width
            out += data[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n, offset = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            n, offset = (tag >> 2) + 1, int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            n, offset = (tag >> 2) + 1, int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        assert 0 < offset <= len(out), "bad snappy offset"
        for _ in range(n):
            out.append(out[-offset])
    assert len(out) == length, (len(out), length)
    return bytes(out)


def parse_selector(text: str) -> dict:
    """`{a="x", b="y"}` -> {"a": "x", "b": "y"}, Go-quoted values."""
    assert text.startswith("{") and text.endswith("}"), text
    return {k: json.loads(v) for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*")', text)}


# --- The fake Loki ------------------------------------------------------------------------

class FakeLoki:
    """Loki's push endpoint on 127.0.0.1. Every POST is recorded as an attempt:
    {tenant, content_type, streams: [(labels dict, [(ns, line, metadata dict)])], status}.
    `script` answers the first attempts ((status, headers, body) each); `ordered` refuses,
    per tenant and stream, entries not newer than the newest accepted one (400, with
    Loki's text), accepting the rest of the push."""

    def __init__(self, script=(), ordered=False):
        self.script = list(script)
        self.ordered = ordered
        self.newest: dict[tuple[str, str], int] = {}
        self.attempts: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, text = fake.handle(self.path, dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                data = text.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, prefix: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{prefix}/loki/api/v1/push"

    @staticmethod
    def decode(content_type: str, body: bytes):
        if content_type == "application/x-protobuf":
            request = PushRequest()
            request.ParseFromString(snappy_decompress(body))
            return [(parse_selector(s.labels),
                     [(e.timestamp.seconds * 10**9 + e.timestamp.nanos, e.line,
                       {p.name: p.value for p in e.structuredMetadata}) for e in s.entries])
                    for s in request.streams]
        assert content_type == "application/json", content_type
        doc = json.loads(body)
        return [(s["stream"], [(int(v[0]), v[1], v[2] if len(v) > 2 else {}) for v in s["values"]])
                for s in doc["streams"]]

    def handle(self, path, headers, body):
        headers = {k.lower(): v for k, v in headers.items()}
        attempt = {"path": path, "tenant": headers.get("x-scope-orgid", ""),
                   "content_type": headers.get("content-type", ""), "at": time.monotonic(),
                   "streams": self.decode(headers.get("content-type", ""), body)}
        with self.lock:
            self.attempts.append(attempt)
            if self.script:
                status, answer_headers, text = self.script.pop(0)
                attempt["status"] = status
                return status, answer_headers, text
            errors = []
            if self.ordered:
                for labels, entries in attempt["streams"]:
                    key = (attempt["tenant"], json.dumps(labels, sort_keys=True))
                    ignored = []
                    for ns, _, _ in entries:
                        if ns <= self.newest.get(key, -1):
                            ignored.append(ns)
                        else:
                            self.newest[key] = ns
                    if ignored:
                        selector = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
                        text = "".join(
                            f"entry with timestamp {ns} ignored, reason: 'entry out of order',\n"
                            for ns in ignored)
                        text += (f"user '{attempt['tenant']}', total ignored: {len(ignored)} "
                                 f"out of {len(entries)} for stream: {selector}")
                        errors.append(text)
            if errors:
                attempt["status"] = 400
                return 400, {"Content-Type": "text/plain; charset=utf-8"}, "\n".join(errors) + "\n"
            attempt["status"] = 204
            return 204, {}, ""

    def delivered(self, prefix: str = "") -> list[dict]:
        with self.lock:
            return [a for a in self.attempts
                    if a.get("status") == 204 and a["path"].startswith(prefix + "/loki/")]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_loki():
    started = []

    def start(**kwargs) -> FakeLoki:
        loki = FakeLoki(**kwargs)
        started.append(loki)
        return loki

    yield start
    for loki in started:
        loki.stop()


# --- The SDK side -------------------------------------------------------------------------

def emit(port: int, resource: dict, records: list[dict]):
    """Sends log records through the SDK's logger, all in one export (one OTLP request)."""
    exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=10)
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(BatchLogRecordProcessor(
        exporter, schedule_delay_millis=60_000, max_export_batch_size=512))
    logger = provider.get_logger("loki-e2e", "1.2")
    for r in records:
        logger.emit(timestamp=r["ts"], severity_number=r.get("severity", SeverityNumber.INFO),
                    severity_text=r.get("text", "INFO"), body=r["body"],
                    attributes=r.get("attributes", {}))
    assert provider.force_flush(15_000), "SDK log flush timed out"
    provider.shutdown()


def weir_config(grpc_port: int, exporters: str, ids: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
{exporters}
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [{ids}]
"""


RETRY = """    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 30s}
    sending_queue: {num_consumers: 1}"""


def test_labels_lines_order_and_tenant_protobuf_and_json(start_weir, fake_loki):
    loki = fake_loki()
    grpc_port = free_port()
    exporters = f"""  loki:
    endpoint: {loki.url("/proto")}
    tenant: {{source: attributes, value: tenant.id}}
    headers: {{X-Scope-OrgID: default-team}}
{RETRY}
  loki/json:
    endpoint: {loki.url("/json")}
    encoding: json
    format: logfmt
    default_labels_enabled: {{exporter: false, instance: false, job: false, level: false}}
    labels:
      resource: {{service.name: service}}
      record: {{severity: severity}}
    structured_metadata:
      attributes: {{order_id: order_id}}
{RETRY}"""
    weir = start_weir(weir_config(grpc_port, exporters, "loki, loki/json"), name="loki")
    run = uuid.uuid4().hex[:8]
    base = time.time_ns() - 60 * 10**9
    # Timestamps out of order within one request: the stream must arrive sorted.
    offsets = [3, 1, 5, 2, 4]
    records = [{"ts": base + k * 10**6, "body": f"order {k} paid",
                "attributes": {"loki.attribute.labels": "component", "component": "db",
                               "order_id": str(k)}} for k in offsets]
    emit(grpc_port, {"service.name": "checkout", "service.namespace": "shop",
                     "service.instance.id": "i-1", "tenant.id": "acme", "run": run,
                     "loki.resource.labels": "deployment.environment",
                     "deployment.environment": "prod"}, records)
    emit(grpc_port, {"service.name": "billing", "run": run},
         [{"ts": base, "body": "no tenant attribute", "severity": SeverityNumber.WARN,
           "text": "WARN"}])

    proto = wait_until(lambda: (d := loki.delivered("/proto")) and len(d) >= 2 and d,
                       timeout=20, what="two protobuf pushes")
    by_tenant = {a["tenant"]: a for a in proto}
    assert set(by_tenant) == {"acme", "default-team"}, by_tenant.keys()
    acme = by_tenant["acme"]
    assert acme["content_type"] == "application/x-protobuf"
    [(labels, entries)] = acme["streams"]
    assert labels == {"exporter": "OTLP", "job": "shop/checkout", "instance": "i-1",
                      "deployment_environment": "prod", "component": "db", "level": "INFO"}
    assert [ns for ns, _, _ in entries] == [base + k * 10**6 for k in sorted(offsets)]
    for (ns, line, metadata), k in zip(entries, sorted(offsets)):
        doc = json.loads(line)
        assert doc["body"] == f"order {k} paid"
        assert doc["severity"] == "INFO"
        assert doc["attributes"] == {"order_id": str(k)}, doc
        assert doc["instrumentation_scope"] == {"name": "loki-e2e", "version": "1.2"}
        resources = doc["resources"]
        assert resources["service.name"] == "checkout" and resources["run"] == run
        assert "deployment.environment" not in resources and "loki.resource.labels" not in resources
        assert metadata == {}
    [(labels, entries)] = by_tenant["default-team"]["streams"]
    # The SDK gives every resource a `service.instance.id` of its own.
    assert labels.pop("instance")
    assert labels == {"exporter": "OTLP", "job": "billing", "level": "WARN"}
    assert json.loads(entries[0][1])["body"] == "no tenant attribute"

    pushes = wait_until(lambda: (d := loki.delivered("/json")) and len(d) >= 2 and d,
                        timeout=20, what="two JSON pushes")
    assert all(p["content_type"] == "application/json" and p["tenant"] == "" for p in pushes)
    streams = {json.dumps(labels, sort_keys=True): entries
               for p in pushes for labels, entries in p["streams"]}
    checkout = streams[json.dumps({"component": "db", "deployment_environment": "prod",
                                   "service": "checkout", "severity": "INFO"}, sort_keys=True)]
    assert [ns for ns, _, _ in checkout] == [base + k * 10**6 for k in sorted(offsets)]
    for (ns, line, metadata), k in zip(checkout, sorted(offsets)):
        assert metadata == {"order_id": str(k)}
        assert line.startswith(f'msg="order {k} paid" resource_'), line
        assert "attribute_order_id" not in line and "severity=" not in line, line
        assert f"resource_run={run}" in line and "resource_service.name=" not in line, line
        assert line.endswith("instrumentation_scope_name=loki-e2e instrumentation_scope_version=1.2")
    assert weir.metric("otelcol_exporter_sent_log_records_total", exporter="loki") == 6
    assert weir.metric("otelcol_exporter_sent_log_records_total", exporter="loki/json") == 6
    assert weir.metric("weir_loki_exporter_requests_total", exporter="loki", result="sent") == 2


def test_429_and_5xx_are_retried_then_delivered(start_weir, fake_loki):
    loki = fake_loki(script=[
        (429, {"Retry-After": "1"}, "Ingestion rate limit exceeded for user acme (limit: 4194304 bytes/sec)"),
        (503, {}, "upstream connect error or disconnect/reset before headers"),
        (500, {}, "rpc error: code = Unavailable desc = transport is closing"),
    ])
    grpc_port = free_port()
    exporters = f"""  loki:
    endpoint: {loki.url()}
{RETRY}"""
    weir = start_weir(weir_config(grpc_port, exporters, "loki"), name="loki-retry")
    base = time.time_ns() - 10**9
    emit(grpc_port, {"service.name": "retry"},
         [{"ts": base + i, "body": f"line {i}"} for i in range(3)])
    [push] = wait_until(lambda: loki.delivered(), timeout=30, what="delivery after retries")
    assert [a.get("status") for a in loki.attempts] == [429, 503, 500, 204]
    # Every attempt sent the same entries; Retry-After: 1 was honoured.
    assert all(a["streams"] == push["streams"] for a in loki.attempts)
    assert loki.attempts[1]["at"] - loki.attempts[0]["at"] >= 0.9
    assert [json.loads(line)["body"] for _, line, _ in push["streams"][0][1]] == [
        f"line {i}" for i in range(3)]
    assert weir.metric("weir_loki_exporter_requests_total", result="retryable_error") == 3
    assert weir.metric("weir_loki_exporter_requests_total", result="sent") == 1
    assert weir.metric("otelcol_exporter_sent_log_records_total", exporter="loki") == 3
    assert weir.metric("otelcol_exporter_send_failed_log_records_total", exporter="loki") == 0
    assert weir.metric("weir_exporter_retries_total", exporter="loki") == 3


def test_out_of_order_400_is_counted_and_not_retried(start_weir, fake_loki):
    loki = fake_loki(ordered=True)
    grpc_port = free_port()
    exporters = f"""  loki:
    endpoint: {loki.url()}
    tenant: {{source: static, value: acme}}
{RETRY}"""
    weir = start_weir(weir_config(grpc_port, exporters, "loki"), name="loki-ooo")
    base = time.time_ns() - 60 * 10**9
    emit(grpc_port, {"service.name": "ooo"},
         [{"ts": base + 10 + i, "body": f"first {i}"} for i in range(5)])
    wait_until(lambda: loki.delivered(), timeout=20, what="the first push")
    # Two entries older than what the stream has, two newer: Loki ignores the older ones.
    emit(grpc_port, {"service.name": "ooo"},
         [{"ts": base + ts, "body": f"second {ts}"} for ts in (21, 1, 20, 2)])
    wait_until(lambda: weir.metric("weir_loki_exporter_out_of_order_entries_total",
                                   exporter="loki") == 2,
               timeout=20, what="out-of-order entries counted")
    time.sleep(1.5)  # a retry, if there were one, would come within this (100 ms backoff)
    second = [a for a in loki.attempts if any("second" in e[1] for _, es in a["streams"] for e in es)]
    assert len(second) == 1, second
    assert second[0]["status"] == 400 and second[0]["tenant"] == "acme"
    assert [ns - base for ns, _, _ in second[0]["streams"][0][1]] == [1, 2, 20, 21]
    assert weir.metric("weir_items_dropped_total", component="loki", reason="out_of_order") == 2
    assert weir.metric("otelcol_exporter_send_failed_log_records_total", exporter="loki") == 2
    assert weir.metric("otelcol_exporter_sent_log_records_total", exporter="loki") == 7
    assert weir.metric("weir_loki_exporter_requests_total", result="permanent_error") == 1
    assert weir.metric("weir_loki_exporter_requests_total", result="retryable_error") == 0
    assert "entry out of order" in weir.log()
