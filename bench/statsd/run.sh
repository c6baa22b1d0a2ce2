#!/usr/bin/env bash
# Socket-level StatsD benchmark (issue 4): the highest rate, in lines per second, that one
# core of Weir takes with zero kernel receive-buffer drops.
#
#   Weir (release build, statsd receiver, readers: 1)   pinned to core $WEIR_CORE (0)
#   loadgen (bench/statsd/loadgen, UDP over loopback)     pinned to core $LOADGEN_CORE (1)
#   35 lines per 1 400-byte datagram, 10 000 distinct series
#
# The rate goes up step by step ($STEP_SECONDS each). After every step the script reads
# Weir's self-metrics: `weir_statsd_receiver_kernel_drops_total` must not have moved and
# `weir_statsd_receiver_lines_total` must have grown by exactly the lines the generator
# sent. The first step that fails ends the ladder; $REFINE bisection steps between the
# last good and the first bad rate follow. Everything is bounded: each step is a fixed
# duration, every wait has a deadline, Weir is stopped by its PID.
#
# Environment (all optional):
#   RATES="250000 500000 ..."   the ladder, lines per second
#   STEP_SECONDS=10             length of one step
#   REFINE=3                    bisection steps after the first failure
#   AGGREGATION_INTERVAL=1s     Weir's aggregation interval (kernel drops are read at each flush)
#   SETTLE_SECONDS=2.5          wait after a step before reading; keep it > 2 x the interval
#   SOCKET_BUFFER_SIZE=         SO_RCVBUF; default: net.core.rmem_max
#   WEIR_CORE=0 LOADGEN_CORE=1  cores
#   MAX_OTHER_PERCENT=10        a step is "contended" when other processes used more than
#                               this share of Weir's core; a failed contended step is repeated
#   ATTEMPTS=3                  tries per step when failures are contended
#   QUIET_WAIT_SECONDS=60       before each try, wait up to this long for Weir's core to be idle
#   CARGO_TARGET_DIR            where the release builds go (default: <repo>/target)
#   SKIP_BUILD=1                use the binaries already built
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
export CARGO_TARGET_DIR="$TARGET"

RATES="${RATES:-500000 1000000 1500000 2000000 2500000 3000000 3500000 4000000}"
STEP_SECONDS="${STEP_SECONDS:-10}"
REFINE="${REFINE:-3}"
AGGREGATION_INTERVAL="${AGGREGATION_INTERVAL:-1s}"
SOCKET_BUFFER_SIZE="${SOCKET_BUFFER_SIZE:-$(cat /proc/sys/net/core/rmem_max)}"
WEIR_CORE="${WEIR_CORE:-0}"
LOADGEN_CORE="${LOADGEN_CORE:-1}"
MAX_OTHER_PERCENT="${MAX_OTHER_PERCENT:-10}"
ATTEMPTS="${ATTEMPTS:-3}"
QUIET_WAIT_SECONDS="${QUIET_WAIT_SECONDS:-60}"
SETTLE_SECONDS="${SETTLE_SECONDS:-2.5}" # > 2 aggregation intervals: the last flush has read the kernel drops
CLK_TCK="$(getconf CLK_TCK)"

WEIR_BIN="$TARGET/release/weir"
LOADGEN_BIN="$TARGET/release/weir-statsd-loadgen"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "==> building (release): weir and the load generator" >&2
  (cd "$REPO" && cargo build --release -q -p weir)
  cargo build --release -q --manifest-path "$HERE/loadgen/Cargo.toml"
fi

