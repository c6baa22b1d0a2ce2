use std::time::{Duration, Instant};

use weir_api::ack::InFlight;
use weir_api::telemetry::names::{
    SPANMETRICS_EVICTED_RESOURCES, SPANMETRICS_OVERFLOW_SPANS, SPANMETRICS_SERIES,
};
use weir_api::telemetry::Telemetry;
use weir_api::{Ack, ComponentId, PipelineId};
use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::metrics::v1::{metric::Data, Metric, ResourceMetrics};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::config::{AggregationTemporality, HistogramKind, Unit, DEFAULT_BUCKETS_MS};

const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
/// A fixed "now" for flushes: 2026-01-01.
const T0: u64 = 1_767_225_600 * SECOND;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

/// A span: name, kind, status, duration in ms, attributes.
fn span(name: &str, kind: span::SpanKind, code: status::StatusCode, ms: u64) -> Span {
    Span {
        name: name.into(),
        kind: kind as i32,
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        start_time_unix_nano: T0 - 10 * SECOND,
        end_time_unix_nano: T0 - 10 * SECOND + ms * MS,
        status: Some(Status {
            code: code as i32,
            message: String::new(),
        }),
        ..Default::default()
    }
}

fn server(name: &str, ms: u64) -> Span {
    span(name, span::SpanKind::Server, status::StatusCode::Unset, ms)
}

fn error(name: &str, ms: u64) -> Span {
    span(name, span::SpanKind::Server, status::StatusCode::Error, ms)
}

fn resource(attributes: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                version: "1.2".into(),
                ..Default::default()
            }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn service(name: &str, host: &str, spans: Vec<Span>) -> ResourceSpans {
    resource(
        vec![kv("service.name", s(name)), kv("host.name", s(host))],
        spans,
    )
}

fn traces(resources: Vec<ResourceSpans>) -> Batch {
    Batch::from_traces(resources)
}

fn parse(text: &str) -> SpanMetricsConfig {
    weir_api::config::parse_valid::<SpanMetricsConfig>(&yaml(text)).expect("valid")
}

fn connector(text: &str) -> (SpanMetricsConnector, Telemetry) {
    let telemetry = Telemetry::new();
    let c = SpanMetricsConnector::new(parse(text), "spanmetrics", &telemetry, Instant::now());
    (c, telemetry)
}

/// Flushes at `now` and returns the resources emitted.
fn flush(c: &mut SpanMetricsConnector, now: u64) -> Vec<ResourceMetrics> {
    let mut out = ConnectorOutput::new();
    c.flush_at(now, &mut out);
    let emitted = out.take();
    assert!(emitted.len() <= 1);
    emitted
        .into_iter()
        .flat_map(|(route, batch)| {
            assert_eq!(route, weir_api::Route::All);
            assert_eq!(batch.signal(), Signal::Metrics);
            batch.resource_metrics()
        })
        .collect()
}

fn metric<'a>(resource: &'a ResourceMetrics, name: &str) -> &'a Metric {
    resource.scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn attr(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.clone()?.value)
}

fn resource_attr(resource: &ResourceMetrics, key: &str) -> Option<any_value::Value> {
    attr(&resource.resource.as_ref().unwrap().attributes, key)
}

/// `calls` points as (span.name, status.code, value).
fn calls(resource: &ResourceMetrics) -> Vec<(String, String, i64)> {
    let Some(Data::Sum(sum)) = &metric(resource, "traces.span.metrics.calls").data else {
        panic!("calls is a sum")
    };
    assert!(sum.is_monotonic);
    let mut out: Vec<_> = sum
        .data_points
        .iter()
        .map(|p| {
            let name = match attr(&p.attributes, "span.name") {
                Some(any_value::Value::StringValue(n)) => n,
                _ => String::new(),
            };
            let code = match attr(&p.attributes, "status.code") {
                Some(any_value::Value::StringValue(c)) => c,
                _ => String::new(),
            };
            let value = match p.value {
                Some(weir_proto::metrics::v1::number_data_point::Value::AsInt(v)) => v,
                _ => panic!("int value"),
            };
            (name, code, value)
        })
        .collect();
    out.sort();
    out
}

// ------------------------------------------------------------------ configuration

