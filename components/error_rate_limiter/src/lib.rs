//! The `error_rate_limiter` processor (Weir's own): during an incident, error spans and
//! error logs multiply exactly when backends are slowest. This processor lets each kind
//! of error (a key such as `service.name` + `exception.type`) through at a bounded rate,
//! drops the excess, and emits one summary per key and window saying what it dropped,
//! so the signal survives while the flood does not.
//!
//! - `config.rs`: the section and its validation (the condition is compiled there).
//! - `bucket.rs`: a token bucket in integer nanoseconds, exact for tests and shadow mode.
//! - `key.rs`: how an item's key is read (item, `exception` events, resource).
//! - `summary.rs`: the summary items and their fixed attributes.
//! - `processor.rs`: classification, buckets per key, the overflow bucket, windows.
//!
//! See README.md.

mod bucket;
mod config;
mod key;
mod processor;
mod summary;

use std::sync::Arc;

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};
use weir_ottl::Context;

pub use config::ErrorRateLimiterConfig;
pub use key::{EXCEPTION_EVENT, MAX_VALUE_BYTES};
pub use processor::{Clock, ErrorRateLimiter, ERROR_RATE_LIMITED, OTHER_LABEL, OVERFLOW_LABEL};
pub use summary::{
    DROPPED_ATTRIBUTE, EXEMPLARS_ATTRIBUTE, FIRST_SEEN_ATTRIBUTE, KEY_ATTRIBUTE,
    LAST_SEEN_ATTRIBUTE, MAX_EXEMPLARS, OVERFLOW_KEY, SCOPE_NAME, SUMMARY_ATTRIBUTE, SUMMARY_NAME,
};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "error_rate_limiter";

/// Builds `error_rate_limiter` processors.
#[derive(Debug, Default)]
pub struct ErrorRateLimiterFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(ErrorRateLimiterFactory)
}

impl ErrorRateLimiterFactory {
    /// Builds an instance on a given clock (tests pass their own).
    pub fn build_with_clock(
        &self,
        ctx: &ProcessorBuildContext,
        config: &Value,
        clock: Clock,
    ) -> Result<ErrorRateLimiter, BuildError> {
        let context = match ctx.signal {
            Signal::Traces => Context::Span,
            Signal::Logs => Context::Log,
            Signal::Metrics => {
                return Err(BuildError(format!(
                    "{}: the error_rate_limiter limits error spans and logs, not metrics",
                    ctx.id
                )))
            }
        };
        let config: ErrorRateLimiterConfig = weir_api::config::parse_valid(config)?;
        let condition = config.compile_condition(context).map_err(|error| {
            BuildError(format!(
                "{}: condition: {error} (this pipeline carries {}, so the condition is read in \
                 the `{context}` context)",
                ctx.id,
                ctx.signal.as_str()
            ))
        })?;
        let id = ctx.id.to_string();
        Ok(ErrorRateLimiter::new(
            &id,
            ctx.signal,
            &config,
            condition,
            &ctx.telemetry,
            clock,
        ))
    }
}

impl ProcessorFactory for ErrorRateLimiterFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Logs],
            stability: Stability::Alpha,
            description:
                "Rate-limits error spans and logs per key, with summaries of what it dropped.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<ErrorRateLimiterConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        Ok(Box::new(self.build_with_clock(
            &ctx,
            config,
            Clock::system(),
        )?))
    }
}

#[cfg(test)]
mod tests;
