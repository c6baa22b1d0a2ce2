//! Deciding where each item goes, and emitting one batch per target pipeline.
//!
//! Semantics are the Collector's (since `match_once` became the only behaviour): routes
//! are tried in table order and an item goes to the pipelines of the first route whose
//! condition matches; items no route takes go to `default_pipelines`, or are dropped
//! and counted under `no_route` when there are none. Items are routed one by one at the
//! signal's finest level (span, data point, log record), so one resource's spans may go
//! to two pipelines; a `resource` or `metric` condition decides for all the items under
//! it, and is evaluated once per resource or metric.
//!
//! Each item is evaluated once and its decision kept as a bit set of downstream
//! pipelines, in walk order. Then, per pipeline, the batch is cloned (a pointer copy)
//! and the items not for it are removed with a `retain_*` walk replaying the decisions
//! in the same order; a pipeline that gets every item gets the clone as it is. The
//! copies share the acknowledgement handles. An item reaches a pipeline at most once.

use weir_api::batch::view::{MetricView, ResourceView, ScopeView};
use weir_api::batch::PointView;
use weir_api::telemetry::{Counter, Telemetry};
use weir_api::{Batch, ConnectorOutput, Outcome, PipelineId, Signal};
use weir_ottl::{Condition, Context, ErrorMode, EvalError, Item};

use crate::config::Table;
use weir_ottl::LogLimiter;

/// Drop reason for items that match no route when there are no `default_pipelines`.
pub const NO_ROUTE: &str = "no_route";
/// Drop reason for a batch failed by a condition under `error_mode: propagate`.
pub const OTTL_ERROR: &str = "ottl_error";

/// A route at run time: its condition and its pipelines as a bit set over the
/// connector's downstream pipelines.
#[derive(Debug)]
struct Route {
    context: Context,
    condition: Condition,
    targets: u64,
}

/// Where each item goes.
enum Decisions {
    /// The whole batch (every route that decided was a `request` route).
    Whole(u64),
    /// One bit set per item, in walk order; for metrics also each resource's range.
    PerItem {
        targets: Vec<u64>,
        resources: Vec<std::ops::Range<usize>>,
    },
}

/// Why a batch failed (`error_mode: propagate`).
#[derive(Debug)]
struct Failure {
    condition: String,
    error: EvalError,
}

/// Applies the `error_mode` to a failing condition.
struct Evaluator<'a> {
    mode: ErrorMode,
    id: &'a str,
    log: Option<&'a mut LogLimiter>,
}

impl Evaluator<'_> {
    /// A failing condition does not match (ignore, silent) or fails the batch (propagate).
    fn eval(&mut self, condition: &Condition, item: &Item<'_>) -> Result<bool, Failure> {
        match condition.evaluate(item) {
            Ok(matched) => Ok(matched),
            Err(error) => match self.mode {
                ErrorMode::Propagate => Err(Failure {
                    condition: condition.text().to_string(),
                    error,
                }),
                ErrorMode::Ignore => {
                    if let Some(suppressed) = self.log.as_mut().and_then(|l| l.allow()) {
                        tracing::warn!(connector = %self.id, suppressed,
                            condition = condition.text(), %error,
                            "routing condition failed; treated as not matching (error_mode: ignore)");
                    }
                    Ok(false)
                }
                ErrorMode::Silent => Ok(false),
            },
        }
    }
}

/// One `routing` connector for one signal.
pub struct Router {
    id: String,
    signal: Signal,
    downstream: Vec<PipelineId>,
    routes: Vec<Route>,
    default_targets: u64,
    error_mode: ErrorMode,
    no_route: Counter,
    failed: Counter,
    log: LogLimiter,
}

/// The downstream pipelines a route names, as a bit set; the first one not fed by this
/// connector is an error.
fn targets(pipelines: &[PipelineId], downstream: &[PipelineId]) -> Result<u64, PipelineId> {
    let mut bits = 0u64;
    for pipeline in pipelines {
        match downstream.iter().position(|p| p == pipeline) {
            Some(index) => bits |= 1 << index,
            None => return Err(pipeline.clone()),
        }
    }
    Ok(bits)
}

