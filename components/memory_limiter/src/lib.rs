//! The `memory_limiter` processor and extension: a deterministic byte budget at
//! admission, with resident memory as a second signal. It keeps Weir alive during
//! incident storms, when traffic multiplies and backends slow down, instead of growing
//! until the kernel kills it.
//!
//! The Collector's component of the same name reacts to garbage-collector readings, so a
//! burst between two checks is admitted whole. Weir sets the process's
//! [`MemoryBudget`](weir_api::budget::MemoryBudget): every request is charged when a
//! receiver admits it and released when its data is exported, dropped or refused, so
//! the request that would cross the soft limit (`limit - spike`) is the one refused,
//! with a retryable answer (gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After).
//!
//! Resident memory (`VmRSS`) is still measured at most once per `check_interval`, for
//! memory the budget does not see: while it is above the hard limit plus what the
//! process used when the limiter was built (the program itself), admission refuses too. Both checks use atomics only: no lock shared by all connections.

mod extension;
mod gate;
mod limits;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use weir_api::{
    Admission, Batch, BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext,
    ProcessorFactory, Signal, Stability, Value,
};

pub use gate::{MemoryGate, MemoryReader};

/// `processors.memory_limiter`, with the Collector's keys.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How often memory is measured. Required, as in the Collector.
    #[serde(with = "weir_api::duration::option")]
    pub check_interval: Option<Duration>,
    /// Hard limit in MiB.
    pub limit_mib: u64,
    /// Headroom below the hard limit; refusing starts at `limit - spike`. Default 20% of
    /// the limit.
    pub spike_limit_mib: Option<u64>,
    /// Hard limit as a percentage of the memory available: the cgroup's limit when
    /// there is one (containers), else the machine's `MemTotal`.
    pub limit_percentage: u64,
    /// Headroom as a percentage of the same memory.
    pub spike_limit_percentage: Option<u64>,
}

impl weir_api::config::Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ComponentProblem {
                path: vec![key.to_string()],
                message,
                suggestion: None,
            })
        };
        match self.check_interval {
            None => problem(
                "check_interval",
                "`check_interval` is required (e.g. 1s)".into(),
            ),
            Some(d) if d.is_zero() => problem("check_interval", "must be greater than 0".into()),
            Some(_) => {}
        }
        match (self.limit_mib, self.limit_percentage) {
            (0, 0) => problem(
                "limit_mib",
                "set `limit_mib` or `limit_percentage` (one of them, not zero)".into(),
            ),
            (m, p) if m > 0 && p > 0 => problem(
                "limit_percentage",
                "set `limit_mib` or `limit_percentage`, not both".into(),
            ),
            (_, p) if p > 100 => problem("limit_percentage", "must be at most 100".into()),
            _ => {}
        }
        if let Some(spike) = self.spike_limit_mib {
            if self.limit_mib > 0 && spike >= self.limit_mib {
                problem(
                    "spike_limit_mib",
                    format!("must be below limit_mib ({})", self.limit_mib),
                );
            }
        }
        if let Some(spike) = self.spike_limit_percentage {
            if self.limit_percentage > 0 && spike >= self.limit_percentage {
                problem(
                    "spike_limit_percentage",
                    format!("must be below limit_percentage ({})", self.limit_percentage),
                );
            }
        }
        problems
    }
}

const MIB: u64 = 1024 * 1024;

impl Config {
    /// The soft limit in bytes, where refusing starts.
    pub fn soft_limit_bytes(&self, total_memory: impl Fn() -> Option<u64>) -> Result<u64, String> {
        self.limits_bytes(total_memory).map(|(soft, _)| soft)
    }

    /// `(soft, hard)` in bytes: refusing starts at `limit - spike`; `limit` bounds growth.
    pub fn limits_bytes(
        &self,
        total_memory: impl Fn() -> Option<u64>,
    ) -> Result<(u64, u64), String> {
        let (limit, spike) = if self.limit_mib > 0 {
            let limit = self.limit_mib * MIB;
            let spike = self.spike_limit_mib.map_or(limit / 5, |mib| mib * MIB);
            (limit, spike)
        } else {
            let total = total_memory().ok_or(
                "limit_percentage needs the cgroup memory limit or /proc/meminfo, and neither could be read",
            )?;
            let limit = total / 100 * self.limit_percentage;
            let spike = self
                .spike_limit_percentage
                .map_or(limit / 5, |pct| total / 100 * pct);
            (limit, spike)
        };
        Ok((limit.saturating_sub(spike), limit))
    }

    /// Sets the process's budget from this config and builds the resident-memory gate.
    pub(crate) fn apply(
        &self,
        id: &str,
        telemetry: &weir_api::telemetry::Telemetry,
    ) -> Result<MemoryGate, BuildError> {
        let (soft, hard) = self
            .limits_bytes(limits::available_memory_bytes)
            .map_err(BuildError)?;
        let check_interval = self.check_interval.unwrap_or(Duration::from_secs(1));
        limits::set_budget(telemetry, soft, hard, check_interval);
        Ok(MemoryGate::new(
            id,
            hard,
            check_interval,
            gate::resident_bytes,
            telemetry,
        ))
    }
}

/// Passes every batch through; its work is done by its [`MemoryGate`] at admission.
pub struct MemoryLimiter {
    gate: Arc<MemoryGate>,
}

impl Processor for MemoryLimiter {
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        out.push(batch);
    }

    fn admission(&self) -> Option<Arc<dyn Admission>> {
        Some(self.gate.clone())
    }
}

struct Factory;

impl ProcessorFactory for Factory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "memory_limiter",
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Beta,
            description:
                "Bounds the bytes of data held: refuses new data (clients retry) past the budget.",
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
        let config: Config = weir_api::config::parse_valid(config)?;
        let gate = config.apply(&ctx.id.to_string(), &ctx.telemetry)?;
        Ok(Box::new(MemoryLimiter {
            gate: Arc::new(gate),
        }))
    }
}

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(Factory)
}

/// The `memory_limiter` extension's factory: the same keys, the same process budget,
/// for configs that limit memory without a processor in each pipeline.
pub fn extension_factory() -> Arc<dyn weir_api::ExtensionFactory> {
    Arc::new(extension::Factory)
}

#[cfg(test)]
mod tests;
