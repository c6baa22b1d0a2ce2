//! Property tests of the line parser, kept brief (a capped number of cases) so they run
//! in the normal test command: arbitrary bytes never panic the parser or the
//! aggregator, and every well-formed line parses back to what it was built from.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use proptest::prelude::*;
use weir_statsd_receiver::line::{
    parse_line, parse_line_bytes, tags, Line, MetricType, ParseOptions,
};

mod common;

const CASES: u32 = 2000;

fn kind() -> impl Strategy<Value = MetricType> {
    prop_oneof![
        Just(MetricType::Counter),
        Just(MetricType::Gauge),
        Just(MetricType::Timer),
        Just(MetricType::Histogram),
        Just(MetricType::Distribution),
        Just(MetricType::Set),
    ]
}

prop_compose! {
    fn metric_line()(
        name in "[a-zA-Z_][a-zA-Z0-9_.\\-]{0,30}",
        kind in kind(),
        values in prop::collection::vec(-1.0e6f64..1.0e6, 1..4),
        member in "[a-z0-9]{1,8}",
        rate in prop::option::of(prop_oneof![Just(1.0), Just(0.5), Just(0.25), Just(0.1)]),
        tag_list in prop::collection::vec(("[a-z][a-z0-9_]{0,8}", "[a-zA-Z0-9_.:/\\-]{0,10}"), 0..4),
        container in prop::option::of("[a-f0-9]{4,16}"),
        timestamp in prop::option::of(1_000_000_000u64..2_000_000_000),
    ) -> (String, String, MetricType, Vec<f64>, String, Option<f64>, Vec<(String, String)>, Option<String>, Option<u64>) {
        let mut line = format!("{name}:");
        let value_text = if kind == MetricType::Set {
            member.clone()
        } else {
            values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(":")
        };
        line.push_str(&value_text);
        line.push('|');
        line.push_str(kind.symbol());
        if let Some(rate) = rate {
            line.push_str(&format!("|@{rate}"));
        }
        if !tag_list.is_empty() {
            let joined: Vec<String> = tag_list.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            line.push_str(&format!("|#{}", joined.join(",")));
        }
        if let Some(id) = &container {
            line.push_str(&format!("|c:{id}"));
        }
        if let Some(ts) = timestamp {
            line.push_str(&format!("|T{ts}"));
        }
        (line, name, kind, values, member, rate, tag_list, container, timestamp)
    }
}

prop_compose! {
    /// A counter line with tags in one of the name dialects: (line, name, tags).
    fn dialect_line()(
        head in "[a-z][a-z0-9_.]{0,10}",
        tail in "[a-z0-9_.]{0,10}",
        dialect in 0..3u8,
        tag_list in prop::collection::vec(("[a-z][a-z0-9_]{0,8}", "[a-zA-Z0-9_./=\\-]{0,10}"), 0..4),
    ) -> (String, String, Vec<(String, String)>) {
        let joined: Vec<String> = tag_list.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let joined = joined.join(",");
        let (line, name) = match dialect {
            0 => (format!("{head}#{joined}:1|c"), head),
            1 => (format!("{head},{joined}:1|c"), head),
            _ => (format!("{head}[{joined}]{tail}:1|c"), format!("{head}{tail}")),
        };
        (line, name, tag_list)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let options = ParseOptions { simple_tags: true, reject_negative_counters: true, tag_dialects: true };
        let _ = parse_line_bytes(&bytes, &options);
        let _ = parse_line_bytes(&bytes, &ParseOptions::default());
        let _ = parse_line_bytes(&bytes, &ParseOptions { tag_dialects: false, ..Default::default() });
    }

    #[test]
    fn statsd_shaped_text_never_panics(text in "[a-z:|@#,.0-9\\-+ETc_e{}s=\\[\\]]{0,80}") {
        let _ = parse_line(&text, &ParseOptions { simple_tags: true, ..Default::default() });
        let mut harness = common::Harness::new(common::config("enable_simple_tags: true"));
        harness.send(text.as_bytes());
        harness.send(format!("{text}\n{text}|#a:b\n_e{{1,1}}:{text}").as_bytes());
        let _ = harness.flush();
    }

    #[test]
    fn valid_lines_round_trip(case in metric_line()) {
        let (line, name, kind, values, member, rate, tag_list, container, timestamp) = case;
        let parsed = parse_line(&line, &ParseOptions::default());
        let Ok(Some(Line::Metric(m))) = parsed else {
            panic!("{line:?} gave {parsed:?}");
        };
        prop_assert_eq!(m.name, name.as_str());
        prop_assert_eq!(m.kind, kind);
        prop_assert_eq!(m.sample_rate, rate.unwrap_or(1.0));
        if kind == MetricType::Set {
            prop_assert_eq!(m.set_member(), member.as_str());
        } else {
            let parsed: Vec<f64> = m.values().map(|v| v.number).collect();
            prop_assert_eq!(parsed, values);
        }
        let parsed_tags: Vec<(String, String)> =
            tags(m.raw_tags).map(|t| (t.key.to_string(), t.value.to_string())).collect();
        prop_assert_eq!(parsed_tags, tag_list);
        prop_assert_eq!(m.container_id, container.as_deref().unwrap_or(""));
        prop_assert_eq!(m.timestamp, timestamp);
    }

    #[test]
    fn dialect_lines_round_trip(case in dialect_line()) {
        let (line, name, tag_list) = case;
        let parsed = parse_line(&line, &ParseOptions::default());
        let Ok(Some(Line::Metric(m))) = parsed else {
            panic!("{line:?} gave {parsed:?}");
        };
        prop_assert_eq!(m.name_parts().concat(), name);
        let parsed_tags: Vec<(String, String)> =
            m.tags().map(|t| (t.key.to_string(), t.value.to_string())).collect();
        prop_assert_eq!(parsed_tags, tag_list);
        // The same line with DogStatsD tags added mixes two styles when the name has any.
        let with_dogstatsd_tags = format!("{line}|#a:b");
        let mixed = parse_line(&with_dogstatsd_tags, &ParseOptions::default());
        if m.raw_tags.is_empty() {
            prop_assert!(mixed.is_ok());
        } else {
            prop_assert_eq!(mixed, Err(weir_statsd_receiver::reason::Reason::MixedTagStyles));
        }
    }
}
