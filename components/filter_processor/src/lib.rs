//! The `filter` processor: drops spans, span events, metrics, data points and log
//! records, as the OpenTelemetry Collector contrib's `filter` processor does.
//!
//! Two ways to say what to drop, both the Collector's:
//! - OTTL conditions (`trace_conditions`, `traces.span`, `metrics.datapoint`, ...):
//!   an item any condition matches is dropped. Conditions are compiled once by
//!   `weir-ottl` and read items through `Batch` views, so kept items of a batch that
//!   arrived as protobuf stay the bytes they arrived as.
//! - Legacy match properties (`spans.include`, `logs.exclude`, ...): the Collector's
//!   older `include`/`exclude` blocks, matched by `weir-match-properties`.
//!
//! Each form is checked when the config is validated: every condition is compiled then,
//! and errors name the key and column. See README.md.

mod config;
mod legacy;
mod plan;
mod processor;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::{ConditionGroup, FilterConfig};
pub use processor::{FilterCounters, FilterProcessor, CONDITION_ERROR, FILTERED};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "filter";

/// Builds `filter` processors.
#[derive(Debug, Default)]
pub struct FilterFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(FilterFactory)
}

impl ProcessorFactory for FilterFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Alpha,
            description:
                "Drops telemetry that matches OTTL conditions or include/exclude properties.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        match weir_api::config::parse::<FilterConfig>(config) {
            Ok(config) => plan::problems(&config),
            Err(problem) => vec![problem],
        }
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let config: FilterConfig = weir_api::config::parse(config)
            .map_err(|problem| weir_api::config::build_error(&problem))?;
        let plan = plan::plan(&config, ctx.signal).map_err(|problems| {
            weir_api::config::build_error(problems.first().unwrap_or(&ComponentProblem {
                path: Vec::new(),
                message: "invalid filter configuration".into(),
                suggestion: None,
            }))
        })?;
        let id = ctx.id.to_string();
        let counters = FilterCounters::new(&ctx.telemetry, &id, ctx.signal);
        Ok(Box::new(FilterProcessor::new(
            id,
            plan,
            counters,
            config.shadow,
        )))
    }
}

#[cfg(test)]
mod tests;
