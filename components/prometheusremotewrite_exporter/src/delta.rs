//! Delta temporality to cumulative, inside the exporter.
//!
//! Prometheus only understands cumulative counters and histograms; the Collector's
//! exporter drops delta data (with a log line). Weir keeps a running total per stream
//! (metric name + labels) instead. The state is bounded: at most `max_streams` streams,
//! each forgotten after `max_stale` without a point. A forgotten stream that comes back
//! starts again from zero with a new start time, which Prometheus sees as an ordinary
//! counter reset, so `rate()` and `increase()` stay right.
//!
//! Order: the engine exports several batches at once, so a stream's points can arrive
//! out of order. Deltas add up in any order, so a late point is still added when its
//! interval provably does not overlap time already counted (it ends before the stream's
//! first start, or it fits between the recent intervals the stream remembers). Its total
//! is then written 1 ms after the newest sample, since Prometheus only takes samples
//! newer than the last one. A point whose interval overlaps counted time cannot be placed
//! and is dropped and reported (`delta_out_of_order`), as is a new stream when the table
//! is full (`delta_streams_limit`); nothing is folded in or left out silently.
//!
//! A point seen before (same start and end, e.g. exported again) is not added twice.

use std::collections::VecDeque;

use foldhash::HashMap;
use std::time::{Duration, Instant};

use weir_api::batch::view::{ExponentialHistogramPointView, HistogramPointView};

use crate::convert::DropReason;
use crate::native::{add_buckets, downscale, merged_buckets, Buckets, ExponentialPoint};

/// The running totals of delta streams.
#[derive(Debug)]
pub struct DeltaState {
    streams: HashMap<u64, Stream>,
    max_streams: usize,
    max_stale: Duration,
    last_sweep: Option<Instant>,
}

#[derive(Debug)]
struct Stream {
    /// Start time of the cumulative series (the first delta's start).
    start: u64,
    /// Intervals (start, end) of the points added most recently, oldest first.
    recent: VecDeque<(u64, u64)>,
    /// Time of the newest cumulative value written.
    last_time: u64,
    last_seen: Instant,
    total: Total,
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
    Histogram(HistogramTotal),
    Exponential(ExponentialTotal),
}

/// The running total of a delta histogram stream: a cumulative point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramTotal {
    /// The cumulative series' start.
    pub start_time_unix_nano: u64,
    /// The time to write the total at.
    pub time_unix_nano: u64,
    pub count: u64,
    pub sum: Option<f64>,
    pub bucket_counts: Vec<u64>,
    pub explicit_bounds: Vec<f64>,
}

/// The running total of a delta exponential histogram stream: a cumulative point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialTotal {
    /// The cumulative series' start.
    pub start_time_unix_nano: u64,
    /// The time to write the total at.
    pub time_unix_nano: u64,
    pub scale: i32,
    pub count: u64,
    pub sum: Option<f64>,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive: Option<Buckets>,
    pub negative: Option<Buckets>,
}

impl ExponentialPoint for ExponentialTotal {
    fn scale(&self) -> i32 {
        self.scale
    }

    fn zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    fn sum(&self) -> Option<f64> {
        self.sum
    }

    fn count(&self) -> u64 {
        self.count
    }

    fn zero_count(&self) -> u64 {
        self.zero_count
    }

    fn positive(&self, by: u32) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.positive
            .iter()
            .flat_map(move |b| merged_buckets(b, by))
    }

    fn negative(&self, by: u32) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.negative
            .iter()
            .flat_map(move |b| merged_buckets(b, by))
    }
}

impl DeltaState {
    pub fn new(max_streams: usize, max_stale: Duration) -> Self {
        Self {
            streams: HashMap::default(),
            max_streams,
            max_stale,
            last_sweep: None,
        }
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Forgets streams idle for longer than `max_stale`; runs at most every
    /// `max_stale / 4` unless the table is full.
    pub fn sweep(&mut self, now: Instant, force: bool) {
        let due = self
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= self.max_stale / 4);
        if !(due || force) {
            return;
        }
        self.last_sweep = Some(now);
        let max_stale = self.max_stale;
        self.streams
            .retain(|_, s| now.saturating_duration_since(s.last_seen) < max_stale);
    }

