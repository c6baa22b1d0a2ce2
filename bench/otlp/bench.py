#!/usr/bin/env python3
"""OTLP benchmark driver: Weir against rotel, side by side, same payloads. Called by run.sh.

  bench.py run --weir BIN --rotel BIN --loadgen BIN --payloads DIR --out FILE [knobs]
  bench.py report FILE...        (medians over the runs in the files, as Markdown)

For every workload (w1: OTLP/gRPC traces, w2: OTLP/HTTP protobuf logs), mode (fixed,
saturation) and collector (weir, then rotel): start a fresh counting sink (core 1) and a
fresh collector (core 0), read its idle RSS, drive load with the loadgen (core 1), read the
collector's CPU seconds (utime+stime from /proc/<pid>/stat) over the measured window and its
peak RSS (VmHWM), and check that every item the collector accepted reached the sink. Appends
one JSON object per (workload, mode, collector) to --out. Every process started here is
stopped by its PID (SIGTERM, then SIGKILL after 10 s); every wait has a deadline.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
WORKLOADS = {
    "w1": {"what": "OTLP/gRPC traces, 100 spans x 10 attrs per request", "item": "spans", "port": "grpc"},
    "w2": {"what": "OTLP/HTTP protobuf logs, 512 records per request", "item": "logs", "port": "http"},
}


def log(msg):
    print("[otlp-bench] " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def core_busy_seconds(core):
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%d " % core):
                v = [int(x) for x in line.split()[1:]]
                return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / TICK
    return 0.0


def sink_counts(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/counts" % port, timeout=5) as r:
        return {k: int(v) for k, v in (l.split() for l in r.read().decode().splitlines() if l.strip())}


def wait_port(port, proc, deadline_s=30):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listening on 127.0.0.1:%d after %d s" % (port, deadline_s))


def stop(proc, name):
    """SIGTERM, then SIGKILL after 10 s: by PID only."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log("%s (pid %d) ignored SIGTERM for 10 s: SIGKILL" % (name, proc.pid))
        proc.kill()
        proc.wait(timeout=10)


def weir_cmd(a, workdir, grpc, http, sink, metrics):
    cfg = os.path.join(workdir, "weir.yaml")
    with open(cfg, "w") as f:
        f.write("""receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:%(grpc)d}
      http: {endpoint: 127.0.0.1:%(http)d}
processors:
  batch:
exporters:
  otlp:
    endpoint: http://127.0.0.1:%(sink)d
    tls: {insecure: true}
    compression: %(comp)s
  otlphttp:
    endpoint: http://127.0.0.1:%(sink)d
    compression: %(comp)s
service:
  telemetry:
    metrics: {address: 127.0.0.1:%(metrics)d}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}
    logs: {receivers: [otlp], processors: [batch], exporters: [otlphttp]}
""" % dict(grpc=grpc, http=http, sink=sink, metrics=metrics, comp=a.compression))
    return [a.weir, "--config", cfg]


def rotel_cmd(a, workdir, grpc, http, sink, metrics):
    c = a.compression
    return [a.rotel, "start",
            "--otlp-grpc-endpoint", "127.0.0.1:%d" % grpc, "--otlp-http-endpoint", "127.0.0.1:%d" % http,
            "--batch-max-size", "8192", "--batch-timeout", "200ms",
            "--exporter", "otlp", "--otlp-exporter-endpoint", "http://127.0.0.1:%d" % sink,
            "--otlp-exporter-traces-protocol", "grpc", "--otlp-exporter-logs-protocol", "http",
            "--otlp-exporter-compression", c, "--otlp-exporter-traces-compression", c,
            "--otlp-exporter-logs-compression", c,
            "--pid-file", os.path.join(workdir, "rotel.pid"), "--log-file", os.path.join(workdir, "rotel.log")]


