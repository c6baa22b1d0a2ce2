#!/usr/bin/env bash
# Soak: Weir at half its measured saturation for 30 minutes, VmRSS recorded every 10 s
# (issue 12, item 6). Not run in CI. See README.md.
#
#   1. start a counting OTLP sink (bench/otlp/loadgen `sink`) and Weir:
#      OTLP/gRPC receiver -> otlp exporter with a persistent queue
#      (sending_queue.storage: file_storage) -> the sink. No batch processor by default: with a
#      persistent queue a client is answered once its batch is on disk, so a batch processor adds
#      its timeout (200 ms) to every answer and the loadgen's 16 requests in flight would
#      measure that latency, not Weir's saturation (BATCH=1 puts it back);
#   2. saturation: the loadgen sends W1 traces (100 spans per request) as fast as Weir answers,
#      for SAT_SECONDS; the accepted spans per second are the saturation;
#   3. soak: the loadgen sends at half that rate for DURATION seconds (in runs of at most 900 s,
#      the loadgen's cap), while VmRSS, the queue's bytes on disk and the spans delivered are
#      sampled every INTERVAL seconds into $OUT/rss.csv;
#   4. SIGTERM Weir, stop the sink (both by PID), print a summary ($OUT/summary.txt).
#
# Environment (all optional):
#   WEIR_BIN=target/release/weir     built with `cargo build --release --bin weir` if missing
#   LOADGEN=target/loadgen/release/otlp-loadgen    built from bench/otlp/loadgen if missing
#   DURATION=1800  INTERVAL=10  SAT_WARMUP=5  SAT_SECONDS=20
#   PERSISTENT=1                     0: the memory queue instead
#   BATCH=0                          1: a batch processor in the pipeline
#   CONNECTIONS=4 STREAMS=4          loadgen concurrency
#   OUT=dir                          default: a new /tmp/weir-soak.XXXXXX
#
# Quick check that the script works: DURATION=180 bench/soak/run.sh
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-1800}"
INTERVAL="${INTERVAL:-10}"
SAT_WARMUP="${SAT_WARMUP:-5}"
SAT_SECONDS="${SAT_SECONDS:-20}"
PERSISTENT="${PERSISTENT:-1}"
BATCH="${BATCH:-0}"
CONNECTIONS="${CONNECTIONS:-4}"
STREAMS="${STREAMS:-4}"
WEIR_BIN="${WEIR_BIN:-$REPO/target/release/weir}"
LOADGEN="${LOADGEN:-$REPO/target/loadgen/release/otlp-loadgen}"
OUT="${OUT:-$(mktemp -d /tmp/weir-soak.XXXXXX)}"
mkdir -p "$OUT"

if [ ! -x "$WEIR_BIN" ]; then
  echo "==> building weir (release)" >&2
  (cd "$REPO" && cargo build --release -q --bin weir)
fi
if [ ! -x "$LOADGEN" ]; then
  echo "==> building the loadgen" >&2
  CARGO_TARGET_DIR="$REPO/target/loadgen" cargo build --release -q --manifest-path "$REPO/bench/otlp/loadgen/Cargo.toml"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
SINK_PORT="$(free_port)"; OTLP_PORT="$(free_port)"; METRICS_PORT="$(free_port)"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

QUEUE=""
EXTENSIONS=""
if [ "$PERSISTENT" = 1 ]; then
  QUEUE="    sending_queue:
      storage: file_storage/soak"
  EXTENSIONS="extensions:
  file_storage/soak:
    directory: $OUT/queue
    create_directory: true"
fi
cat > "$OUT/weir.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$OTLP_PORT
processors:
  batch: {}
exporters:
  otlp:
    endpoint: 127.0.0.1:$SINK_PORT
    tls:
      insecure: true
$QUEUE
$EXTENSIONS
service:
  extensions: [$([ "$PERSISTENT" = 1 ] && echo file_storage/soak)]
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
  pipelines:
    traces:
      receivers: [otlp]
      processors: [$([ "$BATCH" = 1 ] && echo batch)]
      exporters: [otlp]
