//! The `cardinality_limiter` processor: a guard against a label that explodes the number
//! of series (a request id put into an attribute by a bad deploy), before the backend
//! refuses everything.
//!
//! Per metric name it admits at most `max_series` distinct attribute sets (resource and
//! point attributes) per `window`; a point whose set would go beyond has its offending
//! (or the configured) attributes removed, or is dropped, as `action` says. Every
//! limited point is counted by metric name (bounded) and action; every dropped point
//! also under the reason `cardinality_limit`. Weir's own component; Vector's
//! `tag_cardinality_limit` is the anchor. See README.md.

mod config;
mod limiter;
mod processor;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::{Action, Config};
pub use limiter::{MetricRecord, EXACT_BOUND};
pub use processor::{CardinalityLimiter, CARDINALITY_LIMIT, OTHER_METRICS};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "cardinality_limiter";

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(Factory)
}

#[derive(Debug, Default)]
pub struct Factory;

impl ProcessorFactory for Factory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Metrics],
            stability: Stability::Alpha,
            description: "Limits the distinct attribute sets per metric name",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<Config>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        if ctx.signal != Signal::Metrics {
            return Err(BuildError(format!(
                "{}: the cardinality_limiter limits metrics only",
                ctx.id
            )));
        }
        let config: Config = weir_api::config::parse_valid(config)?;
        Ok(Box::new(CardinalityLimiter::new(
            &ctx.id.to_string(),
            config,
            &ctx.telemetry,
        )))
    }
}

#[cfg(test)]
mod tests;
