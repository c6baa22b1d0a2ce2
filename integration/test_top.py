"""Issue 15 acceptance for the terminal: `weir top` driven in tmux, logs that read well.

- `weir top` in a tmux pane (send-keys, capture-pane) shows the receiver's and the
  processor's rates while the OpenTelemetry Python SDK sends, close to the rate the
  self-metrics counters give over the same seconds; 0 once the load stops; `q` quits.
- Log lines written to a file carry no escape codes; on a terminal (a tmux pane) they are
  coloured, unless NO_COLOR is set.
- `--help` says what Weir is, with an example; `weir validate` reads well for people and
  `--format json` for programs; the endpoint suggestion has one colon.

Every tmux server runs on a socket in the test's temporary directory and is stopped at
teardown: nothing else on the machine is touched.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import free_port, parse_prometheus_text, http_get, wait_until, weir_binary

ESC = "\x1b"


class Tmux:
    """A private tmux server (its socket in a temporary directory)."""

    def __init__(self, directory: Path):
        if shutil.which("tmux") is None:
            pytest.fail("tmux is missing: integration/test-all.sh installs it")
        self.socket = str(directory / "tmux.sock")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True,
                              timeout=10, check=check)

    def start(self, name: str, command: str):
        # remain-on-exit keeps the pane (and its output) after the command ends.
        self.run("new-session", "-d", "-s", name, "-x", "220", "-y", "50", command)
        self.run("set-option", "-t", name, "remain-on-exit", "on")

    def capture(self, name: str, escapes: bool = False) -> str:
        args = ["capture-pane", "-p", "-t", name] + (["-e"] if escapes else [])
        return self.run(*args).stdout

    def alive(self, name: str) -> bool:
        out = self.run("list-panes", "-t", name, "-F", "#{pane_dead}", check=False)
        return out.returncode == 0 and out.stdout.strip() == "0"

    def stop(self):
        self.run("kill-server", check=False)


@pytest.fixture
def tmux(tmp_path):
    server = Tmux(tmp_path)
    yield server
    server.stop()




def number(text: str) -> float:
    scale = {"k": 1e3, "M": 1e6}.get(text[-1:], 1)
    return float(text.rstrip("kM")) * scale


def row_rates(screen: str, kind: str, component: str) -> tuple[float, float] | None:
    """IN/S and OUT/S of the row for (kind, component) on the screen, when it has them."""
    for line in screen.splitlines():
        cells = line.split()
        if len(cells) >= 4 and cells[0] == kind and cells[1] == component:
            rest = cells[2:]
            if kind == "processor":
                rest = rest[1:]  # the pipeline column
            try:
                return number(rest[0]), number(rest[1])
            except (ValueError, IndexError):
                return None
    return None


def accepted_spans(metrics_port: int) -> float:
    _, body = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
    return sum(v for (name, labels), v in parse_prometheus_text(body.decode()).items()
               if name == "otelcol_receiver_accepted_spans_total")


def measured_rate(metrics_port: int, seconds: float = 3.0) -> float:
    """The accepted-spans rate from two readings of the counter `seconds` apart."""
    first, t0 = accepted_spans(metrics_port), time.monotonic()
    time.sleep(seconds)
    return (accepted_spans(metrics_port) - first) / (time.monotonic() - t0)


def test_top_shows_the_rates_in_tmux(start_weir, tmux, load_process):
    http_port = free_port()
    weir = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  batch:
    timeout: 100ms
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
""", name="top")
    tmux.start("top", f"{weir_binary()} top --endpoint 127.0.0.1:{weir.metrics_port}")
    wait_until(lambda: row_rates(tmux.capture("top"), "receiver", "otlp") == (0.0, 0.0),
               timeout=20, what="weir top showing an idle receiver")
    screen = tmux.capture("top")
    assert "Weir " in screen and f"127.0.0.1:{weir.metrics_port}" in screen, screen
    assert row_rates(screen, "processor", "batch") is not None, screen

    load = load_process(f"http://127.0.0.1:{http_port}/v1/traces", spans=25, delay_ms=100)
    wait_until(lambda: accepted_spans(weir.metrics_port) > 0, timeout=20, what="spans arriving")

    def close_to_the_counters():
        expected = measured_rate(weir.metrics_port)
        shown = row_rates(tmux.capture("top"), "receiver", "otlp")
        processor = row_rates(tmux.capture("top"), "processor", "batch")
        assert expected > 50, expected
        assert shown and 0.5 * expected <= shown[0] <= 2 * expected, (shown, expected)
        assert processor and 0.5 * expected <= processor[0] <= 2 * expected, (processor, expected)
        return True

    wait_until(close_to_the_counters, timeout=60, interval=0.5,
               what="weir top's rates matching the self-metrics")

    # The load stops: the rates shown fall to zero.
    load.kill()
    load.wait(timeout=10)
    wait_until(lambda: row_rates(tmux.capture("top"), "receiver", "otlp") == (0.0, 0.0),
               timeout=30, what="weir top showing the receiver idle again")

    # q quits, and the program ends (the pane's command is dead).
    assert tmux.alive("top")
    tmux.run("send-keys", "-t", "top", "q")
    wait_until(lambda: not tmux.alive("top"), timeout=10, what="weir top quitting on q")
    assert weir.stop() == 0


