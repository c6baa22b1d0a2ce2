//! Thresholds and randomness of OpenTelemetry consistent probability sampling
//! (OTEP 235, `tracestate-probability-sampling.md`), in 56-bit integers.
//!
//! An item is kept when its randomness `R` is at least the rejection threshold `T`.
//! `T` travels as the `th` t-value (up to 14 hex digits, trailing zeros dropped) and `R`
//! as the `rv` r-value (exactly 14 hex digits) or the trace id's last 56 bits. The
//! conversions follow the Collector's `pkg/sampling` so the thresholds Weir writes are
//! the ones a Collector would write.

/// 2^56: one more than the largest randomness value.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;

/// Hex digits in a full-precision t-value or r-value.
pub const NUM_HEX_DIGITS: usize = 14;

/// The smallest sampling probability that can be expressed.
pub const MIN_SAMPLING_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;

/// A rejection threshold in `[0, 2^56]`: 0 keeps everything, 2^56 nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(u64);

/// 56 bits of randomness in `[0, 2^56 - 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Randomness(u64);

/// A probability outside `[2^-56, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbabilityError;

fn parse_hex(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

impl Threshold {
    /// Keeps every item (t-value `0`).
    pub const ALWAYS: Threshold = Threshold(0);
    /// Keeps no item (no t-value can express it).
    pub const NEVER: Threshold = Threshold(MAX_ADJUSTED_COUNT);

    /// A threshold from its 56-bit integer; `None` above 2^56.
    pub fn from_unsigned(value: u64) -> Option<Self> {
        (value <= MAX_ADJUSTED_COUNT).then_some(Threshold(value))
    }

    /// Parses a `th` t-value: 1 to 14 hex digits, trailing zeros implied.
    pub fn parse_tvalue(text: &str) -> Option<Self> {
        if text.len() > NUM_HEX_DIGITS {
            return None;
        }
        let value = parse_hex(text)?;
        Some(Threshold(value << (4 * (NUM_HEX_DIGITS - text.len()))))
    }

    /// The `th` encoding: 14 hex digits with trailing zeros removed, `0` for
    /// always-sample and empty for never-sample (which has no encoding).
    pub fn tvalue(self) -> String {
        if self == Self::ALWAYS {
            return "0".to_string();
        }
        if self.0 >= MAX_ADJUSTED_COUNT {
            return String::new();
        }
        let digits = format!("{:014x}", self.0);
        digits.trim_end_matches('0').to_string()
    }

    /// True when an item with this randomness is kept.
    pub fn should_sample(self, randomness: Randomness) -> bool {
        randomness.0 >= self.0
    }

    /// The sampling probability this threshold stands for.
    pub fn probability(self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0) as f64 / MAX_ADJUSTED_COUNT as f64
    }

    /// The Collector's `ProbabilityToThresholdWithPrecision`: rounds the rejection
    /// threshold to `precision` significant hex digits (0 means all 14). Leading `0`
    /// or `f` digits (probabilities near 1 or near 0) add precision, so the relative
    /// error stays small at the extremes.
    pub fn from_probability(probability: f64, precision: u8) -> Result<Self, ProbabilityError> {
        if !(MIN_SAMPLING_PROBABILITY..=1.0).contains(&probability) {
            return Err(ProbabilityError);
        }
        if probability == 1.0 {
            return Ok(Self::ALWAYS);
        }
        let requested = if precision == 0 {
            NUM_HEX_DIGITS as i32
        } else {
            i32::from(precision)
        };
        let near_zero = requested + frexp_exponent(probability) / -4;
        let near_one = requested + frexp_exponent(1.0 - probability) / -4;
        let precision = near_zero.max(near_one).min(NUM_HEX_DIGITS as i32);
        let scaled = (probability * MAX_ADJUSTED_COUNT as f64).round() as u64;
        let mut threshold = MAX_ADJUSTED_COUNT - scaled;
        let shift = 4 * (NUM_HEX_DIGITS as i32 - precision);
        if shift > 0 {
            let half = 1u64 << (shift - 1);
            threshold = ((threshold + half) >> shift) << shift;
        }
        Ok(Threshold(threshold))
    }
}

/// The exponent of C's `frexp` for a positive normal number: `x = m × 2^e`,
/// `m ∈ [0.5, 1)`. Probabilities handled here are at least 2^-56, never subnormal.
fn frexp_exponent(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1022
}

impl Randomness {
    /// Kept at every probability: what an item without randomness is given.
    pub const ALL_PROBABILITIES: Randomness = Randomness(MAX_ADJUSTED_COUNT - 1);

