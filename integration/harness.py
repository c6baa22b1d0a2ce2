"""Start and stop the real processes an end-to-end test needs, on 127.0.0.1 only.

Every process started here is stopped by its own PID (never by name), and every wait is
bounded. Tests import the helpers below; pytest fixtures live in conftest.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The external conformance material, vendored in the repository (see its README.md).
CONFORMANCE = REPO / "tests" / "conformance"


def weir_binary() -> str:
    """The weir binary under test: $WEIR_BIN, else target/debug/weir."""
    path = os.environ.get("WEIR_BIN") or str(REPO / "target" / "debug" / "weir")
    if not os.path.exists(path):
        raise RuntimeError(f"weir binary not found at {path}; run `cargo build` first")
    return path


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1, and that this test process has
    not handed out before: the kernel may give the same ephemeral port to two binds in a
    row once the first socket is closed, and two of a test's servers must not share one."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no fresh free TCP port on 127.0.0.1")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    """Polls `check()` until it returns a truthy value, or raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - keep polling, report the last error
            last_error = err
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last error: {last_error}")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def http_post(url: str, body: bytes, headers: dict | None = None, timeout: float = 10.0):
    """POSTs; returns (status, headers with lower-cased names, body)."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, _lower(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers), err.read()


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def parse_prometheus_text(text: str) -> dict[tuple[str, frozenset], float]:
    """Parses an exposition into {(name, frozenset(labels)): value}. Enough for self-metrics."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_text, value_text = rest.rsplit("}", 1)
            labels = []
            for part in _split_labels(labels_text):
                k, v = part.split("=", 1)
                labels.append((k.strip(), v.strip().strip('"')))
            value = value_text.split()[0]
        else:
            parts = line.split()
            name, value, labels = parts[0], parts[1], []
        try:
            out[(name, frozenset(labels))] = float(value)
        except ValueError:
            continue
    return out


def _split_labels(text: str):
    parts, current, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current += ch
        elif ch == "," and not quoted:
            if current.strip():
                parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


class Weir:
    """One weir process with a config given as text. Self-metrics and health on free ports
    unless the config sets them."""

    def __init__(self, config: str, name: str = "weir", extra_args: list[str] | None = None):
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"weir-{name}-"))
        self.config_path = self.dir / "config.yaml"
        self.config_path.write_text(config)
        self.metrics_port = free_port()
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "weir.log"

    def start(self, wait: bool = True) -> "Weir":
        cmd = [
            weir_binary(),
            "--config",
            str(self.config_path),
            "--set",
            f"service.telemetry.metrics.address=127.0.0.1:{self.metrics_port}",
            *self.extra_args,
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            wait_until(self._ready, timeout=20, what=f"{self.name} self-metrics endpoint")
        return self

    def _ready(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        status, _ = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1)
        return status == 200

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def metrics_text(self) -> str:
        status, body = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert status == 200, status
        return body.decode()

    def metric(self, name: str, **labels) -> float:
        """Sum of every series named `name` whose labels include `labels`."""
        total = 0.0
        for (series, series_labels), value in parse_prometheus_text(self.metrics_text()).items():
            if series == name and set(labels.items()) <= set(series_labels):
                total += value
        return total

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for a clean exit; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Prometheus:
    """A real Prometheus server (Debian package `prometheus`) on 127.0.0.1 with the
    remote-write receiver on, a temporary storage path and an optional scrape config."""

    def __init__(self, scrape_configs_yaml: str = "", scrape_interval: str = "1s",
                 features: tuple[str, ...] = ()):
        """`features`: Prometheus feature flags, e.g. ("native-histograms",), which 2.42
        needs to store the native histograms remote-write sends."""
        self.features = features
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="prometheus-"))
        self.config_path = self.dir / "prometheus.yml"
        self.config_path.write_text(
            f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n"
            + (f"scrape_configs:\n{scrape_configs_yaml}\n" if scrape_configs_yaml else "")
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def start(self) -> "Prometheus":
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self._log = open(self.dir / "prometheus.log", "ab")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                *(f"--enable-feature={feature}" for feature in self.features),
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: http_get(f"{self.url}/-/ready", timeout=1)[0] == 200, timeout=30,
                   what="prometheus ready")
        return self

    def query(self, expr: str) -> list:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def series(self, match: str) -> list:
        url = f"{self.url}/api/v1/series?" + urllib.parse.urlencode({"match[]": match})
        status, body = http_get(url)
        assert status == 200, body
        return json.loads(body)["data"]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def read_file_exporter_output(path: Path) -> list[dict]:
    """The `file` exporter writes one OTLP/JSON export request per line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
