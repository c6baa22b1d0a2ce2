//! Routing keys and the choice of backend.
//!
//! The choice is rendezvous (highest-random-weight) hashing: a key goes to the backend
//! whose `weight(key, backend)` is highest. When a backend leaves, only its keys move
//! (each to its second choice); when one joins, it takes exactly the keys it now wins.
//! Every agent that sees the same membership makes the same choice, since the hash is
//! fixed (FNV-1a with a SplitMix64 finish) rather than seeded per process. Its cost is one
//! mix per backend per key; batches carry runs of items with the same key (the spans of a
//! trace), and [`Router`] asks once per run.

use weir_api::batch::view::{Attributes, ResourceView, ScopeView, ValueRef};

/// A streaming FNV-1a 64 hasher, finished with SplitMix64 so that keys differing in
/// their last bytes still spread over the whole range.
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher(u64);

impl Default for KeyHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl KeyHasher {
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
        self
    }

    pub fn finish(&self) -> u64 {
        mix(self.0)
    }
}

/// SplitMix64's finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash a backend is known by: its endpoint's.
pub fn backend_hash(endpoint: &str) -> u64 {
    KeyHasher::default().bytes(endpoint.as_bytes()).finish()
}

/// The index of the backend (by its [`backend_hash`]) that owns `key`, or `None` with no
/// backends. Ties (astronomically rare) go to the lower index.
pub fn owner(key: u64, backends: &[u64]) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (index, backend) in backends.iter().enumerate() {
        let weight = mix(key ^ backend.rotate_left(17));
        if best.is_none_or(|(top, _)| weight > top) {
            best = Some((weight, index));
        }
    }
    best.map(|(_, index)| index)
}

/// Remembers the last key's owner: batches hold runs of items with the same key.
#[derive(Debug)]
pub struct Router<'a> {
    backends: &'a [u64],
    last: Option<(u64, usize)>,
}

impl<'a> Router<'a> {
    pub fn new(backends: &'a [u64]) -> Self {
        Self {
            backends,
            last: None,
        }
    }

    /// The owner of `key`; `backends` must not be empty.
    pub fn route(&mut self, key: u64) -> usize {
        if let Some((last, index)) = self.last {
            if last == key {
                return index;
            }
        }
        let index = owner(key, self.backends).unwrap_or(0);
        self.last = Some((key, index));
        index
    }
}

/// How deep attribute values are hashed: a hostile nesting stops counting here.
const MAX_DEPTH: usize = 8;

/// Adds one attribute value, with a type tag so that `1` and `"1"` differ.
pub fn hash_value(hasher: &mut KeyHasher, value: ValueRef<'_>, depth: usize) {
    match value {
        ValueRef::Empty => hasher.bytes(b"e"),
        ValueRef::Str(s) => hasher.bytes(b"s").bytes(s.as_bytes()),
        ValueRef::Bool(b) => hasher.bytes(if b { b"t" } else { b"f" }),
        ValueRef::Int(i) => hasher.bytes(b"i").bytes(&i.to_le_bytes()),
        ValueRef::Double(d) => hasher.bytes(b"d").bytes(&d.to_bits().to_le_bytes()),
        ValueRef::Bytes(b) => hasher.bytes(b"b").bytes(b),
        ValueRef::Array(array) => {
            hasher.bytes(b"a");
            if depth < MAX_DEPTH {
                for item in array.iter() {
                    hash_value(hasher, item, depth + 1);
                }
            }
            hasher
        }
        ValueRef::KvList(list) => {
            hasher.bytes(b"m");
            if depth < MAX_DEPTH {
                hasher.bytes(&attributes_hash(list, depth + 1).to_le_bytes());
            }
            hasher
        }
    };
}

/// A hash of an attribute set that does not depend on the order of its pairs: the same
/// resource sent with its attributes in another order routes the same way.
pub fn attributes_hash(attributes: Attributes<'_>, depth: usize) -> u64 {
    attributes
        .iter()
        .map(|(key, value)| {
            let mut pair = KeyHasher::default();
            pair.bytes(key.as_bytes());
            hash_value(&mut pair, value, depth);
            pair.finish()
        })
        .fold(0u64, u64::wrapping_add)
}

/// The key of a resource's `service.name` (missing: the empty name).
pub fn service_key(resource: ResourceView<'_>) -> u64 {
    let name = resource
        .attributes()
        .get_str("service.name")
        .unwrap_or_default();
    KeyHasher::default()
        .bytes(b"service")
        .bytes(name.as_bytes())
        .finish()
}

