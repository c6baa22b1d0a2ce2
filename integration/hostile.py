"""Helpers for the hostile-input catalogue (integration/test_hostile_*.py): raw protobuf
encoding (so a test can write what no SDK would), compression bombs, a raw HTTP/2 gRPC
client (lying frame lengths, zstd, truncated frames), and a Weir started once per test
module whose counters each case reads as deltas.

Nothing here sends anywhere but 127.0.0.1, and every wait is bounded."""

from __future__ import annotations

import socket
import struct
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache

import h2.config
import h2.connection
import h2.events

from harness import http_post

# --- raw protobuf -----------------------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def ld(field: int, data: bytes) -> bytes:
    """A length-delimited field."""
    return varint(field << 3 | 2) + varint(len(data)) + data


def vi(field: int, value: int) -> bytes:
    """A varint field."""
    return varint(field << 3) + varint(value)


def f64(field: int, value: float) -> bytes:
    """A double (fixed64) field."""
    return varint(field << 3 | 1) + struct.pack("<d", value)


def fixed64(field: int, value: int) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<Q", value)


def kv(key: bytes, any_value: bytes) -> bytes:
    """A KeyValue message."""
    return ld(1, key) + ld(2, any_value)


def span(name: bytes = b"ok", attributes: bytes = b"", span_id: int = 1) -> bytes:
    """A Span message; `attributes` are already-encoded field-9 entries."""
    return (ld(1, bytes(range(16))) + ld(2, struct.pack(">Q", span_id)) + ld(5, name)
            + fixed64(7, 1_700_000_000_000_000_000) + fixed64(8, 1_700_000_000_000_001_000)
            + attributes)


def traces_request(*spans: bytes, resource_attributes: bytes = b"") -> bytes:
    """ExportTraceServiceRequest with one resource and one scope holding `spans`."""
    scope = b"".join(ld(2, s) for s in spans)
    resource = ld(1, resource_attributes) if resource_attributes else b""
    return ld(1, resource + ld(2, scope))


def gauge_request(*values: float, name: bytes = b"g") -> bytes:
    """ExportMetricsServiceRequest: one gauge `name` with one double point per value."""
    points = b"".join(
        ld(1, fixed64(3, 1_700_000_000_000_000_000 + i) + f64(4, v)) for i, v in enumerate(values)
    )
    metric = ld(1, name) + ld(5, points)
    return ld(1, ld(2, ld(2, metric)))


def logs_request(body: bytes = ld(1, b"hello"), attributes: bytes = b"") -> bytes:
    """ExportLogsServiceRequest: one record with AnyValue `body`."""
    record = fixed64(1, 1_700_000_000_000_000_000) + ld(5, body) + attributes
    return ld(1, ld(2, ld(2, record)))


def nested_array_value(depth: int) -> bytes:
    """An AnyValue nested `depth` times as array_value { values: [ ... ] } around an int.
    Built from the inside out without copying the growing message at every level."""
    inner = vi(3, 1)
    length = len(inner)
    prefixes = []
    for _ in range(depth):
        values = b"\x0a" + varint(length)  # ArrayValue.values (field 1)
        array = b"\x2a" + varint(len(values) + length)  # AnyValue.array_value (field 5)
        prefixes.append(array + values)
        length += len(array) + len(values)
    prefixes.reverse()
    return b"".join(prefixes) + inner


# --- compression bombs ------------------------------------------------------------------


@lru_cache(maxsize=None)
def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzipped (about 1000:1), compressed in 1 MiB steps."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def zstd_rle_frame(size: int, byte: int = 0, window_log: int = 23) -> bytes:
    """A zstd frame that inflates to `size` copies of `byte`: RLE blocks of 128 KiB, 4
    bytes each on the wire (RFC 8878 section 3.1.1.2), so 1 GiB is a 32 KiB frame. The frame
    header states no content size and a window of 2**window_log bytes."""
    out = [struct.pack("<I", 0xFD2FB528), bytes([0x00, (window_log - 10) << 3])]
    block = 128 * 1024
    remaining = size
    while remaining > 0:
        n = min(block, remaining)
        remaining -= n
        header = (1 if remaining == 0 else 0) | (1 << 1) | (n << 3)  # last, RLE, size
        out.append(header.to_bytes(3, "little") + bytes([byte]))
    return b"".join(out)


