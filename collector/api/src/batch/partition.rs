//! Cutting a batch into groups of items, one batch per group: what a component does to
//! send items to different places by a key (the `loadbalancing` exporter's backends, the
//! `kafka` exporter's message keys).
//!
//! The caller reads each item's group through the views, in walk order (resource, scope,
//! item; data points for metrics), and hands the groups over as one slice; the cuts
//! replay it with the `retain_*` walks, which visit items in the same order. A batch
//! whose items are all in one group comes back as it is, without a copy.

use super::Batch;
use crate::Signal;

impl Batch {
    /// One batch per group, in order of each group's first item. `groups[i]` is the
    /// group of the `i`-th item in walk order (spans, log records, or data points); give
    /// one entry per item (an item without one is kept in no part). Each group costs one
    /// walk of the batch: meant for a few dozen groups, not one per item.
    pub fn partition_by(self, groups: &[u32]) -> Vec<(u32, Batch)> {
        let Some(&first) = groups.first() else {
            return Vec::new();
        };
        if groups.iter().all(|&group| group == first) {
            return vec![(first, self)];
        }
        let mut order: Vec<u32> = Vec::new();
        for &group in groups {
            if !order.contains(&group) {
                order.push(group);
            }
        }
        let mut parts = Vec::with_capacity(order.len());
        for group in order {
            let mut part = self.clone();
            let mut next = 0usize;
            let mut mine = || {
                let keep = groups.get(next) == Some(&group);
                next += 1;
                keep
            };
            match part.signal() {
                Signal::Traces => part.retain_spans(|_, _, _| mine()),
                Signal::Logs => part.retain_log_records(|_, _, _| mine()),
                Signal::Metrics => part.retain_data_points(|_, _, _, _| mine()),
            }
            if !part.is_empty() {
                parts.push((group, part));
            }
        }
        parts
    }
}
