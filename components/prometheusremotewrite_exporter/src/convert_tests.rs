//! Mapping tests: each OTLP metric type to the series the spec asks for.

use std::time::Duration;

use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::metrics::v1::exponential_histogram_data_point::Buckets;
use weir_proto::metrics::v1::summary_data_point::ValueAtQuantile;
use weir_proto::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar as OtlpExemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram as OtlpHistogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use weir_proto::resource::v1::Resource;

use super::*;

const T: u64 = 1_700_000_000_000_000_000;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", "shop"),
                kv("service.namespace", "prod"),
                kv("service.instance.id", "pod-1"),
                kv("host.name", "node-7"),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                version: "1.2".into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn number(value: f64, time: u64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: T - 60_000_000_000,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn sum(
    name: &str,
    unit: &str,
    monotonic: bool,
    temporality: AggregationTemporality,
    points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

/// Converts the resources as a batch of decoded structs, after checking that the same
/// resources as received bytes convert the same.
fn run(resources: &[ResourceMetrics], settings: &Settings, shards: usize) -> Converted {
    let [owned, wire] = crate::test_support::both(resources.to_vec());
    let run_one = |batch: &Batch| {
        let mut delta = DeltaState::new(100, Duration::from_secs(300));
        convert(batch, settings, shards, &mut delta, Instant::now())
    };
    let out = run_one(&owned);
    let from_wire = run_one(&wire);
    // Debug rather than `==`: stale markers are NaNs.
    assert_eq!(
        format!("{:?}", out.shards),
        format!("{:?}", from_wire.shards)
    );
    assert_eq!(out.hashes, from_wire.hashes);
    assert_eq!(out.shard_points, from_wire.shard_points);
    assert_eq!(out.metadata, from_wire.metadata);
    assert_eq!(out.dropped, from_wire.dropped);
    // Built in recycled series (dirty labels, samples, more or fewer labels than needed),
    // the conversion comes out the same.
    let mut recycled: Vec<TimeSeries> = all_series(&out).into_iter().cloned().collect();
    for (i, s) in recycled.iter_mut().enumerate() {
        for l in &mut s.labels {
            l.name.push_str("-old");
            l.value.push_str("-old");
        }
        if i % 2 == 0 {
            s.labels.push(Label {
                name: "zz_left_over".into(),
                value: "x".into(),
            });
        } else {
            s.labels.truncate(1);
        }
        s.samples.push(Sample {
            value: 1.0,
            timestamp: 1,
        });
    }
    let mut delta = DeltaState::new(100, Duration::from_secs(300));
    let again = convert_recycling(
        &wire,
        settings,
        shards,
        &mut delta,
        Instant::now(),
        &mut recycled,
    );
    assert_eq!(format!("{:?}", out.shards), format!("{:?}", again.shards));
    assert_eq!(out.hashes, again.hashes);
    out
}

#[test]
fn labels_with_name_are_sorted_and_the_extra_label_replaces_its_namesake() {
    let l = |name: &str, value: &str| Label {
        name: name.into(),
        value: value.into(),
    };
    let base = vec![l("a", "1"), l("le", "old"), l("zone", "z")];
    let mut out = vec![l("junk", "x"); 7];
    fill_with_name(&mut out, &base, "m", Some(("le", "0.5")));
    assert_eq!(
        out,
        vec![
            l("__name__", "m"),
            l("a", "1"),
            l("le", "0.5"),
            l("zone", "z")
        ]
    );
    fill_with_name(&mut out, &base[..1], "m", Some(("_b", "2")));
    assert_eq!(out, vec![l("__name__", "m"), l("_b", "2"), l("a", "1")]);
    fill_with_name(&mut out, &[], "m", None);
    assert_eq!(out, vec![l("__name__", "m")]);
    fill_with_name(&mut out, &base, "m", Some(("~last", "9")));
    assert_eq!(out.last(), Some(&l("~last", "9")));
    assert_eq!(out.len(), 5);
}

fn all_series(c: &Converted) -> Vec<&TimeSeries> {
    c.shards.iter().flatten().collect()
}

fn label<'a>(s: &'a TimeSeries, name: &str) -> Option<&'a str> {
    s.labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

fn find<'a>(c: &'a Converted, name: &str, extra: Option<(&str, &str)>) -> &'a TimeSeries {
    all_series(c)
        .into_iter()
        .find(|s| {
            label(s, "__name__") == Some(name) && extra.is_none_or(|(k, v)| label(s, k) == Some(v))
        })
        .unwrap_or_else(|| panic!("no series {name} {extra:?} in {:#?}", all_series(c)))
}

