//! How much memory there is, and setting the process's budget from the limits.

use std::time::Duration;

use weir_api::telemetry::names::{MEMORY_BUDGET_LIMIT_BYTES, MEMORY_BUDGET_USED_BYTES};
use weir_api::telemetry::Telemetry;

use crate::gate::total_memory_bytes;

/// The memory `limit_percentage` is taken of: the cgroup's limit when there is one
/// (containers), else the machine's `MemTotal`.
pub fn available_memory_bytes() -> Option<u64> {
    let machine = total_memory_bytes();
    match (cgroup_limit_bytes(), machine) {
        (Some(cgroup), Some(machine)) => Some(cgroup.min(machine)),
        (cgroup, machine) => cgroup.or(machine),
    }
}

/// cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`; `None` when unlimited.
fn cgroup_limit_bytes() -> Option<u64> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    let v1 = || std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok();
    parse_limit(&v2.or_else(v1)?)
}

/// `max` (v2) and the huge page-rounded value v1 reports for "no limit" are no limit.
fn parse_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    (value < 1 << 60).then_some(value)
}

/// Applies the limits to the process's budget and shows them as gauges.
pub fn set_budget(telemetry: &Telemetry, soft: u64, hard: u64, check_interval: Duration) {
    let budget = telemetry.memory_budget();
    budget.limit(soft, hard, check_interval);
    let (soft, hard) = budget.limits();
    budget.report_to(telemetry.gauge_of(&MEMORY_BUDGET_USED_BYTES, &[]));
    telemetry
        .gauge_of(&MEMORY_BUDGET_LIMIT_BYTES, &["soft"])
        .set(soft as i64);
    telemetry
        .gauge_of(&MEMORY_BUDGET_LIMIT_BYTES, &["hard"])
        .set(hard as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cgroup_limits() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("536870912\n"), Some(512 << 20));
        assert!(available_memory_bytes().is_some_and(|b| b > 0));
    }
}
