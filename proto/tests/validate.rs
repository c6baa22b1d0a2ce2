//! `validate_request` must refuse exactly what prost refuses when decoding the export requests.
//! Every check here compares with prost: the same accept/refuse decision and, when both refuse,
//! prost's error ends in the reason the validator gives.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::sample::Index;
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use weir_proto::prost::Message;
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use weir_proto::validate::{validate_request, Invalid, RequestKind};

const KINDS: [RequestKind; 3] = [RequestKind::Traces, RequestKind::Metrics, RequestKind::Logs];

// ---------------------------------------------------------------------------------------------
// Comparing with prost.

fn prost_decode(kind: RequestKind, bytes: &[u8]) -> Result<(), String> {
    let result = match kind {
        RequestKind::Traces => ExportTraceServiceRequest::decode(bytes).map(drop),
        RequestKind::Metrics => ExportMetricsServiceRequest::decode(bytes).map(drop),
        RequestKind::Logs => ExportLogsServiceRequest::decode(bytes).map(drop),
    };
    result.map_err(|e| e.to_string())
}

/// Whether prost's message ends in `reason` (prost appends details such as the value after ':').
fn same_reason(prost: &str, reason: &str) -> bool {
    let needle = format!(": {reason}");
    prost.match_indices(&needle).any(|(at, _)| {
        let rest = &prost[at + needle.len()..];
        rest.is_empty() || rest.starts_with(':')
    })
}

/// Validates and asserts that prost agrees; returns the validator's answer.
fn agree(kind: RequestKind, bytes: &[u8]) -> Result<(), Invalid> {
    agree_in("", kind, bytes)
}

/// [`agree`], naming `context` in the failure message.
fn agree_in(context: &str, kind: RequestKind, bytes: &[u8]) -> Result<(), Invalid> {
    let ours = validate_request(kind, bytes);
    let theirs = prost_decode(kind, bytes);
    match (&ours, &theirs) {
        (Ok(()), Ok(())) => {}
        (Err(ours), Err(theirs)) => assert!(
            same_reason(theirs, ours.reason),
            "{context} {kind:?}: both refuse but reasons differ: ours {ours:?}, prost {theirs:?}, bytes {bytes:02x?}"
        ),
        _ => panic!("{context} {kind:?}: validator {ours:?} but prost {theirs:?} for bytes {bytes:02x?}"),
    }
    ours
}

fn agree_all(bytes: &[u8]) {
    for kind in KINDS {
        agree(kind, bytes).ok();
    }
}

fn ok(kind: RequestKind, bytes: &[u8]) {
    if let Err(e) = agree(kind, bytes) {
        panic!("expected {kind:?} to be valid, got {e}");
    }
}

