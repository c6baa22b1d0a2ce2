//! The two duration histograms: explicit buckets, and the base-2 exponential histogram
//! (OTLP's `ExponentialHistogram`), which starts at the finest scale and halves its
//! resolution whenever the observed range needs more than `max_size` buckets.
//!
//! Durations are never negative (a span ending before it starts counts as 0), so the
//! exponential histogram keeps only positive buckets and a zero count.

/// Finest scale an exponential histogram starts at (the OTel SDKs' and go-expohisto's).
pub const MAX_SCALE: i32 = 20;
/// Coarsest scale: at -10 every finite double fits in two buckets.
const MIN_SCALE: i32 = -10;

/// Explicit-bucket counts: `counts[i]` holds values `<= bounds[i]` and above the previous
/// bound; the last count is the +Inf bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Explicit {
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

impl Explicit {
    pub fn new(bounds: usize) -> Self {
        Self {
            counts: vec![0; bounds + 1],
            count: 0,
            sum: 0.0,
        }
    }

    /// Records a value against `bounds` (upper bounds are inclusive, as `le` is).
    pub fn record(&mut self, bounds: &[f64], value: f64) {
        let index = bounds.partition_point(|bound| *bound < value);
        if let Some(slot) = self.counts.get_mut(index) {
            *slot += 1;
        }
        self.count += 1;
        self.sum += value;
    }
}

/// A base-2 exponential histogram of non-negative values.
#[derive(Clone, Debug, PartialEq)]
pub struct Exponential {
    max_size: usize,
    pub scale: i32,
    pub zero_count: u64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Index of `counts[0]`.
    pub offset: i32,
    pub counts: Vec<u64>,
}

/// The bucket index of a positive, finite `value` at `scale`: bucket `i` holds values in
/// `(base^i, base^(i+1)]` with `base = 2^(2^-scale)`.
pub fn bucket_index(value: f64, scale: i32) -> i32 {
    let value = value.max(f64::MIN_POSITIVE);
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let exact_power_of_two = bits & ((1u64 << 52) - 1) == 0;
    if scale <= 0 {
        // The base-2 exponent, one less for an exact power of two (an upper bound).
        let e = if exact_power_of_two {
            exponent - 1
        } else {
            exponent
        };
        return e >> -scale;
    }
    if exact_power_of_two {
        return (exponent << scale) - 1;
    }
    let factor = f64::from(1u32 << scale) * std::f64::consts::LOG2_E;
    let index = (value.ln() * factor).floor();
    // Rounding near a bucket boundary may land one off; keep within the exponent's range.
    let low = exponent << scale;
    let high = ((exponent + 1) << scale) - 1;
    (index as i32).clamp(low, high)
}

impl Exponential {
    pub fn new(max_size: usize) -> Self {
        Self {
            max_size: max_size.max(2),
            scale: MAX_SCALE,
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
            offset: 0,
            counts: Vec::new(),
        }
    }

    /// Records a duration (negative or NaN values count as zero).
    pub fn record(&mut self, value: f64) {
        let value = if value.is_finite() && value > 0.0 {
            value
        } else {
            0.0
        };
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += value;
        if value == 0.0 {
            self.zero_count += 1;
            return;
        }
        let mut index = bucket_index(value, self.scale);
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(1);
            return;
        }
        let end = self.offset + self.counts.len() as i32 - 1;
        let low = self.offset.min(index);
        let high = end.max(index);
        let mut change = 0;
        while self.scale - change > MIN_SCALE
            && (i64::from(high >> change) - i64::from(low >> change) + 1) as usize > self.max_size
        {
            change += 1;
        }
        if change > 0 {
            self.downscale(change);
            index >>= change;
        }
        let end = self.offset + self.counts.len() as i32 - 1;
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        } else if index > end {
            let grow = (index - end) as usize;
            self.counts.extend(std::iter::repeat_n(0, grow));
        }
        self.counts[(index - self.offset) as usize] += 1;
    }

    /// Halves the resolution `by` times, merging neighbouring buckets.
    fn downscale(&mut self, by: i32) {
        let new_offset = self.offset >> by;
        let end = self.offset + self.counts.len() as i32 - 1;
        let mut merged = vec![0u64; ((end >> by) - new_offset + 1) as usize];
        for (i, count) in self.counts.iter().enumerate() {
            let index = (self.offset + i as i32) >> by;
            merged[(index - new_offset) as usize] += count;
        }
        self.counts = merged;
        self.offset = new_offset;
        self.scale -= by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket's bounds at `scale`.
    fn bounds(index: i32, scale: i32) -> (f64, f64) {
        let base = 2f64.powf(2f64.powi(-scale));
        (base.powi(index), base.powi(index + 1))
    }

    #[test]
    fn explicit_upper_bounds_are_inclusive() {
        let bounds = [2.0, 4.0, 10.0];
        let mut h = Explicit::new(bounds.len());
        for v in [0.0, 2.0, 2.5, 4.0, 10.0, 11.0, 1e9] {
            h.record(&bounds, v);
        }
        assert_eq!(h.counts, [2, 2, 1, 2]);
        assert_eq!(h.count, 7);
    }

    #[test]
    fn bucket_index_puts_values_within_their_bucket() {
        for scale in [-3, -1, 0, 1, 3, 8, 20] {
            for v in [
                0.001, 0.5, 1.0, 1.5, 2.0, 3.0, 7.9, 100.0, 1234.5, 65536.0, 1e9,
            ] {
                let index = bucket_index(v, scale);
                let (low, high) = bounds(index, scale);
                let tolerance = high * 1e-9;
                assert!(
                    v > low - tolerance && v <= high + tolerance,
                    "{v} at scale {scale}: index {index} = ({low}, {high}]"
                );
            }
        }
        // Exact powers of two are upper bounds.
        assert_eq!(bucket_index(1.0, 0), -1);
        assert_eq!(bucket_index(2.0, 0), 0);
        assert_eq!(bucket_index(4.0, 1), 3);
        assert_eq!(bucket_index(8.0, -1), 1);
    }

    #[test]
    fn exponential_downscales_to_fit_max_size() {
        let mut h = Exponential::new(4);
        h.record(1.5);
        assert_eq!(h.scale, MAX_SCALE);
        h.record(1000.0);
        h.record(0.0);
        assert!(h.counts.len() <= 4, "{h:?}");
        assert_eq!(h.counts.iter().sum::<u64>(), 2);
        assert_eq!(h.zero_count, 1);
        assert_eq!(h.count, 3);
        assert_eq!(h.min, 0.0);
        assert_eq!(h.max, 1000.0);
        // Every value still lies in the bucket it was counted in.
        for v in [1.5f64, 1000.0] {
            let index = bucket_index(v, h.scale);
            assert!(index >= h.offset && index < h.offset + h.counts.len() as i32);
            assert!(h.counts[(index - h.offset) as usize] > 0);
        }
    }

    #[test]
    fn exponential_with_many_values_stays_bounded() {
        let mut h = Exponential::new(160);
        for i in 1..=10_000 {
            h.record(f64::from(i) * 0.37);
        }
        assert!(h.counts.len() <= 160);
        assert_eq!(h.counts.iter().sum::<u64>(), 10_000);
        assert!(h.scale < MAX_SCALE && h.scale > 0, "scale {}", h.scale);
    }
}
