//! Property tests of the two representations behind `Batch`'s one API.
//!
//! Random OTLP requests are made as prost structs (the *owned* form) and encoded; the
//! same bytes are then taken as a *wire* batch. Every view accessor must give the same
//! answer on both, and retain, edit, concatenation and splits must agree with the same
//! operation done on the decoded structs.
#![allow(clippy::unwrap_used)]

use std::fmt::Write;

use proptest::prelude::*;
use weir_api::batch::view::{Attributes, MetricView, ResourceView, ScopeView, SpanView, ValueRef};
use weir_api::{Batch, Signal};
use weir_proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

// ---- Generators ------------------------------------------------------------------

fn any_value(depth: u32) -> BoxedStrategy<AnyValue> {
    let leaf = prop_oneof![
        "[a-z]{0,6}".prop_map(any_value::Value::StringValue),
        any::<bool>().prop_map(any_value::Value::BoolValue),
        any::<i64>().prop_map(any_value::Value::IntValue),
        any::<f64>().prop_map(any_value::Value::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(any_value::Value::BytesValue),
    ];
    let value = if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![
            4 => leaf,
            1 => prop::collection::vec(any_value(depth - 1), 0..3)
                .prop_map(|values| any_value::Value::ArrayValue(ArrayValue { values })),
            1 => attributes(depth - 1)
                .prop_map(|values| any_value::Value::KvlistValue(KeyValueList { values })),
        ]
        .boxed()
    };
    prop::option::weighted(0.95, value)
        .prop_map(|value| AnyValue { value })
        .boxed()
}

fn attributes(depth: u32) -> BoxedStrategy<Vec<KeyValue>> {
    prop::collection::vec(
        ("[a-c]{1,2}", prop::option::weighted(0.9, any_value(depth))).prop_map(|(key, value)| {
            KeyValue {
                key,
                value,
                ..Default::default()
            }
        }),
        0..4,
    )
    .boxed()
}

fn resource() -> impl Strategy<Value = Option<Resource>> {
    prop::option::weighted(
        0.9,
        (attributes(1), any::<u32>()).prop_map(|(attributes, dropped)| Resource {
            attributes,
            dropped_attributes_count: dropped % 3,
            ..Default::default()
        }),
    )
}

fn scope() -> impl Strategy<Value = Option<InstrumentationScope>> {
    prop::option::weighted(
        0.9,
        ("[a-z]{0,4}", "[0-9.]{0,3}", attributes(0)).prop_map(|(name, version, attributes)| {
            InstrumentationScope {
                name,
                version,
                attributes,
                dropped_attributes_count: 0,
            }
        }),
    )
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), len..=len),
        1 => Just(Vec::new()),
    ]
}

fn span() -> impl Strategy<Value = Span> {
    (
        (
            id(16),
            id(8),
            "[a-z=,]{0,6}",
            id(8),
            any::<u32>(),
            "[a-z]{0,6}",
            0..7i32,
        ),
        (any::<u64>(), any::<u64>(), attributes(1), any::<u32>()),
        (
            prop::collection::vec(
                (any::<u64>(), "[a-z]{0,3}", attributes(0)).prop_map(|(t, name, attributes)| {
                    span::Event {
                        time_unix_nano: t,
                        name,
                        attributes,
                        dropped_attributes_count: 1,
                    }
                }),
                0..2,
            ),
            prop::collection::vec(
                (id(16), id(8), attributes(0), any::<u32>()).prop_map(
                    |(trace_id, span_id, attributes, flags)| span::Link {
                        trace_id,
                        span_id,
                        trace_state: String::new(),
                        attributes,
                        dropped_attributes_count: 0,
                        flags,
                    },
                ),
                0..2,
            ),
            prop::option::of(
                (0..4i32, "[a-z ]{0,5}").prop_map(|(code, message)| Status { code, message }),
            ),
        ),
    )
        .prop_map(
            |(
                (trace_id, span_id, trace_state, parent, flags, name, kind),
                (start, end, attributes, dropped),
                (events, links, status),
            )| Span {
                trace_id,
                span_id,
                trace_state,
                parent_span_id: parent,
                flags,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count: dropped % 5,
                events,
                dropped_events_count: 0,
                links,
                dropped_links_count: 2,
                status,
            },
        )
}

