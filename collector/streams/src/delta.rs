//! Cumulative temporality to delta: each point minus the stream's previous one.
//!
//! Used by the `cumulativetodelta` processor and by `aggregation`, whose `total`,
//! `increase` and `histogram` outputs add up the increases of their input series. Resets
//! are handled as Prometheus and vmagent handle them: a monotonic value that went down,
//! a histogram count that went down, or a later start time means the source restarted,
//! and the new value counts in full (the counter restarted from zero).
//!
//! The first point of a stream has nothing to be subtracted from. What happens to it is
//! the Collector's `initial_value`: `keep` emits it as the first delta, `drop` does not,
//! and `auto` keeps it only when its start time is after this state was made (the series
//! began while we were watching, so its whole value is new); otherwise it is the
//! baseline (and a stream this state forgot after `max_stale` is never counted twice).
//! A point not newer than the stream's previous one is refused
//! ([`NotEmitted::OutOfOrder`]).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::histogram::{ExplicitHistogram, ExponentialHistogram};
use crate::table::StreamTable;

/// What to do with the first point of a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Initial {
    /// Keep it when the series started after this state was made, else drop it.
    #[default]
    Auto,
    Keep,
    Drop,
}

/// Why a cumulative point produced no delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotEmitted {
    /// The first point of a stream, used as its baseline.
    First,
    /// Not newer than the stream's previous point.
    OutOfOrder,
    /// A new stream and the table is full.
    StreamsLimit,
}

impl NotEmitted {
    /// The drop reason counted in `weir_items_dropped_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::First => "initial_value",
            Self::OutOfOrder => "out_of_order",
            Self::StreamsLimit => "streams_limit",
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    Number(f64),
    Histogram(ExplicitHistogram),
    Exponential(ExponentialHistogram),
}

#[derive(Debug)]
struct Previous {
    start: u64,
    time: u64,
    value: Value,
}

/// A delta computed from a cumulative point.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta<T> {
    /// The delta's start: the previous point's time (or the series' start).
    pub start: u64,
    pub value: T,
    /// True when the stream was reset (the value counts from zero).
    pub reset: bool,
}

/// The previous cumulative point of each stream.
#[derive(Debug)]
pub struct CumulativeToDelta {
    streams: StreamTable<Previous>,
    initial: Initial,
    /// Unix nanoseconds when this state was made (for [`Initial::Auto`]).
    created: u64,
}

