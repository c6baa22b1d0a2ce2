//! Logs through `tracing`, as `service.telemetry.logs` asks: level and console or JSON
//! encoding. `RUST_LOG`, when set, overrides the level (per-module filters for debugging).
//!
//! Lines are written to stderr by a background thread: when stderr blocks (a pipe nobody
//! reads, a stalled journal), the pipeline keeps running and lines beyond the writer's
//! buffer are lost, rather than every thread that logs (and the debug exporter) waiting
//! and clients timing out instead of being answered.

use tracing_appender::non_blocking::{ErrorCounter, WorkerGuard};
use tracing_subscriber::EnvFilter;
use weir_config::{LogEncoding, Telemetry};

/// The running log writer: keep it until exit, so buffered lines are written then.
pub struct LogWriter {
    _guard: WorkerGuard,
    dropped: ErrorCounter,
}

impl LogWriter {
    /// The count of lines lost because the output could not keep up.
    pub fn dropped(&self) -> ErrorCounter {
        self.dropped.clone()
    }
}

/// False when the user asked for no colour: `NO_COLOR` set to anything but the empty
/// string (<https://no-color.org>). Colour also needs a terminal; callers check that.
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Sets up logging.
pub fn init(telemetry: &Telemetry) -> LogWriter {
    let level = match telemetry.log_level.as_str() {
        "warn" | "warning" => "warn",
        other => other,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::try_new(format!("{level},h2=warn,hyper=warn,tower=warn,tonic=warn"))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    });
    // Colour only for a terminal: logs redirected to a file or a journal stay plain.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && color_allowed();
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let dropped = writer.error_counter();
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
    LogWriter {
        _guard: guard,
        dropped,
    }
}

/// Counts lost log lines in `weir_log_lines_dropped_total`, checked once a second.
pub async fn count_dropped_lines(dropped: ErrorCounter, telemetry: weir_api::telemetry::Telemetry) {
    let counter = telemetry.counter_of(&weir_api::telemetry::names::LOG_LINES_DROPPED, &[]);
    let mut counted = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = dropped.dropped_lines();
        if now > counted {
            counter.inc_by((now - counted) as u64);
            counted = now;
        }
    }
}