/// The key of all of a resource's attributes.
pub fn resource_key(resource: ResourceView<'_>) -> u64 {
    mix(attributes_hash(resource.attributes(), 0) ^ 0x7265_736f_7572_6365)
}

/// The key of the values of `names`, looked up first in the resource, then in the item.
pub fn attributes_key(names: &[String], resource: ResourceView<'_>, item: Attributes<'_>) -> u64 {
    let mut hasher = KeyHasher::default();
    for name in names {
        let value = resource
            .attributes()
            .get(name)
            .or_else(|| item.get(name))
            .unwrap_or(ValueRef::Empty);
        hash_value(&mut hasher, value, 0);
    }
    hasher.finish()
}

/// The key of one metric stream: resource, scope, metric name and point attributes.
pub fn stream_key(
    resource: ResourceView<'_>,
    scope: ScopeView<'_>,
    metric_name: &str,
    point: Attributes<'_>,
) -> u64 {
    let mut hasher = KeyHasher::default();
    hasher
        .bytes(&attributes_hash(resource.attributes(), 0).to_le_bytes())
        .bytes(scope.name().as_bytes())
        .bytes(scope.version().as_bytes())
        .bytes(metric_name.as_bytes())
        .bytes(&attributes_hash(point, 0).to_le_bytes());
    hasher.finish()
}

/// The key of a trace id (also a log record's).
pub fn trace_key(trace_id: &[u8]) -> u64 {
    KeyHasher::default().bytes(trace_id).finish()
}

/// The key of a metric name.
pub fn metric_key(name: &str) -> u64 {
    KeyHasher::default()
        .bytes(b"metric")
        .bytes(name.as_bytes())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(names: &[&str]) -> Vec<u64> {
        names.iter().map(|name| backend_hash(name)).collect()
    }

    fn keys() -> impl Iterator<Item = u64> {
        (0u32..20_000).map(|i| trace_key(&i.to_be_bytes()))
    }

    #[test]
    fn spreads_keys_evenly() {
        let tier = backends(&["gw-a:4317", "gw-b:4317", "gw-c:4317", "gw-d:4317"]);
        let mut counts = [0usize; 4];
        for key in keys() {
            counts[owner(key, &tier).expect("backends")] += 1;
        }
        for count in counts {
            // 5000 expected each; a fair hash stays well within 10%.
            assert!((4500..5500).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn a_leaving_backend_moves_only_its_own_keys() {
        let before = ["gw-a:4317", "gw-b:4317", "gw-c:4317"];
        let after = ["gw-a:4317", "gw-c:4317"];
        let (tier_before, tier_after) = (backends(&before), backends(&after));
        let mut moved = 0;
        for key in keys() {
            let old = before[owner(key, &tier_before).expect("backends")];
            let new = after[owner(key, &tier_after).expect("backends")];
            if old != "gw-b:4317" {
                assert_eq!(old, new, "a key of a staying backend moved");
            } else {
                moved += 1;
            }
        }
        // About a third of the keys were gw-b's.
        assert!((6000..7400).contains(&moved), "{moved}");
    }

    #[test]
    fn a_joining_backend_takes_only_what_it_wins() {
        let before = ["gw-a:4317", "gw-b:4317"];
        let after = ["gw-a:4317", "gw-b:4317", "gw-new:4317"];
        let (tier_before, tier_after) = (backends(&before), backends(&after));
        for key in keys() {
            let old = before[owner(key, &tier_before).expect("backends")];
            let new = after[owner(key, &tier_after).expect("backends")];
            assert!(new == old || new == "gw-new:4317");
        }
    }

    #[test]
    fn the_choice_does_not_depend_on_the_order_of_the_list() {
        let one = ["gw-a:4317", "gw-b:4317", "gw-c:4317"];
        let other = ["gw-c:4317", "gw-a:4317", "gw-b:4317"];
        let (a, b) = (backends(&one), backends(&other));
        for key in keys().take(2000) {
            assert_eq!(
                one[owner(key, &a).expect("backends")],
                other[owner(key, &b).expect("backends")]
            );
        }
    }

    #[test]
    fn no_backends_no_owner() {
        assert_eq!(owner(42, &[]), None);
    }

    #[test]
    fn keys_are_fixed_across_processes() {
        // A change here would split traces between agents running different versions.
        assert_eq!(trace_key(&[1, 2, 3, 4]), trace_key(&[1, 2, 3, 4]));
        assert_ne!(trace_key(&[1, 2, 3, 4]), trace_key(&[1, 2, 3, 5]));
        assert_eq!(mix(0), 0);
        assert_eq!(mix(1), 0x5692_161d_100b_05e5);
    }
}
