//! Views of spans, with their events, links and status.

use weir_proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

use super::{view_type, Attributes, Repr, ResourceView, ScopeView, ViewIter};

view_type!(
    /// One resource's spans.
    ResourceSpansView,
    ResourceSpans
);
view_type!(
    /// One scope's spans.
    ScopeSpansView,
    ScopeSpans
);
view_type!(
    /// One span.
    SpanView,
    Span
);
view_type!(
    /// A span event.
    EventView,
    span::Event
);
view_type!(
    /// A span link.
    LinkView,
    span::Link
);

impl<'a> ResourceSpansView<'a> {
    pub fn resource(&self) -> ResourceView<'a> {
        match self.0 {
            Repr::Owned(r) => ResourceView::owned(r.resource.as_ref()),
            Repr::Wire(m) => ResourceView::wire(m.msg(1)),
        }
    }

    pub fn scopes(&self) -> ViewIter<'a, ScopeSpans, ScopeSpansView<'a>> {
        match self.0 {
            Repr::Owned(r) => ViewIter::owned(&r.scope_spans),
            Repr::Wire(m) => ViewIter::wire(m, 2),
        }
    }

    pub fn schema_url(&self) -> &'a str {
        match self.0 {
            Repr::Owned(r) => &r.schema_url,
            Repr::Wire(m) => m.str(3),
        }
    }
}

impl<'a> ScopeSpansView<'a> {
    pub fn scope(&self) -> ScopeView<'a> {
        match self.0 {
            Repr::Owned(s) => ScopeView::owned(s.scope.as_ref()),
            Repr::Wire(m) => ScopeView::wire(m.msg(1)),
        }
    }

    pub fn spans(&self) -> ViewIter<'a, Span, SpanView<'a>> {
        match self.0 {
            Repr::Owned(s) => ViewIter::owned(&s.spans),
            Repr::Wire(m) => ViewIter::wire(m, 2),
        }
    }

    pub fn schema_url(&self) -> &'a str {
        match self.0 {
            Repr::Owned(s) => &s.schema_url,
            Repr::Wire(m) => m.str(3),
        }
    }
}

/// The span kind (OTLP `Span.SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
    /// A value this version of OTLP does not name.
    Other(i32),
}

impl SpanKind {
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => Self::Unspecified,
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            other => Self::Other(other),
        }
    }

    pub fn as_i32(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::Internal => 1,
            Self::Server => 2,
            Self::Client => 3,
            Self::Producer => 4,
            Self::Consumer => 5,
            Self::Other(v) => v,
        }
    }

    /// The OTLP enum name, e.g. `SPAN_KIND_SERVER`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified | Self::Other(_) => "SPAN_KIND_UNSPECIFIED",
            Self::Internal => "SPAN_KIND_INTERNAL",
            Self::Server => "SPAN_KIND_SERVER",
            Self::Client => "SPAN_KIND_CLIENT",
            Self::Producer => "SPAN_KIND_PRODUCER",
            Self::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
}

/// A span's status code (OTLP `Status.StatusCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
    Other(i32),
}

impl StatusCode {
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => Self::Unset,
            1 => Self::Ok,
            2 => Self::Error,
            other => Self::Other(other),
        }
    }

    pub fn as_i32(self) -> i32 {
        match self {
            Self::Unset => 0,
            Self::Ok => 1,
            Self::Error => 2,
            Self::Other(v) => v,
        }
    }

    /// The OTLP enum name, e.g. `STATUS_CODE_ERROR`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unset | Self::Other(_) => "STATUS_CODE_UNSET",
            Self::Ok => "STATUS_CODE_OK",
            Self::Error => "STATUS_CODE_ERROR",
        }
    }
}

