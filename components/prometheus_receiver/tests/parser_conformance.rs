//! The parser against the external conformance material vendored in
//! `tests/conformance`: the official OpenMetrics parser suite (every case accepted or
//! rejected as its test.json says) and prometheus/common's text-format corpus (valid and
//! invalid inputs named as such), plus the large real-world expositions.

#![allow(clippy::unwrap_used)] // test helpers, like the tests themselves, may panic

use std::path::{Path, PathBuf};

use weir_prometheus_receiver::parser::{parse_all, Format, Parser};

fn conformance() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

fn parses(format: Format, strict: bool, body: &[u8]) -> Result<usize, String> {
    let mut parser = if strict {
        Parser::strict(format)
    } else {
        Parser::new(format)
    };
    parse_all(&mut parser, body, |_| {}).map_err(|e| e.to_string())
}

#[test]
fn openmetrics_parser_suite() {
    let dir = conformance().join("openmetrics/parsers");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("conformance dir")
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 211, "expected the 211 official cases");
    let mut failures = Vec::new();
    for case in &cases {
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case.join("test.json")).unwrap()).unwrap();
        let should_parse = spec["shouldParse"].as_bool().unwrap();
        let body = std::fs::read(case.join(spec["file"].as_str().unwrap())).unwrap();
        let result = parses(Format::OpenMetrics, true, &body);
        if result.is_ok() != should_parse {
            failures.push(format!(
                "{}: expected {}, got {:?}",
                case.file_name().unwrap().to_string_lossy(),
                if should_parse { "accept" } else { "reject" },
                result
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The lenient (scrape) level accepts every case the suite accepts.
#[test]
fn lenient_openmetrics_accepts_all_valid_cases() {
    let dir = conformance().join("openmetrics/parsers");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case.join("test.json")).unwrap()).unwrap();
        if spec["shouldParse"].as_bool().unwrap() {
            let body = std::fs::read(case.join("metrics")).unwrap();
            parses(Format::OpenMetrics, false, &body)
                .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        }
    }
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(
        conformance()
            .join("prometheus_text/prometheus_common/expfmt/fuzz/corpus")
            .join(name),
    )
    .unwrap()
}

#[test]
fn text_corpus_valid_inputs_parse() {
    for n in 0..=4 {
        let name = format!("from_test_parse_{n}");
        parses(Format::PrometheusText, false, &corpus(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(
        parses(Format::PrometheusText, false, &corpus("minimal")),
        Ok(1)
    );
}

#[test]
fn text_corpus_invalid_inputs_fail() {
    for n in 0..=19 {
        let name = format!("from_test_parse_error_{n}");
        let result = parses(Format::PrometheusText, false, &corpus(&name));
        assert!(
            result.is_err(),
            "{name} should be rejected: {:?}",
            String::from_utf8_lossy(&corpus(&name))
        );
    }
}

#[test]
fn text_corpus_sample_values() {
    let mut seen = Vec::new();
    let mut parser = Parser::new(Format::PrometheusText);
    parse_all(&mut parser, &corpus("from_test_parse_2"), |s| {
        seen.push((
            s.name.to_string(),
            s.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            s.value,
            s.timestamp_ms,
        ));
    })
    .unwrap();
    assert_eq!(
        seen[1],
        (
            "name".into(),
            "labelname=val2,basename=base\"v\\al\nue".into(),
            0.23,
            Some(1234567890)
        )
    );
    assert_eq!(seen[2].2, f64::INFINITY);
    assert_eq!(seen[3].1, "labelname=val1");
}

#[test]
fn large_expositions_parse() {
    let base = conformance().join("prometheus_text");
    for (path, format, expected_samples) in [
        (
            "prometheus_common/expfmt/testdata/text",
            Format::PrometheusText,
            None,
        ),
        (
            "prometheus_textparse/alltypes.237mfs.prom.txt",
            Format::PrometheusText,
            None,
        ),
        (
            "prometheus_textparse/alltypes.237mfs.nometa.prom.txt",
            Format::PrometheusText,
            None,
        ),
        (
            "prometheus_textparse/alltypes.5mfs.om.txt",
            Format::OpenMetrics,
            None,
        ),
        (
            "prometheus_textparse/1histogram.om.txt",
            Format::OpenMetrics,
            None,
        ),
    ] {
        let body = std::fs::read(base.join(path)).unwrap();
        let lines = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
            .count();
        let samples = parses(format, false, &body).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(samples, expected_samples.unwrap_or(lines), "{path}");
    }
}
