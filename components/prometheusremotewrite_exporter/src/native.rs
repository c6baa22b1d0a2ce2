//! OTLP exponential histograms to Prometheus native histograms.
//!
//! Both use base-2 exponential buckets, so the conversion is exact except for two
//! details the spec calls out: Prometheus accepts schemas -4..=8 only (a finer OTLP scale
//! is reduced by merging neighbouring buckets: 2^k buckets become one), and Prometheus
//! indexes a bucket by its upper bound where OTLP uses the lower, so OTLP bucket `i`
//! becomes native bucket `offset + i + 1`. The result is an integer counter histogram
//! with an UNKNOWN reset hint, letting Prometheus detect resets itself.

use weir_api::batch::view::{BucketsView, ExponentialHistogramPointView};
use weir_proto::remote_write::{histogram, BucketSpan, Histogram};

use crate::convert::{DropReason, STALE_NAN};

pub const MAX_SCHEMA: i32 = 8;
pub const MIN_SCHEMA: i32 = -4;
const DEFAULT_ZERO_THRESHOLD: f64 = 1e-128;

/// The positive or negative buckets of an exponential histogram, dense:
/// `bucket_counts[i]` counts OTLP bucket `offset + i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Buckets {
    pub offset: i32,
    pub bucket_counts: Vec<u64>,
}

impl Buckets {
    /// A point's buckets, reduced by `by` scales (see [`downscale`]).
    pub fn from_view(view: BucketsView<'_>, by: u32) -> Self {
        dense(
            view.offset(),
            view.bucket_counts().count(),
            view.bucket_counts(),
            by,
        )
    }
}

/// `(OTLP index, count)` of dense buckets from `offset`, with the scale reduced by `by`:
/// bucket `j` moves to `j >> by` and neighbours that land on one index are added up.
/// The indexes ascend without gaps.
fn merged(
    offset: i32,
    counts: impl Iterator<Item = u64>,
    by: u32,
) -> impl Iterator<Item = (i64, u64)> {
    let by = by.min(62);
    let mut indexed = counts
        .enumerate()
        .map(move |(i, count)| ((i64::from(offset) + i as i64) >> by, count))
        .peekable();
    std::iter::from_fn(move || {
        let (index, mut count) = indexed.next()?;
        while let Some((_, more)) = indexed.next_if(|(next, _)| *next == index) {
            count += more;
        }
        Some((index, count))
    })
}

/// [`merged`] collected into dense buckets; `len` is the number of `counts`.
fn dense(offset: i32, len: usize, counts: impl Iterator<Item = u64>, by: u32) -> Buckets {
    if len == 0 {
        return Buckets::default();
    }
    let shift = by.min(62);
    let first = i64::from(offset);
    let last = first + len as i64 - 1;
    let new_first = first >> shift;
    let mut bucket_counts = Vec::with_capacity(((last >> shift) - new_first + 1) as usize);
    bucket_counts.extend(merged(offset, counts, by).map(|(_, count)| count));
    Buckets {
        offset: new_first as i32,
        bucket_counts,
    }
}

/// Merges buckets so the scale drops by `by`: OTLP bucket `j` moves to `j >> by`.
pub fn downscale(buckets: &Buckets, by: u32) -> Buckets {
    dense(
        buckets.offset,
        buckets.bucket_counts.len(),
        buckets.bucket_counts.iter().copied(),
        by,
    )
}

/// Adds `b` into `a`; both must be at the same scale.
pub fn add_buckets(a: &Buckets, b: &Buckets) -> Buckets {
    if a.bucket_counts.is_empty() {
        return b.clone();
    }
    if b.bucket_counts.is_empty() {
        return a.clone();
    }
    let start = a.offset.min(b.offset);
    let end = (a.offset as i64 + a.bucket_counts.len() as i64)
        .max(b.offset as i64 + b.bucket_counts.len() as i64);
    let mut counts = vec![0u64; (end - start as i64) as usize];
    for side in [a, b] {
        for (i, c) in side.bucket_counts.iter().enumerate() {
            counts[(side.offset - start) as usize + i] += c;
        }
    }
    Buckets {
        offset: start,
        bucket_counts: counts,
    }
}

