//! The processor: one walk over a batch's data points judges each against its metric's
//! record and removes attributes where the action says so; a second walk, only when some
//! point must go, drops those points (metrics, scopes and resources left empty go too).

use std::time::{Duration, Instant};

use foldhash::HashMap;
use weir_api::batch::edit::AttrOp;
use weir_api::telemetry::names::{CARDINALITY_LIMITED_POINTS, CARDINALITY_TRACKED_METRICS};
use weir_api::telemetry::{Counter, Gauge, Telemetry};
use weir_api::{Batch, Processor, Signal};

use crate::config::{Action, Config};
use crate::limiter::{attribute_hash, set_hash, MetricRecord};

/// Drop reason of points over the limit (`weir_items_dropped_total`).
pub const CARDINALITY_LIMIT: &str = "cardinality_limit";
/// The self-metric's `metric` value for names beyond `max_reported_metrics`.
pub const OTHER_METRICS: &str = "_other";

/// What to do with one point.
enum Decision {
    Keep,
    Strip(Vec<String>),
    Drop,
}

pub struct CardinalityLimiter {
    id: String,
    telemetry: Telemetry,
    config: Config,
    records: HashMap<String, MetricRecord>,
    window_start: Instant,
    dropped: Counter,
    tracked: Gauge,
    /// `[drop_attributes, drop_point]` counters per reported metric name.
    limited: HashMap<String, [Counter; 2]>,
    logged_untracked: bool,
}

impl CardinalityLimiter {
    pub fn new(id: &str, config: Config, telemetry: &Telemetry) -> Self {
        Self {
            id: id.to_string(),
            telemetry: telemetry.clone(),
            dropped: telemetry.dropped(id, Signal::Metrics, CARDINALITY_LIMIT),
            tracked: telemetry.gauge_of(&CARDINALITY_TRACKED_METRICS, &[id]),
            config,
            records: HashMap::default(),
            window_start: Instant::now(),
            limited: HashMap::default(),
            logged_untracked: false,
        }
    }

    /// Counts a limited point under its metric name (bounded) and action.
    fn count_limited(&mut self, metric: &str, action: Action) {
        let reported = self.limited.len() < self.config.max_reported_metrics
            || self.limited.contains_key(metric);
        let name = if reported { metric } else { OTHER_METRICS };
        let counters = match self.limited.get(name) {
            Some(counters) => counters,
            None => {
                let of = |action: &str| {
                    self.telemetry
                        .counter_of(&CARDINALITY_LIMITED_POINTS, &[&self.id, name, action])
                };
                let counters = [
                    of(Action::DropAttributes.as_str()),
                    of(Action::DropPoint.as_str()),
                ];
                self.limited.entry(name.to_string()).or_insert(counters)
            }
        };
        counters[usize::from(action == Action::DropPoint)].inc();
    }

    fn roll_window(&mut self, now: Instant) {
        let window = self.config.window;
        if window > Duration::ZERO && now.saturating_duration_since(self.window_start) >= window {
            self.records.clear();
            self.window_start = now;
        }
    }
}

impl Processor for CardinalityLimiter {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        if batch.signal() != Signal::Metrics {
            out.push(batch);
            return;
        }
        self.roll_window(Instant::now());
        let max_series = self.config.max_series;
        let find_offending =
            self.config.action == Action::DropAttributes && self.config.attributes.is_empty();
        let mut drops: Vec<usize> = Vec::new();
        let mut limited: Vec<(String, Action)> = Vec::new();
        let mut index = 0usize;
        let mut untracked = false;
        let config = &self.config;
        let records = &mut self.records;
        batch.edit_metrics(|edit| {
            let metric = edit.metric();
            let name = metric.name();
            if !records.contains_key(name) && records.len() < config.max_metrics {
                records.insert(name.to_string(), MetricRecord::default());
            }
            let Some(record) = records.get_mut(name) else {
                // Beyond `max_metrics`: passed on unlimited.
                untracked = true;
                index += metric.point_count();
                return true;
            };
            let resource_hash = set_hash(edit.resource().attributes());
            let points: Vec<_> = metric.points().collect();
            for (i, point) in points.into_iter().enumerate() {
                let attributes = point.attributes();
                if find_offending {
                    record.note_values(attributes);
                }
                let hash = resource_hash.wrapping_add(set_hash(attributes));
                let decision = if record.admit(hash, max_series) {
                    Decision::Keep
                } else if config.action == Action::DropPoint {
                    Decision::Drop
                } else {
                    let strip: Vec<String> = if config.attributes.is_empty() {
                        record
                            .offending(attributes)
                            .map(str::to_string)
                            .into_iter()
                            .collect()
                    } else {
                        config
                            .attributes
                            .iter()
                            .filter(|key| attributes.get(key).is_some())
                            .cloned()
                            .collect()
                    };
                    let reduced = strip.iter().fold(hash, |h, key| {
                        attributes
                            .get(key)
                            .map_or(h, |value| h.wrapping_sub(attribute_hash(key, value)))
                    });
                    if !strip.is_empty() && record.admit(reduced, max_series) {
                        Decision::Strip(strip)
                    } else {
                        Decision::Drop
                    }
                };
                match decision {
                    Decision::Keep => {}
                    Decision::Strip(keys) => {
                        for key in keys {
                            edit.point_attribute(i, AttrOp::Delete(key));
                        }
                        limited.push((name.to_string(), Action::DropAttributes));
                    }
                    Decision::Drop => {
                        drops.push(index);
                        limited.push((name.to_string(), Action::DropPoint));
                    }
                }
                index += 1;
            }
            true
        });
        if !drops.is_empty() {
            let mut at = 0usize;
            let mut refused = drops.iter().peekable();
            batch.retain_data_points(|_, _, _, _| {
                let this = at;
                at += 1;
                refused.next_if(|i| **i == this).is_none()
            });
            self.dropped.inc_by(drops.len() as u64);
        }
        for (name, action) in limited {
            self.count_limited(&name, action);
        }
        if untracked && !self.logged_untracked {
            self.logged_untracked = true;
            tracing::warn!(processor = %self.id, max_metrics = self.config.max_metrics,
                "more metric names than max_metrics in this window: points of the others are not limited");
        }
        self.tracked.set(self.records.len() as i64);
        if !batch.is_empty() {
            out.push(batch);
        }
    }
}
