//! Weir's engine: turns a validated configuration into running pipelines.
//!
//! Three steps, kept apart so each can be tested alone and `weir validate` runs only the
//! first: [`validate`] (pure), [`build`] (components constructed, nothing spawned, no
//! socket opened), [`run`] (start, serve, ordered shutdown with a deadline).
//!
//! The engine knows components only through `weir-api`'s traits and a [`Registry`]
//! given by the binary; it never names a component.

mod build;
mod catalog;
mod connector;
mod exporter;
mod fanout;
mod page;
mod pipeline;
mod ratelimit;
mod run;
mod selfmetrics;

pub use build::{build, Graph};
pub use catalog::RegistryCatalog;
pub use run::{run, RunReport};

use weir_api::Registry;
use weir_config::{Config, Diagnostics};

/// Checks a loaded configuration against the registry: every problem at once.
pub fn validate(config: &Config, registry: &Registry) -> Diagnostics {
    weir_config::validate(config, &RegistryCatalog(registry))
}
