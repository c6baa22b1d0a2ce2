//! The `batch` processor: groups small batches into larger ones before export.
//!
//! Exporters pay per request (a TLS record, an HTTP round trip, a compression frame), so
//! sending 8192 spans at once costs far less than 8192 requests of one span. The
//! grouping rules are the Collector's (`send_batch_size` triggers a send,
//! `send_batch_max_size` caps it, `timeout` bounds the wait, `metadata_keys` keeps
//! tenants apart) and are implemented once in [`weir_api::Batcher`]; this crate adds
//! configuration, the clock and self-metrics. See README.md.

mod config;
mod processor;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::BatchConfig;
pub use processor::{BatchCounters, BatchProcessor, CARDINALITY_REASON};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "batch";

/// Builds `batch` processors.
#[derive(Debug, Default)]
pub struct BatchProcessorFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(BatchProcessorFactory)
}

impl ProcessorFactory for BatchProcessorFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &Signal::ALL,
            stability: Stability::Beta,
            description:
                "Groups items into larger batches by size and time, per metadata key values.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<BatchConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let config: BatchConfig = weir_api::config::parse_valid(config)?;
        let id = ctx.id.to_string();
        let counters = BatchCounters::new(&ctx.telemetry, &id, ctx.signal);
        Ok(Box::new(BatchProcessor::new(id, &config, counters)))
    }
}

#[cfg(test)]
mod tests;
