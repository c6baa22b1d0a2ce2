//! Aggregation is exact: sample-rate scaling, gauge changes across intervals, sets,
//! timer count/sum/min/max, histogram buckets, merges across readers, timestamps.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{attrs, config, Harness, Value};
use weir_statsd_receiver::exphist::{lower_boundary, map_to_index};
use weir_statsd_receiver::reason::Reason;

#[test]
fn counters_scale_by_sample_rate() {
    let mut h = Harness::new(config("{}"));
    h.send(b"hits:1|c|@0.1\nhits:2|c|@0.25\nhits:3|c\nhits:1|c|@0.3");
    let points = h.flush();
    assert_eq!(points.len(), 1);
    let Value::Sum(v) = points[0].value else {
        panic!()
    };
    assert!((v - (10.0 + 8.0 + 3.0 + 1.0 / 0.3)).abs() < 1e-9, "{v}");
}

#[test]
fn delta_counters_have_interval_bounds_and_cumulative_ones_keep_their_start() {
    let mut h = Harness::new(config("{}"));
    h.send(b"a:1|c");
    let first = h.flush();
    h.send(b"a:2|c");
    let second = h.flush();
    assert_eq!(second[0].value, Value::Sum(2.0));
    assert_eq!(
        second[0].start_ns, first[0].time_ns,
        "delta intervals are contiguous"
    );

    let mut h = Harness::new(config("is_monotonic_counter: true"));
    h.send(b"a:1|c");
    let first = h.flush();
    h.send(b"a:2|c|@0.5");
    let second = h.flush();
    assert_eq!(first[0].value, Value::Sum(1.0));
    assert_eq!(second[0].value, Value::Sum(5.0));
    assert_eq!(
        second[0].start_ns, first[0].start_ns,
        "cumulative start is kept"
    );
    assert!(second[0].time_ns > first[0].time_ns);
}

#[test]
fn gauges_apply_changes_to_the_last_value_across_intervals() {
    let mut h = Harness::new(config("{}"));
    h.send(b"temp:20|g\ntemp:-5|g|@0.5");
    assert_eq!(h.flush()[0].value, Value::Gauge(15.0));
    h.send(b"temp:+2.5|g");
    assert_eq!(h.flush()[0].value, Value::Gauge(17.5));
    // No update: no point (the value is remembered, not repeated).
    assert!(h.flush().is_empty());
    h.send(b"temp:+1|g");
    assert_eq!(h.flush()[0].value, Value::Gauge(18.5));
}

#[test]
fn sets_count_distinct_members_per_interval() {
    let mut h = Harness::new(config("{}"));
    h.send(b"users:alice|s\nusers:bob|s\nusers:alice|s|@0.5\nusers:42|s");
    assert_eq!(h.flush()[0].value, Value::Distinct(3));
    h.send(b"users:alice|s");
    assert_eq!(h.flush()[0].value, Value::Distinct(1));
}

#[test]
fn timers_count_sum_min_max() {
    let mut h = Harness::new(config("{}"));
    h.send(b"t:10|ms\nt:20|ms|@0.5\nt:5:15|ms\nt:-1|ms");
    // 10 x1, 20 x2, 5 x1, 15 x1, -1 x1
    assert_eq!(
        h.flush()[0].value,
        Value::Observed {
            count: 6,
            sum: 10.0 + 40.0 + 5.0 + 15.0 - 1.0,
            min: -1.0,
            max: 20.0
        }
    );
}

#[test]
fn tiny_sample_rates_weigh_at_most_two_to_the_32() {
    // Found by fuzzing: `@1e-30` weighed u64::MAX and the second observation overflowed
    // the histogram's counts.
    let mut h = Harness::new(config("{}"));
    h.send(b"t:2|ms|@1e-30\nt:2|ms|@1e-30\nt:2|h|@0.000000000000000000000000000005");
    let points = h.flush();
    let mut counts: Vec<_> = points
        .iter()
        .map(|p| match &p.value {
            Value::Observed { count, .. } => *count,
            other => panic!("{other:?}"),
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1 << 32, 2 << 32]);
}