fn refused(kind: RequestKind, bytes: &[u8], reason: &str) -> Invalid {
    match agree(kind, bytes) {
        Ok(()) => panic!("expected {kind:?} to be refused ({reason}): {bytes:02x?}"),
        Err(e) => {
            assert_eq!(e.reason, reason, "{bytes:02x?}");
            e
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing protobuf by hand.

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        if v < 0x80 {
            out.push(v as u8);
            return out;
        }
        out.push((v as u8 & 0x7F) | 0x80);
        v >>= 7;
    }
}

fn key(field: u32, wire: u8) -> Vec<u8> {
    varint(u64::from(field) << 3 | u64::from(wire))
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A length-delimited field.
fn ld(field: u32, payload: &[u8]) -> Vec<u8> {
    cat(&[&key(field, 2), &varint(payload.len() as u64), payload])
}

fn vint(field: u32, v: u64) -> Vec<u8> {
    cat(&[&key(field, 0), &varint(v)])
}

fn f64_field(field: u32, v: u64) -> Vec<u8> {
    cat(&[&key(field, 1), &v.to_le_bytes()])
}

fn f32_field(field: u32, v: u32) -> Vec<u8> {
    cat(&[&key(field, 5), &v.to_le_bytes()])
}

/// A traces request with one span made of `span_fields`.
fn in_span(span_fields: &[u8]) -> Vec<u8> {
    ld(1, &ld(2, &ld(2, span_fields)))
}

/// A logs request with one log record made of `record_fields`.
fn in_log(record_fields: &[u8]) -> Vec<u8> {
    ld(1, &ld(2, &ld(2, record_fields)))
}

/// A metrics request with one metric made of `metric_fields`.
fn in_metric(metric_fields: &[u8]) -> Vec<u8> {
    ld(1, &ld(2, &ld(2, metric_fields)))
}

/// A metrics request with one histogram data point made of `point_fields`.
fn in_histogram_point(point_fields: &[u8]) -> Vec<u8> {
    in_metric(&ld(9, &ld(1, point_fields)))
}

/// A metrics request with one exponential-histogram data point's positive buckets.
fn in_buckets(bucket_fields: &[u8]) -> Vec<u8> {
    in_metric(&ld(10, &ld(1, &ld(8, bucket_fields))))
}

/// A traces request with one span attribute whose value is `any_value_fields`.
fn in_attribute(any_value_fields: &[u8]) -> Vec<u8> {
    in_span(&ld(9, &cat(&[&ld(1, b"k"), &ld(2, any_value_fields)])))
}

const T: RequestKind = RequestKind::Traces;
const MET: RequestKind = RequestKind::Metrics;
const L: RequestKind = RequestKind::Logs;

// ---------------------------------------------------------------------------------------------
// Hand-written cases, one group per rule.

#[test]
fn empty_and_minimal_requests() {
    for kind in KINDS {
        ok(kind, &[]);
        ok(kind, &ld(1, &[]));
        ok(kind, &cat(&[&ld(1, &[]), &ld(1, &[])]));
    }
    ok(T, &in_span(&[]));
    ok(L, &in_log(&[]));
    ok(MET, &in_metric(&[]));
}

#[test]
fn varints() {
    // dropped_attributes_count (uint32) takes any varint: the value is truncated, not refused.
    let max = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    ok(T, &in_span(&cat(&[&key(10, 0), &max])));
    // The 10th byte may only be 0 or 1: 2 overflows a u64.
    let mut overflow = max;
    overflow[9] = 0x02;
    let e = refused(
        T,
        &in_span(&cat(&[&key(10, 0), &overflow])),
        "invalid varint",
    );
    assert_eq!(e.offset, 7); // after 3 keys+lengths (6 bytes) and the field key
    let mut ten_zero = max;
    ten_zero[9] = 0x00; // over-long but in range
    ok(T, &in_span(&cat(&[&key(10, 0), &ten_zero])));
    // Eleven bytes: the 10th still has the continuation bit.
    let eleven = [
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
    ];
    refused(T, &in_span(&cat(&[&key(10, 0), &eleven])), "invalid varint");
    // Over-long small values are fine.
    ok(T, &in_span(&cat(&[&key(10, 0), &[0x80, 0x80, 0x00]])));
    // A varint cut off by the end of the input.
    refused(T, &cat(&[&key(10, 0), &[0x80]]), "invalid varint");
    refused(T, &[0x80], "invalid varint");
    // Cut off by the end of its message, but the input goes on: prost reads on and then finds the
    // message overran its length.
    let mut span = in_span(&[0x50, 0x80]);
    span.push(0x01);
    refused(T, &span, "delimited length exceeded");
    // A length prefix that is not a valid varint.
    refused(T, &cat(&[&key(1, 2), &overflow]), "invalid varint");
}

#[test]
fn keys_and_tags() {
    // Field number 0, with each wire type.
    for wire in 0..6 {
        refused(T, &[wire, 0], "invalid tag value: 0");
    }
    // Wire types 6 and 7, at the top and nested.
    refused(T, &[0x0E], "invalid wire type value");
    refused(T, &[0x0F], "invalid wire type value");
    refused(MET, &in_metric(&[0x0E]), "invalid wire type value");
    // The largest field number, unknown, is skipped.
    ok(L, &cat(&[&key((1 << 29) - 1, 0), &[1]]));
    // A key of u32::MAX has wire type 7; above u32::MAX is an invalid key.
    refused(L, &varint(u64::from(u32::MAX)), "invalid wire type value");
    let e = refused(
        L,
        &cat(&[&ld(1, &[]), &varint(1 << 32)]),
        "invalid key value",
    );
    assert_eq!(e.offset, 2);
    refused(L, &varint(u64::MAX), "invalid key value");
    // A padded key is fine.
    ok(T, &[0x8A, 0x80, 0x00, 0x00]);
    // Tag 0 inside a nested message.
    refused(T, &in_span(&[0x00, 0x00]), "invalid tag value: 0");
}

#[test]
fn known_field_with_wrong_wire_type() {
    // Message field as a varint, fixed, or group.
    refused(T, &vint(1, 0), "invalid wire type");
    refused(T, &f64_field(1, 0), "invalid wire type");
    refused(T, &f32_field(1, 0), "invalid wire type");
    refused(T, &cat(&[&key(1, 3), &key(1, 4)]), "invalid wire type");
    refused(T, &key(1, 4), "invalid wire type");
    // String as a varint.
    refused(T, &in_span(&vint(5, 1)), "invalid wire type");
    // Bytes as fixed64.
    refused(T, &in_span(&f64_field(1, 0)), "invalid wire type");
    // fixed64 as fixed32 and as a varint; fixed32 as fixed64.
    refused(T, &in_span(&f32_field(7, 0)), "invalid wire type");
    refused(T, &in_span(&vint(7, 0)), "invalid wire type");
    refused(T, &in_span(&f64_field(16, 0)), "invalid wire type");
    // Enum (varint) as length-delimited.
    refused(T, &in_span(&ld(6, &[1])), "invalid wire type");
    // Oneof variants too.
    refused(T, &in_attribute(&f64_field(3, 0)), "invalid wire type");
    refused(T, &in_attribute(&vint(4, 0)), "invalid wire type");
    refused(MET, &in_metric(&vint(5, 0)), "invalid wire type");
    // The wire type is checked before anything is read.
    let e = refused(T, &in_span(&key(5, 0)), "invalid wire type");
    assert_eq!(e.offset, 6);
}

#[test]
fn repeated_scalars_packed_and_unpacked() {
    let one = 1u64.to_le_bytes();
    let two = 2u64.to_le_bytes();
    // bucket_counts (repeated fixed64) and explicit_bounds (repeated double).
    for field in [6, 7] {
        ok(MET, &in_histogram_point(&ld(field, &cat(&[&one, &two]))));
        ok(MET, &in_histogram_point(&ld(field, &[])));
        ok(
            MET,
            &in_histogram_point(&cat(&[&f64_field(field, 1), &f64_field(field, 2)])),
        );
        // Mixed.
        ok(
            MET,
            &in_histogram_point(&cat(&[&f64_field(field, 1), &ld(field, &two)])),
        );
        // Unpacked with a wrong wire type.
        refused(
            MET,
            &in_histogram_point(&vint(field, 1)),
            "invalid wire type",
        );
        refused(
            MET,
            &in_histogram_point(&f32_field(field, 1)),
            "invalid wire type",
        );
    }
    // Buckets.bucket_counts (repeated uint64).
    let packed: Vec<u8> = [1u64, 300, u64::MAX]
        .iter()
        .flat_map(|&v| varint(v))
        .collect();
    ok(MET, &in_buckets(&ld(2, &packed)));
    ok(
        MET,
        &in_buckets(&cat(&[&vint(2, 5), &ld(2, &packed), &vint(2, 7)])),
    );
    refused(MET, &in_buckets(&f64_field(2, 1)), "invalid wire type");
    // A bad varint inside a packed run.
    refused(MET, &in_buckets(&ld(2, &[0x80; 11])), "invalid varint");
    // A packed varint that runs past the packed length but not past the input.
    let mut crossing = in_buckets(&ld(2, &[0x01, 0x80]));
    crossing.push(0x01);
    refused(MET, &crossing, "delimited length exceeded");
    // Singular scalars do not take the packed form.
    refused(MET, &in_histogram_point(&ld(4, &one)), "invalid wire type"); // count
    refused(MET, &in_buckets(&ld(1, &[2])), "invalid wire type"); // offset
}

#[test]
fn packed_fixed_width_not_a_multiple_of_the_width() {
    let seven = [0u8; 7];
    // At the very end of the input, fewer than 8 bytes remain for the last element: prost says
    // buffer underflow.
    let e = refused(MET, &in_histogram_point(&ld(6, &seven)), "buffer underflow");
    assert_eq!(e.offset, in_histogram_point(&[]).len() + 2);
    // With at least 8 bytes after the element's start, prost reads past the packed field and then
    // finds the packed length exceeded.
    refused(
        MET,
        &cat(&[&in_histogram_point(&ld(6, &seven)), &ld(1, &[])]),
        "delimited length exceeded",
    );
    refused(
        MET,
        &in_histogram_point(&cat(&[&ld(7, &[0u8; 15]), &f64_field(4, 3), &vint(10, 1)])),
        "delimited length exceeded",
    );
    // A multiple of the width is fine.
    ok(MET, &in_histogram_point(&ld(6, &[0u8; 16])));
}

#[test]
fn truncated_fields() {
    // A string whose length runs past the input.
    let mut span = in_span(&ld(5, b"name"));
    span.truncate(span.len() - 1);
    refused(T, &span, "buffer underflow");
    refused(T, &cat(&[&key(1, 2), &[5, 0, 0]]), "buffer underflow");
    // A length that runs past the enclosing message but not the input.
    let mut inner = in_span(&cat(&[&key(5, 2), &[3, b'a', b'b']]));
    inner.push(b'c');
    refused(T, &inner, "delimited length exceeded");
    // fixed64 and fixed32 cut off at the end of the input, inside a span whose own length fits.
    let e = refused(
        T,
        &in_span(&cat(&[&key(7, 1), &[0; 7]])),
        "buffer underflow",
    );
    assert_eq!(e.offset, 7);
    refused(
        T,
        &in_span(&cat(&[&key(16, 5), &[0; 3]])),
        "buffer underflow",
    );
    refused(L, &in_log(&cat(&[&key(1, 1), &[0; 1]])), "buffer underflow");
    // The same, but with bytes after the span: prost reads them and the span overruns.
    let mut after = in_span(&cat(&[&key(7, 1), &[0; 7]]));
    after.extend(ld(1, &[]));
    refused(T, &after, "delimited length exceeded");
    // Cut off at the top level.
    refused(T, &cat(&[&key(99, 1), &[0; 7]]), "buffer underflow");
    // Nested message lengths past the end.
    refused(T, &[0x0A, 0x05, 0x12, 0x03], "buffer underflow");
    refused(L, &[0x0A, 0x80], "invalid varint");
    // Every strict prefix of a request that ends in a fixed or length-delimited field.
    let full = in_span(&cat(&[
        &ld(5, b"name"),
        &f64_field(7, 1),
        &f32_field(16, 1),
    ]));
    ok(T, &full);
    for len in 1..full.len() {
        assert!(agree(T, &full[..len]).is_err(), "prefix of {len} bytes");
    }
    // A nested message that ends in the middle of its last field's key.
    // (The key 0x88 0x01 is field 17, a varint; prost reads its value from the bytes after the
    // record too.)
    let mut split_key = in_log(&[0x88]);
    split_key.push(0x01);
    refused(L, &split_key, "invalid varint");
    split_key.push(0x00);
    refused(L, &split_key, "delimited length exceeded");
}

#[test]
fn unknown_fields_are_skipped_by_wire_type() {
    let unknowns = [
        vint(99, 12345),
        f64_field(99, 1),
        f32_field(99, 1),
        ld(99, b"\xFF\xFE not utf-8 and not checked"),
        cat(&[&key(99, 3), &key(99, 4)]),
    ];
    for unknown in &unknowns {
        for kind in KINDS {
            ok(kind, unknown);
            ok(kind, &ld(1, unknown));
        }
        ok(T, &in_span(unknown));
        ok(T, &in_attribute(unknown));
        ok(L, &in_log(unknown));
        ok(MET, &in_buckets(unknown));
        // Field 4 of Status is unknown; field 1 of Status (reserved) too.
        ok(T, &in_span(&ld(15, &cat(&[unknown, &vint(3, 2)]))));
    }
    // Unknown fields cut off.
    refused(T, &cat(&[&key(99, 1), &[0; 7]]), "buffer underflow");
    refused(T, &cat(&[&key(99, 5), &[0; 3]]), "buffer underflow");
    refused(T, &cat(&[&key(99, 2), &[4, 0]]), "buffer underflow");
    refused(T, &key(99, 0), "invalid varint");
    // Unknown length-delimited field running past its message.
    let mut past = in_span(&cat(&[&key(99, 2), &[2, 0]]));
    past.push(0);
    refused(T, &past, "delimited length exceeded");
}

#[test]
fn groups() {
    let group = |field: u32, body: &[u8]| cat(&[&key(field, 3), body, &key(field, 4)]);
    // Nested groups with every wire type inside.
    let body = cat(&[
        &vint(1, 1),
        &f64_field(2, 2),
        &f32_field(3, 3),
        &ld(4, b"x"),
        &group(5, &group(6, &vint(7, 7))),
        // A field number that is known in the enclosing message means nothing inside a group.
        &ld(1, &[0xFF]),
    ]);
    ok(T, &group(99, &body));
    ok(T, &in_span(&group(99, &body)));
    ok(MET, &in_buckets(&group(3, &body)));
    // End group with a different field number.
    refused(
        T,
        &cat(&[&key(99, 3), &key(98, 4)]),
        "unexpected end group tag",
    );
    refused(
        T,
        &in_span(&cat(&[&key(99, 3), &group(5, &[]), &key(5, 4)])),
        "unexpected end group tag",
    );
    // End group outside any group, unknown field.
    refused(T, &key(99, 4), "unexpected end group tag");
    refused(T, &in_span(&key(99, 4)), "unexpected end group tag");
    // End group on a known field number is a wrong wire type.
    refused(T, &in_span(&key(5, 4)), "invalid wire type");
    // A group never closed.
    refused(T, &key(99, 3), "invalid varint");
    refused(T, &cat(&[&key(99, 3), &vint(1, 1)]), "invalid varint");
    // A group closed after its enclosing message ends: prost reads on, then the message overran.
    let open = in_span(&key(99, 3));
    refused(T, &cat(&[&open, &key(99, 4)]), "delimited length exceeded");
    // A bad field inside a group.
    refused(T, &cat(&[&key(99, 3), &[0x0E]]), "invalid wire type value");
    refused(
        T,
        &cat(&[&key(99, 3), &key(1, 2), &[3, 0]]),
        "buffer underflow",
    );
    // Group as a known message field.
    refused(T, &group(1, &[]), "invalid wire type");
}

#[test]
fn strings_are_utf8_checked_bytes_are_not() {
    let bad = b"ok\xC3\x28";
    let e = refused(
        T,
        &in_span(&ld(5, bad)),
        "invalid string value: data is not UTF-8 encoded",
    );
    // Offset of the first invalid byte: three nested lengths and keys (6 bytes), key and length
    // of the name (2 bytes), then "ok".
    assert_eq!(e.offset, 10);
    refused(
        T,
        &in_span(&ld(3, b"\xFF")),
        "invalid string value: data is not UTF-8 encoded",
    );
    refused(
        T,
        &in_attribute(&ld(1, b"\xE2\x82")),
        "invalid string value: data is not UTF-8 encoded",
    );
    refused(
        T,
        &in_span(&ld(9, &ld(1, b"\x80"))),
        "invalid string value: data is not UTF-8 encoded",
    );
    refused(
        L,
        &in_log(&ld(12, b"\xED\xA0\x80")),
        "invalid string value: data is not UTF-8 encoded",
    );
    refused(
        MET,
        &in_metric(&ld(3, b"\xC0\x80")),
        "invalid string value: data is not UTF-8 encoded",
    );
    // EntityRef.id_keys (repeated string) and schema_url.
    let entity = |f: &[u8]| ld(1, &ld(1, &ld(3, f)));
    refused(
        T,
        &entity(&ld(3, b"\xFE")),
        "invalid string value: data is not UTF-8 encoded",
    );
    ok(
        T,
        &entity(&cat(&[
            &ld(3, "ключ".as_bytes()),
            &ld(4, b"d"),
            &ld(2, b"service"),
        ])),
    );
    refused(
        L,
        &ld(1, &ld(3, b"\xFF")),
        "invalid string value: data is not UTF-8 encoded",
    );
    // A string running past its message is checked as prost reads it: over the extra bytes.
    let mut crossing = in_span(&cat(&[&key(5, 2), &[2, b'a']]));
    crossing.push(0xFF);
    refused(
        T,
        &crossing,
        "invalid string value: data is not UTF-8 encoded",
    );
    // Bytes fields take anything.
    ok(
        T,
        &in_span(&cat(&[&ld(1, bad), &ld(2, b"\xFF"), &ld(4, b"\x80")])),
    );
    ok(T, &in_attribute(&ld(7, b"\xFF\xFF")));
    ok(L, &in_log(&cat(&[&ld(9, b"\xFF"), &ld(10, b"\xFF")])));
    // Valid multi-byte UTF-8 and the empty string.
    ok(
        T,
        &in_span(&cat(&[&ld(5, "span ✓ 🦀".as_bytes()), &ld(3, b"")])),
    );
}

#[test]
fn enums_are_open_and_bools_take_any_varint() {
    let big = varint(u64::MAX);
    ok(T, &in_span(&cat(&[&key(6, 0), &big])));
    ok(T, &in_span(&ld(15, &vint(3, 1 << 40))));
    ok(L, &in_log(&vint(2, 9999)));
    ok(
        MET,
        &in_metric(&ld(7, &cat(&[&vint(2, 77), &vint(3, 300)]))),
    );
    ok(T, &in_attribute(&vint(2, 2)));
    ok(T, &in_attribute(&cat(&[&key(2, 0), &big])));
    // sint32 scale and offset: any varint.
    ok(MET, &in_metric(&ld(10, &ld(1, &cat(&[&key(6, 0), &big])))));
    ok(MET, &in_buckets(&cat(&[&key(1, 0), &big])));
}

#[test]
fn oneofs_and_repeated_singular_fields_merge() {
    // Two variants of AnyValue.value, and the same message variant twice.
    ok(
        T,
        &in_attribute(&cat(&[
            &ld(1, b"s"),
            &vint(3, 5),
            &ld(5, &[]),
            &ld(5, &ld(1, &[])),
        ])),
    );
    // Metric.data with several kinds.
    ok(
        MET,
        &in_metric(&cat(&[
            &ld(5, &[]),
            &ld(7, &[]),
            &ld(9, &[]),
            &ld(10, &[]),
            &ld(11, &[]),
        ])),
    );
    // A singular message field given twice.
    ok(
        T,
        &in_span(&cat(&[&ld(15, &ld(2, b"a")), &ld(15, &vint(3, 2))])),
    );
    // Data point value oneofs.
    ok(
        MET,
        &in_metric(&ld(5, &ld(1, &cat(&[&f64_field(4, 1), &f64_field(6, 2)])))),
    );
    ok(
        MET,
        &in_metric(&ld(
            5,
            &ld(1, &ld(5, &cat(&[&f64_field(3, 1), &f64_field(6, 2)]))),
        )),
    );
}

/// Wraps a message's fields into a whole request.
type Wrap = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// How to reach each message of the schema from a request: the request kind and a function
/// wrapping the message's fields into a whole request. Some messages are reached several ways.
fn every_message() -> Vec<(&'static str, RequestKind, Wrap)> {
    fn wrap(outer: impl Fn(&[u8]) -> Vec<u8> + 'static, field: u32) -> Wrap {
        Box::new(move |b: &[u8]| outer(&ld(field, b)))
    }
    let id = |b: &[u8]| b.to_vec();
    let span = |b: &[u8]| in_span(b);
    let log = |b: &[u8]| in_log(b);
    let metric = |b: &[u8]| in_metric(b);
    let any_value = move |b: &[u8]| in_span(&ld(9, &ld(2, b)));
    let number_point = move |b: &[u8]| in_metric(&ld(5, &ld(1, b)));
    let histogram_point = move |b: &[u8]| in_metric(&ld(9, &ld(1, b)));
    let exponential_point = move |b: &[u8]| in_metric(&ld(10, &ld(1, b)));
    let summary_point = move |b: &[u8]| in_metric(&ld(11, &ld(1, b)));
    vec![
        ("ExportTraceServiceRequest", T, Box::new(id)),
        ("ResourceSpans", T, wrap(id, 1)),
        ("Resource (spans)", T, wrap(move |b: &[u8]| ld(1, b), 1)),
        ("EntityRef", T, wrap(move |b: &[u8]| ld(1, &ld(1, b)), 3)),
        ("ScopeSpans", T, wrap(move |b: &[u8]| ld(1, b), 2)),
        (
            "InstrumentationScope (spans)",
            T,
            wrap(move |b: &[u8]| ld(1, &ld(2, b)), 1),
        ),
        ("Span", T, Box::new(span)),
        ("KeyValue (span)", T, wrap(span, 9)),
        ("AnyValue (attribute)", T, Box::new(any_value)),
        ("ArrayValue", T, wrap(any_value, 5)),
        (
            "AnyValue (array)",
            T,
            wrap(move |b: &[u8]| any_value(&ld(5, b)), 1),
        ),
        ("KeyValueList", T, wrap(any_value, 6)),
        (
            "KeyValue (kvlist)",
            T,
            wrap(move |b: &[u8]| any_value(&ld(6, b)), 1),
        ),
        ("Event", T, wrap(span, 11)),
        (
            "KeyValue (event)",
            T,
            wrap(move |b: &[u8]| span(&ld(11, b)), 3),
        ),
        ("Link", T, wrap(span, 13)),
        (
            "KeyValue (link)",
            T,
            wrap(move |b: &[u8]| span(&ld(13, b)), 4),
        ),
        ("Status", T, wrap(span, 15)),
        ("ExportLogsServiceRequest", L, Box::new(id)),
        ("ResourceLogs", L, wrap(id, 1)),
        ("Resource (logs)", L, wrap(move |b: &[u8]| ld(1, b), 1)),
        ("ScopeLogs", L, wrap(move |b: &[u8]| ld(1, b), 2)),
        (
            "InstrumentationScope (logs)",
            L,
            wrap(move |b: &[u8]| ld(1, &ld(2, b)), 1),
        ),
        ("LogRecord", L, Box::new(log)),
        ("AnyValue (body)", L, wrap(log, 5)),
        ("KeyValue (log)", L, wrap(log, 6)),
        ("ExportMetricsServiceRequest", MET, Box::new(id)),
        ("ResourceMetrics", MET, wrap(id, 1)),
        ("Resource (metrics)", MET, wrap(move |b: &[u8]| ld(1, b), 1)),
        ("ScopeMetrics", MET, wrap(move |b: &[u8]| ld(1, b), 2)),
        (
            "InstrumentationScope (metrics)",
            MET,
            wrap(move |b: &[u8]| ld(1, &ld(2, b)), 1),
        ),
        ("Metric", MET, Box::new(metric)),
        ("KeyValue (metadata)", MET, wrap(metric, 12)),
        ("Gauge", MET, wrap(metric, 5)),
        ("Sum", MET, wrap(metric, 7)),
        ("Histogram", MET, wrap(metric, 9)),
        ("ExponentialHistogram", MET, wrap(metric, 10)),
        ("Summary", MET, wrap(metric, 11)),
        ("NumberDataPoint (gauge)", MET, Box::new(number_point)),
        (
            "NumberDataPoint (sum)",
            MET,
            wrap(move |b: &[u8]| in_metric(&ld(7, b)), 1),
        ),
        ("KeyValue (number point)", MET, wrap(number_point, 7)),
        ("Exemplar (number point)", MET, wrap(number_point, 5)),
        (
            "KeyValue (exemplar)",
            MET,
            wrap(move |b: &[u8]| number_point(&ld(5, b)), 7),
        ),
        ("HistogramDataPoint", MET, Box::new(histogram_point)),
        ("Exemplar (histogram point)", MET, wrap(histogram_point, 8)),
        ("KeyValue (histogram point)", MET, wrap(histogram_point, 9)),
        (
            "ExponentialHistogramDataPoint",
            MET,
            Box::new(exponential_point),
        ),
        ("Buckets (positive)", MET, wrap(exponential_point, 8)),
        ("Buckets (negative)", MET, wrap(exponential_point, 9)),
        (
            "Exemplar (exponential point)",
            MET,
            wrap(exponential_point, 11),
        ),
        (
            "KeyValue (exponential point)",
            MET,
            wrap(exponential_point, 1),
        ),
        ("SummaryDataPoint", MET, Box::new(summary_point)),
        ("ValueAtQuantile", MET, wrap(summary_point, 6)),
        ("KeyValue (summary point)", MET, wrap(summary_point, 7)),
    ]
}

/// Every field number of every message, with every wire type and payloads that tell the field
/// kinds apart (varint, fixed32, fixed64, string, bytes, message, packed varints, packed fixed64),
/// must get prost's answer and reason. This pins the schema table to the generated code.
#[test]
fn schema_matches_prost_field_by_field() {
    let mut refusals = 0;
    let mut accepts = 0;
    for (name, kind, wrap) in every_message() {
        for field in (1..=18).chain([99]) {
            let probes = [
                vint(field, 1),
                cat(&[&key(field, 0), &varint(u64::MAX)]),
                f64_field(field, 0x0102_0304_0506_0708),
                f32_field(field, 0x0102_0304),
                ld(field, b""),
                ld(field, b"\xFF"),
                ld(field, b"\x08\x01"),
                ld(field, &[0; 8]),
                ld(field, b"\x0D\x00\x00\x00\x00"),
                ld(field, b"\x11\x00\x00\x00\x00\x00\x00\x00\x00"),
                ld(field, b"\x0A\x00"),
                ld(field, b"\x0A\x01\xFF"),
                ld(field, b"\x12\x01\xFF"),
                ld(field, b"\x1A\x01\xFF"),
                cat(&[&key(field, 3), &key(field, 4)]),
                key(field, 4),
            ];
            for probe in probes {
                let context = format!("{name} field {field}:");
                match agree_in(&context, kind, &wrap(&probe)) {
                    Ok(()) => accepts += 1,
                    Err(_) => refusals += 1,
                }
                // The probe twice, and followed by another field, too.
                agree_in(&context, kind, &wrap(&cat(&[&probe, &probe]))).ok();
                agree_in(&context, kind, &wrap(&cat(&[&probe, &vint(99, 0)]))).ok();
            }
        }
    }
    assert!(
        accepts > 1000 && refusals > 1000,
        "accepts {accepts}, refusals {refusals}"
    );
}

/// An `AnyValue` nested `depth` levels of arrays (depth 0: an int), alternating with kvlists when
/// `kvlist` is set.
fn nested_any_value(depth: usize, kvlist: bool, innermost: &[u8]) -> Vec<u8> {
    let mut value = innermost.to_vec();
    for level in 0..depth {
        value = if kvlist && level % 2 == 1 {
            ld(6, &ld(1, &cat(&[&ld(1, b"k"), &ld(2, &value)])))
        } else {
            ld(5, &ld(1, &value))
        };
    }
    value
}

#[test]
fn recursion_limit() {
    for kvlist in [false, true] {
        for innermost in [
            vint(3, 1),
            cat(&[&vint(3, 1), &vint(99, 1)]),
            cat(&[&vint(3, 1), &key(99, 3), &key(99, 4)]),
        ] {
            let mut accepted = 0;
            let mut refused_at = None;
            for depth in 0..80 {
                let body = nested_any_value(depth, kvlist, &innermost);
                let bytes = in_log(&ld(5, &body));
                match agree(L, &bytes) {
                    Ok(()) => {
                        assert!(
                            refused_at.is_none(),
                            "accepted depth {depth} after refusing {refused_at:?}"
                        );
                        accepted = depth;
                    }
                    Err(e) => {
                        assert_eq!(e.reason, "recursion limit reached");
                        refused_at.get_or_insert(depth);
                    }
                }
            }
            // The limit bites within the range tried.
            assert!(
                refused_at.is_some() && accepted > 30,
                "kvlist {kvlist}: accepted up to {accepted}"
            );
        }
    }
    // The same through a span attribute, an event's and a link's attributes, a resource
    // attribute; ending in a scalar, an unknown field, or a stray end group.
    for wrap in [
        (|v: &[u8]| in_span(&ld(9, &cat(&[&ld(1, b"k"), &ld(2, v)])))) as fn(&[u8]) -> Vec<u8>,
        |v: &[u8]| in_span(&ld(11, &ld(3, &ld(2, v)))),
        |v: &[u8]| in_span(&ld(13, &ld(4, &ld(2, v)))),
        |v: &[u8]| ld(1, &ld(1, &ld(1, &ld(2, v)))),
    ] {
        for depth in 40..56 {
            for kvlist in [false, true] {
                agree(T, &wrap(&nested_any_value(depth, kvlist, &vint(3, 1)))).ok();
                agree(T, &wrap(&nested_any_value(depth, kvlist, &vint(99, 1)))).ok();
                agree(T, &wrap(&nested_any_value(depth, kvlist, &key(99, 4)))).ok();
            }
        }
    }
    // Groups inside unknown fields count too: deep group nesting alone hits the limit.
    for depth in 90..110 {
        let mut group = Vec::new();
        for _ in 0..depth {
            group.extend(key(99, 3));
        }
        for _ in 0..depth {
            group.extend(key(99, 4));
        }
        agree(T, &group).ok();
        agree(T, &in_span(&group)).ok();
    }
}

#[test]
fn recursion_limit_exact_depth() {
    // Logs: request → ResourceLogs → ScopeLogs → LogRecord → AnyValue (body) is 4 message levels.
    // Each array adds 2 (ArrayValue, AnyValue). Message level 100 is the deepest prost enters, and
    // a message there may hold scalars but no nested message and no unknown field.
    let bytes_at = |arrays: usize, innermost: &[u8]| {
        in_log(&ld(5, &nested_any_value(arrays, false, innermost)))
    };
    // 4 + 2*48 = 100.
    ok(L, &bytes_at(48, &vint(3, 1)));
    ok(L, &bytes_at(48, &ld(1, b"string")));
    refused(L, &bytes_at(48, &vint(99, 1)), "recursion limit reached");
    refused(L, &bytes_at(48, &ld(5, &[])), "recursion limit reached");
    // 102: the AnyValue itself cannot be entered.
    refused(L, &bytes_at(49, &[]), "recursion limit reached");
    // 98: one more message level is fine, and an empty group in an unknown field too, but not a
    // field inside that group (it would be skipped at level 100's budget of 0).
    ok(L, &bytes_at(47, &ld(5, &[])));
    ok(L, &bytes_at(47, &cat(&[&key(99, 3), &key(99, 4)])));
    ok(
        L,
        &bytes_at(47, &cat(&[&key(99, 3), &vint(1, 1), &key(99, 4)])),
    );
    refused(
        L,
        &bytes_at(
            47,
            &cat(&[
                &key(99, 3),
                &key(98, 3),
                &vint(1, 1),
                &key(98, 4),
                &key(99, 4),
            ]),
        ),
        "recursion limit reached",
    );
}

// ---------------------------------------------------------------------------------------------
// The OTLP JSON examples, encoded by prost (see tests/data/otlp_examples/README.md).

const EXAMPLES: [(RequestKind, &[u8]); 4] = [
    (
        RequestKind::Traces,
        include_bytes!("data/otlp_examples/trace.pb"),
    ),
    (
        RequestKind::Metrics,
        include_bytes!("data/otlp_examples/metrics.pb"),
    ),
    (
        RequestKind::Logs,
        include_bytes!("data/otlp_examples/logs.pb"),
    ),
    (
        RequestKind::Logs,
        include_bytes!("data/otlp_examples/events.pb"),
    ),
];

#[test]
fn otlp_examples_validate() {
    for (kind, bytes) in EXAMPLES {
        ok(kind, bytes);
    }
    // The examples are not empty and all three kinds accept each other's bytes or not, as prost.
    for (_, bytes) in EXAMPLES {
        assert!(!bytes.is_empty());
        agree_all(bytes);
    }
}

#[test]
fn otlp_examples_every_truncation_and_single_byte_change() {
    for (kind, bytes) in EXAMPLES {
        for len in 0..bytes.len() {
            agree(kind, &bytes[..len]).ok();
        }
        for at in 0..bytes.len() {
            let mut deleted = bytes.to_vec();
            deleted.remove(at);
            agree(kind, &deleted).ok();
            let original = bytes[at];
            for value in [
                0x00,
                0x01,
                0x07,
                0x7F,
                0x80,
                0xFF,
                original ^ 0x01,
                original ^ 0x04,
                original.wrapping_add(1),
            ] {
                let mut changed = bytes.to_vec();
                changed[at] = value;
                agree(kind, &changed).ok();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random valid requests built from prost structs.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z._]{0,10}",
        1 => "\\PC{0,6}",
        1 => Just(String::new()),
    ]
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..17)
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value;
    let leaf = prop_oneof![
        Just(None),
        text().prop_map(|s| Some(Value::StringValue(s))),
        any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
        any::<f64>().prop_map(|d| Some(Value::DoubleValue(d))),
        blob().prop_map(|b| Some(Value::BytesValue(b))),
        any::<i32>().prop_map(|i| Some(Value::StringValueStrindex(i))),
    ]
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values }))
            }),
            prop::collection::vec((text(), prop::option::of(inner), any::<i32>()), 0..4).prop_map(
                |kvs| AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, value, key_strindex)| KeyValue {
                                key,
                                value,
                                key_strindex
                            })
                            .collect(),
                    })),
                }
            ),
        ]
    })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(
        (
            text(),
            prop::option::of(any_value()),
            prop_oneof![3 => Just(0), 1 => any::<i32>()],
        )
            .prop_map(|(key, value, key_strindex)| KeyValue {
                key,
                value,
                key_strindex,
            }),
        0..3,
    )
}

