//! The `deltatocumulative` processor (the Collector contrib's): delta sums, histograms
//! and exponential histograms become cumulative, one running total per stream.
//!
//! The running totals are `weir_streams::DeltaToCumulative`, the same state the
//! remote-write exporter uses: at most `max_streams` streams, each forgotten `max_stale`
//! after its last point (a stream that comes back starts over, which a backend reads as
//! a counter reset). Late points that do not overlap counted time are still added; a
//! point overlapping counted time is dropped (`delta_out_of_order`), as is a new stream
//! when the table is full (`streams_limit`). Points without a value (flag 1) and every
//! other kind of point pass through unchanged.

use std::time::{Duration, Instant};

use serde::Deserialize;
use weir_api::batch::view::{NumberValue, Temporality};
use weir_api::batch::PointView;
use weir_api::config::problem;
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::{Batch, ComponentProblem, Processor, Signal};
use weir_streams::cumulative::Refused;
use weir_streams::{DeltaToCumulative, ExplicitHistogram, ExponentialHistogram};

use crate::emit::{
    exponential_point, histogram_point, number_point, owned_attributes, stream_key, Descriptor,
    Emitter, Interner, Kind, Stamp,
};

/// The `deltatocumulative` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeltaToCumulativeConfig {
    /// A stream without a point for this long is forgotten.
    #[serde(with = "weir_api::duration")]
    pub max_stale: Duration,
    /// At most this many streams (0: unlimited, the Collector's default).
    pub max_streams: usize,
}

impl Default for DeltaToCumulativeConfig {
    fn default() -> Self {
        Self {
            max_stale: Duration::from_secs(300),
            max_streams: 0,
        }
    }
}

impl weir_api::config::Validate for DeltaToCumulativeConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        if self.max_stale.is_zero() {
            return vec![problem(
                &["max_stale"],
                "max_stale must be greater than 0: streams would never be forgotten",
            )];
        }
        Vec::new()
    }
}

/// Drop reasons.
pub const OUT_OF_ORDER: &str = "delta_out_of_order";
pub const STREAMS_LIMIT: &str = "streams_limit";

/// One `deltatocumulative` instance.
pub struct DeltaToCumulativeProcessor {
    state: DeltaToCumulative,
    interner: Interner,
    out_of_order: Counter,
    streams_limit: Counter,
}

impl DeltaToCumulativeProcessor {
    pub fn new(config: &DeltaToCumulativeConfig, telemetry: &Telemetry, id: &str) -> Self {
        Self {
            state: DeltaToCumulative::new(config.max_streams, config.max_stale),
            interner: Interner::default(),
            out_of_order: telemetry.dropped(id, Signal::Metrics, OUT_OF_ORDER),
            streams_limit: telemetry.dropped(id, Signal::Metrics, STREAMS_LIMIT),
        }
    }

    pub fn streams(&self) -> usize {
        self.state.len()
    }
}

impl Processor for DeltaToCumulativeProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        let now = Instant::now();
        self.state.sweep(now, false);
        let mut emitter = Emitter::new();
        let (mut late, mut full) = (0u64, 0u64);
        let state = &mut self.state;
        let interner = &mut self.interner;
        batch.retain_data_points(|resource, scope, metric, point| {
            let Some(kind) = Kind::of(&metric) else {
                return true;
            };
            let delta = matches!(
                kind,
                Kind::Sum {
                    temporality: Temporality::Delta,
                    ..
                } | Kind::Histogram(Temporality::Delta)
                    | Kind::Exponential(Temporality::Delta)
            );
            let stamp = Stamp::of(&point);
            if !delta || stamp.flags & 1 != 0 {
                return true;
            }
            let origin = interner.origin(resource, scope);
            let descriptor = Descriptor::of(&metric, kind);
            let key = stream_key(origin.key, descriptor.key(), point.attributes());
            let out_descriptor = interner.descriptor(Descriptor::of(
                &metric,
                kind.with_temporality(Temporality::Cumulative),
            ));
            let attrs = || owned_attributes(point.attributes());
            let at = |start, time| Stamp {
                start,
                time,
                flags: 0,
            };
            let converted = match &point {
                PointView::Number(p) => {
                    let value = p.value();
                    state
                        .add_number(key, stamp.start, stamp.time, value.as_f64(), now)
                        .map(|(start, time, total)| {
                            let total = match value {
                                NumberValue::Int(_) => NumberValue::Int(total as i64),
                                _ => NumberValue::Double(total),
                            };
                            number_point(total, attrs(), at(start, time))
                        })
                }
                PointView::Histogram(p) => state
                    .add_histogram(
                        key,
                        stamp.start,
                        stamp.time,
                        &ExplicitHistogram::from_view(p),
                        now,
                    )
                    .map(|c| histogram_point(c.total, attrs(), at(c.start, c.time))),
                PointView::ExponentialHistogram(p) => state
                    .add_exponential(
                        key,
                        stamp.start,
                        stamp.time,
                        &ExponentialHistogram::from_view(p),
                        now,
                    )
                    .map(|c| exponential_point(c.total, attrs(), at(c.start, c.time))),
                PointView::Summary(_) => return true,
            };
            match converted {
                Ok(point) => emitter.push(origin, out_descriptor, point),
                Err(Refused::OutOfOrder) => late += 1,
                Err(Refused::StreamsLimit) => full += 1,
            }
            false
        });
        self.out_of_order.inc_by(late);
        self.streams_limit.inc_by(full);
        self.interner.clear();
        if !batch.is_empty() {
            out.push(batch);
        }
        out.extend(emitter.build());
    }
}
