//! The decision caches: LRU sets of trace ids whose decision was made, so spans that
//! arrive after their trace left the buffer still follow its decision.
//!
//! An LRU with a recency queue and lazy deletion: a lookup that hits pushes a fresh
//! entry and bumps the id's generation; stale queue entries are skipped on eviction and
//! compacted away when the queue grows past twice the capacity.

use std::collections::VecDeque;

use foldhash::HashMap;

use crate::TraceKey;

#[derive(Debug, Default)]
pub struct DecisionCache {
    capacity: usize,
    generation: u64,
    entries: HashMap<TraceKey, u64>,
    recency: VecDeque<(TraceKey, u64)>,
}

impl DecisionCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    #[cfg(test)]
    pub fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn touch(&mut self, key: TraceKey) {
        self.generation += 1;
        self.entries.insert(key, self.generation);
        self.recency.push_back((key, self.generation));
        if self.recency.len() > self.capacity.saturating_mul(2).max(16) {
            let entries = &self.entries;
            self.recency.retain(|(k, g)| entries.get(k) == Some(g));
        }
    }

    pub fn put(&mut self, key: TraceKey) {
        if self.capacity == 0 {
            return;
        }
        self.touch(key);
        while self.entries.len() > self.capacity {
            let Some((k, g)) = self.recency.pop_front() else {
                break;
            };
            if self.entries.get(&k) == Some(&g) {
                self.entries.remove(&k);
            }
        }
    }

    /// Whether `key` is cached; a hit makes it the most recently used.
    pub fn get(&mut self, key: &TraceKey) -> bool {
        if !self.entries.contains_key(key) {
            return false;
        }
        self.touch(*key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> TraceKey {
        [n; 16]
    }

    #[test]
    fn least_recently_used_goes_first() {
        let mut cache = DecisionCache::new(2);
        cache.put(key(1));
        cache.put(key(2));
        assert!(cache.get(&key(1)));
        cache.put(key(3));
        assert!(cache.get(&key(1)));
        assert!(!cache.get(&key(2)));
        assert!(cache.get(&key(3)));
        assert_eq!(cache.len(), 2);
        for _ in 0..100 {
            cache.get(&key(1));
        }
        assert!(cache.recency.len() <= 16);
    }

    #[test]
    fn a_zero_capacity_cache_holds_nothing() {
        let mut cache = DecisionCache::new(0);
        cache.put(key(1));
        assert!(!cache.get(&key(1)));
        assert!(!cache.is_enabled());
    }
}