fn resource() -> impl Strategy<Value = Option<Resource>> {
    let entity = (
        text(),
        text(),
        prop::collection::vec(text(), 0..3),
        prop::collection::vec(text(), 0..2),
    )
        .prop_map(
            |(schema_url, r#type, id_keys, description_keys)| EntityRef {
                schema_url,
                r#type,
                id_keys,
                description_keys,
            },
        );
    prop::option::of(
        (
            attributes(),
            any::<u32>(),
            prop::collection::vec(entity, 0..2),
        )
            .prop_map(
                |(attributes, dropped_attributes_count, entity_refs)| Resource {
                    attributes,
                    dropped_attributes_count,
                    entity_refs,
                },
            ),
    )
}

fn scope() -> impl Strategy<Value = Option<InstrumentationScope>> {
    prop::option::of((text(), text(), attributes(), any::<u32>()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ))
}

fn event() -> impl Strategy<Value = span::Event> {
    (any::<u64>(), text(), attributes(), any::<u32>()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    )
}

fn link() -> impl Strategy<Value = span::Link> {
    (
        blob(),
        blob(),
        text(),
        attributes(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
                span::Link {
                    trace_id,
                    span_id,
                    trace_state,
                    attributes,
                    dropped_attributes_count,
                    flags,
                }
            },
        )
}

