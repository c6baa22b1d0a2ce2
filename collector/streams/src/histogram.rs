//! Histograms held as values: explicit-bucket and base-2 exponential, with the three
//! operations stream state needs — add (merge two histograms or a delta into a total),
//! subtract (a cumulative point minus the previous one: its delta) and read back.
//!
//! Explicit-bucket histograms merge only when their bounds are equal (a histogram with
//! other bounds is another layout, not something to interpolate). Exponential
//! histograms merge at the coarser of the two scales: reducing a scale by `k` merges
//! `2^k` neighbouring buckets into one, which is exact, while refining is not possible.

use weir_api::batch::view::{BucketsView, ExponentialHistogramPointView, HistogramPointView};

/// An explicit-bucket histogram: `counts` has one more entry than `bounds` (+Inf).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExplicitHistogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Two explicit-bucket histograms with different bounds cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutMismatch;

fn add_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl ExplicitHistogram {
    /// The point's values (exemplars are not kept).
    pub fn from_view(point: &HistogramPointView<'_>) -> Self {
        Self {
            bounds: point.explicit_bounds().collect(),
            counts: point.bucket_counts().collect(),
            count: point.count(),
            sum: point.sum(),
            min: point.min(),
            max: point.max(),
        }
    }

    /// An empty histogram with these bounds.
    pub fn zero(bounds: Vec<f64>) -> Self {
        let buckets = bounds.len() + 1;
        Self {
            bounds,
            counts: vec![0; buckets],
            count: 0,
            sum: Some(0.0),
            min: None,
            max: None,
        }
    }

    /// Whether `other` has the same bounds (and so can be added).
    pub fn same_layout(&self, other: &Self) -> bool {
        self.bounds == other.bounds && self.counts.len() == other.counts.len()
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        if !self.same_layout(other) {
            return Err(LayoutMismatch);
        }
        for (t, c) in self.counts.iter_mut().zip(&other.counts) {
            *t += c;
        }
        self.count += other.count;
        self.sum = add_opt(self.sum, other.sum);
        self.min = min_opt(self.min, other.min);
        self.max = max_opt(self.max, other.max);
        Ok(())
    }

    /// `self - previous` for two cumulative points of one stream. `None` when a count
    /// went down or the layout changed: the stream was reset. Min and max are the
    /// newer point's (they cannot be subtracted).
    pub fn subtract(&self, previous: &Self) -> Option<Self> {
        if !self.same_layout(previous) || self.count < previous.count {
            return None;
        }
        let mut counts = Vec::with_capacity(self.counts.len());
        for (now, before) in self.counts.iter().zip(&previous.counts) {
            counts.push(now.checked_sub(*before)?);
        }
        Some(Self {
            bounds: self.bounds.clone(),
            counts,
            count: self.count - previous.count,
            sum: match (self.sum, previous.sum) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            },
            min: self.min,
            max: self.max,
        })
    }

    /// The `q` quantile (0..=1) the way Prometheus' `histogram_quantile` reads classic
    /// buckets: linear interpolation inside the bucket, the lowest bucket starting at 0
    /// when its bound is positive, the +Inf bucket answering with the highest bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.counts.is_empty() || self.bounds.is_empty() {
            return None;
        }
        let total: u64 = self.counts.iter().sum();
        if total == 0 || q.is_nan() {
            return None;
        }
        if q < 0.0 {
            return Some(f64::NEG_INFINITY);
        }
        if q > 1.0 {
            return Some(f64::INFINITY);
        }
        let rank = q * total as f64;
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            let before = cumulative;
            cumulative += c;
            if (cumulative as f64) >= rank && *c > 0 {
                if i == self.bounds.len() {
                    return self.bounds.last().copied();
                }
                let upper = self.bounds[i];
                let lower = if i == 0 {
                    if upper > 0.0 {
                        0.0
                    } else {
                        return Some(upper);
                    }
                } else {
                    self.bounds[i - 1]
                };
                let within = (rank - before as f64) / *c as f64;
                return Some(lower + (upper - lower) * within);
            }
        }
        self.bounds.last().copied()
    }
}

/// Dense exponential buckets: `counts[i]` counts bucket index `offset + i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Buckets {
    pub offset: i32,
    pub counts: Vec<u64>,
}

impl Buckets {
    pub fn from_view(view: BucketsView<'_>) -> Self {
        Self {
            offset: view.offset(),
            counts: view.bucket_counts().collect(),
        }
    }