/// A cumulative exponential histogram point, as [`to_native`] reads it: a point as it
/// arrived, or a running total of delta points.
pub trait ExponentialPoint {
    fn scale(&self) -> i32;
    fn zero_threshold(&self) -> f64;
    fn sum(&self) -> Option<f64>;
    fn count(&self) -> u64;
    fn zero_count(&self) -> u64;
    /// `(OTLP index, count)` of the positive buckets with the scale reduced by `by`.
    fn positive(&self, by: u32) -> impl Iterator<Item = (i64, u64)> + '_;
    /// The same for the negative buckets.
    fn negative(&self, by: u32) -> impl Iterator<Item = (i64, u64)> + '_;
}

impl ExponentialPoint for ExponentialHistogramPointView<'_> {
    fn scale(&self) -> i32 {
        ExponentialHistogramPointView::scale(self)
    }

    fn zero_threshold(&self) -> f64 {
        ExponentialHistogramPointView::zero_threshold(self)
    }

    fn sum(&self) -> Option<f64> {
        ExponentialHistogramPointView::sum(self)
    }

    fn count(&self) -> u64 {
        ExponentialHistogramPointView::count(self)
    }

    fn zero_count(&self) -> u64 {
        ExponentialHistogramPointView::zero_count(self)
    }

    fn positive(&self, by: u32) -> impl Iterator<Item = (i64, u64)> + '_ {
        let buckets = ExponentialHistogramPointView::positive(self);
        merged(buckets.offset(), buckets.bucket_counts(), by)
    }

    fn negative(&self, by: u32) -> impl Iterator<Item = (i64, u64)> + '_ {
        let buckets = ExponentialHistogramPointView::negative(self);
        merged(buckets.offset(), buckets.bucket_counts(), by)
    }
}

/// `merged` of owned buckets, for [`ExponentialPoint`] implementations that keep them.
pub fn merged_buckets(buckets: &Buckets, by: u32) -> impl Iterator<Item = (i64, u64)> + '_ {
    merged(buckets.offset, buckets.bucket_counts.iter().copied(), by)
}

/// Converts one cumulative point. `timestamp` is in milliseconds.
pub fn to_native(
    point: &impl ExponentialPoint,
    timestamp: i64,
    stale: bool,
) -> Result<Histogram, DropReason> {
    let scale = point.scale();
    if scale < MIN_SCHEMA {
        return Err(DropReason::ScaleTooLow);
    }
    let reduce_by = (scale - MAX_SCHEMA).max(0) as u32;
    let schema = scale.min(MAX_SCHEMA);
    let zero_threshold = match point.zero_threshold() {
        t if t > 0.0 => t,
        _ => DEFAULT_ZERO_THRESHOLD,
    };
    let mut h = Histogram {
        schema,
        zero_threshold,
        reset_hint: histogram::ResetHint::Unknown as i32,
        timestamp,
        ..Default::default()
    };
    if stale {
        h.sum = STALE_NAN;
        h.count = Some(histogram::Count::CountInt(0));
        return Ok(h);
    }
    let Some(sum) = point.sum() else {
        return Err(DropReason::MissingSum);
    };
    h.sum = sum;
    h.count = Some(histogram::Count::CountInt(point.count()));
    h.zero_count = Some(histogram::ZeroCount::ZeroCountInt(point.zero_count()));
    (h.positive_spans, h.positive_deltas) = sparse_indexed(point.positive(reduce_by));
    (h.negative_spans, h.negative_deltas) = sparse_indexed(point.negative(reduce_by));
    Ok(h)
}

/// The dense OTLP layout to spans and delta-encoded counts; zero buckets are skipped.
#[cfg(test)]
fn sparse(buckets: &Buckets) -> (Vec<BucketSpan>, Vec<i64>) {
    sparse_indexed(merged_buckets(buckets, 0))
}

