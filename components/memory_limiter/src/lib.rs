//! The `memory_limiter` processor: while the process uses more memory than its soft limit,
//! new data is refused at admission, before it is queued anywhere, and clients are told
//! to retry later (gRPC UNAVAILABLE, HTTP 503). It keeps Weir alive during incident
//! storms, when traffic multiplies and backends slow down, instead of growing until the
//! kernel kills it.
//!
//! The Collector's processor of the same name measures the Go heap; Weir measures the
//! process's resident set (`VmRSS` in `/proc/self/status`), which is what an OOM killer or
//! a container limit sees. The check runs at most once per `check_interval`, on the
//! admitting request, with atomics only: no lock shared by all connections.

mod gate;

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
    /// Hard limit as a percentage of the machine's memory (`/proc/meminfo`).
    pub limit_percentage: u64,
    /// Headroom as a percentage of the machine's memory.
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
        let (limit, spike) = if self.limit_mib > 0 {
            let limit = self.limit_mib * MIB;
            let spike = self.spike_limit_mib.map_or(limit / 5, |mib| mib * MIB);
            (limit, spike)
        } else {
            let total = total_memory()
                .ok_or("limit_percentage needs /proc/meminfo, which could not be read")?;
            let limit = total / 100 * self.limit_percentage;
            let spike = self
                .spike_limit_percentage
                .map_or(limit / 5, |pct| total / 100 * pct);
            (limit, spike)
        };
        Ok(limit.saturating_sub(spike))
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
                "Refuses new data (clients retry) while the process is over its memory limit.",
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
        let soft_limit = config
            .soft_limit_bytes(gate::total_memory_bytes)
            .map_err(BuildError)?;
        let check_interval = config.check_interval.unwrap_or(Duration::from_secs(1));
        let gate = MemoryGate::new(
            &ctx.id.to_string(),
            soft_limit,
            check_interval,
            gate::resident_bytes,
            &ctx.telemetry,
        );
        Ok(Box::new(MemoryLimiter {
            gate: Arc::new(gate),
        }))
    }
}

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(Factory)
}

#[cfg(test)]
mod tests;
