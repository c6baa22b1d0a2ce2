//! The `load_shedder` processor (Weir's own): priority load shedding.
//!
//! During an incident error telemetry multiplies exactly when backends are slowest.
//! Refusing everything (what a memory limiter does at its limit) loses the errors with
//! the noise. This processor starts earlier, below the memory limiter's soft limit, and
//! drops by priority instead: configured classes, the first one first (by default debug
//! and info logs, then successful spans down to a floor), so error logs and error spans
//! keep flowing as long as possible. It leaves shedding mode with hysteresis, logs one
//! line on entering and one on leaving, and counts every shed item by class. With
//! `shadow: true` it only counts what it would shed.
//!
//! - `config.rs`: the section and its validation (class conditions are compiled there).
//! - `pressure.rs`: the inputs ([`PressureSource`], injectable), the escalation rule and
//!   its hysteresis.
//! - `class.rs`: class matching and floor sampling.
//! - `processor.rs`: the walk over a batch, counters and log lines.
//!
//! See README.md.

mod class;
mod config;
mod pressure;
mod processor;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use class::MILLION;
pub use config::{ClassConfig, LoadShedderConfig, PressureConfig};
pub use pressure::{Input, PressureSource, Readings, TelemetrySource};
pub use processor::LoadShedder;

/// The component type name in configuration.
pub const TYPE_NAME: &str = "load_shedder";

/// Builds `load_shedder` processors.
#[derive(Debug, Default)]
pub struct LoadShedderFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(LoadShedderFactory)
}

impl LoadShedderFactory {
    /// Builds an instance reading pressure from `source` (tests pass their own).
    pub fn build_with_source(
        &self,
        ctx: &ProcessorBuildContext,
        config: &Value,
        source: Box<dyn PressureSource>,
    ) -> Result<LoadShedder, BuildError> {
        let config: LoadShedderConfig = weir_api::config::parse_valid(config)?;
        LoadShedder::new(
            &ctx.id.to_string(),
            &ctx.pipeline.to_string(),
            ctx.signal,
            &config,
            &ctx.telemetry,
            source,
        )
        .map_err(|message| BuildError(format!("{}: {message}", ctx.id)))
    }
}

impl ProcessorFactory for LoadShedderFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Development,
            description:
                "Under pressure, sheds configured priority classes in order and keeps errors.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<LoadShedderConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let source = Box::new(TelemetrySource::new(&ctx.telemetry));
        Ok(Box::new(self.build_with_source(&ctx, config, source)?))
    }
}

#[cfg(test)]
mod tests;
