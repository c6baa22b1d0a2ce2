use std::time::Duration;

use prost_free::*;
use weir_api::batch::view::ValueRef;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, Processor, Signal};

use super::*;

/// OTLP structs into batches (the crate itself never names them).
mod prost_free {
    pub use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
    pub use weir_proto::metrics::v1::{
        metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    pub use weir_proto::resource::v1::Resource;
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn gauge(name: &str, points: Vec<Vec<KeyValue>>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points
                .into_iter()
                .map(|attributes| NumberDataPoint {
                    attributes,
                    time_unix_nano: 1_700_000_000_000_000_000,
                    value: Some(number_data_point::Value::AsDouble(1.0)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

fn batch(metrics: Vec<Metric>, wire: bool) -> Batch {
    let resources = vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "api")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }];
    if wire {
        use prost::Message;
        let bytes = weir_proto::collector::metrics::v1::ExportMetricsServiceRequest {
            resource_metrics: resources,
        }
        .encode_to_vec();
        Batch::from_protobuf(Signal::Metrics, bytes.into()).unwrap()
    } else {
        Batch::from_metrics(resources)
    }
}

fn limiter(yaml: &str) -> (CardinalityLimiter, Telemetry) {
    let value: weir_api::Value = serde_yaml_ng::from_str(yaml).unwrap();
    assert!(
        factory().check(&value).is_empty(),
        "{:?}",
        factory().check(&value)
    );
    let config: Config = weir_api::config::parse_valid(&value).unwrap();
    let telemetry = Telemetry::new();
    (
        CardinalityLimiter::new("cardinality_limiter", config, &telemetry),
        telemetry,
    )
}

fn run(l: &mut CardinalityLimiter, b: Batch) -> Batch {
    let mut out = Vec::new();
    l.process(b, &mut out);
    assert!(out.len() <= 1);
    out.pop().unwrap_or_else(|| Batch::from_metrics(vec![]))
}

/// (metric name, point attributes as `k=v`) of every point.
fn points(b: &Batch) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for rm in b.metrics() {
        for sm in rm.scopes() {
            for m in sm.metrics() {
                for p in m.points() {
                    let attrs = p
                        .attributes()
                        .iter()
                        .map(|(k, v)| match v {
                            ValueRef::Str(s) => format!("{k}={s}"),
                            _ => k.to_string(),
                        })
                        .collect();
                    out.push((m.name().to_string(), attrs));
                }
            }
        }
    }
    out
}

fn request_points(n: usize) -> Vec<Vec<KeyValue>> {
    (0..n)
        .map(|i| vec![kv("route", "/buy"), kv("request_id", &format!("r{i}"))])
        .collect()
}

fn metric_text(t: &Telemetry) -> String {
    t.encode()
}

#[test]
fn drop_point_keeps_max_series_and_counts_the_rest() {
    for wire in [false, true] {
        let (mut l, t) = limiter("max_series: 10\naction: drop_point\n");
        let input = batch(
            vec![
                gauge("requests", request_points(50)),
                gauge("cpu", vec![vec![kv("core", "0")], vec![kv("core", "1")]]),
            ],
            wire,
        );
        let out = points(&run(&mut l, input));
        assert_eq!(out.iter().filter(|p| p.0 == "requests").count(), 10);
        assert_eq!(
            out.iter().filter(|p| p.0 == "cpu").count(),
            2,
            "others untouched"
        );
        let text = metric_text(&t);
        assert!(
            text.contains("weir_cardinality_limiter_limited_points_total{processor=\"cardinality_limiter\",metric=\"requests\",action=\"drop_point\"} 40"),
            "{text}"
        );
        assert!(text.contains("reason=\"cardinality_limit\"} 40"), "{text}");
        // Known sets keep passing in later batches; new ones do not.
        let again = points(&run(
            &mut l,
            batch(vec![gauge("requests", request_points(20))], wire),
        ));
        assert_eq!(again.len(), 10);
    }
}

#[test]
fn drop_attributes_removes_the_offending_attribute() {
    let (mut l, t) = limiter("max_series: 6\n");
    // `route` takes two values, `request_id` thirty: the id is the offending attribute.
    let route = |i: usize| if i.is_multiple_of(2) { "/a" } else { "/b" };
    let mut pts = vec![vec![kv("route", "/a")], vec![kv("route", "/b")]];
    pts.extend((0..30).map(|i| vec![kv("route", route(i)), kv("request_id", &format!("r{i}"))]));
    let out = points(&run(&mut l, batch(vec![gauge("requests", pts)], false)));
    assert_eq!(out.len(), 32, "points are kept");
    let with_id = out
        .iter()
        .filter(|p| p.1.iter().any(|a| a.starts_with("request_id")))
        .count();
    assert_eq!(with_id, 4, "the first sets fit whole");
    assert!(
        out.iter()
            .all(|p| p.1.iter().any(|a| a.starts_with("route="))),
        "route is kept"
    );
    assert!(metric_text(&t).contains("action=\"drop_attributes\"} 26"));
}

#[test]
fn a_stripped_set_over_the_limit_is_dropped() {
    let (mut l, t) = limiter("max_series: 5\n");
    let out = points(&run(
        &mut l,
        batch(vec![gauge("requests", request_points(30))], false),
    ));
    // Without its id a point is `route` alone: a sixth set, over the limit.
    assert_eq!(out.len(), 5);
    assert!(metric_text(&t).contains("reason=\"cardinality_limit\"} 25"));
}

#[test]
fn drop_attributes_removes_the_configured_attributes_then_drops() {
    // r0 and r1 fit; r2 without its id is `route` alone, a third set: dropped.
    let (mut l, _) = limiter("max_series: 2\nattributes: [request_id]\n");
    let out = points(&run(
        &mut l,
        batch(vec![gauge("requests", request_points(3))], false),
    ));
    assert_eq!(out.len(), 2);
    // `route` alone is known (first point): every point over the limit is kept
    // without its id.
    let (mut l, _) = limiter("max_series: 3\nattributes: [request_id]\n");
    let mut pts = vec![vec![kv("route", "/buy")]];
    pts.extend(request_points(10));
    let out = points(&run(&mut l, batch(vec![gauge("requests", pts)], false)));
    assert_eq!(out.len(), 11);
    assert_eq!(out.iter().filter(|p| p.1.len() == 1).count(), 9);
}

#[test]
fn the_window_forgets() {
    let (mut l, _) = limiter("max_series: 1\naction: drop_point\nwindow: 50ms\n");
    assert_eq!(
        points(&run(
            &mut l,
            batch(vec![gauge("m", request_points(3))], false)
        ))
        .len(),
        1
    );
    std::thread::sleep(Duration::from_millis(60));
    let out = points(&run(
        &mut l,
        batch(vec![gauge("m", vec![vec![kv("request_id", "new")]])], false),
    ));
    assert_eq!(out.len(), 1, "a new window admits again");
}

#[test]
fn reported_metric_names_are_bounded() {
    let (mut l, t) = limiter("max_series: 1\naction: drop_point\nmax_reported_metrics: 2\n");
    let metrics = (0..5)
        .map(|i| gauge(&format!("m{i}"), request_points(2)))
        .collect();
    run(&mut l, batch(metrics, false));
    let text = metric_text(&t);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("weir_cardinality_limiter_limited_points_total{"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("metric=\"_other\",action=\"drop_point\"} 3")),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 6, "three names x two actions: {lines:?}");
}

#[test]
fn bad_config_names_its_key() {
    for (yaml, key) in [
        ("max_series: 0\n", "max_series"),
        ("action: drop_point\nattributes: [a]\n", "attributes"),
        ("action: nope\n", "action"),
        ("max_seriess: 3\n", "max_seriess"),
    ] {
        let value: weir_api::Value = serde_yaml_ng::from_str(yaml).unwrap();
        let problems = factory().check(&value);
        assert!(
            problems.iter().any(|p| p.path.join(".").contains(key)),
            "{yaml}: {problems:?}"
        );
    }
}