def test_top_says_when_weir_is_not_there(tmux):
    port = free_port()
    tmux.start("gone", f"{weir_binary()} top --endpoint 127.0.0.1:{port}")
    wait_until(lambda: f"cannot connect to 127.0.0.1:{port}" in tmux.capture("gone"),
               timeout=15, what="weir top naming the address it cannot reach")
    tmux.run("send-keys", "-t", "gone", "C-c")
    wait_until(lambda: not tmux.alive("gone"), timeout=10, what="weir top quitting on Ctrl-C")


DOWN_EXPORTER = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  otlp/down:
    endpoint: 127.0.0.1:{dead_port}
    tls:
      insecure: true
service:
  telemetry:
    logs:
      level: debug
    metrics:
      address: 127.0.0.1:{metrics_port}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/down]
"""


def logging_config(tmp_path: Path) -> Path:
    path = tmp_path / "logs.yaml"
    path.write_text(DOWN_EXPORTER.format(http_port=free_port(), dead_port=free_port(),
                                         metrics_port=free_port()))
    return path


def test_log_lines_in_a_file_carry_no_escape_codes(tmp_path):
    """stderr redirected to a file, with TERM saying the terminal has colours: plain text."""
    config = logging_config(tmp_path)
    log_path = tmp_path / "weir.log"
    env = {"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([weir_binary(), "--config", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(lambda: "Everything is ready" in log_path.read_text(errors="replace"),
                       timeout=20, what="weir starting")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log_path.read_text(errors="replace")
    assert "INFO" in text and "DEBUG" in text, text
    assert ESC not in text, repr(text[:500])
    # The same for a config error (printed before logging starts).
    broken = tmp_path / "broken.yaml"
    broken.write_text("receivers:\n  otlp:\n    protocols: {grpc: {endpont: x}}\n")
    result = subprocess.run([weir_binary(), "--config", str(broken)], capture_output=True,
                            text=True, timeout=30, env=env)
    assert result.returncode == 1
    assert "error:" in result.stderr and ESC not in result.stderr, repr(result.stderr)


def test_colour_on_a_terminal_unless_no_color(tmp_path, tmux):
    weir = weir_binary()
    coloured_config = logging_config(tmp_path)
    plain_config = tmp_path / "plain.yaml"
    plain_config.write_text(DOWN_EXPORTER.format(http_port=free_port(), dead_port=free_port(),
                                                 metrics_port=free_port()))
    tmux.start("colour", f"env -u NO_COLOR {weir} --config {coloured_config}")
    tmux.start("plain", f"env NO_COLOR=1 {weir} --config {plain_config}")
    for name in ("colour", "plain"):
        wait_until(lambda: "Everything is ready" in tmux.capture(name), timeout=20,
                   what=f"weir starting in the {name} pane")
    coloured = tmux.capture("colour", escapes=True)
    plain = tmux.capture("plain", escapes=True)
    assert re.search(r"\x1b\[[0-9;]*m", coloured), repr(coloured[:300])
    assert ESC not in plain, repr(plain[:300])
    for name in ("colour", "plain"):
        tmux.run("send-keys", "-t", name, "C-c")
        wait_until(lambda: not tmux.alive(name), timeout=30, what=f"weir in {name} stopping")


def test_help_says_what_weir_is_with_an_example():
    out = subprocess.run([weir_binary(), "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    first = out.splitlines()[0]
    assert "telemetry pipeline" in first and "OpenTelemetry Collector" in first, first
    assert "command line, logging, signals" not in out
    assert "Examples:" in out and "weir --config collector.yaml" in out, out
    assert "weir top" in out


BROKEN = """
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    sending_queue:
      queue_sise: 10
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"""


def test_validate_for_people_and_for_programs(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    text = subprocess.run([weir_binary(), "validate", "--config", str(broken)],
                          capture_output=True, text=True, timeout=30)
    assert text.returncode == 1
    lines = text.stderr.splitlines()
    assert any(l.startswith("error: exporters.otlp.sending_queue.queue_sise (")
               and "did you mean `queue_size`?" in l for l in lines), text.stderr
    assert lines[-1] == "1 error in the configuration; Weir would not start with it", lines

    as_json = subprocess.run([weir_binary(), "validate", "--config", str(broken), "--format",
                              "json"], capture_output=True, text=True, timeout=30)
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["valid"] is False and doc["errors"] == 1
    typo = next(d for d in doc["diagnostics"] if d["path"].endswith("queue_sise"))
    assert typo == {"severity": "error", "path": "exporters.otlp.sending_queue.queue_sise",
                    "file": str(broken), "line": 10, "message": typo["message"],
                    "suggestion": "queue_size"}

    good = tmp_path / "good.yaml"
    good.write_text(BROKEN.replace("queue_sise", "queue_size"))
    ok = subprocess.run([weir_binary(), "validate", "--config", str(good)], capture_output=True,
                        text=True, timeout=30)
    assert ok.returncode == 0 and ok.stderr == "configuration is valid: 1 pipeline (traces)\n"
    ok_json = json.loads(subprocess.run(
        [weir_binary(), "validate", "--config", str(good), "--format", "json"],
        capture_output=True, text=True, timeout=30).stdout)
    assert ok_json == {"valid": True, "errors": 0, "warnings": 0, "diagnostics": [],
                       "pipelines": ["traces"]}


def test_the_endpoint_suggestion_has_one_colon(tmp_path):
    config = tmp_path / "port.yaml"
    config.write_text(BROKEN.replace("127.0.0.1:4317", '"127.0.0.1:"').replace("queue_sise",
                                                                             "queue_size"))
    result = subprocess.run([weir_binary(), "validate", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "e.g. `127.0.0.1:4317`" in result.stderr, result.stderr
    assert "::4317" not in result.stderr, result.stderr
