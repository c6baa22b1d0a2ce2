"""Remote-write 2.0 end to end (issue 13, items 5 and 8): `prometheusremotewrite` with
`protobuf_message: io.prometheus.write.v2.Request`.

No installable receiver speaks 2.0, so the receiver is rw_proto.RecordingReceiverV2: it
decodes every request with a decoder built from the published v2 .proto (independent of
Weir's Rust types), checks each against the spec's rules (rw_proto.spec_violations:
symbols[0] == "", refs in range and even, labels sorted and unique, `__name__` present,
start timestamp <= sample timestamp, metadata refs valid) and answers as the spec says,
with the written-count headers. Sources: Weir's `prometheus` receiver scraping a small
HTTP target (OpenMetrics text with HELP, UNIT, `_created` and an exemplar), and the
OpenTelemetry Python SDK over OTLP/gRPC. Then the answers a sender must handle: a
partial write, a 4xx without the headers, a 415 and a 2xx without the headers (both fall
back to 1.0).
"""

from __future__ import annotations

import http.server
import math
import re
import struct
import threading
import time

import pytest

from harness import CONFORMANCE, REPO, free_port, wait_until
from rw_proto import (
    METRIC_TYPES_V2,
    STALE_NAN_BITS,
    WRITTEN_HEADERS,
    RecordingReceiverV2,
    labels_of,
    labels_of_v2,
    written_counts,
)

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

V2 = "    protobuf_message: io.prometheus.write.v2.Request\n"
ONE_LANE = V2 + "    remote_write_queue:\n      num_consumers: 1\n"

EXPOSITION = """# TYPE requests counter
# HELP requests Requests served.
requests_total{path="/a"} 10 # {trace_id="0123456789abcdef0123456789abcdef"} 1.0
requests_created{path="/a"} 1700000000.123
# TYPE temperature_celsius gauge
# UNIT temperature_celsius celsius
# HELP temperature_celsius Room temperature.
temperature_celsius 21.5
# TYPE latency_seconds histogram
# HELP latency_seconds Request latency.
latency_seconds_bucket{le="1"} 1
latency_seconds_bucket{le="2"} 2
latency_seconds_bucket{le="+Inf"} 2
latency_seconds_sum 3
latency_seconds_count 2
# TYPE rpc summary
# HELP rpc RPC durations.
rpc{quantile="0.5"} 2
rpc{quantile="0.9"} 3
rpc_sum 6
rpc_count 3
# TYPE other unknown
other 7
# EOF
"""


