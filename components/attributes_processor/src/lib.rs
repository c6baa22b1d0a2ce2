//! The `attributes` processor: inserts, updates, upserts, deletes, hashes, extracts and
//! converts attributes of spans, log records and metric data points, optionally only
//! for the items an `include`/`exclude` block selects. Behaviour and configuration are
//! the OpenTelemetry Collector contrib's `attributesprocessor`; see README.md.
//!
//! The action engine ([`actions`]) is public: the `resource` processor runs the same
//! actions on resource attributes.

pub mod actions;
mod config;
mod processor;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::AttributesConfig;
pub use processor::AttributesProcessor;

/// The component type name in configuration.
pub const TYPE_NAME: &str = "attributes";

/// Builds `attributes` processors.
#[derive(Debug, Default)]
pub struct AttributesFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(AttributesFactory)
}

impl ProcessorFactory for AttributesFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Beta,
            description: "Changes span, log record and data point attributes with actions.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<AttributesConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let config: AttributesConfig = weir_api::config::parse_valid(config)?;
        let processor = AttributesProcessor::new(&config, ctx.signal)
            .map_err(|problem| weir_api::config::build_error(&problem))?;
        Ok(Box::new(processor))
    }
}

#[cfg(test)]
mod tests;
