//! Unit tests: each output of `aggregation`, and each of the Collector's processors.

use std::time::Instant;

use weir_api::batch::build::{
    ExponentialHistogramPoint, HistogramPoint, MetricBuilder, MetricsBuilder, NumberPoint,
};
use weir_api::batch::view::{MetricType, NumberValue, Temporality};
use weir_api::batch::PointView;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, Processor};

use crate::aggregation::{AggregationConfig, AggregationProcessor, Counters};
use crate::cumulativetodelta::{CumulativeToDeltaConfig, CumulativeToDeltaProcessor};
use crate::deltatocumulative::{DeltaToCumulativeConfig, DeltaToCumulativeProcessor};
use crate::interval::{IntervalConfig, IntervalProcessor};

const S: u64 = 1_000_000_000;

fn yaml<T: serde::de::DeserializeOwned + weir_api::config::Validate>(text: &str) -> T {
    let value: weir_api::Value = serde_yaml_ng::from_str(text).expect("yaml");
    weir_api::config::parse_valid(&value).expect("valid config")
}

fn problems<T: serde::de::DeserializeOwned + weir_api::config::Validate>(
    text: &str,
) -> Vec<String> {
    let value: weir_api::Value = serde_yaml_ng::from_str(text).expect("yaml");
    weir_api::config::check_valid::<T>(&value)
        .into_iter()
        .map(|p| format!("{}: {}", p.path.join("."), p.message))
        .collect()
}

/// A cumulative monotonic counter point per (instance, route, value).
fn counters(name: &str, start: u64, time: u64, points: &[(&str, &str, f64)]) -> Batch {
    let mut b = MetricsBuilder::new();
    for (instance, route, value) in points {
        let mut r = b.resource([("service.name", "api"), ("service.instance.id", *instance)]);
        let mut s = r.scope("test", "");
        let mut m = MetricBuilder::sum(name, Temporality::Cumulative, true);
        m.push_number(
            NumberPoint::double(*value)
                .attributes([("route", *route)])
                .start_time(start)
                .time(time),
        );
        s.push(m);
    }
    b.build()
}

