//! A class at run time: its compiled condition, its counters, and the sampler that
//! keeps its floor.
//!
//! Sampling is deterministic so that shadow mode and enforcement make the same
//! decisions on the same input:
//! - spans by their trace id (the low 56 bits, the W3C random part), so every span of a
//!   trace gets the same answer at a given keep fraction;
//! - log records (and spans without a trace id) by a running credit that keeps exactly
//!   `keep` of every million items;
//! - data points by a hash of the point (metric name, timestamps, attributes): a pure
//!   function of the point, because `Batch::retain_data_points` may ask about a point
//!   of a wire resource twice (once while scanning the bytes, again on the decoded
//!   resource), so a decision there must not depend on how often it was asked.

use weir_api::batch::build::is_summary;
use weir_api::batch::view::{Attributes, MetricView};
use weir_api::batch::PointView;
use weir_api::telemetry::names::LOAD_SHEDDER_SHED_ITEMS;
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::Signal;
use weir_ottl::{Condition, Item};

/// Keep fractions are in millionths.
pub const MILLION: u64 = 1_000_000;

/// One class in one pipeline.
pub struct Class {
    pub name: String,
    /// `None`: the class does not apply to this pipeline's signal.
    pub condition: Option<Condition>,
    /// `keep_floor_percent` as a fraction (0..1), if set.
    pub floor: Option<f64>,
    /// What is kept while the class is shed, in millionths (0: shed everything).
    pub keep: u64,
    credit: u64,
    counters: Option<Counters>,
}

/// A class's counters, registered only when it applies to the pipeline's signal.
struct Counters {
    /// `weir_items_dropped_total{reason="shed_<class>"}` or, in shadow mode,
    /// `weir_shadow_would_drop_total{reason="shed_<class>"}`.
    dropped: Counter,
    /// `weir_load_shedder_shed_items_total{class}` (both modes).
    shed: Counter,
}

impl Class {
    pub fn new(
        name: &str,
        condition: Option<Condition>,
        floor_percent: Option<f64>,
        telemetry: &Telemetry,
        id: &str,
        signal: Signal,
        shadow: bool,
    ) -> Self {
        let counters = condition.as_ref().map(|_| {
            let reason = format!("shed_{name}");
            Counters {
                dropped: if shadow {
                    telemetry.shadow(id, signal, &reason)
                } else {
                    telemetry.dropped(id, signal, &reason)
                },
                shed: telemetry.counter_of(&LOAD_SHEDDER_SHED_ITEMS, &[id, signal.as_str(), name]),
            }
        });
        Self {
            name: name.to_string(),
            condition,
            floor: floor_percent.map(|f| f / 100.0),
            keep: 0,
            credit: 0,
            counters,
        }
    }

    /// Sets what is kept while shed, from how far pressure is into the class's band
    /// (0..=1): the whole class is kept at 0 and only the floor at 1. A class without a
    /// floor is shed whole.
    pub fn set_progress(&mut self, progress: f64) {
        self.keep = match self.floor {
            None => 0,
            Some(floor) => {
                let keep = 1.0 - (1.0 - floor) * progress.clamp(0.0, 1.0);
                (keep * MILLION as f64).round() as u64
            }
        };
    }

    /// Whether a matching item is kept by the sampler.
    fn sample(&mut self, rnd: &Randomness<'_>) -> bool {
        if self.keep == 0 {
            return false;
        }
        if self.keep >= MILLION {
            return true;
        }
        let bound = (u128::from(self.keep) << 56) / u128::from(MILLION);
        match rnd {
            Randomness::TraceId(id) if id.len() == 16 && id.iter().any(|&b| b != 0) => {
                let mut low = [0u8; 8];
                low[1..].copy_from_slice(&id[9..]);
                return u128::from(u64::from_be_bytes(low)) < bound;
            }
            Randomness::Point(metric, point) => {
                return u128::from(point_hash(*metric, *point) >> 8) < bound;
            }
            _ => {}
        }
        self.credit += self.keep;
        if self.credit >= MILLION {
            self.credit -= MILLION;
            true
        } else {
            false
        }
    }

    /// Counts `n` items shed (or, in shadow mode, that would have been).
    pub fn count(&self, n: u64) {
        if let Some(counters) = &self.counters {
            counters.dropped.inc_by(n);
            counters.shed.inc_by(n);
        }
    }
}

/// Where a floor class's sampler takes its randomness from.
pub enum Randomness<'a> {
    /// A span's trace id (a running count when it has none).
    TraceId(&'a [u8]),
    /// A running count (log records).
    Counter,
    /// A hash of the point (pure: see the module docs).
    Point(MetricView<'a>, PointView<'a>),
}

/// FNV-1a over the point's metric name, timestamps and attributes, finished with a
/// splitmix64 step so the high bits are spread.
fn point_hash(metric: MetricView<'_>, point: PointView<'_>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    eat(metric.name().as_bytes());
    eat(&point.start_time_unix_nano().to_le_bytes());
    eat(&point.time_unix_nano().to_le_bytes());
    for (key, value) in point.attributes().iter() {
        eat(key.as_bytes());
        eat(weir_api::attributes::value_json_text(value).as_bytes());
    }
    let mut z = hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which of `classes` (the ones shed now) sheds this item, if any. The item belongs to
/// the first class whose condition it matches; a failing condition does not match;
/// Weir's summaries are never shed.
pub fn decide(
    classes: &mut [Class],
    item: &Item<'_>,
    attributes: Attributes<'_>,
    rnd: Randomness<'_>,
) -> Option<usize> {
    for (index, class) in classes.iter_mut().enumerate() {
        let Some(condition) = &class.condition else {
            continue;
        };
        if !matches!(condition.evaluate(item), Ok(true)) {
            continue;
        }
        if is_summary(attributes) {
            return None;
        }
        return (!class.sample(&rnd)).then_some(index);
    }
    None
}