    /// Finds or makes room for a stream; `Err` when the table is full of live streams.
    fn admit(&mut self, key: u64, now: Instant) -> Result<(), DropReason> {
        if self.streams.contains_key(&key) {
            return Ok(());
        }
        if self.streams.len() >= self.max_streams {
            self.sweep(now, true);
            if self.streams.len() >= self.max_streams {
                return Err(DropReason::DeltaStreamsLimit);
            }
        }
        Ok(())
    }

    /// Places a point relative to the stream's counted time.
    fn place(stream: &Stream, start: u64, time: u64) -> Result<Placement, DropReason> {
        if stream.recent.contains(&(start, time)) {
            return Ok(Placement::Replay);
        }
        let newest_end = stream.recent.iter().map(|(_, t)| *t).max().unwrap_or(0);
        if time > stream.last_time && (start == 0 || start >= newest_end) {
            return Ok(Placement::Next);
        }
        if start == 0 || time <= start {
            return Err(DropReason::DeltaOutOfOrder);
        }
        let before_everything = time <= stream.start;
        let oldest_start = stream.recent.front().map(|(s, _)| *s).unwrap_or(0);
        let overlaps = stream.recent.iter().any(|(s, t)| start < *t && *s < time);
        if before_everything || (start >= oldest_start && !overlaps) {
            Ok(Placement::Late)
        } else {
            Err(DropReason::DeltaOutOfOrder)
        }
    }

    /// Records an added point; returns the time its cumulative value is written at.
    fn record(stream: &mut Stream, placement: Placement, start: u64, time: u64) -> u64 {
        match placement {
            Placement::Replay => return stream.last_time,
            Placement::Next => stream.last_time = time,
            Placement::Late => stream.last_time += 1_000_000,
        }
        if start != 0 && start < stream.start {
            stream.start = start;
        }
        if stream.recent.len() == RECENT {
            stream.recent.pop_front();
        }
        stream.recent.push_back((start, time));
        stream.recent.make_contiguous().sort_unstable();
        stream.last_time
    }

    fn stream(
        &mut self,
        key: u64,
        start: u64,
        time: u64,
        now: Instant,
        empty: impl FnOnce() -> Total,
    ) -> Result<&mut Stream, DropReason> {
        self.admit(key, now)?;
        let stream = self.streams.entry(key).or_insert_with(|| Stream {
            start: if start != 0 { start } else { time },
            recent: VecDeque::new(),
            last_time: 0,
            last_seen: now,
            total: empty(),
        });
        stream.last_seen = now;
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
    ) -> Result<(u64, u64, f64), DropReason> {
        let stream = self.stream(key, start, time, now, || Total::Number(0.0))?;
        let placement = Self::place(stream, start, time)?;
        if !matches!(stream.total, Total::Number(_)) {
            // The same key with another point type: start the stream over.
            *stream = Stream {
                start: if start != 0 { start } else { time },
                recent: VecDeque::new(),
                last_time: 0,
                last_seen: now,
                total: Total::Number(0.0),
            };
        }
        let at = Self::record(stream, placement, start, time);
        let Total::Number(total) = &mut stream.total else {
            return Err(DropReason::DeltaOutOfOrder);
        };
        if placement != Placement::Replay {
            *total += value;
        }
        Ok((stream.start, at, *total))
    }

