#!/usr/bin/env bash
# W1 through filter + probabilistic_sampler (10 %) + attributes, side by side with W1
# pass-through, same run, same payloads; prints CPU per input span and the ratio. See
# processors.py and README.md ("Central control processors").
#
# Builds Weir (release) from the current work tree, or with BENCH_COMMIT from that commit
# (exported with `git archive`, which changes nothing in the repository), into $BENCH_TARGET
# so that the main target dir is not disturbed. Weir pinned to core $COLLECTOR_CORE, loadgen +
# sink to $LOAD_CORE; 127.0.0.1 only.
#
# Environment (all optional):
#   WEIR_BIN=/path/to/weir       use this binary, build nothing for Weir
#   SKIP_BUILD=1                 reuse $BENCH_TARGET/release/weir and the loadgen
#   BENCH_COMMIT=HEAD            build this commit (exported to $BENCH_SRC) instead of the work tree
#   BENCH_SRC=/tmp/weir-bench-src   where BENCH_COMMIT is exported (replaced on every build)
#   BENCH_TARGET=/work/target-bench-cc   CARGO_TARGET_DIR for the Weir build
#   LOADGEN=path                 default: $BENCH_TARGET/otlp-loadgen/release/otlp-loadgen (built if absent)
#   REPEATS=3                    whole runs (each about 100 s); the table shows medians
#   FIXED_RATE=10000 FIXED_WARMUP=3 FIXED_WINDOW=10     low fixed rate (spans/s, seconds)
#   HIGH_RATE=200000 HIGH_WARMUP=2 HIGH_WINDOW=8        high fixed rate
#   UNPACED_WARMUP=2 UNPACED_WINDOW=8                   unpaced
#   COMPRESSION=none             the exporter's compression (none|gzip)
#   SCENARIOS=passthrough,processors   add filter,sampler,attributes for a breakdown (one processor each)
#   STEPS=fixed,high,unpaced     which steps each scenario runs
#   COLLECTOR_CORE=0 LOAD_CORE=1
#   OUT=dir                      logs and raw JSON (default: a new /tmp/weir-processors-bench.XXXXXX)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BENCH_TARGET="${BENCH_TARGET:-/work/target-bench-cc}"
LOADGEN="${LOADGEN:-$BENCH_TARGET/otlp-loadgen/release/otlp-loadgen}"

if [ -z "${WEIR_BIN:-}" ]; then
  WEIR_BIN="$BENCH_TARGET/release/weir"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    SRC="$REPO"
    if [ -n "${BENCH_COMMIT:-}" ]; then
      SRC="${BENCH_SRC:-/tmp/weir-bench-src}"
      commit="$(git -C "$REPO" rev-parse "$BENCH_COMMIT")"
      rm -rf "$SRC" && mkdir -p "$SRC"
      git -C "$REPO" archive "$commit" | tar -x -C "$SRC"
      echo "$commit" > "$SRC/.bench-commit"
    fi
    echo "==> building weir (release) from $SRC${BENCH_COMMIT:+ (commit $BENCH_COMMIT)} into $BENCH_TARGET" >&2
    (cd "$SRC" && CARGO_TARGET_DIR="$BENCH_TARGET" cargo build --release -q --bin weir)
  fi
fi
if [ ! -x "$LOADGEN" ]; then
  echo "==> building the loadgen" >&2
  CARGO_TARGET_DIR="$BENCH_TARGET/otlp-loadgen" cargo build --release -q --manifest-path "$HERE/loadgen/Cargo.toml"
  LOADGEN="$BENCH_TARGET/otlp-loadgen/release/otlp-loadgen"
fi
[ -x "$WEIR_BIN" ] || { echo "no weir binary at $WEIR_BIN" >&2; exit 1; }

OUT="${OUT:-$(mktemp -d /tmp/weir-processors-bench.XXXXXX)}"
mkdir -p "$OUT"
"$LOADGEN" gen --out "$OUT/payloads" --requests 256 >&2

{
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
  if [ -n "${BENCH_COMMIT:-}" ]; then built="commit $(git -C "$REPO" rev-parse --short "$BENCH_COMMIT")"
  else built="work tree at $(git -C "$REPO" rev-parse --short HEAD) + $(git -C "$REPO" status --porcelain | wc -l) uncommitted paths"; fi
  echo "weir: $WEIR_BIN ($("$WEIR_BIN" --version 2>/dev/null || echo '?'), ${WEIR_BUILT:-$built})"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

for i in $(seq 1 "${REPEATS:-3}"); do
  echo "==> run $i of ${REPEATS:-3}" >&2
  python3 "$HERE/processors.py" run --weir "$WEIR_BIN" --loadgen "$LOADGEN" \
    --payloads "$OUT/payloads" --out "$OUT/results.jsonl" --workdir "$OUT/run$i" \
    --compression "${COMPRESSION:-none}" --scenarios "${SCENARIOS:-passthrough,processors}" \
    --steps "${STEPS:-fixed,high,unpaced}" --fixed-rate "${FIXED_RATE:-10000}" \
    --fixed-warmup "${FIXED_WARMUP:-3}" --fixed-window "${FIXED_WINDOW:-10}" \
    --high-rate "${HIGH_RATE:-200000}" --high-warmup "${HIGH_WARMUP:-2}" --high-window "${HIGH_WINDOW:-8}" \
    --unpaced-warmup "${UNPACED_WARMUP:-2}" --unpaced-window "${UNPACED_WINDOW:-8}" \
    --collector-core "${COLLECTOR_CORE:-0}" --load-core "${LOAD_CORE:-1}"
done
python3 "$HERE/processors.py" report "$OUT/results.jsonl" | tee "$OUT/report.md"
echo "logs and raw results: $OUT" >&2
