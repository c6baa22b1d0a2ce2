//! A token bucket in integer nanoseconds (the generic cell rate algorithm).
//!
//! Why not a float count of tokens: refilling by `elapsed × rate` in floating point
//! drifts (0.1 s × 10/s is not exactly one token), and the tests, the shadow mode and
//! the summaries rely on exact counts. Instead the bucket keeps one number, the
//! "theoretical arrival time" (TAT): when the bucket would be full again. Each token
//! moves it one `interval` (`1e9 / rate` ns, rounded to a nanosecond) later; an item
//! passes when the TAT it leaves is at most `burst × interval` ahead of now. A bucket is
//! full whenever its TAT is in the past, so a new bucket (TAT 0) starts full.

/// A rate and a burst, as nanosecond amounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Nanoseconds one token takes to come back (at most 1e18: the config bounds rate
    /// to at least 1e-9 per second).
    interval: u128,
    /// How far ahead of now the TAT may run: `burst × interval`, which fits in u128
    /// for any u64 burst.
    tolerance: u128,
}

impl Limit {
    /// `rate` tokens per second (between 1e-9 and 1e9, checked by the config), `burst`
    /// tokens at most.
    pub fn new(rate: f64, burst: u64) -> Self {
        // `as` saturates (NaN gives 0); the config's bounds keep this in 1..=1e18.
        let interval = ((1e9 / rate).round() as u64).max(1);
        let interval = u128::from(interval);
        Self {
            interval,
            tolerance: interval.saturating_mul(u128::from(burst)),
        }
    }
}

/// One key's bucket. Times are nanoseconds on the processor's monotonic clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    tat: u128,
}

impl Bucket {
    /// Takes one token if there is one.
    pub fn take(&mut self, limit: Limit, now: u64) -> bool {
        let now = u128::from(now);
        let next = self.tat.max(now).saturating_add(limit.interval);
        if next - now <= limit.tolerance {
            self.tat = next;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full again, i.e. indistinguishable from a new one.
    pub fn is_full(&self, now: u64) -> bool {
        self.tat <= u128::from(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn passed(bucket: &mut Bucket, limit: Limit, now: u64, tries: usize) -> usize {
        (0..tries).filter(|_| bucket.take(limit, now)).count()
    }

    #[test]
    fn starts_full_then_refills_at_the_rate() {
        let limit = Limit::new(50.0, 100);
        let mut bucket = Bucket::default();
        assert_eq!(passed(&mut bucket, limit, 5 * SECOND, 1000), 100);
        assert_eq!(passed(&mut bucket, limit, 6 * SECOND, 1000), 50);
        assert_eq!(
            passed(&mut bucket, limit, 6 * SECOND + SECOND / 10, 1000),
            5
        );
        assert!(!bucket.is_full(7 * SECOND));
        assert!(bucket.is_full(9 * SECOND));
        // A long pause refills up to the burst, never beyond.
        assert_eq!(passed(&mut bucket, limit, 100 * SECOND, 1000), 100);
    }

    #[test]
    fn fractional_rates_and_exact_steps() {
        let limit = Limit::new(0.5, 1);
        let mut bucket = Bucket::default();
        assert!(bucket.take(limit, 0));
        assert!(!bucket.take(limit, SECOND));
        assert!(bucket.take(limit, 2 * SECOND));
        // Ten tokens a second, in 100 ms steps: exactly one per step, no float drift.
        let limit = Limit::new(10.0, 1);
        let mut bucket = Bucket::default();
        let per_step: Vec<usize> = (1..=1000)
            .map(|step| passed(&mut bucket, limit, step * SECOND / 10, 3))
            .collect();
        assert!(per_step.iter().all(|n| *n == 1), "{per_step:?}");
    }

    #[test]
    fn huge_bursts_do_not_overflow() {
        let limit = Limit::new(1e-9, u64::MAX);
        let mut bucket = Bucket::default();
        assert_eq!(passed(&mut bucket, limit, 0, 10), 10);
        // The slowest rate with a burst of one: one error, then none for 31 years.
        let limit = Limit::new(1e-9, 1);
        let mut bucket = Bucket::default();
        assert_eq!(passed(&mut bucket, limit, 0, 10), 1);
        assert_eq!(passed(&mut bucket, limit, 1_000_000 * SECOND, 10), 0);
    }
}
