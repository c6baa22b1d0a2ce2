//! Stream identity: a 64-bit hash of what makes a series (resource, scope, metric
//! descriptor, point attributes).
//!
//! Attributes hash independently of their order (OTLP does not order them), by adding
//! the hashes of the pairs. Keys are the same for the whole process (a fixed seed), so a
//! stream keeps its key across batches. Two different series colliding on 64 bits is
//! possible in theory and negligible at the table sizes in use (2^-64 per pair).

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::fast::FixedState;
use weir_api::batch::view::{Attributes, ValueRef};

const SEED: u64 = 0x05ee_d0f5_77ea_u64;

/// A hasher for stream keys.
pub fn hasher() -> impl Hasher {
    FixedState::with_seed(SEED).build_hasher()
}

/// Hashes an attribute value.
pub fn hash_value(h: &mut impl Hasher, value: ValueRef<'_>) {
    match value {
        ValueRef::Empty => 0u8.hash(h),
        ValueRef::Str(s) => {
            1u8.hash(h);
            s.hash(h);
        }
        ValueRef::Bool(b) => {
            2u8.hash(h);
            b.hash(h);
        }
        ValueRef::Int(i) => {
            3u8.hash(h);
            i.hash(h);
        }
        ValueRef::Double(d) => {
            4u8.hash(h);
            d.to_bits().hash(h);
        }
        ValueRef::Bytes(b) => {
            5u8.hash(h);
            b.hash(h);
        }
        ValueRef::Array(a) => {
            6u8.hash(h);
            for v in a.iter() {
                hash_value(h, v);
            }
        }
        ValueRef::KvList(kv) => {
            7u8.hash(h);
            attributes_hash(kv).hash(h);
        }
    }
}

/// One `(key, value)` pair's hash.
pub fn pair_hash(key: &str, value: ValueRef<'_>) -> u64 {
    let mut h = hasher();
    key.hash(&mut h);
    hash_value(&mut h, value);
    h.finish()
}

/// The hash of an attribute set, whatever the order of its pairs.
pub fn attributes_hash(attributes: Attributes<'_>) -> u64 {
    attributes
        .iter()
        .fold(0u64, |acc, (k, v)| acc.wrapping_add(pair_hash(k, v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_api::batch::build::AttributeList;

    #[test]
    fn attribute_order_does_not_matter_and_values_do() {
        let a: AttributeList = [("a", "1"), ("b", "2")].into_iter().collect();
        let b: AttributeList = [("b", "2"), ("a", "1")].into_iter().collect();
        let c: AttributeList = [("a", "1"), ("b", "3")].into_iter().collect();
        assert_eq!(attributes_hash(a.view()), attributes_hash(b.view()));
        assert_ne!(attributes_hash(a.view()), attributes_hash(c.view()));
    }
}
