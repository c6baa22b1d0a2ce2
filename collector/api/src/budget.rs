//! The memory budget: a deterministic bound on the bytes of data Weir holds.
//!
//! Measuring resident memory (what the Collector's `memory_limiter` does with Go heap
//! readings) reacts late: between two checks a burst is admitted whole. The budget
//! instead charges each request when it is admitted, by the size it is known to have
//! (Content-Length, the gRPC message, the datagram, the encoded batch), and gives the
//! charge back when the data's acknowledgement handle is released: exported, dropped on
//! purpose, or failed. The sum is exact at every instant, so admission can refuse the
//! request that would cross the limit, not the one after the next check.
//!
//! Two limits, as the Collector's `limit_mib` and `spike_limit_mib` define them:
//! - above the **soft** limit (`limit - spike`) new requests are refused with a
//!   retryable answer;
//! - the **hard** limit (`limit`) bounds growth after admission (a compressed body that
//!   turns out larger once decompressed): nothing is admitted past it.
//!
//! One budget serves the whole process (it is reached through
//! [`Telemetry::memory_budget`](crate::telemetry::Telemetry::memory_budget)); with no
//! `memory_limiter` configured the engine sets [`default_limits`], so memory is bounded
//! by default.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::telemetry::Gauge;

/// See the module docs. Cloning shares the budget.
#[derive(Clone, Debug, Default)]
pub struct MemoryBudget(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    used: AtomicU64,
    soft: AtomicU64,
    hard: AtomicU64,
    retry_after_ms: AtomicU64,
    used_gauge: OnceLock<Gauge>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            used: AtomicU64::new(0),
            soft: AtomicU64::new(u64::MAX),
            hard: AtomicU64::new(u64::MAX),
            retry_after_ms: AtomicU64::new(1000),
            used_gauge: OnceLock::new(),
        }
    }
}

/// Why a charge was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverBudget {
    /// The hint for the client: the limiter's check interval, at least a second.
    pub retry_after: Duration,
}

impl MemoryBudget {
    /// Sets the limits (bytes). With several memory limiters, the smallest limits win.
    pub fn limit(&self, soft: u64, hard: u64, retry_after: Duration) {
        self.0.soft.fetch_min(soft, Ordering::AcqRel);
        self.0.hard.fetch_min(hard.max(soft), Ordering::AcqRel);
        self.0
            .retry_after_ms
            .store(retry_after.as_millis().max(1000) as u64, Ordering::Relaxed);
    }

    /// Shows the bytes in use in `gauge` from now on.
    pub fn report_to(&self, gauge: Gauge) {
        gauge.set(self.used() as i64);
        let _ = self.0.used_gauge.set(gauge);
    }

    /// Bytes charged and not yet released.
    pub fn used(&self) -> u64 {
        self.0.used.load(Ordering::Acquire)
    }

    /// `(soft, hard)`; `u64::MAX` when unlimited.
    pub fn limits(&self) -> (u64, u64) {
        (
            self.0.soft.load(Ordering::Acquire),
            self.0.hard.load(Ordering::Acquire),
        )
    }

    pub fn is_limited(&self) -> bool {
        self.limits().0 != u64::MAX
    }

    fn retry_after(&self) -> Duration {
        Duration::from_millis(self.0.retry_after_ms.load(Ordering::Relaxed))
    }

    /// Adds `bytes` if the total stays within `limit`; lock-free.
    fn add_within(&self, bytes: u64, limit: u64) -> Result<(), OverBudget> {
        let mut used = self.0.used.load(Ordering::Acquire);
        loop {
            let next = used.saturating_add(bytes);
            if next > limit {
                return Err(OverBudget {
                    retry_after: self.retry_after(),
                });
            }
            match self
                .0
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => used = actual,
            }
        }
        self.show();
        Ok(())
    }

    fn release(&self, bytes: u64) {
        self.0.used.fetch_sub(bytes, Ordering::AcqRel);
        self.show();
    }

    fn show(&self) {
        if let Some(gauge) = self.0.used_gauge.get() {
            gauge.set(self.used() as i64);
        }
    }

    /// Charges a new request of `bytes`: refused when it would take the budget past
    /// its soft limit.
    pub fn charge(&self, bytes: u64) -> Result<Charge, OverBudget> {
        self.add_within(bytes, self.limits().0)?;
        Ok(Charge {
            budget: self.clone(),
            bytes,
        })
    }
}

/// Bytes charged to the budget; released when dropped (attach it to the data's
/// acknowledgement handle so it is released when the data has its outcome).
#[derive(Debug)]
pub struct Charge {
    budget: MemoryBudget,
    bytes: u64,
}

