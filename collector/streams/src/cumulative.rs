//! Delta temporality to cumulative: a running total per stream.
//!
//! Used by the `deltatocumulative` processor and by the remote-write exporter (Prometheus
//! only understands cumulative counters and histograms). A forgotten stream (idle for
//! `max_stale`, see [`StreamTable`]) that comes back starts again from zero with a new
//! start time, which a backend sees as an ordinary counter reset, so `rate()` and
//! `increase()` stay right.
//!
//! Order: points of one stream can arrive out of order (several exports in flight).
//! Deltas add up in any order, so a late point is still added when its interval provably
//! does not overlap time already counted (it ends before the stream's first start, or it
//! fits between the recent intervals the stream remembers). Its total is then written
//! 1 ms after the newest one, since a backend only takes samples newer than the last. A
//! point whose interval overlaps counted time cannot be placed and is refused
//! ([`Refused::OutOfOrder`]), as is a new stream when the table is full
//! ([`Refused::StreamsLimit`]); the caller counts both. A point seen before (same start
//! and end, e.g. exported again) is not added twice.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::histogram::{ExplicitHistogram, ExponentialHistogram};
use crate::table::StreamTable;

/// Why a delta point was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refused {
    /// Its interval overlaps time the stream already counted.
    OutOfOrder,
    /// The stream is new and the table is full.
    StreamsLimit,
}

/// Intervals remembered per stream to place late points and recognise replays.
const RECENT: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// Newer than everything counted.
    Next,
    /// Older, but does not overlap counted time.
    Late,
    /// Counted already.
    Replay,
}

#[derive(Debug, Clone)]
enum Total {
    Number(f64),
    Histogram(ExplicitHistogram),
    Exponential(ExponentialHistogram),
}

#[derive(Debug)]
struct Stream {
    /// Start time of the cumulative series (the first delta's start).
    start: u64,
    /// Intervals (start, end) of the points added most recently, oldest first.
    recent: VecDeque<(u64, u64)>,
    /// Time of the newest cumulative value written.
    last_time: u64,
    total: Total,
}

impl Stream {
    fn new(start: u64, time: u64, total: Total) -> Self {
        Self {
            start: if start != 0 { start } else { time },
            recent: VecDeque::new(),
            last_time: 0,
            total,
        }
    }

    /// Places a point relative to the stream's counted time.
    fn place(&self, start: u64, time: u64) -> Result<Placement, Refused> {
        if self.recent.contains(&(start, time)) {
            return Ok(Placement::Replay);
        }
        let newest_end = self.recent.iter().map(|(_, t)| *t).max().unwrap_or(0);
        if time > self.last_time && (start == 0 || start >= newest_end) {
            return Ok(Placement::Next);
        }
        if start == 0 || time <= start {
            return Err(Refused::OutOfOrder);
        }
        let before_everything = time <= self.start;
        let oldest_start = self.recent.front().map(|(s, _)| *s).unwrap_or(0);
        let overlaps = self.recent.iter().any(|(s, t)| start < *t && *s < time);
        if before_everything || (start >= oldest_start && !overlaps) {
            Ok(Placement::Late)
        } else {
            Err(Refused::OutOfOrder)
        }
    }

    /// Records an added point; returns the time its cumulative value is written at.
    fn record(&mut self, placement: Placement, start: u64, time: u64) -> u64 {
        match placement {
            Placement::Replay => return self.last_time,
            Placement::Next => self.last_time = time,
            Placement::Late => self.last_time += 1_000_000,
        }
        if start != 0 && start < self.start {
            self.start = start;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((start, time));
        self.recent.make_contiguous().sort_unstable();
        self.last_time
    }
}

/// A stream's cumulative value after a point was added.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cumulative<'a, T> {
    /// The cumulative series' start.
    pub start: u64,
    /// The time to write the total at.
    pub time: u64,
    pub total: &'a T,
}

/// The running totals of delta streams.
#[derive(Debug)]
pub struct DeltaToCumulative {
    streams: StreamTable<Stream>,
}

impl DeltaToCumulative {
    pub fn new(max_streams: usize, max_stale: Duration) -> Self {
        Self {
            streams: StreamTable::new(max_streams, max_stale),
        }
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Forgets streams idle for longer than `max_stale` (see [`StreamTable::sweep`]).
    pub fn sweep(&mut self, now: Instant, force: bool) {
        self.streams.sweep(now, force, |_, _| {});
    }

    /// The stream, restarted when `fits` says its total is of another kind or layout.
    fn stream(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        now: Instant,
        zero: impl Fn() -> Total,
        fits: impl Fn(&Total) -> bool,
    ) -> Result<&mut Stream, Refused> {
        let (stream, _) = self
            .streams
            .entry(key, now, || Stream::new(start, time, zero()))
            .map_err(|_| Refused::StreamsLimit)?;
        if !fits(&stream.total) {
            *stream = Stream::new(start, time, zero());
        }
        Ok(stream)
    }

    /// Adds a delta sum point; returns the cumulative start, the time to write the
    /// total at, and the total.
    pub fn add_number(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        value: f64,
        now: Instant,
    ) -> Result<(u64, u64, f64), Refused> {
        let stream = self.stream(
            key,
            start,
            time,
            now,
            || Total::Number(0.0),
            |t| matches!(t, Total::Number(_)),
        )?;
        let placement = stream.place(start, time)?;
        let at = stream.record(placement, start, time);
        let Total::Number(total) = &mut stream.total else {
            return Err(Refused::OutOfOrder);
        };
        if placement != Placement::Replay {
            *total += value;
        }
        Ok((stream.start, at, *total))
    }

    /// Adds a delta histogram point. A change of bucket bounds restarts the total: a
    /// reset.
    pub fn add_histogram(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        point: &ExplicitHistogram,
        now: Instant,
    ) -> Result<Cumulative<'_, ExplicitHistogram>, Refused> {
        let stream = self.stream(
            key,
            start,
            time,
            now,
            || Total::Histogram(ExplicitHistogram::zero(point.bounds.clone())),
            |t| matches!(t, Total::Histogram(h) if h.same_layout(point)),
        )?;
        let placement = stream.place(start, time)?;
        let at = stream.record(placement, start, time);
        let Total::Histogram(total) = &mut stream.total else {
            return Err(Refused::OutOfOrder);
        };
        if placement != Placement::Replay {
            total.add(point).map_err(|_| Refused::OutOfOrder)?;
        }
        Ok(Cumulative {
            start: stream.start,
            time: at,
            total,
        })
    }