class Rig:
    """One sink and one collector, fresh for one (workload, mode, collector)."""

    def __init__(self, a, workload, collector, workdir):
        self.a, self.workload, self.collector = a, workload, collector
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.sink_port, grpc, http, metrics = free_port(), free_port(), free_port(), free_port()
        self.target = grpc if WORKLOADS[workload]["port"] == "grpc" else http
        self.sink = self.collector_proc = None
        self.sink = subprocess.Popen(
            ["taskset", "-c", str(a.load_core), a.loadgen, "sink", "--listen", "127.0.0.1:%d" % self.sink_port],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "sink.log"), "w"))
        wait_port(self.sink_port, self.sink)
        make = weir_cmd if collector == "weir" else rotel_cmd
        cmd = ["taskset", "-c", str(a.collector_core)] + make(a, workdir, grpc, http, self.sink_port, metrics)
        self.collector_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                               stderr=open(os.path.join(workdir, collector + ".log"), "w"))
        self.pid = self.collector_proc.pid
        wait_port(grpc, self.collector_proc)
        wait_port(http, self.collector_proc)
        time.sleep(2)  # settle: lazy exporter connections, allocator warm-up
        self.idle_rss_kib = status_kib(self.pid, "VmRSS")

    def close(self):
        stop(self.collector_proc, self.collector)
        stop(self.sink, "sink")

    def counts(self):
        return sink_counts(self.sink_port)

    def step(self, rate, warmup, window):
        """One load step; returns a dict with the verdict."""
        a, item = self.a, WORKLOADS[self.workload]["item"]
        before = self.counts()
        cmd = ["taskset", "-c", str(a.load_core), a.loadgen, "send", "--target", "127.0.0.1:%d" % self.target,
               "--workload", self.workload, "--payloads", os.path.join(a.payloads, self.workload + ".bin"),
               "--rate", str(rate), "--warmup", str(warmup), "--seconds", str(window)]
        if self.workload == "w1":
            cmd += ["--connections", str(a.grpc_connections), "--streams", str(a.grpc_streams)]
        else:
            cmd += ["--connections", str(a.http_connections)]
        gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        c0 = c1 = b0 = b1 = None
        result = {}
        deadline = time.time() + warmup + window + 60
        try:
            for line in gen.stdout:  # bounded: the loadgen stops by itself (and is killed below)
                line = line.strip()
                if line == "window_start":
                    c0, b0 = cpu_seconds(self.pid), core_busy_seconds(a.collector_core)
                elif line == "window_end":
                    c1, b1 = cpu_seconds(self.pid), core_busy_seconds(a.collector_core)
                elif line.startswith("result "):
                    for kv in line[len("result "):].split(" "):
                        if "=" in kv:
                            k, v = kv.split("=", 1)
                            result[k] = v
                if time.time() > deadline:
                    break
            gen.wait(timeout=max(1, deadline - time.time()))
        finally:
            stop(gen, "loadgen")
        if c0 is None or c1 is None or not result:
            raise RuntimeError("loadgen gave no result (exit %s)" % gen.returncode)
        # Drain: wait until the sink has every accepted item, or until nothing moved for 3 s (deadline 30 s).
        ok_items = int(result["ok_items"])
        last, still_since, end = None, time.time(), time.time() + 30
        while time.time() < end:
            now = self.counts()
            got = now[item] - before[item]
            if got >= ok_items:
                break
            if got != last:
                last, still_since = got, time.time()
            elif time.time() - still_since > 3:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # anything more than accepted (duplicates) would show here
        after = self.counts()
        received = after[item] - before[item]
        win = float(result["window_seconds"])
        cpu = c1 - c0
        errors = int(result["errors"])
        achieved = float(result["window_items_per_s"])
        verdict = []
        if errors:
            verdict.append("%d client errors (%s)" % (errors, result.get("last_error", "")))
        if received != ok_items:
            verdict.append("sink got %d of %d accepted items" % (received, ok_items))
        if after["errors"] != before["errors"]:
            verdict.append("sink refused %d requests" % (after["errors"] - before["errors"]))
        if rate > 0 and achieved < 0.98 * rate:
            verdict.append("achieved %.0f/s < 98%% of %d/s" % (achieved, rate))
        other = (b1 - b0) - cpu
        contended = other > 0.10 * win
        row = {
            "rate": rate, "achieved": achieved, "window_s": win, "cpu_s": cpu,
            "cpu_pct": 100 * cpu / win, "window_items": int(result["window_ok_items"]),
            "us_per_item": 1e6 * cpu / max(1, int(result["window_ok_items"])),
            "sent_items": int(result["sent_items"]), "ok_items": ok_items, "received": received,
            "errors": errors, "latency_ms": float(result["mean_latency_ms"]),
            "core_other_pct": 100 * other / win, "contended": contended,
            "gzip_requests": after.get("gzip_requests", 0) - before.get("gzip_requests", 0),
            "export_requests": after["requests"] - before["requests"],
            "export_bytes": after["bytes"] - before["bytes"],
            "rss_kib": status_kib(self.pid, "VmRSS"), "hwm_kib": status_kib(self.pid, "VmHWM"),
            "ok": not verdict, "verdict": "; ".join(verdict) or "ok",
        }
        log("%s %-5s rate %9s -> %9.0f/s  cpu %5.1f%%  %6.2f us/item  in %d out %d  %s%s" % (
            self.workload, self.collector, rate or "max", achieved, row["cpu_pct"], row["us_per_item"],
            ok_items, received, row["verdict"], "  (contended: %.0f%% of core used by others)" % row["core_other_pct"]
            if contended else ""))
        return row


