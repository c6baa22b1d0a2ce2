//! Running the compiled groups on a batch.
//!
//! Statement-major: each statement is one `Batch::edit_*` walk over the whole batch, and
//! the next statement's walk starts from the batch the previous one left. An edit handle
//! reads the item as it arrived in that walk, so this is what gives OTTL's sequential
//! semantics (a statement sees what the statements before it changed). Resources an
//! edit does not change stay as received bytes.

use weir_api::batch::edit::{LogRecordEdit, MetricEdit, ResourceEdit, ScopeEdit, SpanEdit};
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::{Batch, Outcome, Processor, Signal};
use weir_ottl::{ConditionSet, Context, ErrorMode, EvalError, Item, Statement};

use crate::config::{Gate, Group};
use weir_ottl::LogLimiter;

/// Drop reason for a batch failed by a statement or condition under `error_mode: propagate`.
pub const OTTL_ERROR: &str = "ottl_error";

/// One `transform` instance in one pipeline.
pub struct Transform {
    groups: Vec<Group>,
    id: String,
    /// `weir_items_dropped_total{reason="ottl_error"}`.
    failed: Counter,
    log: LogLimiter,
}

/// Why a batch failed (`error_mode: propagate`).
#[derive(Debug)]
struct Failure {
    expression: String,
    error: EvalError,
}

impl Transform {
    pub fn new(groups: Vec<Group>, id: String, signal: Signal, telemetry: &Telemetry) -> Self {
        let failed = telemetry.dropped(&id, signal, OTTL_ERROR);
        Self {
            groups,
            id,
            failed,
            log: LogLimiter::default(),
        }
    }

    fn apply(&mut self, batch: &mut Batch) -> Result<(), Failure> {
        let Self {
            groups, id, log, ..
        } = self;
        for group in groups.iter() {
            let mut reporter = Reporter {
                mode: group.error_mode,
                id,
                log,
            };
            let mask = match &group.gate {
                Gate::Once(set) if !group.statements.is_empty() => {
                    Some(once_mask(batch, group.context, set, &mut reporter)?)
                }
                _ => None,
            };
            for statement in &group.statements {
                run_statement(batch, group, statement, mask.as_deref(), &mut reporter)?;
            }
        }
        Ok(())
    }
}

impl Processor for Transform {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        match self.apply(&mut batch) {
            Ok(()) => out.push(batch),
            Err(failure) => {
                let items = batch.item_count();
                self.failed.inc_by(items as u64);
                batch.record_outcome(Outcome::Failed);
                if let Some(suppressed) = self.log.allow() {
                    tracing::error!(processor = %self.id, items, suppressed,
                        expression = %failure.expression, error = %failure.error,
                        "OTTL evaluation failed with error_mode: propagate; batch dropped");
                }
            }
        }
    }
}

/// Applies a group's `error_mode` to a run-time error.
struct Reporter<'a> {
    mode: ErrorMode,
    id: &'a str,
    log: &'a mut LogLimiter,
}

impl Reporter<'_> {
    /// Propagate: the failure. Ignore: logged (rate-limited), and the walk goes on.
    fn handle(&mut self, expression: &str, error: EvalError) -> Result<(), Failure> {
        match self.mode {
            ErrorMode::Propagate => Err(Failure {
                expression: expression.to_string(),
                error,
            }),
            ErrorMode::Ignore => {
                self.log(expression, &error);
                Ok(())
            }
            ErrorMode::Silent => Ok(()),
        }
    }

    fn log(&mut self, expression: &str, error: &EvalError) {
        if let Some(suppressed) = self.log.allow() {
            tracing::warn!(processor = %self.id, suppressed, expression, %error,
                "OTTL evaluation failed; the item is left as it was (error_mode: ignore)");
        }
    }

    /// Whether any condition matches; a failing condition is handled by the mode.
    fn evaluate(&mut self, set: &ConditionSet, item: &Item<'_>) -> Result<bool, Failure> {
        let mode = self.mode;
        set.evaluate(item, mode, |condition, error| {
            self.log(condition.text(), error)
        })
        .map_err(|error| Failure {
            expression: conditions_text(set),
            error,
        })
    }
}

