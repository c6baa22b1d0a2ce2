#!/usr/bin/env python3
"""Scrape + remote-write benchmark: Weir against vmagent, side by side in one run.

For one target count: start the targets and the sink (scrape-loadgen), then Weir
(prometheus receiver -> prometheusremotewrite exporter) and vmagent with the same scrape
job (same targets, same interval), both remote-writing to the sink on 127.0.0.1. After a
warm-up, measure over a fixed window: CPU seconds (utime+stime from /proc/<pid>/stat),
peak RSS (VmHWM) and what reached the sink. Every process started here is stopped by its
PID at the end, whatever happens.

Called by run.sh; prints one JSON object per run on stdout (run.sh formats the table).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")

# Loopback ports: below Linux's ephemeral range (32768-60999), where a client connection
# of any process could hold a port we want to listen on, and away from 8888/9090/4317.
TARGETS_STATS, SINK_STATS, SINK_WEIR, SINK_VMAGENT, WEIR_TELEMETRY, VMAGENT_HTTP = range(19990, 19996)
FIRST_TARGET_PORT = 20000


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK  # utime, stime (fields 14, 15)


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def machine_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / TICK


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def stats(url):
    """`collector key value` lines -> {collector: {key: value}} (names listed apart)."""
    out = {}
    for line in get(url).splitlines():
        who, key, value = line.split(" ", 2)
        entry = out.setdefault(who, {"names": []})
        if key == "name":
            entry["names"].append(value)
        else:
            entry[key] = int(value)
    return out


def prom_values(text, prefixes):
    """Sums of the samples whose name starts with one of `prefixes`, by name (self-metrics)."""
    sums = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if any(name.startswith(p) for p in prefixes):
            try:
                sums[name] = sums.get(name, 0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return sums


def wait_for(url, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            get(url, timeout=1)
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("%s did not answer on %s within %ds" % (what, url, seconds))


def write_configs(work, n_targets, interval, batch):
    targets = ["127.0.0.1:%d" % (FIRST_TARGET_PORT + i) for i in range(n_targets)]
    target_list = "[" + ", ".join("'%s'" % t for t in targets) + "]"
    weir = os.path.join(work, "weir.yaml")
    with open(weir, "w") as f:
        f.write(
            "receivers:\n"
            "  prometheus:\n"
            "    config:\n"
            "      global: {scrape_interval: %ds, scrape_timeout: %ds}\n"
            "      scrape_configs:\n"
            "        - job_name: node\n"
            "          static_configs:\n"
            "            - targets: %s\n"
            "exporters:\n"
            "  prometheusremotewrite:\n"
            "    endpoint: http://127.0.0.1:%d/api/v1/write\n"
            "%s"
            "service:\n"
            "  telemetry:\n"
            "    metrics: {address: '127.0.0.1:%d'}\n"
            "  pipelines:\n"
            "    metrics: {receivers: [prometheus], processors: [%s], exporters: [prometheusremotewrite]}\n"
            % (interval, interval, target_list, SINK_WEIR, "processors:\n  batch: {}\n" if batch else "",
               WEIR_TELEMETRY, "batch" if batch else "")
        )
    vm = os.path.join(work, "vmagent-scrape.yaml")
    with open(vm, "w") as f:
        f.write(
            "global: {scrape_interval: %ds, scrape_timeout: %ds}\n"
            "scrape_configs:\n"
            "  - job_name: node\n"
            "    static_configs:\n"
            "      - targets: %s\n" % (interval, interval, target_list)
        )
    return weir, vm


def run(args):
    work = args.workdir
    os.makedirs(work, exist_ok=True)
    body = os.path.join(work, "exposition.prom")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_exposition.py"), body, str(args.series)], check=True)
    weir_cfg, vm_cfg = write_configs(work, args.targets, args.interval, args.weir_batch)

    procs = {}  # name -> Popen, in start order

    def start(name, argv):
        out = open(os.path.join(work, name + ".log"), "w")
        procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=work)
        log("started %s pid %d" % (name, procs[name].pid))

    def stop(names, grace):
        for name in names:
            p = procs.get(name)
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name in names:
            p = procs.get(name)
            if p is None:
                continue
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log("%s (pid %d) still running %ds after SIGTERM; SIGKILL" % (name, p.pid, grace))
                p.kill()
                p.wait()

    def stop_all():
        # Collectors first, while the sink still answers, so their shutdown flush succeeds.
        stop(["vmagent", "weir"], 20)
        stop(["sink", "targets"], 5)

    try:
        start("targets", [args.loadgen, "targets", body, str(FIRST_TARGET_PORT), str(args.targets),
                          "127.0.0.1:%d" % TARGETS_STATS])
        start("sink", [args.loadgen, "sink", "127.0.0.1:%d" % SINK_STATS,
                       "weir=127.0.0.1:%d" % SINK_WEIR, "vmagent=127.0.0.1:%d" % SINK_VMAGENT])
        wait_for("http://127.0.0.1:%d/" % TARGETS_STATS, "targets")
        wait_for("http://127.0.0.1:%d/" % SINK_STATS, "sink")
        start("weir", [args.weir, "--config", weir_cfg])
        start("vmagent", [args.vmagent,
                          "-promscrape.config=" + vm_cfg,
                          "-remoteWrite.url=http://127.0.0.1:%d/api/v1/write" % SINK_VMAGENT,
                          "-remoteWrite.tmpDataPath=" + os.path.join(work, "vmagent-data"),
                          "-httpListenAddr=127.0.0.1:%d" % VMAGENT_HTTP])
        wait_for("http://127.0.0.1:%d/metrics" % WEIR_TELEMETRY, "weir")
        wait_for("http://127.0.0.1:%d/metrics" % VMAGENT_HTTP, "vmagent")

        log("warm-up %ds (%d targets, interval %ds)" % (args.warmup, args.targets, args.interval))
        time.sleep(args.warmup)
        pids = {n: p.pid for n, p in procs.items()}

        def snapshot():
            for n, p in procs.items():
                if p.poll() is not None:
                    raise RuntimeError("%s exited with %s; see %s" % (n, p.returncode, os.path.join(work, n + ".log")))
            return {
                "time": time.time(),
                "cpu": {n: cpu_seconds(pid) for n, pid in pids.items()},
                "machine_busy": machine_busy_seconds(),
                "sink": stats("http://127.0.0.1:%d/" % SINK_STATS),
                "scrapes": stats("http://127.0.0.1:%d/" % TARGETS_STATS),
                "loadavg": open("/proc/loadavg").read().split()[:3],
            }

        before = snapshot()
        log("measuring %ds" % args.duration)
        time.sleep(args.duration)
        after = snapshot()
        hwm = {n: status_kib(pid, "VmHWM") for n, pid in pids.items()}
        rss = {n: status_kib(pid, "VmRSS") for n, pid in pids.items()}
        threads = {n: status_kib(pid, "Threads") for n, pid in pids.items()}
        weir_self = prom_values(get("http://127.0.0.1:%d/metrics" % WEIR_TELEMETRY), [
            "weir_prometheus_receiver_scrape_failures", "otelcol_receiver_accepted_metric_points",
            "otelcol_receiver_refused_metric_points", "otelcol_exporter_sent_metric_points",
            "otelcol_exporter_send_failed_metric_points", "otelcol_exporter_enqueue_failed",
            "otelcol_exporter_queue_size", "weir_items_dropped", "weir_prometheusremotewrite_requests",
            "weir_prometheus_receiver_targets"])
        vm_self = prom_values(get("http://127.0.0.1:%d/metrics" % VMAGENT_HTTP), [
            "vm_promscrape_scrapes_failed_total", "vm_promscrape_targets", "vm_promscrape_scrapes_total",
            "vmagent_remotewrite_packets_dropped_total", "vmagent_remotewrite_requests_total",
            "vmagent_remotewrite_pending_data_bytes", "vm_app_version"])
        vm_version = ""
        for line in get("http://127.0.0.1:%d/metrics" % VMAGENT_HTTP).splitlines():
            if line.startswith("vm_app_version"):
                vm_version = line
    finally:
        stop_all()

    window = after["time"] - before["time"]
    result = {"targets": args.targets, "interval": args.interval, "warmup": args.warmup,
              "window": round(window, 2), "series_per_target": args.series,
              "weir_pipeline": "prometheus -> batch -> prometheusremotewrite" if args.weir_batch
              else "prometheus -> prometheusremotewrite",
              "loadavg_before": before["loadavg"], "loadavg_after": after["loadavg"],
              "vm_app_version": vm_version, "workdir": work, "collectors": {}, "helpers": {}}
    ours = sum(after["cpu"][n] - before["cpu"][n] for n in pids)
    result["other_processes_cpu_s"] = round(after["machine_busy"] - before["machine_busy"] - ours, 2)
    for n in ("targets", "sink"):
        result["helpers"][n] = {"cpu_s": round(after["cpu"][n] - before["cpu"][n], 2), "peak_rss_kib": hwm[n]}
    for n in ("weir", "vmagent"):
        s0, s1 = before["sink"].get(n, {}), after["sink"].get(n, {})
        delta = {k: s1.get(k, 0) - s0.get(k, 0) for k in
                 ("requests", "bad_requests", "wire_bytes", "raw_bytes", "series_entries", "samples",
                  "stale_samples", "histograms")}
        sc0, sc1 = before["scrapes"].get(n, {}), after["scrapes"].get(n, {})
        result["collectors"][n] = {
            "cpu_s": round(after["cpu"][n] - before["cpu"][n], 2),
            "peak_rss_kib": hwm[n], "rss_kib": rss[n], "threads": threads[n],
            "scrapes": sc1.get("scrapes", 0) - sc0.get("scrapes", 0),
            "sink": delta,
            "distinct_series": s1.get("distinct_series", 0),
            "distinct_names": s1.get("distinct_names", 0),
            "up_instances": s1.get("up_instances", 0), "up_is_1": s1.get("up_is_1", 0),
            "names": s1.get("names", []),
            "self_metrics": weir_self if n == "weir" else vm_self,
        }
    print(json.dumps(result), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, required=True)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--series", type=int, default=815)
    ap.add_argument("--weir", required=True)
    ap.add_argument("--weir-batch", action="store_true", help="put a batch processor (defaults) in Weir's pipeline")
    ap.add_argument("--vmagent", default="/usr/bin/vmagent")
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--workdir", required=True)
    run(ap.parse_args())


if __name__ == "__main__":
    main()
