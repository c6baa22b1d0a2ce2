//! Logs through `tracing`, as `service.telemetry.logs` asks: level and console or JSON
//! encoding. `RUST_LOG`, when set, overrides the level (per-module filters for debugging).
//!
//! Lines are written to stderr by a background thread: when stderr blocks (a pipe nobody
//! reads, a stalled journal), the pipeline keeps running and lines beyond the writer's
//! buffer are lost, rather than every thread that logs (and the debug exporter) waiting
//! and clients timing out instead of being answered.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use weir_config::{LogEncoding, Telemetry};

/// Sets up logging; keep the guard until exit, so buffered lines are written then.
pub fn init(telemetry: &Telemetry) -> WorkerGuard {
    let level = match telemetry.log_level.as_str() {
        "warn" | "warning" => "warn",
        other => other,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::try_new(format!("{level},h2=warn,hyper=warn,tower=warn,tonic=warn"))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    });
    // Colour only for a terminal: logs redirected to a file or a collector stay plain.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let result = match telemetry.log_encoding {
        LogEncoding::Json => builder.json().try_init(),
        LogEncoding::Console => builder.try_init(),
    };
    if let Err(err) = result {
        eprintln!("warning: logging already initialised: {err}");
    }
    guard
}
