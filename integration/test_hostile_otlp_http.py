"""Hostile-input catalogue, OTLP over HTTP (issue 12): compression bombs, lengths that claim
gigabytes, a million attributes, deep nesting (JSON and protobuf any-values), invalid
UTF-8, NaN and infinities, empty messages, truncated bodies, wrong content types and
encodings. Each case checks the answer, the counter, and that the same weir process then
still accepts a normal request. One weir serves the whole module; counters are compared
before and after each case."""

from __future__ import annotations

import json

import pytest

from harness import Weir, free_port, http_post, read_file_exporter_output, wait_until
from hostile import (JSON, PATHS, PROTO, alive, gauge_request, gzip_bomb, http_ok, kv, ld,
                     logs_request, nested_array_value, raw_http, refused, span, status_of,
                     traces_request, varint, vi, zstd_rle_frame)

BOMB = 256 << 20  # inflated size of the bombs: far past the 20 MiB default body limit


@pytest.fixture(scope="module")
def otlp(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-http") / "out.jsonl"
    port = free_port()
    weir = Weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
exporters:
  file:
    path: {out}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [file]}}
    metrics: {{receivers: [otlp], exporters: [file]}}
    logs: {{receivers: [otlp], exporters: [file]}}
""", name="hostile-http").start()
    yield weir, port, out
    weir.cleanup()


def post(port: int, signal: str, body: bytes, headers: dict, timeout: float = 60.0):
    status, _, reply = http_post(f"http://127.0.0.1:{port}{PATHS[signal]}", body, headers,
                                 timeout=timeout)
    return status, reply


def refused_case(otlp, signal, body, headers, status, reason):
    """Posts `body`; expects `status`, one more refusal under `reason`, and a normal request
    accepted afterwards."""
    weir, port, _ = otlp
    before = refused(weir, transport="http", reason=reason)
    got, reply = post(port, signal, body, headers)
    assert got == status, reply[:300]
    assert refused(weir, transport="http", reason=reason) == before + 1
    assert http_ok(port, signal) and alive(weir), weir.log()[-2000:]


def accepted_case(otlp, signal, body, headers, items):
    """Posts `body`; expects 200 and `items` more accepted items of the signal."""
    weir, port, _ = otlp
    metric = {"traces": "otelcol_receiver_accepted_spans_total",
              "metrics": "otelcol_receiver_accepted_metric_points_total",
              "logs": "otelcol_receiver_accepted_log_records_total"}[signal]
    before_items = weir.metric(metric, transport="http")
    before_refused = refused(weir, transport="http")
    got, reply = post(port, signal, body, headers)
    assert got == 200, reply[:300]
    assert weir.metric(metric, transport="http") == before_items + items
    assert refused(weir, transport="http") == before_refused
    assert http_ok(port, signal) and alive(weir), weir.log()[-2000:]


# --- compression bombs ------------------------------------------------------------------

def test_gzip_bomb_is_refused_as_too_large(otlp):
    bomb = gzip_bomb(BOMB)
    assert len(bomb) < 1 << 20
    refused_case(otlp, "traces", bomb, {**PROTO, "Content-Encoding": "gzip"}, 413, "too_large")


def test_zstd_bomb_of_a_gigabyte_is_refused_as_too_large(otlp):
    bomb = zstd_rle_frame(1 << 30)
    assert len(bomb) < 64 << 10
    refused_case(otlp, "logs", bomb, {**PROTO, "Content-Encoding": "zstd"}, 413, "too_large")


def test_zstd_frame_asking_for_a_2_gib_window_is_refused(otlp):
    frame = zstd_rle_frame(1024, window_log=31)
    refused_case(otlp, "traces", frame, {**PROTO, "Content-Encoding": "zstd"}, 400, "malformed")


def test_gzip_inside_gzip_is_malformed_protobuf(otlp):
    import gzip
    body = gzip.compress(gzip.compress(traces_request(span())))
    refused_case(otlp, "traces", body, {**PROTO, "Content-Encoding": "gzip"}, 400, "malformed")


# --- lengths that claim gigabytes -------------------------------------------------------

def test_content_length_of_ten_gigabytes_is_refused_before_reading(otlp):
    weir, port, _ = otlp
    before = refused(weir, transport="http", reason="too_large")
    reply = raw_http(port, b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/x-protobuf\r\n"
                           b"Content-Length: 10737418240\r\n\r\n", b"\x0a\x00")
    assert status_of(reply) == 413, reply[:200]
    assert refused(weir, transport="http", reason="too_large") == before + 1
    assert http_ok(port) and alive(weir)


def test_content_length_past_u64_is_a_bad_request(otlp):
    # hyper refuses the request line before Weir sees it: nothing is accepted or counted
    # as a refusal by the receiver, and the connection is closed.
    weir, port, _ = otlp
    before = refused(weir, transport="http")
    reply = raw_http(port, b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/x-protobuf\r\n"
                           b"Content-Length: 99999999999999999999999\r\n\r\n")
    assert status_of(reply) == 400, reply[:200]
    assert refused(weir, transport="http") == before
    assert http_ok(port) and alive(weir)


def test_protobuf_length_prefix_of_four_gigabytes_is_malformed(otlp):
    # resource_spans (field 1) says 4 GiB follow; six bytes do.
    body = b"\x0a" + varint(4 << 30) + b"\x12\x04\x12\x02\x2a\x00"
    refused_case(otlp, "traces", body, PROTO, 400, "malformed")


def test_protobuf_length_varint_past_64_bits_is_malformed(otlp):
    body = b"\x0a" + b"\xff" * 10 + b"\x01" + b"\x00" * 8
    refused_case(otlp, "metrics", body, PROTO, 400, "malformed")


def test_chunked_body_past_the_limit_is_refused(otlp):
    # No Content-Length: the limit is enforced while reading the chunks.
    weir, port, _ = otlp
    before = refused(weir, transport="http", reason="too_large")
    chunk = b"\x00" * (1 << 20)
    body = b"".join(b"100000\r\n" + chunk + b"\r\n" for _ in range(24)) + b"0\r\n\r\n"
    reply = raw_http(port, b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/x-protobuf\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n", body)
    assert status_of(reply) == 413, reply[:200]
    assert refused(weir, transport="http", reason="too_large") == before + 1
    assert http_ok(port, "logs") and alive(weir)


# --- size and shape ---------------------------------------------------------------------

def test_a_million_attributes_on_one_span_are_accepted(otlp):
    attribute = ld(9, kv(b"k", vi(3, 7)))
    body = traces_request(span(b"wide", attribute * 1_000_000))
    assert len(body) < 20 << 20
    accepted_case(otlp, "traces", body, PROTO, 1)


def test_a_million_empty_resources_are_accepted_without_items(otlp):
    body = b"\x0a\x00" * 1_000_000
    accepted_case(otlp, "traces", body, PROTO, 0)


def test_any_value_nested_a_hundred_thousand_deep_is_malformed(otlp):
    body = logs_request(body=nested_array_value(100_000))
    refused_case(otlp, "logs", body, PROTO, 400, "malformed")


def test_any_value_nested_within_the_limit_is_accepted_and_exported(otlp):
    weir, port, out = otlp
    accepted_case(otlp, "logs", logs_request(body=nested_array_value(40)), PROTO, 1)

    def deep_record_written():
        for doc in read_file_exporter_output(out):
            for rl in doc.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    for record in sl.get("logRecords", []):
                        if "arrayValue" in record.get("body", {}):
                            return True
        return False
    wait_until(deep_record_written, timeout=15, what="the nested body in the file exporter")


def test_json_nested_a_hundred_thousand_deep_is_malformed(otlp):
    depth = 100_000
    value = '{"kvlistValue":{"values":[{"key":"k","value":' * depth + '{"intValue":"1"}' \
        + "}]}}" * depth
    body = ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + value + "}]}]}]}").encode()
    refused_case(otlp, "logs", body, JSON, 400, "malformed")


def test_json_of_a_million_nested_arrays_is_malformed(otlp):
    body = b'{"resourceSpans":' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"
    refused_case(otlp, "traces", body, JSON, 400, "malformed")


# --- invalid UTF-8 ----------------------------------------------------------------------

def test_invalid_utf8_span_name_is_malformed(otlp):
    refused_case(otlp, "traces", traces_request(span(b"bad\xff\xfename")), PROTO, 400,
                 "malformed")


def test_invalid_utf8_attribute_key_is_malformed(otlp):
    body = traces_request(span(b"ok", ld(9, kv(b"\xc3\x28", vi(3, 1)))))
    refused_case(otlp, "traces", body, PROTO, 400, "malformed")


def test_invalid_utf8_in_json_is_malformed(otlp):
    body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\xff\xfe"}}]}]}]}'
    refused_case(otlp, "logs", body, JSON, 400, "malformed")


# --- NaN and infinities -----------------------------------------------------------------

def test_nan_and_infinities_in_protobuf_gauges_are_accepted(otlp):
    body = gauge_request(float("nan"), float("inf"), float("-inf"), name=b"nan_gauge_pb")
    accepted_case(otlp, "metrics", body, PROTO, 3)


def test_nan_and_infinities_in_json_gauges_are_accepted_and_exported(otlp):
    weir, port, out = otlp
    points = ",".join(f'{{"timeUnixNano":"1700000000000000000","asDouble":"{v}"}}'
                      for v in ("NaN", "Infinity", "-Infinity"))
    body = ('{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"nan_gauge_json",'
            '"gauge":{"dataPoints":[' + points + "]}}]}]}]}").encode()
    accepted_case(otlp, "metrics", body, JSON, 3)

    def exported_values():
        for doc in read_file_exporter_output(out):
            for rm in doc.get("resourceMetrics", []):
                for sm in rm.get("scopeMetrics", []):
                    for metric in sm.get("metrics", []):
                        if metric.get("name") == "nan_gauge_json":
                            return [p.get("asDouble") for p in metric["gauge"]["dataPoints"]]
        return None
    values = wait_until(exported_values, timeout=15, what="the NaN gauge in the file exporter")
    assert [str(v) for v in values] == ["NaN", "Infinity", "-Infinity"], values


# --- empty messages ---------------------------------------------------------------------

@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_empty_protobuf_request_is_accepted(otlp, signal):
    accepted_case(otlp, signal, b"", PROTO, 0)


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_empty_json_request_is_accepted(otlp, signal):
    accepted_case(otlp, signal, b"{}", JSON, 0)


def test_resources_scopes_and_items_all_empty_are_accepted(otlp):
    # One resource, one scope, one span with no fields at all.
    accepted_case(otlp, "traces", ld(1, ld(2, ld(2, b""))), PROTO, 1)


# --- truncated, wrong type, wrong encoding ----------------------------------------------

def test_truncated_protobuf_is_malformed(otlp):
    body = traces_request(span(b"x" * 100))
    refused_case(otlp, "traces", body[: len(body) // 2], PROTO, 400, "malformed")


def test_unknown_content_encoding_is_unsupported(otlp):
    refused_case(otlp, "traces", traces_request(span()), {**PROTO, "Content-Encoding": "br"},
                 415, "unsupported_encoding")


def test_gzip_encoding_on_a_plain_body_is_malformed(otlp):
    refused_case(otlp, "metrics", gauge_request(1.0), {**PROTO, "Content-Encoding": "gzip"},
                 400, "malformed")


def test_grpc_content_type_on_the_http_path_is_unsupported(otlp):
    refused_case(otlp, "traces", traces_request(span()), {"Content-Type": "application/grpc"},
                 415, "unsupported_media_type")


def test_missing_content_type_is_unsupported(otlp):
    weir, port, _ = otlp
    before = refused(weir, transport="http", reason="unsupported_media_type")
    body = traces_request(span())
    reply = raw_http(port, b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body), body)
    assert status_of(reply) == 415, reply[:200]
    assert refused(weir, transport="http", reason="unsupported_media_type") == before + 1
    assert http_ok(port) and alive(weir)


def test_protobuf_sent_as_json_is_malformed(otlp):
    refused_case(otlp, "traces", traces_request(span()), JSON, 400, "malformed")


def test_json_with_a_wrong_type_for_a_field_is_malformed(otlp):
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": "not a list"}]}]}).encode()
    refused_case(otlp, "traces", body, JSON, 400, "malformed")


def test_not_http_at_all_gets_a_bad_request_and_the_server_lives_on(otlp):
    weir, port, _ = otlp
    before = refused(weir, transport="http")
    reply = raw_http(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 500,
                     read_all=True, timeout=5)
    assert reply == b"" or status_of(reply) == 400, reply[:200]
    assert refused(weir, transport="http") == before
    assert http_ok(port) and alive(weir)


def test_a_megabyte_of_headers_is_refused(otlp):
    weir, port, _ = otlp
    before = refused(weir, transport="http")
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(1000))
    reply = raw_http(port, b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
                     + b"Content-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
                     read_all=True, timeout=5)
    assert status_of(reply) in (400, 431), reply[:200]
    assert refused(weir, transport="http") == before
    assert http_ok(port) and alive(weir)