fn resource_spans() -> impl Strategy<Value = Vec<ResourceSpans>> {
    prop::collection::vec(
        (
            resource(),
            prop::collection::vec(
                (scope(), prop::collection::vec(span(), 0..4), "[a-z:/]{0,4}").prop_map(
                    |(scope, spans, schema_url)| ScopeSpans {
                        scope,
                        spans,
                        schema_url,
                    },
                ),
                0..3,
            ),
            "[a-z]{0,3}",
        )
            .prop_map(|(resource, scope_spans, schema_url)| ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            }),
        0..4,
    )
}

fn log_record() -> impl Strategy<Value = LogRecord> {
    (
        (any::<u64>(), any::<u64>(), 0..25i32, "[A-Z]{0,4}"),
        (prop::option::of(any_value(1)), attributes(1), any::<u32>()),
        (id(16), id(8), "[a-z.]{0,4}"),
    )
        .prop_map(
            |(
                (time, observed, severity, text),
                (body, attributes, flags),
                (trace_id, span_id, event_name),
            )| LogRecord {
                time_unix_nano: time,
                observed_time_unix_nano: observed,
                severity_number: severity,
                severity_text: text,
                body,
                attributes,
                dropped_attributes_count: 0,
                flags,
                trace_id,
                span_id,
                event_name,
            },
        )
}

fn resource_logs() -> impl Strategy<Value = Vec<ResourceLogs>> {
    prop::collection::vec(
        (
            resource(),
            prop::collection::vec(
                (scope(), prop::collection::vec(log_record(), 0..4)).prop_map(
                    |(scope, log_records)| ScopeLogs {
                        scope,
                        log_records,
                        schema_url: String::new(),
                    },
                ),
                0..3,
            ),
        )
            .prop_map(|(resource, scope_logs)| ResourceLogs {
                resource,
                scope_logs,
                schema_url: String::new(),
            }),
        0..4,
    )
}

fn exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
    prop::collection::vec(
        (
            attributes(0),
            any::<u64>(),
            any::<bool>(),
            any::<i64>(),
            id(8),
            id(16),
        )
            .prop_map(
                |(filtered_attributes, time, is_int, v, span_id, trace_id)| Exemplar {
                    filtered_attributes,
                    time_unix_nano: time,
                    value: Some(if is_int {
                        exemplar::Value::AsInt(v)
                    } else {
                        exemplar::Value::AsDouble(v as f64 / 3.0)
                    }),
                    span_id,
                    trace_id,
                },
            ),
        0..2,
    )
}

fn number_points() -> impl Strategy<Value = Vec<NumberDataPoint>> {
    prop::collection::vec(
        (
            attributes(0),
            any::<u64>(),
            any::<u64>(),
            prop::option::of(any::<i64>()),
            any::<bool>(),
            0..2u32,
            exemplars(),
        )
            .prop_map(
                |(attributes, start, time, value, is_int, flags, exemplars)| NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value: value.map(|v| {
                        if is_int {
                            number_data_point::Value::AsInt(v)
                        } else {
                            number_data_point::Value::AsDouble(v as f64 * 0.5)
                        }
                    }),
                    exemplars,
                    flags,
                },
            ),
        0..3,
    )
}

