//! The OTTL condition forms, on owned and wire batches, with error modes and counters.

use std::collections::BTreeSet;

use weir_api::{Batch, Signal};
use weir_proto::metrics::v1::metric::Data;

use super::corpus;
use super::*;

/// Span ids of the corpus spans a predicate keeps, as `survivors` prints them.
fn expected_spans(keep: impl Fn(&str, &weir_proto::trace::v1::Span) -> bool) -> BTreeSet<String> {
    corpus::traces(1)
        .iter()
        .flat_map(|rs| {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(weir_proto::common::v1::any_value::Value::StringValue(s)) => {
                        Some(s.clone())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            rs.scope_spans
                .iter()
                .flat_map(|ss| ss.spans.iter())
                .filter(|span| keep(&service, span))
                .map(|span| format!("{:?}", span.span_id.as_slice()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Both forms of the corpus: decoded and as received bytes.
fn both(batch: Batch) -> [Batch; 2] {
    let wire = wire(&batch);
    [batch, wire]
}

#[test]
fn span_conditions_drop_matching_spans_on_both_forms() {
    let expected = expected_spans(|_, span| span.name != "GET /health" && span.kind != 2);
    let dropped = (corpus::traces(1).iter())
        .flat_map(|rs| rs.scope_spans.iter().map(|ss| ss.spans.len()))
        .sum::<usize>()
        - expected.len();
    assert!(
        dropped > 0 && !expected.is_empty(),
        "the corpus exercises the filter"
    );
    for batch in both(Batch::from_traces(corpus::traces(1))) {
        let (mut filter, telemetry) = build(
            r#"
traces:
  span:
    - 'name == "GET /health"'
    - kind == SPAN_KIND_SERVER
"#,
            Signal::Traces,
        );
        let out = run(filter.as_mut(), batch);
        assert_eq!(survivors(out.as_ref()), expected);
        assert_eq!(
            counter(
                &telemetry,
                r#"otelcol_processor_filter_spans_filtered_total{filter="filter/test"}"#
            ),
            dropped as u64
        );
        assert_eq!(
            counter(
                &telemetry,
                r#"weir_items_dropped_total{component="filter/test",otel_signal="traces",reason="filtered"}"#
            ),
            dropped as u64
        );
    }
}

#[test]
fn nothing_matched_leaves_wire_bytes_untouched() {
    let input = wire(&Batch::from_traces(corpus::traces(1)));
    let bytes = input.encode_protobuf();
    let (mut filter, _) = build(
        "traces: {span: ['name == \"no such span\"']}",
        Signal::Traces,
    );
    let out = run(filter.as_mut(), input).expect("everything kept");
    assert_eq!(out.encode_protobuf(), bytes);
}

#[test]
fn wire_and_owned_outputs_are_identical() {
    let config = "traces: {span: ['attributes[\"http.method\"] == \"POST\"']}";
    let (mut a, _) = build(config, Signal::Traces);
    let (mut b, _) = build(config, Signal::Traces);
    let owned = run(a.as_mut(), Batch::from_traces(corpus::traces(3))).expect("kept some");
    let wired = run(b.as_mut(), wire(&Batch::from_traces(corpus::traces(3)))).expect("kept some");
    assert_eq!(owned.resource_spans(), wired.resource_spans());
}

#[test]
fn resource_conditions_drop_whole_resources() {
    let expected = expected_spans(|service, _| service != "db");
    for batch in both(Batch::from_traces(corpus::traces(1))) {
        let (mut filter, _) = build(
            "traces: {resource: ['attributes[\"service.name\"] == \"db\"']}",
            Signal::Traces,
        );
        assert_eq!(survivors(run(filter.as_mut(), batch).as_ref()), expected);
    }
}

#[test]
fn span_event_conditions_drop_events_not_spans() {
    for batch in both(Batch::from_traces(corpus::traces(1))) {
        let spans_before = batch.item_count();
        let (mut filter, telemetry) = build(
            "traces: {spanevent: ['name == \"grpc.timeout\"']}",
            Signal::Traces,
        );
        let out = run(filter.as_mut(), batch).expect("spans stay");
        assert_eq!(out.item_count(), spans_before);
        let events: Vec<String> = out
            .resource_spans()
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .flat_map(|s| s.events.iter().map(|e| e.name.clone()))
            .collect();
        assert!(!events.is_empty());
        assert!(events.iter().all(|name| name == "log"), "{events:?}");
        assert_eq!(
            counter(
                &telemetry,
                r#"otelcol_processor_filter_spans_filtered_total{filter="filter/test"}"#
            ),
            0
        );
    }
}

#[test]
fn metric_and_datapoint_conditions() {
    let corpus = corpus::metrics(2);
    let mut expected = BTreeSet::new();
    let mut total = 0;
    for m in corpus
        .iter()
        .flat_map(|rm| rm.scope_metrics.iter())
        .flat_map(|sm| sm.metrics.iter())
    {
        let points: Vec<(u64, bool)> = match &m.data {
            Some(Data::Gauge(g)) => g
                .data_points
                .iter()
                .map(|p| (p.time_unix_nano, is_post(&p.attributes)))
                .collect(),
            Some(Data::Sum(s)) => s
                .data_points
                .iter()
                .map(|p| (p.time_unix_nano, is_post(&p.attributes)))
                .collect(),
            Some(Data::Histogram(h)) => h
                .data_points
                .iter()
                .map(|p| (p.time_unix_nano, false))
                .collect(),
            _ => Vec::new(),
        };
        total += points.len();
        if m.name == "hello_world" {
            continue;
        }
        for (time, post) in points {
            if !post {
                expected.insert(format!("{}/{time}", m.description));
            }
        }
    }
    assert!(expected.len() < total);
    for batch in both(Batch::from_metrics(corpus::metrics(2))) {
        let (mut filter, telemetry) = build(
            r#"
metrics:
  metric: ['name == "hello_world"']
  datapoint: ['attributes["http.method"] == "POST"']
"#,
            Signal::Metrics,
        );
        let out = run(filter.as_mut(), batch);
        assert_eq!(survivors(out.as_ref()), expected);
        // No metric is left without points.
        if let Some(out) = &out {
            for rm in out.resource_metrics() {
                for m in rm.scope_metrics.iter().flat_map(|sm| sm.metrics.iter()) {
                    let count = match &m.data {
                        Some(Data::Gauge(g)) => g.data_points.len(),
                        Some(Data::Sum(s)) => s.data_points.len(),
                        Some(Data::Histogram(h)) => h.data_points.len(),
                        _ => 1,
                    };
                    assert!(count > 0, "{} kept without points", m.name);
                }
            }
        }
        assert_eq!(
            counter(
                &telemetry,
                r#"otelcol_processor_filter_datapoints_filtered_total{filter="filter/test"}"#
            ),
            (total - expected.len()) as u64
        );
    }
}

fn is_post(attributes: &[weir_proto::common::v1::KeyValue]) -> bool {
    attributes.iter().any(|kv| {
        kv.key == "http.method"
            && matches!(
                kv.value.as_ref().and_then(|v| v.value.as_ref()),
                Some(weir_proto::common::v1::any_value::Value::StringValue(s)) if s == "POST"
            )
    })
}

#[test]
fn log_record_conditions_and_counters() {
    let corpus = corpus::logs(4);
    let records: Vec<_> = corpus
        .iter()
        .flat_map(|rl| rl.scope_logs.iter())
        .flat_map(|sl| sl.log_records.iter())
        .collect();
    let expected: BTreeSet<String> = records
        .iter()
        .filter(|r| r.severity_number >= 13)
        .map(|r| format!("{:?}", r.span_id.as_slice()))
        .collect();
    let dropped = (records.len() - expected.len()) as u64;
    for batch in both(Batch::from_logs(corpus::logs(4))) {
        let (mut filter, telemetry) = build(
            "logs: {log_record: ['severity_number < SEVERITY_NUMBER_WARN']}",
            Signal::Logs,
        );
        assert_eq!(survivors(run(filter.as_mut(), batch).as_ref()), expected);
        assert_eq!(
            counter(
                &telemetry,
                r#"otelcol_processor_filter_logs_filtered_total{filter="filter/test"}"#
            ),
            dropped
        );
        assert_eq!(
            counter(
                &telemetry,
                r#"weir_items_dropped_total{component="filter/test",otel_signal="logs",reason="filtered"}"#
            ),
            dropped
        );
    }
}

#[test]
fn inferred_conditions_each_find_their_context() {
    // A resource condition, a span condition and a span event condition in one flat list:
    // the resource one drops whole resources, the span one spans, the event one events.
    let expected = expected_spans(|service, span| service != "cache" && span.name != "db.query");
    for batch in both(Batch::from_traces(corpus::traces(1))) {
        let (mut filter, _) = build(
            r#"
trace_conditions:
  - resource.attributes["service.name"] == "cache"
  - span.name == "db.query"
  - spanevent.name == "log"
"#,
            Signal::Traces,
        );
        let out = run(filter.as_mut(), batch);
        assert_eq!(survivors(out.as_ref()), expected);
        let out = out.expect("kept some");
        assert!(out
            .resource_spans()
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .all(|s| s.events.iter().all(|e| e.name != "log")));
    }
}

#[test]
fn grouped_conditions_with_context_and_error_mode() {
    let expected = expected_spans(|_, span| span.name != "cache.get");
    let (mut filter, _) = build(
        r#"
error_mode: propagate
trace_conditions:
  - context: span
    error_mode: ignore
    conditions:
      - name == "cache.get"
      - Len(attributes["http.status_code"]) > 100
"#,
        Signal::Traces,
    );
    let out = run(filter.as_mut(), Batch::from_traces(corpus::traces(1)));
    assert_eq!(survivors(out.as_ref()), expected);
}

const FAILING: &str = r#"
traces:
  span:
    - 'name == "cache.get"'
    - 'Len(attributes["http.status_code"]) > 100'
"#;

#[test]
fn error_mode_ignore_and_silent_treat_errors_as_no_match() {
    let expected = expected_spans(|_, span| span.name != "cache.get");
    for mode in ["", "error_mode: ignore\n", "error_mode: silent\n"] {
        for batch in both(Batch::from_traces(corpus::traces(1))) {
            let (mut filter, telemetry) = build(&format!("{mode}{FAILING}"), Signal::Traces);
            assert_eq!(
                survivors(run(filter.as_mut(), batch).as_ref()),
                expected,
                "{mode}"
            );
            assert_eq!(
                counter(
                    &telemetry,
                    r#"weir_items_dropped_total{component="filter/test",otel_signal="traces",reason="condition_error"}"#
                ),
                0
            );
        }
    }
}

#[test]
fn error_mode_propagate_fails_the_batch_and_counts_it() {
    for batch in both(Batch::from_traces(corpus::traces(1))) {
        let total = batch.item_count() as u64;
        let (mut filter, telemetry) =
            build(&format!("error_mode: propagate\n{FAILING}"), Signal::Traces);
        assert!(run(filter.as_mut(), batch).is_none(), "the batch fails");
        let filtered = counter(
            &telemetry,
            r#"weir_items_dropped_total{component="filter/test",otel_signal="traces",reason="filtered"}"#,
        );
        let failed = counter(
            &telemetry,
            r#"weir_items_dropped_total{component="filter/test",otel_signal="traces",reason="condition_error"}"#,
        );
        assert!(failed > 0);
        assert_eq!(filtered + failed, total, "every item is counted once");
    }
}

#[test]
fn an_empty_filter_passes_everything() {
    let (mut filter, _) = build("", Signal::Logs);
    let batch = Batch::from_logs(corpus::logs(1));
    let count = batch.item_count();
    assert_eq!(
        run(filter.as_mut(), batch).map(|b| b.item_count()),
        Some(count)
    );
}
