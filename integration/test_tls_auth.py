"""Issue 12 acceptance, TLS and authentication: certificates are made in the test with the
`openssl` CLI; mutual TLS passes with a client certificate and fails without; the
`bearertokenauth` and `basicauth` extensions let valid credentials through and answer
401 / UNAUTHENTICATED otherwise, counted in
`weir_receiver_refused_requests_total{reason="unauthenticated"}`, on gRPC and HTTP; the
official OpenTelemetry Python SDK is the client of the TLS cases; and a Weir exporter
sends over mutual TLS with client authentication to another Weir."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import grpc
import pytest
import requests

from harness import free_port, read_file_exporter_output, wait_until, weir_binary

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

TOKEN = "weir-test-token-7f3a"

# ------------------------------------------------------------------ certificates


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _leaf(dir: Path, ca: str, name: str, usage: str) -> None:
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=dir)
    (dir / f"{name}.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage={usage}\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=dir)


def _ca(dir: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=dir)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A server CA with a server certificate for localhost/127.0.0.1, and a client CA with
    a client certificate (plus a client certificate from an untrusted CA)."""
    dir = tmp_path_factory.mktemp("pki")
    _ca(dir, "server-ca")
    _ca(dir, "client-ca")
    _ca(dir, "rogue-ca")
    _leaf(dir, "server-ca", "server", "serverAuth")
    _leaf(dir, "client-ca", "client", "clientAuth")
    _leaf(dir, "rogue-ca", "rogue", "clientAuth")
    return dir


# ------------------------------------------------------------------ helpers


def sink(out: Path, grpc_yaml: str, http_yaml: str, extensions: str = "") -> str:
    ext_names = [line.strip().rstrip(":") for line in extensions.splitlines()
                 if line.startswith("  ") and not line.startswith("    ") and line.strip()]
    return f"""
extensions:
{extensions or "  {}"}
receivers:
  otlp:
    protocols:
      grpc:
{grpc_yaml}
      http:
{http_yaml}
exporters:
  file:
    path: {out}
service:
  extensions: [{", ".join(ext_names)}]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
"""


def export_request(name: str) -> trace_service_pb2.ExportTraceServiceRequest:
    span = trace_pb2.Span(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), name=name,
                          start_time_unix_nano=1, end_time_unix_nano=2)
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[
        trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])])


def span_names(path: Path) -> list[str]:
    names = []
    for request in read_file_exporter_output(path):
        for rs in request.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                names += [span["name"] for span in ss.get("spans", [])]
    return names


def grpc_export(channel: grpc.Channel, name: str, metadata=None):
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    return stub.Export(export_request(name), metadata=metadata, timeout=10)


def grpc_code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def refused(weir, reason: str, transport: str) -> float:
    return weir.metric("weir_receiver_refused_requests_total", reason=reason, transport=transport)


def sdk_tracer(exporter):
    provider = TracerProvider(resource=Resource.create({"service.name": "tls-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


# ------------------------------------------------------------------ mutual TLS


def test_mutual_tls_on_grpc_with_the_python_sdk(start_weir, pki, tmp_path):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    port = free_port()
    out = tmp_path / "traces.jsonl"
    tls = f"""        tls:
          cert_file: {pki}/server.pem
          key_file: {pki}/server.key
          client_ca_file: {pki}/client-ca.pem"""
    weir = start_weir(sink(out, f"        endpoint: 127.0.0.1:{port}\n{tls}",
                           f"        endpoint: 127.0.0.1:{free_port()}"))

    ca = (pki / "server-ca.pem").read_bytes()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=(pki / "client.key").read_bytes(),
        certificate_chain=(pki / "client.pem").read_bytes(),
    )
    # The SDK's exporter as the client: the span arrives.
    provider = sdk_tracer(OTLPSpanExporter(endpoint=f"localhost:{port}", credentials=credentials,
                                           timeout=10))
    with provider.get_tracer("t").start_as_current_span("sdk-over-mtls"):
        pass
    provider.shutdown()
    wait_until(lambda: "sdk-over-mtls" in span_names(out), what="the SDK's span over mTLS")

    # Without a client certificate, or with one from another CA: the handshake fails,
    # nothing is delivered, and each failure is counted.
    no_cert = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(ca))
    assert grpc_code(lambda: grpc_export(no_cert, "no-cert")) == grpc.StatusCode.UNAVAILABLE
    rogue = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(
        ca, (pki / "rogue.key").read_bytes(), (pki / "rogue.pem").read_bytes()))
    assert grpc_code(lambda: grpc_export(rogue, "rogue")) == grpc.StatusCode.UNAVAILABLE
    # Plaintext to the TLS port fails too.
    plain = grpc.insecure_channel(f"127.0.0.1:{port}")
    assert grpc_code(lambda: grpc_export(plain, "plain")) == grpc.StatusCode.UNAVAILABLE
    wait_until(lambda: refused(weir, "tls_handshake", "grpc") >= 3,
               what="three refused handshakes counted")
    assert span_names(out) == ["sdk-over-mtls"]


