#!/usr/bin/env python3
"""W1 through central-control processors, as a ratio of W1 pass-through, in the same run.

  processors.py run --weir BIN --loadgen BIN --payloads DIR --out FILE --workdir DIR [knobs]
  processors.py report FILE...      (medians over the runs in the files, as Markdown)

Two Weir configs, one after the other, each a fresh Weir (core 0) and a fresh counting
sink (core 1), the same W1 payloads (OTLP/gRPC traces, 100 spans x 10 attributes per
request) from the loadgen (core 1):

- passthrough: otlp receiver -> batch -> otlp exporter (bench.py's W1 config);
- processors:  otlp receiver -> filter (drops the 1 span in 5 named "redis GET") ->
  probabilistic_sampler (10 %) -> attributes (delete net.peer.ip, hash req.id, insert
  env) -> batch -> otlp exporter.

For each, three steps: a low fixed rate (--fixed-rate, 10 000 spans/s: the cost at a
light load), a high fixed rate (--high-rate, 200 000 spans/s: both configs take it on one
core, so CPU per span compares at the same, real load) and an unpaced step (the most
spans per second it takes). CPU is the collector's utime+stime over the measured window,
divided by the spans it accepted in the window (input spans: the cost of deciding to drop
a span counts, the spans it dropped do not shrink the divisor). In the unpaced step
pass-through can be bound by the loadgen and sink sharing core 1 (they count every span it
forwards, 12 x more than after the processors): the report marks a collector below 90 %
of its core there, with its core not busy with other work either, as "client-bound" (its
rate a lower bound), and one below 90 % whose core others used as "core shared".

Checks: no client error; the sink received exactly what Weir's exporter reports sent
(`otelcol_exporter_sent_spans_total`), and for pass-through exactly what was accepted.
The kept fraction is printed (about 0.8 x 0.1 = 0.08 for the processors config).

Reuses bench.py's Rig (process start/stop by PID, CPU and RSS readings, the loadgen
step); only the Weir config differs. Every step is bounded; a run takes about a minute
with the defaults.
"""
import argparse
import json
import os
import statistics
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

# The processors each config puts before `batch`. The last three take the processors one at
# a time (a breakdown: `--scenarios passthrough,filter,sampler,attributes`); alone,
# `attributes` works on every span, not on the 8 % the sampler keeps.
CHAINS = {
    "passthrough": [],
    "processors": ["filter/bench", "probabilistic_sampler", "attributes/bench"],
    "filter": ["filter/bench"],
    "sampler": ["probabilistic_sampler"],
    "attributes": ["attributes/bench"],
}
SCENARIOS = tuple(CHAINS)

PROCESSORS = """  filter/bench:
    error_mode: ignore
    traces:
      span:
        - 'name == "redis GET"'
  probabilistic_sampler:
    sampling_percentage: 10
  attributes/bench:
    actions:
      - key: net.peer.ip
        action: delete
      - key: req.id
        action: hash
      - key: env
        value: bench
        action: insert
"""


def config(scenario, grpc, http, sink, metrics, compression):
    chain = "[%s]" % ", ".join(CHAINS[scenario] + ["batch"])
    return """receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:%(grpc)d}
      http: {endpoint: 127.0.0.1:%(http)d}
processors:
  batch:
%(extra)sexporters:
  otlp:
    endpoint: http://127.0.0.1:%(sink)d
    tls: {insecure: true}
    compression: %(comp)s
service:
  telemetry:
    metrics: {address: 127.0.0.1:%(metrics)d}
  pipelines:
    traces: {receivers: [otlp], processors: %(chain)s, exporters: [otlp]}
""" % dict(grpc=grpc, http=http, sink=sink, metrics=metrics, comp=compression, chain=chain,
           extra=PROCESSORS if CHAINS[scenario] else "")


