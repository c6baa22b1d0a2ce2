//! Interval boundaries aligned to wall-clock multiples of the interval (as vmagent aligns
//! its aggregation windows), so every Weir with the same interval flushes at the same
//! instants and an output's timestamp is the boundary itself, not the moment the task
//! happened to wake up.

use std::time::{Duration, Instant};

use weir_streams::delta::unix_now;

#[derive(Debug, Clone)]
pub struct Ticker {
    interval: Duration,
    next: Instant,
    next_unix: u64,
}

impl Ticker {
    pub fn new(interval: Duration, now: Instant) -> Self {
        Self::aligned(interval, now, unix_now())
    }

    /// As [`Ticker::new`], with the wall clock given (tests).
    pub fn aligned(interval: Duration, now: Instant, unix: u64) -> Self {
        let step = (interval.as_nanos() as u64).max(1);
        let next_unix = (unix / step + 1) * step;
        Self {
            interval,
            next: now + Duration::from_nanos(next_unix - unix),
            next_unix,
        }
    }

    pub fn next(&self) -> Instant {
        self.next
    }

    /// When a boundary has passed: the newest boundary passed (Unix nanoseconds), and the
    /// ticker moves past `now`.
    pub fn due_at(&mut self, now: Instant) -> Option<u64> {
        if now < self.next {
            return None;
        }
        let step = self.interval.max(Duration::from_nanos(1));
        let mut passed = self.next_unix;
        while self.next <= now {
            passed = self.next_unix;
            self.next += step;
            self.next_unix += step.as_nanos() as u64;
        }
        Some(passed)
    }

    pub fn due(&mut self, now: Instant) -> bool {
        self.due_at(now).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_multiples_of_the_interval() {
        const S: u64 = 1_000_000_000;
        let now = Instant::now();
        let mut t = Ticker::aligned(Duration::from_secs(10), now, 123 * S + 5);
        assert_eq!(t.next(), now + Duration::from_nanos(7 * S - 5));
        assert_eq!(t.due_at(now), None);
        // Woken late, past two boundaries: the newest one is reported.
        let late = now + Duration::from_secs(18);
        assert_eq!(t.due_at(late), Some(140 * S));
        assert_eq!(t.due_at(late), None);
    }
}
