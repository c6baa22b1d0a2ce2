#!/usr/bin/env bash
# Socket-level StatsD benchmark (issues 4 and 13): the highest rate, in lines per second,
# that one core of Weir takes with zero kernel receive-buffer drops, and what it costs in
# CPU per million lines.
#
#   Weir (release build, statsd receiver, readers: 1)   pinned to core $WEIR_CORE (0)
#   loadgen (bench/statsd/loadgen, UDP over loopback)     pinned to core $LOADGEN_CORE (1)
#   35 lines per 1 400-byte datagram, 10 000 distinct series
#   socket_buffer_size: the receiver's default unless $SOCKET_BUFFER_SIZE is set
#
# The rate goes up step by step ($STEP_SECONDS each). After every step the script reads
# Weir's self-metrics: `weir_statsd_receiver_kernel_drops_total` must not have moved and
# `weir_statsd_receiver_lines_total` must have grown by exactly the lines the generator
# sent. The first step that fails ends the ladder; $REFINE bisection steps between the
# last good and the first bad rate follow. Everything is bounded: each step is a fixed
# duration, every wait has a deadline, Weir is stopped by its PID.
#
# CPU: Weir's utime + stime from /proc/<pid>/stat, as a share of one core over the step
# (weir_cpu%), the UDP reader thread's share of it (reader%), and milliseconds of CPU
# per million lines received (ms/Mline, from the start of the step to after the flush
# of its last interval, so the flushes are included).
#
# Environment (all optional):
#   RATES="500000 1000000 ..."  the ladder, lines per second
#   STEP_SECONDS=10             length of one step
#   REFINE=3                    bisection steps after the first failure
#   REPEATS=1                   run the whole ladder this many times, each with a fresh
#                               Weir, and report every result and their median
#   AGGREGATION_INTERVAL=1s     Weir's aggregation interval (kernel drops are read at each flush)
#   SETTLE_SECONDS=2.5          wait after a step before reading; keep it > 2 x the interval
#   SOCKET_BUFFER_SIZE=         socket_buffer_size; unset: the receiver's default (8 MiB,
#                               components/statsd_receiver/README.md)
#   WEIR_CORE=0 LOADGEN_CORE=1  cores
#   MAX_OTHER_PERCENT=10        a step is "contended" when other processes used more than
#                               this share of Weir's core; a failed contended step is repeated
#   ATTEMPTS=3                  tries per step when failures are contended
#   QUIET_WAIT_SECONDS=60       before each try, wait up to this long for Weir's core to be idle
#   WATCH_QUEUE=1               sample the socket's receive queue every 2 ms (from the
#                               loadgen's core) and report its peak per step (max_rxq_KiB)
#   PERF_DIR=/some/dir          record Weir with `perf record -e cpu-clock` during each step
#                               (perf runs on the loadgen's core) and write a flat report
#                               per step to PERF_DIR/perf-<rate>.txt
#   CARGO_TARGET_DIR            where the release builds go (default: <repo>/target)
#   SKIP_BUILD=1                use the binaries already built
#   WEIR_BIN=/path/to/weir      measure another build of Weir (e.g. an older commit's;
#                               set SKIP_BUILD=1 too)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
export CARGO_TARGET_DIR="$TARGET"

RATES="${RATES:-500000 1000000 1500000 2000000 2500000 3000000 3500000 4000000 4500000 5000000}"
STEP_SECONDS="${STEP_SECONDS:-10}"
REFINE="${REFINE:-3}"
REPEATS="${REPEATS:-1}"
AGGREGATION_INTERVAL="${AGGREGATION_INTERVAL:-1s}"
SOCKET_BUFFER_SIZE="${SOCKET_BUFFER_SIZE:-}"
WEIR_CORE="${WEIR_CORE:-0}"
LOADGEN_CORE="${LOADGEN_CORE:-1}"
MAX_OTHER_PERCENT="${MAX_OTHER_PERCENT:-10}"
ATTEMPTS="${ATTEMPTS:-3}"
QUIET_WAIT_SECONDS="${QUIET_WAIT_SECONDS:-60}"
SETTLE_SECONDS="${SETTLE_SECONDS:-2.5}" # > 2 aggregation intervals: the last flush has read the kernel drops
WATCH_QUEUE="${WATCH_QUEUE:-0}"
PERF_DIR="${PERF_DIR:-}"
CLK_TCK="$(getconf CLK_TCK)"

