//! The `hash_seed` mode's hash: 32-bit FNV-1a over the seed (4 bytes, little-endian)
//! followed by the data, exactly as the Collector's `computeHash` (`fnvhasher.go`).
//!
//! Why FNV and not murmur3: the Collector's traces sampler used murmur3 until it was
//! unified with the logs sampler on FNV-1a; every current Collector release hashes with
//! FNV, so the same trace id and seed give the same decision in Weir and in the
//! Collector only with FNV. The function is five lines, so no crate is pulled in.

const OFFSET_BASIS: u32 = 0x811c_9dc5;
const PRIME: u32 = 0x0100_0193;

/// Plain 32-bit FNV-1a.
fn fnv1a32(state: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(state, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(PRIME)
    })
}

/// The Collector's seeded hash: FNV-1a of `seed.to_le_bytes() ++ data`.
pub fn seeded_hash(data: &[u8], seed: u32) -> u32 {
    fnv1a32(fnv1a32(OFFSET_BASIS, &seed.to_le_bytes()), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference vectors from the FNV authors' test suite (FNV-1a, 32 bit).
    #[test]
    fn fnv1a32_reference_vectors() {
        assert_eq!(fnv1a32(OFFSET_BASIS, b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(OFFSET_BASIS, b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(OFFSET_BASIS, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn seed_is_hashed_first_little_endian() {
        let seed = 0x0403_0201_u32;
        let mut joined = vec![1u8, 2, 3, 4];
        joined.extend_from_slice(b"trace");
        assert_eq!(seeded_hash(b"trace", seed), fnv1a32(OFFSET_BASIS, &joined));
        assert_ne!(seeded_hash(b"trace", 0), seeded_hash(b"trace", 1));
    }
}