fn a_span() -> impl Strategy<Value = Span> {
    let ids = (
        blob(),
        blob(),
        text(),
        blob(),
        any::<u32>(),
        text(),
        any::<i32>(),
    );
    let times = (any::<u64>(), any::<u64>(), attributes(), any::<u32>());
    let rest = (
        prop::collection::vec(event(), 0..3),
        any::<u32>(),
        prop::collection::vec(link(), 0..2),
        any::<u32>(),
        prop::option::of(
            (text(), any::<i32>()).prop_map(|(message, code)| Status { message, code }),
        ),
    );
    (ids, times, rest).prop_map(
        |(
            (trace_id, span_id, trace_state, parent_span_id, flags, name, kind),
            (start_time_unix_nano, end_time_unix_nano, attributes, dropped_attributes_count),
            (events, dropped_events_count, links, dropped_links_count, status),
        )| Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano,
            end_time_unix_nano,
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
            status,
        },
    )
}

fn traces() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope_spans = (scope(), prop::collection::vec(a_span(), 0..3), text()).prop_map(
        |(scope, spans, schema_url)| ScopeSpans {
            scope,
            spans,
            schema_url,
        },
    );
    let resource_spans = (resource(), prop::collection::vec(scope_spans, 0..3), text()).prop_map(
        |(resource, scope_spans, schema_url)| ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        },
    );
    prop::collection::vec(resource_spans, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

fn log_record() -> impl Strategy<Value = LogRecord> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            any::<i32>(),
            text(),
            prop::option::of(any_value()),
        ),
        (
            attributes(),
            any::<u32>(),
            any::<u32>(),
            blob(),
            blob(),
            text(),
        ),
    )
        .prop_map(
            |(
                (time_unix_nano, observed_time_unix_nano, severity_number, severity_text, body),
                (attributes, dropped_attributes_count, flags, trace_id, span_id, event_name),
            )| LogRecord {
                time_unix_nano,
                observed_time_unix_nano,
                severity_number,
                severity_text,
                body,
                attributes,
                dropped_attributes_count,
                flags,
                trace_id,
                span_id,
                event_name,
            },
        )
}

