//! The `cumulativetodelta` processor (the Collector contrib's): monotonic cumulative sums
//! and cumulative explicit-bucket histograms become delta, each point minus its stream's
//! previous one.
//!
//! The previous points are `weir_streams::CumulativeToDelta`, the state `aggregation`
//! uses for its counter outputs: a value that went down or a later start time is a reset
//! (the new value is the delta), the first point of a stream follows `initial_value`
//! (`auto`: kept only when the series started after Weir did; `keep`; `drop`), a point
//! not newer than the previous one is dropped (`out_of_order`). Streams are forgotten
//! after `max_staleness` without a point (0: never). Non-monotonic sums and exponential
//! histograms pass through, as in the Collector. `include`/`exclude` select metrics by
//! name (`match_type: strict` or `regexp`) and optionally by `metric_types`.

use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;
use weir_api::batch::view::{NumberValue, Temporality};
use weir_api::batch::PointView;
use weir_api::config::problem;
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::{Batch, ComponentProblem, Processor, Signal};
use weir_streams::{CumulativeToDelta, ExplicitHistogram, Initial, NotEmitted};

use crate::emit::{
    histogram_point, number_point, owned_attributes, stream_key, Descriptor, Emitter, Interner,
    Kind, Stamp,
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    #[default]
    Strict,
    Regexp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricTypeName {
    Sum,
    Histogram,
}

/// `include` / `exclude`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    pub metrics: Vec<String>,
    pub match_type: Option<MatchType>,
    pub metric_types: Vec<MetricTypeName>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialValue {
    #[default]
    Auto,
    Keep,
    Drop,
}

/// The `cumulativetodelta` section.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CumulativeToDeltaConfig {
    pub include: MatchConfig,
    pub exclude: MatchConfig,
    #[serde(with = "weir_api::duration")]
    pub max_staleness: Duration,
    pub initial_value: InitialValue,
    /// Weir's bound on the streams held (0: unlimited, as in the Collector).
    pub max_streams: usize,
}

impl MatchConfig {
    fn problems(&self, key: &str, out: &mut Vec<ComponentProblem>) {
        if !self.metrics.is_empty() && self.match_type.is_none() {
            out.push(problem(
                &[key, "match_type"],
                "match_type must be set (strict or regexp) when metrics are listed",
            ));
        }
        if self.match_type == Some(MatchType::Regexp) {
            for (i, m) in self.metrics.iter().enumerate() {
                if let Err(e) = Regex::new(m) {
                    let index = i.to_string();
                    out.push(problem(
                        &[key, "metrics", &index],
                        format!("invalid regular expression: {e}"),
                    ));
                }
            }
        }
    }
}

impl weir_api::config::Validate for CumulativeToDeltaConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut out = Vec::new();
        self.include.problems("include", &mut out);
        self.exclude.problems("exclude", &mut out);
        out
    }
}

/// A compiled `include` or `exclude`.
#[derive(Debug)]
struct Matcher {
    strict: Vec<String>,
    regexes: Vec<Regex>,
    types: Vec<MetricTypeName>,
}

impl Matcher {
    fn new(c: &MatchConfig) -> Self {
        let regexp = c.match_type == Some(MatchType::Regexp);
        Self {
            strict: if regexp {
                Vec::new()
            } else {
                c.metrics.clone()
            },
            regexes: if regexp {
                c.metrics
                    .iter()
                    .filter_map(|m| Regex::new(m).ok())
                    .collect()
            } else {
                Vec::new()
            },
            types: c.metric_types.clone(),
        }
    }

    fn names_configured(&self) -> bool {
        !self.strict.is_empty() || !self.regexes.is_empty()
    }

    fn is_empty(&self) -> bool {
        !self.names_configured() && self.types.is_empty()
    }

    fn matches(&self, name: &str, kind: MetricTypeName) -> bool {
        let name_ok = !self.names_configured()
            || self.strict.iter().any(|s| s == name)
            || self.regexes.iter().any(|r| r.is_match(name));
        let type_ok = self.types.is_empty() || self.types.contains(&kind);
        name_ok && type_ok
    }
}