    /// Adds a delta histogram point; returns the cumulative total (its time is the time
    /// to write it at). A change of bucket bounds restarts the total: a reset.
    pub fn add_histogram(
        &mut self,
        key: u64,
        point: &HistogramPointView<'_>,
        now: Instant,
    ) -> Result<&HistogramTotal, DropReason> {
        let (start, time) = (point.start_time_unix_nano(), point.time_unix_nano());
        let buckets = point.bucket_counts().count();
        let zero = || {
            Total::Histogram(HistogramTotal {
                explicit_bounds: point.explicit_bounds().collect(),
                bucket_counts: vec![0; buckets],
                sum: Some(0.0),
                ..Default::default()
            })
        };
        let stream = self.stream(key, start, time, now, zero)?;
        let compatible = matches!(&stream.total, Total::Histogram(t)
            if t.explicit_bounds.iter().copied().eq(point.explicit_bounds())
                && t.bucket_counts.len() == buckets);
        if !compatible {
            *stream = Stream {
                start: if start != 0 { start } else { time },
                recent: VecDeque::new(),
                last_time: 0,
                last_seen: now,
                total: zero(),
            };
        }
        let placement = Self::place(stream, start, time)?;
        let at = Self::record(stream, placement, start, time);
        let Total::Histogram(total) = &mut stream.total else {
            return Err(DropReason::DeltaOutOfOrder);
        };
        if placement != Placement::Replay {
            total.count += point.count();
            total.sum = match (total.sum, point.sum()) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            for (t, c) in total.bucket_counts.iter_mut().zip(point.bucket_counts()) {
                *t += c;
            }
        }
        total.start_time_unix_nano = stream.start;
        total.time_unix_nano = at;
        Ok(total)
    }

