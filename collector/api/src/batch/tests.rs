use super::*;
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