#[test]
fn defaults_are_the_collectors() {
    let config = parse("");
    assert_eq!(config.namespace, "traces.span.metrics");
    assert_eq!(config.metrics_flush_interval, Duration::from_secs(60));
    assert_eq!(config.metrics_expiration, Duration::ZERO);
    assert_eq!(
        config.aggregation_temporality,
        AggregationTemporality::Cumulative
    );
    assert_eq!(config.histogram.unit, Unit::Milliseconds);
    assert_eq!(
        config.histogram_kind(),
        HistogramKind::Explicit(DEFAULT_BUCKETS_MS.to_vec())
    );
    assert_eq!(config.exemplars.max_per_data_point, 5);
    assert!(!config.exemplars.enabled);
    assert_eq!(config.cardinality_limit(), 0);
    assert_eq!(config.resource_metrics_cache_size, 1000);
    assert_eq!(config.metric_timestamp_cache_size, 1000);
    assert_eq!(config.metric_name("calls"), "traces.span.metrics.calls");
    // An empty `explicit:` means the default buckets (the Collector's testdata).
    let config = parse("histogram:\n  explicit:\n");
    assert_eq!(
        config.histogram_kind(),
        HistogramKind::Explicit(DEFAULT_BUCKETS_MS.to_vec())
    );
    // Seconds divide the default buckets.
    let config = parse("histogram:\n  unit: s\n");
    let HistogramKind::Explicit(bounds) = config.histogram_kind() else {
        panic!()
    };
    assert_eq!(bounds[0], 0.002);
    assert_eq!(bounds[15], 15.0);
}

#[test]
fn the_collectors_full_example_parses() {
    let config = parse(
        r#"
histogram:
  unit: "s"
  explicit:
    buckets: [ 10ms, 100ms, 250ms ]
exemplars:
  enabled: true
resource_metrics_cache_size: 1600
dimensions:
  - name: http.method
    default: GET
  - name: http.status_code
aggregation_temporality: "AGGREGATION_TEMPORALITY_DELTA"
metrics_flush_interval: 30s
exclude_dimensions: ['status.code']
dimensions_cache_size: 1000
metrics_expiration: 5m
resource_metrics_key_attributes: [service.name, telemetry.sdk.language]
namespace: span.metrics
include_instrumentation_scope: [lib]
aggregation_cardinality_limit: 50
metric_timestamp_cache_size: 123
calls_dimensions: [{name: a}]
add_resource_attributes: true
"#,
    );
    assert_eq!(
        config.histogram_kind(),
        HistogramKind::Explicit(vec![0.01, 0.1, 0.25])
    );
    assert_eq!(
        config.aggregation_temporality,
        AggregationTemporality::Delta
    );
    assert_eq!(config.metrics_flush_interval, Duration::from_secs(30));
    assert_eq!(config.dimensions[0].default.as_deref(), Some("GET"));
    assert_eq!(config.dimensions[1].default, None);
    assert_eq!(
        config.cardinality_limit(),
        50,
        "aggregation_cardinality_limit wins"
    );
    assert_eq!(config.metric_name("duration"), "span.metrics.duration");
    let config = parse("dimensions_cache_size: 7");
    assert_eq!(
        config.cardinality_limit(),
        7,
        "the deprecated key bounds series too"
    );
    let config = parse("histogram: {exponential: {max_size: 10}}");
    assert_eq!(config.histogram_kind(), HistogramKind::Exponential(10));
    let config = parse("histogram: {exponential: {}}");
    assert_eq!(config.histogram_kind(), HistogramKind::Exponential(160));
    let config = parse("histogram: {disable: true}");
    assert_eq!(config.histogram_kind(), HistogramKind::Disabled);
}

fn problems(text: &str) -> Vec<ComponentProblem> {
    factory().check(&yaml(text))
}

fn refused(text: &str, path: &str, words: &str) {
    let found = problems(text);
    assert!(
        found
            .iter()
            .any(|p| p.path.join(".") == path && p.message.contains(words)),
        "{text}: expected a problem at {path} saying {words:?}, got {found:?}"
    );
}

