//! `weir`: the command line.
//!
//! `weir` alone runs the embedded default config; `--config` (repeatable, merged in
//! order) and `--set key=value` shape another. Subcommands: `validate` (pure: opens no
//! socket), `print-config` (secrets redacted), `components`. Exit codes: 0 clean run or
//! valid config, 1 invalid config or startup failure.

mod cli;
mod logging;

use std::process::ExitCode;

use clap::Parser;
use weir_config::{Config, Diagnostics, Kind, LoadOptions, Severity, Source};

use cli::{Cli, Command, ConfigArgs};

/// mimalloc instead of the system allocator: until `Batch` keeps wire bytes, every item
/// is decoded into owned structs, and allocation dominated the CPU profile (see README's
/// performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The config `weir` runs with no `--config`.
const DEFAULT_CONFIG: &str = include_str!("default.yaml");

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Validate(args)) => validate(&args),
        Some(Command::PrintConfig(args)) => print_config(&args),
        Some(Command::Components) => components(),
        None => run(&cli.config, cli.shutdown_timeout),
    }
}

fn sources(args: &ConfigArgs) -> Result<Vec<Source>, ExitCode> {
    if args.config.is_empty() {
        return Ok(vec![Source {
            name: "<embedded default>".into(),
            text: DEFAULT_CONFIG.into(),
        }]);
    }
    let mut sources = Vec::new();
    for path in &args.config {
        match std::fs::read_to_string(path) {
            Ok(text) => sources.push(Source {
                name: path.display().to_string(),
                text,
            }),
            Err(err) => {
                eprintln!("error: cannot read config file {}: {err}", path.display());
                return Err(ExitCode::FAILURE);
            }
        }
    }
    Ok(sources)
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads and validates; prints every problem; returns the config when there is no error.
fn load(args: &ConfigArgs) -> Result<Config, ExitCode> {
    let sources = sources(args)?;
    let registry = weir_components::registry();
    let options = LoadOptions {
        sets: &args.set,
        env: &env_lookup,
    };
    let catalog = weir_engine::RegistryCatalog(&registry);
    let (config, diagnostics) = weir_config::load_and_validate(&sources, &options, &catalog);
    print_diagnostics(&diagnostics);
    config.ok_or(ExitCode::FAILURE)
}

fn print_diagnostics(diagnostics: &Diagnostics) {
    for diagnostic in &diagnostics.items {
        eprintln!("{diagnostic}");
    }
    let errors = diagnostics
        .items
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        eprintln!("{errors} error(s) in the configuration");
    }
}

fn validate(args: &ConfigArgs) -> ExitCode {
    match load(args) {
        Ok(_) => {
            eprintln!("configuration is valid");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn print_config(args: &ConfigArgs) -> ExitCode {
    match load(args) {
        Ok(config) => {
            print!("{}", config.to_redacted_yaml());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn components() -> ExitCode {
    let registry = weir_components::registry();
    let rows: Vec<[String; 5]> = registry
        .all()
        .into_iter()
        .map(|(kind, info)| {
            // A connector's signals are its (upstream -> downstream) pairs.
            let signals: Vec<String> = match registry.connector(info.type_name) {
                Some(connector) if kind == Kind::Connector => connector
                    .pairs()
                    .iter()
                    .map(|(from, to)| format!("{}->{}", from.as_str(), to.as_str()))
                    .collect(),
                _ => info
                    .signals
                    .iter()
                    .map(|s| s.as_str().to_string())
                    .collect(),
            };
            let mut name = info.type_name.to_string();
            if !info.aliases.is_empty() {
                name = format!("{name} ({})", info.aliases.join(", "));
            }
            [
                name,
                kind.as_str().to_string(),
                if signals.is_empty() {
                    "-".to_string()
                } else {
                    signals.join(",")
                },
                info.stability.as_str().to_string(),
                info.description.to_string(),
            ]
        })
        .collect();
    let header = ["type", "kind", "signals", "stability", "description"].map(String::from);
    let widths: Vec<usize> = (0..4)
        .map(|c| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[c].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
    }
    ExitCode::SUCCESS
}

fn run(args: &ConfigArgs, shutdown_timeout: std::time::Duration) -> ExitCode {
    let config = match load(args) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let log_writer = logging::init(&config.service.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let registry = weir_components::registry();
        let telemetry = weir_api::telemetry::Telemetry::new();
        tokio::spawn(logging::count_dropped_lines(
            log_writer.dropped(),
            telemetry.clone(),
        ));
        let graph = match weir_engine::build(&config, &registry, telemetry) {
            Ok(graph) => graph,
            Err(errors) => {
                for error in errors {
                    tracing::error!("{error}");
                }
                return ExitCode::FAILURE;
            }
        };
        match weir_engine::run(graph, cli::shutdown_signal(), shutdown_timeout).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!("startup failed: {err}");
                eprintln!("error: startup failed: {err}");
                ExitCode::FAILURE
            }
        }
    })
}
