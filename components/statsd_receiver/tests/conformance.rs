//! Every case of `tests/conformance/statsd/cases.md`, read from the file itself: each
//! input is fed to a reader as one datagram, flushed, and compared with what we
//! expect: the stated result, or a rejection counted under a reason. Where we differ
//! from statsd_exporter on purpose (its "(SE)" conventions), the note says why.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{attrs, config, Harness, Point, Value};
use weir_statsd_receiver::reason::Reason;

fn cases_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/statsd/cases.md")
}

/// Turns the markdown spelling of an input into bytes: `\|` is a pipe, `\n` a newline
/// inside one packet, `\xHH` a raw byte.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'|' => {
                    out.push(b'|');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b'x' if i + 3 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex byte"));
                    i += 4;
                    continue;
                }
                _ => {}
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// (case number, input bytes) for every numbered row of the file.
fn numbered_cases() -> Vec<(u32, Vec<u8>)> {
    let text = std::fs::read_to_string(cases_file())
        .expect("cases.md (vendored in tests/conformance/statsd)");
    let mut cases = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("| ") else {
            continue;
        };
        let Some((number, rest)) = rest.split_once(" | ") else {
            continue;
        };
        let Ok(number) = number.trim().parse::<u32>() else {
            continue;
        };
        let start = rest.find('`').expect("input in backticks");
        let end = start + 1 + rest[start + 1..].find('`').expect("closing backtick");
        cases.push((number, unescape(&rest[start + 1..end])));
    }
    cases
}