fn settings() -> Settings {
    Settings::new(Strategy::UnderscoreEscapingWithSuffixes, "")
}

#[test]
fn counter_gauge_job_instance_scope_and_target_info() {
    let metrics = vec![
        sum(
            "http.requests",
            "1",
            true,
            AggregationTemporality::Cumulative,
            vec![number(5.0, T, vec![kv("http.method", "GET")])],
        ),
        sum(
            "queue.depth",
            "{item}",
            false,
            AggregationTemporality::Cumulative,
            vec![number(3.0, T, vec![])],
        ),
        Metric {
            name: "cpu.utilization".into(),
            unit: "1".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number(0.5, T, vec![])],
            })),
            ..Default::default()
        },
    ];
    let c = run(&[resource(metrics)], &settings(), 4);
    let counter = find(&c, "http_requests_total", None);
    assert_eq!(label(counter, "job"), Some("prod/shop"));
    assert_eq!(label(counter, "instance"), Some("pod-1"));
    assert_eq!(label(counter, "http_method"), Some("GET"));
    assert_eq!(label(counter, "otel_scope_name"), Some("lib"));
    assert_eq!(label(counter, "otel_scope_version"), Some("1.2"));
    assert_eq!(
        label(counter, "host_name"),
        None,
        "resource attributes go to target_info only"
    );
    assert_eq!(
        counter.samples,
        vec![Sample {
            value: 5.0,
            timestamp: (T / 1_000_000) as i64
        }]
    );
    let names: Vec<&str> = counter.labels.iter().map(|l| l.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "labels must be sorted by name");
    assert_eq!(find(&c, "queue_depth", None).samples[0].value, 3.0);
    assert_eq!(
        find(&c, "cpu_utilization_ratio", None).samples[0].value,
        0.5
    );
    let info = find(&c, "target_info", None);
    assert_eq!(label(info, "host_name"), Some("node-7"));
    assert_eq!(label(info, "job"), Some("prod/shop"));
    assert_eq!(label(info, "service_name"), None);
    assert_eq!(info.samples[0].value, 1.0);
    assert!(c.dropped.is_empty());
}

#[test]
fn resource_to_telemetry_external_labels_and_disabled_target_info() {
    let mut s = settings();
    s.resource_to_telemetry = true;
    s.target_info = false;
    s.scope_labels = false;
    s.external_labels = vec![
        ("cluster".into(), "eu-1".into()),
        ("job".into(), "ignored".into()),
    ];
    let m = sum(
        "x",
        "",
        false,
        AggregationTemporality::Cumulative,
        vec![number(1.0, T, vec![])],
    );
    let c = run(&[resource(vec![m])], &s, 1);
    let x = find(&c, "x", None);
    assert_eq!(label(x, "host_name"), Some("node-7"));
    assert_eq!(label(x, "cluster"), Some("eu-1"));
    assert_eq!(
        label(x, "job"),
        Some("prod/shop"),
        "external labels never override"
    );
    assert_eq!(label(x, "otel_scope_name"), None);
    assert_eq!(all_series(&c).len(), 1);
}