class Scenario:
    """Installs the Weir config of one scenario into bench.py for the next Rig, and
    remembers the self-metrics port it chose."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.metrics_port = None

    def __call__(self, a, workdir, grpc, http, sink, metrics):
        self.metrics_port = metrics
        path = os.path.join(workdir, "weir.yaml")
        with open(path, "w") as f:
            f.write(config(self.scenario, grpc, http, sink, metrics, a.compression))
        return [a.weir, "--config", path]

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total


def measured_step(rig, scen, rate, warmup, window):
    sent0 = scen.metric("otelcol_exporter_sent_spans_total")
    row = rig.step(rate, warmup, window)
    sent = scen.metric("otelcol_exporter_sent_spans_total") - sent0
    verdict = []
    if row["errors"]:
        verdict.append("%d client errors" % row["errors"])
    if row["received"] != sent:
        verdict.append("sink got %d, weir sent %d" % (row["received"], sent))
    if scen.scenario == "passthrough" and row["received"] != row["ok_items"]:
        verdict.append("sink got %d of %d accepted" % (row["received"], row["ok_items"]))
    if rate > 0 and row["achieved"] < 0.98 * rate:
        verdict.append("achieved %.0f/s < 98%% of %d/s" % (row["achieved"], rate))
    row.update(exporter_sent=sent, kept=row["received"] / max(1, row["ok_items"]),
               ok=not verdict, verdict="; ".join(verdict) or "ok")
    bench.log("  %-11s %s: %.0f spans/s in, %.2f us CPU per input span, kept %.3f, %s" % (
        scen.scenario, "unpaced" if rate == 0 else "rate %d" % rate, row["achieved"], row["us_per_item"],
        row["kept"], row["verdict"]))
    return row


def run(a):
    for scenario in a.scenarios.split(","):
        scen = Scenario(scenario)
        bench.weir_cmd = scen  # bench.Rig starts Weir with bench.weir_cmd(...)
        rec = {"scenario": scenario, "compression": a.compression,
               "loadavg_before": open("/proc/loadavg").read().split()[:3]}
        rig = None
        try:
            rig = bench.Rig(a, "w1", "weir", os.path.join(a.workdir, scenario))
            rec["idle_rss_kib"] = rig.idle_rss_kib
            steps = {"fixed": (a.fixed_rate, a.fixed_warmup, a.fixed_window),
                     "high": (a.high_rate, a.high_warmup, a.high_window),
                     "unpaced": (0, a.unpaced_warmup, a.unpaced_window)}
            for step in a.steps.split(","):
                rec[step] = measured_step(rig, scen, *steps[step])
            rec["peak_rss_kib"] = bench.status_kib(rig.pid, "VmHWM")
        except Exception as e:  # recorded; the other scenario still runs
            rec["error"] = str(e)
            bench.log("%s: FAILED: %s" % (scenario, e))
        finally:
            if rig:
                rig.close()
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")


STEPS = (("fixed", "low fixed rate"), ("high", "high fixed rate"), ("unpaced", "unpaced"))


def report(files):
    recs = []
    for fn in files:
        with open(fn) as f:
            recs += [json.loads(l) for l in f if l.strip().startswith("{")]
    med = statistics.median
    rows = {}
    rates = {}
    print("W1 (OTLP/gRPC traces, 100 spans x 10 attributes per request), Weir pinned to one core;"
          " medians over n runs. CPU per *input* span (spans accepted in the window).\n")
    print("| scenario | step | n | offered spans/s | achieved spans/s | CPU % of one core | CPU µs/span"
          " | kept fraction | others' use of core 0 % | all ok |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for scenario in SCENARIOS:
        for key, label in STEPS:
            xs = [r[key] for r in recs if r["scenario"] == scenario and key in r]
            if not xs:
                continue
            rates[key] = xs[0]["rate"]
            s = rows.setdefault(scenario, {})[key] = {
                "us": med([x["us_per_item"] for x in xs]), "pct": med([x["cpu_pct"] for x in xs]),
                "achieved": med([x["achieved"] for x in xs]), "kept": med([x["kept"] for x in xs]),
                "others": med([x["core_other_pct"] for x in xs]),
            }
            bound = ""
            if key == "unpaced" and s["pct"] < 90:
                bound = " (client-bound)" if s["pct"] + max(0.0, s["others"]) < 90 else " (core shared)"
            print("| %s | %s | %d | %s | %.0f%s | %.1f | %.2f | %.3f | %.0f | %s |" % (
                scenario, label, len(xs), xs[0]["rate"] or "max", s["achieved"], bound, s["pct"], s["us"],
                s["kept"], max(0.0, s["others"]), "yes" if all(x["ok"] for x in xs) else "NO"))
    peak = {sc: med([r["peak_rss_kib"] for r in recs if r["scenario"] == sc and "peak_rss_kib" in r]) / 1024
            for sc in SCENARIOS if any(r["scenario"] == sc and "peak_rss_kib" in r for r in recs)}
    if peak:
        print("\npeak RSS MiB (whole process life): " + ", ".join("%s %.1f" % kv for kv in peak.items()))
    q = rows.get("passthrough", {})
    for scenario in SCENARIOS:
        p = rows.get(scenario)
        if scenario == "passthrough" or not p or not q:
            continue
        parts = ["%.2fx at %s spans/s" % (p[k]["us"] / q[k]["us"], rates[k] or "max (unpaced)")
                 for k, _ in STEPS if k in p and k in q]
        line = "\n%s / passthrough, CPU per input span: %s" % (scenario, ", ".join(parts))
        if "unpaced" in p and "unpaced" in q:
            line += "; unpaced spans/s %.2fx" % (p["unpaced"]["achieved"] / q["unpaced"]["achieved"])
            if q["unpaced"]["pct"] + max(0.0, q["unpaced"]["others"]) < 90:
                line += " (pass-through client-bound: its rate is a lower bound, the ratio an upper bound)"
        print(line)
    for r in recs:
        if "error" in r:
            print("\nFAILED: %s: %s" % (r["scenario"], r["error"]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        report(sys.argv[2:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["run"])
    p.add_argument("--weir", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--payloads", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--compression", default="none", choices=["none", "gzip"])
    p.add_argument("--scenarios", default="passthrough,processors",
                   help="comma-separated, of: " + ",".join(SCENARIOS))
    p.add_argument("--steps", default="fixed,high,unpaced", help="comma-separated, of: fixed,high,unpaced")
    p.add_argument("--fixed-rate", type=int, default=10000)
    p.add_argument("--fixed-warmup", type=float, default=3)
    p.add_argument("--fixed-window", type=float, default=10)
    p.add_argument("--high-rate", type=int, default=200000)
    p.add_argument("--high-warmup", type=float, default=2)
    p.add_argument("--high-window", type=float, default=8)
    p.add_argument("--unpaced-warmup", type=float, default=2)
    p.add_argument("--unpaced-window", type=float, default=8)
    p.add_argument("--collector-core", type=int, default=0)
    p.add_argument("--load-core", type=int, default=1)
    p.add_argument("--grpc-connections", type=int, default=4)
    p.add_argument("--grpc-streams", type=int, default=4)
    p.add_argument("--http-connections", type=int, default=16)
    a = p.parse_args()
    run(a)


if __name__ == "__main__":
    main()