#[test]
fn bad_configs_are_refused_with_their_key() {
    refused(
        "histogram: {exponential: {max_size: 10}, explicit: {buckets: [10ms]}}",
        "histogram",
        "either `explicit` or `exponential`",
    );
    refused("histogram: {unit: h}", "histogram.unit", "unknown variant");
    refused(
        "histogram: {exponential: {max_size: 1}}",
        "histogram.exponential.max_size",
        "at least 2",
    );
    refused(
        "histogram: {explicit: {buckets: [10ms, 5ms]}}",
        "histogram.explicit.buckets.1",
        "strictly increasing",
    );
    // Parse errors take serde's path (`[0]` for an index).
    refused(
        "histogram: {explicit: {buckets: [10 parsecs]}}",
        "histogram.explicit.buckets.[0]",
        "unknown unit",
    );
    refused(
        "metrics_expiration: -20s",
        "metrics_expiration",
        "invalid duration",
    );
    refused(
        "metrics_flush_interval: 0s",
        "metrics_flush_interval",
        "positive",
    );
    refused(
        "dimensions: [{name: service.name}]",
        "dimensions.0.name",
        "duplicate dimension name `service.name`",
    );
    refused(
        "dimensions: [{name: a}, {name: a}]",
        "dimensions.1.name",
        "duplicate",
    );
    refused(
        "dimensions: [{name: a}]\ncalls_dimensions: [{name: a}]",
        "calls_dimensions.0.name",
        "duplicate",
    );
    refused(
        "histogram: {dimensions: [{name: span.kind}]}",
        "histogram.dimensions.0.name",
        "duplicate",
    );
    refused(
        "dimensions: [{name: ''}]",
        "dimensions.0.name",
        "needs a name",
    );
    refused(
        "exclude_dimensions: [status_code]",
        "exclude_dimensions.0",
        "not a default dimension",
    );
    let found = problems("exclude_dimensions: [status_code]");
    assert_eq!(found[0].suggestion.as_deref(), Some("status.code"));
    refused(
        "aggregation_temporality: DELTA",
        "aggregation_temporality",
        "unknown variant",
    );
    refused(
        "aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA\nmetric_timestamp_cache_size: 0",
        "metric_timestamp_cache_size",
        "should be positive",
    );
    refused(
        "resource_metrics_cache_size: 0",
        "resource_metrics_cache_size",
        "positive",
    );
    refused(
        "events: {enabled: true, dimensions: [{name: exception.type}]}",
        "events.enabled",
        "not supported",
    );
    let found = problems("namespce: x");
    assert_eq!(found[0].path, ["namespce"]);
    assert_eq!(
        found[0].suggestion.as_deref(),
        Some("namespace"),
        "{found:?}"
    );
    assert!(problems("").is_empty());
    assert!(problems("events: {enabled: false}").is_empty());
}

#[test]
fn pairs_are_traces_to_metrics_only() {
    let factory = factory();
    assert_eq!(factory.pairs(), [(Signal::Traces, Signal::Metrics)]);
    assert_eq!(factory.info().type_name, "spanmetrics");
    let ctx = |from, to| ConnectorBuildContext {
        id: ComponentId::new(TYPE_NAME, None),
        from,
        to,
        downstream: vec![PipelineId::new(to, None)],
        telemetry: Telemetry::new(),
    };
    assert!(factory
        .build(ctx(Signal::Traces, Signal::Metrics), &Value::Null)
        .is_ok());
    let err = factory
        .build(ctx(Signal::Traces, Signal::Traces), &Value::Null)
        .err()
        .expect("refused");
    assert!(err.0.contains("traces into metrics"), "{err}");
    let err = factory
        .build(
            ctx(Signal::Traces, Signal::Metrics),
            &yaml("histogram: {unit: h}"),
        )
        .err()
        .expect("refused");
    assert!(err.0.starts_with("histogram.unit"), "{err}");
}

// ------------------------------------------------------------------ outputs