fn logs() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let scope_logs = (scope(), prop::collection::vec(log_record(), 0..3), text()).prop_map(
        |(scope, log_records, schema_url)| ScopeLogs {
            scope,
            log_records,
            schema_url,
        },
    );
    let resource_logs = (resource(), prop::collection::vec(scope_logs, 0..3), text()).prop_map(
        |(resource, scope_logs, schema_url)| ResourceLogs {
            resource,
            scope_logs,
            schema_url,
        },
    );
    prop::collection::vec(resource_logs, 0..3)
        .prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

fn exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
    let value = prop::option::of(prop_oneof![
        any::<f64>().prop_map(exemplar::Value::AsDouble),
        any::<i64>().prop_map(exemplar::Value::AsInt),
    ]);
    prop::collection::vec(
        (attributes(), any::<u64>(), blob(), blob(), value).prop_map(
            |(filtered_attributes, time_unix_nano, span_id, trace_id, value)| Exemplar {
                filtered_attributes,
                time_unix_nano,
                span_id,
                trace_id,
                value,
            },
        ),
        0..2,
    )
}

fn number_points() -> impl Strategy<Value = Vec<NumberDataPoint>> {
    let value = prop::option::of(prop_oneof![
        any::<f64>().prop_map(number_data_point::Value::AsDouble),
        any::<i64>().prop_map(number_data_point::Value::AsInt),
    ]);
    prop::collection::vec(
        (
            attributes(),
            any::<u64>(),
            any::<u64>(),
            exemplars(),
            any::<u32>(),
            value,
        )
            .prop_map(
                |(attributes, start_time_unix_nano, time_unix_nano, exemplars, flags, value)| {
                    NumberDataPoint {
                        attributes,
                        start_time_unix_nano,
                        time_unix_nano,
                        exemplars,
                        flags,
                        value,
                    }
                },
            ),
        0..3,
    )
}