# --- OTLP/HTTP --------------------------------------------------------------------------

PROTO = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}


def raw_http(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0,
             read_all: bool = False) -> bytes:
    """Writes `head` (and `body`) on a fresh connection and returns what the server answers
    until it closes or `timeout`; a reset after the answer is not an error."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            conn.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = conn.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            reply += data
            if not read_all and b"\r\n\r\n" in reply:
                break
        return reply


def status_of(reply: bytes) -> int:
    """The status code of a raw HTTP/1.1 answer (0 when there is none)."""
    if not reply.startswith(b"HTTP/1.1 "):
        return 0
    return int(reply[9:12])


# --- gRPC over raw HTTP/2 ---------------------------------------------------------------

SERVICES = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

# gRPC status codes the cases expect.
OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL = 0, 3, 8, 12, 13


def grpc_frame(message: bytes, compressed: bool = False, length: int | None = None) -> bytes:
    """The 5-byte gRPC message prefix (compressed flag, big-endian length) and the message.
    `length` overrides the stated length, to lie about it."""
    stated = len(message) if length is None else length
    return bytes([1 if compressed else 0]) + struct.pack(">I", stated) + message


@dataclass
class GrpcAnswer:
    http_status: int | None
    grpc_status: int | None
    message: str
    reset: bool  # the stream was reset or the connection closed without trailers


def grpc_call(port: int, path: str, data: bytes, *, headers: list[tuple[str, str]] = (),
              end_stream: bool = True, timeout: float = 15.0) -> GrpcAnswer:
    """One gRPC call written by hand over HTTP/2: the request headers, then `data` (gRPC
    frames, possibly lying) as DATA frames respecting flow control, ending the stream unless
    `end_stream` is false. Returns the answer's HTTP status and grpc-status (from the
    trailers, or from a trailers-only answer)."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                header_encoding="utf-8"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    deadline = time.monotonic() + timeout
    answer = GrpcAnswer(None, None, "", False)
    done = False

    def pump() -> None:
        nonlocal done
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            raw = sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            raw = b""
        if not raw:
            answer.reset = answer.grpc_status is None
            done = True
            return
        for event in conn.receive_data(raw):
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                for name, value in event.headers:
                    if name == ":status":
                        answer.http_status = int(value)
                    elif name == "grpc-status":
                        answer.grpc_status = int(value)
                    elif name == "grpc-message":
                        answer.message = value
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                done = True
            elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                answer.reset = answer.grpc_status is None
                done = True
        sock.sendall(conn.data_to_send())

    try:
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", f"127.0.0.1:{port}"), ("content-type", "application/grpc"),
            ("te", "trailers"), *headers,
        ])
        sock.sendall(conn.data_to_send())
        offset = 0
        while not done and time.monotonic() < deadline:
            if offset == len(data):
                if end_stream:
                    conn.end_stream(stream)
                    sock.sendall(conn.data_to_send())
                break
            window = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
            if window <= 0:
                pump()
                continue
            chunk = data[offset:offset + window]
            conn.send_data(stream, chunk)
            offset += len(chunk)
            sock.sendall(conn.data_to_send())
        while not done and time.monotonic() < deadline:
            pump()
    except (BrokenPipeError, ConnectionResetError, h2.exceptions.ProtocolError,
            h2.exceptions.StreamClosedError):
        answer.reset = answer.grpc_status is None
    finally:
        sock.close()
    return answer


# --- metrics ----------------------------------------------------------------------------


def refused(weir, **labels) -> float:
    return weir.metric("weir_receiver_refused_requests_total", **labels)


def http_ok(port: int, signal: str = "traces") -> bool:
    """A normal OTLP/HTTP request still succeeds."""
    body = {"traces": traces_request(span()), "metrics": gauge_request(1.0),
            "logs": logs_request()}[signal]
    return http_post(f"http://127.0.0.1:{port}{PATHS[signal]}", body, PROTO)[0] == 200


def alive(weir) -> bool:
    return weir.proc is not None and weir.proc.poll() is None
