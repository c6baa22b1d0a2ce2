//! Checks, without allocating, that bytes are an OTLP export request that prost would decode.
//!
//! A zero-copy batch keeps the request as its wire bytes and reads fields later, so the bytes are
//! checked once, on receipt. [`validate_request`](crate::validate::validate_request) refuses exactly the inputs that
//! `Export{Trace,Metrics,Logs}ServiceRequest::decode` (opentelemetry-proto 0.33.1, prost 0.14.4)
//! refuses, and accepts exactly what it accepts. It does so by following prost's decoding steps in
//! the same order over a static schema of every message reachable from the three requests, so the
//! reason it gives is also the one prost would give.
//!
//! The rules, as prost applies them:
//!
//! - **Varints** are at most 10 bytes. The 10th byte must be `0x00` or `0x01` (anything larger
//!   overflows a `u64`). Over-long encodings of small values (`0x80 0x00` for 0) are accepted.
//! - **Keys** are varints up to `u32::MAX`. Wire types 6 and 7 and field number 0 are errors.
//! - A **known field with the wrong wire type** is an error. It is not skipped as unknown.
//! - **Repeated scalars** (`HistogramDataPoint.bucket_counts`, `.explicit_bounds`,
//!   `Buckets.bucket_counts`) accept both packed and unpacked forms, even mixed. Singular scalars do
//!   not accept the packed form.
//! - **Nested reads are not bounded by the enclosing length.** prost reads a field from the whole
//!   buffer and only afterwards checks that the message ended exactly at its declared length
//!   ("delimited length exceeded"). So a field that crosses the end of its message is an error,
//!   and a packed fixed-width payload whose length is not a multiple of the width is "delimited
//!   length exceeded" when bytes follow it and "buffer underflow" when they do not.
//! - **Unknown fields** are skipped by wire type, including groups. A group ends at an end-group
//!   key with the same field number; a different number, or an end-group key outside a group, is
//!   "unexpected end group tag".
//! - **Strings** must be UTF-8. Bytes fields are not checked.
//! - **Enums are open** (any `int32` varint, in fact any varint) and **bools** are any varint.
//! - **Recursion limit 100.** The top-level request's fields are decoded with a budget of 100. A
//!   nested message needs a budget above 0 and its own fields get one less. Skipping an unknown
//!   field also needs a budget above 0, and the fields inside a skipped group get one less. So a
//!   message 100 levels below the request may hold only scalars, strings and bytes: a nested
//!   message or any unknown field there is "recursion limit reached". In OTLP only
//!   `AnyValue` ↔ `ArrayValue`/`KeyValueList` can nest that deep.
//!
//! Recursion in this module is bounded by that limit.

use std::fmt;

/// Which export request the bytes claim to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// `ExportTraceServiceRequest`.
    Traces,
    /// `ExportMetricsServiceRequest`.
    Metrics,
    /// `ExportLogsServiceRequest`.
    Logs,
}

/// Why bytes were refused: a short reason worded like prost's, and the byte offset where the
/// problem was found.
///
/// The offset is the start of the bad varint or key, the start of the field whose wire type is
/// wrong or whose nesting is too deep, the start of the length or value that runs past the end of
/// the input, the first invalid byte of a string, or, for "delimited length exceeded", the declared
/// end of the message or packed field that a read ran past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// What is wrong, e.g. "invalid wire type" or "buffer underflow".
    pub reason: &'static str,
    /// Offset into the validated bytes.
    pub offset: usize,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid OTLP protobuf at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for Invalid {}