WEIR_BIN="${WEIR_BIN:-$TARGET/release/weir}"
LOADGEN_BIN="$TARGET/release/weir-statsd-loadgen"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "==> building (release): weir and the load generator" >&2
  (cd "$REPO" && cargo build --release -q -p weir)
  cargo build --release -q --manifest-path "$HERE/loadgen/Cargo.toml"
fi
if [ -n "$PERF_DIR" ]; then
  command -v perf >/dev/null || { echo "PERF_DIR needs perf (Debian: linux-perf)" >&2; exit 1; }
  mkdir -p "$PERF_DIR"
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
WEIR_PID=""
WATCH_PID=""
stop_pid() { # $1 = pid; TERM, then KILL after 10 s
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
cleanup() {
  stop_pid "$WATCH_PID"
  stop_pid "$WEIR_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics"; }
metric() { # $1 = metric name; sums every series of that name in $2 (an exposition)
  awk -v name="$1" '$1 == name || index($1, name "{") == 1 { sum += $NF } END { printf "%.0f", sum }' <<<"$2"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$WEIR_PID/stat"; }
# utime + stime of the UDP reader threads (statsd-udp-*).
reader_ticks() {
  local total=0 task comm ticks
  for task in /proc/"$WEIR_PID"/task/*; do
    comm="$(cat "$task/comm" 2>/dev/null)" || continue
    case "$comm" in statsd-udp-*) ;; *) continue ;; esac
    # Fields after "pid (comm) " start at field 3, so utime (14) and stime (15) are $12, $13.
    ticks="$(sed 's/^.*) //' "$task/stat" 2>/dev/null | awk '{ print $12 + $13 }')" || continue
    total=$((total + ticks))
  done
  echo "$total"
}
# Busy and total jiffies of one core, from /proc/stat.
core_ticks() { awk -v cpu="cpu$1" '$1 == cpu { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6; print busy, total }' /proc/stat; }
port_hex() { printf '%04X' "$STATSD_PORT"; }
# Drops of the receiver's socket straight from the kernel, as a cross-check of the self-metric.
proc_drops() {
  awk -v local="0100007F:$(port_hex)" '$2 == local { sum += $NF } END { printf "%d", sum }' /proc/net/udp
}

# Samples the socket's receive queue (bytes, from /proc/net/udp) every 2 ms until killed,
# then prints the peak. Runs on the loadgen's core.
start_queue_watch() {
  taskset -c "$LOADGEN_CORE" python3 - "$(port_hex)" >"$WORK/rxq" <<'EOF' &
import signal, sys, time
local = "0100007F:" + sys.argv[1]
peak = 0
def done(*_):
    print(peak)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    with open("/proc/net/udp") as table:
        for line in table:
            fields = line.split()
            if len(fields) > 4 and fields[1] == local:
                peak = max(peak, int(fields[4].split(":")[1], 16))
    time.sleep(0.002)
EOF
  WATCH_PID=$!
}
stop_queue_watch() {
  stop_pid "$WATCH_PID"
  WATCH_PID=""
  awk '{ printf "%.0f", $1 / 1024 }' "$WORK/rxq"
}

start_weir() {
  STATSD_PORT="$(free_port udp)"
  METRICS_PORT="$(free_port tcp)"
  local buffer_line=""
  if [ -n "$SOCKET_BUFFER_SIZE" ]; then buffer_line="    socket_buffer_size: $SOCKET_BUFFER_SIZE"; fi
  cat >"$WORK/config.yaml" <<EOF
receivers:
  statsd:
    endpoint: 127.0.0.1:$STATSD_PORT
    transport: udp
    aggregation_interval: $AGGREGATION_INTERVAL
    readers: 1
$buffer_line
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    metrics:
      receivers: [statsd]
      exporters: [debug]
EOF
  taskset -c "$WEIR_CORE" "$WEIR_BIN" --config "$WORK/config.yaml" \
    --set "service.telemetry.metrics.address=127.0.0.1:$METRICS_PORT" >"$WORK/weir.log" 2>&1 &
  WEIR_PID=$!
  for _ in $(seq 1 200); do
    scrape >/dev/null 2>&1 && break
    kill -0 "$WEIR_PID" 2>/dev/null || { echo "weir exited:" >&2; cat "$WORK/weir.log" >&2; exit 1; }
    sleep 0.1
  done
  scrape >/dev/null || { echo "weir's self-metrics endpoint did not come up" >&2; exit 1; }
  # The receive buffer as the kernel reports it (SO_RCVBUF: twice the accepted size).
  RCVBUF="$(ss -uamn "sport = :$STATSD_PORT" | sed -n 's/.*skmem:([^)]*rb\([0-9]*\).*/\1/p' | head -1)"
}

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
  local rate="$1" before after c0 c1 c2 r0 r1 k0 kt0 k1 kt1 out sent achieved elapsed lines drops pdrops p0
  local cpu reader busy per_mline rxq="-" perf_pid="" verdict
  before="$(scrape)"
  p0="$(proc_drops)"
  c0="$(cpu_ticks)"
  r0="$(reader_ticks)"
  read -r k0 kt0 <<<"$(core_ticks "$WEIR_CORE")"
  if [ "$WATCH_QUEUE" = 1 ]; then start_queue_watch; fi
  if [ -n "$PERF_DIR" ]; then
    taskset -c "$LOADGEN_CORE" perf record -q -e cpu-clock -F 1999 -p "$WEIR_PID" \
      -o "$PERF_DIR/perf-$rate.data" -- sleep "$STEP_SECONDS" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out="$(taskset -c "$LOADGEN_CORE" "$LOADGEN_BIN" --target "127.0.0.1:$STATSD_PORT" \
    --rate "$rate" --seconds "$STEP_SECONDS")"
  c1="$(cpu_ticks)"
  r1="$(reader_ticks)"
  read -r k1 kt1 <<<"$(core_ticks "$WEIR_CORE")"
  if [ "$WATCH_QUEUE" = 1 ]; then rxq="$(stop_queue_watch)"; fi
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" 2>/dev/null || true
    perf report -q -i "$PERF_DIR/perf-$rate.data" --no-children --sort comm,dso,sym \
      --percent-limit 0.3 >"$PERF_DIR/perf-$rate.txt" 2>/dev/null || true
  fi
  sleep "$SETTLE_SECONDS"
  after="$(scrape)"
  c2="$(cpu_ticks)"
  sent="$(sed -n 's/.*lines_sent=\([0-9]*\).*/\1/p' <<<"$out")"
  achieved="$(sed -n 's/.*achieved_lines_per_second=\([0-9]*\).*/\1/p' <<<"$out")"
  elapsed="$(sed -n 's/.*seconds=\([0-9.]*\) .*/\1/p' <<<"$out")"
  lines=$(($(metric weir_statsd_receiver_lines_total "$after") - $(metric weir_statsd_receiver_lines_total "$before")))
  drops=$(($(metric weir_statsd_receiver_kernel_drops_total "$after") - $(metric weir_statsd_receiver_kernel_drops_total "$before")))
  pdrops=$(($(proc_drops) - p0))
  cpu="$(awk -v t="$((c1 - c0))" -v hz="$CLK_TCK" -v s="$elapsed" 'BEGIN { printf "%.0f", 100 * t / hz / s }')"
  reader="$(awk -v t="$((r1 - r0))" -v hz="$CLK_TCK" -v s="$elapsed" 'BEGIN { printf "%.0f", 100 * t / hz / s }')"
  per_mline="$(awk -v t="$((c2 - c0))" -v hz="$CLK_TCK" -v l="$lines" 'BEGIN { printf "%.0f", l ? 1000 * t / hz / (l / 1e6) : 0 }')"
  busy="$(awk -v b="$((k1 - k0))" -v t="$((kt1 - kt0))" 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')"
  verdict=ok
  STEP_OK=1
  # Core time not spent in Weir: other processes of this shared machine ran there.
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
  STEP_CPU="$cpu"
  STEP_PER_MLINE="$per_mline"
  ROW="$(printf '%12s %12s %12s %12s %8s %8s %9s %8s %9s %9s %11s  %s' \
    "$rate" "$achieved" "$sent" "$lines" "$drops" "$pdrops" "$cpu" "$reader" "$per_mline" "$busy" "$rxq" "$verdict")"
  echo "$ROW"
}

# One ladder against a fresh Weir; sets BEST, BEST_ROW, BEST_CPU, BEST_PER_MLINE, FIRST_BAD.
run_ladder() {
  start_weir
  echo "weir: $WEIR_BIN (pid $WEIR_PID, core $WEIR_CORE), readers 1, socket_buffer_size ${SOCKET_BUFFER_SIZE:-default} (kernel reports SO_RCVBUF $RCVBUF), aggregation_interval $AGGREGATION_INTERVAL"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '\n%12s %12s %12s %12s %8s %8s %9s %8s %9s %9s %11s  %s\n' \
    target_l/s sent_l/s lines_sent lines_recv k_drops proc_drp weir_cpu% reader% ms/Mline core_busy% max_rxq_KiB verdict
  BEST=0
  BEST_ROW=""
  BEST_CPU=""
  BEST_PER_MLINE=""
  FIRST_BAD=""
  local rate low high mid
  for rate in $RATES; do
    run_step "$rate"
    if [ "$STEP_OK" = 1 ]; then
      BEST="$rate" BEST_ROW="$ROW" BEST_CPU="$STEP_CPU" BEST_PER_MLINE="$STEP_PER_MLINE"
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
        BEST="$mid" BEST_ROW="$ROW" BEST_CPU="$STEP_CPU" BEST_PER_MLINE="$STEP_PER_MLINE"
      else
        high="$mid"
      fi
    done
  fi
  echo
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "invalid lines: $(metric weir_statsd_receiver_invalid_lines_total "$(scrape)")"
  stop_pid "$WEIR_PID"
  WEIR_PID=""
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
echo "sysctl: net.core.rmem_max $(cat /proc/sys/net/core/rmem_max), net.core.rmem_default $(cat /proc/sys/net/core/rmem_default)"
echo "load: 35 lines per 1400-byte datagram, 10000 series, loadgen on core $LOADGEN_CORE, $STEP_SECONDS s per step"

LOADGEN_LIMITED=0
CONTENDED_FAILURE=0
RESULTS=()
for run in $(seq 1 "$REPEATS"); do
  echo
  echo "== run $run of $REPEATS"
  run_ladder
  if [ "$BEST" = 0 ]; then
    echo "run $run: no rate in the ladder passed (zero kernel drops and every line received)"
  else
    if [ -z "$FIRST_BAD" ]; then bound=">="; else bound=""; fi
    echo "run $run: $bound$BEST lines/s with zero kernel drops, Weir at $BEST_CPU% of its core, $BEST_PER_MLINE ms CPU per million lines (first failure: ${FIRST_BAD:-none})"
    echo "        $BEST_ROW"
  fi
  RESULTS+=("$BEST $BEST_CPU $BEST_PER_MLINE")
done

echo
# Median by zero-drop rate (the middle run's row, its CPU with it).
read -r MED_RATE MED_CPU MED_PER_MLINE <<<"$(printf '%s\n' "${RESULTS[@]}" | sort -n -k1,1 | awk '{ row[NR] = $0 } END { print row[int((NR + 1) / 2)] }')"
echo "runs (zero-drop lines/s, Weir CPU % of one core at that rate, ms CPU per million lines): $(printf '[%s] ' "${RESULTS[@]}")"
if [ "${MED_RATE:-0}" = 0 ]; then
  echo "RESULT: no rate passed in the median run"
else
  echo "RESULT: median of $REPEATS run(s): $MED_RATE lines/s on one core with zero kernel drops, Weir at $MED_CPU% of its core, $MED_PER_MLINE ms CPU per million lines"
fi
if [ "$CONTENDED_FAILURE" = 1 ]; then
  echo "NOTE: a step failed $ATTEMPTS times while other processes used core $WEIR_CORE: the figure is the machine's, not Weir's; run again on a quiet machine"
fi
if [ "$LOADGEN_LIMITED" = 1 ]; then
  echo "NOTE: the load generator fell behind its target: the ceiling may be the generator's, not Weir's"
fi
