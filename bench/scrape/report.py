#!/usr/bin/env python3
"""Reads bench.py's JSON lines (stdin or files) and prints the results as Markdown tables."""
import fileinput
import json

runs = [json.loads(l) for l in fileinput.input() if l.strip().startswith("{")]


def mib(kib):
    return kib / 1024


for r in runs:
    print("Weir pipeline (%d targets): %s" % (r["targets"], r.get("weir_pipeline", "?")))
print()
print("| targets | collector | CPU s in window | avg cores | peak RSS MiB | scrapes served | samples at sink | samples/s | remote-write requests | wire MB (snappy) | up=1 / targets |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in runs:
    for n in ("weir", "vmagent"):
        c = r["collectors"][n]
        s = c["sink"]
        print("| %d | %s | %.2f | %.3f | %.1f | %d | %d | %.0f | %d | %.1f | %d / %d |" % (
            r["targets"], n, c["cpu_s"], c["cpu_s"] / r["window"], mib(c["peak_rss_kib"]), c["scrapes"],
            s["samples"], s["samples"] / r["window"], s["requests"], s["wire_bytes"] / 1e6,
            c["up_is_1"], r["targets"]))
print()
print("| targets | CPU Weir/vmagent | peak RSS Weir/vmagent | samples Weir/vmagent | window | helpers' CPU s (targets, sink) | other processes' CPU s | load avg before -> after |")
print("|---:|---:|---:|---:|---:|---:|---:|---|")
for r in runs:
    w, v = r["collectors"]["weir"], r["collectors"]["vmagent"]
    ratio = lambda a, b: ("%.2f" % (a / b)) if b else "n/a"
    print("| %d | %s | %s | %s | %.0f s after %d s warm-up, interval %d s | %.2f, %.2f | %.2f | %s -> %s |" % (
        r["targets"], ratio(w["cpu_s"], v["cpu_s"]), ratio(w["peak_rss_kib"], v["peak_rss_kib"]),
        ratio(w["sink"]["samples"], v["sink"]["samples"]), r["window"], r["warmup"], r["interval"],
        r["helpers"]["targets"]["cpu_s"], r["helpers"]["sink"]["cpu_s"], r["other_processes_cpu_s"],
        " ".join(r["loadavg_before"]), " ".join(r["loadavg_after"])))