/// One `cumulativetodelta` instance.
pub struct CumulativeToDeltaProcessor {
    include: Matcher,
    exclude: Matcher,
    state: CumulativeToDelta,
    interner: Interner,
    dropped: [Counter; 3],
}

impl CumulativeToDeltaProcessor {
    pub fn new(config: &CumulativeToDeltaConfig, telemetry: &Telemetry, id: &str) -> Self {
        let initial = match config.initial_value {
            InitialValue::Auto => Initial::Auto,
            InitialValue::Keep => Initial::Keep,
            InitialValue::Drop => Initial::Drop,
        };
        let dropped = [
            NotEmitted::First,
            NotEmitted::OutOfOrder,
            NotEmitted::StreamsLimit,
        ]
        .map(|r| telemetry.dropped(id, Signal::Metrics, r.reason()));
        Self {
            include: Matcher::new(&config.include),
            exclude: Matcher::new(&config.exclude),
            state: CumulativeToDelta::new(config.max_streams, config.max_staleness, initial),
            interner: Interner::default(),
            dropped,
        }
    }

    fn selected(&self, name: &str, kind: MetricTypeName) -> bool {
        (self.include.is_empty() || self.include.matches(name, kind))
            && (self.exclude.is_empty() || !self.exclude.matches(name, kind))
    }
}

impl Processor for CumulativeToDeltaProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        let now = Instant::now();
        self.state.sweep(now, false);
        let mut emitter = Emitter::new();
        let mut dropped = [0u64; 3];
        let mut state = std::mem::replace(
            &mut self.state,
            CumulativeToDelta::new(1, Duration::ZERO, Initial::Drop),
        );
        let mut interner = std::mem::take(&mut self.interner);
        batch.retain_data_points(|resource, scope, metric, point| {
            let kind = match Kind::of(&metric) {
                Some(Kind::Sum {
                    temporality: Temporality::Cumulative,
                    monotonic: true,
                }) => MetricTypeName::Sum,
                Some(Kind::Histogram(Temporality::Cumulative)) => MetricTypeName::Histogram,
                _ => return true,
            };
            let stamp = Stamp::of(&point);
            if stamp.flags & 1 != 0 || !self.selected(metric.name(), kind) {
                return true;
            }
            let Some(metric_kind) = Kind::of(&metric) else {
                return true;
            };
            let origin = interner.origin(resource, scope);
            let descriptor = Descriptor::of(&metric, metric_kind);
            let key = stream_key(origin.key, descriptor.key(), point.attributes());
            let out_descriptor = interner.descriptor(Descriptor::of(
                &metric,
                metric_kind.with_temporality(Temporality::Delta),
            ));
            let attrs = || owned_attributes(point.attributes());
            let at = |start| Stamp {
                start,
                time: stamp.time,
                flags: 0,
            };
            let converted = match &point {
                PointView::Number(p) => {
                    let value = p.value();
                    state
                        .add_number(key, stamp.start, stamp.time, value.as_f64(), true, now)
                        .map(|d| {
                            let v = match value {
                                NumberValue::Int(_) => NumberValue::Int(d.value as i64),
                                _ => NumberValue::Double(d.value),
                            };
                            number_point(v, attrs(), at(d.start))
                        })
                }
                PointView::Histogram(p) => state
                    .add_histogram(
                        key,
                        stamp.start,
                        stamp.time,
                        ExplicitHistogram::from_view(p),
                        now,
                    )
                    .map(|d| histogram_point(&d.value, attrs(), at(d.start))),
                _ => return true,
            };
            match converted {
                Ok(point) => emitter.push(origin, out_descriptor, point),
                Err(reason) => {
                    dropped[match reason {
                        NotEmitted::First => 0,
                        NotEmitted::OutOfOrder => 1,
                        NotEmitted::StreamsLimit => 2,
                    }] += 1;
                }
            }
            false
        });
        interner.clear();
        self.state = state;
        self.interner = interner;
        for (counter, n) in self.dropped.iter().zip(dropped) {
            counter.inc_by(n);
        }
        if !batch.is_empty() {
            out.push(batch);
        }
        out.extend(emitter.build());
    }
}