def test_mutual_tls_on_http_with_the_python_sdk(start_weir, pki, tmp_path, monkeypatch):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # requests lets these variables override a session's own CA file (the SDK's).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    port = free_port()
    out = tmp_path / "traces.jsonl"
    tls = f"""        tls:
          cert_file: {pki}/server.pem
          key_file: {pki}/server.key
          client_ca_file: {pki}/client-ca.pem
          min_version: "1.3\""""
    weir = start_weir(sink(out, f"        endpoint: 127.0.0.1:{free_port()}",
                           f"        endpoint: 127.0.0.1:{port}\n{tls}"))
    url = f"https://localhost:{port}/v1/traces"

    provider = sdk_tracer(OTLPSpanExporter(
        endpoint=url,
        certificate_file=str(pki / "server-ca.pem"),
        client_certificate_file=str(pki / "client.pem"),
        client_key_file=str(pki / "client.key"),
        timeout=10,
    ))
    with provider.get_tracer("t").start_as_current_span("sdk-over-https"):
        pass
    provider.shutdown()
    wait_until(lambda: "sdk-over-https" in span_names(out), what="the SDK's span over HTTPS")

    body = export_request("requests-with-cert").SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    ok = requests.post(url, data=body, headers=headers, verify=str(pki / "server-ca.pem"),
                       cert=(str(pki / "client.pem"), str(pki / "client.key")), timeout=10)
    assert ok.status_code == 200, ok.text
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(url, data=body, headers=headers, verify=str(pki / "server-ca.pem"),
                      timeout=10)
    wait_until(lambda: refused(weir, "tls_handshake", "http") >= 1,
               what="the refused handshake counted")
    assert sorted(span_names(out)) == ["requests-with-cert", "sdk-over-https"]


# ------------------------------------------------------------------ authenticators


def auth_protocols(grpc_port: int, http_port: int, authenticator: str) -> tuple[str, str]:
    auth = f"        auth:\n          authenticator: {authenticator}"
    return (f"        endpoint: 127.0.0.1:{grpc_port}\n{auth}",
            f"        endpoint: 127.0.0.1:{http_port}\n{auth}")


def check_authenticator(weir, grpc_port, http_port, out, good: str, bad: list[str | None]):
    """`good` passes on both protocols; each of `bad` (None = no header) is refused with
    UNAUTHENTICATED / 401 and counted."""
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    assert grpc_code(lambda: grpc_export(channel, "grpc-ok", [("authorization", good)])) \
        == grpc.StatusCode.OK
    url = f"http://127.0.0.1:{http_port}/v1/traces"
    body = export_request("http-ok").SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    ok = requests.post(url, data=body, headers={**headers, "Authorization": good}, timeout=10)
    assert ok.status_code == 200, ok.text

    for value in bad:
        metadata = None if value is None else [("authorization", value)]
        assert grpc_code(lambda: grpc_export(channel, "grpc-bad", metadata)) \
            == grpc.StatusCode.UNAUTHENTICATED
        sent = dict(headers) if value is None else {**headers, "Authorization": value}
        answer = requests.post(url, data=body, headers=sent, timeout=10)
        assert answer.status_code == 401, answer.text
    assert refused(weir, "unauthenticated", "grpc") == len(bad)
    assert refused(weir, "unauthenticated", "http") == len(bad)
    wait_until(lambda: sorted(span_names(out)) == ["grpc-ok", "http-ok"],
               what="only the authenticated spans")
    time.sleep(0.5)
    assert sorted(span_names(out)) == ["grpc-ok", "http-ok"]


def test_bearer_token_on_grpc_and_http(start_weir, tmp_path):
    grpc_port, http_port = free_port(), free_port()
    out = tmp_path / "traces.jsonl"
    grpc_yaml, http_yaml = auth_protocols(grpc_port, http_port, "bearertokenauth")
    weir = start_weir(sink(out, grpc_yaml, http_yaml,
                           f"  bearertokenauth:\n    token: {TOKEN}"))
    check_authenticator(weir, grpc_port, http_port, out, f"Bearer {TOKEN}",
                        [None, "Bearer wrong", TOKEN])


def test_basic_auth_on_grpc_and_http(start_weir, tmp_path):
    import base64

    hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret"], check=True,
                            capture_output=True, text=True, timeout=30).stdout.strip()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{hashed}\n")
    grpc_port, http_port = free_port(), free_port()
    out = tmp_path / "traces.jsonl"
    grpc_yaml, http_yaml = auth_protocols(grpc_port, http_port, "basicauth/server")
    weir = start_weir(sink(out, grpc_yaml, http_yaml,
                           f"  basicauth/server:\n    htpasswd:\n      file: {htpasswd}"))

    def basic(user_password: str) -> str:
        return "Basic " + base64.b64encode(user_password.encode()).decode()

    check_authenticator(weir, grpc_port, http_port, out, basic("alice:s3cret"),
                        [None, basic("alice:wrong"), basic("bob:s3cret"), f"Bearer {TOKEN}"])