#[test]
fn histogram_buckets_sum_count_and_exemplars() {
    let point = HistogramDataPoint {
        start_time_unix_nano: T - 1,
        time_unix_nano: T,
        count: 6,
        sum: Some(12.5),
        bucket_counts: vec![1, 2, 3],
        explicit_bounds: vec![0.5, 1.0],
        exemplars: vec![OtlpExemplar {
            time_unix_nano: T,
            value: Some(exemplar::Value::AsDouble(0.7)),
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            filtered_attributes: vec![kv("user", "u1")],
        }],
        ..Default::default()
    };
    let m = Metric {
        name: "rpc.duration".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(OtlpHistogram {
            data_points: vec![point],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let mut s = settings();
    s.export_created = true;
    let c = run(&[resource(vec![m])], &s, 8);
    let bucket = |le| find(&c, "rpc_duration_seconds_bucket", Some(("le", le))).samples[0].value;
    assert_eq!(
        (bucket("0.5"), bucket("1"), bucket("+Inf")),
        (1.0, 3.0, 6.0)
    );
    assert_eq!(
        find(&c, "rpc_duration_seconds_sum", None).samples[0].value,
        12.5
    );
    assert_eq!(
        find(&c, "rpc_duration_seconds_count", None).samples[0].value,
        6.0
    );
    assert!(find(&c, "rpc_duration_seconds_created", None).samples[0].value > 1.6e9);
    let with_exemplar = find(&c, "rpc_duration_seconds_bucket", Some(("le", "1")));
    let e = &with_exemplar.exemplars[0];
    assert_eq!(e.value, 0.7);
    assert_eq!(
        label_of(&e.labels, "trace_id"),
        Some("abababababababababababababababab")
    );
    assert_eq!(label_of(&e.labels, "span_id"), Some("cdcdcdcdcdcdcdcd"));
    assert_eq!(label_of(&e.labels, "user"), Some("u1"));
    // All series of one point share a shard.
    let shard_count = c.shards.iter().filter(|s| !s.is_empty()).count();
    assert!(
        shard_count <= 2,
        "one shard for the histogram, maybe another for target_info"
    );
    assert_eq!(c.shard_points.iter().sum::<usize>(), 1);
}

fn label_of<'a>(labels: &'a [Label], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

#[test]
fn exponential_histogram_becomes_native() {
    let m = Metric {
        name: "latency".into(),
        unit: "ms".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: T,
                scale: 3,
                count: 4,
                sum: Some(10.0),
                zero_count: 1,
                positive: Some(Buckets {
                    offset: -1,
                    bucket_counts: vec![2, 1],
                }),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let c = run(&[resource(vec![m])], &settings(), 2);
    let s = find(&c, "latency_milliseconds", None);
    assert!(s.samples.is_empty());
    let h = &s.histograms[0];
    assert_eq!(h.schema, 3);
    assert_eq!(h.sum, 10.0);
    assert_eq!(
        h.count,
        Some(weir_proto::remote_write::histogram::Count::CountInt(4))
    );
    assert_eq!(h.positive_spans[0].offset, 0);
    assert_eq!(h.positive_deltas, vec![2, -1]);
    assert_eq!(h.timestamp, (T / 1_000_000) as i64);
}

#[test]
fn summary_quantiles_sum_count() {
    let m = Metric {
        name: "gc.pause".into(),
        unit: "s".into(),
        data: Some(metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: T,
                count: 10,
                sum: 2.0,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: 0.9,
                    },
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 0.1,
                    },
                ],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let c = run(&[resource(vec![m])], &settings(), 1);
    assert_eq!(
        find(&c, "gc_pause_seconds", Some(("quantile", "0.5"))).samples[0].value,
        0.1
    );
    assert_eq!(
        find(&c, "gc_pause_seconds", Some(("quantile", "0.99"))).samples[0].value,
        0.9
    );
    assert_eq!(find(&c, "gc_pause_seconds_sum", None).samples[0].value, 2.0);
    assert_eq!(
        find(&c, "gc_pause_seconds_count", None).samples[0].value,
        10.0
    );
}

#[test]
fn no_recorded_value_becomes_the_stale_marker() {
    let mut p = number(0.0, T, vec![]);
    p.flags = 1;
    p.value = None;
    let m = sum(
        "up.things",
        "",
        true,
        AggregationTemporality::Cumulative,
        vec![p],
    );
    let c = run(&[resource(vec![m])], &settings(), 1);
    let v = find(&c, "up_things_total", None).samples[0].value;
    assert_eq!(v.to_bits(), 0x7ff0_0000_0000_0002);
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == 0x7ff0_0000_0000_0002
}

/// Issue 13: a stale histogram or summary point marks every series it would have
/// produced (each bucket, `_sum`, `_count`, each quantile, and `_created` when written),
/// and a resource holding only stale markers takes its `target_info` with it.
#[test]
fn a_stale_point_marks_every_series_it_would_produce() {
    let start = T - 60_000_000_000;
    let histogram = Metric {
        name: "latency".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(OtlpHistogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: T,
                sum: Some(f64::from_bits(0x7ff0_0000_0000_0002)),
                bucket_counts: vec![0, 0, 0],
                explicit_bounds: vec![0.1, 1.0],
                flags: 1,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let summary = Metric {
        name: "rpc".into(),
        data: Some(metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: T,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: f64::NAN,
                    },
                    ValueAtQuantile {
                        quantile: 0.9,
                        value: f64::NAN,
                    },
                ],
                flags: 1,
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let mut counter = number(0.0, T, vec![]);
    counter.flags = 1;
    let counter = sum(
        "jobs",
        "",
        true,
        AggregationTemporality::Cumulative,
        vec![counter],
    );
    let mut s = settings();
    s.export_created = true;
    let c = run(&[resource(vec![histogram, summary, counter])], &s, 2);
    let mut marked = Vec::new();
    for series in all_series(&c) {
        let name = label(series, "__name__").unwrap_or_default().to_string();
        let extra = label(series, "le")
            .or(label(series, "quantile"))
            .unwrap_or("");
        assert_eq!(series.samples.len(), 1, "{name}");
        assert!(
            is_stale(series.samples[0].value),
            "{name}{{{extra}}} is not stale"
        );
        marked.push(format!("{name}{extra}"));
    }
    marked.sort();
    assert_eq!(
        marked,
        [
            "jobs_created",
            "jobs_total",
            "latency_seconds_bucket+Inf",
            "latency_seconds_bucket0.1",
            "latency_seconds_bucket1",
            "latency_seconds_count",
            "latency_seconds_created",
            "latency_seconds_sum",
            "rpc0.5",
            "rpc0.9",
            "rpc_count",
            "rpc_created",
            "rpc_sum",
            "target_info",
        ]
    );
}

#[test]
fn a_live_point_keeps_target_info_live() {
    let mut stale = number(0.0, T, vec![kv("k", "gone")]);
    stale.flags = 1;
    let live = number(3.0, T, vec![kv("k", "here")]);
    let m = Metric {
        name: "g".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![stale, live],
        })),
        ..Default::default()
    };
    let c = run(&[resource(vec![m])], &settings(), 1);
    assert_eq!(find(&c, "target_info", None).samples[0].value, 1.0);
}

#[test]
fn delta_sums_become_cumulative_across_batches() {
    let mut delta = DeltaState::new(100, Duration::from_secs(300));
    let s = settings();
    let batch = |start: u64, end: u64, v: f64| {
        let mut p = number(v, end, vec![]);
        p.start_time_unix_nano = start;
        Batch::from_metrics(vec![resource(vec![sum(
            "jobs",
            "",
            true,
            AggregationTemporality::Delta,
            vec![p],
        )])])
    };
    let now = Instant::now();
    let first = convert(&batch(T, T + 10, 3.0), &s, 2, &mut delta, now);
    let second = convert(&batch(T + 10, T + 20_000_000, 4.0), &s, 2, &mut delta, now);
    assert_eq!(find(&first, "jobs_total", None).samples[0].value, 3.0);
    assert_eq!(find(&second, "jobs_total", None).samples[0].value, 7.0);
    // An overlapping (out-of-order) delta is dropped and reported.
    let late = convert(&batch(T, T + 10_000_000, 9.0), &s, 2, &mut delta, now);
    assert_eq!(late.dropped.get(&DropReason::DeltaOutOfOrder), Some(&1));
}

#[test]
fn invalid_names_and_missing_timestamps_are_counted() {
    let metrics = vec![
        sum(
            "@#$",
            "",
            false,
            AggregationTemporality::Cumulative,
            vec![number(1.0, T, vec![])],
        ),
        sum(
            "ok",
            "",
            false,
            AggregationTemporality::Cumulative,
            vec![number(1.0, 0, vec![])],
        ),
        sum(
            "ok2",
            "",
            false,
            AggregationTemporality::Cumulative,
            vec![number(1.0, T, vec![kv("ようこそ", "x")])],
        ),
    ];
    let c = run(&[resource(metrics)], &settings(), 1);
    assert_eq!(c.dropped.get(&DropReason::InvalidMetricName), Some(&1));
    assert_eq!(c.dropped.get(&DropReason::MissingTimestamp), Some(&1));
    assert_eq!(c.dropped.get(&DropReason::InvalidLabelName), Some(&1));
    assert_eq!(c.dropped_points(), 3);
}

#[test]
fn several_points_of_one_series_are_sorted_and_deduplicated() {
    let m = sum(
        "temp",
        "",
        false,
        AggregationTemporality::Cumulative,
        vec![
            number(3.0, T + 3_000_000, vec![]),
            number(1.0, T + 1_000_000, vec![]),
            number(2.0, T + 3_000_000, vec![]),
        ],
    );
    let c = run(&[resource(vec![m])], &settings(), 1);
    let s = find(&c, "temp", None);
    let ts: Vec<i64> = s.samples.iter().map(|s| s.timestamp).collect();
    let base = (T / 1_000_000) as i64;
    assert_eq!(ts, vec![base + 1, base + 3]);
    assert_eq!(
        s.samples[1].value, 2.0,
        "the last value for a timestamp wins"
    );
}

#[test]
fn metadata_when_asked() {
    let mut s = settings();
    s.send_metadata = true;
    let mut m = sum(
        "reqs",
        "By",
        true,
        AggregationTemporality::Cumulative,
        vec![number(1.0, T, vec![])],
    );
    m.description = "Requests.".into();
    let c = run(&[resource(vec![m])], &s, 1);
    assert_eq!(c.metadata.len(), 1);
    assert_eq!(c.metadata[0].metric_family_name, "reqs_bytes_total");
    assert_eq!(c.metadata[0].r#type, MetricType::Counter as i32);
    assert_eq!(c.metadata[0].unit, "bytes");
    assert_eq!(c.metadata[0].help, "Requests.");
}

/// Issue 13: the series of one instance (one `job` + `instance`) spread over every
/// shard, by the point they came from; each point has exactly one primary series.
#[test]
fn one_instance_spreads_over_every_shard_by_point() {
    let gauges = (0..50)
        .map(|i| Metric {
            name: format!("g{i}"),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number(1.0, T, vec![kv("cpu", &i.to_string())])],
            })),
            ..Default::default()
        })
        .collect();
    let c = run(&[resource(gauges)], &settings(), 5);
    assert_eq!(c.shards.iter().filter(|s| !s.is_empty()).count(), 5);
    assert_eq!(c.shard_points.iter().sum::<usize>(), 50);
    // target_info too: 50 gauges + 1, which is not a point.
    assert_eq!(all_series(&c).len(), 51);
    let primary = c.primary.iter().flatten().filter(|p| **p).count();
    assert_eq!(primary, 50);
}

