"""Issue 12 acceptance: the persistent queue (`sending_queue.storage` with `file_storage`).

The source is the OpenTelemetry Python SDK: spans made by a real tracer and exported with
the SDK's OTLP/HTTP exporter. A batch counts as acknowledged when `export()` returns
SUCCESS, that is when Weir answered 200, which with a persistent queue it does only once
the batch is in the queue's log. The downstream is a second Weir that writes every span it
receives to a file (the capture sink of test_resilience.py).

- Crash: under load, `kill -9` the gateway and restart it on the same storage, five times.
  The sink ends up with every acknowledged span; duplicates stay within one batch per
  exporter consumer per crash (plus the one request the client itself may resend).
- Outage: the sink is down for 60 s under load. Nothing acknowledged is lost, and the
  gateway's resident memory (VmRSS) grows by much less than the backlog, which is on disk.
- Damage: a segment with a flipped byte and a segment cut mid-record are recovered from:
  every other record is delivered, and the damage is counted in
  `weir_queue_damaged_records_total`.
- Validation: a storage that is not an enabled extension is refused at its key path.
"""

from __future__ import annotations

import collections
import os
import random
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import free_port, read_file_exporter_output, wait_until, weir_binary

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

NUM_CONSUMERS = 2


# ------------------------------------------------------------------ the source


class SdkSource:
    """Makes spans with the SDK's tracer and exports them in batches with the SDK's OTLP/HTTP
    exporter, from one thread. Keeps the span ids of every acknowledged batch."""

    def __init__(self, port: int, spans_per_batch: int = 20, payload_bytes: int = 0,
                 batches_per_second: float | None = None, timeout: float = 10):
        # The SDK retries "retry later" answers with backoff until `timeout`.
        self.exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces",
                                         timeout=timeout)
        self.memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = provider.get_tracer("weir-persistent-queue-test")
        self.spans_per_batch = spans_per_batch
        self.payload = "x" * payload_bytes
        self.interval = 1.0 / batches_per_second if batches_per_second else 0.0
        self.acked: set[str] = set()
        self.acked_batches = 0
        self.failed_batches = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.seq = 0

    def _batch(self):
        for _ in range(self.spans_per_batch):
            span = self.tracer.start_span(f"op-{self.seq}")
            span.set_attribute("seq", self.seq)
            if self.payload:
                span.set_attribute("payload", self.payload)
            span.end()
            self.seq += 1
        spans = self.memory.get_finished_spans()
        self.memory.clear()
        return spans

    def send_one(self) -> bool:
        spans = self._batch()
        ok = self.exporter.export(spans) == SpanExportResult.SUCCESS
        with self.lock:
            if ok:
                self.acked.update(format(s.context.span_id, "016x") for s in spans)
                self.acked_batches += 1
            else:
                self.failed_batches += 1
        return ok

    def _run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            self.send_one()
            rest = self.interval - (time.monotonic() - started)
            if rest > 0:
                self.stopping.wait(rest)

    def start(self) -> "SdkSource":
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the source did not stop"

    def acked_ids(self) -> set[str]:
        with self.lock:
            return set(self.acked)


# ------------------------------------------------------------------ processes and files


def sink_config(port: int, out: Path) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  file:
    path: {out}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
"""


def gateway_config(http_port: int, sink_port: int, storage: Path, extra_storage: str = "",
                   segment_size_mib: int = 8) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink_port}
    tls:
      insecure: true
    timeout: 5s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
      max_elapsed_time: 0s
    sending_queue:
      num_consumers: {NUM_CONSUMERS}
      storage: file_storage/queue
extensions:
  file_storage/queue:
    directory: {storage}
    create_directory: true
    segment_size_mib: {segment_size_mib}
{extra_storage}
service:
  extensions: [file_storage/queue]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"""


