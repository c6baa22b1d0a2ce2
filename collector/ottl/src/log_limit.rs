//! At most one log line per interval for errors that can repeat on every item: with
//! `error_mode: ignore`, a condition or statement that fails on one item usually fails on
//! all. Shared by the components that run OTTL.

use std::time::{Duration, Instant};

/// How often an error of the same component may be logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// `Some(n)` when a line may be logged now, `n` being the lines suppressed since the
    /// last one; `None` when this one is suppressed.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < LOG_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_interval_and_counts_the_rest() {
        let mut limiter = LogLimiter::default();
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        if let Some(earlier) = Instant::now().checked_sub(LOG_INTERVAL) {
            limiter.last = Some(earlier);
            assert_eq!(limiter.allow(), Some(2));
        }
    }
}
