//! The processor: walks spans or log records, keeps the sampled ones, removes emptied
//! scopes and resources, and counts every item it drops.

use weir_api::batch::build::is_summary;
use weir_api::batch::edit::{LogRecordEdit, SpanEdit};
use weir_api::batch::view::{Attributes, ValueRef};
use weir_api::telemetry::names::{
    PROBABILISTIC_SAMPLER_COUNT_LOGS_SAMPLED, PROBABILISTIC_SAMPLER_COUNT_SPANS_PROCESSED,
    PROBABILISTIC_SAMPLER_COUNT_TRACES_SAMPLED,
};
use weir_api::telemetry::{Counter, CounterDef, Telemetry};
use weir_api::{Batch, Processor, Signal};

use crate::config::SamplerConfig;
use crate::sampler::{Carried, Decision, Policy, Rnd, SampleError, Sampler};
use crate::threshold::{Randomness, Threshold};
use crate::tracestate::W3cTraceState;

/// Log attribute carrying the OTEP 235 randomness of a record.
pub const RANDOMNESS_ATTRIBUTE: &str = "sampling.randomness";
/// Log attribute carrying the OTEP 235 threshold of a record.
pub const THRESHOLD_ATTRIBUTE: &str = "sampling.threshold";
/// The OpenTracing span attribute that forces a decision.
pub const SPAN_PRIORITY_ATTRIBUTE: &str = "sampling.priority";

/// Drop reason for items the probabilistic decision left out.
pub const SAMPLED_OUT: &str = "sampled_out";
/// Drop reason for items without usable randomness under `fail_closed: true`.
pub const FAIL_CLOSED: &str = "fail_closed";

/// Counter handles, fetched once at build.
#[derive(Clone, Debug)]
pub struct SamplerCounters {
    sampled_out: Counter,
    fail_closed: Counter,
    /// Per policy: `[not sampled, sampled]`, for each Collector-named counter.
    by_policy: Vec<[Vec<Counter>; 2]>,
}

impl SamplerCounters {
    pub fn new(telemetry: &Telemetry, id: &str, signal: Signal, config: &SamplerConfig) -> Self {
        let defs: &[&CounterDef] = match signal {
            Signal::Logs => &[&PROBABILISTIC_SAMPLER_COUNT_LOGS_SAMPLED],
            _ => &[
                &PROBABILISTIC_SAMPLER_COUNT_TRACES_SAMPLED,
                &PROBABILISTIC_SAMPLER_COUNT_SPANS_PROCESSED,
            ],
        };
        let by_policy = Policy::ALL
            .iter()
            .map(|policy| {
                let label = match policy {
                    Policy::Attribute if !config.from_attribute.is_empty() => {
                        config.from_attribute.as_str()
                    }
                    _ => policy.label(),
                };
                let counters = |sampled: &str| {
                    defs.iter()
                        .map(|def| telemetry.counter_of(def, &[id, label, sampled]))
                        .collect::<Vec<_>>()
                };
                [counters("false"), counters("true")]
            })
            .collect();
        Self {
            sampled_out: telemetry.dropped(id, signal, SAMPLED_OUT),
            fail_closed: telemetry.dropped(id, signal, FAIL_CLOSED),
            by_policy,
        }
    }

    fn count(&self, decision: &Decision) {
        for counter in &self.by_policy[decision.policy.index()][usize::from(decision.sampled)] {
            counter.inc();
        }
        if !decision.sampled {
            if decision.failed_closed {
                self.fail_closed.inc();
            } else {
                self.sampled_out.inc();
            }
        }
    }
}

/// One `probabilistic_sampler` instance in one pipeline.
pub struct ProbabilisticSampler {
    sampler: Sampler,
    fail_closed: bool,
    precision: u8,
    /// Logs, `hash_seed` mode: whether the trace id is used before `from_attribute`.
    logs_trace_id: bool,
    from_attribute: Option<String>,
    sampling_priority: Option<String>,
    counters: SamplerCounters,
}

