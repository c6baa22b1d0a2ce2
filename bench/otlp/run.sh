#!/usr/bin/env bash
# OTLP load benchmark, Weir vs rotel side by side (issue 7, item 5). See README.md.
#
#   W1: OTLP/gRPC traces, 100 spans x 10 string attributes per request (~334 B per span)
#   W2: OTLP/HTTP protobuf logs, 512 records per request (~298 B per record)
#   collector (Weir, then rotel) pinned to core $COLLECTOR_CORE (0) with taskset;
#   loadgen + counting sink (bench/otlp/loadgen) pinned to core $LOAD_CORE (1); 127.0.0.1 only.
#
# Steps: build Weir (release) from a git worktree of the committed HEAD, so work in progress in
# the main tree is neither built nor disturbed; build the loadgen; install rotel (PyPI package
# `rotel`, pinned) into a venv; encode the payloads once; run bench.py; print the tables.
#
# Environment (all optional):
#   WEIR_BIN=/path/to/weir       use this binary, build nothing for Weir
#   SKIP_BUILD=1                 use the binaries already in $BENCH_TARGET (Weir and loadgen)
#   BENCH_COMMIT=HEAD            the commit the worktree is checked out at
#   BENCH_WORKTREE=/work/bench-wt   BENCH_TARGET=/work/target-bench   (CARGO_TARGET_DIR for both builds)
#   VENV=/work/.venv-bench       where rotel is installed; ROTEL_BIN overrides the binary
#   WORKLOADS=w1,w2  MODES=fixed,saturation  COLLECTORS=weir,rotel
#   FIXED_RATE=10000 FIXED_WARMUP=10 FIXED_WINDOW=30          fixed-rate mode (items/s, seconds)
#   SAT_WARMUP=5 SAT_WINDOW=60 PROBE_SECONDS=10 REFINE=3      saturation mode (seconds per step)
#   ATTEMPTS=2                   tries of a saturation step that failed while others used the collector's core
#   COMPRESSION=none             exporters' compression on both collectors (none|gzip)
#   REPEATS=1                    whole runs; the tables show medians over them
#   COLLECTOR_CORE=0 LOAD_CORE=1
#   GRPC_CONNECTIONS=4 GRPC_STREAMS=4 HTTP_CONNECTIONS=16     loadgen concurrency
#   OUT=dir                      logs and raw JSON (default: a new /tmp/weir-otlp-bench.XXXXXX)
#
# Quick run (15-20 minutes): SAT_WINDOW=10 SAT_WARMUP=3 PROBE_SECONDS=5 FIXED_WARMUP=5 bench/otlp/run.sh
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ROTEL_VERSION=0.0.1a15
BENCH_COMMIT="${BENCH_COMMIT:-HEAD}"
BENCH_WORKTREE="${BENCH_WORKTREE:-/work/bench-wt}"
BENCH_TARGET="${BENCH_TARGET:-/work/target-bench}"
VENV="${VENV:-/work/.venv-bench}"
LOADGEN="$BENCH_TARGET/otlp-loadgen/release/otlp-loadgen"

if [ -z "${WEIR_BIN:-}" ]; then
  WEIR_BIN="$BENCH_TARGET/release/weir"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    commit="$(git -C "$REPO" rev-parse "$BENCH_COMMIT")"
    if [ ! -e "$BENCH_WORKTREE/.git" ]; then
      echo "==> git worktree $BENCH_WORKTREE at $commit" >&2
      git -C "$REPO" worktree add --detach "$BENCH_WORKTREE" "$commit" >&2
    else
      git -C "$BENCH_WORKTREE" checkout -q --detach "$commit"
    fi
    echo "==> building weir (release) at $(git -C "$BENCH_WORKTREE" rev-parse --short HEAD) into $BENCH_TARGET" >&2
    (cd "$BENCH_WORKTREE" && CARGO_TARGET_DIR="$BENCH_TARGET" cargo build --release -q --bin weir)
  fi
fi
if [ "${SKIP_BUILD:-0}" != 1 ] || [ ! -x "$LOADGEN" ]; then
  echo "==> building the loadgen" >&2
  CARGO_TARGET_DIR="$BENCH_TARGET/otlp-loadgen" cargo build --release -q --manifest-path "$HERE/loadgen/Cargo.toml"
fi
[ -x "$WEIR_BIN" ] || { echo "no weir binary at $WEIR_BIN" >&2; exit 1; }

# rotel's agent binary ships inside its wheel (rotel/rotel-agent).
if [ -z "${ROTEL_BIN:-}" ]; then
  if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('rotel') == '$ROTEL_VERSION'" 2>/dev/null; then
    echo "==> installing rotel==$ROTEL_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "rotel==$ROTEL_VERSION"
  fi
  ROTEL_BIN="$("$VENV/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
fi
[ -x "$ROTEL_BIN" ] || { echo "no rotel agent at $ROTEL_BIN" >&2; exit 1; }

OUT="${OUT:-$(mktemp -d /tmp/weir-otlp-bench.XXXXXX)}"
mkdir -p "$OUT"
"$LOADGEN" gen --out "$OUT/payloads" --requests 256 >&2

{
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
  echo "weir: $WEIR_BIN ($("$WEIR_BIN" --version 2>/dev/null || echo '?'), commit $(git -C "$BENCH_WORKTREE" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "rotel: $ROTEL_BIN (PyPI rotel==$ROTEL_VERSION, reports '$("$ROTEL_BIN" --version 2>/dev/null || echo '?')')"
  echo "compression: ${COMPRESSION:-none}; fixed ${FIXED_RATE:-10000} items/s, ${FIXED_WARMUP:-10} s warm-up + ${FIXED_WINDOW:-30} s; saturation ${SAT_WARMUP:-5} s warm-up + ${SAT_WINDOW:-60} s per step"
} | tee "$OUT/machine.txt" >&2

for i in $(seq 1 "${REPEATS:-1}"); do
  echo "==> run $i of ${REPEATS:-1}" >&2
  python3 "$HERE/bench.py" run --weir "$WEIR_BIN" --rotel "$ROTEL_BIN" --loadgen "$LOADGEN" \
    --payloads "$OUT/payloads" --out "$OUT/results.jsonl" --workdir "$OUT/run$i" \
    --workloads "${WORKLOADS:-w1,w2}" --modes "${MODES:-fixed,saturation}" --collectors "${COLLECTORS:-weir,rotel}" \
    --compression "${COMPRESSION:-none}" --fixed-rate "${FIXED_RATE:-10000}" \
    --fixed-warmup "${FIXED_WARMUP:-10}" --fixed-window "${FIXED_WINDOW:-30}" \
    --sat-warmup "${SAT_WARMUP:-5}" --sat-window "${SAT_WINDOW:-60}" --probe-seconds "${PROBE_SECONDS:-10}" \
    --refine "${REFINE:-3}" --attempts "${ATTEMPTS:-2}" --collector-core "${COLLECTOR_CORE:-0}" --load-core "${LOAD_CORE:-1}" \
    --grpc-connections "${GRPC_CONNECTIONS:-4}" --grpc-streams "${GRPC_STREAMS:-4}" \
    --http-connections "${HTTP_CONNECTIONS:-16}"
done
python3 "$HERE/bench.py" report "$OUT/results.jsonl" | tee "$OUT/report.md"
echo "logs and raw results: $OUT" >&2
