"""Remote-write 1.0 on the receiving side, for the end-to-end tests of issue 13.

- `WriteRequest`: the message class, built at import from the published .proto files
  vendored in tests/conformance/remote_write/proto/prompb (types.proto, remote.proto).
  A small reader takes the messages' fields (oneof members flattened, nested enums read
  as int32, options skipped); the checks below pin the fields a test relies on, so a
  drift in the copy fails loudly.
- `snappy_decompress`: the snappy *block* format (not the framed one), in pure Python.
- `RecordingReceiver`: a remote-write endpoint on 127.0.0.1 that decodes every POST,
  records it with its headers and the status it answered, and answers as a test says.
"""

from __future__ import annotations

import http.server
import re
import threading
import time

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from harness import CONFORMANCE, free_port

PROTO_DIR = CONFORMANCE / "remote_write" / "proto" / "prompb"
STALE_NAN_BITS = 0x7FF0000000000002

_F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES, "bool": _F.TYPE_BOOL,
    "double": _F.TYPE_DOUBLE, "float": _F.TYPE_FLOAT,
    "int64": _F.TYPE_INT64, "uint64": _F.TYPE_UINT64, "sint64": _F.TYPE_SINT64,
    "int32": _F.TYPE_INT32, "uint32": _F.TYPE_UINT32, "sint32": _F.TYPE_SINT32,
}


def _blocks(text: str, keyword: str):
    """(name, body) of each top-level `keyword name { ... }` block, braces balanced."""
    for match in re.finditer(rf"^{keyword}\s+(\w+)\s*\{{", text, re.M):
        depth, pos = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            pos += 1
        yield match.group(1), text[match.end():pos - 1]