impl ProbabilisticSampler {
    pub fn new(config: &SamplerConfig, counters: SamplerCounters) -> Self {
        Self {
            sampler: Sampler::new(config),
            fail_closed: config.fail_closed,
            precision: config.sampling_precision,
            logs_trace_id: config.attribute_source == crate::config::AttributeSource::TraceId,
            from_attribute: (!config.from_attribute.is_empty())
                .then(|| config.from_attribute.clone()),
            sampling_priority: (!config.sampling_priority.is_empty())
                .then(|| config.sampling_priority.clone()),
            counters,
        }
    }

    fn keep_span(&self, edit: &mut SpanEdit<'_>) -> bool {
        let span = edit.span();
        if is_summary(span.attributes()) {
            // Weir's own summaries (e.g. the error rate limiter's) are never sampled.
            return true;
        }
        let parsed = W3cTraceState::parse(span.trace_state());
        let carried = match &parsed {
            Ok(ts) => Ok(Carried {
                randomness: ts.otel.randomness(),
                threshold: ts.otel.threshold(),
                threshold_updated: false,
            }),
            Err(why) => Err(SampleError::Malformed(why.to_string())),
        };
        let extracted = self.sampler.extract(span.trace_id(), carried, None);
        let forced = span_priority(span.attributes());
        let decision = self
            .sampler
            .decide(extracted, self.fail_closed, |rnd, threshold| match forced {
                Some(keep) => (
                    Rnd {
                        policy: Policy::SamplingPriority,
                        ..rnd
                    },
                    if keep {
                        Threshold::ALWAYS
                    } else {
                        Threshold::NEVER
                    },
                ),
                None => (rnd, threshold),
            });
        self.counters.count(&decision);
        if let (Some(state), Ok(mut ts)) = (decision.write_back, parsed) {
            if state.randomness != ts.otel.randomness() {
                ts.otel.set_randomness(state.randomness);
            }
            if state.threshold_updated || state.threshold != ts.otel.threshold() {
                ts.otel.set_threshold(state.threshold);
            }
            edit.set_trace_state(ts.serialize());
        }
        decision.sampled
    }

    fn keep_record(&self, edit: &mut LogRecordEdit<'_>) -> bool {
        let record = edit.record();
        if is_summary(record.attributes()) {
            return true;
        }
        let attributes = record.attributes();
        let carried = log_carried(attributes);
        let arrived = carried.as_ref().ok().copied();
        let (trace_id, attribute): (&[u8], Option<Vec<u8>>) = if self.sampler.is_consistent() {
            (record.trace_id(), None)
        } else {
            let attribute = self
                .from_attribute
                .as_deref()
                .and_then(|key| find(attributes, key))
                .map(value_bytes);
            let trace_id: &[u8] = if self.logs_trace_id {
                record.trace_id()
            } else {
                &[]
            };
            (trace_id, attribute)
        };
        let mut extracted = self
            .sampler
            .extract(trace_id, carried, attribute.as_deref());
        if extracted.rnd.is_missing() {
            // Unlike spans, the Collector does not stamp a record that has no
            // randomness with the all-probabilities `sampling.randomness`.
            if let Some(state) = extracted.carried.as_mut() {
                state.randomness = None;
            }
        }
        let priority = self
            .sampling_priority
            .as_deref()
            .and_then(|key| log_priority(attributes, key, self.precision));
        let decision =
            self.sampler.decide(
                extracted,
                self.fail_closed,
                |rnd, threshold| match priority {
                    Some(forced) => (
                        Rnd {
                            policy: Policy::SamplingPriority,
                            ..rnd
                        },
                        forced,
                    ),
                    None => (rnd, threshold),
                },
            );
        self.counters.count(&decision);
        if let (Some(state), Some(arrived)) = (decision.write_back, arrived) {
            if state.randomness != arrived.randomness {
                if let Some(rv) = state.randomness {
                    edit.attributes().upsert(RANDOMNESS_ATTRIBUTE, rv.rvalue());
                }
            }
            if state.threshold_updated || state.threshold != arrived.threshold {
                match state.threshold {
                    Some(th) => edit.attributes().upsert(THRESHOLD_ATTRIBUTE, th.tvalue()),
                    None => edit.attributes().delete(THRESHOLD_ATTRIBUTE),
                };
            }
        }
        decision.sampled
    }
}