    /// Adds a delta exponential histogram point; returns the cumulative total. When the
    /// scales differ, both sides are reduced to the coarser one first.
    pub fn add_exponential(
        &mut self,
        key: u64,
        point: &ExponentialHistogramPointView<'_>,
        now: Instant,
    ) -> Result<&ExponentialTotal, DropReason> {
        let (start, time) = (point.start_time_unix_nano(), point.time_unix_nano());
        let point_scale = point.scale();
        let zero = || {
            Total::Exponential(ExponentialTotal {
                scale: point_scale,
                sum: Some(0.0),
                ..Default::default()
            })
        };
        let stream = self.stream(key, start, time, now, zero)?;
        if !matches!(stream.total, Total::Exponential(_)) {
            stream.total = zero();
        }
        let placement = Self::place(stream, start, time)?;
        let at = Self::record(stream, placement, start, time);
        let Total::Exponential(total) = &mut stream.total else {
            return Err(DropReason::DeltaOutOfOrder);
        };
        if placement != Placement::Replay {
            let scale = total.scale.min(point_scale);
            let reduce = |b: &Option<Buckets>, from: i32| {
                b.as_ref()
                    .map(|b| downscale(b, (from - scale) as u32))
                    .unwrap_or_default()
            };
            let by = (point_scale - scale) as u32;
            let positive = add_buckets(
                &reduce(&total.positive, total.scale),
                &Buckets::from_view(point.positive(), by),
            );
            let negative = add_buckets(
                &reduce(&total.negative, total.scale),
                &Buckets::from_view(point.negative(), by),
            );
            total.scale = scale;
            total.positive = Some(positive);
            total.negative = Some(negative);
            total.count += point.count();
            total.zero_count += point.zero_count();
            total.zero_threshold = total.zero_threshold.max(point.zero_threshold());
            total.sum = match (total.sum, point.sum()) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        total.start_time_unix_nano = stream.start;
        total.time_unix_nano = at;
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{both, metric_with};
    use weir_proto::metrics::v1::exponential_histogram_data_point::Buckets as OtlpBuckets;
    use weir_proto::metrics::v1::{
        metric, ExponentialHistogram, ExponentialHistogramDataPoint, Histogram, HistogramDataPoint,
    };

    const S: u64 = 1_000_000_000;

    /// [`DeltaState::add_histogram`] of the point, read through a batch's views.
    fn add_histogram(
        state: &mut DeltaState,
        key: u64,
        point: &HistogramDataPoint,
        now: Instant,
    ) -> Result<HistogramTotal, DropReason> {
        let [batch, _] = both(vec![metric_with(metric::Data::Histogram(Histogram {
            data_points: vec![point.clone()],
            aggregation_temporality: 1,
        }))]);
        let rm = batch.metrics().next().expect("a resource");
        let sm = rm.scopes().next().expect("a scope");
        let m = sm.metrics().next().expect("a metric");
        let p = m.histogram_points().next().expect("a point");
        state.add_histogram(key, &p, now).cloned()
    }

    /// [`DeltaState::add_exponential`] of the point, read through a batch's views.
    fn add_exponential(
        state: &mut DeltaState,
        key: u64,
        point: &ExponentialHistogramDataPoint,
        now: Instant,
    ) -> Result<ExponentialTotal, DropReason> {
        let [batch, _] = both(vec![metric_with(metric::Data::ExponentialHistogram(
            ExponentialHistogram {
                data_points: vec![point.clone()],
                aggregation_temporality: 1,
            },
        ))]);
        let rm = batch.metrics().next().expect("a resource");
        let sm = rm.scopes().next().expect("a scope");
        let m = sm.metrics().next().expect("a metric");
        let p = m.exponential_histogram_points().next().expect("a point");
        state.add_exponential(key, &p, now).cloned()
    }

    #[test]
    fn sums_accumulate_and_replays_do_not_double_count() {
        let mut state = DeltaState::new(10, Duration::from_secs(300));
        let now = Instant::now();
        assert_eq!(state.add_number(1, S, 2 * S, 5.0, now), Ok((S, 2 * S, 5.0)));
        assert_eq!(
            state.add_number(1, 2 * S, 3 * S, 2.0, now),
            Ok((S, 3 * S, 7.0))
        );
        // Points seen before (a retried export) are not added again.
        assert_eq!(
            state.add_number(1, 2 * S, 3 * S, 2.0, now),
            Ok((S, 3 * S, 7.0))
        );
        assert_eq!(state.add_number(1, S, 2 * S, 5.0, now), Ok((S, 3 * S, 7.0)));
        // Overlapping counted time is refused, not folded in.
        assert_eq!(
            state.add_number(1, 2 * S, 4 * S, 1.0, now),
            Err(DropReason::DeltaOutOfOrder)
        );
        assert_eq!(
            state.add_number(1, 3 * S, 4 * S, 1.0, now),
            Ok((S, 4 * S, 8.0))
        );
    }

    #[test]
    fn late_points_that_do_not_overlap_are_added_after_the_newest() {
        const MS: u64 = 1_000_000;
        let mut state = DeltaState::new(10, Duration::from_secs(300));
        let now = Instant::now();
        // The second interval arrives first (two exports raced).
        assert_eq!(
            state.add_number(1, 2 * S, 3 * S, 4.0, now),
            Ok((2 * S, 3 * S, 4.0))
        );
        assert_eq!(
            state.add_number(1, S, 2 * S, 5.0, now),
            Ok((S, 3 * S + MS, 9.0))
        );
        // The next interval continues normally.
        assert_eq!(
            state.add_number(1, 3 * S, 4 * S, 1.0, now),
            Ok((S, 4 * S, 10.0))
        );
        // A gap filled later.
        assert_eq!(
            state.add_number(1, 5 * S, 6 * S, 1.0, now),
            Ok((S, 6 * S, 11.0))
        );
        assert_eq!(
            state.add_number(1, 4 * S, 5 * S, 2.0, now),
            Ok((S, 6 * S + MS, 13.0))
        );
    }

    #[test]
    fn bounded_and_expired_streams_restart_as_a_reset() {
        let mut state = DeltaState::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        state.add_number(1, S, 2 * S, 1.0, t0).unwrap();
        state.add_number(2, S, 2 * S, 1.0, t0).unwrap();
        assert_eq!(
            state.add_number(3, S, 2 * S, 1.0, t0),
            Err(DropReason::DeltaStreamsLimit)
        );
        assert_eq!(state.len(), 2);
        // Stream 1 stays alive, stream 2 goes idle.
        let t1 = t0 + Duration::from_secs(45);
        state.add_number(1, 2 * S, 3 * S, 1.0, t1).unwrap();
        let t2 = t0 + Duration::from_secs(90);
        assert_eq!(state.add_number(3, S, 2 * S, 4.0, t2), Ok((S, 2 * S, 4.0)));
        assert_eq!(state.len(), 2);
        // Stream 2 was forgotten: it starts again from zero with its new start time.
        let t3 = t2 + Duration::from_secs(1);
        state.sweep(t3 + Duration::from_secs(120), true);
        assert_eq!(state.len(), 0);
        assert_eq!(
            state.add_number(2, 9 * S, 10 * S, 3.0, t3),
            Ok((9 * S, 10 * S, 3.0))
        );
    }

    #[test]
    fn histograms_accumulate_and_layout_change_resets() {
        let mut state = DeltaState::new(10, Duration::from_secs(300));
        let now = Instant::now();
        let point = |start, time, counts: Vec<u64>, bounds: Vec<f64>| HistogramDataPoint {
            start_time_unix_nano: start,
            time_unix_nano: time,
            count: counts.iter().sum(),
            sum: Some(counts.iter().sum::<u64>() as f64),
            bucket_counts: counts,
            explicit_bounds: bounds,
            ..Default::default()
        };
        add_histogram(
            &mut state,
            7,
            &point(S, 2 * S, vec![1, 2, 0], vec![1.0, 2.0]),
            now,
        )
        .unwrap();
        let out = add_histogram(
            &mut state,
            7,
            &point(2 * S, 3 * S, vec![0, 1, 4], vec![1.0, 2.0]),
            now,
        )
        .unwrap();
        assert_eq!(out.bucket_counts, vec![1, 3, 4]);
        assert_eq!(out.count, 8);
        assert_eq!(out.sum, Some(8.0));
        assert_eq!(out.start_time_unix_nano, S);
        let reset = add_histogram(
            &mut state,
            7,
            &point(3 * S, 4 * S, vec![2, 2], vec![5.0]),
            now,
        )
        .unwrap();
        assert_eq!(reset.bucket_counts, vec![2, 2]);
        assert_eq!(reset.start_time_unix_nano, 3 * S);
    }

    #[test]
    fn exponential_histograms_merge_at_the_coarser_scale() {
        let mut state = DeltaState::new(10, Duration::from_secs(300));
        let now = Instant::now();
        let p1 = ExponentialHistogramDataPoint {
            start_time_unix_nano: S,
            time_unix_nano: 2 * S,
            scale: 2,
            count: 3,
            sum: Some(6.0),
            positive: Some(OtlpBuckets {
                offset: 4,
                bucket_counts: vec![1, 2],
            }),
            ..Default::default()
        };
        let p2 = ExponentialHistogramDataPoint {
            start_time_unix_nano: 2 * S,
            time_unix_nano: 3 * S,
            scale: 1,
            count: 2,
            sum: Some(4.0),
            zero_count: 1,
            positive: Some(OtlpBuckets {
                offset: 2,
                bucket_counts: vec![1],
            }),
            ..Default::default()
        };
        add_exponential(&mut state, 1, &p1, now).unwrap();
        let out = add_exponential(&mut state, 1, &p2, now).unwrap();
        assert_eq!(out.scale, 1);
        assert_eq!(out.count, 5);
        assert_eq!(out.zero_count, 1);
        assert_eq!(out.sum, Some(10.0));
        // Scale 2 indexes 4,5 -> scale 1 index 2 (count 3), plus p2's 1 at index 2.
        assert_eq!(
            out.positive,
            Some(Buckets {
                offset: 2,
                bucket_counts: vec![4]
            })
        );
    }
}