/// The most downstream pipelines a routing connector can tell apart.
pub const MAX_PIPELINES: usize = 64;

impl Router {
    /// Checks the table against what this connector feeds: every named pipeline must be
    /// one of `downstream`, and route contexts must fit the signal.
    pub fn new(
        table: Table,
        id: String,
        signal: Signal,
        downstream: Vec<PipelineId>,
        telemetry: &Telemetry,
    ) -> Result<Self, String> {
        if downstream.len() > MAX_PIPELINES {
            return Err(format!(
                "a routing connector feeds at most {MAX_PIPELINES} pipelines; this one feeds {}",
                downstream.len()
            ));
        }
        let fed = || {
            downstream
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut routes = Vec::with_capacity(table.routes.len());
        for (index, route) in table.routes.into_iter().enumerate() {
            if let Some(only) = crate::config::context_signal(route.context) {
                if only != signal {
                    return Err(format!(
                        "table.{index}.context: a `{}` route cannot route {signal}",
                        route.context
                    ));
                }
            }
            let bits = targets(&route.pipelines, &downstream).map_err(|missing| {
                format!(
                    "table.{index}.pipelines: pipeline `{missing}` does not list this connector \
                     as a receiver (it feeds: {})",
                    fed()
                )
            })?;
            routes.push(Route {
                context: route.context,
                condition: route.condition,
                targets: bits,
            });
        }
        let default_targets =
            targets(&table.default_pipelines, &downstream).map_err(|missing| {
                format!(
                    "default_pipelines: pipeline `{missing}` does not list this connector as a \
                 receiver (it feeds: {})",
                    fed()
                )
            })?;
        Ok(Self {
            no_route: telemetry.dropped(&id, signal, NO_ROUTE),
            failed: telemetry.dropped(&id, signal, OTTL_ERROR),
            id,
            signal,
            downstream,
            routes,
            default_targets,
            error_mode: table.error_mode,
            log: LogLimiter::default(),
        })
    }

    /// Routes one batch.
    pub fn route(&mut self, batch: Batch, out: &mut ConnectorOutput) {
        let decisions = match self.decide(&batch) {
            Ok(decisions) => decisions,
            Err(failure) => {
                let items = batch.item_count();
                self.failed.inc_by(items as u64);
                batch.record_outcome(Outcome::Failed);
                if let Some(suppressed) = self.log.allow() {
                    tracing::error!(connector = %self.id, items, suppressed,
                        condition = %failure.condition, error = %failure.error,
                        "routing condition failed with error_mode: propagate; batch dropped");
                }
                return;
            }
        };
        match decisions {
            Decisions::Whole(0) => {
                self.no_route.inc_by(batch.item_count() as u64);
                batch.record_outcome(Outcome::Dropped);
            }
            Decisions::Whole(bits) => {
                for index in set_bits(bits) {
                    out.to_pipeline(self.downstream[index].clone(), batch.clone());
                }
            }
            Decisions::PerItem { targets, resources } => {
                let unrouted = targets.iter().filter(|t| **t == 0).count();
                self.no_route.inc_by(unrouted as u64);
                let union = targets.iter().fold(0, |all, t| all | t);
                if union == 0 {
                    batch.record_outcome(Outcome::Dropped);
                }
                for index in set_bits(union) {
                    let bit = 1u64 << index;
                    let copy = if targets.iter().all(|t| t & bit != 0) {
                        batch.clone()
                    } else {
                        self.select(&batch, &targets, &resources, bit)
                    };
                    out.to_pipeline(self.downstream[index].clone(), copy);
                }
            }
        }
    }

    fn decide(&mut self, batch: &Batch) -> Result<Decisions, Failure> {
        let Self {
            routes,
            log,
            id,
            error_mode,
            default_targets,
            ..
        } = self;
        let mut evaluator = Evaluator {
            mode: *error_mode,
            id,
            log: Some(log),
        };
        let routes: &[Route] = routes;
        let default_targets = *default_targets;
        let request = request_matches(routes, batch, &mut evaluator)?;
        // Decided for the whole batch when a request route matches before any route
        // that looks at items.
        for (route, matched) in routes.iter().zip(&request) {
            match matched {
                Some(true) => return Ok(Decisions::Whole(route.targets)),
                Some(false) => continue,
                None => break,
            }
        }
        if request.iter().all(Option::is_some) {
            return Ok(Decisions::Whole(default_targets));
        }
        let mut targets = Vec::with_capacity(batch.item_count());
        let mut resources = Vec::new();
        let mut resource_cache = vec![None; routes.len()];
        let mut metric_cache = vec![None; routes.len()];
        match batch.signal() {
            Signal::Traces => {
                for resource_spans in batch.traces() {
                    let resource = resource_spans.resource();
                    resource_cache.fill(None);
                    for scope_spans in resource_spans.scopes() {
                        let scope = scope_spans.scope();
                        for span in scope_spans.spans() {
                            let item = Item::span(resource, scope, span);
                            targets.push(first_match(routes, default_targets, |i, route| {
                                Ok(match route.context {
                                    Context::Request => request[i] == Some(true),
                                    Context::Resource => cached(&mut resource_cache[i], || {
                                        evaluator.eval(&route.condition, &Item::resource(resource))
                                    })?,
                                    Context::Span => evaluator.eval(&route.condition, &item)?,
                                    _ => false,
                                })
                            })?);
                        }
                    }
                }
            }
            Signal::Logs => {
                for resource_logs in batch.logs() {
                    let resource = resource_logs.resource();
                    resource_cache.fill(None);
                    for scope_logs in resource_logs.scopes() {
                        let scope = scope_logs.scope();
                        for record in scope_logs.log_records() {
                            let item = Item::log(resource, scope, record);
                            targets.push(first_match(routes, default_targets, |i, route| {
                                Ok(match route.context {
                                    Context::Request => request[i] == Some(true),
                                    Context::Resource => cached(&mut resource_cache[i], || {
                                        evaluator.eval(&route.condition, &Item::resource(resource))
                                    })?,
                                    Context::Log => evaluator.eval(&route.condition, &item)?,
                                    _ => false,
                                })
                            })?);
                        }
                    }
                }
            }
            Signal::Metrics => {
                for resource_metrics in batch.metrics() {
                    let resource = resource_metrics.resource();
                    let start = targets.len();
                    resource_cache.fill(None);
                    for scope_metrics in resource_metrics.scopes() {
                        let scope = scope_metrics.scope();
                        for metric in scope_metrics.metrics() {
                            metric_cache.fill(None);
                            for point in metric.points() {
                                targets.push(first_match(routes, default_targets, |i, route| {
                                    Ok(match route.context {
                                        Context::Request => request[i] == Some(true),
                                        Context::Resource => {
                                            cached(&mut resource_cache[i], || {
                                                evaluator.eval(
                                                    &route.condition,
                                                    &Item::resource(resource),
                                                )
                                            })?
                                        }
                                        Context::Metric => cached(&mut metric_cache[i], || {
                                            evaluator.eval(
                                                &route.condition,
                                                &Item::metric(resource, scope, metric),
                                            )
                                        })?,
                                        Context::DataPoint => evaluator.eval(
                                            &route.condition,
                                            &Item::data_point(resource, scope, metric, point),
                                        )?,
                                        _ => false,
                                    })
                                })?);
                            }
                        }
                    }
                    resources.push(start..targets.len());
                }
            }
        }
        Ok(Decisions::PerItem { targets, resources })
    }

    /// A clone of the batch with only the items whose decision has `bit`.
    fn select(
        &self,
        batch: &Batch,
        targets: &[u64],
        resources: &[std::ops::Range<usize>],
        bit: u64,
    ) -> Batch {
        let mut copy = batch.clone();
        // The copy's handles are taken out while it is trimmed: removing another
        // pipeline's items is not dropping them, and must not be recorded as such.
        let acks = copy.take_acks();
        let mut next = 0usize;
        let mut replay = move || {
            let keep = targets.get(next).is_some_and(|t| t & bit != 0);
            next += 1;
            keep
        };
        match self.signal {
            // `edit_spans` and `edit_log_records` visit each item once, in the order the
            // decisions were taken.
            Signal::Traces => copy.retain_spans(|_, _, _| replay()),
            Signal::Logs => copy.retain_log_records(|_, _, _| replay()),
            Signal::Metrics => {
                // Whole resources when each goes all one way (the common case: resource
                // and request routes); otherwise point by point, deciding again (a
                // data-point walk may visit a point twice, so decisions cannot be
                // replayed by position).
                let whole: Option<Vec<bool>> = resources
                    .iter()
                    .map(|range| {
                        let slice = &targets[range.clone()];
                        let kept = slice.iter().filter(|t| **t & bit != 0).count();
                        (kept == 0 || kept == slice.len()).then_some(kept > 0 || slice.is_empty())
                    })
                    .collect();
                match whole {
                    Some(keep) => {
                        let mut index = 0;
                        copy.retain_resources(|_| {
                            let kept = keep.get(index).copied().unwrap_or(false);
                            index += 1;
                            kept
                        });
                    }
                    None => {
                        let request = request_matches(&self.routes, batch, &mut self.quiet())
                            .unwrap_or_default();
                        copy.retain_data_points(|resource, scope, metric, point| {
                            self.point_targets(&request, resource, scope, metric, point) & bit != 0
                        });
                    }
                }
            }
        }
        for ack in acks.iter() {
            copy.attach_ack(ack.clone());
        }
        copy
    }

    /// An evaluator that never logs nor fails: for decisions taken again, whose errors
    /// were already handled the first time.
    fn quiet(&self) -> Evaluator<'_> {
        Evaluator {
            mode: ErrorMode::Silent,
            id: &self.id,
            log: None,
        }
    }

