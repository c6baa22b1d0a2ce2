"""The `loadbalancing` exporter: one Weir agent in front of three Weir gateways.

The OpenTelemetry Python SDK sends traces whose spans arrive in separate requests (a
SimpleSpanProcessor exports each span as it ends). Every trace must arrive whole at
exactly one gateway. With the `k8s` resolver, read from a fake EndpointSlice API served
by the test, a gateway that goes away and is then removed from the Service has the data
the agent was retrying for it re-homed to the remaining gateways, and nothing is lost.

The gateways listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all loopback) with one port,
as pods of one Service do on their own addresses.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from harness import free_port, read_file_exporter_output, wait_until

SPANS_PER_TRACE = 4


def gateway_config(endpoint: str, out) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {endpoint}
exporters:
  file:
    path: {out}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
"""


def agent_config(grpc_port: int, resolver: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        timeout: 2s
        compression: none
        tls:
          insecure: true
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 500ms
      max_elapsed_time: 120s
    resolver:
{resolver}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
"""


def send_traces(agent_port: int, count: int, run: str) -> None:
    """`count` traces of SPANS_PER_TRACE spans, each span exported in its own request."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"lb-{run}"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{agent_port}", insecure=True))
    )
    tracer = provider.get_tracer("test_loadbalancing")
    for i in range(count):
        with tracer.start_as_current_span(f"{run}-root-{i}"):
            for j in range(SPANS_PER_TRACE - 1):
                with tracer.start_as_current_span(f"{run}-child-{j}"):
                    pass
    provider.shutdown()


def spans_by_trace(outputs: dict[str, object], run: str) -> dict[str, dict[str, int]]:
    """trace id -> gateway -> spans of that trace it received, for one run's spans."""
    found: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for gateway, path in outputs.items():
        for doc in read_file_exporter_output(path):
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        if span["name"].startswith(f"{run}-"):
                            found[span["traceId"]][gateway] += 1
    return found


def assert_whole_traces(found, traces: int, gateways: set[str]):
    assert len(found) == traces, f"{len(found)} of {traces} traces arrived"
    used = set()
    for trace, per_gateway in found.items():
        assert len(per_gateway) == 1, f"trace {trace} split over {dict(per_gateway)}"
        (gateway, spans), = per_gateway.items()
        assert spans == SPANS_PER_TRACE, f"trace {trace}: {spans} spans at {gateway}"
        used.add(gateway)
    assert used <= gateways
    return used


def test_static_resolver_sends_every_trace_whole_to_one_gateway(start_weir, tmp_path):
    outputs = {}
    endpoints = []
    for n in range(3):
        endpoint = f"127.0.0.1:{free_port()}"
        outputs[endpoint] = tmp_path / f"gateway-{n}.jsonl"
        start_weir(gateway_config(endpoint, outputs[endpoint]), name=f"gateway-{n}")
        endpoints.append(endpoint)
    agent_port = free_port()
    hostnames = "\n".join(f"          - {endpoint}" for endpoint in endpoints)
    agent = start_weir(
        agent_config(agent_port, f"      static:\n        hostnames:\n{hostnames}"), name="agent"
    )

    send_traces(agent_port, 60, "static")

    def arrived():
        found = spans_by_trace(outputs, "static")
        return sum(sum(g.values()) for g in found.values()) >= 60 * SPANS_PER_TRACE

    wait_until(arrived, timeout=30, what="every span at the gateways")
    used = assert_whole_traces(spans_by_trace(outputs, "static"), 60, set(endpoints))
    assert used == set(endpoints), f"60 traces should reach all three gateways, got {used}"
    assert agent.metric("otelcol_loadbalancer_num_backends", exporter="loadbalancing") == 3
    for endpoint in endpoints:
        assert agent.metric(
            "otelcol_loadbalancer_backend_outcome_total", endpoint=endpoint, success="true"
        ) > 0