fn histogram_points() -> impl Strategy<Value = Vec<HistogramDataPoint>> {
    prop::collection::vec(
        (
            (
                attributes(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                prop::option::of(any::<f64>()),
            ),
            (
                prop::collection::vec(any::<u64>(), 0..5),
                prop::collection::vec(any::<f64>(), 0..4),
                exemplars(),
                any::<u32>(),
                prop::option::of(any::<f64>()),
                prop::option::of(any::<f64>()),
            ),
        )
            .prop_map(
                |(
                    (attributes, start_time_unix_nano, time_unix_nano, count, sum),
                    (bucket_counts, explicit_bounds, exemplars, flags, min, max),
                )| HistogramDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    bucket_counts,
                    explicit_bounds,
                    exemplars,
                    flags,
                    min,
                    max,
                },
            ),
        0..3,
    )
}

fn buckets() -> impl Strategy<Value = Option<Buckets>> {
    prop::option::of(
        (any::<i32>(), prop::collection::vec(any::<u64>(), 0..5)).prop_map(
            |(offset, bucket_counts)| Buckets {
                offset,
                bucket_counts,
            },
        ),
    )
}

fn exponential_points() -> impl Strategy<Value = Vec<ExponentialHistogramDataPoint>> {
    prop::collection::vec(
        (
            (
                attributes(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                prop::option::of(any::<f64>()),
                any::<i32>(),
            ),
            (
                any::<u64>(),
                buckets(),
                buckets(),
                any::<u32>(),
                exemplars(),
            ),
            (
                prop::option::of(any::<f64>()),
                prop::option::of(any::<f64>()),
                any::<f64>(),
            ),
        )
            .prop_map(
                |(
                    (attributes, start_time_unix_nano, time_unix_nano, count, sum, scale),
                    (zero_count, positive, negative, flags, exemplars),
                    (min, max, zero_threshold),
                )| ExponentialHistogramDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    scale,
                    zero_count,
                    positive,
                    negative,
                    flags,
                    exemplars,
                    min,
                    max,
                    zero_threshold,
                },
            ),
        0..3,
    )
}

