//! The processor: runs the plan's stages over a batch through `Batch::retain_*`, so
//! kept items of wire batches stay the bytes they arrived as, and counts what it drops.

use weir_api::batch::view::MetricType;
use weir_api::telemetry::names::{
    FILTER_DATAPOINTS_FILTERED, FILTER_LOGS_FILTERED, FILTER_SPANS_FILTERED,
};
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::{Batch, Outcome, Processor, Signal};
use weir_ottl::{ConditionSet, ErrorMode, EvalError, Item};

use crate::plan::{Plan, Stage};

/// Drop reason for items a condition or match property selected.
pub const FILTERED: &str = "filtered";
/// Drop reason for the rest of a batch failed by a condition error under
/// `error_mode: propagate`.
pub const CONDITION_ERROR: &str = "condition_error";

/// Counter handles, fetched once at build.
#[derive(Clone, Debug)]
pub struct FilterCounters {
    /// The Collector's `otelcol_processor_filter_{spans,datapoints,logs}_filtered{filter}`.
    collector: Counter,
    filtered: Counter,
    condition_error: Counter,
    /// In shadow mode, `weir_shadow_would_drop_total` by reason instead.
    shadow_filtered: Counter,
    shadow_condition_error: Counter,
}

impl FilterCounters {
    pub fn new(telemetry: &Telemetry, id: &str, signal: Signal) -> Self {
        let def = match signal {
            Signal::Traces => &FILTER_SPANS_FILTERED,
            Signal::Metrics => &FILTER_DATAPOINTS_FILTERED,
            Signal::Logs => &FILTER_LOGS_FILTERED,
        };
        Self {
            collector: telemetry.counter_of(def, &[id]),
            filtered: telemetry.dropped(id, signal, FILTERED),
            condition_error: telemetry.dropped(id, signal, CONDITION_ERROR),
            shadow_filtered: telemetry.shadow(id, signal, FILTERED),
            shadow_condition_error: telemetry.shadow(id, signal, CONDITION_ERROR),
        }
    }
}

/// A condition failed under `error_mode: propagate`: the batch fails.
#[derive(Debug)]
pub struct StageFailure {
    pub key: String,
    pub condition: String,
    pub error: EvalError,
}

/// One `filter` instance in one pipeline.
pub struct FilterProcessor {
    id: String,
    plan: Plan,
    counters: FilterCounters,
    shadow: bool,
}

impl FilterProcessor {
    pub(crate) fn new(id: String, plan: Plan, counters: FilterCounters, shadow: bool) -> Self {
        Self {
            id,
            plan,
            counters,
            shadow,
        }
    }

    /// Shadow mode: runs the plan on a copy (without its acknowledgement handles, so
    /// nothing is recorded as dropped), counts what it would drop, passes the batch on.
    fn process_shadow(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        let mut copy = batch.clone();
        drop(copy.take_acks());
        let before = copy.item_count();
        let result = self.run(&mut copy);
        // The same counts enforcement makes (see `process`), under the shadow metric.
        self.counters
            .shadow_filtered
            .inc_by(before.saturating_sub(copy.item_count()) as u64);
        if result.is_err() {
            self.counters
                .shadow_condition_error
                .inc_by(copy.item_count() as u64);
        }
        out.push(batch);
    }

    /// Runs every stage; stops at the first that fails under `propagate`.
    pub(crate) fn run(&self, batch: &mut Batch) -> Result<(), StageFailure> {
        if let Some(legacy) = &self.plan.legacy {
            legacy.apply(batch);
        }
        for stage in &self.plan.stages {
            run_stage(stage, batch)?;
        }
        Ok(())
    }
}