class FakeEndpointSliceApi:
    """Answers the EndpointSlice list the k8s resolver asks for, with the addresses the
    test sets; records the paths asked."""

    def __init__(self, service: str, namespace: str, port: int):
        self.addresses: list[str] = []
        self.asked: list[str] = []
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                with api.lock:
                    api.asked.append(self.path)
                    addresses = list(api.addresses)
                expected = (
                    f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
                    f"?labelSelector=kubernetes.io%2Fservice-name%3D{service}"
                )
                if self.path != expected:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(
                    {
                        "kind": "EndpointSliceList",
                        "apiVersion": "discovery.k8s.io/v1",
                        "metadata": {"resourceVersion": "1"},
                        "items": [
                            {
                                "metadata": {"name": f"{service}-abcde"},
                                "addressType": "IPv4",
                                "endpoints": [
                                    {"addresses": [address], "conditions": {"ready": True}}
                                    for address in addresses
                                ],
                                "ports": [{"name": "otlp-grpc", "port": port}],
                            }
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, addresses: list[str]):
        with self.lock:
            self.addresses = list(addresses)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_k8s_resolver_rehomes_what_waited_for_a_gateway_that_left(start_weir, tmp_path):
    port = free_port()
    addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    outputs, gateways = {}, {}
    for address in addresses:
        endpoint = f"{address}:{port}"
        outputs[endpoint] = tmp_path / f"gateway-{address}.jsonl"
        gateways[endpoint] = start_weir(
            gateway_config(endpoint, outputs[endpoint]), name=f"gateway-{address}"
        )
    api = FakeEndpointSliceApi("weir-gateway", "observability", port)
    try:
        api.set(addresses)
        agent_port = free_port()
        resolver = f"""      k8s:
        service: weir-gateway.observability
        ports: [{port}]
        interval: 200ms
        api_server: {api.url}"""
        agent = start_weir(agent_config(agent_port, resolver), name="agent")
        wait_until(
            lambda: agent.metric("otelcol_loadbalancer_num_backends", exporter="loadbalancing") == 3,
            timeout=15,
            what="the agent to see three gateways",
        )

        send_traces(agent_port, 40, "before")
        wait_until(
            lambda: sum(sum(g.values()) for g in spans_by_trace(outputs, "before").values())
            >= 40 * SPANS_PER_TRACE,
            timeout=30,
            what="the first traces at the gateways",
        )
        assert_whole_traces(spans_by_trace(outputs, "before"), 40, set(outputs))

        # The third gateway goes away; the agent retries what it owns...
        leaving = f"127.0.0.3:{port}"
        gateways[leaving].stop()
        send_traces(agent_port, 40, "after")
        wait_until(
            lambda: agent.metric("otelcol_exporter_send_failed_spans_total") == 0
            and agent.metric(
                "otelcol_loadbalancer_backend_outcome_total", endpoint=leaving, success="false"
            )
            > 0,
            timeout=20,
            what="the agent to retry for the stopped gateway",
        )
        # ... until the Service drops it: then its data goes to the keys' new owners.
        api.set(addresses[:2])
        staying = {f"127.0.0.1:{port}", f"127.0.0.2:{port}"}
        wait_until(
            lambda: sum(sum(g.values()) for g in spans_by_trace(outputs, "after").values())
            >= 40 * SPANS_PER_TRACE,
            timeout=30,
            what="every span of the second traces at the staying gateways",
        )
        found = spans_by_trace(outputs, "after")
        assert_whole_traces(found, 40, staying)
        assert agent.metric("weir_loadbalancer_rehomed_items_total", exporter="loadbalancing") > 0
        assert agent.metric("otelcol_loadbalancer_num_backends", exporter="loadbalancing") == 2
        assert agent.metric("otelcol_exporter_send_failed_spans_total") == 0
        accepted = agent.metric("otelcol_receiver_accepted_spans_total")
        sent = agent.metric("otelcol_exporter_sent_spans_total")
        assert accepted == sent == 80 * SPANS_PER_TRACE
        assert any("endpointslices" in path for path in api.asked)
    finally:
        api.close()