#[test]
fn calls_and_durations_by_service_span_kind_and_status() {
    let (mut c, telemetry) = connector("");
    let batch = traces(vec![
        service(
            "checkout",
            "h1",
            vec![server("/pay", 3), server("/pay", 7), error("/pay", 120)],
        ),
        service("cart", "h1", vec![server("/add", 1)]),
    ]);
    let consumed = c.consume_at(batch, T0);
    assert_eq!(consumed.aggregated, 4);
    let resources = flush(&mut c, T0);
    assert_eq!(resources.len(), 2);
    let checkout = &resources[0];
    assert_eq!(resource_attr(checkout, "service.name"), Some(s("checkout")));
    assert_eq!(
        resource_attr(checkout, "host.name"),
        Some(s("h1")),
        "resource attributes carried"
    );
    let scope = checkout.scope_metrics[0].scope.as_ref().unwrap();
    assert_eq!(scope.name, "spanmetricsconnector");
    assert_eq!(
        calls(checkout),
        [
            ("/pay".into(), "STATUS_CODE_ERROR".into(), 1),
            ("/pay".into(), "STATUS_CODE_UNSET".into(), 2)
        ]
    );
    let Some(Data::Sum(sum)) = &metric(checkout, "traces.span.metrics.calls").data else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 2, "cumulative");
    let point = &sum.data_points[0];
    assert_eq!(attr(&point.attributes, "service.name"), Some(s("checkout")));
    assert_eq!(
        attr(&point.attributes, "span.kind"),
        Some(s("SPAN_KIND_SERVER"))
    );
    assert_eq!(point.time_unix_nano, T0);
    assert_eq!(point.start_time_unix_nano, T0);
    assert!(point.exemplars.is_empty(), "exemplars are off by default");

    let duration = metric(checkout, "traces.span.metrics.duration");
    assert_eq!(duration.unit, "ms");
    let Some(Data::Histogram(h)) = &duration.data else {
        panic!("explicit histogram")
    };
    let unset = h
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "status.code") == Some(s("STATUS_CODE_UNSET")))
        .unwrap();
    assert_eq!(unset.count, 2);
    assert_eq!(unset.sum, Some(10.0));
    assert_eq!(unset.explicit_bounds, DEFAULT_BUCKETS_MS.to_vec());
    // 3 ms in (2, 4], 7 ms in (6, 8].
    assert_eq!(unset.bucket_counts[1], 1);
    assert_eq!(unset.bucket_counts[3], 1);
    assert_eq!(unset.bucket_counts.iter().sum::<u64>(), 2);
    assert_eq!(
        calls(&resources[1]),
        [("/add".into(), "STATUS_CODE_UNSET".into(), 1)]
    );
    let created = telemetry.created("spanmetrics", Signal::Metrics, CREATED_REASON);
    assert_eq!(created.get(), 6, "3 calls points and 3 duration points");
    let series = telemetry.gauge_of(&SPANMETRICS_SERIES, &["spanmetrics"]);
    assert_eq!(series.get(), 6);
}

#[test]
fn wire_and_decoded_batches_give_the_same_metrics() {
    let resources = vec![service(
        "checkout",
        "h1",
        vec![server("/pay", 3), error("/pay", 120)],
    )];
    let owned = traces(resources.clone());
    let bytes = owned.encode_protobuf();
    let wire = Batch::from_protobuf(Signal::Traces, bytes.into()).expect("valid");
    let (mut a, _) = connector("dimensions: [{name: host.name}]");
    let (mut b, _) = connector("dimensions: [{name: host.name}]");
    a.consume_at(owned, T0);
    b.consume_at(wire, T0);
    assert_eq!(flush(&mut a, T0), flush(&mut b, T0));
}

#[test]
fn dimensions_from_span_then_resource_then_default() {
    let (mut c, _) = connector(
        r#"
dimensions:
  - name: host.name
  - name: http.method
    default: GET
  - name: http.status_code
"#,
    );
    let mut with_attributes = server("/a", 1);
    with_attributes.attributes = vec![
        kv("http.method", s("POST")),
        kv("host.name", s("from-span")),
        kv("http.status_code", any_value::Value::IntValue(500)),
    ];
    c.consume_at(
        traces(vec![service(
            "svc",
            "h1",
            vec![with_attributes, server("/b", 1)],
        )]),
        T0,
    );
    let resources = flush(&mut c, T0);
    let Some(Data::Sum(sum)) = &metric(&resources[0], "traces.span.metrics.calls").data else {
        panic!()
    };
    let a = &sum.data_points[0].attributes;
    assert_eq!(attr(a, "host.name"), Some(s("from-span")), "span wins");
    assert_eq!(attr(a, "http.method"), Some(s("POST")));
    assert_eq!(
        attr(a, "http.status_code"),
        Some(any_value::Value::IntValue(500)),
        "typed values stay typed"
    );
    let b = &sum.data_points[1].attributes;
    assert_eq!(attr(b, "host.name"), Some(s("h1")), "from the resource");
    assert_eq!(attr(b, "http.method"), Some(s("GET")), "the default");
    assert_eq!(attr(b, "http.status_code"), None, "no default: left out");
    assert_eq!(b.len(), 6);
}