def span_counts(path: Path) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    if not path.exists():
        return counts
    for doc in read_file_exporter_output(path):
        for rs in doc.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    counts[span["spanId"].lower()] += 1
    return counts


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def queue_dir(storage: Path) -> Path:
    dirs = [d for d in storage.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def segment_records(path: Path) -> list[tuple[int, int, bytes]]:
    """(offset, header+payload length, payload) of each record of a segment file, read as
    README.md of components/file_storage_extension describes the format."""
    data = path.read_bytes()
    assert data[:8] == b"WEIRWAL1", path
    records, offset = [], 8
    while offset + 20 <= len(data):
        sync, _index, length, _items, _crc = struct.unpack_from("<IIIII", data, offset)
        assert sync == 0x57455243
        records.append((offset, 20 + length, data[offset + 20: offset + 20 + length]))
        offset += 20 + length
    return records


def payload_span_ids(payload: bytes) -> set[str]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    return {
        span.span_id.hex()
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


# ------------------------------------------------------------------ tests


def test_kill_9_under_load_loses_nothing_acknowledged(start_weir, tmp_path):
    http_port, sink_port = free_port(), free_port()
    storage, out = tmp_path / "queue", tmp_path / "sink.jsonl"
    start_weir(sink_config(sink_port, out), name="sink")
    config = gateway_config(http_port, sink_port, storage)
    gateway = start_weir(config, name="gateway")
    source = SdkSource(http_port, spans_per_batch=20).start()
    rng = random.Random(12)
    redelivered = 0.0
    crashes = 5
    try:
        for _ in range(crashes):
            floor = source.acked_batches + 5
            wait_until(lambda: source.acked_batches >= floor, timeout=30,
                       what="the source is acknowledged again")
            time.sleep(rng.uniform(0.0, 0.5))
            gateway.kill()  # SIGKILL: no shutdown, no flush
            gateway = start_weir(config, name="gateway")
            redelivered += gateway.metric("weir_queue_redelivered_items_total")
        floor = source.acked_batches + 5
        wait_until(lambda: source.acked_batches >= floor, timeout=30, what="load after the last restart")
    finally:
        source.stop()
    acked = source.acked_ids()
    assert len(acked) >= 100 * source.spans_per_batch

    def delivered():
        return acked <= set(span_counts(out))

    wait_until(delivered, timeout=60, what="every acknowledged span at the sink")
    counts = span_counts(out)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    # Per crash: at most one batch per consumer sent again by Weir, and the one request the
    # client may have resent after Weir persisted it but died before answering.
    bound = crashes * (NUM_CONSUMERS + 1) * source.spans_per_batch
    assert duplicates <= bound, (duplicates, bound)
    print(f"acknowledged {len(acked)} spans in {source.acked_batches} batches, "
          f"{source.failed_batches} batches refused while Weir was down; "
          f"{duplicates} duplicate spans at the sink, {redelivered:.0f} items flagged redelivered")
    assert gateway.metric("weir_queue_damaged_records_total") == 0


def test_downstream_outage_keeps_the_backlog_on_disk(start_weir, tmp_path):
    http_port, sink_port = free_port(), free_port()
    storage, out = tmp_path / "queue", tmp_path / "sink.jsonl"
    gateway = start_weir(gateway_config(http_port, sink_port, storage), name="gateway")
    pid = gateway.proc.pid
    # 20 spans of 2 KiB per batch, about 12 batches a second: ~30 MiB in a minute.
    source = SdkSource(http_port, spans_per_batch=20, payload_bytes=2048,
                       batches_per_second=12).start()
    samples = []
    try:
        time.sleep(3)
        baseline = vm_rss_kib(pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            samples.append(vm_rss_kib(pid))
            time.sleep(1)
        backlog = gateway.metric("otelcol_exporter_queue_size", exporter="otlp")
    finally:
        source.stop()
    acked = source.acked_ids()
    assert source.failed_batches == 0, "the queue had room: nothing should be refused"
    assert backlog >= 16 * 2**20, f"the outage built a backlog of only {backlog} bytes"
    growth_kib = max(samples) - baseline
    print(f"backlog {backlog / 2**20:.1f} MiB on disk; VmRSS {baseline} KiB at the start, "
          f"at most {max(samples)} KiB during the outage")
    # The backlog lives on disk: memory grows by far less than the data held.
    assert growth_kib * 1024 < backlog / 2, (growth_kib, backlog)

    start_weir(sink_config(sink_port, out), name="sink")
    wait_until(lambda: acked <= set(span_counts(out)), timeout=120,
               what="every acknowledged span delivered after the outage")
    assert gateway.metric("otelcol_exporter_send_failed_spans_total") == 0
    wait_until(lambda: gateway.metric("otelcol_exporter_queue_size", exporter="otlp") < 2**20,
               timeout=30, what="delivered segments deleted")


def test_a_flipped_byte_and_a_cut_record_are_skipped_and_counted(start_weir, tmp_path):
    http_port, sink_port = free_port(), free_port()
    storage, out = tmp_path / "queue", tmp_path / "sink.jsonl"
    config = gateway_config(http_port, sink_port, storage, segment_size_mib=1)
    gateway = start_weir(config, name="gateway")
    source = SdkSource(http_port, spans_per_batch=20, payload_bytes=4096)
    for _ in range(60):  # ~5 MiB: several 1 MiB segments
        assert source.send_one()
    assert gateway.stop() == 0
    # SIGTERM left the backlog on disk, and did not count it as failed.
    assert "backlog stays on disk" in gateway.log()
    assert "could not be delivered" not in gateway.log()

    segments = sorted(queue_dir(storage).glob("*.wal"))
    assert len(segments) >= 3, segments
    lost: set[str] = set()
    # A flipped byte in the payload of the first segment's second record.
    first = segments[0]
    offset, _, payload = segment_records(first)[1]
    lost |= payload_span_ids(payload)
    data = bytearray(first.read_bytes())
    data[offset + 20 + len(payload) // 2] ^= 0x5A
    first.write_bytes(bytes(data))
    # The last segment with records, cut in the middle of its last record.
    last = [s for s in segments if segment_records(s)][-1]
    offset, length, payload = segment_records(last)[-1]
    lost |= payload_span_ids(payload)
    os.truncate(last, offset + length // 2)

    start_weir(sink_config(sink_port, out), name="sink")
    gateway = start_weir(config, name="gateway")
    expected = source.acked_ids() - lost
    assert len(expected) == 58 * 20
    wait_until(lambda: expected <= set(span_counts(out)), timeout=60,
               what="every undamaged record delivered")
    assert not lost & set(span_counts(out))
    assert gateway.metric("weir_queue_damaged_records_total", exporter="otlp") == 2
    log = gateway.log()
    assert "damaged bytes skipped" in log and str(first) in log and str(last) in log
    # Still serving.
    assert source.send_one()


def test_storage_must_name_an_enabled_extension(tmp_path):
    config = gateway_config(free_port(), free_port(), tmp_path / "q").replace(
        "  extensions: [file_storage/queue]", "  extensions: []")
    path = tmp_path / "config.yaml"
    path.write_text(config)
    result = subprocess.run([weir_binary(), "validate", "--config", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "exporters.otlp.sending_queue.storage" in result.stderr
    assert "not enabled" in result.stderr


@pytest.mark.parametrize("policy", ["block", "drop_oldest"])
def test_a_full_queue_refuses_or_drops_the_oldest_and_counts(start_weir, tmp_path, policy):
    http_port, sink_port = free_port(), free_port()
    storage = tmp_path / "queue"
    config = gateway_config(http_port, sink_port, storage, segment_size_mib=1,
                            extra_storage=f"    max_size_mib: 2\n    full_policy: {policy}")
    gateway = start_weir(config, name="gateway")
    source = SdkSource(http_port, spans_per_batch=20, payload_bytes=4096, timeout=2)
    results = [source.send_one() for _ in range(32)]  # ~2.7 MiB into a 2 MiB queue
    if policy == "block":
        # Clients are told to retry; what was refused is counted, the rest is kept.
        assert results.count(False) > 0 and results[:10] == [True] * 10
        assert gateway.metric("otelcol_exporter_enqueue_failed_spans_total") > 0
    else:
        assert all(results)
        assert gateway.metric("weir_items_dropped_total", reason="queue_full") > 0
    assert gateway.metric("otelcol_exporter_queue_size", exporter="otlp") <= 2 * 2**20
