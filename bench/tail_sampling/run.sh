#!/usr/bin/env bash
# The tail_sampling benchmark (not a test): the processor fed wire batches in process at
# 10k and 100k spans/s with a 64 MiB buffer. See README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p weir-tail-sampling --example tail_sampling_load
for rate in 10000 100000; do
  ./target/release/examples/tail_sampling_load \
    --rate "$rate" --seconds "${SECONDS_PER_RUN:-30}" --decision-wait 10 --buffer-mib 64 2>/dev/null
done
