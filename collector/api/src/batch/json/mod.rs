//! OTLP/JSON encoding and decoding.
//!
//! Rules (OTLP specification, "JSON Protobuf Encoding", on top of the proto3 JSON
//! mapping): trace and span ids are case-insensitive hex strings (empty string = no id);
//! enums are integers; 64-bit integers are decimal strings when written and strings or
//! numbers when read; field names are lowerCamelCase; unknown fields are ignored.
//!
//! Why by hand rather than through opentelemetry-proto's `with-serde` derives: those
//! reject snake_case names, fail on an AnyValue or KeyValue missing a field, cannot read
//! `"NaN"` in most double fields, and write every default value. Here decoding is
//! lenient in what the Collector accepts too (snake_case names, enum names, numbers in
//! strings, `NaN`/`Infinity`), and encoding writes what protojson writes: defaults
//! omitted, 64-bit integers as strings, enums as integers, ids as lowercase hex.
//!
//! Decoding goes through `serde_json::Value` (serde_json caps nesting at 128 levels, so
//! a hostile deeply nested AnyValue cannot overflow the stack); errors name the path of
//! the offending field, e.g. `resourceSpans[0].scopeSpans[0].spans[2].traceId: ...`.

mod common;
mod logs;
mod metrics;
mod read;
mod trace;
mod write;

use serde_json::Value;

use crate::{Batch, DecodeError, Signal};
use read::Obj;

/// Decodes an OTLP/JSON export request of the given signal.
pub fn decode(signal: Signal, bytes: &[u8]) -> Result<Batch, DecodeError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| DecodeError(format!("invalid OTLP/JSON: {e}")))?;
    let value = read::normalise_keys(value);
    let request = read::obj(&value).map_err(|e| {
        DecodeError(format!(
            "invalid OTLP/JSON: the request {}",
            e.into_message()
        ))
    })?;
    decode_request(signal, request)
        .map_err(|e| DecodeError(format!("invalid OTLP/JSON: {}", e.into_message())))
}

fn decode_request(signal: Signal, request: Obj<'_>) -> read::Result<Batch> {
    Ok(match signal {
        Signal::Traces => {
            Batch::from_traces(request.messages("resourceSpans", trace::read_resource_spans)?)
        }
        Signal::Metrics => Batch::from_metrics(
            request.messages("resourceMetrics", metrics::read_resource_metrics)?,
        ),
        Signal::Logs => {
            Batch::from_logs(request.messages("resourceLogs", logs::read_resource_logs)?)
        }
    })
}

/// Encodes a batch as an OTLP/JSON export request.
pub fn encode(batch: &Batch) -> Vec<u8> {
    let request = match batch.signal() {
        Signal::Traces => write::Obj::new().list(
            "resourceSpans",
            batch
                .resource_spans()
                .iter()
                .map(trace::write_resource_spans),
        ),
        Signal::Metrics => write::Obj::new().list(
            "resourceMetrics",
            batch
                .resource_metrics()
                .iter()
                .map(metrics::write_resource_metrics),
        ),
        Signal::Logs => write::Obj::new().list(
            "resourceLogs",
            batch.resource_logs().iter().map(logs::write_resource_logs),
        ),
    };
    // Serializing a `Value` with string keys cannot fail.
    serde_json::to_vec(&request.build()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
