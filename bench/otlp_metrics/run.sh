#!/usr/bin/env bash
# OTLP metrics -> remote-write benchmark (issue 13, acceptance row 3). See README.md.
#
#   Weir (otlp receiver, OTLP/HTTP protobuf -> prometheusremotewrite exporter) pinned to core
#   $COLLECTOR_CORE (0) with taskset; the OTLP loadgen (bench/otlp/loadgen, workload m1: 1000
#   points per request over 10k series) and the remote-write sink (bench/scrape/loadgen `sink`)
#   pinned to core $LOAD_CORE (1). 127.0.0.1 only; every process is stopped by its PID.
#
# Per repeat: for each of $CONFIGS, a paced ladder ($RATES, a fresh Weir; stops after two
# failing steps) and an unpaced run ($UNPACED_SECONDS, a fresh Weir, RSS sampled every 0.5 s);
# then the unpaced run for $BOUND_CONFIGS (q16: max_size_mib 16). Then the median tables,
# the vmagent OTLP probe, and (PROFILE=1) perf profiles of Weir.
#
# Environment (all optional):
#   WEIR=/path/to/weir          default target/release/weir (this script builds only the load helpers);
#                               copy it elsewhere first if a build may replace it during the run (perf
#                               resolves symbols from the path after the run)
#   CONFIGS=default,block,batch BOUND_CONFIGS=q16
#   RATES=100000,200000,250000,300000,350000,400000,500000,700000,1000000
#   WARMUP=3 WINDOW=10 UNPACED_SECONDS=60 CONNECTIONS=4 REPEATS=3
#   PROFILE=1 PROFILE_RATE=300000    perf profiles: default config at PROFILE_RATE, and unpaced
#   COLLECTOR_CORE=0 LOAD_CORE=1
#   HELPERS_TARGET=/work/target-otlpm   CARGO_TARGET_DIR of the two load helper crates
#   OUT=dir                      logs, configs, raw JSON (default a new /tmp/weir-otlpm-bench.XXXXXX)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WEIR="${WEIR:-$REPO/target/release/weir}"
VMAGENT="${VMAGENT:-/usr/bin/vmagent}"
HELPERS_TARGET="${HELPERS_TARGET:-/work/target-otlpm}"
[ -x "$WEIR" ] || { echo "no weir binary at $WEIR: cargo build --release -p weir (or set WEIR)" >&2; exit 1; }

echo "==> building the load helpers into $HELPERS_TARGET" >&2
CARGO_TARGET_DIR="$HELPERS_TARGET/otlp-loadgen" cargo build --release -q --manifest-path "$REPO/bench/otlp/loadgen/Cargo.toml"
CARGO_TARGET_DIR="$HELPERS_TARGET/scrape-loadgen" cargo build --release -q --manifest-path "$REPO/bench/scrape/loadgen/Cargo.toml"
LOADGEN="$HELPERS_TARGET/otlp-loadgen/release/otlp-loadgen"
SINK="$HELPERS_TARGET/scrape-loadgen/release/scrape-loadgen"

OUT="${OUT:-$(mktemp -d /tmp/weir-otlpm-bench.XXXXXX)}"
mkdir -p "$OUT"
"$LOADGEN" gen --out "$OUT/payloads" --requests 1 | grep m1.bin >&2
PAYLOADS="$OUT/payloads/m1.bin"

{
  echo "command: ${0} (CONFIGS=${CONFIGS:-default,block,batch} BOUND_CONFIGS=${BOUND_CONFIGS-q16} RATES=${RATES:-default} WARMUP=${WARMUP:-3} WINDOW=${WINDOW:-10} UNPACED_SECONDS=${UNPACED_SECONDS:-60} CONNECTIONS=${CONNECTIONS:-4} REPEATS=${REPEATS:-3} PROFILE=${PROFILE:-0})"
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
  echo "weir: $WEIR ($("$WEIR" --version 2>/dev/null || echo '?'), binary built $(date -u -r "$WEIR" '+%F %T UTC'); tree at commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), $(git -C "$REPO" status --porcelain 2>/dev/null | grep -c . || true) files changed in the work tree)"
  echo "date: $(date -u '+%F %T UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

RATES="${RATES:-100000,200000,250000,300000,350000,400000,500000,700000,1000000}"
common=(--weir "$WEIR" --loadgen "$LOADGEN" --sink "$SINK" --payloads "$PAYLOADS" --out "$OUT/results.jsonl"
        --warmup "${WARMUP:-3}" --window "${WINDOW:-10}" --unpaced-seconds "${UNPACED_SECONDS:-60}"
        --connections "${CONNECTIONS:-4}" --collector-core "${COLLECTOR_CORE:-0}" --load-core "${LOAD_CORE:-1}")
for i in $(seq 1 "${REPEATS:-3}"); do
  echo "==> run $i of ${REPEATS:-3}" >&2
  timeout 3600 python3 "$HERE/bench.py" run "${common[@]}" --workdir "$OUT/run$i" --run-id "$i" \
    --configs "${CONFIGS:-default,block,batch}" --rates "$RATES"
  if [ -n "${BOUND_CONFIGS-q16}" ]; then
    timeout 900 python3 "$HERE/bench.py" run "${common[@]}" --workdir "$OUT/run$i" --run-id "$i" \
      --configs "${BOUND_CONFIGS-q16}" --rates ""
  fi
done
python3 "$HERE/bench.py" report "$OUT/results.jsonl" | tee "$OUT/report.md"

echo "==> does vmagent ingest OTLP?" >&2
timeout 120 python3 "$HERE/bench.py" vmagent --vmagent "$VMAGENT" --payloads "$PAYLOADS" --workdir "$OUT" | tee "$OUT/vmagent.json"

if [ "${PROFILE:-0}" = 1 ]; then
  for rate in "${PROFILE_RATE:-300000}" 0; do
    echo "==> perf profile of Weir (default config), rate ${rate} (0 = unpaced)" >&2
    timeout 900 python3 "$HERE/bench.py" profile "${common[@]}" --workdir "$OUT/profile-$rate" --configs default \
      --profile-rate "$rate" --perf-out "$OUT/perf-$rate.data" > "$OUT/perf-$rate.txt"
    python3 "$HERE/perf_groups.py" "$OUT/perf-$rate.data" | tee "$OUT/perf-$rate-groups.txt"
    grep -v '^#' "$OUT/perf-$rate.txt" | head -25
  done
fi
echo "logs and raw results: $OUT" >&2
