//! Self-metric handles, fetched once at build: the Collector's tail sampling metrics
//! where it has them, Weir's own for evictions, late spans and the byte buffer.

use weir_api::telemetry::names::{
    TAIL_SAMPLING_BUFFER_BYTES, TAIL_SAMPLING_COUNT_TRACES_SAMPLED,
    TAIL_SAMPLING_EARLY_RELEASES_FROM_CACHE_DECISION, TAIL_SAMPLING_EVICTED_TRACES,
    TAIL_SAMPLING_GLOBAL_COUNT_TRACES_SAMPLED, TAIL_SAMPLING_LATE_SPANS,
    TAIL_SAMPLING_NEW_TRACE_ID_RECEIVED, TAIL_SAMPLING_POLICY_EVALUATION_ERROR,
    TAIL_SAMPLING_POLICY_EXECUTION_COUNT, TAIL_SAMPLING_POLICY_EXECUTION_TIME_SUM,
    TAIL_SAMPLING_TRACES_ON_MEMORY,
};
use weir_api::telemetry::{Counter, Gauge, Telemetry};
use weir_api::Signal;

use crate::policy::Decision;

/// The drop reason of spans whose trace was not sampled.
pub const NOT_SAMPLED: &str = "not_sampled";

/// Why an undecided trace was decided before `decision_wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// `max_buffer_bytes` was reached: the oldest held batch's traces were decided.
    BufferFull,
    /// The trace passed `maximum_trace_size_bytes`.
    TraceTooLarge,
    /// `num_traces` was reached: the oldest trace was decided to make room.
    DecidedEarly,
}

impl Eviction {
    pub const ALL: [Eviction; 3] = [Self::BufferFull, Self::TraceTooLarge, Self::DecidedEarly];

    pub fn label(self) -> &'static str {
        match self {
            Self::BufferFull => "buffer_full",
            Self::TraceTooLarge => "trace_too_large",
            Self::DecidedEarly => "decided_early",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::BufferFull => 0,
            Self::TraceTooLarge => 1,
            Self::DecidedEarly => 2,
        }
    }
}

/// Per policy: `[sampled, not sampled]` trace counters, executions and time.
#[derive(Clone, Debug)]
pub struct PolicyMetrics {
    decisions: [Counter; 2],
    executions: Counter,
    micros: Counter,
    /// Nanoseconds not yet added to `micros`.
    pending_nanos: u64,
}

#[derive(Clone, Debug)]
pub struct Metrics {
    pub policies: Vec<PolicyMetrics>,
    global: [Counter; 2],
    evaluation_errors: Counter,
    new_traces: Counter,
    cache_releases: [Counter; 2],
    late_spans: [Counter; 2],
    evicted: [Counter; 3],
    pub not_sampled: Counter,
    pub buffer_bytes: Gauge,
    pub traces_on_memory: Gauge,
}

fn pair(make: impl Fn(&str, &str) -> Counter) -> [Counter; 2] {
    [make("true", "sampled"), make("false", "not_sampled")]
}

fn slot(sampled: bool) -> usize {
    usize::from(!sampled)
}

impl Metrics {
    /// `processor` is the component id; `policy_prefix` the id's name (the Collector
    /// labels policies `<name>.<policy>` when the processor has a name).
    pub fn new(
        telemetry: &Telemetry,
        processor: &str,
        policy_prefix: Option<&str>,
        policy_names: &[&str],
    ) -> Self {
        let policies = policy_names
            .iter()
            .map(|name| {
                let label = match policy_prefix {
                    Some(prefix) => format!("{prefix}.{name}"),
                    None => name.to_string(),
                };
                PolicyMetrics {
                    decisions: pair(|sampled, decision| {
                        telemetry.counter_of(
                            &TAIL_SAMPLING_COUNT_TRACES_SAMPLED,
                            &[processor, &label, sampled, decision],
                        )
                    }),
                    executions: telemetry
                        .counter_of(&TAIL_SAMPLING_POLICY_EXECUTION_COUNT, &[processor, &label]),
                    micros: telemetry.counter_of(
                        &TAIL_SAMPLING_POLICY_EXECUTION_TIME_SUM,
                        &[processor, &label],
                    ),
                    pending_nanos: 0,
                }
            })
            .collect();
        let by_sampled = |def| {
            [
                telemetry.counter_of(def, &[processor, "true"]),
                telemetry.counter_of(def, &[processor, "false"]),
            ]
        };
        Self {
            policies,
            global: pair(|sampled, decision| {
                telemetry.counter_of(
                    &TAIL_SAMPLING_GLOBAL_COUNT_TRACES_SAMPLED,
                    &[processor, sampled, decision],
                )
            }),
            evaluation_errors: telemetry
                .counter_of(&TAIL_SAMPLING_POLICY_EVALUATION_ERROR, &[processor]),
            new_traces: telemetry.counter_of(&TAIL_SAMPLING_NEW_TRACE_ID_RECEIVED, &[processor]),
            cache_releases: by_sampled(&TAIL_SAMPLING_EARLY_RELEASES_FROM_CACHE_DECISION),
            late_spans: by_sampled(&TAIL_SAMPLING_LATE_SPANS),
            evicted: Eviction::ALL.map(|reason| {
                telemetry.counter_of(&TAIL_SAMPLING_EVICTED_TRACES, &[processor, reason.label()])
            }),
            not_sampled: telemetry.dropped(processor, Signal::Traces, NOT_SAMPLED),
            buffer_bytes: telemetry.gauge_of(&TAIL_SAMPLING_BUFFER_BYTES, &[processor]),
            traces_on_memory: telemetry.gauge_of(&TAIL_SAMPLING_TRACES_ON_MEMORY, &[processor]),
        }
    }

    /// One policy's evaluation: its decision and how long it took.
    pub fn policy(&mut self, index: usize, decision: Decision, nanos: u64) {
        let Some(p) = self.policies.get_mut(index) else {
            return;
        };
        p.executions.inc();
        p.pending_nanos += nanos;
        if p.pending_nanos >= 1_000 {
            p.micros.inc_by(p.pending_nanos / 1_000);
            p.pending_nanos %= 1_000;
        }
        match decision {
            Decision::Error => {
                self.evaluation_errors.inc();
            }
            d => {
                let sampled = d.labels().0 == "true";
                p.decisions[slot(sampled)].inc();
            }
        }
    }

    pub fn decided(&self, sampled: bool) {
        self.global[slot(sampled)].inc();
    }

    pub fn new_trace(&self) {
        self.new_traces.inc();
    }

    pub fn late_spans(&self, sampled: bool, spans: u64, from_cache: bool) {
        self.late_spans[slot(sampled)].inc_by(spans);
        if from_cache {
            self.cache_releases[slot(sampled)].inc_by(spans);
        }
    }

    pub fn evicted(&self, reason: Eviction) {
        self.evicted[reason.index()].inc();
    }
}