#[test]
fn excluded_dimensions_merge_series_and_namespace_can_be_empty() {
    let (mut c, _) = connector("exclude_dimensions: [status.code, span.kind]\nnamespace: ''");
    c.consume_at(
        traces(vec![service(
            "svc",
            "h1",
            vec![server("/a", 1), error("/a", 2)],
        )]),
        T0,
    );
    let resources = flush(&mut c, T0);
    let Some(Data::Sum(sum)) = &metric(&resources[0], "calls").data else {
        panic!("bare `calls`")
    };
    assert_eq!(sum.data_points.len(), 1);
    let p = &sum.data_points[0];
    assert_eq!(attr(&p.attributes, "status.code"), None);
    assert_eq!(attr(&p.attributes, "span.kind"), None);
    assert!(metric(&resources[0], "duration").data.is_some());
}

#[test]
fn calls_and_histogram_dimensions_apply_to_their_metric_only() {
    let (mut c, _) =
        connector("calls_dimensions: [{name: a}]\nhistogram: {dimensions: [{name: b}]}");
    let mut one = server("/x", 1);
    one.attributes = vec![kv("a", s("1")), kv("b", s("2"))];
    c.consume_at(traces(vec![service("svc", "h", vec![one])]), T0);
    let resources = flush(&mut c, T0);
    let Some(Data::Sum(sum)) = &metric(&resources[0], "traces.span.metrics.calls").data else {
        panic!()
    };
    assert_eq!(attr(&sum.data_points[0].attributes, "a"), Some(s("1")));
    assert_eq!(attr(&sum.data_points[0].attributes, "b"), None);
    let Some(Data::Histogram(h)) = &metric(&resources[0], "traces.span.metrics.duration").data
    else {
        panic!()
    };
    assert_eq!(attr(&h.data_points[0].attributes, "a"), None);
    assert_eq!(attr(&h.data_points[0].attributes, "b"), Some(s("2")));
}

#[test]
fn instrumentation_scope_when_listed() {
    let (mut c, _) = connector("include_instrumentation_scope: [lib]");
    c.consume_at(traces(vec![service("svc", "h", vec![server("/x", 1)])]), T0);
    let resources = flush(&mut c, T0);
    let Some(Data::Sum(sum)) = &metric(&resources[0], "traces.span.metrics.calls").data else {
        panic!()
    };
    let a = &sum.data_points[0].attributes;
    assert_eq!(attr(a, "span.instrumentation.scope.name"), Some(s("lib")));
    assert_eq!(
        attr(a, "span.instrumentation.scope.version"),
        Some(s("1.2"))
    );
}

#[test]
fn explicit_buckets_in_seconds() {
    let (mut c, _) = connector("histogram: {unit: s, explicit: {buckets: [10ms, 100ms, 250ms]}}");
    let spans = [5, 10, 11, 100, 249, 250, 251, 5000]
        .iter()
        .map(|ms| server("/x", *ms))
        .collect();
    c.consume_at(traces(vec![service("svc", "h", spans)]), T0);
    let resources = flush(&mut c, T0);
    let duration = metric(&resources[0], "traces.span.metrics.duration");
    assert_eq!(duration.unit, "s");
    let Some(Data::Histogram(h)) = &duration.data else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, [0.01, 0.1, 0.25]);
    assert_eq!(p.bucket_counts, [2, 2, 2, 2]);
    assert_eq!(p.count, 8);
    assert!((p.sum.unwrap() - 5.876).abs() < 1e-9, "{:?}", p.sum);
}

#[test]
fn exponential_histogram() {
    let (mut c, _) = connector("histogram: {exponential: {max_size: 10}}");
    let spans = [0, 1, 2, 3, 50, 1000, 60_000]
        .iter()
        .map(|ms| server("/x", *ms))
        .collect();
    c.consume_at(traces(vec![service("svc", "h", spans)]), T0);
    let resources = flush(&mut c, T0);
    let duration = metric(&resources[0], "traces.span.metrics.duration");
    let Some(Data::ExponentialHistogram(h)) = &duration.data else {
        panic!("exponential")
    };
    let p = &h.data_points[0];
    assert_eq!(p.count, 7);
    assert_eq!(p.zero_count, 1);
    assert_eq!(p.min, Some(0.0));
    assert_eq!(p.max, Some(60_000.0));
    let positive = p.positive.as_ref().unwrap();
    assert!(positive.bucket_counts.len() <= 10);
    assert_eq!(positive.bucket_counts.iter().sum::<u64>(), 6);
    assert!(p.scale <= MAX_SCALE);
    // 1 ms is an exact power of two: the upper bound of bucket -1 at scale 0 and of the
    // corresponding bucket at any scale.
    let one = bucket_index(1.0, p.scale);
    assert!(positive.bucket_counts[(one - positive.offset) as usize] >= 1);
}

