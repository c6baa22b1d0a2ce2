//! The `probabilistic_sampler` processor: keeps a fixed percentage of traces and logs,
//! deciding from the trace id so every span of a trace (and every log record of it)
//! gets the same decision in every Weir and Collector of a tier.
//!
//! Behaviour is the OpenTelemetry Collector contrib's: `hash_seed` mode hashes the
//! trace id (FNV-1a with the seed) into 14 bits; `proportional` and `equalizing` use
//! the OTEP 235 threshold/randomness scheme and write `th` into the tracestate (or the
//! `sampling.threshold` log attribute) of kept items so that backends can count them.
//! See README.md.

mod config;
mod hash;
mod processor;
mod sampler;
mod threshold;
mod tracestate;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::{AttributeSource, Mode, SamplerConfig};
pub use processor::{ProbabilisticSampler, SamplerCounters, FAIL_CLOSED, SAMPLED_OUT};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "probabilistic_sampler";

/// Builds `probabilistic_sampler` processors.
#[derive(Debug, Default)]
pub struct ProbabilisticSamplerFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(ProbabilisticSamplerFactory)
}

impl ProcessorFactory for ProbabilisticSamplerFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Logs],
            stability: Stability::Alpha,
            description: "Keeps a percentage of traces and logs, consistently by trace id.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<SamplerConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        if ctx.signal == Signal::Metrics {
            return Err(BuildError(format!(
                "{}: the probabilistic_sampler samples traces and logs only, not metrics",
                ctx.id
            )));
        }
        let config: SamplerConfig = weir_api::config::parse_valid(config)?;
        let id = ctx.id.to_string();
        let counters = SamplerCounters::new(&ctx.telemetry, &id, ctx.signal, &config);
        Ok(Box::new(ProbabilisticSampler::new(&config, counters)))
    }
}

#[cfg(test)]
mod tests;