/// The escaping table's input names (first column of rows after the escaping heading).
fn escape_table_names() -> Vec<String> {
    let text = std::fs::read_to_string(cases_file()).expect("cases.md");
    let section = text
        .split("## Metric-name escaping")
        .nth(1)
        .expect("escaping section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

enum Expect {
    /// These points and no rejection.
    Points(Vec<Point>),
    /// These points and these rejections.
    Mixed(Vec<Point>, Vec<(Reason, u64)>),
    /// Nothing aggregated, each reason counted once.
    Rejected(Vec<Reason>),
    /// Nothing at all, no error.
    Nothing,
}

fn point(name: &str, tags: &[(&str, &str)], value: Value) -> Point {
    Point {
        name: name.into(),
        attributes: attrs(tags),
        resource: Vec::new(),
        value,
        start_ns: 0,
        time_ns: 0,
    }
}

fn with_container(mut p: Point, id: &str) -> Point {
    p.resource = attrs(&[("container.id", id)]);
    p
}

fn sum(v: f64) -> Value {
    Value::Sum(v)
}

fn gauge(v: f64) -> Value {
    Value::Gauge(v)
}

fn observed(count: u64, sum: f64, min: f64, max: f64) -> Value {
    Value::Observed {
        count,
        sum,
        min,
        max,
    }
}

const PACKED: [f64; 6] = [0.5, 120.0, 3000.0, 10.0, 20000.0, 0.01];

fn packed_sum() -> f64 {
    PACKED.iter().sum()
}

fn expectation(case: u32) -> Expect {
    use Expect::*;
    let t12 = [("tag1", "bar"), ("tag2", "baz")];
    match case {
        1 => Points(vec![point("foo", &[], sum(2.0))]),
        2 => Points(vec![point("foo", &[], gauge(3.0))]),
        // A change with no earlier value starts from 0.
        3 => Points(vec![point("foo", &[], gauge(-10.0))]),
        4 => Points(vec![point("foo", &[], gauge(10.0))]),
        5 => Points(vec![point("foo", &[], gauge(-1.0))]),
        6 => Points(vec![point("gaugor", &[], gauge(327.0))]),
        // (SE) statsd_exporter converts ms to seconds; like the Collector we keep ms.
        7 => Points(vec![point("foo", &[], observed(1, 200.0, 200.0, 200.0))]),
        8 | 9 => Points(vec![point("foo", &[], observed(1, 200.0, 200.0, 200.0))]),
        10 => Rejected(vec![Reason::UnknownType]),
        // (SE) We support sets: distinct members per interval.
        11 => Points(vec![point("uniques", &[], Value::Distinct(1))]),
        12 => Points(vec![point("foo", &[], gauge(3.0))]),
        13 => Points(vec![point("foo", &t12, sum(1000.0))]),
        // One point with count 5 (sum and count weighted, min/max the observed value).
        14 | 15 => Points(vec![point("foo", &t12, observed(5, 0.05, 0.01, 0.01))]),
        16 => Points(vec![point("foo.timing", &[], observed(10, 5.0, 0.5, 0.5))]),
        // A bad or zero sample rate rejects the line (as the Collector's parser does),
        // rather than guessing a rate of 1.
        17 | 18 => Rejected(vec![Reason::BadSampleRate]),
        19 | 20 => Points(vec![point("foo", &t12, sum(100.0))]),
        // Keys are kept as sent; Prometheus exporters clean them up.
        21 => Points(vec![point(
            "foo",
            &[("09digits", "0"), ("tag.with.dots", "1")],
            sum(100.0),
        )]),
        // Bare tags need `enable_simple_tags` (Collector); see `bare_tags_with_simple_tags`.
        22 | 23 => Rejected(vec![Reason::BadTag]),
        24 => Points(vec![point("foo", &[("tag", "value")], sum(100.0))]),
        25 => Points(vec![point("foo", &[("tag1", "foo:bar")], sum(1000.0))]),
        26 => Rejected(vec![Reason::InvalidUtf8]),
        27 => Mixed(
            vec![point("foo", &[("tag", "value")], sum(200.0))],
            vec![(Reason::InvalidUtf8, 1)],
        ),
        28 => Mixed(
            vec![point("valid_utf8", &[], sum(1.0))],
            vec![(Reason::InvalidUtf8, 1)],
        ),
        // Name tag dialects (`tag_dialects`, on by default), read as statsd_exporter
        // reads them; `tag_dialects_off_keeps_names_verbatim` covers the switch.
        29 | 30 => Points(vec![point("foo", &t12, sum(100.0))]),
        31 => Points(vec![point("foo.test", &t12, sum(100.0))]),
        32 => Points(vec![point("foo.test", &[], sum(100.0))]),
        // No closing bracket: the name stays as sent (statsd_exporter also counts a tag
        // error but keeps the line; the line is not lost, so we count nothing).
        33 => Points(vec![point("[tag1=bar,tag2=bazfoo.test", &[], sum(100.0))]),
        34 => Rejected(vec![Reason::MixedTagStyles]),
        35 | 37 => Points(vec![point(
            if case == 35 {
                "foo_timing"
            } else {
                "foo_histogram"
            },
            &t12,
            observed(6, packed_sum(), 0.01, 20000.0),
        )]),
        36 => Points(vec![point(
            "foo_timing",
            &[],
            observed(12, 2.0 * packed_sum(), 0.01, 20000.0),
        )]),
        // (SE) DogStatsD allows packing for every type but sets; we follow DogStatsD.
        38 => Points(vec![point("foo_counter", &t12, sum(packed_sum()))]),
        39 => Points(vec![point("foo_gauge", &t12, gauge(0.01))]),
        // (SE) statsd_exporter's legacy multi-type syntax is not StatsD: both lines are
        // rejected (their "type" fields are `ms:300` and `c:5`).
        40 => Rejected(vec![Reason::UnknownType, Reason::UnknownType]),
        // The container id becomes the resource attribute `container.id`.
        41 => Points(vec![with_container(
            point("foo", &[("tag1", "value")], sum(100.0)),
            "container123",
        )]),
        42 => Points(vec![with_container(
            point("foo", &[("tag1", "value")], sum(100.0)),
            "sha256:abcd1234efgh5678",
        )]),
        43 | 44 | 46 => Rejected(vec![Reason::BadField]),
        45 => Points(vec![with_container(
            point("foo", &[("client", "go"), ("service", "abc")], sum(1000.0)),
            "3a88c2…b86",
        )]),
        // The timestamp becomes the point time (checked in `timestamp_sets_point_time`).
        47 => Points(vec![point("page.views", &[("env", "dev")], sum(15.0))]),
        48 => Points(vec![with_container(
            point("requests", &[("service", "web")], sum(1000.0)),
            "abc123",
        )]),
        // (SE) We check the timestamp and reject a line whose `T` is not a number.
        49 => Rejected(vec![Reason::BadTimestamp]),
        50 => Rejected(vec![Reason::MissingValue]),
        51 => Rejected(vec![Reason::MissingType]),
        52 => Rejected(vec![Reason::BadValue]),
        53 => Rejected(vec![Reason::EmptyName]),
        54 => Rejected(vec![Reason::BadField]),
        55 => Rejected(vec![Reason::InvalidUtf8]),
        56 => Rejected(vec![Reason::MissingType]),
        57 => Rejected(vec![Reason::EmptyName]),
        58 => Nothing,
        other => panic!("case {other} in cases.md has no expectation here: add one"),
    }
}

type Pairs = Vec<(String, String)>;

/// (name, attributes, resource attributes, rounded value) of each point.
fn comparable(points: Vec<Point>) -> Vec<(String, Pairs, Pairs, Value)> {
    points
        .into_iter()
        .map(|p| (p.name, p.attributes, p.resource, round(p.value)))
        .collect()
}

/// Sums of decimal fractions are compared to 9 significant digits.
fn round(value: Value) -> Value {
    let r = |x: f64| {
        if x == 0.0 {
            0.0
        } else {
            (x * 1e9).round() / 1e9
        }
    };
    match value {
        Value::Sum(x) => Value::Sum(r(x)),
        Value::Gauge(x) => Value::Gauge(r(x)),
        Value::Observed {
            count,
            sum,
            min,
            max,
        } => Value::Observed {
            count,
            sum: r(sum),
            min: r(min),
            max: r(max),
        },
        other => other,
    }
}

#[test]
fn every_numbered_case() {
    let cases = numbered_cases();
    let numbers: Vec<u32> = cases.iter().map(|c| c.0).collect();
    assert_eq!(
        numbers,
        (1..=58).collect::<Vec<_>>(),
        "cases.md changed: review the expectations"
    );
    for (number, input) in cases {
        let mut harness = Harness::new(config("{}"));
        harness.send(&input);
        let got = comparable(harness.flush());
        let rejected = harness.invalid_by_reason();
        let (want_points, want_rejected): (Vec<Point>, Vec<(Reason, u64)>) =
            match expectation(number) {
                Expect::Points(p) => (p, vec![]),
                Expect::Mixed(p, r) => (p, r),
                Expect::Rejected(reasons) => {
                    let mut counted: BTreeMap<Reason, u64> = BTreeMap::new();
                    for r in reasons {
                        *counted.entry(r).or_default() += 1;
                    }
                    (vec![], counted.into_iter().collect())
                }
                Expect::Nothing => (vec![], vec![]),
            };
        let want_rejected: BTreeMap<&str, u64> = want_rejected
            .iter()
            .map(|(r, n)| (r.as_str(), *n))
            .collect();
        assert_eq!(
            got,
            comparable(want_points),
            "case {number}: {:?}",
            String::from_utf8_lossy(&input)
        );
        assert_eq!(rejected, want_rejected, "case {number}: rejections");
    }
}

#[test]
fn bare_tags_with_simple_tags() {
    let mut harness = Harness::new(config("enable_simple_tags: true"));
    harness.send(b"foo:100|c|#tag_without_a_value\nbar:1|c|#tag_without_a_value,tag:value");
    assert_eq!(
        comparable(harness.flush()),
        comparable(vec![
            point(
                "bar",
                &[("tag", "value"), ("tag_without_a_value", "")],
                sum(1.0)
            ),
            point("foo", &[("tag_without_a_value", "")], sum(100.0)),
        ])
    );
    assert_eq!(harness.invalid_total(), 0);
}

/// Cases 29-34 with `tag_dialects: false`: names are kept verbatim, as the
/// OpenTelemetry Collector keeps them, and nothing is mixed.
#[test]
fn tag_dialects_off_keeps_names_verbatim() {
    let t12 = [("tag1", "bar"), ("tag2", "baz")];
    let cases = numbered_cases();
    for (number, name, tags) in [
        (29, "foo#tag1=bar,tag2=baz", &[][..]),
        (30, "foo,tag1=bar,tag2=baz", &[]),
        (31, "foo.[tag1=bar,tag2=baz]test", &[]),
        (32, "foo.[]test", &[]),
        (33, "[tag1=bar,tag2=bazfoo.test", &[]),
        (34, "foo#tag1=foo,tag3=bing", &t12),
    ] {
        let input = &cases.iter().find(|c| c.0 == number).expect("case").1;
        let mut harness = Harness::new(config("tag_dialects: false"));
        harness.send(input);
        assert_eq!(
            comparable(harness.flush()),
            comparable(vec![point(name, tags, sum(100.0))]),
            "case {number}"
        );
        assert_eq!(harness.invalid_total(), 0, "case {number}");
    }
}

/// Dialect edge cases where statsd_exporter only counts a tag error, and what we do.
#[test]
fn tag_dialect_edge_cases() {
    let mut harness = Harness::new(config("{}"));
    // Two groups: only the first is tags; an empty value is kept (as `|#k:` is);
    // several entries with one key keep the first in sorted order.
    harness.send(b"a.[x=1]b.[y=2]c:1|c\nb#k=:1|c\nc,k=2,k=1,,:1|c\nd.[]e:1|c|#k:v\ne]f[g=1]:1|c");
    assert_eq!(
        comparable(harness.flush()),
        comparable(vec![
            point("a.b.[y=2]c", &[("x", "1")], sum(1.0)),
            point("b", &[("k", "")], sum(1.0)),
            point("c", &[("k", "1")], sum(1.0)),
            point("d.e", &[("k", "v")], sum(1.0)),
            point("e]f[g=1]", &[], sum(1.0)),
        ])
    );
    assert_eq!(harness.invalid_total(), 0);
    // A tag without `=` needs `enable_simple_tags`; a tag without a key and a name that
    // is only a tag list are rejected.
    let mut harness = Harness::new(config("{}"));
    harness.send(b"a#bare:1|c\nb,=v:1|c\n[k=v]:1|c\n#k=v:1|c");
    assert!(harness.flush().is_empty());
    assert_eq!(harness.invalid(Reason::BadTag), 2);
    assert_eq!(harness.invalid(Reason::EmptyName), 2);
    let mut harness = Harness::new(config("enable_simple_tags: true"));
    harness.send(b"a#bare,k=v:1|c");
    assert_eq!(
        comparable(harness.flush()),
        comparable(vec![point("a", &[("bare", ""), ("k", "v")], sum(1.0))])
    );
}

#[test]
fn timestamp_sets_point_time() {
    let mut harness = Harness::new(config("{}"));
    harness.send(b"page.views:15|c|#env:dev|T1656581400");
    let points = harness.flush();
    assert_eq!(points[0].time_ns, 1_656_581_400_000_000_000);
    assert!(points[0].start_ns <= points[0].time_ns);
}

#[test]
fn escape_table_names_stay_verbatim() {
    let names = escape_table_names();
    assert_eq!(names.len(), 8, "{names:?}");
    for name in names {
        let mut harness = Harness::new(config("{}"));
        harness.send(format!("{name}:1|c").as_bytes());
        let points = harness.flush();
        assert_eq!(points.len(), 1, "{name}");
        assert_eq!(points[0].name, name);
    }
}

#[test]
fn exporter_level_behaviours() {
    // TestNegativeCounter: cumulative counters refuse negative increments.
    let mut harness = Harness::new(config("is_monotonic_counter: true"));
    harness.send(b"c:5|c\nc:-3|c");
    assert_eq!(harness.flush()[0].value, Value::Sum(5.0));
    assert_eq!(harness.invalid(Reason::NegativeCounter), 1);
    // TestConflictingMetrics: one name as counter and gauge stays two series (types are
    // part of the key), never mixed into one.
    let mut harness = Harness::new(config("{}"));
    harness.send(b"x:1|c\nx:7|g");
    let values: Vec<Value> = harness.flush().into_iter().map(|p| p.value).collect();
    assert!(values.contains(&Value::Sum(1.0)) && values.contains(&Value::Gauge(7.0)));
    // TestInconsistentLabelSets and increment tests.
    let mut harness = Harness::new(config("{}"));
    harness.send(b"y:1|c|#a:1\ny:2|c|#b:2\ny:3|c|#a:1\ng:1|g\ng:+2|g");
    let got = comparable(harness.flush());
    assert_eq!(
        got,
        comparable(vec![
            point("g", &[], gauge(3.0)),
            point("y", &[("a", "1")], sum(4.0)),
            point("y", &[("b", "2")], sum(2.0)),
        ])
    );
}
