//! `weir top`: the pipeline page's numbers in the terminal, for a running Weir.
//!
//! It reads the same JSON the page polls (`GET /api/v1/pipeline` on the self-telemetry
//! address), so the terminal and the page cannot disagree, and redraws one table per
//! interval with plain ANSI sequences (alternate screen, home, clear). Keys are read
//! unbuffered from the terminal: `q` or Ctrl-C quits and restores the terminal.

use std::io::{IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value as Json;

use crate::cli::TopArgs;

/// Connecting and reading one answer may take this long before the frame says so.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET path` on `endpoint` (`host:port`, with or without `http://`); the body of a 200.
pub fn http_get(endpoint: &str, path: &str) -> Result<String, String> {
    let authority = endpoint
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let address = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&address, HTTP_TIMEOUT)
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let _ = stream.set_read_timeout(Some(HTTP_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HTTP_TIMEOUT));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("cannot send to {authority}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("cannot read from {authority}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{authority} sent no HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!(
            "{authority}{path} answered `{status}`; is this Weir's self-telemetry address?"
        ));
    }
    Ok(body.to_string())
}

/// A count: `7`, `1.2k`.
fn count(value: Option<f64>) -> String {
    match value {
        Some(v) if v < 1e3 => format!("{v:.0}"),
        other => short(other),
    }
}

/// `1234.5` -> `1.2k`; `None` -> `-`.
pub fn short(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v >= 1e6 => format!("{:.1}M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1}k", v / 1e3),
        Some(v) if v >= 10.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn per_second(stats: &Json, field: &str) -> Option<f64> {
    stats.get(field)?.get("per_second")?.as_f64()
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1_048_576.0)
}

/// Bold and red, when colour is on.
struct Style {
    color: bool,
}

impl Style {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// One frame: a header line and a row per node.
pub fn render(doc: &Json, endpoint: &str, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    let budget = &doc["memory_budget"];
    let budget_text = match budget["soft_limit_bytes"].as_f64() {
        Some(soft) => format!(
            "{} of {} ({:.1}%)",
            mib(budget["used_bytes"].as_f64().unwrap_or(0.0)),
            mib(soft),
            budget["use_percent"].as_f64().unwrap_or(0.0)
        ),
        None => format!(
            "{} (unlimited)",
            mib(budget["used_bytes"].as_f64().unwrap_or(0.0))
        ),
    };
    let window = doc["rate_window_seconds"]
        .as_f64()
        .map(|w| format!("rates over {w:.1} s"))
        .unwrap_or_else(|| "rates on the next refresh".into());
    out.push_str(&style.wrap(
        "1",
        &format!(
            "Weir {} at {endpoint}, up {:.0} s, {window}, memory budget {budget_text}",
            doc["build_version"].as_str().unwrap_or("?"),
            doc["uptime_seconds"].as_f64().unwrap_or(0.0),
        ),
    ));
    out.push_str("   (q quits)\n\n");
    let header = format!(
        "{:<10} {:<24} {:<12} {:>8} {:>8} {:>9} {:>8} {:>14} {:>8} {:>9}  {}",
        "KIND",
        "COMPONENT",
        "PIPELINE",
        "IN/S",
        "OUT/S",
        "REFUSED/S",
        "FAILED/S",
        "QUEUE",
        "RETRY/S",
        "LATENCY",
        "DROPPED (total by reason)"
    );
    out.push_str(&style.wrap("1", &header));
    out.push('\n');
    let nodes = doc["nodes"].as_array().cloned().unwrap_or_default();
    for kind in [
        "receiver",
        "processor",
        "connector",
        "exporter",
        "extension",
    ] {
        for node in nodes.iter().filter(|n| n["kind"] == kind) {
            let stats = &node["stats"];
            let queue = match stats.get("queue") {
                Some(q) => format!(
                    "{}/{} {:.0}%",
                    count(q["size"].as_f64()),
                    count(q["capacity"].as_f64()),
                    q["fill_percent"].as_f64().unwrap_or(0.0)
                ),
                None => String::new(),
            };
            let dropped: Vec<String> = stats
                .get("dropped")
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(reason, n)| format!("{reason} {}", count(n.as_f64())))
                        .collect()
                })
                .unwrap_or_default();
            let blank_or = |field: &str| {
                if stats.get(field).is_some() {
                    short(per_second(stats, field))
                } else {
                    String::new()
                }
            };
            let failed = blank_or("failed");
            let refused = blank_or("refused");
            let mut row = format!(
                "{:<10} {:<24} {:<12} {:>8} {:>8} {:>9} {:>8} {:>14} {:>8} {:>9}  {}",
                kind,
                node["component"].as_str().unwrap_or("?"),
                node["pipeline"].as_str().unwrap_or(""),
                blank_or("items_in"),
                blank_or("items_out"),
                refused,
                failed,
                queue,
                blank_or("retries"),
                stats["latency_ms"]
                    .as_f64()
                    .map(|l| format!("{l:.1} ms"))
                    .unwrap_or_default(),
                dropped.join(", ")
            );
            let bad = per_second(stats, "failed").is_some_and(|v| v > 0.0)
                || per_second(stats, "refused").is_some_and(|v| v > 0.0)
                || per_second(stats, "enqueue_failed").is_some_and(|v| v > 0.0);
            if bad {
                row = style.wrap("31", &row);
            }
            out.push_str(&row);
            out.push('\n');
        }
    }
    out
}

