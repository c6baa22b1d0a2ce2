//! The resident-memory gate: measures `VmRSS` at most once per interval and refuses
//! while the process is over its hard limit (memory the budget does not see).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use weir_api::telemetry::names::{
    MEMORY_LIMITER_REFUSED_REQUESTS, MEMORY_LIMITER_REFUSING, MEMORY_LIMITER_RESIDENT_BYTES,
};
use weir_api::telemetry::{Counter, Gauge, Telemetry};
use weir_api::{Admission, Batch, ConsumeError};

/// Reads the process's memory use in bytes (`None` when it cannot be read).
pub type MemoryReader = fn() -> Option<u64>;

/// See the module docs.
pub struct MemoryGate {
    id: String,
    limit: u64,
    interval: Duration,
    read_memory: MemoryReader,
    /// Base for the atomic timestamps below.
    start: Instant,
    /// Nanoseconds since `start` of the next measurement; the request that moves it
    /// forward does the measuring.
    next_check: AtomicU64,
    refusing: AtomicBool,
    refusing_gauge: Gauge,
    memory_gauge: Gauge,
    refusals: Counter,
}

impl MemoryGate {
    pub fn new(
        id: &str,
        limit: u64,
        interval: Duration,
        read_memory: MemoryReader,
        telemetry: &Telemetry,
    ) -> Self {
        let labels = [id];
        Self {
            id: id.to_string(),
            limit,
            interval,
            read_memory,
            start: Instant::now(),
            next_check: AtomicU64::new(0),
            refusing: AtomicBool::new(false),
            refusing_gauge: telemetry.gauge_of(&MEMORY_LIMITER_REFUSING, &labels),
            memory_gauge: telemetry.gauge_of(&MEMORY_LIMITER_RESIDENT_BYTES, &labels),
            refusals: telemetry.counter_of(&MEMORY_LIMITER_REFUSED_REQUESTS, &labels),
        }
    }

    /// Measures now if the interval has passed (only one caller measures).
    fn maybe_check(&self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start).as_nanos() as u64;
        let due = self.next_check.load(Ordering::Relaxed);
        if elapsed < due {
            return;
        }
        let next = elapsed + self.interval.as_nanos() as u64;
        if self
            .next_check
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // another request is measuring
        }
        let Some(used) = (self.read_memory)() else {
            // Unmeasurable memory must not stop the pipeline: admit, and say so once.
            if due == 0 {
                tracing::warn!(processor = %self.id, "memory_limiter cannot read the process's memory; not limiting");
            }
            return;
        };
        self.memory_gauge.set(used as i64);
        let over = used > self.limit;
        let was = self.refusing.swap(over, Ordering::AcqRel);
        self.refusing_gauge.set(i64::from(over));
        if over && !was {
            tracing::warn!(processor = %self.id, resident_mib = used >> 20, limit_mib = self.limit >> 20,
                "resident memory is above the limit; refusing new data until it drops (clients are told to retry)");
        } else if was && !over {
            tracing::info!(processor = %self.id, resident_mib = used >> 20,
                "resident memory is back under the limit; accepting data again");
        }
    }

    /// Admission at a given instant (the trait method uses the clock).
    pub fn admit_at(&self, now: Instant) -> Result<(), ConsumeError> {
        self.maybe_check(now);
        if self.refusing.load(Ordering::Acquire) {
            self.refusals.inc();
            return Err(ConsumeError::NoRoom {
                retry_after: self.interval.max(Duration::from_secs(1)),
            });
        }
        Ok(())
    }
}

impl Admission for MemoryGate {
    /// The batch is not looked at yet: the gate measures the whole process.
    fn admit(&self, _batch: &Batch) -> Result<(), ConsumeError> {
        self.admit_at(Instant::now())
    }
}

/// `VmRSS` of this process, from `/proc/self/status`.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmRSS:")
}

/// A `Name:   1234 kB` line, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_fields() {
        assert_eq!(kib_field("VmRSS:\t  2048 kB\n", "VmRSS:"), Some(2 << 20));
        assert_eq!(kib_field("Other: 1 kB\n", "VmRSS:"), None);
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
