//! Client metadata: the request headers (HTTP) or metadata (gRPC) a receiver keeps when
//! `include_metadata` is on, so processors such as `batch` with `metadata_keys` and
//! exporters that forward a tenant header can use them. Keys are lower-cased, as HTTP/2
//! and gRPC metadata are.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Immutable, cheaply cloned map from lower-cased key to its values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientMetadata(Arc<BTreeMap<String, Vec<String>>>);

impl ClientMetadata {
    /// Builds metadata from key/value pairs; repeated keys keep every value in order.
    pub fn from_pairs<K: AsRef<str>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k.as_ref().to_ascii_lowercase())
                .or_default()
                .push(v.into());
        }
        Self(Arc::new(map))
    }

    /// The values of `key` (case-insensitive); empty when absent.
    pub fn get(&self, key: &str) -> &[String] {
        self.0
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Only the given keys: what `batch`'s `metadata_keys` groups by.
    pub fn project(&self, keys: &[String]) -> ClientMetadata {
        let map = keys
            .iter()
            .filter_map(|k| {
                let k = k.to_ascii_lowercase();
                self.0.get(&k).map(|v| (k, v.clone()))
            })
            .collect();
        Self(Arc::new(map))
    }
}