YAML

"$LOADGEN" gen --out "$OUT/payloads" --requests 256 >&2
"$LOADGEN" sink --listen "127.0.0.1:$SINK_PORT" > "$OUT/sink.log" 2>&1 &
PIDS+=("$!")
"$WEIR_BIN" --config "$OUT/weir.yaml" > "$OUT/weir.log" 2>&1 &
WEIR_PID="$!"
PIDS+=("$WEIR_PID")
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" > /dev/null && break
  sleep 0.1
done
kill -0 "$WEIR_PID" || { echo "weir did not start; see $OUT/weir.log" >&2; exit 1; }

send() { # rate warmup seconds
  "$LOADGEN" send --target "127.0.0.1:$OTLP_PORT" --workload w1 --payloads "$OUT/payloads/w1.bin" \
    --rate "$1" --warmup "$2" --seconds "$3" --connections "$CONNECTIONS" --streams "$STREAMS"
}
field() { # key, from a `result ...` line on stdin
  tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

echo "==> saturation: ${SAT_SECONDS}s as fast as Weir answers" >&2
send 0 "$SAT_WARMUP" "$SAT_SECONDS" | tee "$OUT/saturation.txt" >&2
SATURATION="$(grep '^result' "$OUT/saturation.txt" | field window_items_per_s)"
RATE=$(( ${SATURATION%.*} / 2 ))
[ "$RATE" -gt 0 ] || { echo "saturation measured as $SATURATION spans/s" >&2; exit 1; }
echo "==> soak: $RATE spans/s (half of $SATURATION) for ${DURATION}s, VmRSS every ${INTERVAL}s" >&2

metric() { # name
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v n="$1" '$1 ~ "^"n"({|$)" { s += $2 } END { printf "%.0f", s }'
}
echo "elapsed_s,vmrss_kib,queue_bytes,sent_spans" > "$OUT/rss.csv"
sample() {
  local start="$1"
  while kill -0 "$WEIR_PID" 2>/dev/null; do
    local rss
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$WEIR_PID/status" 2>/dev/null || echo 0)"
    echo "$(( $(date +%s) - start )),$rss,$(metric otelcol_exporter_queue_size),$(metric otelcol_exporter_sent_spans_total)" >> "$OUT/rss.csv"
    sleep "$INTERVAL"
  done
}
sample "$(date +%s)" &
SAMPLER="$!"
PIDS+=("$SAMPLER")

left="$DURATION"
: > "$OUT/soak.txt"
while [ "$left" -gt 0 ]; do
  chunk=$(( left > 900 ? 900 : left ))
  send "$RATE" 0 "$chunk" | tee -a "$OUT/soak.txt" >&2
  left=$(( left - chunk ))
done
kill "$SAMPLER" 2>/dev/null || true

kill -TERM "$WEIR_PID"
wait "$WEIR_PID" || true
{
  echo "weir: $WEIR_BIN ($("$WEIR_BIN" --version 2>/dev/null || echo '?')), persistent queue: $PERSISTENT, batch processor: $BATCH"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "saturation: $SATURATION spans/s; soak rate: $RATE spans/s for ${DURATION}s"
  awk -F, 'NR > 1 && $2 > 0 { n++; v[n] = $2; if (n == 1) first = $2; last = $2; if ($2 > max) max = $2; if (min == "" || $2 < min) min = $2 }
    END { printf "VmRSS (KiB) over %d samples: first %d, min %d, max %d, last %d\n", n, first, min, max, last }' "$OUT/rss.csv"
  grep '^result' "$OUT/soak.txt" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
    END { printf "soak: %d spans answered OK, %d errors, %d timeouts\n", s["ok_items"], s["errors"], s["timeouts"] }'
  echo "sink: $(curl -s "http://127.0.0.1:$SINK_PORT/counts" | tr '\n' ' ')"
  echo "raw: $OUT/rss.csv"
} | tee "$OUT/summary.txt"
