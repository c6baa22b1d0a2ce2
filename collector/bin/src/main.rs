//! `weir`: the command line.
//!
//! `weir` alone runs the embedded default config; `--config` (repeatable, merged in
//! order) and `--set key=value` shape another. Subcommands: `validate` (pure: opens no
//! socket; `--format json` for programs), `print-config` (secrets redacted), `components`
//! (with each one's README), `top` (a running Weir's pipeline numbers in the terminal).
//! Exit codes: 0 clean run or valid config, 1 invalid config or startup failure.

mod cli;
mod health;
mod logging;
mod top;
mod validate;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use weir_config::{Config, Diagnostics, Kind, LoadOptions, Source};

use cli::{Cli, Command, ConfigArgs, Format};

/// mimalloc instead of the system allocator (the default feature `mimalloc`): measured
/// against glibc's malloc on the scrape -> remote-write benchmark, see
/// bench/scrape/README.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The config `weir` runs with no `--config`.
const DEFAULT_CONFIG: &str = include_str!("default.yaml");

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Validate(args)) => validate(&args.config, args.format),
        Some(Command::PrintConfig(args)) => print_config(&args),
        Some(Command::Components) => components(),
        Some(Command::Top(args)) => top::run(&args),
        Some(Command::Health(args)) => health::probe(&args),
        None => run(&cli.config, cli.shutdown_timeout),
    }
}

fn sources(args: &ConfigArgs) -> Result<Vec<Source>, String> {
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
                return Err(format!("cannot read config file {}: {err}", path.display()));
            }
        }
    }
    Ok(sources)
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads and validates without printing: the config when there is no error, and every
/// problem found.
fn load_quiet(args: &ConfigArgs) -> (Option<Config>, Diagnostics) {
    let sources = match sources(args) {
        Ok(sources) => sources,
        Err(message) => {
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(weir_config::Diagnostic::error("", message));
            return (None, diagnostics);
        }
    };
    let registry = weir_components::registry();
    let options = LoadOptions {
        sets: &args.set,
        env: &env_lookup,
    };
    let catalog = weir_engine::RegistryCatalog(&registry);
    weir_config::load_and_validate(&sources, &options, &catalog)
}

/// Loads and validates; prints every problem; returns the config when there is no error.
fn load(args: &ConfigArgs) -> Result<Config, ExitCode> {
    let (config, diagnostics) = load_quiet(args);
    validate::print_problems(&diagnostics);
    config.ok_or(ExitCode::FAILURE)
}

fn validate(args: &ConfigArgs, format: Format) -> ExitCode {
    let (config, diagnostics) = load_quiet(args);
    match format {
        Format::Text => validate::print_report(&diagnostics, config.as_ref()),
        Format::Json => println!("{}", validate::to_json(&diagnostics, config.as_ref())),
    }
    if config.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
    let rows: Vec<[String; 6]> = component_docs()
        .into_iter()
        .map(|doc| {
            let mut name = doc.type_name;
            if !doc.aliases.is_empty() {
                name = format!("{name} ({})", doc.aliases.join(", "));
            }
            [
                name,
                doc.kind.as_str().to_string(),
                if doc.signals.is_empty() {
                    "-".to_string()
                } else {
                    doc.signals.join(",")
                },
                doc.stability.as_str().to_string(),
                doc.readme.unwrap_or_else(|| "-".into()),
                doc.description,
            ]
        })
        .collect();
    let header = [
        "type",
        "kind",
        "signals",
        "stability",
        "readme",
        "description",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[c].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Written, not printed: `weir components | head` closes the pipe early, which ends
    // the listing rather than panicking.
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let written = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
        if written.is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// Every component this build knows, with its README: `weir components` and the
/// pipeline page list these.
fn component_docs() -> Vec<weir_api::telemetry::ComponentDoc> {
    let registry = weir_components::registry();
    weir_components::readmes()
        .into_iter()
        .map(|(kind, info, readme)| {
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
            weir_api::telemetry::ComponentDoc {
                kind,
                type_name: info.type_name.to_string(),
                aliases: info.aliases.iter().map(|a| a.to_string()).collect(),
                signals,
                stability: info.stability,
                description: info.description.to_string(),
                readme: Some(readme),
            }
        })
        .collect()
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
        telemetry.publish_component_docs(component_docs());
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
