#!/usr/bin/env bash
# Builds Weir's fuzz targets (tests/fuzz) and runs each for a bounded time:
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Default: 15 s per target, every target. Installs cargo-fuzz when it is missing. Works on
# the stable toolchain (no sanitizer; see README.md). Builds go to their own target dir,
# ${CARGO_TARGET_DIR:-target}/fuzz, and so do the corpora (seeded from tests/conformance by
# seed.py) and crash artifacts.
#
# A crash (or a timeout, or running out of memory) fails the script. Its input is copied to
# tests/fuzz/regressions/<target>/, where tests/tests/fuzz_regressions.rs replays it with
# the same entry point: fix the bug, keep the file, and the crash is a regression test.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$(pwd)"
SECONDS_PER_TARGET="${1:-15}"
shift || true
ALL_TARGETS=(otlp_protobuf otlp_json config statsd prometheus wal)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

FUZZ_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}/fuzz"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="$FUZZ_TARGET_DIR/$TRIPLE/release"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

echo "==> building fuzz targets (${TARGETS[*]}) into $FUZZ_TARGET_DIR"
# -s none: no sanitizer, so no nightly-only -Z flag is needed (stable toolchain).
# --codegen-units 16: cargo fuzz's default of 1 makes the instrumented build of the whole
# workspace several times slower on two cores.
build_started=$(date +%s)
mkdir -p "$FUZZ_TARGET_DIR"
build_log="$FUZZ_TARGET_DIR/build.log"
build() {
  cargo fuzz build --fuzz-dir tests/fuzz --sanitizer none --codegen-units 16 \
    --target-dir "$FUZZ_TARGET_DIR" "$@" >"$build_log" 2>&1 \
    || { tail -60 "$build_log" >&2; echo "fuzz build failed (log: $build_log)" >&2; exit 1; }
}
if [ $# -gt 0 ]; then
  for target in "${TARGETS[@]}"; do build "$target"; done
else
  build
fi
echo "    built in $(( $(date +%s) - build_started )) s"

CORPUS="$FUZZ_TARGET_DIR/corpus"
python3 tests/fuzz/seed.py "$CORPUS"

failed=()
for target in "${TARGETS[@]}"; do
  artifacts="$FUZZ_TARGET_DIR/artifacts/$target"
  log="$FUZZ_TARGET_DIR/logs/$target.log"
  mkdir -p "$artifacts" "$(dirname "$log")" "$CORPUS/$target"
  rm -f "$artifacts"/*
  echo "==> fuzzing $target for ${SECONDS_PER_TARGET} s"
  # -timeout: one input taking longer is a hang; -rss_limit_mb: an unbounded allocation.
  if "$BIN_DIR/$target" "$CORPUS/$target" \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "    ok: ${runs:-?} inputs, corpus $(ls "$CORPUS/$target" | wc -l) files"
  else
    failed+=("$target")
    tail -40 "$log"
    mkdir -p "tests/fuzz/regressions/$target"
    for crash in "$artifacts"/*; do
      [ -f "$crash" ] || continue
      cp "$crash" "tests/fuzz/regressions/$target/"
      echo "    crash input kept as tests/fuzz/regressions/$target/$(basename "$crash")"
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (logs in $FUZZ_TARGET_DIR/logs)" >&2
  exit 1
fi
echo "fuzzing: ${#TARGETS[@]} targets ran ${SECONDS_PER_TARGET} s each without a crash"
