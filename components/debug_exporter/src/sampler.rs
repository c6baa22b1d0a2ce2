//! Log sampling with zap's semantics (`zapcore.NewSampler`, one-second ticks), so
//! `sampling_initial`/`sampling_thereafter` mean what they mean in the Collector: in each
//! second, the first `initial` writes pass, then every `thereafter`-th.
//!
//! Sampling protects the log (and the disk behind it) from a busy pipeline; it never
//! affects the data, which the debug exporter only reads.

use std::sync::Mutex;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    seen: u64,
}

/// One sampler per signal, as zap keys its counters by message.
#[derive(Debug)]
pub struct Sampler {
    initial: u64,
    thereafter: u64,
    window: Mutex<Window>,
}

impl Sampler {
    pub fn new(initial: u64, thereafter: u64) -> Self {
        Self {
            initial,
            thereafter,
            window: Mutex::new(Window {
                started: None,
                seen: 0,
            }),
        }
    }

    /// Whether the write at `now` is logged.
    pub fn admit(&self, now: Instant) -> bool {
        // The window is two integers; a poisoned lock still holds usable ones.
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let expired = window
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= TICK);
        if expired {
            window.started = Some(now);
            window.seen = 0;
        }
        window.seen += 1;
        let n = window.seen;
        if n <= self.initial {
            return true;
        }
        self.thereafter > 0 && (n - self.initial).is_multiple_of(self.thereafter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(sampler: &Sampler, now: Instant, writes: usize) -> Vec<bool> {
        (0..writes).map(|_| sampler.admit(now)).collect()
    }

    #[test]
    fn initial_then_every_nth_per_second() {
        let s = Sampler::new(2, 3);
        let t0 = Instant::now();
        assert_eq!(
            admitted(&s, t0, 8),
            [true, true, false, false, true, false, false, true]
        );
        // A new second starts a new window.
        assert_eq!(admitted(&s, t0 + TICK, 3), [true, true, false]);
    }

    #[test]
    fn defaults_log_everything() {
        let s = Sampler::new(2, 1);
        assert!(admitted(&s, Instant::now(), 100).into_iter().all(|a| a));
    }

    #[test]
    fn zero_thereafter_drops_after_initial() {
        let s = Sampler::new(1, 0);
        assert_eq!(admitted(&s, Instant::now(), 3), [true, false, false]);
    }
}