fn summary_points() -> impl Strategy<Value = Vec<SummaryDataPoint>> {
    let quantiles = prop::collection::vec(
        (any::<f64>(), any::<f64>())
            .prop_map(|(quantile, value)| ValueAtQuantile { quantile, value }),
        0..3,
    );
    prop::collection::vec(
        (
            attributes(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<f64>(),
            quantiles,
            any::<u32>(),
        )
            .prop_map(
                |(
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    quantile_values,
                    flags,
                )| SummaryDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    quantile_values,
                    flags,
                },
            ),
        0..3,
    )
}

fn metric_data() -> impl Strategy<Value = Option<metric::Data>> {
    prop::option::of(prop_oneof![
        number_points().prop_map(|data_points| metric::Data::Gauge(Gauge { data_points })),
        (number_points(), any::<i32>(), any::<bool>()).prop_map(
            |(data_points, aggregation_temporality, is_monotonic)| {
                metric::Data::Sum(Sum {
                    data_points,
                    aggregation_temporality,
                    is_monotonic,
                })
            }
        ),
        (histogram_points(), any::<i32>()).prop_map(|(data_points, aggregation_temporality)| {
            metric::Data::Histogram(Histogram {
                data_points,
                aggregation_temporality,
            })
        }),
        (exponential_points(), any::<i32>()).prop_map(|(data_points, aggregation_temporality)| {
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points,
                aggregation_temporality,
            })
        }),
        summary_points().prop_map(|data_points| metric::Data::Summary(Summary { data_points })),
    ])
}

