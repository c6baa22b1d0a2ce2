//! Log records: `ResourceLogs` > `ScopeLogs` > `LogRecord`.

use serde_json::Value;
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};

use super::common::{
    read_any_value, read_attributes, read_resource, read_scope, write_any_value, write_attributes,
    write_resource, write_scope,
};
use super::read::{Obj, Result};
use super::write;

pub(super) fn read_resource_logs(o: Obj<'_>) -> Result<ResourceLogs> {
    Ok(ResourceLogs {
        resource: o.message("resource", read_resource)?,
        scope_logs: o.messages("scopeLogs", read_scope_logs)?,
        schema_url: o.string("schemaUrl")?,
    })
}

fn read_scope_logs(o: Obj<'_>) -> Result<ScopeLogs> {
    Ok(ScopeLogs {
        scope: o.message("scope", read_scope)?,
        log_records: o.messages("logRecords", read_log_record)?,
        schema_url: o.string("schemaUrl")?,
    })
}

fn read_log_record(o: Obj<'_>) -> Result<LogRecord> {
    Ok(LogRecord {
        time_unix_nano: o.u64("timeUnixNano")?,
        observed_time_unix_nano: o.u64("observedTimeUnixNano")?,
        severity_number: o.enumeration("severityNumber", |n| {
            SeverityNumber::from_str_name(n).map(|s| s as i32)
        })?,
        severity_text: o.string("severityText")?,
        body: o.message("body", read_any_value)?,
        attributes: read_attributes(o, "attributes")?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
        flags: o.u32("flags")?,
        trace_id: o.id("traceId", 16)?,
        span_id: o.id("spanId", 8)?,
        event_name: o.string("eventName")?,
    })
}

// ---------------------------------------------------------------- writing

pub(super) fn write_resource_logs(rl: &ResourceLogs) -> Value {
    write::Obj::new()
        .message("resource", rl.resource.as_ref().map(write_resource))
        .list("scopeLogs", rl.scope_logs.iter().map(write_scope_logs))
        .string("schemaUrl", &rl.schema_url)
        .build()
}

fn write_scope_logs(sl: &ScopeLogs) -> Value {
    write::Obj::new()
        .message("scope", sl.scope.as_ref().map(write_scope))
        .list("logRecords", sl.log_records.iter().map(write_log_record))
        .string("schemaUrl", &sl.schema_url)
        .build()
}

fn write_log_record(r: &LogRecord) -> Value {
    write::Obj::new()
        .u64("timeUnixNano", r.time_unix_nano)
        .u64("observedTimeUnixNano", r.observed_time_unix_nano)
        .i32("severityNumber", r.severity_number)
        .string("severityText", &r.severity_text)
        .message("body", r.body.as_ref().map(write_any_value))
        .list("attributes", write_attributes(&r.attributes))
        .u32("droppedAttributesCount", r.dropped_attributes_count)
        .u32("flags", r.flags)
        .id("traceId", &r.trace_id)
        .id("spanId", &r.span_id)
        .string("eventName", &r.event_name)
        .build()
}
