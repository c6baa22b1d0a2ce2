"""Hostile-input catalogue, OTLP over gRPC (issue 12). The calls are written by hand over
HTTP/2 (hostile.grpc_call) so that a case can lie in the gRPC frame header, send a zstd
bomb, cut a frame short or leave the stream open. Each case checks the grpc-status, the
counter, and that a normal call is then still answered OK. One weir serves the module."""

from __future__ import annotations

import pytest

from harness import Weir, free_port
from hostile import (INTERNAL, INVALID_ARGUMENT, OK, RESOURCE_EXHAUSTED, SERVICES,
                     UNIMPLEMENTED, alive, gauge_request, grpc_call, grpc_frame, gzip_bomb,
                     kv, ld, logs_request, nested_array_value, refused, span, traces_request,
                     vi, zstd_rle_frame)

ACCEPTED = {"traces": "otelcol_receiver_accepted_spans_total",
            "metrics": "otelcol_receiver_accepted_metric_points_total",
            "logs": "otelcol_receiver_accepted_log_records_total"}


@pytest.fixture(scope="module")
def grpc(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-grpc") / "out.jsonl"
    port = free_port()
    weir = Weir(f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
        max_recv_msg_size_mib: 16
exporters:
  file:
    path: {out}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [file]}}
    metrics: {{receivers: [otlp], exporters: [file]}}
    logs: {{receivers: [otlp], exporters: [file]}}
""", name="hostile-grpc").start()
    yield weir, port
    weir.cleanup()


def normal_call_ok(port: int) -> bool:
    answer = grpc_call(port, SERVICES["traces"], grpc_frame(traces_request(span())))
    return answer.grpc_status == OK


def refused_case(grpc, signal, data, status, reason, headers=(), end_stream=True):
    weir, port = grpc
    before = refused(weir, transport="grpc", reason=reason)
    answer = grpc_call(port, SERVICES[signal], data, headers=headers, end_stream=end_stream)
    assert answer.grpc_status == status, answer
    assert refused(weir, transport="grpc", reason=reason) == before + 1
    assert normal_call_ok(port) and alive(weir), weir.log()[-2000:]
    return answer


def accepted_case(grpc, signal, message, items):
    weir, port = grpc
    before_items = weir.metric(ACCEPTED[signal], transport="grpc")
    before_refused = refused(weir, transport="grpc")
    answer = grpc_call(port, SERVICES[signal], grpc_frame(message))
    assert answer.grpc_status == OK, answer
    assert weir.metric(ACCEPTED[signal], transport="grpc") == before_items + items
    assert refused(weir, transport="grpc") == before_refused
    assert normal_call_ok(port) and alive(weir)


# --- compression bombs ------------------------------------------------------------------

def test_gzip_bomb_is_resource_exhausted(grpc):
    refused_case(grpc, "traces", grpc_frame(gzip_bomb(256 << 20), compressed=True),
                 RESOURCE_EXHAUSTED, "too_large", headers=[("grpc-encoding", "gzip")])


def test_zstd_bomb_of_a_gigabyte_is_resource_exhausted(grpc):
    refused_case(grpc, "logs", grpc_frame(zstd_rle_frame(1 << 30), compressed=True),
                 RESOURCE_EXHAUSTED, "too_large", headers=[("grpc-encoding", "zstd")])


# --- frame lengths ----------------------------------------------------------------------

def test_frame_claiming_four_gigabytes_is_refused_from_its_header(grpc):
    # The stream stays open: the answer must come from the 5-byte header alone, without
    # waiting for (or buffering) the 4 GiB it announces.
    refused_case(grpc, "traces", grpc_frame(b"\x0a\x00", length=0xFFFFFFFF), RESOURCE_EXHAUSTED,
                 "too_large", end_stream=False)


def test_frame_cut_short_is_malformed(grpc):
    message = traces_request(span())
    refused_case(grpc, "traces", grpc_frame(message[:10], length=len(message)),
                 INVALID_ARGUMENT, "malformed")


def test_frame_prefix_cut_short_is_malformed(grpc):
    refused_case(grpc, "metrics", b"\x00\x00\x00", INVALID_ARGUMENT, "malformed")


def test_call_without_a_message_is_malformed(grpc):
    refused_case(grpc, "logs", b"", INVALID_ARGUMENT, "malformed")


def test_compressed_flag_without_an_encoding_is_refused(grpc):
    answer = refused_case(grpc, "traces", grpc_frame(traces_request(span()), compressed=True),
                          INVALID_ARGUMENT, "malformed")
    assert answer.grpc_status in (INVALID_ARGUMENT, INTERNAL)


def test_unknown_grpc_encoding_is_unimplemented(grpc):
    refused_case(grpc, "traces", grpc_frame(b"\x1f\x8b", compressed=True), UNIMPLEMENTED,
                 "unsupported_encoding", headers=[("grpc-encoding", "br")])


def test_protobuf_length_prefix_of_four_gigabytes_is_malformed(grpc):
    message = b"\x0a\x80\x80\x80\x80\x10" + b"\x12\x00"
    refused_case(grpc, "traces", grpc_frame(message), INVALID_ARGUMENT, "malformed")


def test_message_over_the_size_limit_is_resource_exhausted(grpc):
    message = logs_request(body=ld(1, b"x" * (17 << 20)))
    refused_case(grpc, "logs", grpc_frame(message), RESOURCE_EXHAUSTED, "too_large")


# --- content ----------------------------------------------------------------------------

@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_empty_message_is_accepted(grpc, signal):
    accepted_case(grpc, signal, b"", 0)


def test_a_million_attributes_on_one_span_are_accepted(grpc):
    attribute = ld(9, kv(b"k", vi(3, 7)))
    accepted_case(grpc, "traces", traces_request(span(b"wide", attribute * 1_000_000)), 1)


def test_invalid_utf8_span_name_is_malformed(grpc):
    refused_case(grpc, "traces", grpc_frame(traces_request(span(b"\xff\xff"))), INVALID_ARGUMENT,
                 "malformed")


def test_any_value_nested_ten_thousand_deep_is_malformed(grpc):
    refused_case(grpc, "logs", grpc_frame(logs_request(body=nested_array_value(10_000))),
                 INVALID_ARGUMENT, "malformed")


def test_nan_and_infinities_are_accepted(grpc):
    accepted_case(grpc, "metrics", gauge_request(float("nan"), float("inf"), float("-inf")), 3)


def test_second_message_in_a_unary_call_is_ignored(grpc):
    message = traces_request(span())
    weir, port = grpc
    before = weir.metric(ACCEPTED["traces"], transport="grpc")
    answer = grpc_call(port, SERVICES["traces"], grpc_frame(message) + grpc_frame(message))
    assert answer.grpc_status == OK, answer
    assert weir.metric(ACCEPTED["traces"], transport="grpc") == before + 1
    assert normal_call_ok(port) and alive(weir)


def test_unknown_method_is_unimplemented(grpc):
    weir, port = grpc
    before = refused(weir, transport="grpc", reason="not_found")
    answer = grpc_call(port, "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
                       grpc_frame(b""))
    assert answer.grpc_status == UNIMPLEMENTED, answer
    assert refused(weir, transport="grpc", reason="not_found") == before + 1
    assert normal_call_ok(port) and alive(weir)
