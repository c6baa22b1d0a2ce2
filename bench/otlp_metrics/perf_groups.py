#!/usr/bin/env python3
"""Groups a `perf report --no-children` flat profile of Weir into stages (bench/otlp_metrics).

    perf_groups.py perf.data      prints `stage  percent` lines, largest first.

Heuristic, by symbol name: it says roughly where the time goes, not exactly.
"""
import re
import subprocess
import sys

GROUPS = [
    ("kernel (network, scheduler)", r"\[k\]"),
    ("OTLP wire walk + validation (receiver, views)", r"batch::wire|validate::Reader|AttributeIter|ValueRef|from_utf8|batch::view|otlp_receiver|decode_varint"),
    ("remote-write conversion: labels, names, series identity", r"convert::|naming::|attributes::Collector|btree|FromIterator<char>|memcmp|label|series_index"),
    ("remote-write ordering lanes", r"lane::"),
    ("protobuf encoding + snappy", r"encoded_len|prost::encoding|encode_into|snap::"),
    ("allocator (mimalloc) + memmove", r"_mi_|mi_|memmove|memcpy|memset"),
    ("HTTP (hyper) + tokio runtime", r"hyper|tokio|h2::|http::"),
]


def main():
    out = subprocess.run(["perf", "report", "-i", sys.argv[1], "--stdio", "--no-children", "-g", "none",
                          "--sort", "dso,symbol", "--percent-limit", "0"], capture_output=True, text=True).stdout
    totals, other = {}, []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(.*)", line)
        if not m:
            continue
        pct, rest = float(m.group(1)), m.group(2) + " " + m.group(3)
        for name, rx in GROUPS:
            if re.search(rx, rest):
                totals[name] = totals.get(name, 0) + pct
                break
        else:
            totals["other"] = totals.get("other", 0) + pct
            other.append((pct, rest.strip()[:110]))
    for name, pct in sorted(totals.items(), key=lambda x: -x[1]):
        print("%5.1f%%  %s" % (pct, name))
    print("\nlargest 'other' symbols:")
    for pct, sym in sorted(other, reverse=True)[:8]:
        print("  %5.2f%%  %s" % (pct, sym))


if __name__ == "__main__":
    main()
