use super::*;
use prost::Message;
use weir_proto::common::v1::{InstrumentationScope, KeyValue};
use weir_proto::metrics::v1::{metric::Data, Gauge, Metric, NumberDataPoint, ScopeMetrics};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ScopeSpans, Span};

fn span(name: &str) -> Span {
    Span {
        name: name.into(),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    }
}

fn resource_spans(service: &str, scopes: &[&[&str]]) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(weir_proto::common::v1::AnyValue {
                    value: Some(weir_proto::common::v1::any_value::Value::StringValue(
                        service.into(),
                    )),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        scope_spans: scopes
            .iter()
            .map(|names| ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                spans: names.iter().map(|n| span(n)).collect(),
                schema_url: String::new(),
            })
            .collect(),
        schema_url: String::new(),
    }
}

fn span_names(batch: &Batch) -> Vec<String> {
    batch
        .resource_spans()
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn protobuf_round_trip_keeps_items() {
    let batch = Batch::from_traces(vec![resource_spans("a", &[&["x", "y"]])]);
    assert_eq!(batch.item_count(), 2);
    let bytes = batch.encode_protobuf();
    let back = Batch::decode_protobuf(Signal::Traces, &bytes).unwrap();
    assert_eq!(back, batch);
    assert!(Batch::decode_protobuf(Signal::Traces, &[0xff, 0xff]).is_err());
}

#[test]
fn split_front_cuts_inside_scopes_and_keeps_order() {
    let mut batch = Batch::from_traces(vec![
        resource_spans("a", &[&["1", "2"], &["3"]]),
        resource_spans("b", &[&["4", "5", "6"]]),
    ]);
    let front = batch.split_front(4);
    assert_eq!(span_names(&front), ["1", "2", "3", "4"]);
    assert_eq!(span_names(&batch), ["5", "6"]);
    assert_eq!(front.item_count(), 4);
    assert_eq!(batch.item_count(), 2);
    // The straddling resource keeps its attributes on both sides.
    assert_eq!(
        front.resource_spans()[1].resource,
        batch.resource_spans()[0].resource
    );
}

#[test]
fn split_front_of_everything_leaves_empty() {
    let mut batch = Batch::from_traces(vec![resource_spans("a", &[&["1"]])]);
    let front = batch.split_front(10);
    assert_eq!(front.item_count(), 1);
    assert!(batch.is_empty());
    assert_eq!(batch.signal(), Signal::Traces);
}

#[test]
fn split_metrics_at_data_points() {
    let points = (0..5)
        .map(|i| NumberDataPoint {
            time_unix_nano: i,
            ..Default::default()
        })
        .collect();
    let mut batch = Batch::from_metrics(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "m".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: points,
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    assert_eq!(batch.item_count(), 5);
    let front = batch.split_front(3);
    assert_eq!(front.item_count(), 3);
    assert_eq!(batch.item_count(), 2);
    assert_eq!(
        batch.resource_metrics()[0].scope_metrics[0].metrics[0].name,
        "m"
    );
}

#[test]
fn append_and_copy_on_write() {
    let mut a = Batch::from_traces(vec![resource_spans("a", &[&["1"]])]);
    let shared = a.clone();
    a.append(Batch::from_traces(vec![resource_spans("b", &[&["2"]])]))
        .unwrap();
    assert_eq!(a.item_count(), 2);
    assert_eq!(shared.item_count(), 1, "a clone is not changed by edits");
    assert!(a.append(Batch::empty(Signal::Logs)).is_err());
    a.edit_otlp_traces(|rs| rs.truncate(1));
    assert_eq!(a.item_count(), 1);
}

#[test]
fn encoded_len_matches_protobuf_size() {
    let batch = Batch::from_traces(vec![
        resource_spans("a", &[&["1", "2"]]),
        resource_spans("b", &[&["3"]]),
    ]);
    assert_eq!(batch.encoded_len(), batch.encode_protobuf().len());
}

/// A span with three events named `a`, `b`, `c`, as a decoded and as a wire batch.
fn span_with_events() -> [Batch; 2] {
    use weir_proto::trace::v1::span::Event;
    let mut s = span("with-events");
    s.events = ["a", "b", "c"]
        .iter()
        .map(|n| Event {
            name: n.to_string(),
            ..Default::default()
        })
        .collect();
    let mut rs = resource_spans("svc", &[&[]]);
    rs.scope_spans[0].spans.push(s);
    let request = weir_proto::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![rs.clone()],
    };
    let wire = Batch::from_protobuf(Signal::Traces, request.encode_to_vec().into()).unwrap();
    [Batch::from_traces(vec![rs]), wire]
}

#[test]
fn retain_span_events_keeps_the_span_and_drops_events_on_both_forms() {
    for mut batch in span_with_events() {
        batch.retain_span_events(|_, _, _, event| event.name() != "b");
        let (_, _, span) = batch.spans().next().unwrap();
        let names: Vec<&str> = span.events().map(|e| e.name()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(batch.item_count(), 1);
    }
}

#[test]
fn event_edits_use_indexes_as_the_span_arrived_even_after_removals() {
    use crate::batch::edit::AttrOp;
    for mut batch in span_with_events() {
        batch.edit_spans(|edit| {
            // The removal is recorded first; renames still address arrival indexes.
            edit.retain_events(vec![true, false, true]);
            edit.set_event_name(2, "c2");
            edit.event_attribute(0, AttrOp::Upsert("k".into(), 1i64.into()));
            true
        });
        let (_, _, span) = batch.spans().next().unwrap();
        let events: Vec<_> = span.events().collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].name(), "a");
        assert_eq!(
            events[0].attributes().get("k").and_then(|v| v.as_int()),
            Some(1)
        );
        assert_eq!(events[1].name(), "c2");
    }
}