    /// The buckets with the scale reduced by `by`: index `j` moves to `j >> by`.
    pub fn downscale(&self, by: u32) -> Self {
        if by == 0 || self.counts.is_empty() {
            return self.clone();
        }
        let by = by.min(62);
        let first = i64::from(self.offset) >> by;
        let last = (i64::from(self.offset) + self.counts.len() as i64 - 1) >> by;
        let mut counts = vec![0u64; (last - first + 1) as usize];
        for (i, c) in self.counts.iter().enumerate() {
            let index = (i64::from(self.offset) + i as i64) >> by;
            counts[(index - first) as usize] += c;
        }
        Self {
            offset: first as i32,
            counts,
        }
    }

    /// Adds `other` (at the same scale) into `self`.
    pub fn add(&mut self, other: &Self) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        let start = self.offset.min(other.offset);
        let end = (i64::from(self.offset) + self.counts.len() as i64)
            .max(i64::from(other.offset) + other.counts.len() as i64);
        let mut counts = vec![0u64; (end - i64::from(start)) as usize];
        for side in [&*self, other] {
            for (i, c) in side.counts.iter().enumerate() {
                counts[(side.offset - start) as usize + i] += c;
            }
        }
        *self = Self {
            offset: start,
            counts,
        };
    }

    /// `self - previous` at the same scale; `None` when a bucket went down.
    pub fn subtract(&self, previous: &Self) -> Option<Self> {
        let mut out = self.clone();
        for (i, c) in previous.counts.iter().enumerate() {
            if *c == 0 {
                continue;
            }
            let index = i64::from(previous.offset) + i as i64 - i64::from(self.offset);
            let slot = usize::try_from(index)
                .ok()
                .and_then(|i| out.counts.get_mut(i))?;
            *slot = slot.checked_sub(*c)?;
        }
        Some(out)
    }

    /// `(index, count)` of the non-empty buckets, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i64::from(self.offset) + i as i64, *c))
    }
}

