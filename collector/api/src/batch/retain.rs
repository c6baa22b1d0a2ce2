//! `retain_*` and `edit_*`: walking a batch to drop and change items.
//!
//! Each walk reads items through views and records what the callback asked for. Then,
//! per resource:
//! - nothing changed: the resource stays as it is (wire bytes untouched);
//! - items or scopes were only dropped (spans, log records): the kept byte ranges are
//!   copied into a new message, nothing is decoded;
//! - anything else: that one resource is decoded, changed, and re-encoded on export.
//!
//! A walk removes the scopes it left without items and the resources it left without
//! scopes. Containers that arrived empty stay: a walk that changes nothing leaves the
//! batch's structure exactly as it was.

use bytes::Bytes;
use prost::Message;
use weir_proto::common::v1::InstrumentationScope;
use weir_proto::logs::v1::ResourceLogs;
use weir_proto::metrics::v1::{metric::Data, Metric, ResourceMetrics};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::ResourceSpans;

use super::count::data_points;
use super::edit::{
    AttrOp, LogOp, LogRecordEdit, MetricEdit, MetricOp, ResourceEdit, ScopeEdit, ScopeOp, SpanEdit,
    SpanOp,
};
use super::repr::{OtlpResource, Res};
use super::splice::Splice;
use super::view::{
    EventView, ExponentialHistogramPointView, FromRepr, HistogramPointView, LogRecordView,
    MetricView, NumberPointView, ResourceView, ScopeView, SpanView, SummaryPointView,
};
use super::wire::{put_len_header, Field, Msg};
use super::{Batch, Payload};