fn metric() -> impl Strategy<Value = Metric> {
    let histogram = prop::collection::vec(
        (
            attributes(0),
            any::<u64>(),
            prop::option::of(any::<f64>()),
            prop::collection::vec(any::<u64>(), 0..4),
            prop::collection::vec(any::<f64>(), 0..3),
            exemplars(),
            prop::option::of(any::<f64>()),
        )
            .prop_map(
                |(attributes, count, sum, bucket_counts, explicit_bounds, exemplars, min)| {
                    HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: 1,
                        time_unix_nano: 2,
                        count,
                        sum,
                        bucket_counts,
                        explicit_bounds,
                        exemplars,
                        flags: 0,
                        min,
                        max: min.map(|m| m + 1.0),
                    }
                },
            ),
        0..3,
    );
    let exponential = prop::collection::vec(
        (
            attributes(0),
            any::<u64>(),
            -10..10i32,
            any::<i32>(),
            prop::collection::vec(any::<u64>(), 0..4),
            prop::option::of((any::<i32>(), prop::collection::vec(any::<u64>(), 0..3))),
            any::<f64>(),
        )
            .prop_map(
                |(attributes, count, scale, offset, counts, negative, zero_threshold)| {
                    ExponentialHistogramDataPoint {
                        attributes,
                        start_time_unix_nano: 3,
                        time_unix_nano: 4,
                        count,
                        sum: Some(1.5),
                        scale,
                        zero_count: count / 2,
                        positive: Some(Buckets {
                            offset,
                            bucket_counts: counts,
                        }),
                        negative: negative.map(|(offset, bucket_counts)| Buckets {
                            offset,
                            bucket_counts,
                        }),
                        flags: 1,
                        exemplars: Vec::new(),
                        min: None,
                        max: Some(9.0),
                        zero_threshold,
                    }
                },
            ),
        0..3,
    );
    let summary = prop::collection::vec(
        (
            attributes(0),
            any::<u64>(),
            any::<f64>(),
            prop::collection::vec((any::<f64>(), any::<f64>()), 0..3),
        )
            .prop_map(|(attributes, count, sum, quantiles)| SummaryDataPoint {
                attributes,
                start_time_unix_nano: 5,
                time_unix_nano: 6,
                count,
                sum,
                quantile_values: quantiles
                    .into_iter()
                    .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                    .collect(),
                flags: 0,
            }),
        0..3,
    );
    let data = prop_oneof![
        number_points().prop_map(|data_points| Some(Data::Gauge(Gauge { data_points }))),
        (number_points(), 0..3i32, any::<bool>()).prop_map(|(data_points, t, m)| Some(Data::Sum(
            Sum {
                data_points,
                aggregation_temporality: t,
                is_monotonic: m,
            }
        ))),
        (histogram, 0..3i32).prop_map(|(data_points, t)| Some(Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: t,
        }))),
        (exponential, 0..3i32).prop_map(|(data_points, t)| Some(Data::ExponentialHistogram(
            ExponentialHistogram {
                data_points,
                aggregation_temporality: t,
            }
        ))),
        summary.prop_map(|data_points| Some(Data::Summary(Summary { data_points }))),
        Just(None),
    ];
    (
        "[a-z_]{0,6}",
        "[a-z ]{0,4}",
        "[a-z]{0,2}",
        attributes(0),
        data,
    )
        .prop_map(|(name, description, unit, metadata, data)| Metric {
            name,
            description,
            unit,
            metadata,
            data,
        })
}

fn resource_metrics() -> impl Strategy<Value = Vec<ResourceMetrics>> {
    prop::collection::vec(
        (
            resource(),
            prop::collection::vec(
                (scope(), prop::collection::vec(metric(), 0..4)).prop_map(|(scope, metrics)| {
                    ScopeMetrics {
                        scope,
                        metrics,
                        schema_url: String::new(),
                    }
                }),
                0..3,
            ),
        )
            .prop_map(|(resource, scope_metrics)| ResourceMetrics {
                resource,
                scope_metrics,
                schema_url: "s".into(),
            }),
        0..4,
    )
}

// ---- A dump of every accessor ------------------------------------------------------

fn value(out: &mut String, v: ValueRef<'_>) {
    match v {
        ValueRef::Array(a) => {
            out.push('[');
            for item in a.iter() {
                value(out, item);
                out.push(',');
            }
            let _ = write!(out, "]#{}", a.len());
        }
        ValueRef::KvList(kv) => attrs(out, kv),
        // Doubles by bits, so NaN compares equal to itself.
        ValueRef::Double(d) => {
            let _ = write!(out, "d{:x}", d.to_bits());
        }
        other => {
            let _ = write!(out, "{other:?}");
        }
    }
}

fn attrs(out: &mut String, a: Attributes<'_>) {
    out.push('{');
    for (k, v) in a.iter() {
        let _ = write!(out, "{k}=");
        value(out, v);
        // Lookup by key finds the first attribute of that name.
        let found = a.get(k).map(|f| {
            let mut s = String::new();
            value(&mut s, f);
            s
        });
        let _ = write!(out, "(get:{found:?});");
    }
    let _ = write!(out, "}}#{}", a.len());
}