def nice(x, quantum):
    return max(quantum, int(x / quantum) * quantum)


def saturation(rig, a):
    """Probe unpaced, then step and bisect the paced rate for the highest zero-loss rate."""
    probe = rig.step(0, a.sat_warmup, a.probe_seconds)
    q = 1000
    steps, best = [], None

    def test(r):
        nonlocal best
        # A failure while other processes used the collector's core measures the machine, not
        # the collector: such a step is tried again (up to a.attempts tries in all).
        for _ in range(a.attempts):
            row = rig.step(r, a.sat_warmup, a.sat_window)
            steps.append(row)
            if row["ok"] or not row["contended"]:
                break
        if row["ok"] and (best is None or r > best["rate"]):
            best = row
        return row["ok"]

    r = nice(0.9 * probe["achieved"], q)
    lo, hi = 0, None
    if test(r):
        lo = r
        for _ in range(a.max_raises):
            r = nice(r * 1.15, q)
            if test(r):
                lo = r
            else:
                hi = r
                break
    else:
        hi = r
        for _ in range(4):
            r = nice(r * 0.8, q)
            if test(r):
                lo = r
                break
            hi = r
    if hi is not None and lo > 0:
        for _ in range(a.refine):
            mid = nice((lo + hi) / 2, q)
            if mid <= lo or mid >= hi:
                break
            if test(mid):
                lo = mid
            else:
                hi = mid
    return {"probe": probe, "steps": steps, "best": best, "first_fail": hi}


