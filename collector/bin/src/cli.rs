//! Command-line arguments and the signals that stop Weir.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Weir: an OpenTelemetry-compatible telemetry pipeline.
///
/// With no arguments, runs the embedded default config: OTLP gRPC on 127.0.0.1:4317 and
/// HTTP on 127.0.0.1:4318 -> batch -> debug, self-metrics on 127.0.0.1:8888/metrics,
/// health on 127.0.0.1:13133.
#[derive(Parser, Debug)]
#[command(name = "weir", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub config: ConfigArgs,

    /// How long shutdown may take to drain queues before what is left is counted as
    /// undelivered (Go duration, e.g. 30s).
    #[arg(long, default_value = "30s", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file; repeat to merge several in order (later wins).
    #[arg(long = "config", short = 'c', global = true)]
    pub config: Vec<PathBuf>,

    /// Override one key after the files: `a.b.c=value` or `a::b::c=value`. Repeatable.
    #[arg(long = "set", global = true)]
    pub set: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration without starting anything; exit 0 when valid, 1 otherwise.
    Validate(ConfigArgs),
    /// Print the merged configuration with secrets redacted.
    PrintConfig(ConfigArgs),
    /// List the components this build knows: type, kind, signals, stability.
    Components,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    weir_api::duration::parse(text)
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("received SIGINT"),
        _ = terminate => tracing::info!("received SIGTERM"),
    }
}