/// The terminal in "one key at a time, no echo" mode while `weir top` runs.
struct RawTerminal {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawTerminal {
    fn enter() -> Self {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            // No line buffering, no echo, and Ctrl-C arrives as a key (so the terminal is
            // restored before exit).
            raw.local_flags
                .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
            let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        }
        Self { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

/// Runs until q, Ctrl-C or the end of input.
pub fn run(args: &TopArgs) -> ExitCode {
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let color = tty && crate::logging::color_allowed();
    let (keys, pressed) = mpsc::channel::<u8>();
    let raw = std::io::stdin().is_terminal().then(RawTerminal::enter);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut byte = [0u8; 1];
        loop {
            match stdin.read(&mut byte) {
                Ok(1) => {
                    if keys.send(byte[0]).is_err() {
                        return;
                    }
                }
                // End of input (not a terminal, or closed): keys cannot come.
                _ => return,
            }
        }
    });
    let mut out = stdout.lock();
    if tty {
        // Alternate screen, cursor hidden.
        let _ = write!(out, "\x1b[?1049h\x1b[?25l");
    }
    loop {
        let frame = match http_get(&args.endpoint, "/api/v1/pipeline")
            .and_then(|body| serde_json::from_str::<Json>(&body).map_err(|e| e.to_string()))
        {
            Ok(doc) => render(&doc, &args.endpoint, color),
            Err(err) => format!(
                "weir top: {err}\nretrying every {:?}   (q quits)\n",
                args.interval
            ),
        };
        if tty {
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        let written = write!(out, "{frame}")
            .and_then(|()| if tty { Ok(()) } else { writeln!(out) })
            .and_then(|()| out.flush());
        if written.is_err() {
            // The output went away (a closed pipe): nobody is watching.
            break;
        }
        match pressed.recv_timeout(args.interval) {
            Ok(b'q' | b'Q' | 3) => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            // No keyboard: keep refreshing until killed.
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(args.interval),
        }
    }
    if tty {
        let _ = write!(out, "\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
    drop(raw);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Json {
        serde_json::json!({
            "version": 1, "build_version": "0.1.0", "uptime_seconds": 12.0,
            "rate_window_seconds": 2.0,
            "memory_budget": {"used_bytes": 1048576, "soft_limit_bytes": 104857600,
                              "hard_limit_bytes": 209715200, "use_percent": 1.0},
            "pipelines": ["traces"],
            "nodes": [
                {"id": "exporter:otlp/down", "kind": "exporter", "component": "otlp/down",
                 "type": "otlp", "signals": ["traces"], "readme": null,
                 "stats": {"items_in": {"total": 10.0, "per_second": 5.0},
                           "items_out": {"total": 0.0, "per_second": 0.0},
                           "failed": {"total": 4.0, "per_second": 2.0},
                           "queue": {"size": 7.0, "capacity": 10.0, "fill_percent": 70.0},
                           "latency_ms": 12.5}},
                {"id": "receiver:otlp", "kind": "receiver", "component": "otlp",
                 "type": "otlp", "signals": ["traces"], "readme": null,
                 "stats": {"items_in": {"total": 1500.0, "per_second": 1500.0},
                           "items_out": {"total": 1500.0, "per_second": 1500.0},
                           "refused": {"total": 0.0, "per_second": 0.0},
                           "dropped": {}}},
                {"id": "processor:traces:filter", "kind": "processor", "component": "filter",
                 "type": "filter", "pipeline": "traces", "signals": ["traces"], "readme": null,
                 "stats": {"items_in": {"total": 1.0, "per_second": null},
                           "dropped": {"filtered": 3.0}}}
            ],
            "edges": []
        })
    }

    #[test]
    fn a_frame_has_a_row_per_node_receivers_first() {
        let frame = render(&doc(), "127.0.0.1:8888", false);
        assert!(!frame.contains('\x1b'), "no colour asked: {frame}");
        let rows: Vec<&str> = frame.lines().collect();
        assert!(rows[0].contains("Weir 0.1.0 at 127.0.0.1:8888"), "{frame}");
        assert!(rows[0].contains("1.0 MiB of 100.0 MiB"), "{frame}");
        assert!(rows[2].starts_with("KIND"), "{frame}");
        assert!(rows[3].starts_with("receiver"), "{frame}");
        assert!(rows[3].contains("1.5k"), "{frame}");
        assert!(rows[4].starts_with("processor") && rows[4].contains("filtered 3"));
        assert!(rows[5].starts_with("exporter") && rows[5].contains("7/10 70%"));
        assert!(rows[5].contains("12.5 ms"));
    }

    #[test]
    fn failing_rows_are_red_only_with_colour() {
        let frame = render(&doc(), "x", true);
        let exporter = frame
            .lines()
            .find(|l| l.contains("otlp/down"))
            .unwrap_or_default();
        assert!(exporter.starts_with("\x1b[31m"), "{frame}");
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(None), "-");
        assert_eq!(short(Some(0.0)), "0.0");
        assert_eq!(short(Some(42.4)), "42");
        assert_eq!(short(Some(1234.0)), "1.2k");
        assert_eq!(short(Some(2_500_000.0)), "2.5M");
    }

    #[test]
    fn an_unreachable_weir_is_an_error_naming_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let err = http_get(&address, "/api/v1/pipeline").expect_err("nothing listens");
        assert!(err.contains(&address), "{err}");
    }
}
