"""Issue 2 acceptance for the command line: `weir validate` reports every problem at once
with key path and line; every shipped example validates; `weir` with no arguments runs
the embedded default config and shuts down cleanly on SIGTERM; startup failures are clear."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from harness import REPO, http_get, wait_until, weir_binary

BROKEN = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
processors:
  batch:
  probabilistic_sampler:
    sampling_percentage: 10
exporters:
  otlp/eu:
    endpoint: collector.eu:4317
    sending_queue:
      queue_sise: 100
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/us]
    metrics:
      receivers: [otlp]
      processors: [probabilistic_sampler]
      exporters: [otlp/eu]
"""


def run(*args, timeout=30):
    return subprocess.run([weir_binary(), *args], capture_output=True, text=True, timeout=timeout)


def test_validate_reports_every_problem_with_path_and_line(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text(BROKEN)
    result = run("validate", "--config", str(config))
    assert result.returncode == 1
    err = result.stderr
    # The misspelled key: full key path, file and line, and a suggestion.
    assert "exporters.otlp/eu.sending_queue.queue_sise" in err
    assert f"{config}:14" in err
    assert "queue_size" in err
    # The unknown id in a pipeline.
    assert "service.pipelines.traces.exporters" in err and "otlp/us" in err
    # The processor in a pipeline of a signal it does not support.
    assert "probabilistic_sampler" in err and "does not support metrics" in err
    assert "service.pipelines.metrics.processors" in err


def shipped_configs():
    return sorted((REPO / "examples").glob("*.yaml"))


def test_there_are_shipped_examples():
    assert len(shipped_configs()) >= 2


@pytest.mark.parametrize("config", shipped_configs(), ids=lambda p: p.name)
def test_every_shipped_example_validates(config: Path):
    result = run("validate", "--config", str(config))
    assert result.returncode == 0, result.stderr


def test_embedded_default_validates_and_prints():
    assert run("validate").returncode == 0
    printed = run("print-config")
    assert printed.returncode == 0
    assert "127.0.0.1:4317" in printed.stdout


def test_print_config_redacts_secrets(tmp_path):
    config = tmp_path / "secret.yaml"
    config.write_text("""
receivers:
  otlp:
    protocols:
      http:
exporters:
  otlphttp:
    endpoint: https://vendor.example:4318
    headers:
      authorization: Bearer very-secret-token
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlphttp]
""")
    result = run("print-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "very-secret-token" not in result.stdout
    assert "REDACTED" in result.stdout


def test_components_lists_types_kinds_signals_stability():
    out = run("components").stdout
    for needle in ("otlp", "otlphttp (otlp_http)", "batch", "debug", "health_check", "receiver", "exporter",
                   "processor", "extension"):
        assert needle in out, needle
    assert run("--version").stdout.startswith("weir ")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_default_config_runs_and_shuts_down_cleanly():
    ports = (4317, 4318, 8888, 13133)
    if not all(port_free(p) for p in ports):
        pytest.skip("a default port is taken on this machine")
    proc = subprocess.Popen([weir_binary()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: http_get("http://127.0.0.1:13133/", timeout=1)[0] == 200, timeout=20,
                   what="health check 200")
        status, body = http_get("http://127.0.0.1:8888/metrics")
        assert status == 200 and b"otelcol_receiver_accepted_spans" in body
        # OTLP/HTTP answers on the default port.
        status, _ = http_get("http://127.0.0.1:4318/v1/traces")
        assert status == 405
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log = proc.stdout.read().decode()
        assert "shutdown" in log.lower()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_names_component_and_address(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    config = tmp_path / "busy.yaml"
    config.write_text(f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  debug:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
""")
    try:
        result = run("--config", str(config))
    finally:
        holder.close()
    assert result.returncode != 0
    out = result.stderr + result.stdout
    assert "otlp" in out and f"127.0.0.1:{port}" in out


def test_shipped_default_example_matches_the_embedded_default():
    embedded = (REPO / "collector" / "bin" / "src" / "default.yaml").read_text()
    shipped = (REPO / "examples" / "default.yaml").read_text().split("\n", 1)[1]
    assert shipped == embedded


def test_json_logs_per_service_telemetry(tmp_path):
    import json

    from harness import free_port

    port = free_port()
    config = tmp_path / "json-logs.yaml"
    config.write_text(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
exporters:
  debug:
service:
  telemetry:
    logs:
      level: info
      encoding: json
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
""")
    proc = subprocess.Popen([weir_binary(), "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/v1/logs", timeout=1)[0] == 405, timeout=20,
                   what="otlp http up")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        lines = [line for line in proc.stderr.read().decode().splitlines() if line.strip()]
        assert lines, "no log lines"
        records = [json.loads(line) for line in lines]
        assert all("level" in r and "timestamp" in r for r in records)
        assert any("ready" in json.dumps(r).lower() for r in records)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