class Target:
    """The scraped target: OpenMetrics text; answers 503 once `failing` is set."""

    def __init__(self, body: str):
        self.body = body
        self.failing = False
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                data = target.body.encode()
                self.send_response(503 if target.failing else 200)
                self.send_header("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def scrape_config(target: Target, receiver: RecordingReceiverV2, extra: str = V2) -> str:
    return f"""
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: test
          scrape_interval: 1s
          scrape_timeout: 900ms
          static_configs:
            - targets: ['{target.address}']
exporters:
  prometheusremotewrite:
    endpoint: {receiver.url}
    target_info:
      enabled: false
    export_created_metric:
      enabled: true
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 200ms
{extra}
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [prometheusremotewrite]
"""


@pytest.fixture
def scrape(start_weir):
    """Starts a target, a 2.0 receiver and Weir between them; closes them after the test."""
    made = []

    def make(answer=None, body=EXPOSITION, extra=V2):
        target = Target(body)
        receiver = RecordingReceiverV2(answer=answer)
        made.append((target, receiver))
        weir = start_weir(scrape_config(target, receiver, extra))
        return target, receiver, weir

    yield make
    for target, receiver in made:
        receiver.close()
        target.close()


def series_v2(receiver: RecordingReceiverV2, accepted_only: bool = True):
    """(labels, series, request) of every series of every decoded 2.0 request."""
    records = receiver.accepted() if accepted_only else receiver.all()
    out = []
    for record in records:
        if record["version"] != "2.0" or record["request"] is None:
            continue
        request = record["request"]
        for s in request.timeseries:
            out.append((labels_of_v2(request, s), s, request))
    return out


def by_name(receiver, name: str):
    return [(l, s, r) for l, s, r in series_v2(receiver) if l.get("__name__") == name]


def no_violations(receiver):
    for record in receiver.all():
        assert "error" not in record, record.get("error")
        assert record["violations"] == [], record["violations"]


def wait_for(weir, check, what: str, timeout: float = 30):
    return wait_until(check, timeout=timeout, interval=0.2, what=f"{what}; weir log:\n{weir.log()[-3000:]}")


def metadata(series, request) -> tuple[int, str, str]:
    m = series.metadata
    return m.type, request.symbols[m.help_ref], request.symbols[m.unit_ref]


FAMILIES = ["requests_total", "temperature_celsius", "latency_seconds_bucket", "latency_seconds_sum",
            "latency_seconds_count", "rpc", "rpc_sum", "rpc_count", "other", "up"]


def test_scrape_arrives_as_valid_v2(scrape):
    started_ms = int(time.time() * 1000)
    target, receiver, weir = scrape()
    wait_for(weir, lambda: all(by_name(receiver, f) for f in FAMILIES), "every family in 2.0")
    no_violations(receiver)
    now_ms = int(time.time() * 1000)
    for _, s, _ in series_v2(receiver):
        assert all(started_ms - 1000 <= x.timestamp <= now_ms for x in s.samples), "timestamp_recent"
    for record in receiver.all():
        h = record["headers"]
        assert record["version"] == "2.0"
        assert h["content-encoding"] == "snappy"
        assert h["x-prometheus-remote-write-version"] == "2.0.0"
        assert h["user-agent"].startswith("weir/")
    # Labels: the target's, job and instance from the scrape (and the otel_scope_* the
    # exporter adds as in 1.0).
    labels, _, _ = by_name(receiver, "requests_total")[0]
    assert {k: v for k, v in labels.items() if not k.startswith("otel_scope_")} == {
        "__name__": "requests_total", "job": "test", "instance": target.address, "path": "/a"}
    # Metadata in-line: TYPE, HELP, UNIT of each family on every series of it.
    want = {
        "requests_total": ("COUNTER", "Requests served.", ""),
        "temperature_celsius": ("GAUGE", "Room temperature.", "celsius"),
        "latency_seconds_bucket": ("HISTOGRAM", "Request latency.", ""),
        "latency_seconds_sum": ("HISTOGRAM", "Request latency.", ""),
        "latency_seconds_count": ("HISTOGRAM", "Request latency.", ""),
        "rpc": ("SUMMARY", "RPC durations.", ""),
        "rpc_count": ("SUMMARY", "RPC durations.", ""),
    }
    for name, (kind, help_text, unit) in want.items():
        for _, s, r in by_name(receiver, name):
            got = metadata(s, r)
            assert got[0] == METRIC_TYPES_V2[kind], (name, got)
            assert got[1] == help_text, (name, got)
            if unit:
                assert got[2] == unit, (name, got)
    # Start timestamps: the counter's is its `_created` (in ms); cumulative histograms
    # and summaries have one (never after the sample); gauges none. No `_created` series
    # in 2.0 even with export_created_metric on.
    for _, s, _ in by_name(receiver, "requests_total"):
        assert all(x.start_timestamp == 1700000000123 for x in s.samples), list(s.samples)
    # The receiver's start for a histogram or summary without `_created` is the time it
    # first saw the series (known from the second scrape on).
    wait_for(weir, lambda: len(by_name(receiver, "rpc_count")) >= 3, "three scrapes")
    for name in ("latency_seconds_bucket", "latency_seconds_count", "rpc_count"):
        starts = [x.start_timestamp for _, s, _ in by_name(receiver, name) for x in s.samples]
        assert any(start > 0 for start in starts), (name, starts)
    for _, s, _ in by_name(receiver, "temperature_celsius"):
        assert all(x.start_timestamp == 0 for x in s.samples)
    assert not [l for l, _, _ in series_v2(receiver) if l["__name__"].endswith("_created")]
    # Values (complete families) and the exemplar with its trace id.
    bucket = {l["le"]: s.samples[0].value for l, s, _ in by_name(receiver, "latency_seconds_bucket")}
    assert bucket == {"1": 1.0, "2": 2.0, "+Inf": 2.0}
    _, s, r = by_name(receiver, "rpc_sum")[0]
    assert s.samples[0].value == 6.0
    exemplars = [(e, r) for _, s, r in by_name(receiver, "requests_total") for e in s.exemplars]
    assert exemplars, "the counter's exemplar"
    e, r = exemplars[0]
    refs = list(e.labels_refs)
    assert {r.symbols[refs[i]]: r.symbols[refs[i + 1]] for i in range(0, len(refs), 2)} == {
        "trace_id": "0123456789abcdef0123456789abcdef"}
    assert e.value == 1.0 and e.timestamp > 0


def test_stale_markers_v2(scrape):
    target, receiver, weir = scrape()
    wait_for(weir, lambda: by_name(receiver, "rpc_sum"), "a first scrape")
    target.failing = True

    def stale(name):
        return [x for _, s, _ in by_name(receiver, name) for x in s.samples
                if math.isnan(x.value) and struct.unpack("<Q", struct.pack("<d", x.value))[0] == STALE_NAN_BITS]

    names = ["requests_total", "temperature_celsius", "latency_seconds_bucket", "latency_seconds_sum",
             "latency_seconds_count", "rpc", "rpc_sum", "rpc_count", "other"]
    wait_for(weir, lambda: all(stale(n) for n in names), "a stale marker on every series")
    no_violations(receiver)


def otlp_config(grpc_port: int, receiver: RecordingReceiverV2) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  prometheusremotewrite:
{V2}    endpoint: {receiver.url}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheusremotewrite]
"""


def test_otlp_sdk_arrives_as_valid_v2(start_weir):
    receiver = RecordingReceiverV2()
    grpc_port = free_port()
    try:
        weir = start_weir(otlp_config(grpc_port, receiver))
        exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(
            resource=Resource.create({"service.name": "sdk", "service.instance.id": "i-1"}),
            metric_readers=[reader],
            views=[View(instrument_name="payload.size", aggregation=ExponentialBucketHistogramAggregation())],
        )
        meter = provider.get_meter("v2-test")
        jobs = meter.create_counter("jobs.done", unit="1", description="Jobs done.")
        sizes = meter.create_histogram("payload.size", unit="By", description="Payload sizes.")
        before_ms = int(time.time() * 1000)
        try:
            for v in (1, 5, 300, 7000):
                jobs.add(1, {"kind": "a"})
                sizes.record(v, {"kind": "a"})
            assert provider.force_flush(10_000)
        finally:
            provider.shutdown()
        wait_for(weir, lambda: by_name(receiver, "jobs_done_total") and by_name(receiver, "payload_size_bytes"),
                 "the SDK's counter and histogram in 2.0")
        no_violations(receiver)
        labels, s, r = by_name(receiver, "jobs_done_total")[0]
        assert labels["job"] == "sdk" and labels["instance"] == "i-1" and labels["kind"] == "a"
        assert s.samples[0].value == 4.0
        # The SDK's start time (the meter's creation, before the first add) becomes the
        # start timestamp; the sample comes after it.
        assert 0 < s.samples[0].start_timestamp <= s.samples[0].timestamp
        assert s.samples[0].start_timestamp <= before_ms + 1000
        assert metadata(s, r) == (METRIC_TYPES_V2["COUNTER"], "Jobs done.", "")
        # The exponential histogram is one native histogram series, with its schema.
        _, h, r = by_name(receiver, "payload_size_bytes")[0]
        assert not h.samples and len(h.histograms) == 1
        native = h.histograms[0]
        assert (native.count_int or native.count_float) == 4
        assert native.sum == 7306.0
        assert -4 <= native.schema <= 8
        assert sum(native.positive_deltas) != 0 or list(native.positive_counts)
        assert 0 < native.start_timestamp <= native.timestamp
        kind, help_text, unit = metadata(h, r)
        assert (kind, help_text, unit) == (METRIC_TYPES_V2["HISTOGRAM"], "Payload sizes.", "bytes")
    finally:
        receiver.close()


def sent_samples(weir) -> float:
    return weir.metric("weir_prometheusremotewrite_samples_sent_total")


def test_partial_write_is_dropped_and_not_counted_as_sent(scrape):
    """A 2xx whose Samples-Written header shows one sample less than sent: the sent
    counter equals what the receiver said it wrote, the rest is counted as dropped
    (`partial_write`), and nothing is retried or falls back."""
    said = {"samples": 0, "sent": 0}
    lock = threading.Lock()

    def answer(n, record):
        if record["version"] != "2.0" or record["request"] is None:
            return 204, {}, ""
        samples, histograms, exemplars = written_counts(record["request"])
        wrote = max(samples - 1, 0)
        with lock:
            said["samples"] += wrote
            said["sent"] += samples
        return 200, dict(zip(WRITTEN_HEADERS, map(str, (wrote, histograms, exemplars)))), ""

    _, receiver, weir = scrape(answer=answer, body="# TYPE g gauge\ng 1\n# EOF\n")
    wait_for(weir, lambda: len(receiver.all()) >= 3, "three writes")

    def settled():
        with lock:
            wrote, sent = said["samples"], said["sent"]
        return (sent_samples(weir) == wrote
                and weir.metric("weir_items_dropped_total", reason="partial_write") == sent - wrote)

    wait_for(weir, settled, "sent == written by the receiver, the rest dropped as partial_write")
    assert weir.metric("weir_items_dropped_total", reason="partial_write") > 0
    records = receiver.all()
    assert all(r["version"] == "2.0" for r in records), "no fallback on a 2xx with headers"
    bodies = [r["body"] for r in records]
    assert len(set(bodies)) == len(bodies), "a partial write is not retried"


def test_missing_written_headers_on_4xx_means_nothing_written(scrape):
    _, receiver, weir = scrape(answer=lambda n, record: (400, {}, "bad request, no headers"))
    wait_for(weir, lambda: len(receiver.all()) >= 3, "three writes")
    wait_for(weir, lambda: weir.metric("otelcol_exporter_send_failed_metric_points_total") > 0,
             "refused points counted as failed")
    assert sent_samples(weir) == 0
    assert all(r["version"] == "2.0" for r in receiver.all()), "a 400 is not a reason to fall back"
    bodies = [r["body"] for r in receiver.all()]
    assert len(set(bodies)) == len(bodies), "a 400 is not retried"


def test_fallback_to_v1_on_415(scrape):
    def answer(n, record):
        if record["version"] == "2.0":
            return 415, {}, "RW 2.0 not supported, please use RW 1.0"
        return 204, {}, ""

    # One lane, so that no other lane's 2.0 request is in flight when the 415 comes back.
    _, receiver, weir = scrape(answer=answer, body="# TYPE g gauge\ng 1\n# EOF\n", extra=ONE_LANE)
    wait_for(weir, lambda: len([r for r in receiver.all() if r["version"] == "1.0"]) >= 3, "1.0 writes")
    records = receiver.all()
    first_v1 = next(i for i, r in enumerate(records) if r["version"] == "1.0")
    assert first_v1 == 1, "one 2.0 attempt, then 1.0"
    assert all(r["version"] == "1.0" for r in records[first_v1:]), "the fallback sticks"
    for r in records[first_v1:]:
        assert r["headers"]["content-type"] == "application/x-protobuf"
        assert r["headers"]["x-prometheus-remote-write-version"] == "0.1.0"
    # What was refused as 2.0 arrives as 1.0.
    refused = {(labels_of_v2(r["request"], s)["__name__"], x.timestamp)
               for r in records[:first_v1] for s in r["request"].timeseries for x in s.samples}
    accepted = {(labels_of(s)["__name__"], x.timestamp)
                for r in records[first_v1:] for s in r["request"].timeseries for x in s.samples}
    assert refused and refused <= accepted
    assert weir.log().count("falling back to prometheus.WriteRequest") == 1


def test_fallback_to_v1_on_2xx_without_written_headers(scrape):
    _, receiver, weir = scrape(answer=lambda n, record: (204, {}, ""),
                               body="# TYPE g gauge\ng 1\n# EOF\n", extra=ONE_LANE)
    wait_for(weir, lambda: len([r for r in receiver.all() if r["version"] == "1.0"]) >= 2, "1.0 writes")
    records = receiver.all()
    assert records[0]["version"] == "2.0"
    assert all(r["version"] == "1.0" for r in records[1:]), "one 2.0 attempt, then 1.0"
    # The sample the 1.0 receiver silently lost as 2.0 is sent again as 1.0.
    lost = {x.timestamp for s in records[0]["request"].timeseries for x in s.samples}
    resent = {x.timestamp for s in records[1]["request"].timeseries for x in s.samples}
    assert lost and lost <= resent


def test_every_v2_case_is_mapped():
    """Every case of part B of compliance_cases.md has a row in weir_rw2_status.md, and
    every test a row names exists."""
    cases = (CONFORMANCE / "remote_write" / "compliance_cases.md").read_text()
    part_b = cases.split("## B.", 1)[1].split("## Also", 1)[0]
    names = re.findall(r"^\|\s*([^|]+?)\s*\|\s*(?:MUST|SHOULD|MAY|RECOMMENDED)\s*\|", part_b, re.M)
    assert len(names) > 100, len(names)
    status = (CONFORMANCE / "remote_write" / "weir_rw2_status.md").read_text()
    rows = dict(re.findall(r"^\|\s*([^|]+?)\s*\|\s*(?:MUST|SHOULD|MAY|RECOMMENDED)\s*\|([^\n]*)$", status, re.M))
    missing = [n for n in names if n not in rows]
    assert not missing, missing
    files = {
        "compliance_v2.rs": REPO / "components" / "prometheusremotewrite_exporter" / "tests" / "compliance_v2.rs",
        "compliance_v1.rs": REPO / "components" / "prometheusremotewrite_exporter" / "tests" / "compliance_v1.rs",
        "test_remote_write_v2.py": REPO / "integration" / "test_remote_write_v2.py",
        "test_remote_write_compliance.py": REPO / "integration" / "test_remote_write_compliance.py",
    }
    sources = {k: v.read_text() for k, v in files.items()}
    for name, rest in rows.items():
        for file, test in re.findall(r"`([\w.]+)::(\w+)`", rest):
            assert re.search(rf"(fn|def) {test}\(", sources[file]), (name, file, test)