def _fields(body: str) -> tuple[list, set]:
    """Fields of a message body (oneof members included) and its nested enum names."""
    enums = set(re.findall(r"\benum\s+(\w+)\s*\{", body))
    body = re.sub(r"\benum\s+\w+\s*\{[^{}]*\}", "", body)
    body = re.sub(r"\boneof\s+\w+\s*\{([^{}]*)\}", r"\1", body)
    fields = re.findall(r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;", body)
    return [(bool(rep), typ, name, int(num)) for rep, typ, name, num in fields], enums


def _message_classes():
    text = ""
    for name in ("types.proto", "remote.proto"):
        source = (PROTO_DIR / name).read_text()
        text += re.sub(r"//[^\n]*", "", source) + "\n"
    messages = {}
    for name, body in _blocks(text, "message"):
        messages[name] = _fields(body)
    wanted = ["WriteRequest", "TimeSeries", "Label", "Sample", "Exemplar", "Histogram", "BucketSpan",
              "MetricMetadata"]
    # What the tests read, as the published schema has it.
    assert (True, "prometheus.TimeSeries", "timeseries", 1) in messages["WriteRequest"][0]
    assert (True, "prometheus.MetricMetadata", "metadata", 3) in messages["WriteRequest"][0]
    assert messages["TimeSeries"][0][:4] == [(True, "Label", "labels", 1), (True, "Sample", "samples", 2),
                                             (True, "Exemplar", "exemplars", 3),
                                             (True, "Histogram", "histograms", 4)]
    assert messages["Sample"][0] == [(False, "double", "value", 1), (False, "int64", "timestamp", 2)]
    assert messages["Label"][0] == [(False, "string", "name", 1), (False, "string", "value", 2)]

    file = descriptor_pb2.FileDescriptorProto(name="weir_test/prompb.proto", package="prometheus",
                                              syntax="proto3")
    for name in wanted:
        fields, enums = messages[name]
        message = file.message_type.add(name=name)
        for repeated, typ, field, number in fields:
            f = message.field.add(name=field, number=number, json_name=field)
            f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            short = typ.split(".")[-1]
            if typ in SCALARS:
                f.type = SCALARS[typ]
            elif short in enums:
                f.type = _F.TYPE_INT32  # an enum on the wire is a varint
            else:
                f.type = _F.TYPE_MESSAGE
                f.type_name = f".prometheus.{short}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _message_classes()


def snappy_decompress(data: bytes) -> bytes:
    """The snappy block format: a varint length, then literals and back-references."""
    pos, length, shift = 0, 0, 0
    while True:
        b = data[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    end = len(data)
    while pos < end:
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
        if not 0 < offset <= len(out):
            raise ValueError("bad snappy offset")
        start = len(out) - offset
        if offset >= n:
            out += out[start:start + n]
        else:  # an overlapping copy repeats the last `offset` bytes
            chunk = bytes(out[start:])
            out += (chunk * (n // offset + 1))[:n]
    if len(out) != length:
        raise ValueError(f"snappy length {len(out)} != {length}")
    return bytes(out)


def decode(body: bytes):
    request = WriteRequest()
    request.ParseFromString(snappy_decompress(body))
    return request


def labels_of(series) -> dict[str, str]:
    return {label.name: label.value for label in series.labels}


def series_key(series) -> tuple:
    return tuple((label.name, label.value) for label in series.labels)


class RecordingReceiver:
    """A remote-write endpoint on 127.0.0.1. Every POST is decoded and recorded, in the
    order it arrived, as a dict: method, path, headers (lower-case), body, request (the
    decoded WriteRequest, or None), status, at (monotonic), thread (the serving thread's
    name: one per connection). `answer(n, record)` gives (status, headers, text) for the
    n-th POST (from 0); the default accepts everything with 204."""

    def __init__(self, answer=None, delay=None):
        self.answer = answer or (lambda n, record: (204, {}, ""))
        self.delay = delay
        self.records: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, text = receiver.handle("POST", self.path, self.headers, body)
                data = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):  # noqa: N802 - any other method is recorded and refused
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.handle("PUT", self.path, self.headers, b"")
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    def handle(self, method, path, headers, body):
        record = {"method": method, "path": path, "body": body, "at": time.monotonic(),
                  "headers": {k.lower(): v for k, v in headers.items()},
                  "thread": threading.current_thread().name}
        try:
            record["request"] = decode(body) if method == "POST" else None
        except Exception as err:  # noqa: BLE001 - recorded for the test to assert on
            record["request"] = None
            record["error"] = repr(err)
        if self.delay is not None:
            self.delay(record)
        with self.lock:
            n = len(self.records)
            status, answer_headers, text = self.answer(n, record)
            record["status"] = status
            self.records.append(record)
        return status, answer_headers, text

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.records if 200 <= r["status"] < 300 and r["request"] is not None]

    def all(self) -> list[dict]:
        with self.lock:
            return list(self.records)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- Remote-write 2.0 (io.prometheus.write.v2.Request), added for issue 13 item 5 ---------
#
# Built the same way as the 1.0 class above, from the published v2 types.proto vendored in
# tests/conformance/remote_write/proto/prompb/io/prometheus/write/v2/. Oneof members are
# flattened (a Histogram's `count_int`/`count_float` read as plain fields: use whichever is
# set), nested enums read as int32.

PROTO_V2 = PROTO_DIR / "io" / "prometheus" / "write" / "v2" / "types.proto"
CONTENT_TYPE_V2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
METRIC_TYPES_V2 = {"UNSPECIFIED": 0, "COUNTER": 1, "GAUGE": 2, "HISTOGRAM": 3, "GAUGEHISTOGRAM": 4,
                   "SUMMARY": 5, "INFO": 6, "STATESET": 7}
WRITTEN_HEADERS = ("X-Prometheus-Remote-Write-Samples-Written",
                   "X-Prometheus-Remote-Write-Histograms-Written",
                   "X-Prometheus-Remote-Write-Exemplars-Written")


def _v2_message_class():
    source = re.sub(r"//[^\n]*", "", PROTO_V2.read_text())
    package = re.search(r"^package\s+([\w.]+)\s*;", source, re.M).group(1)
    assert package == "io.prometheus.write.v2", package
    messages = {name: _fields(body) for name, body in _blocks(source, "message")}
    # What the tests read, as the published schema has it.
    assert messages["Request"][0] == [(True, "string", "symbols", 4), (True, "TimeSeries", "timeseries", 5)]
    assert messages["TimeSeries"][0] == [(True, "uint32", "labels_refs", 1), (True, "Sample", "samples", 2),
                                         (True, "Histogram", "histograms", 3),
                                         (True, "Exemplar", "exemplars", 4),
                                         (False, "Metadata", "metadata", 5)]
    assert messages["Sample"][0] == [(False, "double", "value", 1), (False, "int64", "timestamp", 2),
                                     (False, "int64", "start_timestamp", 3)]
    assert messages["Metadata"][0] == [(False, "MetricType", "type", 1), (False, "uint32", "help_ref", 3),
                                       (False, "uint32", "unit_ref", 4)]
    assert (False, "int64", "start_timestamp", 17) in messages["Histogram"][0]
    assert (False, "sint32", "schema", 4) in messages["Histogram"][0]
    file = descriptor_pb2.FileDescriptorProto(name="weir_test/prompb_v2.proto", package=package,
                                              syntax="proto3")
    for name, (fields, enums) in messages.items():
        message = file.message_type.add(name=name)
        for repeated, typ, field, number in fields:
            f = message.field.add(name=field, number=number, json_name=field)
            f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            short = typ.split(".")[-1]
            if typ in SCALARS:
                f.type = SCALARS[typ]
            elif short in enums:
                f.type = _F.TYPE_INT32  # an enum on the wire is a varint
            else:
                f.type = _F.TYPE_MESSAGE
                f.type_name = f".{package}.{short}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.Request"))


