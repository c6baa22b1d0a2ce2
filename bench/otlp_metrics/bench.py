#!/usr/bin/env python3
"""OTLP metrics -> remote-write benchmark (issue 13, acceptance row 3). See README.md.

Weir (`otlp` receiver -> [`batch`] -> `prometheusremotewrite` exporter, defaults otherwise)
pinned to one core; the OTLP load generator (bench/otlp/loadgen, workload m1: 1000 points per
OTLP/HTTP request over 10k series) and the remote-write sink (bench/scrape/loadgen `sink`)
pinned to the other. Every process started here is stopped by its PID (SIGTERM, then SIGKILL).

Subcommands:
  run      one whole run: for each config, a paced ladder (fresh Weir), then an unpaced
           overload run (fresh Weir, RSS sampled every 0.5 s); appends JSON lines to --out.
  profile  `perf record -g` of Weir under a paced or unpaced load; prints `perf report`.
  vmagent  does the installed vmagent ingest OTLP? POSTs an m1 request to its OTLP paths.
  report   median tables over the JSON lines of one or more runs.
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("[otlpm-bench] " + msg, file=sys.stderr, flush=True)


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
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def core_busy_seconds(core):
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%d " % core):
                v = [int(x) for x in line.split()[1:]]
                return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / TICK
    return 0.0


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


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


def stop(proc, name, grace=15):
    """SIGTERM, then SIGKILL after `grace` s: by PID only."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log("%s (pid %d) ignored SIGTERM for %d s: SIGKILL" % (name, proc.pid, grace))
        proc.kill()
        proc.wait(timeout=10)


def self_metrics(port):
    """Weir's self-metrics: {name: sum over label sets} (counters lose their `_total`)."""
    sums = {}
    for line in get("http://127.0.0.1:%d/metrics" % port).splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name.endswith("_total"):
            name = name[: -len("_total")]
        if not (name.startswith("otelcol_") or name.startswith("weir_")):
            continue
        try:
            sums[name] = sums.get(name, 0) + float(line.rsplit(" ", 1)[1])
        except ValueError:
            pass
        if name == "weir_items_dropped" and 'otel_signal="metrics"' in line:
            reason = line.split('reason="', 1)[1].split('"', 1)[0] if 'reason="' in line else "?"
            key = "dropped:" + reason
            sums[key] = sums.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return sums


ACCEPTED = "otelcol_receiver_accepted_metric_points"
REFUSED = "otelcol_receiver_refused_metric_points"
SENT = "otelcol_exporter_sent_metric_points"
ENQUEUE_FAILED = "otelcol_exporter_enqueue_failed_metric_points"
SEND_FAILED = "otelcol_exporter_send_failed_metric_points"
QUEUE_SIZE = "otelcol_exporter_queue_size"


# Named configs: `default` (otlp -> prometheusremotewrite, all defaults), `batch` (a `batch`
# processor in between), `block` (remote_write_queue.block_on_overflow: true: a full queue makes the
# receiver refuse with 503 instead of dropping), `q16` (max_size_mib: 16, to show the bound moves RSS).
CONFIG_QUEUE = {"block": "block_on_overflow: true", "q16": "max_size_mib: 16"}


def weir_config(path, http, sink, metrics, batch, extra_queue):
    queue = ""
    if extra_queue:
        queue = "    remote_write_queue: {%s}\n" % extra_queue
    with open(path, "w") as f:
        f.write(
            "receivers:\n"
            "  otlp:\n"
            "    protocols:\n"
            "      http: {endpoint: 127.0.0.1:%d}\n"
            "%s"
            "exporters:\n"
            "  prometheusremotewrite:\n"
            "    endpoint: http://127.0.0.1:%d/api/v1/write\n"
            "%s"
            "service:\n"
            "  telemetry:\n"
            "    metrics: {address: 127.0.0.1:%d}\n"
            "  pipelines:\n"
            "    metrics: {receivers: [otlp], processors: [%s], exporters: [prometheusremotewrite]}\n"
            % (http, "processors:\n  batch: {}\n" if batch else "", sink, queue, metrics, "batch" if batch else ""))