/// `(OTLP index, count)` in ascending index order to spans and delta-encoded counts;
/// zero buckets are skipped.
fn sparse_indexed(buckets: impl Iterator<Item = (i64, u64)>) -> (Vec<BucketSpan>, Vec<i64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous_count = 0i64;
    let mut previous_index: Option<i32> = None;
    for (otlp_index, count) in buckets {
        if count == 0 {
            continue;
        }
        let index = otlp_index as i32 + 1;
        match (previous_index, spans.last_mut()) {
            (Some(prev), Some(span)) if index == prev + 1 => span.length += 1,
            (Some(prev), _) => spans.push(BucketSpan {
                offset: index - prev - 1,
                length: 1,
            }),
            (None, _) => spans.push(BucketSpan {
                offset: index,
                length: 1,
            }),
        }
        let count = count as i64;
        deltas.push(count - previous_count);
        previous_count = count;
        previous_index = Some(index);
    }
    (spans, deltas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{both, metric_with};
    use weir_proto::metrics::v1::exponential_histogram_data_point::Buckets as OtlpBuckets;
    use weir_proto::metrics::v1::{metric, ExponentialHistogram, ExponentialHistogramDataPoint};

    fn otlp(buckets: Buckets) -> OtlpBuckets {
        OtlpBuckets {
            offset: buckets.offset,
            bucket_counts: buckets.bucket_counts,
        }
    }

    /// [`to_native`] of a point read through a batch's views (the same in both of a
    /// batch's representations).
    fn native(
        point: &ExponentialHistogramDataPoint,
        timestamp: i64,
        stale: bool,
    ) -> Result<Histogram, DropReason> {
        let data = metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![point.clone()],
            aggregation_temporality: 2,
        });
        let [owned, wire] = both(vec![metric_with(data)]);
        let convert = |batch: &weir_api::batch::Batch| {
            let rm = batch.metrics().next().expect("a resource");
            let sm = rm.scopes().next().expect("a scope");
            let m = sm.metrics().next().expect("a metric");
            let p = m.exponential_histogram_points().next().expect("a point");
            to_native(&p, timestamp, stale)
        };
        let out = convert(&owned);
        // Debug rather than `==`: a stale marker's sum is a NaN.
        assert_eq!(format!("{out:?}"), format!("{:?}", convert(&wire)));
        out
    }

    fn buckets(offset: i32, counts: &[u64]) -> Buckets {
        Buckets {
            offset,
            bucket_counts: counts.to_vec(),
        }
    }

    #[test]
    fn spec_example_spans_and_deltas() {
        // Positive.Offset 3, counts 10,0,0,20,5,2 -> spans {4,1},{2,3}, deltas 10,10,-15,-3.
        let (spans, deltas) = sparse(&buckets(3, &[10, 0, 0, 20, 5, 2]));
        assert_eq!(
            spans,
            vec![
                BucketSpan {
                    offset: 4,
                    length: 1
                },
                BucketSpan {
                    offset: 2,
                    length: 3
                }
            ]
        );
        assert_eq!(deltas, vec![10, 10, -15, -3]);
    }

    #[test]
    fn downscaling_merges_pairs_including_negative_indexes() {
        // Indexes -3..=2 at scale s; at s-1: -3>>1=-2, -2>>1=-1, -1>>1=-1, 0,1 -> 0, 2 -> 1.
        let merged = downscale(&buckets(-3, &[1, 2, 3, 4, 5, 6]), 1);
        assert_eq!(merged, buckets(-2, &[1, 5, 9, 6]));
        assert_eq!(merged.bucket_counts.iter().sum::<u64>(), 21);
    }

    #[test]
    fn scale_above_eight_is_reduced_and_counts_kept() {
        let point = ExponentialHistogramDataPoint {
            scale: 10,
            count: 7,
            sum: Some(3.5),
            zero_count: 1,
            positive: Some(otlp(buckets(1020, &[1, 1, 1, 1, 2]))),
            ..Default::default()
        };
        let h = native(&point, 42, false).unwrap();
        assert_eq!(h.schema, 8);
        assert_eq!(h.count, Some(histogram::Count::CountInt(7)));
        // 1020..=1024 >> 2 -> 255,255,255,255,256: counts 4 then 2, native indexes 256, 257.
        assert_eq!(
            h.positive_spans,
            vec![BucketSpan {
                offset: 256,
                length: 2
            }]
        );
        assert_eq!(h.positive_deltas, vec![4, -2]);
        assert_eq!(h.zero_threshold, 1e-128);
    }

    #[test]
    fn low_scale_missing_sum_and_stale() {
        let mut point = ExponentialHistogramDataPoint {
            scale: -5,
            sum: Some(1.0),
            ..Default::default()
        };
        assert_eq!(native(&point, 0, false), Err(DropReason::ScaleTooLow));
        point.scale = 0;
        point.sum = None;
        assert_eq!(native(&point, 0, false), Err(DropReason::MissingSum));
        let stale = native(&point, 9, true).unwrap();
        assert_eq!(stale.sum.to_bits(), STALE_NAN.to_bits());
        assert_eq!(stale.count, Some(histogram::Count::CountInt(0)));
        assert!(stale.positive_spans.is_empty());
    }

    #[test]
    fn adding_buckets_aligns_offsets() {
        assert_eq!(
            add_buckets(&buckets(2, &[1, 1]), &buckets(0, &[5])),
            buckets(0, &[5, 0, 1, 1])
        );
    }
}