    /// A data point's decision, taken again (no caches; errors are no match).
    fn point_targets(
        &self,
        request: &[Option<bool>],
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        metric: MetricView<'_>,
        point: PointView<'_>,
    ) -> u64 {
        let mut evaluator = self.quiet();
        first_match(&self.routes, self.default_targets, |i, route| {
            Ok(match route.context {
                Context::Request => request.get(i).copied().flatten() == Some(true),
                Context::Resource => evaluator.eval(&route.condition, &Item::resource(resource))?,
                Context::Metric => {
                    evaluator.eval(&route.condition, &Item::metric(resource, scope, metric))?
                }
                Context::DataPoint => evaluator.eval(
                    &route.condition,
                    &Item::data_point(resource, scope, metric, point),
                )?,
                _ => false,
            })
        })
        .unwrap_or(0)
    }
}

/// The outcome of each `request` route for this batch (`None` for other routes).
fn request_matches(
    routes: &[Route],
    batch: &Batch,
    evaluator: &mut Evaluator<'_>,
) -> Result<Vec<Option<bool>>, Failure> {
    let item = Item::request(batch.metadata());
    routes
        .iter()
        .map(|route| match route.context {
            Context::Request => evaluator.eval(&route.condition, &item).map(Some),
            _ => Ok(None),
        })
        .collect()
}

/// The targets of the first route that matches, or the default ones.
fn first_match(
    routes: &[Route],
    default_targets: u64,
    mut matches: impl FnMut(usize, &Route) -> Result<bool, Failure>,
) -> Result<u64, Failure> {
    for (index, route) in routes.iter().enumerate() {
        if matches(index, route)? {
            return Ok(route.targets);
        }
    }
    Ok(default_targets)
}

/// A decision taken once per resource or metric.
fn cached(
    slot: &mut Option<bool>,
    decide: impl FnOnce() -> Result<bool, Failure>,
) -> Result<bool, Failure> {
    match *slot {
        Some(matched) => Ok(matched),
        None => {
            let matched = decide()?;
            *slot = Some(matched);
            Ok(matched)
        }
    }
}

/// The indexes of the set bits, lowest first.
fn set_bits(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let index = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            index
        })
    })
}
