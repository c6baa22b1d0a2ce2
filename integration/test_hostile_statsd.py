"""Hostile-input catalogue, StatsD (issue 12): invalid UTF-8, NaN and infinities, oversized
datagrams and lines, floods of garbage, absurd event lengths and sample rates, over UDP
and TCP. Each case checks the receiver's counters (`weir_statsd_receiver_invalid_lines`
by reason, `weir_statsd_receiver_lines`) and that a normal line sent afterwards is still
aggregated. One weir serves the module."""

from __future__ import annotations

import socket

import pytest

from harness import Weir, free_port, free_udp_port, wait_until
from hostile import alive


@pytest.fixture(scope="module")
def statsd(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-statsd") / "out.jsonl"
    udp, tcp = free_udp_port(), free_port()
    weir = Weir(f"""
receivers:
  statsd:
    endpoint: 127.0.0.1:{udp}
    aggregation_interval: 1s
  statsd/tcp:
    endpoint: 127.0.0.1:{tcp}
    transport: tcp
    aggregation_interval: 1s
exporters:
  file:
    path: {out}
service:
  pipelines:
    metrics: {{receivers: [statsd, statsd/tcp], exporters: [file]}}
    logs: {{receivers: [statsd, statsd/tcp], exporters: [file]}}
""", name="hostile-statsd").start()
    yield weir, udp, tcp
    weir.cleanup()


def lines(weir, receiver="statsd") -> float:
    return weir.metric("weir_statsd_receiver_lines_total", receiver=receiver)


def invalid(weir, reason=None, receiver="statsd") -> float:
    labels = {"receiver": receiver}
    if reason:
        labels["reason"] = reason
    return weir.metric("weir_statsd_receiver_invalid_lines_total", **labels)


def send_udp(port: int, datagram: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(datagram, ("127.0.0.1", port))


def still_aggregates(weir, port: int) -> None:
    """A normal line sent now is parsed and aggregated."""
    before = lines(weir)
    send_udp(port, b"hostile.after:1|c")
    wait_until(lambda: lines(weir) >= before + 1, timeout=10, what="a normal line aggregated")
    assert alive(weir), weir.log()[-2000:]


def rejected_case(statsd, datagram: bytes, reason: str, count: int = 1, good: int = 0):
    """Sends one datagram; expects `count` more rejections under `reason`, `good` more
    aggregated lines, and the receiver still aggregating afterwards."""
    weir, udp, _ = statsd
    before_invalid, before_lines = invalid(weir, reason), lines(weir)
    send_udp(udp, datagram)
    wait_until(lambda: invalid(weir, reason) >= before_invalid + count, timeout=10,
               what=f"{count} line(s) rejected as {reason}")
    assert invalid(weir, reason) == before_invalid + count
    still_aggregates(weir, udp)
    # `good` lines of the datagram plus the one still_aggregates sent.
    assert lines(weir) == before_lines + good + 1


def test_invalid_utf8_line_is_rejected_and_its_neighbours_kept(statsd):
    rejected_case(statsd, b"ok.before:1|c\nbad.\xff\xfe:1|c\nok.after:2|c", "invalid_utf8", good=2)


def test_nan_value_is_rejected(statsd):
    rejected_case(statsd, b"nan.gauge:NaN|g", "bad_value")


def test_infinite_values_are_rejected(statsd):
    rejected_case(statsd, b"inf.counter:inf|c\ninf.timer:-Infinity|ms", "bad_value", count=2)


def test_value_overflowing_to_infinity_is_rejected(statsd):
    rejected_case(statsd, b"huge.gauge:1e999|g", "bad_value")


def test_line_of_sixty_kilobytes_is_too_long(statsd):
    rejected_case(statsd, b"long.name" + b"x" * 60_000 + b":1|c", "too_long")


def test_largest_udp_datagram_of_valid_lines_is_aggregated_whole(statsd):
    weir, udp, _ = statsd
    line = b"max.dgram:1|c\n"
    count = 65_507 // len(line)
    before, before_invalid = lines(weir), invalid(weir)
    send_udp(udp, line * count)
    wait_until(lambda: lines(weir) >= before + count, timeout=10, what="every line aggregated")
    assert lines(weir) == before + count
    assert invalid(weir) == before_invalid
    still_aggregates(weir, udp)


def test_flood_of_garbage_lines_is_counted_line_by_line(statsd):
    rejected_case(statsd, b"\n".join([b"garbage without a colon"] * 2500), "missing_value",
                  count=2500)


def test_empty_datagram_and_bare_newlines_count_nothing(statsd):
    weir, udp, _ = statsd
    before_invalid, before_lines = invalid(weir), lines(weir)
    send_udp(udp, b"")
    send_udp(udp, b"\n\n\r\n\n")
    still_aggregates(weir, udp)
    assert invalid(weir) == before_invalid
    assert lines(weir) == before_lines + 1


def test_event_declaring_absurd_lengths_is_rejected(statsd):
    rejected_case(statsd, b"_e{99999999999999999999,1}:title|t", "bad_event")


def test_event_lengths_past_the_line_are_rejected(statsd):
    rejected_case(statsd, b"_e{500,500}:short|text", "bad_event")


@pytest.mark.parametrize("rate", [b"nan", b"-1", b"2", b"inf"])
def test_sample_rate_outside_zero_to_one_is_rejected(statsd, rate):
    rejected_case(statsd, b"rated:1|c|@" + rate, "bad_sample_rate")


def test_tcp_line_without_an_end_is_skipped_and_the_stream_goes_on(statsd):
    weir, udp, tcp = statsd
    before_too_long = invalid(weir, "too_long", receiver="statsd/tcp")
    before_lines = lines(weir, receiver="statsd/tcp")
    with socket.create_connection(("127.0.0.1", tcp), timeout=10) as conn:
        conn.sendall(b"endless" + b"x" * (1 << 20))
        conn.sendall(b":1|c\ntcp.after:1|c\n")
        wait_until(lambda: lines(weir, receiver="statsd/tcp") >= before_lines + 1, timeout=10,
                   what="the line after the endless one")
    assert invalid(weir, "too_long", receiver="statsd/tcp") == before_too_long + 1
    assert lines(weir, receiver="statsd/tcp") == before_lines + 1
    still_aggregates(weir, udp)


def test_tcp_invalid_utf8_is_rejected(statsd):
    weir, udp, tcp = statsd
    before = invalid(weir, "invalid_utf8", receiver="statsd/tcp")
    with socket.create_connection(("127.0.0.1", tcp), timeout=10) as conn:
        conn.sendall(b"tcp.bad\xc0\xaf:1|c\n")
        wait_until(lambda: invalid(weir, "invalid_utf8", receiver="statsd/tcp") >= before + 1,
                   timeout=10, what="the TCP line rejected")
    still_aggregates(weir, udp)


def test_thousands_of_tags_on_one_line_are_aggregated(statsd):
    weir, udp, _ = statsd
    tags = b",".join(b"k%d:v" % i for i in range(1500))
    before, before_invalid = lines(weir), invalid(weir)
    send_udp(udp, b"many.tags:1|c|#" + tags)
    wait_until(lambda: lines(weir) >= before + 1, timeout=10, what="the tagged line")
    assert invalid(weir) == before_invalid
    still_aggregates(weir, udp)


def test_tiny_sample_rate_does_not_overflow_the_histogram(statsd):
    # Found by fuzzing: each observation weighed u64::MAX, so the second one overflowed
    # the histogram's count (a panic in debug builds, a wrapped count in release).
    weir, udp, _ = statsd
    before, before_invalid = lines(weir), invalid(weir)
    send_udp(udp, b"tiny.rate:2|ms|@1e-30\ntiny.rate:2|ms|@1e-30\ntiny.rate:3|h|@1e-300")
    wait_until(lambda: lines(weir) >= before + 3, timeout=10, what="the three lines")
    assert invalid(weir) == before_invalid
    still_aggregates(weir, udp)
