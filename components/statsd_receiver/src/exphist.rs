//! An OpenTelemetry exponential histogram that rescales itself to stay within a
//! maximum number of buckets, like the Collector's (go-expohisto) and the OTel SDKs.
//!
//! Bucket `i` at scale `s` holds values in `(2^(i/2^s), 2^((i+1)/2^s)]`. It starts at the
//! finest scale (20) and halves its resolution whenever the populated range of indices
//! would need more than `max_size` buckets. Count, sum, min and max are kept exactly;
//! only the bucket boundaries are approximate. Counts are integer weights: a sampled
//! observation (`@0.25`) adds 4.

/// The finest scale used, as in the OTel SDKs.
pub const MAX_SCALE: i32 = 20;
/// The default maximum number of buckets per sign, as in the OTel SDKs and the Collector.
pub const DEFAULT_MAX_SIZE: usize = 160;

/// Contiguous bucket counts starting at index `offset`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketRange {
    pub offset: i32,
    pub counts: Vec<u64>,
}

impl BucketRange {
    fn end(&self) -> i32 {
        self.offset + self.counts.len() as i32
    }

    /// Number of buckets needed to also cover `index`, after downscaling by `change`.
    fn span_with(&self, index: i32, change: u32) -> i64 {
        if self.counts.is_empty() {
            return 1;
        }
        let low = (self.offset.min(index) >> change) as i64;
        let high = ((self.end() - 1).max(index) >> change) as i64;
        high - low + 1
    }

    fn add(&mut self, index: i32, weight: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(weight);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        } else if index >= self.end() {
            let new_len = (index - self.offset + 1) as usize;
            self.counts.resize(new_len, 0);
        }
        self.counts[(index - self.offset) as usize] += weight;
    }

    /// Halves the resolution `by` times: index `i` becomes `i >> by`.
    fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let new_offset = self.offset >> by;
        let new_end = (self.end() - 1) >> by;
        let mut merged = vec![0u64; (new_end - new_offset + 1) as usize];
        for (j, count) in self.counts.iter().enumerate() {
            let index = (self.offset + j as i32) >> by;
            merged[(index - new_offset) as usize] += count;
        }
        self.offset = new_offset;
        self.counts = merged;
    }
}