def run(a):
    runs = []
    for w in a.workloads.split(","):
        for mode in a.modes.split(","):
            for coll in a.collectors.split(","):
                rig = None
                rec = {"workload": w, "mode": mode, "collector": coll, "compression": a.compression,
                       "loadavg_before": open("/proc/loadavg").read().split()[:3]}
                try:
                    rig = Rig(a, w, coll, os.path.join(a.workdir, "%s-%s-%s" % (w, mode, coll)))
                    rec["idle_rss_kib"] = rig.idle_rss_kib
                    log("%s %s %s: pid %d, idle RSS %.1f MiB" % (w, mode, coll, rig.pid, rig.idle_rss_kib / 1024))
                    if mode == "fixed":
                        rec["fixed"] = rig.step(a.fixed_rate, a.fixed_warmup, a.fixed_window)
                    else:
                        rec["saturation"] = saturation(rig, a)
                    rec["peak_rss_kib"] = status_kib(rig.pid, "VmHWM")
                except Exception as e:  # recorded, and the next combination runs
                    rec["error"] = str(e)
                    log("%s %s %s: FAILED: %s" % (w, mode, coll, e))
                finally:
                    if rig:
                        rig.close()
                rec["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
                runs.append(rec)
                with open(a.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
    return runs


def report(files):
    recs = []
    for fn in files:
        with open(fn) as f:
            recs += [json.loads(l) for l in f if l.strip().startswith("{")]
    groups = {}
    for r in recs:
        groups.setdefault((r["workload"], r["mode"], r["collector"]), []).append(r)
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    mib = lambda k: k / 1024
    summary = {}
    print("Fixed rate (medians over n runs; CPU over the measured window):\n")
    print("| workload | collector | n | offered items/s | achieved items/s | CPU s | CPU % of one core | CPU µs/item | idle RSS MiB | peak RSS MiB | items in = out | client errors | export requests gzip / all |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---|")
    for (w, mode, c), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "weir")):
        rs = [r for r in rs if "fixed" in r]
        if mode != "fixed" or not rs:
            continue
        fx = [r["fixed"] for r in rs]
        s = summary.setdefault((w, c), {})
        s["us_fixed"] = med([x["us_per_item"] for x in fx])
        s["idle"] = med([r["idle_rss_kib"] for r in rs])
        s["peak_fixed"] = med([r["peak_rss_kib"] for r in rs])
        print("| %s | %s | %d | %d | %.0f | %.2f | %.1f | %.2f | %.1f | %.1f | %s | %d | %d / %d |" % (
            w, c, len(rs), fx[0]["rate"], med([x["achieved"] for x in fx]), med([x["cpu_s"] for x in fx]),
            med([x["cpu_pct"] for x in fx]), s["us_fixed"], mib(s["idle"]), mib(s["peak_fixed"]),
            "yes" if all(x["received"] == x["ok_items"] for x in fx) else "NO",
            sum(x["errors"] for x in fx), fx[-1]["gzip_requests"], fx[-1]["export_requests"]))
    print("\nSaturation: highest paced rate with zero loss (items out = items in, no client error, >= 98 % of the rate achieved):\n")
    print("| workload | collector | n | max zero-loss items/s | CPU % of one core there | CPU µs/item there | unpaced probe items/s | first failing rate | peak RSS MiB (whole ladder) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (w, mode, c), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "weir")):
        rs = [r for r in rs if "saturation" in r]
        if mode != "saturation" or not rs:
            continue
        bests = [r["saturation"]["best"] for r in rs if r["saturation"]["best"]]
        s = summary.setdefault((w, c), {})
        s["max"] = med([b["rate"] for b in bests]) if bests else 0
        s["us_sat"] = med([b["us_per_item"] for b in bests]) if bests else float("nan")
        s["peak_sat"] = med([r["peak_rss_kib"] for r in rs])
        fails = [r["saturation"]["first_fail"] for r in rs if r["saturation"]["first_fail"]]
        print("| %s | %s | %d | %d | %.0f | %.2f | %.0f | %s | %.1f |" % (
            w, c, len(rs), s["max"], med([b["cpu_pct"] for b in bests]) if bests else float("nan"), s["us_sat"],
            med([r["saturation"]["probe"]["achieved"] for r in rs]), med(fails) if fails else "-",
            mib(s["peak_sat"])))
    print("\nWeir / rotel (below 1: Weir uses less, or takes less):\n")
    print("| workload | CPU/item at fixed rate | CPU/item at saturation | idle RSS | peak RSS fixed | peak RSS saturation | max zero-loss rate |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for w in sorted({k[0] for k in summary}):
        x, y = summary.get((w, "weir"), {}), summary.get((w, "rotel"), {})
        ratio = lambda k: ("%.2f" % (x[k] / y[k])) if k in x and k in y and y[k] else "n/a"
        print("| %s | %s | %s | %s | %s | %s | %s |" % (w, ratio("us_fixed"), ratio("us_sat"), ratio("idle"),
                                                       ratio("peak_fixed"), ratio("peak_sat"), ratio("max")))
    errs = [r for r in recs if "error" in r]
    for r in errs:
        print("\nFAILED: %s %s %s: %s" % (r["workload"], r["mode"], r["collector"], r["error"]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        report(sys.argv[2:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["run"])
    p.add_argument("--weir", required=True)
    p.add_argument("--rotel", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--payloads", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--workloads", default="w1,w2")
    p.add_argument("--modes", default="fixed,saturation")
    p.add_argument("--collectors", default="weir,rotel")
    p.add_argument("--compression", default="none", choices=["none", "gzip"])
    p.add_argument("--fixed-rate", type=int, default=10000)
    p.add_argument("--fixed-warmup", type=float, default=10)
    p.add_argument("--fixed-window", type=float, default=30)
    p.add_argument("--sat-warmup", type=float, default=5)
    p.add_argument("--sat-window", type=float, default=60)
    p.add_argument("--probe-seconds", type=float, default=10)
    p.add_argument("--refine", type=int, default=3)
    p.add_argument("--attempts", type=int, default=2)
    p.add_argument("--max-raises", type=int, default=5)
    p.add_argument("--collector-core", type=int, default=0)
    p.add_argument("--load-core", type=int, default=1)
    p.add_argument("--grpc-connections", type=int, default=4)
    p.add_argument("--grpc-streams", type=int, default=4)
    p.add_argument("--http-connections", type=int, default=16)
    a = p.parse_args()
    run(a)


if __name__ == "__main__":
    main()