// ------------------------------------------------------------------ temporality

#[test]
fn cumulative_accumulates_and_keeps_its_start() {
    let (mut c, _) = connector("");
    c.consume_at(traces(vec![service("svc", "h", vec![server("/x", 1)])]), T0);
    let first = flush(&mut c, T0 + SECOND);
    c.consume_at(
        traces(vec![service(
            "svc",
            "h",
            vec![server("/x", 1), server("/x", 1)],
        )]),
        T0 + 2 * SECOND,
    );
    let second = flush(&mut c, T0 + 3 * SECOND);
    let third = flush(&mut c, T0 + 4 * SECOND);
    for (resources, want, time) in [
        (&first, 1, T0 + SECOND),
        (&second, 3, T0 + 3 * SECOND),
        (&third, 3, T0 + 4 * SECOND),
    ] {
        let Some(Data::Sum(sum)) = &metric(&resources[0], "traces.span.metrics.calls").data else {
            panic!()
        };
        let p = &sum.data_points[0];
        assert_eq!(
            p.start_time_unix_nano, T0,
            "start is the series' first span"
        );
        assert_eq!(p.time_unix_nano, time);
        assert_eq!(calls(&resources[0])[0].2, want);
        let Some(Data::Histogram(h)) = &metric(&resources[0], "traces.span.metrics.duration").data
        else {
            panic!()
        };
        assert_eq!(h.data_points[0].count, want as u64);
    }
}

#[test]
fn delta_resets_and_chains_start_times() {
    let (mut c, _) = connector("aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA");
    c.consume_at(
        traces(vec![service(
            "svc",
            "h",
            vec![server("/x", 1), server("/x", 1)],
        )]),
        T0,
    );
    let first = flush(&mut c, T0 + SECOND);
    assert!(
        flush(&mut c, T0 + 2 * SECOND).is_empty(),
        "nothing new, nothing sent"
    );
    c.consume_at(
        traces(vec![service("svc", "h", vec![server("/x", 1)])]),
        T0 + 3 * SECOND,
    );
    let second = flush(&mut c, T0 + 4 * SECOND);
    let Some(Data::Sum(sum)) = &metric(&first[0], "traces.span.metrics.calls").data else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 1, "delta");
    assert_eq!(sum.data_points[0].start_time_unix_nano, T0);
    assert_eq!(calls(&first[0])[0].2, 2);
    let Some(Data::Sum(sum)) = &metric(&second[0], "traces.span.metrics.calls").data else {
        panic!()
    };
    assert_eq!(calls(&second[0])[0].2, 1, "only what came since");
    assert_eq!(
        sum.data_points[0].start_time_unix_nano,
        T0 + SECOND,
        "starts where the last point ended"
    );
    let Some(Data::Histogram(h)) = &metric(&second[0], "traces.span.metrics.duration").data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, 1);
    assert_eq!(h.data_points[0].count, 1);
    assert_eq!(h.data_points[0].start_time_unix_nano, T0 + SECOND);
    assert_eq!(c.aggregator().series(), 0, "the state is emptied");
}

#[test]
fn expired_resources_are_forgotten() {
    let (mut c, telemetry) = connector("metrics_expiration: 5s");
    c.consume_at(traces(vec![service("old", "h", vec![server("/x", 1)])]), T0);
    c.consume_at(
        traces(vec![service("new", "h", vec![server("/x", 1)])]),
        T0 + 4 * SECOND,
    );
    assert_eq!(flush(&mut c, T0 + 4 * SECOND).len(), 2);
    // At T0+6s "old" has been silent 6s: it is sent one last time, then forgotten.
    assert_eq!(flush(&mut c, T0 + 6 * SECOND).len(), 2);
    let left = flush(&mut c, T0 + 7 * SECOND);
    assert_eq!(left.len(), 1);
    assert_eq!(resource_attr(&left[0], "service.name"), Some(s("new")));
    let expired = telemetry.counter_of(&SPANMETRICS_EVICTED_RESOURCES, &["spanmetrics", "expired"]);
    assert_eq!(expired.get(), 1);
    assert_eq!(flush(&mut c, T0 + 20 * SECOND).len(), 1, "sent a last time");
    assert_eq!(expired.get(), 2);
    assert!(flush(&mut c, T0 + 21 * SECOND).is_empty());
}