fn resource_scope(out: &mut String, r: ResourceView<'_>, s: ScopeView<'_>) {
    attrs(out, r.attributes());
    let _ = write!(
        out,
        "rd{} s{}/{} sd{}",
        r.dropped_attributes_count(),
        s.name(),
        s.version(),
        s.dropped_attributes_count()
    );
    attrs(out, s.attributes());
}

fn dump_span(out: &mut String, s: SpanView<'_>) {
    let _ = write!(
        out,
        "span {:?} {:?} {} {:?} {} {} {:?} {} {} {} {} {} {:?} {}",
        s.trace_id(),
        s.span_id(),
        s.trace_state(),
        s.parent_span_id(),
        s.flags(),
        s.name(),
        s.kind(),
        s.start_time_unix_nano(),
        s.end_time_unix_nano(),
        s.dropped_attributes_count(),
        s.dropped_events_count(),
        s.dropped_links_count(),
        s.status_code(),
        s.status_message()
    );
    attrs(out, s.attributes());
    for e in s.events() {
        let _ = write!(
            out,
            " ev {} {} {}",
            e.time_unix_nano(),
            e.name(),
            e.dropped_attributes_count()
        );
        attrs(out, e.attributes());
    }
    for l in s.links() {
        let _ = write!(
            out,
            " ln {:?} {:?} {} {} {}",
            l.trace_id(),
            l.span_id(),
            l.trace_state(),
            l.flags(),
            l.dropped_attributes_count()
        );
        attrs(out, l.attributes());
    }
    out.push('\n');
}

/// Each data point of a metric on its own, with its type and temporality (what a split
/// must keep), without the descriptor text.
fn point_dumps(m: MetricView<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let kind = format!(
        "{:?}/{:?}/{}",
        m.metric_type(),
        m.temporality(),
        m.is_monotonic()
    );
    for p in m.number_points() {
        let mut line = format!(
            "{kind} {} {} {} {:?}",
            p.start_time_unix_nano(),
            p.time_unix_nano(),
            p.flags(),
            p.value()
        );
        attrs(&mut line, p.attributes());
        out.push(line);
    }
    for p in m.histogram_points() {
        let mut line = format!(
            "{kind} {} {} {:?} {:?} {:?}",
            p.time_unix_nano(),
            p.count(),
            p.sum().map(f64::to_bits),
            p.bucket_counts().collect::<Vec<_>>(),
            p.explicit_bounds().map(f64::to_bits).collect::<Vec<_>>()
        );
        attrs(&mut line, p.attributes());
        out.push(line);
    }
    for p in m.exponential_histogram_points() {
        let mut line = format!(
            "{kind} {} {} {} {} {:?}",
            p.time_unix_nano(),
            p.count(),
            p.scale(),
            p.positive().offset(),
            p.positive().bucket_counts().collect::<Vec<_>>()
        );
        attrs(&mut line, p.attributes());
        out.push(line);
    }
    for p in m.summary_points() {
        let mut line = format!(
            "{kind} {} {} {:x}",
            p.time_unix_nano(),
            p.count(),
            p.sum().to_bits()
        );
        for q in p.quantiles() {
            let _ = write!(line, " q{:x}={:x}", q.quantile.to_bits(), q.value.to_bits());
        }
        attrs(&mut line, p.attributes());
        out.push(line);
    }
    out
}

