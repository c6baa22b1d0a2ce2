//! The bounded table every stateful metric component keeps its streams in.
//!
//! A stream is one series (metric identity + attributes), keyed by a 64-bit hash the
//! caller computes ([`crate::key`]). The table holds at most `max_streams` of them and
//! forgets a stream `max_stale` after its last point; a new stream that finds the table
//! full of live streams is refused ([`Full`]) and the caller counts the refusal. One
//! table type, so "bounded and forgets" means the same thing in `aggregation`,
//! `interval`, `deltatocumulative`, `cumulativetodelta` and the remote-write exporter.

use std::time::{Duration, Instant};

use foldhash::HashMap;

/// The table is full of live streams: a new one cannot be admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

#[derive(Debug)]
struct Slot<V> {
    value: V,
    last_seen: Instant,
}

/// Streams by key, bounded in number and forgotten when idle.
#[derive(Debug)]
pub struct StreamTable<V> {
    map: HashMap<u64, Slot<V>>,
    max_streams: usize,
    /// Zero: streams never go stale.
    max_stale: Duration,
    last_sweep: Option<Instant>,
}

impl<V> StreamTable<V> {
    /// `max_streams` 0 means unlimited; `max_stale` zero means streams never expire.
    pub fn new(max_streams: usize, max_stale: Duration) -> Self {
        Self {
            map: HashMap::default(),
            max_streams: if max_streams == 0 {
                usize::MAX
            } else {
                max_streams
            },
            max_stale,
            last_sweep: None,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn max_stale(&self) -> Duration {
        self.max_stale
    }

    /// The stream's value, marking it seen at `now`; a new stream is made with `make`.
    /// The `bool` is true when the stream is new.
    pub fn entry(
        &mut self,
        key: u64,
        now: Instant,
        make: impl FnOnce() -> V,
    ) -> Result<(&mut V, bool), Full> {
        if !self.map.contains_key(&key) && self.map.len() >= self.max_streams {
            self.sweep(now, true, |_, _| {});
            if self.map.len() >= self.max_streams {
                return Err(Full);
            }
        }
        let mut new = false;
        let slot = self.map.entry(key).or_insert_with(|| {
            new = true;
            Slot {
                value: make(),
                last_seen: now,
            }
        });
        slot.last_seen = now;
        Ok((&mut slot.value, new))
    }

    /// The stream's value without marking it seen.
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.map.get_mut(&key).map(|s| &mut s.value)
    }

    pub fn remove(&mut self, key: u64) -> Option<V> {
        self.map.remove(&key).map(|s| s.value)
    }

    /// Forgets streams idle for `max_stale` or longer, handing each to `gone`. Runs at
    /// most every `max_stale / 4` unless `force`.
    pub fn sweep(&mut self, now: Instant, force: bool, mut gone: impl FnMut(u64, V)) {
        if self.max_stale.is_zero() {
            return;
        }
        let due = self
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= self.max_stale / 4);
        if !(due || force) {
            return;
        }
        self.last_sweep = Some(now);
        let max_stale = self.max_stale;
        let stale: Vec<u64> = self
            .map
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_seen) >= max_stale)
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            if let Some(slot) = self.map.remove(&key) {
                gone(key, slot.value);
            }
        }
    }

    /// Takes every stream out, in no particular order.
    pub fn drain(&mut self) -> impl Iterator<Item = (u64, V)> + '_ {
        self.map.drain().map(|(k, s)| (k, s.value))
    }

    /// Every stream, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut V)> + '_ {
        self.map.iter_mut().map(|(k, s)| (*k, &mut s.value))
    }

    /// Every stream with the time it was last seen.
    pub fn iter_seen(&self) -> impl Iterator<Item = (u64, &V, Instant)> + '_ {
        self.map.iter().map(|(k, s)| (*k, &s.value, s.last_seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_full_of_live_streams_and_forgets_idle_ones() {
        let mut t = StreamTable::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(t.entry(1, t0, || 1).is_ok());
        assert!(t.entry(2, t0, || 2).is_ok());
        assert_eq!(t.entry(3, t0, || 3).err(), Some(Full));
        // An existing stream is always found.
        assert_eq!(
            t.entry(1, t0, || 9).map(|(v, new)| (*v, new)),
            Ok((1, false))
        );
        let later = t0 + Duration::from_secs(61);
        let mut gone = Vec::new();
        t.sweep(later, true, |k, v| gone.push((k, v)));
        gone.sort_unstable();
        assert_eq!(gone, vec![(1, 1), (2, 2)]);
        assert!(t.entry(3, later, || 3).is_ok());
    }

    #[test]
    fn zero_limits_mean_unbounded_and_never_stale() {
        let mut t = StreamTable::new(0, Duration::ZERO);
        let t0 = Instant::now();
        for k in 0..100 {
            assert!(t.entry(k, t0, || k).is_ok());
        }
        t.sweep(t0 + Duration::from_secs(1_000_000), true, |_, _| {});
        assert_eq!(t.len(), 100);
    }
}