class Rig:
    """One sink and one fresh Weir."""

    def __init__(self, a, config, workdir):
        self.a, self.config = a, config
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.sink_port, self.sink_stats, self.http, self.metrics = free_port(), free_port(), free_port(), free_port()
        self.sink = self.weir = None
        self.sink = subprocess.Popen(
            ["taskset", "-c", str(a.load_core), a.sink, "sink", "127.0.0.1:%d" % self.sink_stats,
             "weir=127.0.0.1:%d" % self.sink_port],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "sink.log"), "w"))
        wait_port(self.sink_stats, self.sink)
        wait_port(self.sink_port, self.sink)
        cfg = os.path.join(workdir, "weir.yaml")
        queue = ", ".join(x for x in (a.queue, CONFIG_QUEUE.get(config, "")) if x)
        weir_config(cfg, self.http, self.sink_port, self.metrics, config == "batch", queue)
        self.weir = subprocess.Popen(["taskset", "-c", str(a.collector_core), a.weir, "--config", cfg],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "weir.log"), "w"))
        self.pid = self.weir.pid
        wait_port(self.http, self.weir)
        wait_port(self.metrics, self.weir)
        time.sleep(2)
        self.idle_rss_kib = status_kib(self.pid, "VmRSS")
        log("%s: weir pid %d, idle RSS %.1f MiB, sink pid %d" % (config, self.pid, self.idle_rss_kib / 1024, self.sink.pid))

    def close(self):
        stop(self.weir, "weir", grace=20)  # first, while the sink answers: its shutdown drain succeeds
        stop(self.sink, "sink")

    def sink_samples(self):
        out = {}
        for line in get("http://127.0.0.1:%d/" % self.sink_stats).splitlines():
            who, key, value = line.split(" ", 2)
            if who == "weir" and key != "name":
                out[key] = int(value)
        return out

    def snapshot(self, gen=None):
        return {"cpu": cpu_seconds(self.pid), "sink_cpu": cpu_seconds(self.sink.pid),
                "gen_cpu": cpu_seconds(gen.pid) if gen else 0, "core": core_busy_seconds(self.a.collector_core),
                "load_core": core_busy_seconds(self.a.load_core), "t": time.time(),
                "weir": self_metrics(self.metrics), "sink": self.sink_samples()}

    def drain(self, max_s=30):
        """Until the sink has what Weir accepted minus what it counted dropped, or nothing moved for 3 s."""
        last, still_since, end = None, time.time(), time.time() + max_s
        while time.time() < end:
            w, s = self_metrics(self.metrics), self.sink_samples()
            lost = w.get(ENQUEUE_FAILED, 0) + w.get(SEND_FAILED, 0) + w.get("dropped:sample_older_than_delivered", 0)
            if s["samples"] >= w.get(ACCEPTED, 0) - lost and w.get(QUEUE_SIZE, 0) == 0:
                return
            if s["samples"] != last:
                last, still_since = s["samples"], time.time()
            elif time.time() - still_since > 3:
                return
            time.sleep(0.2)

    def step(self, rate, warmup, window, sample_rss=False, perf=None):
        """One load step (rate 0 = unpaced). Returns a row."""
        a = self.a
        before = self.snapshot()
        cmd = ["taskset", "-c", str(a.load_core), a.loadgen, "send", "--target", "127.0.0.1:%d" % self.http,
               "--workload", "m1", "--payloads", a.payloads, "--rate", str(rate), "--warmup", str(warmup),
               "--seconds", str(window), "--connections", str(a.connections)]
        gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        w0 = w1 = None
        result = {}
        rss = []
        stop_sampling = threading.Event()

        def sampler():
            t0 = time.time()
            while not stop_sampling.wait(0.5):
                try:
                    q = self_metrics(self.metrics).get(QUEUE_SIZE, 0)
                except Exception:
                    q = -1
                rss.append((round(time.time() - t0, 1), status_kib(self.pid, "VmRSS"), q))

        th = threading.Thread(target=sampler, daemon=True)
        if sample_rss:
            th.start()
        perf_proc = None
        deadline = time.time() + warmup + window + 60
        try:
            for line in gen.stdout:  # bounded: the loadgen stops by itself (and is killed below)
                line = line.strip()
                if line == "window_start":
                    w0 = self.snapshot(gen)
                    if perf:
                        perf_proc = subprocess.Popen(["perf", "record", "-g", "-F", "499", "-p", str(self.pid),
                                                      "-o", perf, "--", "sleep", str(max(1, int(window) - 1))],
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                elif line == "window_end":
                    w1 = self.snapshot(gen)
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
            if perf_proc is not None:
                try:
                    perf_proc.wait(timeout=window + 30)
                except subprocess.TimeoutExpired:
                    stop(perf_proc, "perf")
        if w0 is None or w1 is None or not result:
            stop_sampling.set()
            raise RuntimeError("loadgen gave no result (exit %s)" % gen.returncode)
        self.drain()
        stop_sampling.set()
        if sample_rss:
            th.join(timeout=5)
        after = self.snapshot()
        win = w1["t"] - w0["t"]
        cpu = w1["cpu"] - w0["cpu"]
        d = lambda s, e, k: e["weir"].get(k, 0) - s["weir"].get(k, 0)
        accepted = d(w0, w1, ACCEPTED)
        exported = w1["sink"]["samples"] - w0["sink"]["samples"]
        other = (w1["core"] - w0["core"]) - cpu
        # Whole step (warm-up + window + drain): the loss check.
        tot_accepted = d(before, after, ACCEPTED)
        tot_sink = after["sink"]["samples"] - before["sink"]["samples"]
        dropped = {k[len("dropped:"):]: d(before, after, k) for k in after["weir"] if k.startswith("dropped:") and d(before, after, k)}
        row = {
            "config": self.config, "rate": rate, "window_s": round(win, 3),
            "sent_per_s": float(result["window_sent_items"]) / win,
            "accepted_per_s": accepted / win, "exported_per_s": exported / win,
            "cpu_s": cpu, "cpu_pct": 100 * cpu / win,
            "cpu_s_per_m_exported": cpu / max(1, exported) * 1e6,
            "exported_per_core_s": exported / cpu if cpu > 0 else 0,
            "load_core_pct": 100 * (w1["load_core"] - w0["load_core"]) / win,
            "loadgen_cpu_pct": 100 * (w1["gen_cpu"] - w0["gen_cpu"]) / win,
            "sink_cpu_pct": 100 * (w1["sink_cpu"] - w0["sink_cpu"]) / win,
            "core_other_pct": 100 * other / win, "contended": other > 0.10 * win,
            "client_errors": int(result["errors"]), "client_timeouts": int(result["timeouts"]),
            "last_error": result.get("last_error", ""), "latency_ms": float(result["mean_latency_ms"]),
            "step_sent": int(result["sent_items"]), "step_ok": int(result["ok_items"]),
            "step_accepted": tot_accepted, "step_exported": tot_sink,
            "step_refused": d(before, after, REFUSED), "step_enqueue_failed": d(before, after, ENQUEUE_FAILED),
            "step_send_failed": d(before, after, SEND_FAILED), "step_dropped": dropped,
            "sink_distinct_series": after["sink"].get("distinct_series", 0),
            "sink_bad_requests": after["sink"].get("bad_requests", 0),
            "rss_kib": status_kib(self.pid, "VmRSS"), "hwm_kib": status_kib(self.pid, "VmHWM"),
            "idle_rss_kib": self.idle_rss_kib,
        }
        verdict = []
        if row["client_errors"]:
            verdict.append("%d client errors (%s)" % (row["client_errors"], row["last_error"]))
        if tot_sink != row["step_ok"]:
            verdict.append("sink got %d of %d answered-OK points" % (tot_sink, row["step_ok"]))
        if rate and row["sent_per_s"] < 0.98 * rate:
            verdict.append("sent %.0f/s < 98%% of %d/s" % (row["sent_per_s"], rate))
        row["ok"] = not verdict
        row["verdict"] = "; ".join(verdict) or "ok"
        if sample_rss:
            row["rss_series"] = rss
        log("%-7s rate %8s: [gen %3.0f%% sink %3.0f%%] sent %8.0f/s accepted %8.0f/s exported %8.0f/s  cpu %5.1f%%  %5.3f cpu-s/M  %8.0f pts/s/core  RSS %.0f MiB (peak %.0f)  %s%s" % (
            self.config, rate or "max", row["loadgen_cpu_pct"], row["sink_cpu_pct"], row["sent_per_s"], row["accepted_per_s"], row["exported_per_s"],
            row["cpu_pct"], row["cpu_s_per_m_exported"], row["exported_per_core_s"], row["rss_kib"] / 1024,
            row["hwm_kib"] / 1024, row["verdict"],
            "  (contended: others used %.0f%% of core %d)" % (row["core_other_pct"], self.a.collector_core) if row["contended"] else ""))
        return row


def run(a):
    out = open(a.out, "a")
    for config in a.configs.split(","):
        rates = [int(r) for r in a.rates.split(",") if r]
        if rates:
            rig = Rig(a, config, os.path.join(a.workdir, config + "-ladder"))
            try:
                fails = 0
                for rate in rates:
                    row = rig.step(rate, a.warmup, a.window)
                    row.update(mode="ladder", run=a.run_id)
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    fails = 0 if row["ok"] else fails + 1
                    if fails >= 2:
                        break
            finally:
                rig.close()
        if a.unpaced_seconds > 0:
            rig = Rig(a, config, os.path.join(a.workdir, config + "-unpaced"))
            try:
                row = rig.step(0, a.warmup, a.unpaced_seconds, sample_rss=True)
                row.update(mode="unpaced", run=a.run_id)
                out.write(json.dumps(row) + "\n")
                out.flush()
            finally:
                rig.close()


def profile(a):
    rig = Rig(a, a.configs.split(",")[0], os.path.join(a.workdir, "profile"))
    try:
        rig.step(a.profile_rate, a.warmup, a.window, perf=a.perf_out)
    finally:
        rig.close()
    rep = subprocess.run(["perf", "report", "-i", a.perf_out, "--stdio", "--no-children", "--percent-limit", "0.8",
                          "-g", "none", "--sort", "dso,symbol"],
                         capture_output=True, text=True, timeout=300)
    # Drop perf's empty IPC columns and padding.
    print("\n".join(re.sub(r"\s{3,}", "   ", re.sub(r"\s+-\s+-\s*$", "", l)).rstrip()
                    for l in rep.stdout.splitlines() if l.strip() and not l.startswith("# ....")))


def vmagent_probe(a):
    """POSTs one m1 request to vmagent's OTLP paths; prints the answers (evidence for README)."""
    with open(a.payloads, "rb") as f:
        data = f.read()
    body = data[8: 8 + int.from_bytes(data[4:8], "little")]
    port, rw = free_port(), free_port()
    work = os.path.join(a.workdir, "vmagent")
    os.makedirs(work, exist_ok=True)
    proc = subprocess.Popen([a.vmagent, "-httpListenAddr=127.0.0.1:%d" % port,
                             "-remoteWrite.url=http://127.0.0.1:%d/api/v1/write" % rw,
                             "-remoteWrite.tmpDataPath=" + os.path.join(work, "data")],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "vmagent.log"), "w"))
    answers = {}
    try:
        wait_port(port, proc)
        for path in ["/opentelemetry/api/v1/push", "/opentelemetry/v1/metrics", "/v1/metrics"]:
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    answers[path] = "%d %s" % (r.status, r.read().decode(errors="replace").strip())
            except urllib.error.HTTPError as e:
                answers[path] = "%d %s" % (e.code, e.read().decode(errors="replace").strip())
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"],
                                 capture_output=True, text=True).stdout
        flags = subprocess.run([a.vmagent, "-help"], capture_output=True, text=True, timeout=30)
        otlp_flags = [l.strip() for l in (flags.stdout + flags.stderr).splitlines()
                      if "opentelemetry" in l.lower() or "otlp" in l.lower()]
    finally:
        stop(proc, "vmagent")
    ingests = any(v.startswith("2") for v in answers.values())
    print(json.dumps({"vmagent": a.vmagent, "package_version": version, "answers": answers,
                      "help_flags_mentioning_otlp": otlp_flags, "ingests_otlp": ingests}, indent=1))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def report(files):
    rows = []
    for fn in files:
        with open(fn) as f:
            rows += [json.loads(l) for l in f if l.strip()]
    runs = sorted({r["run"] for r in rows})
    print("Runs: %d (%s). Medians over the runs; every figure is Weir's, over the measured window.\n" % (len(runs), ", ".join(map(str, runs))))
    print("### Paced ladder\n")
    print("| config | target pts/s | n | passed | sent pts/s | accepted pts/s | exported pts/s | Weir CPU % | CPU s per M exported | exported pts/s per core | peak RSS MiB | loadgen / sink CPU % | contended steps | exported / sent in window |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    keys = sorted({(r["config"], r["rate"]) for r in rows if r["mode"] == "ladder"})
    for cfg, rate in keys:
        rs = [r for r in rows if r["mode"] == "ladder" and r["config"] == cfg and r["rate"] == rate]
        print("| %s | %d | %d | %d | %.0f | %.0f | %.0f | %.1f | %.3f | %.0f | %.1f | %.0f / %.0f | %d | %.3f |" % (
            cfg, rate, len(rs), sum(r["ok"] for r in rs), med([r["sent_per_s"] for r in rs]),
            med([r["accepted_per_s"] for r in rs]), med([r["exported_per_s"] for r in rs]),
            med([r["cpu_pct"] for r in rs]), med([r["cpu_s_per_m_exported"] for r in rs]),
            med([r["exported_per_core_s"] for r in rs]), med([r["hwm_kib"] / 1024 for r in rs]),
            med([r["loadgen_cpu_pct"] for r in rs]), med([r["sink_cpu_pct"] for r in rs]), sum(r["contended"] for r in rs),
            med([r["exported_per_s"] / max(1, r["sent_per_s"]) for r in rs])))
    print("\nHighest paced rate with exported == sent (no client error, >= 98% of the rate sent), per run:\n")
    for cfg in sorted({r["config"] for r in rows if r["mode"] == "ladder"}):
        best = []
        for run_id in runs:
            ok = [r["rate"] for r in rows if r["mode"] == "ladder" and r["config"] == cfg and r["run"] == run_id and r["ok"]]
            best.append(max(ok) if ok else 0)
        print("- %s: %s -> median **%s** points/s" % (cfg, ", ".join(map(str, best)), med(best)))
    print("\n### Unpaced (as fast as the loadgen sends, 4 connections)\n")
    print("| config | n | sent pts/s | accepted pts/s | exported pts/s | Weir CPU % | CPU s per M exported | exported pts/s per core | refused pts | enqueue-failed pts | other drops | client errors | idle RSS MiB | peak RSS MiB | RSS at 25/50/75/100 % of the run MiB | max queue size |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|")
    for cfg in sorted({r["config"] for r in rows if r["mode"] == "unpaced"}):
        rs = [r for r in rows if r["mode"] == "unpaced" and r["config"] == cfg]
        quart = []
        for r in rs:
            s = r.get("rss_series") or []
            if s:
                quart.append([s[min(len(s) - 1, int(len(s) * q))][1] / 1024 for q in (0.25, 0.5, 0.75, 1.0)])
        qmed = [med([q[i] for q in quart]) for i in range(4)] if quart else []
        drops = {}
        for r in rs:
            for k, v in r["step_dropped"].items():
                drops.setdefault(k, []).append(v)
        print("| %s | %d | %.0f | %.0f | %.0f | %.1f | %.3f | %.0f | %.0f | %.0f | %s | %.0f | %.1f | %.1f | %s | %.0f |" % (
            cfg, len(rs), med([r["sent_per_s"] for r in rs]), med([r["accepted_per_s"] for r in rs]),
            med([r["exported_per_s"] for r in rs]), med([r["cpu_pct"] for r in rs]),
            med([r["cpu_s_per_m_exported"] for r in rs]), med([r["exported_per_core_s"] for r in rs]),
            med([r["step_refused"] for r in rs]), med([r["step_enqueue_failed"] for r in rs]),
            ", ".join("%s %.0f" % (k, med(v)) for k, v in sorted(drops.items())) or "none",
            med([r["client_errors"] for r in rs]), med([r["idle_rss_kib"] / 1024 for r in rs]),
            med([r["hwm_kib"] / 1024 for r in rs]), " / ".join("%.0f" % x for x in qmed),
            med([max([x[2] for x in r.get("rss_series") or [(0, 0, 0)]]) for r in rs])))
    print("\nUnpaced runs, whole step (warm-up + window + drain): answered OK / accepted / at the sink / refused / enqueue-failed:\n")
    for r in rows:
        if r["mode"] == "unpaced":
            print("- run %s %s: %d / %d / %d / %d / %d%s" % (r["run"], r["config"], r["step_ok"], r["step_accepted"],
                                                         r["step_exported"], r["step_refused"], r["step_enqueue_failed"],
                                                         "  (contended)" if r["contended"] else ""))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("run", "profile", "vmagent"):
        s = sub.add_parser(name)
        s.add_argument("--weir")
        s.add_argument("--loadgen")
        s.add_argument("--sink")
        s.add_argument("--vmagent", default="/usr/bin/vmagent")
        s.add_argument("--payloads", required=True)
        s.add_argument("--workdir", required=True)
        s.add_argument("--out")
        s.add_argument("--run-id", default="1")
        s.add_argument("--configs", default="default")
        s.add_argument("--queue", default="", help="extra remote_write_queue keys, e.g. 'max_size_mib: 16'")
        s.add_argument("--rates", default="")
        s.add_argument("--warmup", type=float, default=3)
        s.add_argument("--window", type=float, default=10)
        s.add_argument("--unpaced-seconds", type=float, default=60)
        s.add_argument("--connections", type=int, default=4)
        s.add_argument("--collector-core", type=int, default=0)
        s.add_argument("--load-core", type=int, default=1)
        s.add_argument("--profile-rate", type=int, default=0)
        s.add_argument("--perf-out", default="perf.data")
    r = sub.add_parser("report")
    r.add_argument("files", nargs="+")
    a = p.parse_args()
    if a.cmd == "run":
        run(a)
    elif a.cmd == "profile":
        profile(a)
    elif a.cmd == "vmagent":
        vmagent_probe(a)
    else:
        report(a.files)


if __name__ == "__main__":
    main()
