"""The packaging in deploy/: the container image's Dockerfile, the Kubernetes manifests and
the systemd unit, each checked by the tool its ecosystem uses (hadolint, the Kubernetes
schemas through kubernetes-validate, systemd-analyze verify), and the configs they ship
checked by `weir validate`.

No Docker engine or cluster runs here, so these are static checks; what the manifests
configure (the loadbalancing exporter and its k8s resolver) is tested in its own files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import REPO, weir_binary

DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


def test_dockerfile_passes_hadolint():
    result = run([str(VENV_BIN / "hadolint"), str(DEPLOY / "docker" / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_declares_the_default_ports_and_a_health_check_weir_understands():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    exposed = set(re.search(r"^EXPOSE (.+)$", text, re.M).group(1).split())
    default_config = (REPO / "collector" / "bin" / "src" / "default.yaml").read_text()
    for port in ("4317", "4318", "8888", "13133"):
        assert port in exposed
        assert f"127.0.0.1:{port}" in default_config
    # The runtime image is non-root and its health check is a weir subcommand.
    assert re.search(r"^USER 65532", text, re.M)
    health = re.search(r'CMD \["/usr/bin/weir", "(\w+)"\]', text).group(1)
    result = run([weir_binary(), health, "--help"])
    assert result.returncode == 0, result.stderr
    # The CMD's --set keys exist in the default config: weir accepts them.
    sets = re.findall(r'"--set", "([^"]+)"', text)
    assert len(sets) == 3
    args = [weir_binary(), "validate"]
    for key in sets:
        args += ["--set", key]
    result = run(args)
    assert result.returncode == 0, result.stdout + result.stderr


def kustomization() -> dict:
    return yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())


def test_kubernetes_manifests_validate_against_the_schemas():
    resources = kustomization()["resources"]
    assert {"rbac.yaml", "agent-daemonset.yaml", "gateway-deployment.yaml"} <= set(resources)
    files = [str(DEPLOY / "kubernetes" / name) for name in resources]
    result = run([str(VENV_BIN / "kubernetes-validate"), "--strict", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = re.findall(r"passed for resource (\w+)/", result.stdout + result.stderr)
    for kind in (
        "daemonset",
        "deployment",
        "service",
        "horizontalpodautoscaler",
        "poddisruptionbudget",
        "role",
        "rolebinding",
        "serviceaccount",
    ):
        assert kind in kinds, f"no {kind} validated: {result.stdout}{result.stderr}"


def test_kubernetes_validate_refuses_a_broken_manifest(tmp_path):
    # The check above can fail: a wrong type in the DaemonSet is refused.
    broken = (DEPLOY / "kubernetes" / "agent-daemonset.yaml").read_text().replace(
        "containerPort: 4317", 'containerPort: "4317"'
    )
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = run([str(VENV_BIN / "kubernetes-validate"), "--strict", str(path)])
    assert result.returncode != 0


@pytest.mark.parametrize("name", ["agent.yaml", "gateway.yaml"])
def test_the_shipped_configs_validate(name):
    generated = [
        file
        for generator in kustomization()["configMapGenerator"]
        for file in generator["files"]
    ]
    assert f"config/{name}" in generated
    env = dict(os.environ, BACKEND_OTLP_ENDPOINT="backend:4317", BACKEND_INSECURE="true")
    result = run(
        [weir_binary(), "validate", "--config", str(DEPLOY / "kubernetes" / "config" / name)],
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def systemd_verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    # verify checks that ExecStart's program exists: point it at the binary under test.
    unit = tmp_path / "weir.service"
    unit.write_text(unit_text.replace("/usr/bin/weir", str(Path(weir_binary()).resolve())))
    return run(["systemd-analyze", "verify", str(unit)])


def test_systemd_unit_verifies_without_a_warning(tmp_path):
    text = (DEPLOY / "systemd" / "weir.service").read_text()
    result = systemd_verify(text, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes"):
        assert hardening in text
    # The same check reports a misspelt key, so the clean run above means something.
    misspelt = systemd_verify(text.replace("ProtectHome=", "ProtectHoem="), tmp_path)
    assert "ProtectHoem" in misspelt.stderr


def test_weir_health_is_a_health_check_that_can_fail(start_weir):
    """The image's HEALTHCHECK: 0 while Weir's health_check answers 200, 1 once it is gone."""
    from harness import free_port

    port = free_port()
    weir = start_weir(
        f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{free_port()}}}
exporters:
  debug: {{}}
extensions:
  health_check: {{endpoint: 127.0.0.1:{port}}}
service:
  extensions: [health_check]
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
"""
    )
    healthy = run([weir_binary(), "health", "--endpoint", f"127.0.0.1:{port}"])
    assert healthy.returncode == 0, healthy.stderr
    weir.stop()
    gone = run([weir_binary(), "health", "--endpoint", f"127.0.0.1:{port}", "--timeout", "1s"])
    assert gone.returncode == 1
    assert f"127.0.0.1:{port}" in gone.stderr
