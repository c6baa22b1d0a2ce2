//! StatsD load generator for Weir's socket-level benchmark (see ../README.md).
//!
//! Why a program of its own: a Python or shell client cannot send the 50 000+
//! datagrams per second needed to saturate one core of Weir. This one builds every
//! datagram before it starts, so the timed loop only calls `send` on a connected UDP
//! socket and checks the clock.
//!
//! Load shape, as the issue states: 35 lines per 1 400-byte datagram, 10 000 distinct
//! series (60 % counters, 20 % timers sampled at @0.5, 15 % gauges, 5 % sets, with
//! DogStatsD tags), values changing between rounds. Every line has the same length
//! (39 bytes plus its newline), so every datagram is exactly 1 400 bytes and a series'
//! name never depends on its value.
//!
//! Pacing: the sender keeps the number of datagrams sent equal to `rate x elapsed`,
//! sleeping briefly when ahead. It stops after `--seconds` (at most 600) and prints one
//! line of `key=value` results. Loopback only: the target must be a 127.0.0.0/8 address.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const SERIES: usize = 10_000;
const LINES_PER_DATAGRAM: usize = 35;
const LINE_BYTES: usize = 39;
const DATAGRAM_BYTES: usize = LINES_PER_DATAGRAM * (LINE_BYTES + 1);
/// Rounds of values: every series is sent with a few different values.
const ROUNDS: usize = 7;
const MAX_SECONDS: f64 = 600.0;

struct Args {
    target: SocketAddr,
    lines_per_second: f64,
    seconds: f64,
}

fn usage() -> String {
    "usage: weir-statsd-loadgen --target 127.0.0.1:PORT --rate LINES_PER_SECOND --seconds N".into()
}

fn parse_args() -> Result<Args, String> {
    let mut target = None;
    let mut rate = None;
    let mut seconds = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        match flag.as_str() {
            "--target" => {
                target = Some(
                    value
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("--target {value}: {e}"))?,
                )
            }
            "--rate" => {
                rate = Some(
                    value
                        .parse::<f64>()
                        .map_err(|e| format!("--rate {value}: {e}"))?,
                )
            }
            "--seconds" => {
                seconds = Some(
                    value
                        .parse::<f64>()
                        .map_err(|e| format!("--seconds {value}: {e}"))?,
                )
            }
            _ => return Err(format!("unknown flag {flag}\n{}", usage())),
        }
    }
    let target = target.ok_or_else(usage)?;
    if !target.ip().is_loopback() {
        return Err(format!("--target {target} is not a loopback address"));
    }
    let lines_per_second = rate.ok_or_else(usage)?;
    let seconds = seconds.ok_or_else(usage)?;
    if lines_per_second.is_nan() || lines_per_second <= 0.0 {
        return Err("--rate must be positive".into());
    }
    if seconds.is_nan() || seconds <= 0.0 || seconds > MAX_SECONDS {
        return Err(format!("--seconds must be in (0, {MAX_SECONDS}]"));
    }
    Ok(Args {
        target,
        lines_per_second,
        seconds,
    })
}

/// One line for `series` in `round`, padded in the name to exactly LINE_BYTES. The
/// padding depends on the series only (values have a fixed width per type), so a series
/// keeps one name across rounds.
fn line(series: usize, round: usize) -> String {
    let host = series % 50;
    let (name, rest) = match series % 20 {
        0..=11 => (
            format!("req.{series:05}"),
            format!(":1|c|#env:prod,host:h{host:02}"),
        ),
        12..=15 => (
            format!("db.{series:05}"),
            format!(":{:02}|ms|@0.5|#env:prod", 3 + (round * 7 + series) % 90),
        ),
        16..=18 => (
            format!("queue.{series:05}"),
            format!(
                ":{:02}|g|#env:prod,h:h{host:02}",
                (round * 13 + series) % 100
            ),
        ),
        _ => (
            format!("users.{series:05}"),
            format!(":u{:02}|s|#env:prod,az:a", (round * 5 + series) % 37),
        ),
    };
    let pad = LINE_BYTES
        .checked_sub(name.len() + rest.len())
        .expect("line template longer than LINE_BYTES");
    format!("{name}{}{rest}", "_".repeat(pad))
}

/// Every series once per round, cut into datagrams of 35 newline-terminated lines.
fn datagrams() -> Vec<Vec<u8>> {
    let lines: Vec<String> = (0..SERIES * ROUNDS)
        .map(|i| line(i % SERIES, i / SERIES))
        .collect();
    let datagrams: Vec<Vec<u8>> = lines
        .chunks(LINES_PER_DATAGRAM)
        .filter(|chunk| chunk.len() == LINES_PER_DATAGRAM)
        .map(|chunk| {
            let mut datagram = Vec::with_capacity(DATAGRAM_BYTES);
            for l in chunk {
                datagram.extend_from_slice(l.as_bytes());
                datagram.push(b'\n');
            }
            datagram
        })
        .collect();
    assert!(datagrams.iter().all(|d| d.len() == DATAGRAM_BYTES));
    datagrams
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let datagrams = datagrams();
    let socket =
        match UdpSocket::bind("127.0.0.1:0").and_then(|s| s.connect(args.target).map(|_| s)) {
            Ok(socket) => socket,
            Err(err) => {
                eprintln!("cannot open a UDP socket to {}: {err}", args.target);
                return ExitCode::from(1);
            }
        };

    let datagrams_per_second = args.lines_per_second / LINES_PER_DATAGRAM as f64;
    let duration = Duration::from_secs_f64(args.seconds);
    let mut sent: u64 = 0;
    let mut errors: u64 = 0;
    let mut next = 0usize;
    let start = Instant::now();
    let elapsed = loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break elapsed;
        }
        let due = (elapsed.as_secs_f64() * datagrams_per_second) as u64;
        if sent + errors >= due {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        // Catch up, re-reading the clock at least every 256 datagrams.
        let burst = (due - sent - errors).min(256);
        for _ in 0..burst {
            match socket.send(&datagrams[next]) {
                Ok(_) => sent += 1,
                Err(_) => errors += 1,
            }
            next += 1;
            if next == datagrams.len() {
                next = 0;
            }
        }
    };
    let seconds = elapsed.as_secs_f64();
    let lines = sent * LINES_PER_DATAGRAM as u64;
    println!(
        "target_lines_per_second={:.0} seconds={:.3} datagrams_sent={} lines_sent={} send_errors={} \
         achieved_lines_per_second={:.0} datagram_bytes={} series={}",
        args.lines_per_second,
        seconds,
        sent,
        lines,
        errors,
        lines as f64 / seconds,
        DATAGRAM_BYTES,
        SERIES,
    );
    ExitCode::SUCCESS
}
