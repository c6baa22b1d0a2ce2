//! Command-line arguments and the signals that stop Weir.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Weir: a telemetry pipeline compatible with the OpenTelemetry Collector.
///
/// Weir receives traces, metrics and logs (OTLP, Prometheus scrape, StatsD), processes
/// them (batch, filter, transform, sampling, ...) and exports them (OTLP, Prometheus
/// remote-write, Loki, files), with the Collector's configuration format, bounded memory,
/// and every item it does not deliver counted under a reason.
///
/// With no arguments, runs the embedded default config: OTLP gRPC on 127.0.0.1:4317 and
/// HTTP on 127.0.0.1:4318 -> batch -> debug, self-metrics and the live pipeline page on
/// 127.0.0.1:8888, health on 127.0.0.1:13133.
#[derive(Parser, Debug)]
#[command(
    name = "weir",
    version,
    after_help = "Examples:\n  \
    weir --config collector.yaml              run with your config\n  \
    weir validate --config collector.yaml     check it without starting anything\n  \
    weir top                                  watch a running Weir (127.0.0.1:8888)\n  \
    weir components                           what this build can run\n\n\
    The pipeline page of a running Weir: http://127.0.0.1:8888/"
)]
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
    Validate(ValidateArgs),
    /// Print the merged configuration with secrets redacted.
    PrintConfig(ConfigArgs),
    /// List the components this build knows: type, kind, signals, stability, README.
    Components,
    /// Watch a running Weir in the terminal: the pipeline page's numbers, refreshed.
    /// Quit with q or Ctrl-C.
    Top(TopArgs),
    /// Ask a running Weir's health_check extension whether it is ready: exit 0 on 200,
    /// 1 otherwise. The container image's health check.
    Health(crate::health::HealthArgs),
}

/// How `weir validate` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people, on stderr.
    #[default]
    Text,
    /// One JSON document for programs, on stdout.
    Json,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// `text` (for people) or `json` (for programs).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    /// The self-telemetry address of the Weir to watch (`service.telemetry.metrics`).
    #[arg(long, default_value = "127.0.0.1:8888")]
    pub endpoint: String,

    /// How often to refresh (Go duration, e.g. 1s).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
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