fn metrics() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    let a_metric = (text(), text(), text(), attributes(), metric_data()).prop_map(
        |(name, description, unit, metadata, data)| Metric {
            name,
            description,
            unit,
            metadata,
            data,
        },
    );
    let scope_metrics = (scope(), prop::collection::vec(a_metric, 0..3), text()).prop_map(
        |(scope, metrics, schema_url)| ScopeMetrics {
            scope,
            metrics,
            schema_url,
        },
    );
    let resource_metrics = (
        resource(),
        prop::collection::vec(scope_metrics, 0..3),
        text(),
    )
        .prop_map(|(resource, scope_metrics, schema_url)| ResourceMetrics {
            resource,
            scope_metrics,
            schema_url,
        });
    prop::collection::vec(resource_metrics, 0..3)
        .prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}

/// A random valid request of a random kind, encoded by prost; sometimes one of the examples.
fn encoded_request() -> impl Strategy<Value = (RequestKind, Vec<u8>)> {
    prop_oneof![
        3 => traces().prop_map(|r| (RequestKind::Traces, r.encode_to_vec())),
        3 => metrics().prop_map(|r| (RequestKind::Metrics, r.encode_to_vec())),
        3 => logs().prop_map(|r| (RequestKind::Logs, r.encode_to_vec())),
        1 => prop::sample::select(EXAMPLES.to_vec()).prop_map(|(kind, bytes)| (kind, bytes.to_vec())),
    ]
}

// ---------------------------------------------------------------------------------------------
// Mutations.

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
    Splice(Index, Vec<u8>, usize),
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        1 => prop::sample::select(vec![0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0B, 0x0C, 0x12, 0x7F, 0x80, 0xFF]),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, 1 << bit)),
        (any::<Index>(), interesting_byte()).prop_map(|(at, b)| Mutation::Set(at, b)),
        (any::<Index>(), interesting_byte()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Truncate),
        (
            any::<Index>(),
            prop::collection::vec(interesting_byte(), 0..8),
            0usize..8
        )
            .prop_map(|(at, bytes, replace)| Mutation::Splice(at, bytes, replace)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match mutation {
        Mutation::Flip(at, mask) if len > 0 => bytes[at.index(len)] ^= mask,
        Mutation::Set(at, b) if len > 0 => bytes[at.index(len)] = *b,
        Mutation::Insert(at, b) => bytes.insert(at.index(len + 1), *b),
        Mutation::Delete(at) if len > 0 => {
            bytes.remove(at.index(len));
        }
        Mutation::Truncate(at) => bytes.truncate(at.index(len + 1)),
        Mutation::Splice(at, new, replace) => {
            let start = at.index(len + 1);
            let end = (start + replace).min(len);
            bytes.splice(start..end, new.iter().copied());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    /// (a) Whatever prost encodes, the validator accepts.
    #[test]
    fn prost_encodings_validate((kind, bytes) in encoded_request()) {
        ok(kind, &bytes);
    }

    /// (b) Mutated encodings: the validator decides as prost does.
    #[test]
    fn mutated_encodings_agree_with_prost(
        (kind, mut bytes) in encoded_request(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        for m in &mutations {
            apply(&mut bytes, m);
        }
        agree(kind, &bytes).ok();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// (c) Random bytes: the same decision as prost for all three kinds, and no panic.
    #[test]
    fn random_bytes_agree_with_prost(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        agree_all(&bytes);
    }

    /// (c) Random bytes drawn mostly from keys, lengths and varint bytes, so they nest and look
    /// like fields more often than uniform bytes do.
    #[test]
    fn random_structured_bytes_agree_with_prost(bytes in prop::collection::vec(interesting_byte(), 0..48)) {
        agree_all(&bytes);
    }
}
