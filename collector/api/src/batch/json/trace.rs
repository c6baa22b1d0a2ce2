//! Spans: `ResourceSpans` > `ScopeSpans` > `Span` (with events, links, status).

use serde_json::Value;
use weir_proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};

use super::common::{
    read_attributes, read_resource, read_scope, write_attributes, write_resource, write_scope,
};
use super::read::{Obj, Result};
use super::write;

const TRACE_ID: usize = 16;
const SPAN_ID: usize = 8;

pub(super) fn read_resource_spans(o: Obj<'_>) -> Result<ResourceSpans> {
    Ok(ResourceSpans {
        resource: o.message("resource", read_resource)?,
        scope_spans: o.messages("scopeSpans", read_scope_spans)?,
        schema_url: o.string("schemaUrl")?,
    })
}

fn read_scope_spans(o: Obj<'_>) -> Result<ScopeSpans> {
    Ok(ScopeSpans {
        scope: o.message("scope", read_scope)?,
        spans: o.messages("spans", read_span)?,
        schema_url: o.string("schemaUrl")?,
    })
}

fn read_span(o: Obj<'_>) -> Result<Span> {
    Ok(Span {
        trace_id: o.id("traceId", TRACE_ID)?,
        span_id: o.id("spanId", SPAN_ID)?,
        trace_state: o.string("traceState")?,
        parent_span_id: o.id("parentSpanId", SPAN_ID)?,
        flags: o.u32("flags")?,
        name: o.string("name")?,
        kind: o.enumeration("kind", |n| {
            span::SpanKind::from_str_name(n).map(|k| k as i32)
        })?,
        start_time_unix_nano: o.u64("startTimeUnixNano")?,
        end_time_unix_nano: o.u64("endTimeUnixNano")?,
        attributes: read_attributes(o, "attributes")?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
        events: o.messages("events", read_event)?,
        dropped_events_count: o.u32("droppedEventsCount")?,
        links: o.messages("links", read_link)?,
        dropped_links_count: o.u32("droppedLinksCount")?,
        status: o.message("status", read_status)?,
    })
}

fn read_event(o: Obj<'_>) -> Result<span::Event> {
    Ok(span::Event {
        time_unix_nano: o.u64("timeUnixNano")?,
        name: o.string("name")?,
        attributes: read_attributes(o, "attributes")?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
    })
}

fn read_link(o: Obj<'_>) -> Result<span::Link> {
    Ok(span::Link {
        trace_id: o.id("traceId", TRACE_ID)?,
        span_id: o.id("spanId", SPAN_ID)?,
        trace_state: o.string("traceState")?,
        attributes: read_attributes(o, "attributes")?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
        flags: o.u32("flags")?,
    })
}

fn read_status(o: Obj<'_>) -> Result<Status> {
    Ok(Status {
        message: o.string("message")?,
        code: o.enumeration("code", |n| {
            status::StatusCode::from_str_name(n).map(|c| c as i32)
        })?,
    })
}

// ---------------------------------------------------------------- writing

pub(super) fn write_resource_spans(rs: &ResourceSpans) -> Value {
    write::Obj::new()
        .message("resource", rs.resource.as_ref().map(write_resource))
        .list("scopeSpans", rs.scope_spans.iter().map(write_scope_spans))
        .string("schemaUrl", &rs.schema_url)
        .build()
}

fn write_scope_spans(ss: &ScopeSpans) -> Value {
    write::Obj::new()
        .message("scope", ss.scope.as_ref().map(write_scope))
        .list("spans", ss.spans.iter().map(write_span))
        .string("schemaUrl", &ss.schema_url)
        .build()
}

fn write_span(s: &Span) -> Value {
    write::Obj::new()
        .id("traceId", &s.trace_id)
        .id("spanId", &s.span_id)
        .string("traceState", &s.trace_state)
        .id("parentSpanId", &s.parent_span_id)
        .u32("flags", s.flags)
        .string("name", &s.name)
        .i32("kind", s.kind)
        .u64("startTimeUnixNano", s.start_time_unix_nano)
        .u64("endTimeUnixNano", s.end_time_unix_nano)
        .list("attributes", write_attributes(&s.attributes))
        .u32("droppedAttributesCount", s.dropped_attributes_count)
        .list("events", s.events.iter().map(write_event))
        .u32("droppedEventsCount", s.dropped_events_count)
        .list("links", s.links.iter().map(write_link))
        .u32("droppedLinksCount", s.dropped_links_count)
        .message("status", s.status.as_ref().map(write_status))
        .build()
}

fn write_event(e: &span::Event) -> Value {
    write::Obj::new()
        .u64("timeUnixNano", e.time_unix_nano)
        .string("name", &e.name)
        .list("attributes", write_attributes(&e.attributes))
        .u32("droppedAttributesCount", e.dropped_attributes_count)
        .build()
}

fn write_link(l: &span::Link) -> Value {
    write::Obj::new()
        .id("traceId", &l.trace_id)
        .id("spanId", &l.span_id)
        .string("traceState", &l.trace_state)
        .list("attributes", write_attributes(&l.attributes))
        .u32("droppedAttributesCount", l.dropped_attributes_count)
        .u32("flags", l.flags)
        .build()
}

fn write_status(s: &Status) -> Value {
    write::Obj::new()
        .string("message", &s.message)
        .i32("code", s.code)
        .build()
}