def test_a_missing_authenticator_fails_the_start_naming_it(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{free_port()}
        auth:
          authenticator: bearertokenauth
exporters:
  debug: {{}}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{free_port()}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
""")
    result = subprocess.run([weir_binary(), "--config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "authenticator `bearertokenauth` not found" in output, output


def test_the_grpc_exporter_refuses_credentials_over_plaintext(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("""
extensions:
  bearertokenauth:
    token: x
receivers:
  otlp:
    protocols:
      grpc: {}
exporters:
  otlp:
    endpoint: http://127.0.0.1:4317
    auth:
      authenticator: bearertokenauth
service:
  extensions: [bearertokenauth]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
""")
    result = subprocess.run([weir_binary(), "validate", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "exporters.otlp.auth.authenticator" in output, output
    assert "only over TLS" in output, output


# ------------------------------------------------------------------ Weir to Weir


def test_exporters_send_over_mutual_tls_with_client_auth(start_weir, pki, tmp_path):
    """A gateway Weir sends to a sink Weir over mTLS: the otlp exporter with a bearer
    token, the otlphttp exporter with Basic auth. A gateway with a wrong token is refused
    and counted."""
    grpc_port, http_port = free_port(), free_port()
    out = tmp_path / "sink.jsonl"
    server_tls = f"""        tls:
          cert_file: {pki}/server.pem
          key_file: {pki}/server.key
          client_ca_file: {pki}/client-ca.pem"""
    sink_weir = start_weir(sink(
        out,
        f"        endpoint: 127.0.0.1:{grpc_port}\n{server_tls}\n"
        "        auth:\n          authenticator: bearertokenauth",
        f"        endpoint: 127.0.0.1:{http_port}\n{server_tls}\n"
        "        auth:\n          authenticator: basicauth",
        f"  bearertokenauth:\n    token: {TOKEN}\n"
        "  basicauth:\n    htpasswd:\n      inline: |\n        gateway:gw-pass",
    ), name="sink")

    def gateway(token: str, name: str):
        in_port = free_port()
        client_tls = f"""    tls:
      ca_file: {pki}/server-ca.pem
      cert_file: {pki}/client.pem
      key_file: {pki}/client.key"""
        config = f"""
extensions:
  bearertokenauth:
    token: {token}
  basicauth/client:
    client_auth:
      username: gateway
      password: gw-pass
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{in_port}
exporters:
  otlp:
    endpoint: localhost:{grpc_port}
{client_tls}
    auth:
      authenticator: bearertokenauth
    retry_on_failure:
      enabled: false
  otlphttp:
    endpoint: https://localhost:{http_port}
{client_tls}
    auth:
      authenticator: basicauth/client
    retry_on_failure:
      enabled: false
service:
  extensions: [bearertokenauth, basicauth/client]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp, otlphttp]
"""
        weir = start_weir(config, name=name)
        body = export_request(name).SerializeToString()
        answer = requests.post(f"http://127.0.0.1:{in_port}/v1/traces", data=body,
                               headers={"Content-Type": "application/x-protobuf"}, timeout=10)
        assert answer.status_code == 200, answer.text
        return weir

    gateway(TOKEN, "good-gateway")
    wait_until(lambda: span_names(out).count("good-gateway") == 2,
               what="the span through both exporters")

    bad = gateway("not-the-token", "bad-gateway")
    wait_until(lambda: refused(sink_weir, "unauthenticated", "grpc") >= 1,
               what="the wrong token refused")
    wait_until(lambda: bad.metric("otelcol_exporter_send_failed_spans_total", exporter="otlp") >= 1,
               what="the gateway counting the refusal as failed")
    # The Basic-auth exporter of the bad gateway is still valid: its copy arrives.
    wait_until(lambda: span_names(out).count("bad-gateway") == 1, what="the otlphttp copy")
    assert refused(sink_weir, "unauthenticated", "http") == 0


def test_insecure_skip_verify_connects_and_warns(start_weir, pki, tmp_path):
    """An exporter with `insecure_skip_verify` and no CA reaches a TLS receiver whose
    certificate it cannot verify, and Weir says loudly that it does not verify it."""
    grpc_port, http_port = free_port(), free_port()
    out = tmp_path / "sink.jsonl"
    server_tls = f"""        tls:
          cert_file: {pki}/server.pem
          key_file: {pki}/server.key"""
    start_weir(sink(out, f"        endpoint: 127.0.0.1:{grpc_port}\n{server_tls}",
                    f"        endpoint: 127.0.0.1:{http_port}\n{server_tls}"), name="sink")
    in_port = free_port()
    gateway = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{in_port}
exporters:
  otlp:
    endpoint: 127.0.0.1:{grpc_port}
    tls:
      insecure_skip_verify: true
  otlphttp:
    endpoint: https://127.0.0.1:{http_port}
    tls:
      insecure_skip_verify: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp, otlphttp]
""", name="gateway")
    body = export_request("unverified").SerializeToString()
    answer = requests.post(f"http://127.0.0.1:{in_port}/v1/traces", data=body,
                           headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert answer.status_code == 200, answer.text
    wait_until(lambda: span_names(out).count("unverified") == 2, what="both copies delivered")
    assert gateway.log().count("insecure_skip_verify is set") == 2, gateway.log()