    /// A randomness from its 56-bit integer; `None` at 2^56 or above.
    pub fn from_unsigned(value: u64) -> Option<Self> {
        (value < MAX_ADJUSTED_COUNT).then_some(Randomness(value))
    }

    /// The W3C Trace Context level 2 randomness: the trace id's last 7 bytes.
    pub fn from_trace_id(trace_id: &[u8; 16]) -> Self {
        let mut low = [0u8; 8];
        low.copy_from_slice(&trace_id[8..]);
        Randomness(u64::from_be_bytes(low) & (MAX_ADJUSTED_COUNT - 1))
    }

    /// Parses an `rv` r-value: exactly 14 hex digits.
    pub fn parse_rvalue(text: &str) -> Option<Self> {
        if text.len() != NUM_HEX_DIGITS {
            return None;
        }
        parse_hex(text).map(Randomness)
    }

    /// The `rv` encoding: 14 hex digits with leading zeros.
    pub fn rvalue(self) -> String {
        format!("{:014x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tvalues_round_trip_and_trim_trailing_zeros() {
        // Examples from tracestate-probability-sampling.md.
        let half = Threshold::from_probability(0.5, 4).unwrap();
        assert_eq!(half.tvalue(), "8");
        let tenth = Threshold::from_probability(0.1, 4).unwrap();
        assert_eq!(tenth.tvalue(), "e666");
        let third = Threshold::from_probability(1.0 / 3.0, 4).unwrap();
        assert_eq!(third.tvalue(), "aaab");
        // The spec's table at precision 4 for small probabilities.
        for (p, t) in [
            (0.001, "ffbe77"),
            (0.0001, "fff9724"),
            (0.00001, "ffff583a"),
            (0.000001, "ffffef39"),
        ] {
            assert_eq!(
                Threshold::from_probability(p, 4).unwrap().tvalue(),
                t,
                "{p}"
            );
        }
        assert_eq!(Threshold::parse_tvalue("e666"), Some(tenth));
        assert_eq!(Threshold::ALWAYS.tvalue(), "0");
        assert_eq!(Threshold::parse_tvalue("0"), Some(Threshold::ALWAYS));
        assert_eq!(Threshold::parse_tvalue(""), None);
        assert_eq!(Threshold::parse_tvalue("+1"), None);
        assert_eq!(Threshold::parse_tvalue("123456789abcdef"), None);
    }

    #[test]
    fn precision_counts_significant_digits_after_leading_zeros() {
        // 1%: one leading `f` adds a digit (the Collector's own test values).
        assert_eq!(
            Threshold::from_probability(0.01, 4).unwrap().tvalue(),
            "fd70a"
        );
        assert_eq!(
            Threshold::from_probability(0.01, 3).unwrap().tvalue(),
            "fd71"
        );
        assert_eq!(
            Threshold::from_probability(0.01, 0).unwrap().tvalue(),
            "fd70a3d70a3d71"
        );
        assert_eq!(Threshold::from_probability(0.4, 3).unwrap().tvalue(), "99a");
        // 99.9% keeps: rejection 0.001 has two leading zero digits → 6 digits.
        assert_eq!(
            Threshold::from_probability(0.999, 4).unwrap().tvalue(),
            "004189"
        );
        assert_eq!(Threshold::from_probability(0.0, 4), Err(ProbabilityError));
        assert_eq!(Threshold::from_probability(1.5, 4), Err(ProbabilityError));
        assert_eq!(Threshold::from_probability(1.0, 4), Ok(Threshold::ALWAYS));
    }

    #[test]
    fn randomness_from_trace_id_uses_last_seven_bytes() {
        let mut id = [0xffu8; 16];
        id[8] = 0xab; // ignored
        id[9..].copy_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd]);
        assert_eq!(Randomness::from_trace_id(&id).rvalue(), "0123456789abcd");
        assert_eq!(
            Randomness::parse_rvalue("0123456789abcd"),
            Some(Randomness::from_trace_id(&id))
        );
        assert_eq!(Randomness::parse_rvalue("123"), None);
    }

    #[test]
    fn threshold_comparison_is_r_at_least_t() {
        let t = Threshold::parse_tvalue("8").unwrap();
        assert!(t.should_sample(Randomness::parse_rvalue("80000000000000").unwrap()));
        assert!(!t.should_sample(Randomness::parse_rvalue("7fffffffffffff").unwrap()));
        assert!(!Threshold::NEVER.should_sample(Randomness::ALL_PROBABILITIES));
        assert!(Threshold::ALWAYS.should_sample(Randomness::from_unsigned(0).unwrap()));
    }
}
