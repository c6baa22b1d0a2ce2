//! How much memory there is, and setting the process's budget from the limits.

use std::time::Duration;

use weir_api::telemetry::Telemetry;

/// The memory `limit_percentage` is taken of: the cgroup's limit when there is one
/// (containers), else the machine's `MemTotal`.
pub fn available_memory_bytes() -> Option<u64> {
    weir_api::budget::available_memory_bytes()
}

/// Applies the limits to the process's budget and shows them as gauges.
pub fn set_budget(telemetry: &Telemetry, soft: u64, hard: u64, check_interval: Duration) {
    weir_api::budget::configure(telemetry, soft, hard, check_interval);
}