impl<'a> SpanView<'a> {
    /// The 16-byte trace id (empty or another length when the sender sent that).
    pub fn trace_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(s) => &s.trace_id,
            Repr::Wire(m) => m.bytes(1),
        }
    }

    pub fn span_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(s) => &s.span_id,
            Repr::Wire(m) => m.bytes(2),
        }
    }

    pub fn trace_state(&self) -> &'a str {
        match self.0 {
            Repr::Owned(s) => &s.trace_state,
            Repr::Wire(m) => m.str(3),
        }
    }

    pub fn parent_span_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(s) => &s.parent_span_id,
            Repr::Wire(m) => m.bytes(4),
        }
    }

    pub fn flags(&self) -> u32 {
        match self.0 {
            Repr::Owned(s) => s.flags,
            Repr::Wire(m) => m.fixed32(16),
        }
    }

    pub fn name(&self) -> &'a str {
        match self.0 {
            Repr::Owned(s) => &s.name,
            Repr::Wire(m) => m.str(5),
        }
    }

    pub fn kind(&self) -> SpanKind {
        SpanKind::from_i32(match self.0 {
            Repr::Owned(s) => s.kind,
            Repr::Wire(m) => m.varint(6) as i32,
        })
    }

    pub fn start_time_unix_nano(&self) -> u64 {
        match self.0 {
            Repr::Owned(s) => s.start_time_unix_nano,
            Repr::Wire(m) => m.fixed64(7),
        }
    }

    pub fn end_time_unix_nano(&self) -> u64 {
        match self.0 {
            Repr::Owned(s) => s.end_time_unix_nano,
            Repr::Wire(m) => m.fixed64(8),
        }
    }

    /// End minus start, in nanoseconds (0 when the end is before the start).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano()
            .saturating_sub(self.start_time_unix_nano())
    }

    pub fn attributes(&self) -> Attributes<'a> {
        match self.0 {
            Repr::Owned(s) => Attributes::owned(&s.attributes),
            Repr::Wire(m) => Attributes::wire(m, 9),
        }
    }

    pub fn dropped_attributes_count(&self) -> u32 {
        match self.0 {
            Repr::Owned(s) => s.dropped_attributes_count,
            Repr::Wire(m) => m.varint(10) as u32,
        }
    }

    pub fn events(&self) -> ViewIter<'a, span::Event, EventView<'a>> {
        match self.0 {
            Repr::Owned(s) => ViewIter::owned(&s.events),
            Repr::Wire(m) => ViewIter::wire(m, 11),
        }
    }

    pub fn dropped_events_count(&self) -> u32 {
        match self.0 {
            Repr::Owned(s) => s.dropped_events_count,
            Repr::Wire(m) => m.varint(12) as u32,
        }
    }

    pub fn links(&self) -> ViewIter<'a, span::Link, LinkView<'a>> {
        match self.0 {
            Repr::Owned(s) => ViewIter::owned(&s.links),
            Repr::Wire(m) => ViewIter::wire(m, 13),
        }
    }

    pub fn dropped_links_count(&self) -> u32 {
        match self.0 {
            Repr::Owned(s) => s.dropped_links_count,
            Repr::Wire(m) => m.varint(14) as u32,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_i32(match self.0 {
            Repr::Owned(s) => s.status.as_ref().map_or(0, |st| st.code),
            Repr::Wire(m) => m.msg(15).map_or(0, |st| st.varint(3) as i32),
        })
    }

    pub fn status_message(&self) -> &'a str {
        match self.0 {
            Repr::Owned(s) => s.status.as_ref().map_or("", |st| st.message.as_str()),
            Repr::Wire(m) => m.msg(15).map_or("", |st| st.str(2)),
        }
    }
}

impl<'a> EventView<'a> {
    pub fn time_unix_nano(&self) -> u64 {
        match self.0 {
            Repr::Owned(e) => e.time_unix_nano,
            Repr::Wire(m) => m.fixed64(1),
        }
    }

    pub fn name(&self) -> &'a str {
        match self.0 {
            Repr::Owned(e) => &e.name,
            Repr::Wire(m) => m.str(2),
        }
    }

    pub fn attributes(&self) -> Attributes<'a> {
        match self.0 {
            Repr::Owned(e) => Attributes::owned(&e.attributes),
            Repr::Wire(m) => Attributes::wire(m, 3),
        }
    }

    pub fn dropped_attributes_count(&self) -> u32 {
        match self.0 {
            Repr::Owned(e) => e.dropped_attributes_count,
            Repr::Wire(m) => m.varint(4) as u32,
        }
    }
}

impl<'a> LinkView<'a> {
    pub fn trace_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(l) => &l.trace_id,
            Repr::Wire(m) => m.bytes(1),
        }
    }

    pub fn span_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(l) => &l.span_id,
            Repr::Wire(m) => m.bytes(2),
        }
    }

    pub fn trace_state(&self) -> &'a str {
        match self.0 {
            Repr::Owned(l) => &l.trace_state,
            Repr::Wire(m) => m.str(3),
        }
    }

    pub fn attributes(&self) -> Attributes<'a> {
        match self.0 {
            Repr::Owned(l) => Attributes::owned(&l.attributes),
            Repr::Wire(m) => Attributes::wire(m, 4),
        }
    }

    pub fn dropped_attributes_count(&self) -> u32 {
        match self.0 {
            Repr::Owned(l) => l.dropped_attributes_count,
            Repr::Wire(m) => m.varint(5) as u32,
        }
    }

    pub fn flags(&self) -> u32 {
        match self.0 {
            Repr::Owned(l) => l.flags,
            Repr::Wire(m) => m.fixed32(6),
        }
    }
}