fn conditions_text(set: &ConditionSet) -> String {
    set.iter()
        .map(|c| c.text())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The group's decision for each item of its context, in edit-walk order.
fn once_mask(
    batch: &Batch,
    context: Context,
    set: &ConditionSet,
    reporter: &mut Reporter<'_>,
) -> Result<Vec<bool>, Failure> {
    let mut mask = Vec::new();
    match context {
        Context::Resource => {
            let resources: Vec<_> = match batch.signal() {
                Signal::Traces => batch.traces().map(|r| r.resource()).collect(),
                Signal::Metrics => batch.metrics().map(|r| r.resource()).collect(),
                Signal::Logs => batch.logs().map(|r| r.resource()).collect(),
            };
            for resource in resources {
                mask.push(reporter.evaluate(set, &Item::resource(resource))?);
            }
        }
        Context::Span => {
            for (resource, scope, span) in batch.spans() {
                mask.push(reporter.evaluate(set, &Item::span(resource, scope, span))?);
            }
        }
        Context::Log => {
            for (resource, scope, record) in batch.log_records() {
                mask.push(reporter.evaluate(set, &Item::log(resource, scope, record))?);
            }
        }
        _ => {}
    }
    Ok(mask)
}

/// The state of one statement's walk.
struct Walk<'g, 'r, 'a> {
    gate: &'g Gate,
    mask: Option<&'g [bool]>,
    cursor: usize,
    reporter: &'r mut Reporter<'a>,
    failure: Option<Failure>,
}

impl Walk<'_, '_, '_> {
    /// Whether the statement runs on this item (the group's conditions let it through).
    fn admit(&mut self, item: Item<'_>) -> bool {
        if self.failure.is_some() {
            return false;
        }
        match self.gate {
            Gate::Open | Gate::Folded => true,
            Gate::Once(_) => {
                let index = self.cursor;
                self.cursor += 1;
                self.mask
                    .and_then(|mask| mask.get(index).copied())
                    .unwrap_or(false)
            }
            Gate::EachStatement(set) => match self.reporter.evaluate(set, &item) {
                Ok(matched) => matched,
                Err(failure) => {
                    self.failure = Some(failure);
                    false
                }
            },
        }
    }

    fn outcome(&mut self, statement: &Statement, result: Result<(), EvalError>) {
        if let Err(error) = result {
            if let Err(failure) = self.reporter.handle(statement.text(), error) {
                self.failure = Some(failure);
            }
        }
    }
}

/// One statement over the whole batch, through the walk of its context.
fn run_statement(
    batch: &mut Batch,
    group: &Group,
    statement: &Statement,
    mask: Option<&[bool]>,
    reporter: &mut Reporter<'_>,
) -> Result<(), Failure> {
    let mut walk = Walk {
        gate: &group.gate,
        mask,
        cursor: 0,
        reporter,
        failure: None,
    };
    match group.context {
        Context::Resource => batch.edit_resources(|edit: &mut ResourceEdit<'_>| {
            if walk.admit(Item::resource(edit.resource())) {
                let result = statement.run_on_resource(edit);
                walk.outcome(statement, result);
            }
            true
        }),
        Context::Scope => batch.edit_scopes(|edit: &mut ScopeEdit<'_>| {
            if walk.admit(Item::scope(edit.resource(), edit.scope())) {
                let result = statement.run_on_scope(edit);
                walk.outcome(statement, result);
            }
            true
        }),
        Context::Span => batch.edit_spans(|edit: &mut SpanEdit<'_>| {
            if walk.admit(Item::span(edit.resource(), edit.scope(), edit.span())) {
                let result = statement.run_on_span(edit);
                walk.outcome(statement, result);
            }
            true
        }),
        Context::SpanEvent => batch.edit_spans(|edit: &mut SpanEdit<'_>| {
            if walk.admit(Item::span(edit.resource(), edit.scope(), edit.span())) {
                let result = statement.run_on_span_events(edit);
                walk.outcome(statement, result);
            }
            true
        }),
        Context::Metric => batch.edit_metrics(|edit: &mut MetricEdit<'_>| {
            if walk.admit(Item::metric(edit.resource(), edit.scope(), edit.metric())) {
                let result = statement.run_on_metric(edit);
                walk.outcome(statement, result);
            }
            true
        }),
        Context::DataPoint => batch.edit_metrics(|edit: &mut MetricEdit<'_>| {
            if walk.admit(Item::metric(edit.resource(), edit.scope(), edit.metric())) {
                let result = statement.run_on_data_points(edit);
                walk.outcome(statement, result);
            }
            true
        }),
        Context::Log => batch.edit_log_records(|edit: &mut LogRecordEdit<'_>| {
            if walk.admit(Item::log(edit.resource(), edit.scope(), edit.record())) {
                let result = statement.run_on_log(edit);
                walk.outcome(statement, result);
            }
            true
        }),
        // Refused when the config is compiled.
        Context::Request => {}
    }
    match walk.failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}
