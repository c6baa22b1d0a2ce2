//! The `interval` processor (the Collector contrib's): holds cumulative points and emits,
//! once per `interval`, the last point of each series seen in it.
//!
//! Aggregated: cumulative sums, cumulative histograms and exponential histograms, and
//! gauges and summaries unless `pass_through.gauge` / `pass_through.summary` is set.
//! Delta points (whose values cannot be replaced by a later one) pass straight through.
//! A point superseded by a newer point of the same series is dropped and counted
//! (`interval_superseded`); a series not seen in an interval emits nothing for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use weir_api::batch::view::Temporality;
use weir_api::config::problem;
use weir_api::telemetry::Counter;
use weir_api::{Batch, ComponentProblem, Processor};
use weir_streams::StreamTable;

use crate::emit::{copy_point, stream_key, Descriptor, Emitter, Interner, Kind, Origin, Point};
use crate::ticker::Ticker;

/// Kinds passed through instead of aggregated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassThrough {
    pub gauge: bool,
    pub summary: bool,
}

/// The `interval` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntervalConfig {
    #[serde(with = "weir_api::duration")]
    pub interval: Duration,
    pub pass_through: PassThrough,
}

impl Default for IntervalConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            pass_through: PassThrough::default(),
        }
    }
}

impl weir_api::config::Validate for IntervalConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        if self.interval.is_zero() {
            return vec![problem(&["interval"], "interval must be greater than 0")];
        }
        Vec::new()
    }
}

/// Drop reason of a point replaced by a newer one of its series within an interval.
pub const SUPERSEDED: &str = "interval_superseded";

struct Held {
    origin: Arc<Origin>,
    descriptor: Arc<Descriptor>,
    time: u64,
    point: Point,
}

/// One `interval` instance.
pub struct IntervalProcessor {
    config: IntervalConfig,
    held: StreamTable<Held>,
    interner: Interner,
    ticker: Ticker,
    superseded: Counter,
}

impl IntervalProcessor {
    pub fn new(config: IntervalConfig, superseded: Counter, now: Instant) -> Self {
        Self {
            ticker: Ticker::new(config.interval, now),
            config,
            held: StreamTable::new(0, Duration::ZERO),
            interner: Interner::default(),
            superseded,
        }
    }

    fn aggregates(&self, kind: Kind) -> bool {
        match kind {
            Kind::Gauge => !self.config.pass_through.gauge,
            Kind::Summary => !self.config.pass_through.summary,
            Kind::Sum { temporality, .. }
            | Kind::Histogram(temporality)
            | Kind::Exponential(temporality) => temporality == Temporality::Cumulative,
        }
    }

    fn emit(&mut self, out: &mut Vec<Batch>) {
        let mut emitter = Emitter::new();
        let mut held: Vec<Held> = self.held.drain().map(|(_, h)| h).collect();
        // Stable output order: by series origin, metric, then time.
        held.sort_by_key(|h| (h.origin.key, h.descriptor.key(), h.time));
        for h in held {
            emitter.push(h.origin, h.descriptor, h.point);
        }
        self.interner.clear();
        out.extend(emitter.build());
    }
}

impl Processor for IntervalProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        let now = Instant::now();
        let mut superseded = 0u64;
        batch.retain_data_points(|resource, scope, metric, point| {
            let Some(kind) = Kind::of(&metric) else {
                return true;
            };
            if !self.aggregates(kind) {
                return true;
            }
            let origin = self.interner.origin(resource, scope);
            let descriptor = self.interner.descriptor(Descriptor::of(&metric, kind));
            let key = stream_key(origin.key, descriptor.key(), point.attributes());
            let time = point.time_unix_nano();
            let fresh = || Held {
                origin: origin.clone(),
                descriptor: descriptor.clone(),
                time,
                point: copy_point(&point),
            };
            if let Ok((held, new)) = self.held.entry(key, now, fresh) {
                if !new {
                    superseded += 1;
                    if time >= held.time {
                        held.time = time;
                        held.point = copy_point(&point);
                    }
                }
            }
            false
        });
        self.superseded.inc_by(superseded);
        if !batch.is_empty() {
            out.push(batch);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        Some(self.ticker.next())
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch>) {
        if self.ticker.due(now) {
            self.emit(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Batch>) {
        self.emit(out);
    }

    fn held_items(&self) -> usize {
        self.held.len()
    }
}
