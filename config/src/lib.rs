//! The YAML model of a Weir configuration, in the OpenTelemetry Collector's shape.
//!
//! Pure: no sockets, no tokio, no file writes, so `weir validate` and tests run it directly.
//! The flow is [`load`] (parse each source, merge, apply `--set`, expand `${env:...}`, split
//! into the typed [`Config`]) then [`validate`] (check the graph against a [`Catalog`] of
//! known components). Both report every problem at once, with key paths and lines.
//!
//! One module per concern: `parse` (text -> document), `locate` (key -> line), `merge`
//! (sources and `--set`), `expand` (environment), `model` (typed config), `validate`
//! (graph), `redact` (print-config), `diagnostics` (problems and how they print).

pub mod diagnostics;
mod expand;
pub mod ids;
mod locate;
mod merge;
mod model;
mod parse;
pub mod redact;
mod validate;

pub use diagnostics::{suggest, Diagnostic, Diagnostics, Location, Severity};
pub use ids::{ComponentId, Kind, PipelineId, Signal};
pub use locate::Locator;
pub use model::{
    Config, LogEncoding, Pipeline, Service, Telemetry, DEFAULT_METRICS_ADDRESS, TOP_LEVEL_KEYS,
};
pub use parse::Source;
pub use serde_yaml_ng::Value;
pub use validate::{validate, Catalog, ComponentProblem};

use serde_yaml_ng::Mapping;

/// Options for loading.
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    /// `--set` values, applied after all files, in order.
    pub sets: &'a [String],
    /// Environment lookup (tests pass a closure; the CLI passes `std::env::var(..).ok()`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("sets", &self.sets)
            .finish_non_exhaustive()
    }
}

/// Parse, merge, apply `--set`, expand, and split into the typed model. Reports every
/// problem at once; on success, warnings are kept in [`Config::load_warnings`].
pub fn load(sources: &[Source], options: &LoadOptions) -> Result<Config, Diagnostics> {
    let (config, diags) = load_partial(sources, options);
    match config {
        Some(config) if !diags.has_errors() => Ok(config),
        _ => Err(diags),
    }
}

/// [`load`] then [`validate`], reporting the problems of both stages in one list even when
/// loading found errors (for `weir validate`). The config is returned only when there are
/// no errors at all.
pub fn load_and_validate(
    sources: &[Source],
    options: &LoadOptions,
    catalog: &dyn Catalog,
) -> (Option<Config>, Diagnostics) {
    let (config, mut diags) = load_partial(sources, options);
    let Some(config) = config else {
        return (None, diags);
    };
    let checked = validate(&config, catalog);
    // validate() repeats the load warnings, which `diags` already has.
    let repeated = config.load_warnings.len();
    diags.items.extend(checked.items.into_iter().skip(repeated));
    if diags.has_errors() {
        (None, diags)
    } else {
        (Some(config), diags)
    }
}

/// Loads as far as possible: `None` only when a source could not be parsed (a half-read
/// configuration would produce misleading follow-up errors).
fn load_partial(sources: &[Source], options: &LoadOptions) -> (Option<Config>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut merged = Value::Mapping(Mapping::new());
    let mut locator = Locator::default();
    let mut parsed_all = true;
    for source in sources {
        match parse::parse(source) {
            Ok(parsed) => {
                locator.overlay(parsed.locator, &parsed.value);
                merge::merge(&mut merged, parsed.value);
            }
            Err(d) => {
                parsed_all = false;
                diags.push(d);
            }
        }
    }
    if !parsed_all {
        return (None, diags);
    }
    for (i, entry) in options.sets.iter().enumerate() {
        let applied = merge::parse_set(entry)
            .and_then(|set| merge::apply_set(&mut merged, set, i + 1, &mut locator));
        if let Err(message) = applied {
            diags.push(merge::set_error(i + 1, message));
        }
    }
    locator.prune(&merged);
    expand::expand_all(&mut merged, options.env, &locator, &mut diags);
    let mut config = model::build(merged, locator, &mut diags);
    config.load_warnings = diags.warnings().cloned().collect();
    (Some(config), diags)
}