free_port() { # $1 = tcp|udp
  python3 - "$1" <<'EOF'
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

WORK="$(mktemp -d /tmp/weir-statsd-bench.XXXXXX)"
STATSD_PORT="$(free_port udp)"
METRICS_PORT="$(free_port tcp)"
cat >"$WORK/config.yaml" <<EOF
receivers:
  statsd:
    endpoint: 127.0.0.1:$STATSD_PORT
    transport: udp
    aggregation_interval: $AGGREGATION_INTERVAL
    readers: 1
    socket_buffer_size: $SOCKET_BUFFER_SIZE
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    metrics:
      receivers: [statsd]
      exporters: [debug]
EOF

WEIR_PID=""
cleanup() {
  if [ -n "$WEIR_PID" ] && kill -0 "$WEIR_PID" 2>/dev/null; then
    kill -TERM "$WEIR_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$WEIR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$WEIR_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

taskset -c "$WEIR_CORE" "$WEIR_BIN" --config "$WORK/config.yaml" \
  --set "service.telemetry.metrics.address=127.0.0.1:$METRICS_PORT" >"$WORK/weir.log" 2>&1 &
WEIR_PID=$!

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics"; }
metric() { # $1 = metric name; sums every series of that name in $2 (an exposition)
  awk -v name="$1" '$1 == name || index($1, name "{") == 1 { sum += $NF } END { printf "%.0f", sum }' <<<"$2"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$WEIR_PID/stat"; }
# Busy and total jiffies of one core, from /proc/stat.
core_ticks() { awk -v cpu="cpu$1" '$1 == cpu { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6; print busy, total }' /proc/stat; }
# Drops of the receiver's socket straight from the kernel, as a cross-check of the self-metric.
proc_drops() {
  local port_hex
  port_hex="$(printf '%04X' "$STATSD_PORT")"
  awk -v local="0100007F:$port_hex" '$2 == local { sum += $NF } END { printf "%d", sum }' /proc/net/udp
}

for _ in $(seq 1 200); do
  scrape >/dev/null 2>&1 && break
  kill -0 "$WEIR_PID" 2>/dev/null || { echo "weir exited:" >&2; cat "$WORK/weir.log" >&2; exit 1; }
  sleep 0.1
done
scrape >/dev/null || { echo "weir's self-metrics endpoint did not come up" >&2; exit 1; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "weir: $WEIR_BIN (pid $WEIR_PID, core $WEIR_CORE), readers 1, SO_RCVBUF $SOCKET_BUFFER_SIZE, aggregation_interval $AGGREGATION_INTERVAL"
echo "load: 35 lines per 1400-byte datagram, 10000 series, loadgen on core $LOADGEN_CORE, $STEP_SECONDS s per step"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%12s %12s %12s %12s %8s %8s %9s %9s  %s\n' \
  target_l/s sent_l/s lines_sent lines_recv k_drops proc_drp weir_cpu% core_busy% verdict

BEST=0
BEST_ROW=""
FIRST_BAD=""

# Runs one step at rate $1; sets STEP_OK=1 when drops stay at zero and every line arrived.
# A failed step during which other processes used Weir's core is repeated (up to
# $ATTEMPTS times in all), after waiting for the core to be quiet.
run_step() {
  local rate="$1" attempt
  for attempt in $(seq 1 "$ATTEMPTS"); do
    wait_for_quiet_core
    measure_step "$rate"
    # A failure while others used Weir's core says nothing about Weir: try again.
    if [ "$STEP_OK" = 1 ] || [ "$CONTENDED" = 0 ]; then
      return
    fi
  done
  CONTENDED_FAILURE=1
}

# Waits (at most $QUIET_WAIT_SECONDS) until Weir's core is nearly idle for one second.
wait_for_quiet_core() {
  local deadline=$((SECONDS + QUIET_WAIT_SECONDS)) b0 t0 b1 t1
  while [ "$SECONDS" -lt "$deadline" ]; do
    read -r b0 t0 <<<"$(core_ticks "$WEIR_CORE")"
    sleep 1
    read -r b1 t1 <<<"$(core_ticks "$WEIR_CORE")"
    if [ $((100 * (b1 - b0))) -le $((MAX_OTHER_PERCENT * (t1 - t0))) ]; then
      return
    fi
  done
  echo "   (core $WEIR_CORE still busy after ${QUIET_WAIT_SECONDS}s; measuring anyway)"
}

measure_step() {
  local rate="$1" before after c0 c1 k0 k1 out sent achieved elapsed lines drops pdrops p0 cpu busy verdict
  before="$(scrape)"
  p0="$(proc_drops)"
  c0="$(cpu_ticks)"
  read -r k0 kt0 <<<"$(core_ticks "$WEIR_CORE")"
  out="$(taskset -c "$LOADGEN_CORE" "$LOADGEN_BIN" --target "127.0.0.1:$STATSD_PORT" \
    --rate "$rate" --seconds "$STEP_SECONDS")"
  c1="$(cpu_ticks)"
  read -r k1 kt1 <<<"$(core_ticks "$WEIR_CORE")"
  sleep "$SETTLE_SECONDS"
  after="$(scrape)"
  sent="$(sed -n 's/.*lines_sent=\([0-9]*\).*/\1/p' <<<"$out")"
  achieved="$(sed -n 's/.*achieved_lines_per_second=\([0-9]*\).*/\1/p' <<<"$out")"
  elapsed="$(sed -n 's/.*seconds=\([0-9.]*\) .*/\1/p' <<<"$out")"
  lines=$(($(metric weir_statsd_receiver_lines_total "$after") - $(metric weir_statsd_receiver_lines_total "$before")))
  drops=$(($(metric weir_statsd_receiver_kernel_drops_total "$after") - $(metric weir_statsd_receiver_kernel_drops_total "$before")))
  pdrops=$(($(proc_drops) - p0))
  cpu="$(awk -v t="$((c1 - c0))" -v hz="$CLK_TCK" -v s="$elapsed" 'BEGIN { printf "%.0f", 100 * t / hz / s }')"
  busy="$(awk -v b="$((k1 - k0))" -v t="$((kt1 - kt0))" 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')"
  verdict=ok
  STEP_OK=1
  # Core 0 time not spent in Weir: other processes of this shared machine ran there.
  CONTENDED=0
  if [ $((busy - cpu)) -gt "$MAX_OTHER_PERCENT" ]; then CONTENDED=1; fi
  if [ "$drops" -ne 0 ] || [ "$pdrops" -ne 0 ]; then verdict="kernel drops"; STEP_OK=0; fi
  if [ "$lines" -ne "$sent" ]; then verdict="$verdict; received != sent"; STEP_OK=0; fi
  # A generator that fell behind its target (> 2 %) did not test that rate.
  if awk -v a="$achieved" -v r="$rate" 'BEGIN { exit !(a < 0.98 * r) }'; then
    verdict="$verdict; loadgen below target"
    STEP_OK=0
    LOADGEN_LIMITED=1
  fi
  if [ "$CONTENDED" = 1 ]; then verdict="$verdict; contended ($((busy - cpu))% of core $WEIR_CORE used by others)"; fi
  ROW="$(printf '%12s %12s %12s %12s %8s %8s %9s %9s  %s' \
    "$rate" "$achieved" "$sent" "$lines" "$drops" "$pdrops" "$cpu" "$busy" "$verdict")"
  echo "$ROW"
}

LOADGEN_LIMITED=0
CONTENDED_FAILURE=0
for rate in $RATES; do
  run_step "$rate"
  if [ "$STEP_OK" = 1 ]; then
    BEST="$rate"
    BEST_ROW="$ROW"
  else
    FIRST_BAD="$rate"
    break
  fi
done

if [ -n "$FIRST_BAD" ] && [ "$LOADGEN_LIMITED" = 0 ]; then
  low="$BEST"
  high="$FIRST_BAD"
  for _ in $(seq 1 "$REFINE"); do
    mid=$(((low + high) / 2 / 10000 * 10000))
    [ "$mid" -le "$low" ] && break
    run_step "$mid"
    if [ "$STEP_OK" = 1 ]; then
      low="$mid"
      BEST="$mid"
      BEST_ROW="$ROW"
    else
      high="$mid"
    fi
  done
fi

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "invalid lines: $(metric weir_statsd_receiver_invalid_lines_total "$(scrape)")"
if [ "$BEST" = 0 ]; then
  echo "RESULT: no rate in the ladder passed (zero kernel drops and every line received)"
elif [ -z "$FIRST_BAD" ]; then
  echo "RESULT: >= $BEST lines/s on one core with zero kernel drops (every step passed; the ladder ends there)"
  echo "        $BEST_ROW"
else
  echo "RESULT: $BEST lines/s on one core with zero kernel drops (first failure at or below $FIRST_BAD)"
  echo "        $BEST_ROW"
fi
if [ "$CONTENDED_FAILURE" = 1 ]; then
  echo "NOTE: a step failed $ATTEMPTS times while other processes used core $WEIR_CORE: the figure is the machine's, not Weir's; run again on a quiet machine"
fi
if [ "$LOADGEN_LIMITED" = 1 ]; then
  echo "NOTE: the load generator fell behind its target: the ceiling may be the generator's, not Weir's"
fi