    /// Adds a delta exponential histogram point; scales that differ are both reduced to
    /// the coarser one.
    pub fn add_exponential(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        point: &ExponentialHistogram,
        now: Instant,
    ) -> Result<Cumulative<'_, ExponentialHistogram>, Refused> {
        let stream = self.stream(
            key,
            start,
            time,
            now,
            || Total::Exponential(ExponentialHistogram::zero(point.scale)),
            |t| matches!(t, Total::Exponential(_)),
        )?;
        let placement = stream.place(start, time)?;
        let at = stream.record(placement, start, time);
        let Total::Exponential(total) = &mut stream.total else {
            return Err(Refused::OutOfOrder);
        };
        if placement != Placement::Replay {
            total.add(point);
        }
        Ok(Cumulative {
            start: stream.start,
            time: at,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    #[test]
    fn sums_accumulate_and_replays_do_not_double_count() {
        let mut state = DeltaToCumulative::new(10, Duration::from_secs(300));
        let now = Instant::now();
        assert_eq!(state.add_number(1, S, 2 * S, 5.0, now), Ok((S, 2 * S, 5.0)));
        assert_eq!(
            state.add_number(1, 2 * S, 3 * S, 2.0, now),
            Ok((S, 3 * S, 7.0))
        );
        assert_eq!(
            state.add_number(1, 2 * S, 3 * S, 2.0, now),
            Ok((S, 3 * S, 7.0))
        );
        assert_eq!(
            state.add_number(1, 2 * S, 4 * S, 1.0, now),
            Err(Refused::OutOfOrder)
        );
        assert_eq!(
            state.add_number(1, 3 * S, 4 * S, 1.0, now),
            Ok((S, 4 * S, 8.0))
        );
    }

    #[test]
    fn late_points_that_do_not_overlap_are_added_after_the_newest() {
        let mut state = DeltaToCumulative::new(10, Duration::from_secs(300));
        let now = Instant::now();
        assert_eq!(
            state.add_number(1, 2 * S, 3 * S, 4.0, now),
            Ok((2 * S, 3 * S, 4.0))
        );
        assert_eq!(
            state.add_number(1, S, 2 * S, 5.0, now),
            Ok((S, 3 * S + MS, 9.0))
        );
        assert_eq!(
            state.add_number(1, 3 * S, 4 * S, 1.0, now),
            Ok((S, 4 * S, 10.0))
        );
    }

    #[test]
    fn bounded_and_expired_streams_restart_as_a_reset() {
        let mut state = DeltaToCumulative::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        state.add_number(1, S, 2 * S, 1.0, t0).expect("room");
        state.add_number(2, S, 2 * S, 1.0, t0).expect("room");
        assert_eq!(
            state.add_number(3, S, 2 * S, 1.0, t0),
            Err(Refused::StreamsLimit)
        );
        let t3 = t0 + Duration::from_secs(200);
        state.sweep(t3, true);
        assert_eq!(state.len(), 0);
        assert_eq!(
            state.add_number(2, 9 * S, 10 * S, 3.0, t3),
            Ok((9 * S, 10 * S, 3.0))
        );
    }

    #[test]
    fn histograms_accumulate_and_a_layout_change_resets() {
        let mut state = DeltaToCumulative::new(10, Duration::from_secs(300));
        let now = Instant::now();
        let h = |counts: Vec<u64>, bounds: Vec<f64>| ExplicitHistogram {
            count: counts.iter().sum(),
            sum: Some(counts.iter().sum::<u64>() as f64),
            counts,
            bounds,
            min: None,
            max: None,
        };
        state
            .add_histogram(7, S, 2 * S, &h(vec![1, 2, 0], vec![1.0, 2.0]), now)
            .expect("added");
        let out = state
            .add_histogram(7, 2 * S, 3 * S, &h(vec![0, 1, 4], vec![1.0, 2.0]), now)
            .expect("added");
        assert_eq!(out.total.counts, vec![1, 3, 4]);
        assert_eq!(out.total.count, 8);
        assert_eq!(out.start, S);
        let reset = state
            .add_histogram(7, 3 * S, 4 * S, &h(vec![2, 2], vec![5.0]), now)
            .expect("added");
        assert_eq!(reset.total.counts, vec![2, 2]);
        assert_eq!(reset.start, 3 * S);
    }
}