/// Now in Unix nanoseconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl CumulativeToDelta {
    pub fn new(max_streams: usize, max_stale: Duration, initial: Initial) -> Self {
        Self::created_at(max_streams, max_stale, initial, unix_now())
    }

    /// As [`CumulativeToDelta::new`], with the creation time given (tests).
    pub fn created_at(
        max_streams: usize,
        max_stale: Duration,
        initial: Initial,
        created_unix_nano: u64,
    ) -> Self {
        Self {
            streams: StreamTable::new(max_streams, max_stale),
            initial,
            created: created_unix_nano,
        }
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    pub fn sweep(&mut self, now: Instant, force: bool) {
        self.streams.sweep(now, force, |_, _| {});
    }

    /// Forgets one stream (its next point is a first point again).
    pub fn forget(&mut self, key: u64) {
        self.streams.remove(key);
    }

    /// Whether a stream's first point counts in full. Under `auto` (the Collector's rule)
    /// the series must have a start time other than the point's time, after this state
    /// was made, and (Weir's addition) less than `max_stale` before the point:
    /// otherwise it may be a stream this state forgot, whose value was counted already.
    fn first(&self, start: u64, time: u64) -> bool {
        match self.initial {
            Initial::Keep => true,
            Initial::Drop => false,
            Initial::Auto => {
                let stale = self.streams.max_stale();
                start != 0
                    && start != time
                    && start >= self.created
                    && (stale.is_zero()
                        || u128::from(time.saturating_sub(start)) < stale.as_nanos())
            }
        }
    }

    /// The shared walk: finds the previous point, decides first / out of order / reset,
    /// and stores the new one. `diff` is `None` on a reset. (One private helper shared
    /// by the three point kinds; its arguments are the point and how to read its kind.)
    #[allow(clippy::too_many_arguments)]
    fn step<T: Clone>(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        now: Instant,
        value: T,
        wrap: impl Fn(T) -> Value,
        diff: impl FnOnce(&T, &Value) -> Option<Option<T>>,
    ) -> Result<Delta<T>, NotEmitted> {
        let keep_first = self.first(start, time);
        let (previous, new) = self
            .streams
            .entry(key, now, || Previous {
                start,
                time,
                value: wrap(value.clone()),
            })
            .map_err(|_| NotEmitted::StreamsLimit)?;
        if new {
            return if keep_first {
                Ok(Delta {
                    start: if start != 0 { start } else { time },
                    value,
                    reset: false,
                })
            } else {
                Err(NotEmitted::First)
            };
        }
        if time <= previous.time {
            return Err(NotEmitted::OutOfOrder);
        }
        let restarted = start != 0 && previous.start != 0 && start > previous.start;
        // `diff` answers None for another kind of value: start the stream over.
        let Some(difference) = diff(&value, &previous.value) else {
            *previous = Previous {
                start,
                time,
                value: wrap(value),
            };
            return Err(NotEmitted::First);
        };
        let out = match (restarted, difference) {
            (false, Some(d)) => Delta {
                start: previous.time,
                value: d,
                reset: false,
            },
            _ => Delta {
                start: if start != 0 { start } else { previous.time },
                value: value.clone(),
                reset: true,
            },
        };
        *previous = Previous {
            start,
            time,
            value: wrap(value),
        };
        Ok(out)
    }

    /// A sum point. A monotonic value that went down is a reset.
    pub fn add_number(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        value: f64,
        monotonic: bool,
        now: Instant,
    ) -> Result<Delta<f64>, NotEmitted> {
        self.step(key, start, time, now, value, Value::Number, |v, prev| {
            let Value::Number(p) = prev else { return None };
            Some((!monotonic || *v >= *p).then(|| v - p))
        })
    }

    /// An explicit-bucket histogram point; a count that went down is a reset, and a
    /// change of bounds starts the stream over.
    pub fn add_histogram(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        value: ExplicitHistogram,
        now: Instant,
    ) -> Result<Delta<ExplicitHistogram>, NotEmitted> {
        self.step(key, start, time, now, value, Value::Histogram, |v, prev| {
            let Value::Histogram(p) = prev else {
                return None;
            };
            if !v.same_layout(p) {
                return None;
            }
            Some(v.subtract(p))
        })
    }

    /// An exponential histogram point; deltas are at the coarser of the two scales.
    pub fn add_exponential(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        value: ExponentialHistogram,
        now: Instant,
    ) -> Result<Delta<ExponentialHistogram>, NotEmitted> {
        self.step(
            key,
            start,
            time,
            now,
            value,
            Value::Exponential,
            |v, prev| {
                let Value::Exponential(p) = prev else {
                    return None;
                };
                Some(v.subtract(p))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn deltas_with_resets_and_first_points() {
        let mut c = CumulativeToDelta::created_at(10, Duration::ZERO, Initial::Auto, 100 * S);
        let now = Instant::now();
        // Started before we were made: the first point is the baseline.
        assert_eq!(
            c.add_number(1, S, 101 * S, 10.0, true, now),
            Err(NotEmitted::First)
        );
        let d = c.add_number(1, S, 102 * S, 15.0, true, now).expect("delta");
        assert_eq!((d.start, d.value, d.reset), (101 * S, 5.0, false));
        // A drop is a reset: the new value counts in full.
        let d = c.add_number(1, S, 103 * S, 3.0, true, now).expect("delta");
        assert_eq!((d.value, d.reset), (3.0, true));
        // Not newer: refused.
        assert_eq!(
            c.add_number(1, S, 103 * S, 4.0, true, now),
            Err(NotEmitted::OutOfOrder)
        );
        // A series that started after us keeps its first value.
        let d = c
            .add_number(2, 101 * S, 102 * S, 7.0, true, now)
            .expect("kept");
        assert_eq!((d.start, d.value), (101 * S, 7.0));
        // A later start time is a reset even when the value went up.
        c.add_number(3, S, 101 * S, 1.0, true, now).err();
        let d = c
            .add_number(3, 150 * S, 151 * S, 9.0, true, now)
            .expect("reset");
        assert_eq!((d.start, d.value, d.reset), (150 * S, 9.0, true));
        // Non-monotonic sums go down without a reset.
        c.add_number(4, S, 101 * S, 10.0, false, now).err();
        let d = c.add_number(4, S, 102 * S, 4.0, false, now).expect("delta");
        assert_eq!((d.value, d.reset), (-6.0, false));
    }

    #[test]
    fn initial_value_keep_and_drop() {
        let now = Instant::now();
        let mut keep = CumulativeToDelta::created_at(10, Duration::ZERO, Initial::Keep, 100 * S);
        assert_eq!(
            keep.add_number(1, S, 2 * S, 4.0, true, now)
                .map(|d| d.value),
            Ok(4.0)
        );
        // auto: a start time equal to the point's time says nothing: a baseline.
        let mut auto = CumulativeToDelta::created_at(10, Duration::ZERO, Initial::Auto, 0);
        assert_eq!(
            auto.add_number(1, 5 * S, 5 * S, 4.0, true, now),
            Err(NotEmitted::First)
        );
        let mut drop = CumulativeToDelta::created_at(10, Duration::ZERO, Initial::Drop, 0);
        assert_eq!(
            drop.add_number(1, 5 * S, 6 * S, 4.0, true, now),
            Err(NotEmitted::First)
        );
    }

    #[test]
    fn histogram_deltas_and_resets() {
        let mut c = CumulativeToDelta::created_at(10, Duration::ZERO, Initial::Drop, 0);
        let now = Instant::now();
        let h = |counts: Vec<u64>| ExplicitHistogram {
            bounds: vec![1.0],
            count: counts.iter().sum(),
            sum: Some(1.0),
            counts,
            min: None,
            max: None,
        };
        assert!(c.add_histogram(1, S, 2 * S, h(vec![1, 1]), now).is_err());
        let d = c
            .add_histogram(1, S, 3 * S, h(vec![3, 1]), now)
            .expect("delta");
        assert_eq!(d.value.counts, vec![2, 0]);
        let d = c
            .add_histogram(1, S, 4 * S, h(vec![1, 0]), now)
            .expect("reset");
        assert!(d.reset);
        assert_eq!(d.value.counts, vec![1, 0]);
    }
}