/// Checks that `bytes` decode as the export request `kind` names, exactly as prost decides it.
///
/// Allocates nothing.
pub fn validate_request(kind: RequestKind, bytes: &[u8]) -> Result<(), Invalid> {
    let msg = match kind {
        RequestKind::Traces => Msg::ExportTraceServiceRequest,
        RequestKind::Metrics => Msg::ExportMetricsServiceRequest,
        RequestKind::Logs => Msg::ExportLogsServiceRequest,
    };
    let mut r = Reader { buf: bytes, pos: 0 };
    // `Message::decode`: fields until the buffer is empty, with the full recursion budget.
    while r.pos < r.buf.len() {
        let key_at = r.pos;
        let (tag, wire) = r.key()?;
        r.field(msg, tag, wire, key_at, RECURSION_LIMIT)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reasons (worded as prost's `DecodeErrorKind` displays them, without the values).

const INVALID_VARINT: &str = "invalid varint";
const INVALID_KEY: &str = "invalid key value";
const INVALID_WIRE_TYPE_VALUE: &str = "invalid wire type value";
const INVALID_TAG: &str = "invalid tag value: 0";
const UNEXPECTED_WIRE_TYPE: &str = "invalid wire type";
const BUFFER_UNDERFLOW: &str = "buffer underflow";
const DELIMITED_LENGTH_EXCEEDED: &str = "delimited length exceeded";
const UNEXPECTED_END_GROUP: &str = "unexpected end group tag";
const INVALID_STRING: &str = "invalid string value: data is not UTF-8 encoded";
const RECURSION_LIMIT_REACHED: &str = "recursion limit reached";

/// prost's `RECURSION_LIMIT`.
const RECURSION_LIMIT: u32 = 100;

// Wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const SGROUP: u8 = 3;
const EGROUP: u8 = 4;
const I32: u8 = 5;

// ---------------------------------------------------------------------------------------------
// Schema.

/// How a known field is decoded.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// int32, int64, uint32, uint64, sint32, sint64, bool, enum: a varint, any value.
    Varint,
    /// fixed32, sfixed32, float.
    Fixed32,
    /// fixed64, sfixed64, double.
    Fixed64,
    /// A repeated varint scalar: packed (length-delimited) or one unpacked varint.
    RepeatedVarint,
    /// A repeated 8-byte scalar: packed or one unpacked value.
    RepeatedFixed64,
    /// string: length-delimited, UTF-8.
    Str,
    /// bytes: length-delimited, anything.
    Bytes,
    /// A nested message (singular, repeated or a oneof variant all decode the same).
    Message(Msg),
}

/// Every message reachable from the three export requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    ExportTraceServiceRequest,
    ExportMetricsServiceRequest,
    ExportLogsServiceRequest,
    // trace.v1
    ResourceSpans,
    ScopeSpans,
    Span,
    SpanEvent,
    SpanLink,
    Status,
    // logs.v1
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    // metrics.v1
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    Buckets,
    SummaryDataPoint,
    ValueAtQuantile,
    Exemplar,
    // resource.v1
    Resource,
    // common.v1
    EntityRef,
    InstrumentationScope,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

use Kind::{Bytes, Fixed32, Fixed64, Message as M, RepeatedFixed64, RepeatedVarint, Str, Varint};

// Field numbers and types as in opentelemetry-proto 0.33.1's generated code
// (src/proto/tonic/opentelemetry.proto.*.rs). A oneof's variants are listed as plain fields.

const EXPORT_TRACE: &[(u32, Kind)] = &[(1, M(Msg::ResourceSpans))];
const EXPORT_METRICS: &[(u32, Kind)] = &[(1, M(Msg::ResourceMetrics))];
const EXPORT_LOGS: &[(u32, Kind)] = &[(1, M(Msg::ResourceLogs))];

const RESOURCE_SPANS: &[(u32, Kind)] = &[
    (1, M(Msg::Resource)),
    (2, M(Msg::ScopeSpans)),
    (3, Str), // schema_url
];
const SCOPE_SPANS: &[(u32, Kind)] = &[
    (1, M(Msg::InstrumentationScope)),
    (2, M(Msg::Span)),
    (3, Str), // schema_url
];
const SPAN: &[(u32, Kind)] = &[
    (1, Bytes),              // trace_id
    (2, Bytes),              // span_id
    (3, Str),                // trace_state
    (4, Bytes),              // parent_span_id
    (5, Str),                // name
    (6, Varint),             // kind (enum)
    (7, Fixed64),            // start_time_unix_nano
    (8, Fixed64),            // end_time_unix_nano
    (9, M(Msg::KeyValue)),   // attributes
    (10, Varint),            // dropped_attributes_count
    (11, M(Msg::SpanEvent)), // events
    (12, Varint),            // dropped_events_count
    (13, M(Msg::SpanLink)),  // links
    (14, Varint),            // dropped_links_count
    (15, M(Msg::Status)),    // status
    (16, Fixed32),           // flags
];
const SPAN_EVENT: &[(u32, Kind)] = &[
    (1, Fixed64),          // time_unix_nano
    (2, Str),              // name
    (3, M(Msg::KeyValue)), // attributes
    (4, Varint),           // dropped_attributes_count
];
const SPAN_LINK: &[(u32, Kind)] = &[
    (1, Bytes),            // trace_id
    (2, Bytes),            // span_id
    (3, Str),              // trace_state
    (4, M(Msg::KeyValue)), // attributes
    (5, Varint),           // dropped_attributes_count
    (6, Fixed32),          // flags
];
const STATUS: &[(u32, Kind)] = &[
    (2, Str),    // message
    (3, Varint), // code (enum)
];

const RESOURCE_LOGS: &[(u32, Kind)] = &[
    (1, M(Msg::Resource)),
    (2, M(Msg::ScopeLogs)),
    (3, Str), // schema_url
];
const SCOPE_LOGS: &[(u32, Kind)] = &[
    (1, M(Msg::InstrumentationScope)),
    (2, M(Msg::LogRecord)),
    (3, Str), // schema_url
];
const LOG_RECORD: &[(u32, Kind)] = &[
    (1, Fixed64),          // time_unix_nano
    (2, Varint),           // severity_number (enum)
    (3, Str),              // severity_text
    (5, M(Msg::AnyValue)), // body
    (6, M(Msg::KeyValue)), // attributes
    (7, Varint),           // dropped_attributes_count
    (8, Fixed32),          // flags
    (9, Bytes),            // trace_id
    (10, Bytes),           // span_id
    (11, Fixed64),         // observed_time_unix_nano
    (12, Str),             // event_name
];

const RESOURCE_METRICS: &[(u32, Kind)] = &[
    (1, M(Msg::Resource)),
    (2, M(Msg::ScopeMetrics)),
    (3, Str), // schema_url
];
const SCOPE_METRICS: &[(u32, Kind)] = &[
    (1, M(Msg::InstrumentationScope)),
    (2, M(Msg::Metric)),
    (3, Str), // schema_url
];
const METRIC: &[(u32, Kind)] = &[
    (1, Str),                           // name
    (2, Str),                           // description
    (3, Str),                           // unit
    (5, M(Msg::Gauge)),                 // data: gauge
    (7, M(Msg::Sum)),                   // data: sum
    (9, M(Msg::Histogram)),             // data: histogram
    (10, M(Msg::ExponentialHistogram)), // data: exponential_histogram
    (11, M(Msg::Summary)),              // data: summary
    (12, M(Msg::KeyValue)),             // metadata
];
const GAUGE: &[(u32, Kind)] = &[(1, M(Msg::NumberDataPoint))];
const SUM: &[(u32, Kind)] = &[
    (1, M(Msg::NumberDataPoint)),
    (2, Varint), // aggregation_temporality (enum)
    (3, Varint), // is_monotonic (bool)
];
const HISTOGRAM: &[(u32, Kind)] = &[
    (1, M(Msg::HistogramDataPoint)),
    (2, Varint), // aggregation_temporality (enum)
];
const EXPONENTIAL_HISTOGRAM: &[(u32, Kind)] = &[
    (1, M(Msg::ExponentialHistogramDataPoint)),
    (2, Varint), // aggregation_temporality (enum)
];
const SUMMARY: &[(u32, Kind)] = &[(1, M(Msg::SummaryDataPoint))];
const NUMBER_DATA_POINT: &[(u32, Kind)] = &[
    (2, Fixed64),          // start_time_unix_nano
    (3, Fixed64),          // time_unix_nano
    (4, Fixed64),          // value: as_double
    (5, M(Msg::Exemplar)), // exemplars
    (6, Fixed64),          // value: as_int (sfixed64)
    (7, M(Msg::KeyValue)), // attributes
    (8, Varint),           // flags
];
const HISTOGRAM_DATA_POINT: &[(u32, Kind)] = &[
    (2, Fixed64),          // start_time_unix_nano
    (3, Fixed64),          // time_unix_nano
    (4, Fixed64),          // count
    (5, Fixed64),          // sum (optional double)
    (6, RepeatedFixed64),  // bucket_counts (repeated fixed64)
    (7, RepeatedFixed64),  // explicit_bounds (repeated double)
    (8, M(Msg::Exemplar)), // exemplars
    (9, M(Msg::KeyValue)), // attributes
    (10, Varint),          // flags
    (11, Fixed64),         // min (optional double)
    (12, Fixed64),         // max (optional double)
];
const EXPONENTIAL_HISTOGRAM_DATA_POINT: &[(u32, Kind)] = &[
    (1, M(Msg::KeyValue)),  // attributes
    (2, Fixed64),           // start_time_unix_nano
    (3, Fixed64),           // time_unix_nano
    (4, Fixed64),           // count
    (5, Fixed64),           // sum (optional double)
    (6, Varint),            // scale (sint32)
    (7, Fixed64),           // zero_count
    (8, M(Msg::Buckets)),   // positive
    (9, M(Msg::Buckets)),   // negative
    (10, Varint),           // flags
    (11, M(Msg::Exemplar)), // exemplars
    (12, Fixed64),          // min (optional double)
    (13, Fixed64),          // max (optional double)
    (14, Fixed64),          // zero_threshold (double)
];
const BUCKETS: &[(u32, Kind)] = &[
    (1, Varint),         // offset (sint32)
    (2, RepeatedVarint), // bucket_counts (repeated uint64)
];
const SUMMARY_DATA_POINT: &[(u32, Kind)] = &[
    (2, Fixed64),                 // start_time_unix_nano
    (3, Fixed64),                 // time_unix_nano
    (4, Fixed64),                 // count
    (5, Fixed64),                 // sum (double)
    (6, M(Msg::ValueAtQuantile)), // quantile_values
    (7, M(Msg::KeyValue)),        // attributes
    (8, Varint),                  // flags
];
const VALUE_AT_QUANTILE: &[(u32, Kind)] = &[
    (1, Fixed64), // quantile (double)
    (2, Fixed64), // value (double)
];
const EXEMPLAR: &[(u32, Kind)] = &[
    (2, Fixed64),          // time_unix_nano
    (3, Fixed64),          // value: as_double
    (4, Bytes),            // span_id
    (5, Bytes),            // trace_id
    (6, Fixed64),          // value: as_int (sfixed64)
    (7, M(Msg::KeyValue)), // filtered_attributes
];

const RESOURCE: &[(u32, Kind)] = &[
    (1, M(Msg::KeyValue)),  // attributes
    (2, Varint),            // dropped_attributes_count
    (3, M(Msg::EntityRef)), // entity_refs
];

const ENTITY_REF: &[(u32, Kind)] = &[
    (1, Str), // schema_url
    (2, Str), // type
    (3, Str), // id_keys (repeated)
    (4, Str), // description_keys (repeated)
];
const INSTRUMENTATION_SCOPE: &[(u32, Kind)] = &[
    (1, Str),              // name
    (2, Str),              // version
    (3, M(Msg::KeyValue)), // attributes
    (4, Varint),           // dropped_attributes_count
];
const KEY_VALUE: &[(u32, Kind)] = &[
    (1, Str),              // key
    (2, M(Msg::AnyValue)), // value
    (3, Varint),           // key_strindex
];
const ANY_VALUE: &[(u32, Kind)] = &[
    (1, Str),                  // string_value
    (2, Varint),               // bool_value
    (3, Varint),               // int_value
    (4, Fixed64),              // double_value
    (5, M(Msg::ArrayValue)),   // array_value
    (6, M(Msg::KeyValueList)), // kvlist_value
    (7, Bytes),                // bytes_value
    (8, Varint),               // string_value_strindex
];
const ARRAY_VALUE: &[(u32, Kind)] = &[(1, M(Msg::AnyValue))];
const KEY_VALUE_LIST: &[(u32, Kind)] = &[(1, M(Msg::KeyValue))];

impl Msg {
    fn fields(self) -> &'static [(u32, Kind)] {
        match self {
            Msg::ExportTraceServiceRequest => EXPORT_TRACE,
            Msg::ExportMetricsServiceRequest => EXPORT_METRICS,
            Msg::ExportLogsServiceRequest => EXPORT_LOGS,
            Msg::ResourceSpans => RESOURCE_SPANS,
            Msg::ScopeSpans => SCOPE_SPANS,
            Msg::Span => SPAN,
            Msg::SpanEvent => SPAN_EVENT,
            Msg::SpanLink => SPAN_LINK,
            Msg::Status => STATUS,
            Msg::ResourceLogs => RESOURCE_LOGS,
            Msg::ScopeLogs => SCOPE_LOGS,
            Msg::LogRecord => LOG_RECORD,
            Msg::ResourceMetrics => RESOURCE_METRICS,
            Msg::ScopeMetrics => SCOPE_METRICS,
            Msg::Metric => METRIC,
            Msg::Gauge => GAUGE,
            Msg::Sum => SUM,
            Msg::Histogram => HISTOGRAM,
            Msg::ExponentialHistogram => EXPONENTIAL_HISTOGRAM,
            Msg::Summary => SUMMARY,
            Msg::NumberDataPoint => NUMBER_DATA_POINT,
            Msg::HistogramDataPoint => HISTOGRAM_DATA_POINT,
            Msg::ExponentialHistogramDataPoint => EXPONENTIAL_HISTOGRAM_DATA_POINT,
            Msg::Buckets => BUCKETS,
            Msg::SummaryDataPoint => SUMMARY_DATA_POINT,
            Msg::ValueAtQuantile => VALUE_AT_QUANTILE,
            Msg::Exemplar => EXEMPLAR,
            Msg::Resource => RESOURCE,
            Msg::EntityRef => ENTITY_REF,
            Msg::InstrumentationScope => INSTRUMENTATION_SCOPE,
            Msg::KeyValue => KEY_VALUE,
            Msg::AnyValue => ANY_VALUE,
            Msg::ArrayValue => ARRAY_VALUE,
            Msg::KeyValueList => KEY_VALUE_LIST,
        }
    }

    fn kind_of(self, tag: u32) -> Option<Kind> {
        self.fields()
            .iter()
            .find(|(number, _)| *number == tag)
            .map(|&(_, kind)| kind)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding steps, one per prost function. Like prost, reads are not bounded by the enclosing
// message; the message checks afterwards that it ended exactly at its declared length.

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn fail<T>(reason: &'static str, offset: usize) -> Result<T, Invalid> {
    Err(Invalid { reason, offset })
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// `decode_varint`: up to 10 bytes; the 10th must be below 0x02.
    fn varint(&mut self) -> Result<u64, Invalid> {
        let start = self.pos;
        let mut value: u64 = 0;
        for (count, &byte) in self.buf[start..].iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7F) << (count * 7);
            if byte < 0x80 {
                if count == 9 && byte >= 0x02 {
                    return fail(INVALID_VARINT, start);
                }
                self.pos = start + count + 1;
                return Ok(value);
            }
        }
        fail(INVALID_VARINT, start)
    }

    /// `decode_key`: the key fits in a `u32`, the wire type is 0..=5 and the field number is not 0.
    fn key(&mut self) -> Result<(u32, u8), Invalid> {
        let start = self.pos;
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return fail(INVALID_KEY, start);
        }
        let wire = (key & 0x07) as u8;
        if wire > I32 {
            return fail(INVALID_WIRE_TYPE_VALUE, start);
        }
        let tag = (key as u32) >> 3;
        if tag == 0 {
            return fail(INVALID_TAG, start);
        }
        Ok((tag, wire))
    }

    /// Advances over `len` bytes, or "buffer underflow" (reported at `at`) when fewer remain.
    fn advance(&mut self, len: u64, at: usize) -> Result<(), Invalid> {
        if len > self.remaining() as u64 {
            return fail(BUFFER_UNDERFLOW, at);
        }
        self.pos += len as usize;
        Ok(())
    }

    /// `bytes::merge` after the wire-type check: a length, then that many bytes.
    fn length_delimited(&mut self) -> Result<&'a [u8], Invalid> {
        let at = self.pos;
        let len = self.varint()?;
        let start = self.pos;
        self.advance(len, at)?;
        let buf: &'a [u8] = self.buf;
        Ok(&buf[start..self.pos])
    }

    /// `merge_loop`: a length, then `each` until the declared end; the last read must stop
    /// exactly there.
    fn delimited(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<(), Invalid>,
    ) -> Result<(), Invalid> {
        let at = self.pos;
        let len = self.varint()?;
        if len > self.remaining() as u64 {
            return fail(BUFFER_UNDERFLOW, at);
        }
        let end = self.pos + len as usize;
        while self.pos < end {
            each(self)?;
        }
        if self.pos != end {
            return fail(DELIMITED_LENGTH_EXCEEDED, end);
        }
        Ok(())
    }

    /// The generated `merge_field` of `msg`, with prost's recursion budget `ctx`.
    fn field(
        &mut self,
        msg: Msg,
        tag: u32,
        wire: u8,
        key_at: usize,
        ctx: u32,
    ) -> Result<(), Invalid> {
        let Some(kind) = msg.kind_of(tag) else {
            return self.skip(wire, tag, key_at, ctx);
        };
        let expect = |want: u8| {
            if wire == want {
                Ok(())
            } else {
                fail(UNEXPECTED_WIRE_TYPE, key_at)
            }
        };
        match kind {
            Kind::Varint => {
                expect(VARINT)?;
                self.varint().map(drop)
            }
            Kind::Fixed32 => {
                expect(I32)?;
                let at = self.pos;
                self.advance(4, at)
            }
            Kind::Fixed64 => {
                expect(I64)?;
                let at = self.pos;
                self.advance(8, at)
            }
            Kind::RepeatedVarint if wire == LEN => self.delimited(|r| r.varint().map(drop)),
            Kind::RepeatedVarint => {
                expect(VARINT)?;
                self.varint().map(drop)
            }
            Kind::RepeatedFixed64 if wire == LEN => self.delimited(|r| {
                let at = r.pos;
                r.advance(8, at)
            }),
            Kind::RepeatedFixed64 => {
                expect(I64)?;
                let at = self.pos;
                self.advance(8, at)
            }
            Kind::Str => {
                expect(LEN)?;
                let bytes = self.length_delimited()?;
                match std::str::from_utf8(bytes) {
                    Ok(_) => Ok(()),
                    Err(e) => fail(INVALID_STRING, self.pos - bytes.len() + e.valid_up_to()),
                }
            }
            Kind::Bytes => {
                expect(LEN)?;
                self.length_delimited().map(drop)
            }
            Kind::Message(inner) => {
                // `message::merge`: wire type, then the budget, then the fields one level down.
                expect(LEN)?;
                if ctx == 0 {
                    return fail(RECURSION_LIMIT_REACHED, key_at);
                }
                self.delimited(|r| {
                    let key_at = r.pos;
                    let (tag, wire) = r.key()?;
                    r.field(inner, tag, wire, key_at, ctx - 1)
                })
            }
        }
    }

    /// `skip_field`: needs a budget above 0 even for a varint; a group's fields get one less.
    fn skip(&mut self, wire: u8, tag: u32, key_at: usize, ctx: u32) -> Result<(), Invalid> {
        if ctx == 0 {
            return fail(RECURSION_LIMIT_REACHED, key_at);
        }
        let at = self.pos;
        let len = match wire {
            VARINT => {
                self.varint()?;
                0
            }
            I32 => 4,
            I64 => 8,
            LEN => self.varint()?,
            SGROUP => loop {
                let inner_at = self.pos;
                let (inner_tag, inner_wire) = self.key()?;
                if inner_wire == EGROUP {
                    if inner_tag != tag {
                        return fail(UNEXPECTED_END_GROUP, inner_at);
                    }
                    break 0;
                }
                self.skip(inner_wire, inner_tag, inner_at, ctx - 1)?;
            },
            _ => return fail(UNEXPECTED_END_GROUP, key_at), // EGROUP (key() refused 6 and 7)
        };
        self.advance(len, at)
    }
}
