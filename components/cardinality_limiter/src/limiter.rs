//! The per-metric record of attribute sets: exact up to a bound, then probabilistic.
//!
//! A series is identified by a 64-bit hash of its resource and point attributes, summed
//! per attribute (so attribute order does not matter, and removing an attribute is a
//! subtraction). Each metric keeps the hashes it admitted in a set until it holds
//! [`EXACT_BOUND`] of them; beyond that (only when `max_series` is larger) it moves them
//! into a Bloom filter sized for `max_series` at about 1% false positives. A false
//! positive admits a new set as if it were known: the limit can be overshot by about 1%
//! of the sets that arrive over it, never undershot.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use foldhash::HashMap;
use weir_api::batch::view::{Attributes, ValueRef};

/// Hashes admitted exactly per metric before switching to the Bloom filter.
pub const EXACT_BOUND: usize = 4096;
/// Distinct values remembered per attribute key (to find the offending attribute).
pub const KEY_VALUES_BOUND: usize = 1024;

fn hasher() -> foldhash::fast::FoldHasher<'static> {
    foldhash::fast::FixedState::with_seed(0x00c4_2d11_a11e).build_hasher()
}

fn write_value(h: &mut impl Hasher, value: ValueRef<'_>) {
    match value {
        ValueRef::Empty => h.write_u8(0),
        ValueRef::Str(s) => {
            h.write_u8(1);
            h.write(s.as_bytes());
        }
        ValueRef::Bool(b) => h.write_u8(if b { 2 } else { 3 }),
        ValueRef::Int(i) => {
            h.write_u8(4);
            h.write_i64(i);
        }
        ValueRef::Double(d) => {
            h.write_u8(5);
            h.write_u64(d.to_bits());
        }
        ValueRef::Bytes(b) => {
            h.write_u8(6);
            h.write(b);
        }
        other => {
            h.write_u8(7);
            h.write(weir_api::attributes::value_json_text(other).as_bytes());
        }
    }
}

/// The hash of one attribute (key and value).
pub fn attribute_hash(key: &str, value: ValueRef<'_>) -> u64 {
    let mut h = hasher();
    h.write(key.as_bytes());
    h.write_u8(0xff);
    write_value(&mut h, value);
    h.finish()
}

/// The hash of an attribute's value alone.
pub fn value_hash(value: ValueRef<'_>) -> u64 {
    let mut h = hasher();
    write_value(&mut h, value);
    h.finish()
}

/// The order-independent hash of a set of attributes: the sum of each one's hash.
pub fn set_hash(attributes: Attributes<'_>) -> u64 {
    attributes
        .iter()
        .map(|(k, v)| attribute_hash(k, v))
        .fold(0u64, u64::wrapping_add)
}

/// A Bloom filter over 64-bit hashes (double hashing).
#[derive(Debug)]
struct Bloom {
    bits: Vec<u64>,
    hashes: u32,
}

impl Bloom {
    /// About 1% false positives at `capacity` entries: 10 bits each, 7 hash functions.
    fn new(capacity: usize) -> Self {
        let words = (capacity.saturating_mul(10) / 64).max(1) + 1;
        Self {
            bits: vec![0; words],
            hashes: 7,
        }
    }

    fn positions(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let m = (self.bits.len() * 64) as u64;
        let h1 = hash;
        let h2 = hash.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15 | 1;
        (0..u64::from(self.hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn contains(&self, hash: u64) -> bool {
        self.positions(hash)
            .all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }

    fn insert(&mut self, hash: u64) {
        let positions: Vec<usize> = self.positions(hash).collect();
        for bit in positions {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }
}

/// One metric name's admitted sets and, when needed, its attributes' distinct values.
#[derive(Debug, Default)]
pub struct MetricRecord {
    exact: HashSet<u64, foldhash::fast::FixedState>,
    bloom: Option<Bloom>,
    admitted: usize,
    /// Per attribute key: distinct value hashes, up to [`KEY_VALUES_BOUND`].
    values: HashMap<String, HashSet<u64, foldhash::fast::FixedState>>,
}

impl MetricRecord {
    pub fn admitted(&self) -> usize {
        self.admitted
    }

    fn contains(&self, hash: u64) -> bool {
        self.exact.contains(&hash) || self.bloom.as_ref().is_some_and(|b| b.contains(hash))
    }

    /// Whether the set is known, or new and within `max_series` (then it is recorded).
    pub fn admit(&mut self, hash: u64, max_series: usize) -> bool {
        if self.contains(hash) {
            return true;
        }
        if self.admitted >= max_series {
            return false;
        }
        self.admitted += 1;
        match &mut self.bloom {
            Some(bloom) => bloom.insert(hash),
            None if self.exact.len() < EXACT_BOUND => {
                self.exact.insert(hash);
            }
            None => {
                let mut bloom = Bloom::new(max_series);
                for known in self.exact.drain() {
                    bloom.insert(known);
                }
                bloom.insert(hash);
                self.exact.shrink_to_fit();
                self.bloom = Some(bloom);
            }
        }
        true
    }

    /// Notes the values of a point's attributes (for finding the offending one).
    pub fn note_values(&mut self, attributes: Attributes<'_>) {
        for (key, value) in attributes.iter() {
            let values = match self.values.get_mut(key) {
                Some(values) => values,
                None => self.values.entry(key.to_string()).or_default(),
            };
            if values.len() < KEY_VALUES_BOUND {
                values.insert(value_hash(value));
            }
        }
    }

    /// Of these attributes, the key with the most distinct values in this metric.
    pub fn offending<'a>(&self, attributes: Attributes<'a>) -> Option<&'a str> {
        attributes
            .iter()
            .map(|(key, _)| (key, self.values.get(key).map_or(0, HashSet::len)))
            .fold(None, |best: Option<(&str, usize)>, (key, n)| match best {
                Some((_, most)) if most >= n => best,
                _ => Some((key, n)),
            })
            .map(|(key, _)| key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_bloom_admits_at_most_the_limit() {
        let max = 10_000;
        let mut record = MetricRecord::default();
        let admitted = (0..50_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .filter(|h| record.admit(*h, max))
            .count();
        // False positives of the filter pass as known: a small overshoot, never less.
        assert_eq!(record.admitted(), max);
        assert!((max..max + 800).contains(&admitted), "{admitted}");
        assert!(record.bloom.is_some(), "beyond the exact bound");
        // Every admitted set is still known.
        let known = (0..max as u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .filter(|h| record.admit(*h, max))
            .count();
        assert_eq!(known, max);
        // Few unknown sets pass as known (false positives).
        let false_positives = (100_000..110_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .filter(|h| record.contains(*h))
            .count();
        assert!(false_positives < 200, "{false_positives} of 10000");
    }

    #[test]
    fn small_limits_stay_exact() {
        let mut record = MetricRecord::default();
        assert!(record.admit(1, 2) && record.admit(2, 2) && record.admit(1, 2));
        assert!(!record.admit(3, 2));
        assert!(record.bloom.is_none());
        assert_eq!(record.admitted(), 2);
    }
}