/// Every point of a batch list: (metric name, type, attributes as text, value or count).
fn points(batches: &[Batch]) -> Vec<(String, MetricType, String, f64)> {
    let mut out = Vec::new();
    for batch in batches {
        for rm in batch.metrics() {
            for sm in rm.scopes() {
                for m in sm.metrics() {
                    for p in m.points() {
                        let attrs: Vec<String> = p
                            .attributes()
                            .iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                            .collect();
                        let value = match p {
                            PointView::Number(n) => n.value().as_f64(),
                            PointView::Histogram(h) => h.count() as f64,
                            PointView::ExponentialHistogram(h) => h.count() as f64,
                            PointView::Summary(s) => s.count() as f64,
                        };
                        out.push((
                            m.name().to_string(),
                            m.metric_type(),
                            attrs.join(","),
                            value,
                        ));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    out
}

fn aggregation(config: &str) -> (AggregationProcessor, Telemetry) {
    let telemetry = Telemetry::new();
    let config: AggregationConfig = yaml(config);
    let p = AggregationProcessor::new(
        &config,
        Counters::new(&telemetry, "aggregation"),
        Instant::now(),
    );
    (p, telemetry)
}

fn tick(p: &mut impl Processor) -> Vec<Batch> {
    let mut out = Vec::new();
    let at = p.next_deadline().expect("a deadline");
    p.on_deadline(at, &mut out);
    out
}

fn run(p: &mut impl Processor, batch: Batch) -> Vec<Batch> {
    let mut out = Vec::new();
    p.process(batch, &mut out);
    out
}

fn metric_value(telemetry: &Telemetry, needle: &str) -> f64 {
    telemetry
        .encode()
        .lines()
        .find(|l| l.contains(needle) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn total_sums_increases_by_kept_labels_and_handles_resets() {
    let (mut p, telemetry) = aggregation(
        "rules: [{match: requests, by: [service.name, route], interval: 10s, outputs: [total, increase]}]",
    );
    // First points of series that started before Weir: baselines.
    let left = run(
        &mut p,
        counters(
            "requests",
            S,
            10 * S,
            &[("a", "/x", 10.0), ("b", "/x", 5.0), ("a", "/y", 1.0)],
        ),
    );
    assert!(left.is_empty(), "matched points are consumed");
    assert!(points(&tick(&mut p)).iter().all(|(_, _, _, v)| *v == 0.0));
    // a/x +4, b/x restarted (3 from zero), a/y +2.
    run(
        &mut p,
        counters(
            "requests",
            S,
            20 * S,
            &[("a", "/x", 14.0), ("b", "/x", 3.0), ("a", "/y", 3.0)],
        ),
    );
    let out = points(&tick(&mut p));
    assert_eq!(
        out,
        vec![
            (
                "requests:10s_by_route_service.name_increase".into(),
                MetricType::Gauge,
                "route=/x,service.name=api".into(),
                7.0
            ),
            (
                "requests:10s_by_route_service.name_increase".into(),
                MetricType::Gauge,
                "route=/y,service.name=api".into(),
                2.0
            ),
            (
                "requests:10s_by_route_service.name_total".into(),
                MetricType::Sum,
                "route=/x,service.name=api".into(),
                7.0
            ),
            (
                "requests:10s_by_route_service.name_total".into(),
                MetricType::Sum,
                "route=/y,service.name=api".into(),
                2.0
            ),
        ]
    );
    // The total keeps running across intervals.
    run(
        &mut p,
        counters("requests", S, 30 * S, &[("a", "/x", 15.0)]),
    );
    let out = points(&tick(&mut p));
    assert!(out.contains(&(
        "requests:10s_by_route_service.name_total".into(),
        MetricType::Sum,
        "route=/x,service.name=api".into(),
        8.0
    )));
    assert_eq!(metric_value(&telemetry, "reason=\"aggregated\""), 7.0);
}

#[test]
fn delta_counters_count_in_full_and_without_drops_labels() {
    let (mut p, _) = aggregation(
        "rules: [{match: '/req.*/', without: [service.instance.id], interval: 5s, outputs: [total]}]",
    );
    let mut b = MetricsBuilder::new();
    for instance in ["a", "b"] {
        let mut r = b.resource([("service.instance.id", instance)]);
        let mut s = r.scope("t", "");
        let mut m = MetricBuilder::sum("reqs", Temporality::Delta, true);
        m.push_number(
            NumberPoint::int(3)
                .attributes([("route", "/x")])
                .start_time(S)
                .time(2 * S),
        );
        s.push(m);
    }
    run(&mut p, b.build());
    assert_eq!(
        points(&tick(&mut p)),
        vec![(
            "reqs:5s_without_service.instance.id_total".into(),
            MetricType::Sum,
            "route=/x".into(),
            6.0
        )]
    );
}

#[test]
fn sample_outputs_on_gauges() {
    let (mut p, _) = aggregation(
        "rules: [{match: temp, by: [host], interval: 1m, outputs: [sum, count, last, min, max, avg, 'quantiles(0.5)'], output_name: t}]",
    );
    let mut b = MetricsBuilder::new();
    let mut r = b.resource([("host", "h")]);
    let mut s = r.scope("t", "");
    let mut m = MetricBuilder::gauge("temp");
    for (i, v) in [3.0, 1.0, 2.0].into_iter().enumerate() {
        m.push_number(
            NumberPoint::double(v)
                .attributes([("i", i.to_string())])
                .time(S),
        );
    }
    s.push(m);
    run(&mut p, b.build());
    let out: Vec<(String, f64)> = points(&tick(&mut p))
        .into_iter()
        .map(|(n, _, _, v)| (n, v))
        .collect();
    assert_eq!(
        out,
        vec![
            ("t_avg".into(), 2.0),
            ("t_count".into(), 3.0),
            ("t_last".into(), 2.0),
            ("t_max".into(), 3.0),
            ("t_min".into(), 1.0),
            ("t_quantiles".into(), 2.0),
            ("t_sum".into(), 6.0),
        ]
    );
}

fn histograms(time: u64, servers: &[(&str, Vec<u64>)]) -> Batch {
    let mut b = MetricsBuilder::new();
    for (server, counts) in servers {
        let mut r = b.resource([("service.name", "api"), ("server", *server)]);
        let mut s = r.scope("t", "");
        let mut m = MetricBuilder::histogram("latency", Temporality::Cumulative);
        let count = counts.iter().sum();
        m.push_histogram(
            HistogramPoint::new(
                count,
                Some(count as f64),
                vec![0.1, 0.5, 1.0],
                counts.clone(),
            )
            .start_time(S)
            .time(time),
        );
        s.push(m);
    }
    b.build()
}

#[test]
fn explicit_histograms_merge_into_an_explicit_histogram_and_quantiles() {
    let (mut p, _) = aggregation(
        "rules: [{match: latency, by: [service.name], interval: 10s, outputs: [histogram, 'quantiles(0.5, 0.99)']}]",
    );
    run(
        &mut p,
        histograms(10 * S, &[("a", vec![1, 0, 0, 0]), ("b", vec![0, 1, 0, 0])]),
    );
    tick(&mut p);
    run(
        &mut p,
        histograms(
            20 * S,
            &[("a", vec![11, 0, 0, 0]), ("b", vec![0, 11, 0, 0])],
        ),
    );
    let out = tick(&mut p);
    let mut seen = 0;
    for batch in &out {
        for rm in batch.metrics() {
            for sm in rm.scopes() {
                for m in sm.metrics() {
                    if m.name().ends_with("_histogram") {
                        assert_eq!(m.metric_type(), MetricType::Histogram);
                        assert_eq!(m.temporality(), Temporality::Cumulative);
                        let h = m.histogram_points().next().expect("a point");
                        assert_eq!(h.bucket_counts().collect::<Vec<_>>(), vec![10, 10, 0, 0]);
                        assert_eq!(h.explicit_bounds().collect::<Vec<_>>(), vec![0.1, 0.5, 1.0]);
                        seen += 1;
                    }
                    if m.name().ends_with("_quantiles") {
                        let qs: Vec<(String, f64)> = m
                            .number_points()
                            .map(|p| {
                                (
                                    p.attributes().get_str("quantile").unwrap_or("").to_string(),
                                    p.value().as_f64(),
                                )
                            })
                            .collect();
                        // 10 in (0,0.1], 10 in (0.1,0.5]: p50 = 0.1, p99 = 0.1 + 0.4 * 0.98.
                        assert_eq!(qs[0], ("0.5".to_string(), 0.1));
                        assert!((qs[1].1 - (0.1 + 0.4 * 0.98)).abs() < 1e-12, "{qs:?}");
                        seen += 1;
                    }
                }
            }
        }
    }
    assert_eq!(seen, 2);
}

#[test]
fn exponential_histograms_merge_at_the_coarser_scale() {
    let (mut p, _) = aggregation(
        "rules: [{match: lat, by: [service.name], interval: 10s, outputs: [histogram]}]",
    );
    let mut b = MetricsBuilder::new();
    for (server, scale, offset) in [("a", 2, 4), ("b", 1, 2)] {
        let mut r = b.resource([("server", server)]);
        let mut s = r.scope("t", "");
        let mut m = MetricBuilder::exponential_histogram("lat", Temporality::Delta);
        m.push_exponential_histogram(
            ExponentialHistogramPoint::new(scale, 2, Some(4.0), 0)
                .positive(offset, vec![1, 1])
                .start_time(S)
                .time(2 * S),
        );
        s.push(m);
    }
    run(&mut p, b.build());
    let out = tick(&mut p);
    let rm = out[0].metrics().next().expect("resource");
    let sm = rm.scopes().next().expect("scope");
    let m = sm.metrics().next().expect("metric");
    assert_eq!(m.metric_type(), MetricType::ExponentialHistogram);
    let h = m.exponential_histogram_points().next().expect("point");
    assert_eq!(h.scale(), 1);
    assert_eq!(h.count(), 4);
    // Scale 2 indexes 4,5 -> 2; scale 1 indexes 2,3.
    assert_eq!(h.positive().offset(), 2);
    assert_eq!(h.positive().bucket_counts().collect::<Vec<_>>(), vec![3, 1]);
}

#[test]
fn the_output_series_cap_refuses_and_counts() {
    let (mut p, telemetry) = aggregation(
        "{rules: [{match: requests, by: [route], interval: 10s, outputs: [total]}], max_output_series: 2}",
    );
    run(
        &mut p,
        counters(
            "requests",
            S,
            10 * S,
            &[("a", "/1", 1.0), ("a", "/2", 1.0), ("a", "/3", 1.0)],
        ),
    );
    assert_eq!(p.output_series(), 2);
    assert_eq!(
        metric_value(&telemetry, "reason=\"output_series_limit\""),
        1.0
    );
    assert_eq!(metric_value(&telemetry, "reason=\"aggregated\""), 2.0);
}

#[test]
fn keep_input_leaves_the_batch_as_it_was() {
    let (mut p, _) = aggregation(
        "rules: [{match: requests, by: [route], interval: 10s, outputs: [total], keep_input: true}]",
    );
    let batch = counters("requests", S, 10 * S, &[("a", "/1", 1.0), ("b", "/2", 2.0)]);
    let out = run(&mut p, batch.clone());
    assert_eq!(out, vec![batch]);
    // Unmatched metrics pass through too.
    let (mut p, _) = aggregation("rules: [{match: other, interval: 10s, outputs: [total]}]");
    let batch = counters("requests", S, 10 * S, &[("a", "/1", 1.0)]);
    assert_eq!(run(&mut p, batch.clone()), vec![batch]);
}

#[test]
fn ottl_conditions_select_points() {
    let (mut p, _) = aggregation(
        r#"rules: [{match: 'metric.name == "requests" and attributes["route"] == "/1"', by: [route], interval: 10s, outputs: [count]}]"#,
    );
    let out = run(
        &mut p,
        counters("requests", S, 10 * S, &[("a", "/1", 1.0), ("a", "/2", 1.0)]),
    );
    assert_eq!(points(&out).len(), 1, "the /2 point stays");
    assert_eq!(
        points(&tick(&mut p)),
        vec![(
            "requests:10s_by_route_count".into(),
            MetricType::Gauge,
            "route=/1".into(),
            1.0
        )]
    );
}

#[test]
fn dedup_keeps_the_newest_sample_per_input_series() {
    let (mut p, _) = aggregation(
        "rules: [{match: temp, without: [h], interval: 10s, dedup_interval: 5s, outputs: [count, last]}]",
    );
    for (t, v) in [(2, 1.0), (3, 7.0), (1, 9.0)] {
        let mut b = MetricsBuilder::new();
        let mut r = b.resource([("h", "x")]);
        let mut s = r.scope("t", "");
        let mut m = MetricBuilder::gauge("temp");
        m.push_number(NumberPoint::double(v).time(t * S));
        s.push(m);
        run(&mut p, b.build());
    }
    let mut out = Vec::new();
    // Run every deadline up to the interval's end.
    for _ in 0..3 {
        let at = p.next_deadline().expect("deadline");
        p.on_deadline(at, &mut out);
    }
    let got: Vec<(String, f64)> = points(&out)
        .into_iter()
        .map(|(n, _, _, v)| (n, v))
        .collect();
    assert!(
        got.contains(&("temp:10s_without_h_count".into(), 1.0)),
        "{got:?}"
    );
    assert!(
        got.contains(&("temp:10s_without_h_last".into(), 7.0)),
        "{got:?}"
    );
}

#[test]
fn a_stale_series_stops_contributing_after_its_last_increase_left() {
    let (mut p, _) = aggregation(
        "{rules: [{match: requests, by: [route], interval: 1s, outputs: [total]}], staleness_interval: 2s}",
    );
    run(&mut p, counters("requests", S, 10 * S, &[("a", "/1", 1.0)]));
    let t0 = p.next_deadline().expect("deadline");
    let mut out = Vec::new();
    p.on_deadline(t0, &mut out);
    run(&mut p, counters("requests", S, 11 * S, &[("a", "/1", 4.0)]));
    let mut out = Vec::new();
    p.on_deadline(p.next_deadline().expect("deadline"), &mut out);
    // The last increase (3) left before the series went stale.
    assert_eq!(points(&out)[0].3, 3.0);
    // Nothing more arrives: after staleness_interval the series is gone.
    let later = t0 + std::time::Duration::from_secs(5);
    let mut out = Vec::new();
    p.on_deadline(later, &mut out);
    p.on_deadline(later + std::time::Duration::from_secs(1), &mut out);
    assert_eq!(p.output_series(), 0);
    assert_eq!(p.input_series(), 0);
}

#[test]
fn aggregation_config_errors_name_their_key() {
    let errors = problems::<AggregationConfig>(
        "rules: [{match: [x, '/(/'], by: [a], without: [b], interval: 0s, outputs: [total, rate]}]",
    );
    let text = errors.join("\n");
    assert!(
        text.contains("rules.0.match.1: invalid regular expression"),
        "{text}"
    );
    assert!(text.contains("rules.0.without: by and without"), "{text}");
    assert!(
        text.contains("rules.0.interval: interval must be greater than 0"),
        "{text}"
    );
    assert!(
        text.contains("rules.0.outputs.1: unknown output `rate`"),
        "{text}"
    );
    assert!(problems::<AggregationConfig>("{}")
        .join("")
        .contains("rules"));
    assert!(problems::<AggregationConfig>(
        "rules: [{match: x, interval: 1s, outputs: [total], bye: 1}]"
    )
    .join("")
    .contains("bye"));
}

// ---- interval ---------------------------------------------------------------------

#[test]
fn interval_emits_the_last_point_per_series_and_passes_deltas() {
    let config: IntervalConfig = yaml("interval: 10s");
    let telemetry = Telemetry::new();
    let counter = telemetry.dropped(
        "interval",
        weir_api::Signal::Metrics,
        crate::interval::SUPERSEDED,
    );
    let mut p = IntervalProcessor::new(config, counter, Instant::now());
    for t in 1..=10u64 {
        let left = run(
            &mut p,
            counters(
                "requests",
                S,
                t * S,
                &[("a", "/1", t as f64), ("b", "/1", 2.0 * t as f64)],
            ),
        );
        assert!(left.is_empty());
    }
    // Delta sums pass through.
    let mut b = MetricsBuilder::new();
    let mut r = b.resource([("h", "x")]);
    let mut s = r.scope("t", "");
    let mut m = MetricBuilder::sum("d", Temporality::Delta, true);
    m.push_number(NumberPoint::int(1).start_time(S).time(2 * S));
    s.push(m);
    assert_eq!(run(&mut p, b.build()).len(), 1);
    let out = points(&tick(&mut p));
    let mut values: Vec<f64> = out.iter().map(|p| p.3).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![10.0, 20.0], "{out:?}");
    assert_eq!(metric_value(&telemetry, "interval_superseded"), 18.0);
    // Nothing new: nothing emitted.
    assert!(tick(&mut p).is_empty());
}

#[test]
fn interval_pass_through_keeps_gauges_moving() {
    let config: IntervalConfig = yaml("{interval: 10s, pass_through: {gauge: true}}");
    let counter = Telemetry::new().dropped("i", weir_api::Signal::Metrics, "x");
    let mut p = IntervalProcessor::new(config, counter, Instant::now());
    let mut b = MetricsBuilder::new();
    let mut r = b.resource([("h", "x")]);
    let mut s = r.scope("t", "");
    let mut m = MetricBuilder::gauge("g");
    m.push_number(NumberPoint::double(1.0).time(S));
    s.push(m);
    assert_eq!(run(&mut p, b.build()).len(), 1);
    assert!(problems::<IntervalConfig>("interval: 0s")
        .join("")
        .contains("interval"));
}

// ---- deltatocumulative / cumulativetodelta ------------------------------------------

fn deltas(values: &[(u64, u64, i64)]) -> Batch {
    let mut b = MetricsBuilder::new();
    let mut r = b.resource([("service.name", "x")]);
    let mut s = r.scope("t", "");
    let mut m = MetricBuilder::sum("d", Temporality::Delta, true);
    for (start, time, v) in values {
        m.push_number(
            NumberPoint::int(*v)
                .attributes([("k", "v")])
                .start_time(*start)
                .time(*time),
        );
    }
    s.push(m);
    b.build()
}

fn number_points(batches: &[Batch]) -> Vec<(Temporality, u64, u64, NumberValue)> {
    let mut out = Vec::new();
    for batch in batches {
        for rm in batch.metrics() {
            for sm in rm.scopes() {
                for m in sm.metrics() {
                    for p in m.number_points() {
                        out.push((
                            m.temporality(),
                            p.start_time_unix_nano(),
                            p.time_unix_nano(),
                            p.value(),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn deltatocumulative_then_cumulativetodelta_gives_back_the_input() {
    let telemetry = Telemetry::new();
    let mut d2c =
        DeltaToCumulativeProcessor::new(&yaml::<DeltaToCumulativeConfig>("{}"), &telemetry, "d2c");
    let mut c2d = CumulativeToDeltaProcessor::new(
        &yaml::<CumulativeToDeltaConfig>("initial_value: keep"),
        &telemetry,
        "c2d",
    );
    let input = [
        (S, 2 * S, 3),
        (2 * S, 3 * S, 0),
        (3 * S, 4 * S, 5),
        (4 * S, 5 * S, 1),
    ];
    let mut cumulative = Vec::new();
    for p in input {
        cumulative.extend(run(&mut d2c, deltas(&[p])));
    }
    let totals: Vec<NumberValue> = number_points(&cumulative)
        .into_iter()
        .map(|p| p.3)
        .collect();
    assert_eq!(totals, [3, 3, 8, 9].map(NumberValue::Int).to_vec());
    assert!(number_points(&cumulative)
        .iter()
        .all(|p| p.0 == Temporality::Cumulative && p.1 == S));
    let mut back = Vec::new();
    for batch in cumulative {
        back.extend(run(&mut c2d, batch));
    }
    let expected: Vec<_> = input
        .iter()
        .map(|(s, t, v)| (Temporality::Delta, *s, *t, NumberValue::Int(*v)))
        .collect();
    assert_eq!(number_points(&back), expected);
}

#[test]
fn deltatocumulative_refuses_overlaps_and_counts_them() {
    let telemetry = Telemetry::new();
    let mut d2c = DeltaToCumulativeProcessor::new(
        &yaml::<DeltaToCumulativeConfig>("max_streams: 1"),
        &telemetry,
        "d2c",
    );
    run(&mut d2c, deltas(&[(S, 3 * S, 1)]));
    assert!(run(&mut d2c, deltas(&[(2 * S, 4 * S, 1)])).is_empty());
    assert_eq!(metric_value(&telemetry, "delta_out_of_order"), 1.0);
    assert!(problems::<DeltaToCumulativeConfig>("max_stale: 0s")
        .join("")
        .contains("max_stale"));
}

#[test]
fn cumulativetodelta_initial_value_include_exclude() {
    let telemetry = Telemetry::new();
    let config: CumulativeToDeltaConfig =
        yaml("{include: {metrics: ['req.*'], match_type: regexp}, exclude: {metrics: [requests_excluded], match_type: strict}}");
    let mut c2d = CumulativeToDeltaProcessor::new(&config, &telemetry, "c2d");
    // auto: a series that started before Weir: its first point is the baseline.
    assert!(run(
        &mut c2d,
        counters("requests", S, 10 * S, &[("a", "/1", 5.0)])
    )
    .is_empty());
    let out = number_points(&run(
        &mut c2d,
        counters("requests", S, 20 * S, &[("a", "/1", 8.0)]),
    ));
    assert_eq!(
        out,
        vec![(Temporality::Delta, 10 * S, 20 * S, NumberValue::Double(3.0))]
    );
    // Excluded and unmatched metrics pass through unchanged.
    let batch = counters("requests_excluded", S, 10 * S, &[("a", "/1", 5.0)]);
    assert_eq!(run(&mut c2d, batch.clone()), vec![batch]);
    let batch = counters("other", S, 10 * S, &[("a", "/1", 5.0)]);
    assert_eq!(run(&mut c2d, batch.clone()), vec![batch]);
    assert_eq!(metric_value(&telemetry, "reason=\"initial_value\""), 1.0);
    assert!(
        problems::<CumulativeToDeltaConfig>("{include: {metrics: ['(']} }")
            .join("")
            .contains("include.match_type")
    );
    assert!(
        problems::<CumulativeToDeltaConfig>("{include: {metrics: ['('], match_type: regexp}}")
            .join("")
            .contains("include.metrics.0")
    );
}