#[test]
fn point_attribute_changes_only_the_point_at_its_index() {
    use crate::batch::edit::AttrOp;
    let point = |v: f64| NumberDataPoint {
        value: Some(weir_proto::metrics::v1::number_data_point::Value::AsDouble(
            v,
        )),
        ..Default::default()
    };
    let rm = ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "g".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![point(1.0), point(2.0), point(3.0)],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let request = weir_proto::collector::metrics::v1::ExportMetricsServiceRequest {
        resource_metrics: vec![rm.clone()],
    };
    let wire = Batch::from_protobuf(Signal::Metrics, request.encode_to_vec().into()).unwrap();
    for mut batch in [Batch::from_metrics(vec![rm.clone()]), wire] {
        batch.edit_metrics(|edit| {
            edit.point_attribute(1, AttrOp::Insert("second".into(), true.into()));
            true
        });
        let rm = batch.metrics().next().unwrap();
        let metric = rm.scopes().next().unwrap().metrics().next().unwrap();
        let marked: Vec<bool> = metric
            .points()
            .map(|p| p.attributes().get("second").is_some())
            .collect();
        assert_eq!(marked, [false, true, false]);
    }
}

/// Walks that decode a changed wire resource call their callback once per item, on
/// both forms: a caller that counts what it drops counts each item once.
#[test]
fn metric_walks_call_back_once_per_item_on_both_forms() {
    let point = |v: f64| NumberDataPoint {
        value: Some(weir_proto::metrics::v1::number_data_point::Value::AsDouble(
            v,
        )),
        ..Default::default()
    };
    let metric = |name: &str| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![point(1.0), point(2.0), point(3.0)],
        })),
        ..Default::default()
    };
    let rm = ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![metric("a"), metric("b")],
            ..Default::default()
        }],
        ..Default::default()
    };
    let request = weir_proto::collector::metrics::v1::ExportMetricsServiceRequest {
        resource_metrics: vec![rm.clone()],
    };
    let bytes = request.encode_to_vec();
    let forms = || {
        [
            Batch::from_metrics(vec![rm.clone()]),
            Batch::from_protobuf(Signal::Metrics, bytes.clone().into()).unwrap(),
        ]
    };
    for mut batch in forms() {
        let mut calls = 0;
        batch.retain_data_points(|_, _, _, p| {
            calls += 1;
            match p {
                PointView::Number(n) => n.value().as_f64() != 2.0,
                _ => true,
            }
        });
        assert_eq!(calls, 6);
        assert_eq!(batch.item_count(), 4);
    }
    for mut batch in forms() {
        let mut calls = 0;
        batch.edit_metrics(|edit| {
            calls += 1;
            if edit.metric().name() == "a" {
                edit.set_unit("ms");
            }
            edit.metric().name() != "b"
        });
        assert_eq!(calls, 2);
        let units: Vec<String> = batch
            .metrics()
            .flat_map(|rm| {
                rm.scopes()
                    .flat_map(|s| {
                        s.metrics()
                            .map(|m| m.unit().to_string())
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(units, ["ms"]);
    }
    for mut batch in forms() {
        let mut calls = 0;
        batch.edit_scopes(|edit| {
            calls += 1;
            edit.set_name("renamed");
            true
        });
        assert_eq!(calls, 1);
        let rm = batch.metrics().next().unwrap();
        assert_eq!(rm.scopes().next().unwrap().scope().name(), "renamed");
    }
}