#[test]
fn resource_cache_forgets_the_least_recently_seen() {
    let (mut c, telemetry) = connector("resource_metrics_cache_size: 2");
    for name in ["a", "b", "a", "c"] {
        c.consume_at(traces(vec![service(name, "h", vec![server("/x", 1)])]), T0);
    }
    let resources = flush(&mut c, T0);
    let names: Vec<_> = resources
        .iter()
        .map(|r| resource_attr(r, "service.name"))
        .collect();
    assert_eq!(
        names,
        [Some(s("a")), Some(s("c"))],
        "b was least recently seen"
    );
    let full = telemetry.counter_of(
        &SPANMETRICS_EVICTED_RESOURCES,
        &["spanmetrics", "cache_full"],
    );
    assert_eq!(full.get(), 1);
}

#[test]
fn resource_key_attributes_merge_resources() {
    let (mut c, _) = connector("resource_metrics_key_attributes: [service.name]");
    let with_pid = |pid: i64| {
        resource(
            vec![
                kv("service.name", s("svc")),
                kv("process.pid", any_value::Value::IntValue(pid)),
            ],
            vec![server("/x", 1)],
        )
    };
    c.consume_at(traces(vec![with_pid(1)]), T0);
    c.consume_at(traces(vec![with_pid(2)]), T0);
    let resources = flush(&mut c, T0);
    assert_eq!(resources.len(), 1);
    assert_eq!(calls(&resources[0])[0].2, 2);
    assert_eq!(
        resource_attr(&resources[0], "process.pid"),
        Some(any_value::Value::IntValue(1)),
        "the first resource's attributes"
    );
    let (mut c, _) = connector("");
    c.consume_at(traces(vec![with_pid(1)]), T0);
    c.consume_at(traces(vec![with_pid(2)]), T0);
    assert_eq!(
        flush(&mut c, T0).len(),
        2,
        "all attributes identify by default"
    );
}

// ------------------------------------------------------------------ limits

#[test]
fn cardinality_overflow_goes_to_one_counted_series() {
    let (mut c, telemetry) = connector("aggregation_cardinality_limit: 2");
    let spans = ["/a", "/b", "/c", "/d", "/c", "/a"]
        .iter()
        .map(|n| server(n, 1))
        .collect();
    let consumed = c.consume_at(traces(vec![service("svc", "h", spans)]), T0);
    assert_eq!(consumed.aggregated, 6);
    assert_eq!(consumed.overflowed, 3);
    let resources = flush(&mut c, T0);
    let Some(Data::Sum(sum)) = &metric(&resources[0], "traces.span.metrics.calls").data else {
        panic!()
    };
    assert_eq!(sum.data_points.len(), 3, "2 series and the overflow series");
    let overflow = sum
        .data_points
        .iter()
        .find(|p| {
            attr(&p.attributes, OVERFLOW_ATTRIBUTE) == Some(any_value::Value::BoolValue(true))
        })
        .expect("overflow series");
    assert_eq!(overflow.attributes.len(), 1);
    assert_eq!(
        overflow.value,
        Some(weir_proto::metrics::v1::number_data_point::Value::AsInt(3))
    );
    let total: i64 = calls(&resources[0]).iter().map(|c| c.2).sum();
    assert_eq!(total, 6, "nothing lost");
    let Some(Data::Histogram(h)) = &metric(&resources[0], "traces.span.metrics.duration").data
    else {
        panic!()
    };
    assert_eq!(h.data_points.len(), 3);
    assert_eq!(h.data_points.iter().map(|p| p.count).sum::<u64>(), 6);
    let counter = telemetry.counter_of(&SPANMETRICS_OVERFLOW_SPANS, &["spanmetrics"]);
    assert_eq!(counter.get(), 3);
}

