//! Delta temporality to cumulative, inside the exporter.
//!
//! Prometheus only understands cumulative counters and histograms; the Collector's
//! exporter drops delta data (with a log line). Weir keeps a running total per stream
//! (metric name + labels) instead. The running totals are `weir_streams::DeltaToCumulative`,
//! the state the `deltatocumulative` processor uses too (bounded to `max_streams`, each
//! stream forgotten after `max_stale`; late, replayed and overlapping points are handled
//! there, see its docs). This file adapts it to the converter: points are read from
//! views, refusals become [`DropReason`]s (`delta_out_of_order`, `delta_streams_limit`),
//! and totals come back in the shapes `convert.rs` and `native.rs` read.

use std::time::{Duration, Instant};

use weir_api::batch::view::{ExponentialHistogramPointView, HistogramPointView};
use weir_streams::cumulative::Refused;
use weir_streams::{DeltaToCumulative, ExplicitHistogram, ExponentialHistogram};

use crate::convert::DropReason;
use crate::native::{merged_buckets, Buckets, ExponentialPoint};

/// The running totals of delta streams.
#[derive(Debug)]
pub struct DeltaState {
    state: DeltaToCumulative,
    histogram: HistogramTotal,
    exponential: ExponentialTotal,
}

fn reason(refused: Refused) -> DropReason {
    match refused {
        Refused::OutOfOrder => DropReason::DeltaOutOfOrder,
        Refused::StreamsLimit => DropReason::DeltaStreamsLimit,
    }
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

fn buckets(b: &weir_streams::Buckets) -> Option<Buckets> {
    Some(Buckets {
        offset: b.offset,
        bucket_counts: b.counts.clone(),
    })
}

impl DeltaState {
    pub fn new(max_streams: usize, max_stale: Duration) -> Self {
        Self {
            state: DeltaToCumulative::new(max_streams, max_stale),
            histogram: HistogramTotal::default(),
            exponential: ExponentialTotal::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// Forgets streams idle for longer than `max_stale`; runs at most every
    /// `max_stale / 4` unless the table is full.
    pub fn sweep(&mut self, now: Instant, force: bool) {
        self.state.sweep(now, force);
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
        self.state
            .add_number(key, start, time, value, now)
            .map_err(reason)
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
        let value = ExplicitHistogram::from_view(point);
        let c = self
            .state
            .add_histogram(key, start, time, &value, now)
            .map_err(reason)?;
        self.histogram = HistogramTotal {
            start_time_unix_nano: c.start,
            time_unix_nano: c.time,
            count: c.total.count,
            sum: c.total.sum,
            bucket_counts: c.total.counts.clone(),
            explicit_bounds: c.total.bounds.clone(),
        };
        Ok(&self.histogram)
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
        let value = ExponentialHistogram::from_view(point);
        let c = self
            .state
            .add_exponential(key, start, time, &value, now)
            .map_err(reason)?;
        self.exponential = ExponentialTotal {
            start_time_unix_nano: c.start,
            time_unix_nano: c.time,
            scale: c.total.scale,
            count: c.total.count,
            sum: c.total.sum,
            zero_count: c.total.zero_count,
            zero_threshold: c.total.zero_threshold,
            positive: buckets(&c.total.positive),
            negative: buckets(&c.total.negative),
        };
        Ok(&self.exponential)
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