impl Processor for ProbabilisticSampler {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        match batch.signal() {
            Signal::Traces => batch.edit_spans(|span| self.keep_span(span)),
            Signal::Logs => batch.edit_log_records(|record| self.keep_record(record)),
            // The factory refuses metrics pipelines; pass through rather than lose data.
            Signal::Metrics => {}
        }
        if !batch.is_empty() {
            out.push(batch);
        }
    }
}

fn find<'a>(attributes: Attributes<'a>, key: &str) -> Option<ValueRef<'a>> {
    attributes.get(key).filter(|v| !v.is_empty())
}

/// A string attribute's value, if the attribute is a non-empty string.
fn find_str<'a>(attributes: Attributes<'a>, key: &str) -> Option<&'a str> {
    match find(attributes, key) {
        Some(ValueRef::Str(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// The record's `sampling.randomness` / `sampling.threshold` attributes.
fn log_carried(attributes: Attributes<'_>) -> Result<Carried, SampleError> {
    let mut carried = Carried::default();
    if let Some(text) = find_str(attributes, THRESHOLD_ATTRIBUTE) {
        carried.threshold = Some(Threshold::parse_tvalue(text).ok_or_else(|| {
            SampleError::Malformed(format!(
                "{THRESHOLD_ATTRIBUTE} `{text}` is not 1-14 hex digits"
            ))
        })?);
    }
    if let Some(text) = find_str(attributes, RANDOMNESS_ATTRIBUTE) {
        carried.randomness = Some(Randomness::parse_rvalue(text).ok_or_else(|| {
            SampleError::Malformed(format!(
                "{RANDOMNESS_ATTRIBUTE} `{text}` is not 14 hex digits"
            ))
        })?);
    }
    Ok(carried)
}

/// The bytes hashed for `from_attribute`: raw bytes, or the value as a string (the
/// Collector's `pcommon.Value.AsString`).
fn value_bytes(value: ValueRef<'_>) -> Vec<u8> {
    match value {
        ValueRef::Bytes(bytes) => bytes.to_vec(),
        ValueRef::Str(s) => s.as_bytes().to_vec(),
        ValueRef::Bool(b) => b.to_string().into_bytes(),
        ValueRef::Int(i) => i.to_string().into_bytes(),
        ValueRef::Double(d) => format_double(d).into_bytes(),
        // Arrays and maps as compact JSON, as `AsString` renders them.
        other => weir_api::attributes::value_json_text(other).into_bytes(),
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
fn format_double(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

/// OpenTracing's `sampling.priority` on a span: 0 drops, above 0 keeps, otherwise
/// (absent, negative, not a number) the sampler decides.
fn span_priority(attributes: Attributes<'_>) -> Option<bool> {
    let value = match find(attributes, SPAN_PRIORITY_ATTRIBUTE)? {
        ValueRef::Int(i) => i as f64,
        ValueRef::Double(d) => d,
        ValueRef::Str(s) => s.parse::<f64>().ok()?,
        _ => return None,
    };
    if value == 0.0 {
        Some(false)
    } else if value > 0.0 {
        Some(true)
    } else {
        None
    }
}

/// A log record's `sampling_priority` attribute: a percentage (int or double) that
/// replaces the configured one for this record. 0 or an out-of-range value is ignored,
/// as in the Collector.
fn log_priority(attributes: Attributes<'_>, key: &str, precision: u8) -> Option<Threshold> {
    let percent = match find(attributes, key)? {
        ValueRef::Int(i) => i as f64,
        ValueRef::Double(d) => d,
        _ => return None,
    };
    let probability = percent / 100.0;
    if probability == 0.0 {
        return None;
    }
    Threshold::from_probability(probability, precision).ok()
}