#[test]
fn exemplars_are_bounded_and_belong_to_one_flush() {
    let (mut c, _) = connector("exemplars: {enabled: true, max_per_data_point: 2}");
    let spans = (0..5).map(|i| server("/x", i + 1)).collect();
    c.consume_at(traces(vec![service("svc", "h", spans)]), T0);
    let first = flush(&mut c, T0);
    let Some(Data::Histogram(h)) = &metric(&first[0], "traces.span.metrics.duration").data else {
        panic!()
    };
    let exemplars = &h.data_points[0].exemplars;
    assert_eq!(exemplars.len(), 2);
    assert_eq!(exemplars[0].trace_id, vec![1; 16]);
    assert_eq!(exemplars[0].span_id, vec![2; 8]);
    assert_eq!(exemplars[0].time_unix_nano, T0);
    assert_eq!(
        exemplars[0].value,
        Some(weir_proto::metrics::v1::exemplar::Value::AsDouble(1.0))
    );
    let Some(Data::Sum(sum)) = &metric(&first[0], "traces.span.metrics.calls").data else {
        panic!()
    };
    assert_eq!(sum.data_points[0].exemplars.len(), 2);
    let second = flush(&mut c, T0 + SECOND);
    let Some(Data::Histogram(h)) = &metric(&second[0], "traces.span.metrics.duration").data else {
        panic!()
    };
    assert!(
        h.data_points[0].exemplars.is_empty(),
        "cleared after a flush"
    );
    // A span without a trace id gives no exemplar.
    let mut no_trace = server("/y", 1);
    no_trace.trace_id.clear();
    c.consume_at(traces(vec![service("svc", "h", vec![no_trace])]), T0);
    let third = flush(&mut c, T0 + 2 * SECOND);
    let Some(Data::Histogram(h)) = &metric(&third[0], "traces.span.metrics.duration").data else {
        panic!()
    };
    assert!(h.data_points.iter().all(|p| p.exemplars.is_empty()));
}

// ------------------------------------------------------------------ acknowledgements

#[tokio::test]
async fn consumed_spans_are_acknowledged_as_delivered() {
    let (mut c, _) = connector("");
    let (ack, receipt) = Ack::new(2, 10, &InFlight::default());
    let mut batch = traces(vec![service(
        "svc",
        "h",
        vec![server("/x", 1), server("/y", 1)],
    )]);
    batch.attach_ack(ack);
    let mut out = ConnectorOutput::new();
    c.consume(batch, &mut out);
    assert!(out.is_empty(), "spans are not forwarded");
    let summary = receipt.released().await;
    assert!(
        summary.delivered && !summary.dropped && !summary.failed,
        "{summary:?}"
    );
}

#[tokio::test]
async fn spans_without_service_name_are_dropped_and_counted() {
    let (mut c, telemetry) = connector("");
    let (ack, receipt) = Ack::new(3, 10, &InFlight::default());
    let mut batch = traces(vec![
        resource(
            vec![kv("host.name", s("h"))],
            vec![server("/x", 1), server("/x", 1)],
        ),
        service("svc", "h", vec![server("/y", 1)]),
    ]);
    batch.attach_ack(ack);
    let consumed = c.consume_at(batch, T0);
    assert_eq!(consumed.aggregated, 1);
    assert_eq!(consumed.no_service_name, 2);
    let summary = receipt.released().await;
    assert!(summary.delivered && summary.dropped && !summary.failed);
    let dropped = telemetry.dropped("spanmetrics", Signal::Traces, MISSING_SERVICE_NAME);
    assert_eq!(dropped.get(), 2);
    assert_eq!(flush(&mut c, T0).len(), 1);
}

// ------------------------------------------------------------------ timing

#[test]
fn flushes_on_the_interval_and_at_shutdown() {
    let telemetry = Telemetry::new();
    let start = Instant::now();
    let mut c = SpanMetricsConnector::new(
        parse("metrics_flush_interval: 10s"),
        "sm",
        &telemetry,
        start,
    );
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(10)));
    let mut out = ConnectorOutput::new();
    c.consume(
        traces(vec![service("svc", "h", vec![server("/x", 1)])]),
        &mut out,
    );
    c.on_deadline(start + Duration::from_secs(5), &mut out);
    assert!(out.is_empty(), "not yet");
    c.on_deadline(start + Duration::from_secs(25), &mut out);
    assert_eq!(out.take().len(), 1);
    assert_eq!(
        c.next_deadline(),
        Some(start + Duration::from_secs(30)),
        "missed ticks skipped"
    );
    c.flush(&mut out);
    let emitted = out.take();
    assert_eq!(emitted.len(), 1, "a last flush at shutdown");
    assert_eq!(emitted[0].1.item_count(), 2);
}