fn dump_metric(out: &mut String, m: MetricView<'_>) {
    let _ = write!(
        out,
        "metric {} {} {} {:?} {:?} {} {}",
        m.name(),
        m.description(),
        m.unit(),
        m.metric_type(),
        m.temporality(),
        m.is_monotonic(),
        m.point_count()
    );
    attrs(out, m.metadata());
    for p in m.number_points() {
        let _ = write!(
            out,
            " np {} {} {} {:?}",
            p.start_time_unix_nano(),
            p.time_unix_nano(),
            p.flags(),
            p.value()
        );
        attrs(out, p.attributes());
        for e in p.exemplars() {
            let _ = write!(
                out,
                " ex {} {:?} {:?} {:?}",
                e.time_unix_nano(),
                e.value(),
                e.span_id(),
                e.trace_id()
            );
            attrs(out, e.filtered_attributes());
        }
    }
    for p in m.histogram_points() {
        let _ = write!(
            out,
            " hp {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
            p.start_time_unix_nano(),
            p.time_unix_nano(),
            p.flags(),
            p.count(),
            p.sum().map(f64::to_bits),
            p.bucket_counts().collect::<Vec<_>>(),
            p.explicit_bounds().map(f64::to_bits).collect::<Vec<_>>(),
            p.min().map(f64::to_bits),
            p.max().map(f64::to_bits)
        );
        attrs(out, p.attributes());
        let _ = write!(out, " ex#{}", p.exemplars().count());
    }
    for p in m.exponential_histogram_points() {
        let _ = write!(
            out,
            " ep {} {} {} {} {:?} {} {} {} {:?} {} {:?} {:?} {:?} {:x}",
            p.start_time_unix_nano(),
            p.time_unix_nano(),
            p.flags(),
            p.count(),
            p.sum().map(f64::to_bits),
            p.scale(),
            p.zero_count(),
            p.positive().offset(),
            p.positive().bucket_counts().collect::<Vec<_>>(),
            p.negative().offset(),
            p.negative().bucket_counts().collect::<Vec<_>>(),
            p.min().map(f64::to_bits),
            p.max().map(f64::to_bits),
            p.zero_threshold().to_bits()
        );
        attrs(out, p.attributes());
    }
    for p in m.summary_points() {
        let _ = write!(
            out,
            " sp {} {} {} {} {:x}",
            p.start_time_unix_nano(),
            p.time_unix_nano(),
            p.flags(),
            p.count(),
            p.sum().to_bits()
        );
        for q in p.quantiles() {
            let _ = write!(out, " q{:x}={:x}", q.quantile.to_bits(), q.value.to_bits());
        }
        attrs(out, p.attributes());
    }
    out.push('\n');
}

fn dump(batch: &Batch) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:?} items={} resources={} len={}",
        batch.signal(),
        batch.item_count(),
        batch.resource_count(),
        batch.encoded_len()
    );
    for r in batch.traces() {
        let _ = writeln!(out, "RS {}", r.schema_url());
        for s in r.scopes() {
            resource_scope(&mut out, r.resource(), s.scope());
            let _ = writeln!(out, " {}", s.schema_url());
            for span in s.spans() {
                dump_span(&mut out, span);
            }
        }
    }
    for r in batch.logs() {
        for s in r.scopes() {
            resource_scope(&mut out, r.resource(), s.scope());
            for l in s.log_records() {
                let _ = write!(
                    out,
                    "\nlog {} {} {:?} {} {} {} {:?} {:?} {}",
                    l.time_unix_nano(),
                    l.observed_time_unix_nano(),
                    l.severity_number(),
                    l.severity_text(),
                    l.dropped_attributes_count(),
                    l.flags(),
                    l.trace_id(),
                    l.span_id(),
                    l.event_name()
                );
                value(&mut out, l.body());
                attrs(&mut out, l.attributes());
            }
        }
    }
    for r in batch.metrics() {
        let _ = writeln!(out, "RM {}", r.schema_url());
        for s in r.scopes() {
            resource_scope(&mut out, r.resource(), s.scope());
            for m in s.metrics() {
                dump_metric(&mut out, m);
            }
        }
    }
    out
}

/// The same data as an owned and as a wire batch.
/// The owned form is decoded by prost from the same bytes, so values that protobuf
/// cannot carry (such as -0.0 in a plain double field) are the same on both sides.
fn both(built: Batch) -> (Batch, Batch) {
    use weir_proto::prost::Message;
    let bytes = built.encode_protobuf();
    let owned = match built.signal() {
        Signal::Traces => Batch::from_traces(
            weir_proto::collector::trace::v1::ExportTraceServiceRequest::decode(&bytes[..])
                .unwrap()
                .resource_spans,
        ),
        Signal::Metrics => Batch::from_metrics(
            weir_proto::collector::metrics::v1::ExportMetricsServiceRequest::decode(&bytes[..])
                .unwrap()
                .resource_metrics,
        ),
        Signal::Logs => Batch::from_logs(
            weir_proto::collector::logs::v1::ExportLogsServiceRequest::decode(&bytes[..])
                .unwrap()
                .resource_logs,
        ),
    };
    let wire = Batch::decode_protobuf(built.signal(), &bytes).unwrap();
    (owned, wire)
}

