//! The `resource` processor: applies the Collector's attribute actions (insert, update,
//! upsert, delete, hash, extract, convert) to the resource attributes of traces,
//! metrics and logs. Configuration and behaviour are the OpenTelemetry Collector
//! contrib's `resourceprocessor`; the actions are the `attributes` processor's engine
//! (`weir_attributes_processor::actions`), so both processors behave the same. See
//! README.md.

mod processor;

use std::sync::Arc;

use serde::Deserialize;
use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};
use weir_attributes_processor::actions::{ActionConfig, Actions};

pub use processor::ResourceProcessor;

/// The component type name in configuration.
pub const TYPE_NAME: &str = "resource";

/// The `resource` section.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    /// Actions on resource attributes, in order. Required.
    pub attributes: Vec<ActionConfig>,
}

impl weir_api::config::Validate for ResourceConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        Actions::compile("attributes", &self.attributes)
            .err()
            .into_iter()
            .collect()
    }
}

/// Builds `resource` processors.
#[derive(Debug, Default)]
pub struct ResourceFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(ResourceFactory)
}

impl ProcessorFactory for ResourceFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Beta,
            description: "Changes resource attributes with actions.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<ResourceConfig>(config)
    }

    fn build(
        &self,
        _ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let config: ResourceConfig = weir_api::config::parse_valid(config)?;
        let processor =
            ResourceProcessor::new(&config).map_err(|p| weir_api::config::build_error(&p))?;
        Ok(Box::new(processor))
    }
}

#[cfg(test)]
mod tests;
