//! The `transform` processor: changes telemetry with OTTL statements (the Collector
//! contrib's `transformprocessor`), with the statement subset `weir-ottl` runs: `set`,
//! `delete_key`, `delete_matching_keys`, `keep_keys`, `replace_pattern`,
//! `replace_all_patterns`, `truncate_all` and `limit`, each with an optional `where`.
//!
//! Why its own crate rather than part of `weir-ottl`: the language is shared (filter,
//! routing, transform), but the Collector's config shapes, error modes and the way
//! statements are applied to a batch are this processor's. Statements are compiled once,
//! when the config is checked and again at build, so anything Weir cannot run is refused
//! before start with its key path (`trace_statements.0.statements.2: column 7: ...`).
//! See README.md.

mod config;
mod fold;
mod processor;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::{allowed_contexts, list_key, Gate, Group, TransformConfig};
pub use processor::{Transform, OTTL_ERROR};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "transform";

/// Builds `transform` processors.
#[derive(Debug, Default)]
pub struct TransformFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(TransformFactory)
}

impl ProcessorFactory for TransformFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &Signal::ALL,
            stability: Stability::Alpha,
            description: "Changes spans, metrics and logs with OTTL statements.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        config::check(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let groups = config::compile(config, ctx.signal)
            .map_err(|problem| weir_api::config::build_error(&problem))?;
        Ok(Box::new(Transform::new(
            groups,
            ctx.id.to_string(),
            ctx.signal,
            &ctx.telemetry,
        )))
    }
}

#[cfg(test)]
mod tests;
