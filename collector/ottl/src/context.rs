//! Contexts (what an expression is about) and the item handed to evaluation.

use weir_api::batch::view::{
    EventView, LogRecordView, MetricView, ResourceView, ScopeView, SpanView,
};
use weir_api::batch::PointView;
use weir_api::ClientMetadata;

/// The item an expression is about; its paths resolve against it and its parents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Metric,
    DataPoint,
    Log,
    /// The request's client metadata (`request["header"]`), for the routing connector.
    Request,
}

impl Context {
    /// The context's name in configuration (`context: span`) and as a path prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Resource => "resource",
            Self::Scope => "scope",
            Self::Span => "span",
            Self::SpanEvent => "spanevent",
            Self::Metric => "metric",
            Self::DataPoint => "datapoint",
            Self::Log => "log",
            Self::Request => "request",
        }
    }

    /// Reads a configured context name. `instrumentation_scope` is accepted for `scope`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "resource" => Self::Resource,
            "scope" | "instrumentation_scope" => Self::Scope,
            "span" => Self::Span,
            "spanevent" => Self::SpanEvent,
            "metric" => Self::Metric,
            "datapoint" => Self::DataPoint,
            "log" => Self::Log,
            "request" => Self::Request,
            _ => return None,
        })
    }

    /// The contexts whose paths this context reaches: itself and its parents.
    pub fn reaches(self, other: Context) -> bool {
        use Context::*;
        match self {
            Resource => other == Resource,
            Scope => matches!(other, Resource | Scope),
            Span => matches!(other, Resource | Scope | Span),
            SpanEvent => matches!(other, Resource | Scope | Span | SpanEvent),
            Metric => matches!(other, Resource | Scope | Metric),
            DataPoint => matches!(other, Resource | Scope | Metric | DataPoint),
            Log => matches!(other, Resource | Scope | Log),
            Request => other == Request,
        }
    }

    /// Of two contexts, the finer one when one contains the other.
    pub fn finer(self, other: Context) -> Option<Context> {
        if self.reaches(other) {
            Some(self)
        } else if other.reaches(self) {
            Some(other)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What an item-level expression reads: the item, borrowed from the batch.
#[derive(Clone, Copy, Debug)]
pub enum ItemKind<'a> {
    Resource,
    Scope,
    Span(SpanView<'a>),
    SpanEvent(SpanView<'a>, EventView<'a>),
    Metric(MetricView<'a>),
    DataPoint(MetricView<'a>, PointView<'a>),
    Log(LogRecordView<'a>),
}

/// An item with its resource and scope (and, for the routing connector's `request`
/// context, the request's client metadata). Cheap to copy: every field is a view.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub resource: ResourceView<'a>,
    pub scope: ScopeView<'a>,
    pub kind: ItemKind<'a>,
    pub request: Option<&'a ClientMetadata>,
}

impl<'a> Item<'a> {
    pub fn resource(resource: ResourceView<'a>) -> Self {
        Self {
            resource,
            scope: ScopeView::empty(),
            kind: ItemKind::Resource,
            request: None,
        }
    }

    pub fn scope(resource: ResourceView<'a>, scope: ScopeView<'a>) -> Self {
        Self {
            resource,
            scope,
            kind: ItemKind::Scope,
            request: None,
        }
    }

    pub fn span(resource: ResourceView<'a>, scope: ScopeView<'a>, span: SpanView<'a>) -> Self {
        Self {
            resource,
            scope,
            kind: ItemKind::Span(span),
            request: None,
        }
    }

    pub fn span_event(
        resource: ResourceView<'a>,
        scope: ScopeView<'a>,
        span: SpanView<'a>,
        event: EventView<'a>,
    ) -> Self {
        Self {
            resource,
            scope,
            kind: ItemKind::SpanEvent(span, event),
            request: None,
        }
    }

    pub fn metric(
        resource: ResourceView<'a>,
        scope: ScopeView<'a>,
        metric: MetricView<'a>,
    ) -> Self {
        Self {
            resource,
            scope,
            kind: ItemKind::Metric(metric),
            request: None,
        }
    }

    pub fn data_point(
        resource: ResourceView<'a>,
        scope: ScopeView<'a>,
        metric: MetricView<'a>,
        point: PointView<'a>,
    ) -> Self {
        Self {
            resource,
            scope,
            kind: ItemKind::DataPoint(metric, point),
            request: None,
        }
    }

    pub fn log(
        resource: ResourceView<'a>,
        scope: ScopeView<'a>,
        record: LogRecordView<'a>,
    ) -> Self {
        Self {
            resource,
            scope,
            kind: ItemKind::Log(record),
            request: None,
        }
    }

    /// A request-context item: only `request["key"]` is read.
    pub fn request(metadata: &'a ClientMetadata) -> Self {
        Self {
            resource: ResourceView::empty(),
            scope: ScopeView::empty(),
            kind: ItemKind::Resource,
            request: Some(metadata),
        }
    }
}
