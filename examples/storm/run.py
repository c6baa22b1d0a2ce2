#!/usr/bin/env python3
"""Runs the incident-storm scenario for a person to watch (examples/storm/README.md).

    .venv/bin/python examples/storm/run.py            # from the repository root
    .venv/bin/python examples/storm/run.py --phases ok:5,slow:10,down:10,ok:10

Starts, on free 127.0.0.1 ports: the backend (sink.py, in this process), Weir with
storm.yaml, and the storm load generator (`otlp-loadgen storm`: traces and logs over gRPC
and HTTP, 30% errors across 50 services). The backend goes through the phases (`ok`,
`slow`, `down`), then comes back; once the load has stopped and Weir has delivered what it
holds, the accounting is printed. Every second one line shows what an operator sees in
Weir's self-metrics; Weir's log lines about the budget, the limiter and the shedder are
printed as they come. Needs the Python packages of integration/requirements.txt (the
repository's .venv) and builds the load generator if it is missing. Stops what it started.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
from sink import Sink  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict:
    out: dict = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        for line in resp.read().decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, value = line.rsplit(" ", 1)
            name = name_labels.split("{", 1)[0]
            out.setdefault(name, []).append((name_labels, float(value)))
    return out


def total(m: dict, name: str, *must: str) -> float:
    return sum(v for labels, v in m.get(name, []) if all(x in labels for x in must))


SHED = 'reason="shed_'


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phases", default="ok:5,slow:10,down:10,ok:10",
                    help="backend phases, mode:seconds (modes: ok, slow, down); the load runs through all of them")
    ap.add_argument("--weir", default=os.environ.get("WEIR_BIN", str(REPO / "target" / "debug" / "weir")))
    ap.add_argument("--loadgen", default=os.environ.get("LOADGEN_BIN", str(REPO / "target" / "loadgen" / "release" / "otlp-loadgen")))
    ap.add_argument("--slow-capacity", type=float, default=20000, help="items/s the slow backend takes")
    args = ap.parse_args()
    phases = [(p.split(":")[0], float(p.split(":")[1])) for p in args.phases.split(",")]
    if not os.path.exists(args.loadgen):
        print("building the load generator ...", flush=True)
        subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path", str(REPO / "bench/otlp/loadgen/Cargo.toml"),
                        "--target-dir", str(REPO / "target" / "loadgen")], check=True)

    sink = Sink().start()
    grpc, http, metrics = free_port(), free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="weir-storm-"))
    log_path = workdir / "weir.log"
    env = dict(os.environ, STORM_BACKEND=sink.endpoint)
    weir = subprocess.Popen(
        [args.weir, "--config", str(HERE / "storm.yaml"),
         "--set", f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{grpc}",
         "--set", f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{http}",
         "--set", f"service.telemetry.metrics.address=127.0.0.1:{metrics}"],
        stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, env=env)
    loadgen = None
    try:
        for _ in range(100):
            try:
                scrape(metrics)
                break
            except OSError:
                time.sleep(0.1)
        print(f"weir pid {weir.pid}: OTLP gRPC 127.0.0.1:{grpc}, HTTP 127.0.0.1:{http}, "
              f"self-metrics http://127.0.0.1:{metrics}/metrics, log {log_path}")
        print(f"backend {sink.endpoint}; idle RSS {rss_mib(weir.pid):.1f} MiB")
        seconds = sum(s for _, s in phases)
        loadgen = subprocess.Popen([args.loadgen, "storm", "--grpc", f"127.0.0.1:{grpc}", "--http", f"127.0.0.1:{http}",
                                    "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
        log = open(log_path, errors="replace")
        print(f"{'t':>5} {'phase':5} {'RSS':>6} {'budget':>6} {'refused':>8} {'err-limited':>11} {'shed':>9} "
              f"{'shedding':>8} {'queue':>5} {'delivered':>9} {'summaries':>9}")
        t0 = time.monotonic()
        peak = 0.0

        def line(phase: str):
            nonlocal peak
            m = scrape(metrics)
            c = sink.counts()
            rss = rss_mib(weir.pid)
            peak = max(peak, rss)
            print(f"{time.monotonic() - t0:5.1f} {phase:5} {rss:5.1f}M {total(m, 'weir_memory_budget_used_bytes') / 2**20:5.1f}M "
                  f"{total(m, 'otelcol_receiver_refused_spans_total') + total(m, 'otelcol_receiver_refused_log_records_total'):8.0f} "
                  f"{total(m, 'weir_items_dropped_total', 'error_rate_limited'):11.0f} "
                  f"{total(m, 'weir_items_dropped_total', SHED):9.0f} "
                  f"{total(m, 'weir_load_shedder_shedding'):8.0f} {total(m, 'otelcol_exporter_queue_size'):5.0f} "
                  f"{sum(c.items.values()):9d} {sum(c.summaries.values()):9d}", flush=True)
            for text in log.readlines():
                if any(k in text for k in ("load_shedder", "memory_limiter", "memory budget", "WARN", "ERROR")) \
                        and "will retry" not in text:
                    print("    log: " + text.rstrip()[:220])

        for mode, secs in phases:
            {"ok": sink.ok, "slow": lambda: sink.slow(capacity=args.slow_capacity, delay=0.2), "down": sink.down}[mode]()
            end = time.monotonic() + secs
            while time.monotonic() < end:
                time.sleep(1)
                line(mode)
        sink.ok()
        out, _ = loadgen.communicate(timeout=30)
        result = json.loads(next(x for x in out.splitlines() if x.startswith("storm "))[6:])
        for _ in range(20):
            time.sleep(1)
            line("drain")
            m = scrape(metrics)
            if total(m, "weir_memory_budget_used_bytes") == 0 and total(m, "otelcol_exporter_queue_size") == 0:
                break
        time.sleep(1.5)
        m, c = scrape(metrics), sink.counts()
        print("\nclients (otlp-loadgen storm), requests by answer:")
        for lane, v in result["lanes"].items():
            print(f"  {lane:12} ok {v['ok']['requests']:6d}  retryable {v['retryable']['requests']:6d}  "
                  f"error {v['error']['requests']:3d}  timeout {v['timeout']['requests']:3d}  "
                  f"max latency {v['max_latency_ms']:.0f} ms")
        print(f"peak RSS {peak:.1f} MiB (sampled each second)")
        for sig, items in (("traces", "spans"), ("logs", "log_records")):
            accepted = total(m, f"otelcol_receiver_accepted_{items}_total")
            limited = total(m, "weir_items_dropped_total", f'otel_signal="{sig}"', "error_rate_limited")
            shed = total(m, "weir_items_dropped_total", f'otel_signal="{sig}"', SHED)
            print(f"{sig}: accepted {accepted:.0f} = delivered {c.items[sig]} + error-limited {limited:.0f} + shed {shed:.0f}"
                  f" -> {'balanced' if accepted == c.items[sig] + limited + shed else 'NOT BALANCED'}; "
                  f"{c.summaries[sig]} summaries delivered, saying {c.summary_dropped[sig]} dropped")
    finally:
        if loadgen and loadgen.poll() is None:
            loadgen.kill()
        weir.terminate()
        try:
            weir.wait(timeout=15)
        except subprocess.TimeoutExpired:
            weir.kill()
        sink.stop()


if __name__ == "__main__":
    main()