/// Retain on decoded structs, as a walk does it: scopes and resources the retain left
/// empty disappear; those that arrived empty stay.
fn retain_spans_reference(resources: &mut Vec<ResourceSpans>, keep: impl Fn(&Span) -> bool) {
    resources.retain_mut(|r| {
        let had_scopes = !r.scope_spans.is_empty();
        r.scope_spans.retain_mut(|s| {
            let had_spans = !s.spans.is_empty();
            s.spans.retain(&keep);
            !had_spans || !s.spans.is_empty()
        });
        !had_scopes || !r.scope_spans.is_empty()
    });
}

fn keep_span(name: &str, id: &[u8]) -> bool {
    !(name.len() + id.first().copied().unwrap_or(0) as usize).is_multiple_of(3)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn span_views_agree(resources in resource_spans()) {
        let (owned, wire) = both(Batch::from_traces(resources));
        prop_assert_eq!(dump(&owned), dump(&wire));
        prop_assert_eq!(owned.spans().count(), wire.item_count());
    }

    #[test]
    fn log_views_agree(resources in resource_logs()) {
        let (owned, wire) = both(Batch::from_logs(resources));
        prop_assert_eq!(dump(&owned), dump(&wire));
        prop_assert_eq!(owned.log_records().count(), wire.item_count());
    }

    #[test]
    fn metric_views_agree(resources in resource_metrics()) {
        let (owned, wire) = both(Batch::from_metrics(resources));
        prop_assert_eq!(dump(&owned), dump(&wire));
        prop_assert_eq!(owned.item_count(), wire.item_count());
    }

    #[test]
    fn retain_on_wire_matches_retain_on_structs(resources in resource_spans()) {
        let (reference, _) = both(Batch::from_traces(resources.clone()));
        let mut expected = reference.resource_spans();
        retain_spans_reference(&mut expected, |span| keep_span(&span.name, &span.span_id));
        let (mut owned, mut wire) = both(Batch::from_traces(resources));
        owned.retain_spans(|_, _, s| keep_span(s.name(), s.span_id()));
        wire.retain_spans(|_, _, s| keep_span(s.name(), s.span_id()));
        for batch in [&owned, &wire] {
            let decoded = Batch::decode_protobuf(Signal::Traces, &batch.encode_protobuf()).unwrap();
            prop_assert_eq!(decoded.resource_spans(), expected.clone());
            prop_assert_eq!(batch.item_count(), decoded.item_count());
        }
    }

    #[test]
    fn edits_on_wire_match_edits_on_structs(resources in resource_spans()) {
        let edit = |batch: &mut Batch| {
            batch.edit_spans(|span| {
                if span.span().name().len().is_multiple_of(2) {
                    span.attributes().upsert("a", "x").delete("b").rename("c", "cc");
                    span.set_name("renamed");
                }
                span.span().name().len() != 3
            });
            batch.edit_resources(|r| {
                r.attributes().insert("env", "prod");
                true
            });
        };
        let (mut owned, mut wire) = both(Batch::from_traces(resources));
        edit(&mut owned);
        edit(&mut wire);
        prop_assert_eq!(dump(&owned), dump(&wire));
        prop_assert_eq!(owned.resource_spans(), wire.resource_spans());
    }

    #[test]
    fn log_retain_and_metric_retain_agree(logs in resource_logs(), metrics in resource_metrics()) {
        let (mut owned, mut wire) = both(Batch::from_logs(logs));
        for b in [&mut owned, &mut wire] {
            b.retain_log_records(|_, _, l| l.severity_number().0 % 2 == 0);
        }
        prop_assert_eq!(dump(&owned), dump(&wire));
        prop_assert_eq!(owned.resource_logs(), wire.resource_logs());

        let (mut owned, mut wire) = both(Batch::from_metrics(metrics));
        for b in [&mut owned, &mut wire] {
            b.retain_data_points(|_, _, m, _| m.name().len().is_multiple_of(2));
        }
        prop_assert_eq!(dump(&owned), dump(&wire));
    }

    #[test]
    fn a_walk_that_changes_nothing_leaves_the_structure(resources in resource_spans()) {
        let (mut owned, mut wire) = both(Batch::from_traces(resources));
        let before = owned.resource_spans();
        owned.retain_spans(|_, _, _| true);
        wire.edit_spans(|_| true);
        prop_assert_eq!(owned.resource_spans(), before.clone());
        prop_assert_eq!(wire.resource_spans(), before);
    }

    #[test]
    fn concatenation_counts_add_up(a in resource_spans(), b in resource_spans()) {
        let (_, mut first) = both(Batch::from_traces(a.clone()));
        let (_, second) = both(Batch::from_traces(b.clone()));
        let expected = first.item_count() + second.item_count();
        first.append(second).unwrap();
        prop_assert_eq!(first.item_count(), expected);
        let all: Vec<ResourceSpans> = a.into_iter().chain(b).collect();
        prop_assert_eq!(first.resource_spans(), all);
        let encoded = Batch::decode_protobuf(Signal::Traces, &first.encode_protobuf()).unwrap();
        prop_assert_eq!(encoded.item_count(), expected);
    }

    #[test]
    fn splits_reassemble(resources in resource_metrics(), cut in 0usize..12) {
        let (_, mut wire) = both(Batch::from_metrics(resources));
        let original = wire.clone();
        let total = wire.item_count();
        let mut front = wire.split_front(cut);
        prop_assert_eq!(front.item_count(), cut.min(total));
        prop_assert_eq!(front.item_count() + wire.item_count(), total);
        front.append(wire).unwrap();
        // Metrics split inside a metric come back as two metrics with one descriptor;
        // the points, in order, are what must be equal.
        let points = |b: &Batch| {
            let mut out = Vec::new();
            for r in b.metrics() {
                for s in r.scopes() {
                    for m in s.metrics() {
                        out.push(point_dumps(m));
                    }
                }
            }
            out.concat()
        };
        prop_assert_eq!(points(&front), points(&original));
        prop_assert_eq!(front.item_count(), total);
    }

    #[test]
    fn hostile_bytes_never_panic_in_views(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            if let Ok(mut batch) = Batch::decode_protobuf(signal, &bytes) {
                let _ = dump(&batch);
                batch.retain_spans(|_, _, s| s.name().is_empty());
                batch.retain_log_records(|_, _, l| l.body().is_empty());
                batch.retain_data_points(|_, _, _, _| false);
                let _ = batch.split_front(1);
                let _ = batch.encode_protobuf();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn span_splits_in_the_bytes_reassemble(resources in resource_spans(), cut in 0usize..12) {
        let (owned, mut wire) = both(Batch::from_traces(resources));
        let total = wire.item_count();
        let mut front = wire.split_front(cut);
        prop_assert_eq!(front.item_count(), cut.min(total));
        prop_assert_eq!(front.item_count() + wire.item_count(), total);
        // Every span, with its resource and scope, in order.
        let spans = |b: &Batch| {
            b.spans()
                .map(|(r, s, span)| {
                    let mut line = String::new();
                    resource_scope(&mut line, r, s);
                    dump_span(&mut line, span);
                    line
                })
                .collect::<Vec<_>>()
        };
        let mut both_halves = spans(&front);
        both_halves.extend(spans(&wire));
        prop_assert_eq!(both_halves, spans(&owned));
        front.append(wire).unwrap();
        prop_assert_eq!(front.item_count(), total);
    }
}

/// The OTLP/JSON examples of opentelemetry-proto (as protobuf, see
/// proto/tests/data/otlp_examples/README.md): both forms read the same.
#[test]
fn conformance_examples_read_the_same_on_both_forms() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto/tests/data/otlp_examples");
    for (file, signal) in [
        ("trace.pb", Signal::Traces),
        ("metrics.pb", Signal::Metrics),
        ("logs.pb", Signal::Logs),
        ("events.pb", Signal::Logs),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let wire = Batch::decode_protobuf(signal, &bytes).unwrap();
        let (owned, rewired) = both(wire.clone());
        assert!(wire.item_count() > 0, "{file}");
        assert_eq!(dump(&owned), dump(&wire), "{file}");
        assert_eq!(dump(&rewired), dump(&wire), "{file}");
        assert_eq!(
            wire.encode_protobuf(),
            bytes,
            "{file}: untouched bytes pass through as they are"
        );
    }
}