impl Charge {
    /// A charge of nothing (for data that is not budgeted).
    pub fn none(budget: &MemoryBudget) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Raises the charge to `bytes` (e.g. the decompressed size once known), within the
    /// hard limit. A smaller `bytes` keeps the charge as it is.
    pub fn grow_to(&mut self, bytes: u64) -> Result<(), OverBudget> {
        if bytes > self.bytes {
            let extra = bytes - self.bytes;
            self.budget.add_within(extra, self.budget.limits().1)?;
            self.bytes = bytes;
        }
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.release(self.bytes);
        }
    }
}

/// Applies limits to the process's budget and shows them (and the bytes in use) as
/// `weir_memory_budget_limit_bytes` and `weir_memory_budget_used_bytes`.
pub fn configure(
    telemetry: &crate::telemetry::Telemetry,
    soft: u64,
    hard: u64,
    retry_after: Duration,
) {
    use crate::telemetry::names::{MEMORY_BUDGET_LIMIT_BYTES, MEMORY_BUDGET_USED_BYTES};
    let budget = telemetry.memory_budget();
    budget.limit(soft, hard, retry_after);
    let (soft, hard) = budget.limits();
    budget.report_to(telemetry.gauge_of(&MEMORY_BUDGET_USED_BYTES, &[]));
    let show = |limit: &str, bytes: u64| {
        telemetry
            .gauge_of(&MEMORY_BUDGET_LIMIT_BYTES, &[limit])
            .set(i64::try_from(bytes).unwrap_or(i64::MAX))
    };
    show("soft", soft);
    show("hard", hard);
}

/// The default budget when no `memory_limiter` sets one: a quarter of the memory
/// available (cgroup limit, else `MemTotal`), at most 512 MiB soft; the hard limit a
/// quarter above it. With no readable memory size, 512 MiB.
pub fn default_limits(available: Option<u64>) -> (u64, u64) {
    const CAP: u64 = 512 << 20;
    let soft = available
        .map_or(CAP, |bytes| (bytes / 4).min(CAP))
        .max(16 << 20);
    (soft, soft + soft / 4)
}

/// The memory `limit_percentage` and the default budget are taken of: the cgroup's
/// limit when there is one (containers), else the machine's `MemTotal`.
pub fn available_memory_bytes() -> Option<u64> {
    let machine = machine_memory_bytes();
    match (cgroup_limit_bytes(), machine) {
        (Some(cgroup), Some(machine)) => Some(cgroup.min(machine)),
        (cgroup, machine) => cgroup.or(machine),
    }
}

/// `MemTotal` of the machine, from `/proc/meminfo`.
pub fn machine_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line["MemTotal:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`; `None` when unlimited.
fn cgroup_limit_bytes() -> Option<u64> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    let v1 = || std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok();
    parse_cgroup_limit(&v2.or_else(v1)?)
}

/// `max` (v2) and the huge page-rounded value v1 reports for "no limit" are no limit.
fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    (value < 1 << 60).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_refuse_past_the_soft_limit_and_release_on_drop() {
        let budget = MemoryBudget::default();
        assert!(!budget.is_limited());
        budget.limit(100, 150, Duration::from_millis(10));
        let a = budget.charge(60).unwrap();
        let refused = budget.charge(41).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        let b = budget.charge(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn growth_is_bounded_by_the_hard_limit() {
        let budget = MemoryBudget::default();
        budget.limit(100, 150, Duration::from_secs(2));
        let mut charge = budget.charge(90).unwrap();
        charge.grow_to(140).unwrap();
        assert_eq!(budget.used(), 140);
        assert!(charge.grow_to(151).is_err());
        assert_eq!(budget.used(), 140);
        charge.grow_to(10).unwrap();
        assert_eq!(charge.bytes(), 140);
        drop(charge);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn default_limits_are_a_quarter_of_memory_capped_at_512_mib() {
        assert_eq!(default_limits(Some(24 << 30)), (512 << 20, 640 << 20));
        assert_eq!(default_limits(Some(1 << 30)), (256 << 20, 320 << 20));
        assert_eq!(default_limits(None), (512 << 20, 640 << 20));
        assert_eq!(default_limits(Some(1 << 20)).0, 16 << 20);
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(512 << 20));
        assert!(available_memory_bytes().is_some_and(|b| b > 0));
    }

    #[test]
    fn the_smallest_limits_win() {
        let budget = MemoryBudget::default();
        budget.limit(100, 150, Duration::from_secs(1));
        budget.limit(200, 300, Duration::from_secs(1));
        assert_eq!(budget.limits(), (100, 150));
    }
}