#[test]
fn exponential_buckets_hold_the_values() {
    let mut h = Harness::new(config("{}"));
    let mut h_batch = Vec::new();
    for i in 1..=1000 {
        h_batch.extend_from_slice(format!("lat:{}|h\n", i as f64 * 0.5).as_bytes());
    }
    h.send(&h_batch);
    h.send(b"lat:0|h");
    h.now_ns += 10_000_000_000;
    let parts = h.aggregators.iter_mut().map(|a| a.take()).collect();
    let batch = h.flusher.flush(parts, h.now_ns).metrics.expect("metrics");
    let metric = &batch.resource_metrics()[0].scope_metrics[0].metrics[0];
    let Some(weir_proto::metrics::v1::metric::Data::ExponentialHistogram(e)) = &metric.data else {
        panic!()
    };
    let p = &e.data_points[0];
    assert_eq!(p.count, 1001);
    assert_eq!(p.zero_count, 1);
    assert_eq!(p.sum, Some((1..=1000).map(|i| i as f64 * 0.5).sum()));
    let positive = p.positive.as_ref().unwrap();
    assert!(positive.bucket_counts.len() <= 160);
    assert_eq!(positive.bucket_counts.iter().sum::<u64>(), 1000);
    // Recount every value into the emitted scale: the buckets match exactly.
    let mut expected = vec![0u64; positive.bucket_counts.len()];
    for i in 1..=1000 {
        let v = i as f64 * 0.5;
        let index = map_to_index(v, p.scale);
        assert!(lower_boundary(index, p.scale) <= v * (1.0 + 1e-12));
        expected[(index - positive.offset) as usize] += 1;
    }
    assert_eq!(positive.bucket_counts, expected);
}

#[test]
fn summary_and_explicit_histogram_observers() {
    let mut h = Harness::new(config(
        "timer_histogram_mapping:\n  - statsd_type: timing\n    observer_type: summary\n    summary: {percentiles: [0, 50, 100]}\n\
         \x20 - statsd_type: histogram\n    observer_type: histogram\n    histogram: {explicit_bounds: [10, 100]}\n\
         \x20 - statsd_type: distribution\n    observer_type: gauge\n",
    ));
    h.send(b"s:1|ms\ns:2|ms\ns:3|ms|@0.5\nx:5|h\nx:50|h\nx:500|h|@0.25\nd:1|d\nd:9|d");
    let points = h.flush();
    let by_name = |n: &str| points.iter().find(|p| p.name == n).unwrap().value.clone();
    assert_eq!(
        by_name("s"),
        Value::Observed {
            count: 4,
            sum: 9.0,
            min: 1.0,
            max: 3.0
        }
    );
    assert_eq!(
        by_name("x"),
        Value::Observed {
            count: 6,
            sum: 2055.0,
            min: 5.0,
            max: 500.0
        }
    );
    assert_eq!(by_name("d"), Value::Gauge(9.0));
}

#[test]
fn readers_merge_exactly() {
    let mut h = Harness::with_readers(config("{}"), 3);
    for (i, aggregator) in h.aggregators.iter_mut().enumerate() {
        let datagram = format!(
            "c:1|c|@0.5\nu:{i}|s\nu:shared|s\nt:{}|ms\nl:{}|h",
            i + 1,
            10.0 * (i as f64 + 1.0)
        );
        aggregator.ingest(datagram.as_bytes(), None);
    }
    let points = h.flush();
    let by_name = |n: &str| points.iter().find(|p| p.name == n).unwrap().value.clone();
    assert_eq!(by_name("c"), Value::Sum(6.0));
    assert_eq!(by_name("u"), Value::Distinct(4));
    assert_eq!(
        by_name("t"),
        Value::Observed {
            count: 3,
            sum: 6.0,
            min: 1.0,
            max: 3.0
        }
    );
    assert_eq!(
        by_name("l"),
        Value::Observed {
            count: 3,
            sum: 60.0,
            min: 10.0,
            max: 30.0
        }
    );
}

#[test]
fn metric_type_attribute_and_source_ip() {
    let mut h = Harness::new(config(
        "enable_metric_type: true\nenable_ip_only_aggregation: true",
    ));
    h.aggregators[0].ingest(b"a:1|c|#k:v", Some("10.0.0.1".parse().unwrap()));
    h.aggregators[0].ingest(b"a:2|c|#k:v", Some("10.0.0.2".parse().unwrap()));
    let points = h.flush();
    assert_eq!(points.len(), 2);
    assert_eq!(
        points[0].attributes,
        attrs(&[("k", "v"), ("metric_type", "counter")])
    );
    let mut sources: Vec<_> = points.iter().map(|p| p.resource.clone()).collect();
    sources.sort();
    assert_eq!(
        sources,
        vec![
            attrs(&[("server.address", "10.0.0.1")]),
            attrs(&[("server.address", "10.0.0.2")])
        ]
    );

    // By default the source does not split series (the Collector splits by port).
    let mut h = Harness::new(config("{}"));
    h.aggregators[0].ingest(b"a:1|c", Some("10.0.0.1".parse().unwrap()));
    h.aggregators[0].ingest(b"a:2|c", Some("10.0.0.2".parse().unwrap()));
    let points = h.flush();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].value, Value::Sum(3.0));
}