/// The histogram state of one series in one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpHistogram {
    pub scale: i32,
    pub max_size: usize,
    pub zero_count: u64,
    pub positive: BucketRange,
    pub negative: BucketRange,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl ExpHistogram {
    pub fn new(max_size: usize) -> Self {
        Self {
            scale: MAX_SCALE,
            max_size: max_size.max(2),
            zero_count: 0,
            positive: BucketRange::default(),
            negative: BucketRange::default(),
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Records `value` with integer weight `weight` (>= 1).
    pub fn record(&mut self, value: f64, weight: u64) {
        self.count += weight;
        self.sum += value * weight as f64;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0.0 {
            self.zero_count += weight;
            return;
        }
        let negative = value < 0.0;
        let index = map_to_index(value.abs(), self.scale);
        self.add_at(negative, index, weight);
    }

    /// Adds `weight` at `index` (at the current scale), downscaling first if needed.
    fn add_at(&mut self, negative: bool, index: i32, weight: u64) {
        let range = if negative {
            &self.negative
        } else {
            &self.positive
        };
        let mut change = 0u32;
        // Indexes are i32, so 31 halvings always bring any range down to one bucket.
        while change < 31 && range.span_with(index, change) > self.max_size as i64 {
            change += 1;
        }
        if change > 0 {
            self.downscale(change);
        }
        let index = index >> change;
        if negative {
            self.negative.add(index, weight);
        } else {
            self.positive.add(index, weight);
        }
    }

    fn downscale(&mut self, by: u32) {
        self.positive.downscale(by);
        self.negative.downscale(by);
        self.scale -= by as i32;
    }

    /// Adds another histogram of the same series (from another reader) into this one.
    pub fn merge(&mut self, other: &ExpHistogram) {
        if other.count == 0 {
            return;
        }
        if other.scale < self.scale {
            self.downscale((self.scale - other.scale) as u32);
        }
        for (negative, range) in [(false, &other.positive), (true, &other.negative)] {
            for (j, &count) in range.counts.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                // `other` is at a finer or equal scale; map its index to ours.
                let shift = (other.scale - self.scale) as u32;
                let index = (range.offset + j as i32) >> shift;
                self.add_at(negative, index, count);
            }
        }
        self.zero_count += other.zero_count;
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// The bucket index of a positive, finite `value` at `scale`.
pub fn map_to_index(value: f64, scale: i32) -> i32 {
    let bits = value.to_bits();
    let exponent_bits = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = bits & ((1u64 << 52) - 1);
    let exact_power_of_two = mantissa == 0 && exponent_bits != 0;
    if scale <= 0 {
        let mut exponent = if exponent_bits == 0 {
            // Subnormal: the exponent of its leading bit.
            -1023 - (mantissa.leading_zeros() as i32 - 12)
        } else {
            exponent_bits - 1023
        };
        if exact_power_of_two {
            // Buckets are upper-inclusive: 2^e is the top of bucket e-1.
            exponent -= 1;
        }
        return exponent >> -scale;
    }
    if exact_power_of_two {
        return ((exponent_bits - 1023) << scale) - 1;
    }
    let scale_factor = std::f64::consts::LOG2_E * f64::powi(2.0, scale);
    (value.ln() * scale_factor).floor() as i32
}

/// The lower boundary of bucket `index` at `scale` (for tests and explanations).
pub fn lower_boundary(index: i32, scale: i32) -> f64 {
    f64::powf(2.0, index as f64 / f64::powi(2.0, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_are_upper_inclusive() {
        assert_eq!(map_to_index(1.0, 0), -1);
        assert_eq!(map_to_index(2.0, 0), 0);
        assert_eq!(map_to_index(3.0, 0), 1);
        assert_eq!(map_to_index(4.0, 0), 1);
        assert_eq!(map_to_index(4.0, 1), 3);
        assert_eq!(map_to_index(4.0, -1), 0);
        assert_eq!(map_to_index(5.0, -1), 1);
    }

    #[test]
    fn every_value_lands_inside_its_bucket() {
        for scale in [-3, 0, 3, 8, 20] {
            for value in [0.001, 0.5, 1.5, 3.0, 7.25, 1000.0, 123456.789] {
                let index = map_to_index(value, scale);
                let low = lower_boundary(index, scale);
                let high = lower_boundary(index + 1, scale);
                assert!(
                    low * (1.0 - 1e-9) <= value && value <= high * (1.0 + 1e-9),
                    "{value} at {scale}"
                );
            }
        }
    }

    #[test]
    fn keeps_within_max_size_and_counts_exactly() {
        let mut h = ExpHistogram::new(20);
        let mut total = 0.0;
        for i in 1..=1000 {
            h.record(i as f64, 2);
            total += 2.0 * i as f64;
        }
        h.record(0.0, 1);
        h.record(-5.0, 1);
        assert!(h.positive.counts.len() <= 20);
        assert_eq!(h.count, 2002);
        assert_eq!(h.positive.counts.iter().sum::<u64>(), 2000);
        assert_eq!(h.zero_count, 1);
        assert_eq!(h.negative.counts.iter().sum::<u64>(), 1);
        assert_eq!(h.sum, total - 5.0);
        assert_eq!((h.min, h.max), (-5.0, 1000.0));
        // Each value is still inside its (coarser) bucket.
        let index = map_to_index(1000.0, h.scale) - h.positive.offset;
        assert!(h.positive.counts[index as usize] > 0);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut a = ExpHistogram::new(160);
        let mut b = ExpHistogram::new(160);
        let mut both = ExpHistogram::new(160);
        for i in 0..500 {
            let v = (i as f64 * 0.37).exp2().min(1e12);
            if i % 2 == 0 {
                a.record(v, 1)
            } else {
                b.record(v, 1)
            }
            both.record(v, 1);
        }
        a.merge(&b);
        assert_eq!(a.count, both.count);
        assert_eq!(a.scale, both.scale);
        assert_eq!(a.positive, both.positive);
    }
}
