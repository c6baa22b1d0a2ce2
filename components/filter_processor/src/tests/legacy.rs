//! The legacy include/exclude form beyond what the equivalence corpus covers.

use weir_api::{Batch, Signal};

use super::corpus;
use super::*;

#[test]
fn a_logs_block_with_nothing_to_match_is_ignored_as_in_the_collector() {
    let (mut filter, _) = build("logs: {include: {match_type: strict}}", Signal::Logs);
    let batch = Batch::from_logs(corpus::logs(1));
    let count = batch.item_count();
    assert_eq!(
        run(filter.as_mut(), batch).map(|b| b.item_count()),
        Some(count)
    );
}

#[test]
fn legacy_drops_are_counted_like_conditions() {
    for batch in [
        Batch::from_logs(corpus::logs(2)),
        wire(&Batch::from_logs(corpus::logs(2))),
    ] {
        let before = batch.item_count();
        let (mut filter, telemetry) = build(
            "logs: {exclude: {match_type: strict, record_attributes: [{key: component, value: web}]}}",
            Signal::Logs,
        );
        let after = run(filter.as_mut(), batch).map_or(0, |b| b.item_count());
        assert!(after < before);
        let dropped = (before - after) as u64;
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
fn library_version_must_match_when_given() {
    let (mut filter, _) = build(
        "spans: {include: {match_type: strict, libraries: [{name: lib.a, version: '1.0'}]}}",
        Signal::Traces,
    );
    let out = run(filter.as_mut(), Batch::from_traces(corpus::traces(1))).expect("kept some");
    for rs in out.resource_spans() {
        for ss in &rs.scope_spans {
            let scope = ss.scope.clone().unwrap_or_default();
            assert_eq!(
                (scope.name.as_str(), scope.version.as_str()),
                ("lib.a", "1.0")
            );
        }
    }
}

#[test]
fn metrics_include_without_names_filters_by_resource_only() {
    let (mut filter, _) = build(
        "metrics: {include: {match_type: strict, resource_attributes: [{key: host.name, value: h2}]}}",
        Signal::Metrics,
    );
    let out = run(
        filter.as_mut(),
        wire(&Batch::from_metrics(corpus::metrics(3))),
    );
    let out = out.expect("kept some");
    for rm in out.resource_metrics() {
        let host = rm
            .resource
            .unwrap_or_default()
            .attributes
            .into_iter()
            .find(|kv| kv.key == "host.name")
            .and_then(|kv| kv.value)
            .and_then(|v| v.value);
        assert_eq!(
            host,
            Some(weir_proto::common::v1::any_value::Value::StringValue(
                "h2".into()
            ))
        );
    }
}