#[test]
fn bad_lines_never_spoil_the_rest_of_a_datagram() {
    let mut h = Harness::new(config("{}"));
    h.send(b"ok:1|c\n:1|c\nbad\xff:1|c\nok:2|c\nx:1|zz\n\n_e{1,1}:a|b");
    assert_eq!(h.flush()[0].value, Value::Sum(3.0));
    assert_eq!(h.invalid_total(), 3);
    // No logs pipeline: the event is counted as dropped, not as invalid.
    let text = h.telemetry.encode();
    assert!(
        text.contains("weir_items_dropped_total{component=\"statsd\",otel_signal=\"logs\",reason=\"no_logs_pipeline\"} 1"),
        "{text}"
    );
    assert!(text.contains(
        "weir_statsd_receiver_invalid_lines_total{receiver=\"statsd\",reason=\"empty_name\"} 1"
    ));
}

// The aggregator keys its entries by line identity (the line without its value) and
// parses only the value of a line whose identity it has seen in the interval. These
// tests pin down that the shortcut changes nothing.

#[test]
fn spellings_of_one_series_merge_into_one_point() {
    let mut h = Harness::new(config("{}"));
    // Tag order and sample rate differ: three identities, one series.
    let datagram = b"a:1|c|#x:1,y:2\na:2|c|#y:2,x:1\na:4|c|@0.5|#x:1,y:2\na:1|c|#x:1,y:2";
    h.send(datagram);
    let points = h.flush();
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].attributes, attrs(&[("x", "1"), ("y", "2")]));
    assert_eq!(points[0].value, Value::Sum(1.0 + 2.0 + 8.0 + 1.0));
    // The next interval starts from the recycled map: same result.
    h.send(datagram);
    assert_eq!(h.flush()[0].value, Value::Sum(12.0));
}

#[test]
fn the_last_gauge_set_wins_across_spellings() {
    let mut h = Harness::new(config("{}"));
    h.send(b"g:1|g|#a:1,b:2\ng:5|g|#b:2,a:1\ng:3|g|#a:1,b:2\ng:7|g|#b:2,a:1");
    assert_eq!(h.flush()[0].value, Value::Gauge(7.0));
}

#[test]
fn a_known_identity_still_checks_its_value_and_timestamp() {
    let mut h = Harness::new(config("{}"));
    h.send(b"a:1|c|#t:1\na:x|c|#t:1\na:1:2|c|#t:1\na:2|c|#t:1|Tabc\na:4|c|#t:1|T1700000000\nu:m|s\nu:m:n|s");
    assert_eq!(
        h.invalid(Reason::BadValue),
        2,
        "{:?}",
        h.invalid_by_reason()
    );
    assert_eq!(h.invalid(Reason::BadTimestamp), 1);
    assert_eq!(h.invalid_total(), 3);
    let points = h.flush();
    let a = points.iter().find(|p| p.name == "a").expect("a");
    assert_eq!(a.value, Value::Sum(1.0 + 1.0 + 2.0 + 4.0));
    assert_eq!(a.time_ns, 1_700_000_000_000_000_000);
    let u = points.iter().find(|p| p.name == "u").expect("u");
    assert_eq!(u.value, Value::Distinct(1));
}

#[test]
fn a_known_identity_follows_the_negative_counter_rule() {
    let mut h = Harness::new(config("is_monotonic_counter: true"));
    h.send(b"c:1|c\nc:-1|c\nc:2|c");
    assert_eq!(h.invalid(Reason::NegativeCounter), 1);
    assert_eq!(h.flush()[0].value, Value::Sum(3.0));
}

#[test]
fn the_flusher_gives_the_readers_maps_back_for_the_next_interval() {
    let mut h = Harness::new(config("{}"));
    let datagram: Vec<u8> = (0..500)
        .flat_map(|i| format!("s{i}:1|c\n").into_bytes())
        .collect();
    h.send(&datagram);
    let part = h.aggregators[0].take();
    assert_eq!(part.lines.len(), 500);
    let mut flushed = h.flusher.flush(vec![part], h.now_ns + 1);
    assert_eq!(flushed.series, 500);
    let map = flushed.recycled.pop().expect("one map per reader");
    assert!(map.is_empty() && map.capacity() >= 500);
    assert!(!h.aggregators[0].has_spare());
    h.aggregators[0].recycle(map);
    assert!(h.aggregators[0].has_spare());
    let empty = h.aggregators[0].take();
    assert!(empty.lines.is_empty());
    assert!(
        !h.aggregators[0].has_spare(),
        "the spare became the live map"
    );
    h.send(&datagram);
    assert_eq!(h.aggregators[0].take().lines.len(), 500);
}