RequestV2 = _v2_message_class()


def decode_v2(body: bytes):
    request = RequestV2()
    request.ParseFromString(snappy_decompress(body))
    return request


def is_v2(headers: dict) -> bool:
    """Whether a request's (lower-case) headers say its body is a 2.0 Request."""
    return headers.get("content-type", "").replace(" ", "") == CONTENT_TYPE_V2


def labels_of_v2(request, series) -> dict[str, str]:
    refs = list(series.labels_refs)
    return {request.symbols[refs[i]]: request.symbols[refs[i + 1]] for i in range(0, len(refs), 2)}


def written_counts(request) -> tuple[int, int, int]:
    """Samples, histograms and exemplars in a 2.0 request."""
    return (sum(len(s.samples) for s in request.timeseries),
            sum(len(s.histograms) for s in request.timeseries),
            sum(len(s.exemplars) for s in request.timeseries))


def spec_violations(request) -> list[str]:
    """The 2.0 spec's rules a request breaks (empty when it is valid)."""
    out = []
    symbols = list(request.symbols)
    n = len(symbols)
    if not symbols or symbols[0] != "":
        out.append("symbols[0] is not the empty string")

    def refs_ok(refs, what):
        refs = list(refs)
        if len(refs) % 2:
            out.append(f"{what}: odd number of refs")
        if any(r >= n for r in refs):
            out.append(f"{what}: ref out of range")
            return False
        return not len(refs) % 2

    for i, s in enumerate(request.timeseries):
        what = f"series {i}"
        if not s.labels_refs:
            out.append(f"{what}: no labels_refs")
        if refs_ok(s.labels_refs, what):
            refs = list(s.labels_refs)
            names = [symbols[refs[j]] for j in range(0, len(refs), 2)]
            values = [symbols[refs[j + 1]] for j in range(0, len(refs), 2)]
            if names != sorted(names) or len(set(names)) != len(names):
                out.append(f"{what}: label names not sorted and unique: {names}")
            if "__name__" not in names:
                out.append(f"{what}: no __name__")
            if "" in names or "" in values:
                out.append(f"{what}: an empty label name or value")
        if bool(s.samples) == bool(s.histograms):
            out.append(f"{what}: needs samples or histograms, not both or neither")
        for points in (s.samples, s.histograms):
            times = [p.timestamp for p in points]
            if times != sorted(times) or len(set(times)) != len(times):
                out.append(f"{what}: timestamps not increasing")
            for p in points:
                if p.start_timestamp > p.timestamp:
                    out.append(f"{what}: start timestamp after the sample")
        if not s.HasField("metadata"):
            out.append(f"{what}: no metadata")
        elif s.metadata.help_ref >= n or s.metadata.unit_ref >= n:
            out.append(f"{what}: metadata ref out of range")
        for e in s.exemplars:
            refs_ok(e.labels_refs, f"{what} exemplar")
            if e.timestamp <= 0:
                out.append(f"{what}: exemplar without a timestamp")
    return out


def answer_v2(n, record):
    """A 2.0 receiver's answer: 204 with the written counts of everything (for a 2.0 body)."""
    request = record.get("request")
    if record.get("version") != "2.0" or request is None:
        return 204, {}, ""
    return 204, dict(zip(WRITTEN_HEADERS, map(str, written_counts(request)))), ""


class RecordingReceiverV2(RecordingReceiver):
    """`RecordingReceiver` that also speaks 2.0: a body whose Content-Type names
    io.prometheus.write.v2.Request is decoded with `RequestV2` (record["version"] "2.0",
    and record["violations"] lists the spec rules it breaks), any other with the 1.0
    class (version "1.0"). The default answer is `answer_v2`."""

    def __init__(self, answer=None, delay=None):
        super().__init__(answer=answer or answer_v2, delay=delay)

    def handle(self, method, path, headers, body):
        lower = {k.lower(): v for k, v in headers.items()}
        version = "2.0" if is_v2(lower) else "1.0"
        record = {"method": method, "path": path, "body": body, "at": time.monotonic(),
                  "headers": lower, "thread": threading.current_thread().name, "version": version,
                  "violations": []}
        try:
            if method != "POST":
                record["request"] = None
            elif version == "2.0":
                record["request"] = decode_v2(body)
                record["violations"] = spec_violations(record["request"])
            else:
                record["request"] = decode(body)
        except Exception as err:  # noqa: BLE001 - recorded for the test to assert on
            record["request"] = None
            record["error"] = repr(err)
        if self.delay is not None:
            self.delay(record)
        with self.lock:
            n = len(self.records)
            status, answer_headers, text = self.answer(n, record)
            record["status"] = status
            self.records.append(record)
        return status, answer_headers, text
