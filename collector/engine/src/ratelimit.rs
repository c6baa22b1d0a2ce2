//! Logging that cannot flood: during an incident storm the same warning would otherwise be
//! written thousands of times a second. The first occurrence is logged at once; later
//! ones are summed and logged at most once per interval with the total.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimitedLog {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    pending: AtomicU64,
}

impl RateLimitedLog {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            pending: AtomicU64::new(0),
        }
    }

    /// Adds `count` and, when the interval has passed, calls `log` with the total since
    /// the last line.
    pub fn warn(&self, count: u64, log: impl FnOnce(u64)) {
        self.pending.fetch_add(count, Ordering::Relaxed);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_none_or(|at| now.duration_since(at) >= self.interval) {
            *last = Some(now);
            drop(last);
            log(self.pending.swap(0, Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_first_then_sums() {
        let limiter = RateLimitedLog::new(Duration::from_secs(3600));
        let mut lines = Vec::new();
        limiter.warn(2, |n| lines.push(n));
        limiter.warn(5, |n| lines.push(n));
        assert_eq!(lines, [2]);
        assert_eq!(limiter.pending.load(Ordering::Relaxed), 5);
    }
}
