//! The `tail_sampling` processor: waits for a trace's spans, then keeps or drops the
//! whole trace by policies (errors, latency, attributes, rates, OTTL, ...), as the
//! OpenTelemetry Collector contrib processor of the same name does, with the same keys,
//! policies, decision rules and self-metrics.
//!
//! What Weir adds: the buffer is bounded in bytes (`max_buffer_bytes`, and the
//! Collector's `maximum_trace_size_bytes` per trace) as well as in traces, and a trace
//! pushed out of the buffer is decided early, never dropped undecided; batches stay as
//! received bytes while they wait (see [`processor`] for the design). See README.md.

mod cache;
mod config;
mod facts;
mod metrics;
mod policy;
pub mod processor;

use std::sync::Arc;
use std::time::Instant;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::{PolicyConfig, PolicyType, TailSamplingConfig, DEFAULT_MAX_BUFFER_BYTES};
pub use metrics::{Eviction, NOT_SAMPLED};
pub use processor::{Clock, TailSampler, TICK};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "tail_sampling";

/// A trace id as a map key: 16 bytes (shorter ids are zero-padded, as an empty id is
/// all zeros in the Collector).
pub type TraceKey = [u8; 16];

/// The key of a span's trace id.
pub fn trace_key(id: &[u8]) -> TraceKey {
    let mut key = [0u8; 16];
    let n = id.len().min(16);
    key[..n].copy_from_slice(&id[..n]);
    key
}

/// Builds `tail_sampling` processors.
#[derive(Debug, Default)]
pub struct TailSamplingFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(TailSamplingFactory)
}

impl TailSamplingFactory {
    /// Builds with a given clock (tests drive time themselves).
    pub fn build_with_clock(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
        clock: Clock,
    ) -> Result<TailSampler, BuildError> {
        if ctx.signal != Signal::Traces {
            return Err(BuildError(format!(
                "{}: tail_sampling samples traces only, not {}",
                ctx.id,
                ctx.signal.as_str()
            )));
        }
        let config: TailSamplingConfig = weir_api::config::parse_valid(config)?;
        let policies = policy::Policies::compile(&config.policies, clock())
            .map_err(|e| BuildError(format!("{}: {}", ctx.id, e.0)))?;
        let id = ctx.id.to_string();
        let names: Vec<&str> = policies.top.iter().map(|(name, _)| name.as_str()).collect();
        let metrics = metrics::Metrics::new(&ctx.telemetry, &id, ctx.id.name(), &names);
        Ok(TailSampler::new(&config, policies, metrics, clock))
    }
}

impl ProcessorFactory for TailSamplingFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces],
            stability: Stability::Alpha,
            description: "Keeps whole traces chosen by policies, buffered within a byte bound.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<TailSamplingConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let clock: Clock = Arc::new(Instant::now);
        Ok(Box::new(self.build_with_clock(ctx, config, clock)?))
    }
}

#[cfg(test)]
mod tests;