/// A base-2 exponential histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialHistogram {
    pub scale: i32,
    pub count: u64,
    pub sum: Option<f64>,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive: Buckets,
    pub negative: Buckets,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl ExponentialHistogram {
    pub fn from_view(point: &ExponentialHistogramPointView<'_>) -> Self {
        Self {
            scale: point.scale(),
            count: point.count(),
            sum: point.sum(),
            zero_count: point.zero_count(),
            zero_threshold: point.zero_threshold(),
            positive: Buckets::from_view(point.positive()),
            negative: Buckets::from_view(point.negative()),
            min: point.min(),
            max: point.max(),
        }
    }

    /// An empty histogram at this scale.
    pub fn zero(scale: i32) -> Self {
        Self {
            scale,
            sum: Some(0.0),
            ..Default::default()
        }
    }

    /// The histogram at a coarser (or equal) scale.
    pub fn downscaled(&self, scale: i32) -> Self {
        let by = (self.scale - scale).max(0) as u32;
        Self {
            scale: self.scale.min(scale),
            positive: self.positive.downscale(by),
            negative: self.negative.downscale(by),
            ..self.clone()
        }
    }

    /// Adds `other` into `self`, both at the coarser of their scales.
    pub fn add(&mut self, other: &Self) {
        let scale = self.scale.min(other.scale);
        if self.scale != scale {
            *self = self.downscaled(scale);
        }
        let other = other.downscaled(scale);
        self.positive.add(&other.positive);
        self.negative.add(&other.negative);
        self.count += other.count;
        self.zero_count += other.zero_count;
        self.zero_threshold = self.zero_threshold.max(other.zero_threshold);
        self.sum = add_opt(self.sum, other.sum);
        self.min = min_opt(self.min, other.min);
        self.max = max_opt(self.max, other.max);
    }

    /// `self - previous` for two cumulative points of one stream, at the coarser scale;
    /// `None` when a count went down (a reset).
    pub fn subtract(&self, previous: &Self) -> Option<Self> {
        if self.count < previous.count || self.zero_count < previous.zero_count {
            return None;
        }
        let scale = self.scale.min(previous.scale);
        let now = self.downscaled(scale);
        let before = previous.downscaled(scale);
        Some(Self {
            scale,
            count: self.count - previous.count,
            sum: match (self.sum, previous.sum) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            },
            zero_count: self.zero_count - previous.zero_count,
            zero_threshold: self.zero_threshold,
            positive: now.positive.subtract(&before.positive)?,
            negative: now.negative.subtract(&before.negative)?,
            min: self.min,
            max: self.max,
        })
    }

    /// The `q` quantile: the bucket holding the rank, interpolated exponentially inside
    /// it (as Prometheus does for native histograms).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.zero_count
            + self.positive.counts.iter().sum::<u64>()
            + self.negative.counts.iter().sum::<u64>();
        if total == 0 || q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = q * total as f64;
        let base = 2f64.powf(2f64.powi(-self.scale));
        let bounds = |index: i64| (base.powf(index as f64), base.powf(index as f64 + 1.0));
        let mut cumulative = 0u64;
        // Negative buckets from the most negative up.
        let negatives: Vec<(i64, u64)> = self.negative.iter().collect();
        for (index, c) in negatives.into_iter().rev() {
            let before = cumulative;
            cumulative += c;
            if cumulative as f64 >= rank {
                let (low, high) = bounds(index);
                let within = (rank - before as f64) / c as f64;
                return Some(-(high * (low / high).powf(within)));
            }
        }
        cumulative += self.zero_count;
        if cumulative as f64 >= rank && self.zero_count > 0 {
            return Some(0.0);
        }
        for (index, c) in self.positive.iter() {
            let before = cumulative;
            cumulative += c;
            if cumulative as f64 >= rank {
                let (low, high) = bounds(index);
                let within = (rank - before as f64) / c as f64;
                return Some(low * (high / low).powf(within));
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit(counts: &[u64]) -> ExplicitHistogram {
        ExplicitHistogram {
            bounds: vec![1.0, 2.0, 4.0],
            counts: counts.to_vec(),
            count: counts.iter().sum(),
            sum: Some(counts.iter().sum::<u64>() as f64),
            min: None,
            max: None,
        }
    }

    #[test]
    fn explicit_add_and_subtract_are_inverse() {
        let mut a = explicit(&[1, 2, 3, 4]);
        let b = explicit(&[0, 1, 0, 1]);
        a.add(&b).expect("same bounds");
        assert_eq!(a.counts, vec![1, 3, 3, 5]);
        assert_eq!(a.count, 12);
        assert_eq!(a.subtract(&b).expect("no reset").counts, vec![1, 2, 3, 4]);
        // A count that went down is a reset.
        assert_eq!(b.subtract(&a), None);
        let other = ExplicitHistogram::zero(vec![5.0]);
        assert_eq!(a.add(&other), Err(LayoutMismatch));
    }

    #[test]
    fn explicit_quantile_matches_prometheus_interpolation() {
        // 10 observations in (1,2], 10 in (2,4].
        let h = explicit(&[0, 10, 10, 0]);
        assert_eq!(h.quantile(0.5), Some(2.0));
        assert_eq!(h.quantile(0.75), Some(3.0));
        // Everything in +Inf answers the highest bound.
        assert_eq!(explicit(&[0, 0, 0, 5]).quantile(0.99), Some(4.0));
        // The first bucket starts at zero.
        assert_eq!(explicit(&[4, 0, 0, 0]).quantile(0.5), Some(0.5));
        assert_eq!(explicit(&[0, 0, 0, 0]).quantile(0.5), None);
    }

    #[test]
    fn exponential_merge_reduces_to_the_coarser_scale() {
        let mut a = ExponentialHistogram {
            scale: 2,
            count: 3,
            sum: Some(6.0),
            positive: Buckets {
                offset: 4,
                counts: vec![1, 2],
            },
            ..Default::default()
        };
        let b = ExponentialHistogram {
            scale: 1,
            count: 2,
            sum: Some(4.0),
            zero_count: 1,
            positive: Buckets {
                offset: 2,
                counts: vec![1],
            },
            ..Default::default()
        };
        a.add(&b);
        assert_eq!(a.scale, 1);
        assert_eq!(
            a.positive,
            Buckets {
                offset: 2,
                counts: vec![4]
            }
        );
        assert_eq!(a.count, 5);
        assert_eq!(a.zero_count, 1);
        let back = a.subtract(&b).expect("no reset");
        assert_eq!(back.positive.counts, vec![3]);
        assert_eq!(back.count, 3);
    }

    #[test]
    fn downscale_merges_neighbours_including_negative_indexes() {
        let b = Buckets {
            offset: -3,
            counts: vec![1, 1, 1, 1],
        };
        // -3,-2 -> -2 ; -1 -> -1 ; 0 -> 0 (by 1: j >> 1).
        assert_eq!(
            b.downscale(1),
            Buckets {
                offset: -2,
                counts: vec![1, 2, 1]
            }
        );
    }

    #[test]
    fn exponential_quantile_lands_in_the_right_bucket() {
        // Scale 0: bucket i covers (2^i, 2^(i+1)].
        let h = ExponentialHistogram {
            scale: 0,
            count: 10,
            positive: Buckets {
                offset: 3,
                counts: vec![10],
            },
            ..Default::default()
        };
        let q = h.quantile(0.5).expect("a value");
        assert!(q > 8.0 && q < 16.0, "{q}");
    }
}