#[test]
fn a_histograms_series_share_a_shard_and_count_one_point() {
    let points = (0..20)
        .map(|i| HistogramDataPoint {
            attributes: vec![kv("route", &format!("/r{i}"))],
            time_unix_nano: T,
            count: 3,
            sum: Some(4.0),
            bucket_counts: vec![1, 2, 0],
            explicit_bounds: vec![1.0, 2.0],
            ..Default::default()
        })
        .collect();
    let c = run(
        &[resource(vec![Metric {
            name: "h".into(),
            data: Some(metric::Data::Histogram(OtlpHistogram {
                data_points: points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        }])],
        &settings(),
        4,
    );
    for (series, primary) in c.shards.iter().zip(&c.primary) {
        let mut routes = std::collections::BTreeMap::<String, (usize, usize)>::new();
        for (s, p) in series.iter().zip(primary) {
            let Some(route) = label(s, "route") else {
                continue; // target_info
            };
            let entry = routes.entry(route.to_string()).or_default();
            entry.0 += 1;
            entry.1 += usize::from(*p);
        }
        for (route, (n, primaries)) in routes {
            // 3 buckets (+Inf included), _sum and _count, on one shard; _count primary.
            assert_eq!((n, primaries), (5, 1), "{route}");
        }
    }
}

#[test]
fn series_labels_are_sorted_and_hashed_by_their_labels() {
    let attrs = vec![kv("zone", "a"), kv("A", "b"), kv("le", "from-attribute")];
    let c = run(
        &[resource(vec![Metric {
            name: "h".into(),
            data: Some(metric::Data::Histogram(OtlpHistogram {
                data_points: vec![HistogramDataPoint {
                    attributes: attrs,
                    time_unix_nano: T,
                    count: 1,
                    sum: Some(1.0),
                    bucket_counts: vec![1, 0],
                    explicit_bounds: vec![1.0],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        }])],
        &settings(),
        3,
    );
    for (series, hashes) in c.shards.iter().zip(&c.hashes) {
        assert_eq!(series.len(), hashes.len());
        for (s, h) in series.iter().zip(hashes) {
            let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(names, sorted, "sorted, no duplicates");
            assert_eq!(*h, labels_hash(&s.labels));
        }
    }
    let bucket = find(&c, "h_bucket", Some(("le", "1")));
    assert_eq!(label(bucket, "A"), Some("b"));
}

#[test]
fn delta_histograms_become_cumulative_in_both_representations() {
    let histogram = |start: u64, end: u64, counts: Vec<u64>| Metric {
        name: "h".into(),
        data: Some(metric::Data::Histogram(OtlpHistogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: end,
                count: counts.iter().sum(),
                sum: Some(1.0),
                bucket_counts: counts,
                explicit_bounds: vec![1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Default::default()
    };
    let exponential = |start: u64, end: u64, scale: i32, counts: Vec<u64>| Metric {
        name: "e".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: end,
                scale,
                count: counts.iter().sum(),
                sum: Some(1.0),
                positive: Some(Buckets {
                    offset: 4,
                    bucket_counts: counts,
                }),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Default::default()
    };
    let s = settings();
    let now = Instant::now();
    let step = 1_000_000_000;
    let first = vec![resource(vec![
        histogram(T, T + step, vec![1, 2]),
        exponential(T, T + step, 2, vec![1, 2]),
    ])];
    let second = vec![resource(vec![
        histogram(T + step, T + 2 * step, vec![3, 0]),
        exponential(T + step, T + 2 * step, 1, vec![1]),
    ])];
    for [a, b] in [
        [
            Batch::from_metrics(first.clone()),
            Batch::from_metrics(second.clone()),
        ],
        [
            crate::test_support::both(first.clone())[1].clone(),
            crate::test_support::both(second.clone())[1].clone(),
        ],
    ] {
        let mut delta = DeltaState::new(100, Duration::from_secs(300));
        convert(&a, &s, 1, &mut delta, now);
        let c = convert(&b, &s, 1, &mut delta, now);
        let bucket = |le| find(&c, "h_bucket", Some(("le", le))).samples[0].value;
        assert_eq!((bucket("1"), bucket("+Inf")), (4.0, 6.0));
        assert_eq!(find(&c, "h_count", None).samples[0].value, 6.0);
        assert_eq!(find(&c, "h_sum", None).samples[0].value, 2.0);
        let e = &find(&c, "e", None).histograms[0];
        assert_eq!(e.schema, 1);
        assert_eq!(
            e.count,
            Some(weir_proto::remote_write::histogram::Count::CountInt(4))
        );
        // Scale 2 indexes 4,5 -> scale 1 index 2 (count 3), plus the second point's 1
        // at OTLP index 4 -> native indexes 3 and 5.
        assert_eq!(e.positive_deltas, vec![3, -2]);
        assert_eq!(e.timestamp, ((T + 2 * step) / 1_000_000) as i64);
        assert!(c.dropped.is_empty());
    }
}
