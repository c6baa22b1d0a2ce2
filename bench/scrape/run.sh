#!/usr/bin/env bash
# Scrape + remote-write benchmark, Weir vs vmagent side by side. See README.md.
#
#   bench/scrape/run.sh [targets...]          default: 100 1000
#
# Environment: WEIR (binary; default $CARGO_TARGET_DIR or ./target, release/weir),
# VMAGENT (/usr/bin/vmagent), INTERVAL (10), WARMUP (20), DURATION (60), SERIES (815),
# WEIR_BATCH (set: a batch processor in Weir's pipeline), OUT (a directory for logs and JSON; default a new one under /tmp).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(100 1000)

weir="${WEIR:-${CARGO_TARGET_DIR:-$repo/target}/release/weir}"
vmagent="${VMAGENT:-/usr/bin/vmagent}"
[ -x "$weir" ] || { echo "no weir binary at $weir: cargo build --release -p weir (or set WEIR)" >&2; exit 1; }
[ -x "$vmagent" ] || { echo "no vmagent at $vmagent: apt-get install victoria-metrics (or set VMAGENT)" >&2; exit 1; }

# The load helper (targets + sink) is its own little crate, outside the workspace.
loadgen_target="${LOADGEN_TARGET_DIR:-${CARGO_TARGET_DIR:-$repo/target}/scrape-loadgen}"
( cd "$here/loadgen" && CARGO_TARGET_DIR="$loadgen_target" cargo build --release --quiet )
loadgen="$loadgen_target/release/scrape-loadgen"

# Every target is a listening socket plus one connection per collector.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

out="${OUT:-$(mktemp -d /tmp/weir-scrape-bench.XXXXXX)}"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
echo "$("$weir" --version 2>/dev/null || echo '?') ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')); vmagent $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo '?')" >&2
for n in "${targets[@]}"; do
  python3 "$here/bench.py" --targets "$n" --interval "${INTERVAL:-10}" --warmup "${WARMUP:-20}" \
    --duration "${DURATION:-60}" --series "${SERIES:-815}" --weir "$weir" --vmagent "$vmagent" \
    --loadgen "$loadgen" --workdir "$out/$n" ${WEIR_BATCH:+--weir-batch} | tee -a "$results" >/dev/null
done
python3 "$here/report.py" "$results"
echo "logs and raw results: $out" >&2
