//! Stream processors for metrics, sharing their per-series state (`weir-streams`):
//!
//! - `aggregation`: vmagent-style stream aggregation (group by attributes, roll up per
//!   interval, merge histograms) — [`aggregation`];
//! - `interval`: the last point of each series per interval — [`interval`];
//! - `deltatocumulative` — [`deltatocumulative`];
//! - `cumulativetodelta` — [`cumulativetodelta`].
//!
//! One crate holds the four because they share most of their code: reading points into
//! owned values, the emitter that rebuilds resources/scopes/metrics around new points,
//! interval boundaries, and the stream state itself. See README.md.

pub mod aggregation;
pub mod cumulativetodelta;
pub mod deltatocumulative;
pub mod emit;
pub mod interval;
mod ticker;

use std::sync::Arc;
use std::time::Instant;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

use aggregation::{AggregationConfig, AggregationProcessor, Counters};
use cumulativetodelta::{CumulativeToDeltaConfig, CumulativeToDeltaProcessor};
use deltatocumulative::{DeltaToCumulativeConfig, DeltaToCumulativeProcessor};
use interval::{IntervalConfig, IntervalProcessor};

fn metrics_only(ctx: &ProcessorBuildContext, name: &str) -> Result<(), BuildError> {
    if ctx.signal != Signal::Metrics {
        return Err(BuildError(format!(
            "{}: the {name} processor handles metrics only, not {}",
            ctx.id,
            ctx.signal.as_str()
        )));
    }
    Ok(())
}

fn info(type_name: &'static str, stability: Stability, description: &'static str) -> FactoryInfo {
    FactoryInfo {
        type_name,
        aliases: &[],
        signals: &[Signal::Metrics],
        stability,
        description,
    }
}

/// `aggregation`.
#[derive(Debug, Default)]
pub struct AggregationFactory;

impl ProcessorFactory for AggregationFactory {
    fn info(&self) -> FactoryInfo {
        info(
            "aggregation",
            Stability::Alpha,
            "Aggregates metric streams by attributes and interval (vmagent stream aggregation).",
        )
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<AggregationConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        metrics_only(&ctx, "aggregation")?;
        let config: AggregationConfig = weir_api::config::parse_valid(config)?;
        let counters = Counters::new(&ctx.telemetry, &ctx.id.to_string());
        Ok(Box::new(AggregationProcessor::new(
            &config,
            counters,
            Instant::now(),
        )))
    }
}

/// `interval`.
#[derive(Debug, Default)]
pub struct IntervalFactory;

impl ProcessorFactory for IntervalFactory {
    fn info(&self) -> FactoryInfo {
        info(
            "interval",
            Stability::Alpha,
            "Emits the last point of each cumulative series and gauge once per interval.",
        )
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<IntervalConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        metrics_only(&ctx, "interval")?;
        let config: IntervalConfig = weir_api::config::parse_valid(config)?;
        let superseded =
            ctx.telemetry
                .dropped(&ctx.id.to_string(), Signal::Metrics, interval::SUPERSEDED);
        Ok(Box::new(IntervalProcessor::new(
            config,
            superseded,
            Instant::now(),
        )))
    }
}

/// `deltatocumulative`.
#[derive(Debug, Default)]
pub struct DeltaToCumulativeFactory;

impl ProcessorFactory for DeltaToCumulativeFactory {
    fn info(&self) -> FactoryInfo {
        info(
            "deltatocumulative",
            Stability::Alpha,
            "Turns delta sums and histograms into cumulative ones.",
        )
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<DeltaToCumulativeConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        metrics_only(&ctx, "deltatocumulative")?;
        let config: DeltaToCumulativeConfig = weir_api::config::parse_valid(config)?;
        Ok(Box::new(DeltaToCumulativeProcessor::new(
            &config,
            &ctx.telemetry,
            &ctx.id.to_string(),
        )))
    }
}

/// `cumulativetodelta`.
#[derive(Debug, Default)]
pub struct CumulativeToDeltaFactory;

impl ProcessorFactory for CumulativeToDeltaFactory {
    fn info(&self) -> FactoryInfo {
        info(
            "cumulativetodelta",
            Stability::Alpha,
            "Turns monotonic cumulative sums and histograms into deltas.",
        )
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<CumulativeToDeltaConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        metrics_only(&ctx, "cumulativetodelta")?;
        let config: CumulativeToDeltaConfig = weir_api::config::parse_valid(config)?;
        Ok(Box::new(CumulativeToDeltaProcessor::new(
            &config,
            &ctx.telemetry,
            &ctx.id.to_string(),
        )))
    }
}

/// The `aggregation` factory, for the registry.
pub fn aggregation_factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(AggregationFactory)
}

/// The `interval` factory, for the registry.
pub fn interval_factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(IntervalFactory)
}

/// The `deltatocumulative` factory, for the registry.
pub fn deltatocumulative_factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(DeltaToCumulativeFactory)
}

/// The `cumulativetodelta` factory, for the registry.
pub fn cumulativetodelta_factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(CumulativeToDeltaFactory)
}

#[cfg(test)]
mod tests;