/// A data point of any kind, for `Batch::retain_data_points`.
#[derive(Clone, Copy, Debug)]
pub enum PointView<'a> {
    Number(NumberPointView<'a>),
    Histogram(HistogramPointView<'a>),
    ExponentialHistogram(ExponentialHistogramPointView<'a>),
    Summary(SummaryPointView<'a>),
}

/// Copies a resource's bytes keeping the items (field 2 of field 2) whose flag is set,
/// and dropping the scopes this left empty (and the scopes that arrived empty unless
/// `keep_empty_scopes`). `None` when no scope is left.
pub(super) fn copy_kept(
    resource: Msg<'_>,
    keep: &[bool],
    keep_empty_scopes: bool,
) -> Option<Bytes> {
    copy_with(resource, keep, keep_empty_scopes, &mut |_, _, _| false)
}

/// [`copy_kept`], with `rewrite(index, item, out)` given each kept item first: when it
/// returns true it has written the item's new body to `out`, which replaces the item.
fn copy_with(
    resource: Msg<'_>,
    keep: &[bool],
    keep_empty_scopes: bool,
    rewrite: &mut dyn FnMut(usize, Msg<'_>, &mut Vec<u8>) -> bool,
) -> Option<Bytes> {
    let mut out = Vec::with_capacity(resource.0.len());
    let mut scope_out = Vec::new();
    let mut item_out = Vec::new();
    let mut index = 0;
    let mut any_scope = false;
    for (number, field, raw) in resource.fields() {
        match (number, field) {
            (2, Field::Len(scope)) => {
                scope_out.clear();
                let (mut had, mut kept) = (0, 0);
                for (n, f, raw) in Msg(scope).fields() {
                    if let (2, Field::Len(item)) = (n, f) {
                        had += 1;
                        if keep.get(index).copied().unwrap_or(true) {
                            item_out.clear();
                            if rewrite(index, Msg(item), &mut item_out) {
                                put_len_header(&mut scope_out, 2, item_out.len());
                                scope_out.extend_from_slice(&item_out);
                            } else {
                                scope_out.extend_from_slice(raw);
                            }
                            kept += 1;
                        }
                        index += 1;
                    } else {
                        scope_out.extend_from_slice(raw);
                    }
                }
                if (had == 0 && keep_empty_scopes) || kept > 0 {
                    put_len_header(&mut out, 2, scope_out.len());
                    out.extend_from_slice(&scope_out);
                    any_scope = true;
                }
            }
            _ => out.extend_from_slice(raw),
        }
    }
    any_scope.then(|| Bytes::from(out))
}

/// Runs `walk` over a list and reports whether to keep its container: a list that had
/// elements and has none left is "left empty".
fn not_left_empty<T>(list: &mut Vec<T>, walk: impl FnOnce(&mut Vec<T>)) -> bool {
    let had = !list.is_empty();
    walk(list);
    !had || !list.is_empty()
}

/// What one walk over a wire resource's items decided.
struct Decisions<Op> {
    keep: Vec<bool>,
    /// (item index, op) for kept items that asked for changes.
    ops: Vec<(usize, Op)>,
}

impl<Op> Decisions<Op> {
    fn new() -> Self {
        Self {
            keep: Vec::new(),
            ops: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.keep.clear();
        self.ops.clear();
    }

    fn unchanged(&self) -> bool {
        self.ops.is_empty() && self.keep.iter().all(|k| *k)
    }
}

/// Applies decisions to a decoded list of items in walk order.
fn apply_in_order<T, Op>(
    items: &mut Vec<T>,
    next_index: &mut usize,
    decisions: &mut std::iter::Peekable<std::vec::IntoIter<(usize, Op)>>,
    keep: &[bool],
    apply: impl Fn(std::vec::Drain<'_, Op>, &mut T),
) {
    let mut kept = Vec::with_capacity(items.len());
    let mut pending = Vec::new();
    for mut item in items.drain(..) {
        let index = *next_index;
        *next_index += 1;
        while let Some((_, op)) = decisions.next_if(|(i, _)| *i == index) {
            pending.push(op);
        }
        if !pending.is_empty() {
            apply(pending.drain(..), &mut item);
        }
        if keep.get(index).copied().unwrap_or(true) {
            kept.push(item);
        }
    }
    *items = kept;
}

impl<'a> MetricView<'a> {
    /// Every data point, whatever the metric's type, in order: the indexes
    /// [`MetricEdit::point_attribute`] takes.
    pub fn points(&self) -> impl Iterator<Item = PointView<'a>> + 'a {
        self.number_points()
            .map(PointView::Number)
            .chain(self.histogram_points().map(PointView::Histogram))
            .chain(
                self.exponential_histogram_points()
                    .map(PointView::ExponentialHistogram),
            )
            .chain(self.summary_points().map(PointView::Summary))
    }
}

impl<'a> PointView<'a> {
    /// The point's attributes, whatever its kind.
    pub fn attributes(&self) -> super::view::Attributes<'a> {
        match self {
            Self::Number(p) => p.attributes(),
            Self::Histogram(p) => p.attributes(),
            Self::ExponentialHistogram(p) => p.attributes(),
            Self::Summary(p) => p.attributes(),
        }
    }

    pub fn start_time_unix_nano(&self) -> u64 {
        match self {
            Self::Number(p) => p.start_time_unix_nano(),
            Self::Histogram(p) => p.start_time_unix_nano(),
            Self::ExponentialHistogram(p) => p.start_time_unix_nano(),
            Self::Summary(p) => p.start_time_unix_nano(),
        }
    }

    pub fn time_unix_nano(&self) -> u64 {
        match self {
            Self::Number(p) => p.time_unix_nano(),
            Self::Histogram(p) => p.time_unix_nano(),
            Self::ExponentialHistogram(p) => p.time_unix_nano(),
            Self::Summary(p) => p.time_unix_nano(),
        }
    }
}

impl Batch {
    /// Keeps the span events the predicate accepts (span events are not counted items:
    /// spans stay even when they lose every event).
    pub fn retain_span_events(
        &mut self,
        mut keep: impl FnMut(ResourceView<'_>, ScopeView<'_>, SpanView<'_>, EventView<'_>) -> bool,
    ) {
        self.edit_spans(|edit| {
            let (resource, scope, span) = (edit.resource(), edit.scope(), edit.span());
            let mask: Vec<bool> = span
                .events()
                .map(|event| keep(resource, scope, span, event))
                .collect();
            if mask.iter().any(|k| !k) {
                edit.retain_events(mask);
            }
            true
        });
    }

    /// Keeps the resources the predicate accepts.
    pub fn retain_resources(&mut self, mut keep: impl FnMut(ResourceView<'_>) -> bool) {
        self.edit_resources(|edit| keep(edit.resource()));
    }

    /// Keeps the scopes the predicate accepts; resources left empty disappear.
    pub fn retain_scopes(&mut self, mut keep: impl FnMut(ResourceView<'_>, ScopeView<'_>) -> bool) {
        self.edit_scopes(|edit| keep(edit.resource(), edit.scope()));
    }

    /// Keeps the spans the predicate accepts.
    pub fn retain_spans(
        &mut self,
        mut keep: impl FnMut(ResourceView<'_>, ScopeView<'_>, SpanView<'_>) -> bool,
    ) {
        self.edit_spans(|edit| keep(edit.resource(), edit.scope(), edit.span()));
    }

    /// Keeps the log records the predicate accepts.
    pub fn retain_log_records(
        &mut self,
        mut keep: impl FnMut(ResourceView<'_>, ScopeView<'_>, LogRecordView<'_>) -> bool,
    ) {
        self.edit_log_records(|edit| keep(edit.resource(), edit.scope(), edit.record()));
    }

    /// Keeps the metrics the predicate accepts (with all their points).
    pub fn retain_metrics(
        &mut self,
        mut keep: impl FnMut(ResourceView<'_>, ScopeView<'_>, MetricView<'_>) -> bool,
    ) {
        self.edit_metrics(|edit| keep(edit.resource(), edit.scope(), edit.metric()));
    }

    /// Changes and drops resources. The callback returns whether to keep the resource.
    /// A wire resource whose attributes change has only its `Resource` message
    /// re-encoded; its scopes and items are copied as they are.
    pub fn edit_resources(&mut self, mut edit: impl FnMut(&mut ResourceEdit<'_>) -> bool) {
        fn walk<P: OtlpResource>(
            resources: &mut Vec<Res<P>>,
            edit: &mut impl FnMut(&mut ResourceEdit<'_>) -> bool,
            resource_of: impl Fn(&P) -> ResourceView<'_>,
            resource_mut: impl Fn(&mut P) -> &mut Option<Resource>,
        ) {
            let mut ops = Vec::new();
            resources.retain_mut(|res| {
                ops.clear();
                let keep = match res {
                    Res::Owned(p) => edit(&mut ResourceEdit {
                        resource: resource_of(p),
                        ops: &mut ops,
                    }),
                    Res::Wire { bytes, .. } => edit(&mut ResourceEdit {
                        resource: ResourceView::wire(Msg(bytes).msg(1)),
                        ops: &mut ops,
                    }),
                };
                if keep && !ops.is_empty() {
                    match res {
                        Res::Owned(p) => {
                            let resource = resource_mut(p).get_or_insert_with(Default::default);
                            for op in ops.drain(..) {
                                op.apply(&mut resource.attributes);
                            }
                        }
                        Res::Wire { bytes, items } => {
                            *bytes = splice_resource(Msg(bytes), ops.drain(..));
                            let _ = items;
                        }
                    }
                }
                keep
            });
        }
        match self.payload_mut() {
            Payload::Traces(rs) => walk(
                rs,
                &mut edit,
                |p: &ResourceSpans| ResourceView::owned(p.resource.as_ref()),
                |p| &mut p.resource,
            ),
            Payload::Metrics(rm) => walk(
                rm,
                &mut edit,
                |p: &ResourceMetrics| ResourceView::owned(p.resource.as_ref()),
                |p| &mut p.resource,
            ),
            Payload::Logs(rl) => walk(
                rl,
                &mut edit,
                |p: &ResourceLogs| ResourceView::owned(p.resource.as_ref()),
                |p| &mut p.resource,
            ),
        }
        self.recount();
    }

    /// Changes and drops scopes; resources left without scopes disappear.
    pub fn edit_scopes(&mut self, mut edit: impl FnMut(&mut ScopeEdit<'_>) -> bool) {
        let mut ops = Vec::new();
        let mut recorded = Recorded::new();
        macro_rules! walk {
            ($resources:expr, $scopes:ident) => {
                $resources.retain_mut(|res| {
                    recorded.clear();
                    let p = decode_if_changed(res, |msg| {
                        let resource = ResourceView::wire(msg.msg(1));
                        let mut changed = false;
                        for scope in msg.repeated(2) {
                            ops.clear();
                            let keep = edit(&mut ScopeEdit {
                                resource,
                                scope: ScopeView::wire(scope.msg(1)),
                                ops: &mut ops,
                            });
                            changed |= recorded.record(keep, &mut ops);
                        }
                        changed
                    });
                    let Some(p) = p else { return true };
                    let resource = ResourceView::owned(p.resource.as_ref());
                    let replaying = recorded.judged();
                    not_left_empty(&mut p.$scopes, |scopes| {
                        scopes.retain_mut(|s| {
                            ops.clear();
                            let keep = if replaying {
                                recorded.replay(&mut ops)
                            } else {
                                edit(&mut ScopeEdit {
                                    resource,
                                    scope: ScopeView::owned(s.scope.as_ref()),
                                    ops: &mut ops,
                                })
                            };
                            if keep {
                                let scope = s.scope.get_or_insert_with(Default::default);
                                for op in ops.drain(..) {
                                    apply_scope_op(op, scope);
                                }
                            }
                            keep
                        })
                    })
                })
            };
        }
        match self.payload_mut() {
            Payload::Traces(rs) => walk!(rs, scope_spans),
            Payload::Metrics(rm) => walk!(rm, scope_metrics),
            Payload::Logs(rl) => walk!(rl, scope_logs),
        }
        self.recount();
    }

    /// Changes and drops spans. The callback returns whether to keep the span.
    pub fn edit_spans(&mut self, mut edit: impl FnMut(&mut SpanEdit<'_>) -> bool) {
        let Payload::Traces(resources) = self.payload_mut() else {
            return;
        };
        let mut ops: Vec<SpanOp> = Vec::new();
        let mut decisions = Decisions::new();
        resources.retain_mut(|res| match res {
            Res::Owned(rs) => {
                let resource = ResourceView::owned(rs.resource.as_ref());
                not_left_empty(&mut rs.scope_spans, |scopes| {
                    scopes.retain_mut(|scope_spans| {
                        let scope = ScopeView::owned(scope_spans.scope.as_ref());
                        not_left_empty(&mut scope_spans.spans, |spans| {
                            spans.retain_mut(|span| {
                                ops.clear();
                                let keep = edit(&mut SpanEdit {
                                    span: SpanView::from_owned(span),
                                    resource,
                                    scope,
                                    ops: &mut ops,
                                });
                                if keep {
                                    SpanOp::apply_all(ops.drain(..), span);
                                }
                                keep
                            })
                        })
                    })
                })
            }
            Res::Wire { bytes, .. } => {
                decisions.clear();
                let msg = Msg(bytes);
                let resource = ResourceView::wire(msg.msg(1));
                for scope_msg in msg.repeated(2) {
                    let scope = ScopeView::wire(scope_msg.msg(1));
                    for span in scope_msg.repeated(2) {
                        ops.clear();
                        let keep = edit(&mut SpanEdit {
                            span: SpanView::from_wire(span),
                            resource,
                            scope,
                            ops: &mut ops,
                        });
                        let index = decisions.keep.len();
                        decisions.keep.push(keep);
                        if keep {
                            decisions.ops.extend(ops.drain(..).map(|op| (index, op)));
                        }
                    }
                }
                finish_wire(res, &mut decisions, |rs: &mut ResourceSpans, keep, ops| {
                    let mut index = 0;
                    not_left_empty(&mut rs.scope_spans, |scopes| {
                        scopes.retain_mut(|scope| {
                            not_left_empty(&mut scope.spans, |spans| {
                                apply_in_order(spans, &mut index, ops, keep, |ops, span| {
                                    SpanOp::apply_all(ops, span)
                                })
                            })
                        })
                    })
                })
            }
        });
        self.recount();
    }

    /// Changes and drops log records. The callback returns whether to keep the record.
    pub fn edit_log_records(&mut self, mut edit: impl FnMut(&mut LogRecordEdit<'_>) -> bool) {
        let Payload::Logs(resources) = self.payload_mut() else {
            return;
        };
        let mut ops: Vec<LogOp> = Vec::new();
        let mut decisions = Decisions::new();
        resources.retain_mut(|res| match res {
            Res::Owned(rl) => {
                let resource = ResourceView::owned(rl.resource.as_ref());
                not_left_empty(&mut rl.scope_logs, |scopes| {
                    scopes.retain_mut(|scope_logs| {
                        let scope = ScopeView::owned(scope_logs.scope.as_ref());
                        not_left_empty(&mut scope_logs.log_records, |records| {
                            records.retain_mut(|record| {
                                ops.clear();
                                let keep = edit(&mut LogRecordEdit {
                                    record: LogRecordView::from_owned(record),
                                    resource,
                                    scope,
                                    ops: &mut ops,
                                });
                                if keep {
                                    for op in ops.drain(..) {
                                        op.apply(record);
                                    }
                                }
                                keep
                            })
                        })
                    })
                })
            }
            Res::Wire { bytes, .. } => {
                decisions.clear();
                let msg = Msg(bytes);
                let resource = ResourceView::wire(msg.msg(1));
                for scope_msg in msg.repeated(2) {
                    let scope = ScopeView::wire(scope_msg.msg(1));
                    for record in scope_msg.repeated(2) {
                        ops.clear();
                        let keep = edit(&mut LogRecordEdit {
                            record: LogRecordView::from_wire(record),
                            resource,
                            scope,
                            ops: &mut ops,
                        });
                        let index = decisions.keep.len();
                        decisions.keep.push(keep);
                        if keep {
                            decisions.ops.extend(ops.drain(..).map(|op| (index, op)));
                        }
                    }
                }
                finish_wire(res, &mut decisions, |rl: &mut ResourceLogs, keep, ops| {
                    let mut index = 0;
                    not_left_empty(&mut rl.scope_logs, |scopes| {
                        scopes.retain_mut(|scope| {
                            not_left_empty(&mut scope.log_records, |records| {
                                apply_in_order(records, &mut index, ops, keep, |ops, record| {
                                    ops.for_each(|op| op.apply(record))
                                })
                            })
                        })
                    })
                })
            }
        });
        self.recount();
    }

    /// Changes and drops whole metrics (descriptor and points). Scopes and resources
    /// left empty disappear.
    pub fn edit_metrics(&mut self, mut edit: impl FnMut(&mut MetricEdit<'_>) -> bool) {
        let Payload::Metrics(resources) = self.payload_mut() else {
            return;
        };
        let mut ops: Vec<MetricOp> = Vec::new();
        let mut recorded = Recorded::new();
        resources.retain_mut(|res| {
            recorded.clear();
            let p = decode_if_changed(res, |msg| {
                let resource = ResourceView::wire(msg.msg(1));
                let mut changed = false;
                for scope_msg in msg.repeated(2) {
                    let scope = ScopeView::wire(scope_msg.msg(1));
                    for metric in scope_msg.repeated(2) {
                        ops.clear();
                        let keep = edit(&mut MetricEdit {
                            metric: MetricView::from_wire(metric),
                            resource,
                            scope,
                            ops: &mut ops,
                        });
                        changed |= recorded.record(keep, &mut ops);
                    }
                }
                changed
            });
            let Some(rm) = p else { return true };
            let resource = ResourceView::owned(rm.resource.as_ref());
            let replaying = recorded.judged();
            not_left_empty(&mut rm.scope_metrics, |scopes| {
                scopes.retain_mut(|scope_metrics| {
                    let scope = ScopeView::owned(scope_metrics.scope.as_ref());
                    not_left_empty(&mut scope_metrics.metrics, |metrics| {
                        metrics.retain_mut(|metric| {
                            ops.clear();
                            let keep = if replaying {
                                recorded.replay(&mut ops)
                            } else {
                                edit(&mut MetricEdit {
                                    metric: MetricView::from_owned(metric),
                                    resource,
                                    scope,
                                    ops: &mut ops,
                                })
                            };
                            if keep {
                                for op in ops.drain(..) {
                                    op.apply(metric);
                                }
                            }
                            keep
                        })
                    })
                })
            })
        });
        self.recount();
    }

    /// Keeps the data points the predicate accepts. Metrics left without points,
    /// scopes without metrics and resources without scopes disappear.
    pub fn retain_data_points(
        &mut self,
        mut keep: impl FnMut(ResourceView<'_>, ScopeView<'_>, MetricView<'_>, PointView<'_>) -> bool,
    ) {
        let Payload::Metrics(resources) = self.payload_mut() else {
            return;
        };
        // Indexes (across the resource's points, in order) of the points a wire
        // resource's judging pass refused: replayed on the decoded resource, so the
        // predicate sees each point once.
        let mut refused: Vec<usize> = Vec::new();
        resources.retain_mut(|res| {
            refused.clear();
            let mut judged = false;
            let p = decode_if_changed(res, |msg| {
                judged = true;
                let resource = ResourceView::wire(msg.msg(1));
                let mut index = 0;
                for scope_msg in msg.repeated(2) {
                    let scope = ScopeView::wire(scope_msg.msg(1));
                    for metric_msg in scope_msg.repeated(2) {
                        let metric = MetricView::from_wire(metric_msg);
                        for point in metric.points() {
                            if !keep(resource, scope, metric, point) {
                                refused.push(index);
                            }
                            index += 1;
                        }
                    }
                }
                !refused.is_empty()
            });
            let Some(rm) = p else { return true };
            let resource = ResourceView::owned(rm.resource.as_ref());
            let mut index = 0;
            let mut refused = refused.iter().peekable();
            not_left_empty(&mut rm.scope_metrics, |scopes| {
                scopes.retain_mut(|scope_metrics| {
                    let scope = ScopeView::owned(scope_metrics.scope.as_ref());
                    not_left_empty(&mut scope_metrics.metrics, |metrics| {
                        metrics.retain_mut(|metric| {
                            let had = data_points(metric) > 0;
                            retain_points_owned(metric, |m, point| {
                                if judged {
                                    let this = index;
                                    index += 1;
                                    refused.next_if(|i| **i == this).is_none()
                                } else {
                                    keep(resource, scope, m, point)
                                }
                            });
                            !had || data_points(metric) > 0
                        })
                    })
                })
            })
        });
        self.recount();
    }
}

fn retain_points_owned(
    metric: &mut Metric,
    mut keep: impl FnMut(MetricView<'_>, PointView<'_>) -> bool,
) {
    // The predicate sees the metric's descriptor; points are judged one by one and
    // then removed, so the view is taken from a descriptor-only copy.
    let descriptor = Metric {
        name: metric.name.clone(),
        description: metric.description.clone(),
        unit: metric.unit.clone(),
        metadata: metric.metadata.clone(),
        data: match &metric.data {
            Some(Data::Sum(s)) => Some(Data::Sum(weir_proto::metrics::v1::Sum {
                data_points: Vec::new(),
                aggregation_temporality: s.aggregation_temporality,
                is_monotonic: s.is_monotonic,
            })),
            Some(Data::Histogram(h)) => Some(Data::Histogram(weir_proto::metrics::v1::Histogram {
                data_points: Vec::new(),
                aggregation_temporality: h.aggregation_temporality,
            })),
            Some(Data::ExponentialHistogram(h)) => Some(Data::ExponentialHistogram(
                weir_proto::metrics::v1::ExponentialHistogram {
                    data_points: Vec::new(),
                    aggregation_temporality: h.aggregation_temporality,
                },
            )),
            Some(Data::Gauge(_)) => Some(Data::Gauge(Default::default())),
            Some(Data::Summary(_)) => Some(Data::Summary(Default::default())),
            None => None,
        },
    };
    let view = MetricView::from_owned(&descriptor);
    match &mut metric.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .retain(|p| keep(view, PointView::Number(NumberPointView::from_owned(p)))),
        Some(Data::Sum(s)) => s
            .data_points
            .retain(|p| keep(view, PointView::Number(NumberPointView::from_owned(p)))),
        Some(Data::Histogram(h)) => h.data_points.retain(|p| {
            keep(
                view,
                PointView::Histogram(HistogramPointView::from_owned(p)),
            )
        }),
        Some(Data::ExponentialHistogram(h)) => h.data_points.retain(|p| {
            keep(
                view,
                PointView::ExponentialHistogram(ExponentialHistogramPointView::from_owned(p)),
            )
        }),
        Some(Data::Summary(s)) => s
            .data_points
            .retain(|p| keep(view, PointView::Summary(SummaryPointView::from_owned(p)))),
        None => {}
    }
}

/// What a wire resource's judging pass decided, for the items it changed: replayed by
/// position on the decoded resource, so the caller's callback runs once per item.
struct Recorded<Op> {
    /// (item index, keep, changes) for the items that were dropped or changed.
    changes: Vec<(usize, bool, Vec<Op>)>,
    next: usize,
    /// The next item to replay.
    cursor: usize,
    /// The first change not replayed yet (changes are recorded in item order).
    pending: usize,
}

impl<Op> Recorded<Op> {
    fn new() -> Self {
        Self {
            changes: Vec::new(),
            next: 0,
            cursor: 0,
            pending: 0,
        }
    }

    fn clear(&mut self) {
        self.changes.clear();
        self.next = 0;
        self.cursor = 0;
        self.pending = 0;
    }

    /// Records one judged item; returns whether it changed.
    fn record(&mut self, keep: bool, ops: &mut Vec<Op>) -> bool {
        let index = self.next;
        self.next += 1;
        if keep && ops.is_empty() {
            return false;
        }
        self.changes.push((index, keep, std::mem::take(ops)));
        true
    }

    /// Whether a judging pass ran (the resource arrived as wire bytes).
    fn judged(&self) -> bool {
        self.next > 0
    }

    /// The next item's decision: keep, with its changes moved into `ops`.
    fn replay(&mut self, ops: &mut Vec<Op>) -> bool {
        let index = self.cursor;
        self.cursor += 1;
        match self.changes.get_mut(self.pending) {
            Some((i, keep, changes)) if *i == index => {
                self.pending += 1;
                ops.append(changes);
                *keep
            }
            _ => true,
        }
    }
}

/// For walks that decode any resource they change: runs `judge` over a wire resource's
/// views; when it reports a change (or for owned resources), hands out the decoded
/// resource for the walk to run again on. `None`: leave the resource as it is.
fn decode_if_changed<P: OtlpResource>(
    res: &mut Res<P>,
    judge: impl FnOnce(Msg<'_>) -> bool,
) -> Option<&mut P> {
    if let Res::Wire { bytes, .. } = res {
        if !judge(Msg(bytes)) {
            return None;
        }
    }
    Some(res.make_owned())
}

/// Ends a walk over a wire resource: leaves it, copies its kept items (rewriting the
/// changed ones in their bytes when every change can be, see `splice.rs`), or decodes
/// it and applies the recorded changes. Returns whether the resource stays.
fn finish_wire<P: OtlpResource, Op: Splice>(
    res: &mut Res<P>,
    decisions: &mut Decisions<Op>,
    apply: impl FnOnce(
        &mut P,
        &[bool],
        &mut std::iter::Peekable<std::vec::IntoIter<(usize, Op)>>,
    ) -> bool,
) -> bool {
    let Res::Wire { bytes, .. } = res else {
        return true;
    };
    if decisions.unchanged() {
        return true;
    }
    if decisions.ops.iter().all(|(_, op)| op.spliceable()) {
        let mut ops = std::mem::take(&mut decisions.ops).into_iter().peekable();
        let mut rewrite = |index: usize, item: Msg<'_>, out: &mut Vec<u8>| {
            // Ops of dropped items (none are recorded) and of earlier items are passed.
            while ops.next_if(|(i, _)| *i < index).is_some() {}
            if ops.peek().is_none_or(|(i, _)| *i != index) {
                return false;
            }
            let mine = std::iter::from_fn(|| ops.next_if(|(i, _)| *i == index).map(|(_, op)| op));
            Op::splice(item, mine, out);
            true
        };
        return match copy_with(Msg(bytes), &decisions.keep, true, &mut rewrite) {
            Some(kept) => {
                *res = Res::wire(kept);
                true
            }
            None => false,
        };
    }
    let mut ops = std::mem::take(&mut decisions.ops).into_iter().peekable();
    let keep = std::mem::take(&mut decisions.keep);
    let stays = apply(res.make_owned(), &keep, &mut ops);
    decisions.keep = keep;
    stays
}

fn apply_scope_op(op: ScopeOp, scope: &mut InstrumentationScope) {
    match op {
        ScopeOp::Attr(op) => op.apply(&mut scope.attributes),
        ScopeOp::Name(name) => scope.name = name,
        ScopeOp::Version(version) => scope.version = version,
    }
}

/// Rewrites a wire resource with its `Resource` message (field 1) changed by `ops`:
/// only that small message is decoded and re-encoded; scopes are copied as they are.
fn splice_resource(resource: Msg<'_>, ops: impl Iterator<Item = AttrOp>) -> Bytes {
    let mut decoded = resource
        .msg(1)
        .and_then(|m| Resource::decode(m.0).ok())
        .unwrap_or_default();
    for op in ops {
        op.apply(&mut decoded.attributes);
    }
    let encoded = decoded.encode_to_vec();
    let mut out = Vec::with_capacity(resource.0.len() + encoded.len());
    put_len_header(&mut out, 1, encoded.len());
    out.extend_from_slice(&encoded);
    for (number, _, raw) in resource.fields() {
        if number != 1 {
            out.extend_from_slice(raw);
        }
    }
    Bytes::from(out)
}