impl Processor for FilterProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        if self.plan.is_empty() {
            out.push(batch);
            return;
        }
        if self.shadow {
            return self.process_shadow(batch, out);
        }
        let before = batch.item_count();
        let result = self.run(&mut batch);
        let filtered = before.saturating_sub(batch.item_count()) as u64;
        self.counters.collector.inc_by(filtered);
        self.counters.filtered.inc_by(filtered);
        match result {
            Ok(()) => {
                if !batch.is_empty() {
                    out.push(batch);
                }
            }
            Err(failure) => {
                // The Collector returns the error up the pipeline and the payload is
                // lost; a Weir processor has no error path, so the batch ends here,
                // counted and marked failed for whoever awaits its acknowledgement.
                tracing::error!(
                    processor = %self.id,
                    key = %failure.key,
                    condition = %failure.condition,
                    error = %failure.error,
                    items = batch.item_count(),
                    "filter condition failed with error_mode: propagate; dropping the batch"
                );
                self.counters
                    .condition_error
                    .inc_by(batch.item_count() as u64);
                batch.record_outcome(Outcome::Failed);
            }
        }
    }
}

/// Evaluates one stage's conditions, remembering the first propagated error. After
/// it, items are kept without evaluation: the batch fails anyway.
struct Judge<'a> {
    stage: &'a Stage,
    failure: Option<StageFailure>,
}

impl<'a> Judge<'a> {
    fn new(stage: &'a Stage) -> Self {
        Self {
            stage,
            failure: None,
        }
    }

    /// Whether the item is kept (no condition matched).
    fn keep(&mut self, item: &Item<'_>) -> bool {
        if self.failure.is_some() {
            return true;
        }
        let stage = self.stage;
        let mut failed_condition = None;
        let result = evaluate(
            &stage.conditions,
            item,
            stage.error_mode,
            &stage.key,
            |text| failed_condition = Some(text.to_string()),
        );
        match result {
            Ok(matched) => !matched,
            Err(error) => {
                self.failure = Some(StageFailure {
                    key: stage.key.clone(),
                    condition: failed_condition.unwrap_or_default(),
                    error,
                });
                true
            }
        }
    }

    fn finish(self) -> Result<(), StageFailure> {
        match self.failure {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

/// `ConditionSet::evaluate` with the Collector's logging: `ignore` logs each error,
/// `silent` says nothing; under `propagate` `failed` is told which condition failed.
fn evaluate(
    set: &ConditionSet,
    item: &Item<'_>,
    mode: ErrorMode,
    key: &str,
    mut failed: impl FnMut(&str),
) -> Result<bool, EvalError> {
    if mode == ErrorMode::Propagate {
        // Find which condition failed, for the error message.
        for condition in set.iter() {
            match condition.evaluate(item) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(error) => {
                    failed(condition.text());
                    return Err(error);
                }
            }
        }
        return Ok(false);
    }
    set.evaluate(item, mode, |condition, error| {
        tracing::warn!(
            key,
            condition = condition.text(),
            %error,
            "filter condition failed; treated as not matching (error_mode: ignore)"
        );
    })
}

fn run_stage(stage: &Stage, batch: &mut Batch) -> Result<(), StageFailure> {
    use weir_ottl::Context;
    let mut judge = Judge::new(stage);
    match stage.context {
        Context::Resource => batch.retain_resources(|r| judge.keep(&Item::resource(r))),
        Context::Scope => batch.retain_scopes(|r, s| judge.keep(&Item::scope(r, s))),
        Context::Span => batch.retain_spans(|r, s, span| judge.keep(&Item::span(r, s, span))),
        Context::SpanEvent => batch.retain_span_events(|r, s, span, event| {
            judge.keep(&Item::span_event(r, s, span, event))
        }),
        Context::Metric => {
            batch.retain_metrics(|r, s, metric| judge.keep(&Item::metric(r, s, metric)))
        }
        Context::DataPoint => {
            batch.retain_data_points(|r, s, metric, point| {
                judge.keep(&Item::data_point(r, s, metric, point))
            });
            // The Collector removes every metric of a known type left without points,
            // including those that arrived without any.
            batch.retain_metrics(|_, _, metric| {
                metric.metric_type() == MetricType::Empty || metric.point_count() > 0
            });
        }
        Context::Log => {
            batch.retain_log_records(|r, s, record| judge.keep(&Item::log(r, s, record)))
        }
        // Refused when the plan is made.
        Context::Request => {}
    }
    judge.finish()
}
