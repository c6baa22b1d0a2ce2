//! Logs through `tracing`, as `service.telemetry.logs` asks: level and console or JSON
//! encoding. `RUST_LOG`, when set, overrides the level (per-module filters for debugging).

use tracing_subscriber::EnvFilter;
use weir_config::{LogEncoding, Telemetry};

pub fn init(telemetry: &Telemetry) {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match telemetry.log_encoding {
        LogEncoding::Json => builder.json().try_init(),
        LogEncoding::Console => builder.try_init(),
    };
    if let Err(err) = result {
        eprintln!("warning: logging already initialised: {err}");
    }
}
