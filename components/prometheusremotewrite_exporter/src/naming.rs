//! OTLP metric, unit and attribute names to Prometheus metric and label names.
//!
//! Prometheus and the Collector both use prometheus/otlptranslator for this, so its
//! behaviour is the reference: the test vectors in
//! `tests/conformance/otel_to_prometheus` were extracted from its tests and all pass
//! here (see the tests at the bottom). The rules, briefly:
//! - escaping modes replace characters outside `[a-zA-Z0-9:_]` (metrics) or
//!   `[a-zA-Z0-9_]` (labels) with `_` and collapse runs of `_`;
//! - with suffixes, the unit becomes a word suffix (`ms` -> `milliseconds`,
//!   `By/s` -> `bytes_per_second`, `{packet}` dropped), monotonic counters end in
//!   `_total`, unit-`1` gauges in `_ratio`;
//! - UTF-8 modes keep names as they are and only append suffixes.

use std::fmt;

/// How names are translated: the `translation_strategy` values Prometheus uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    UnderscoreEscapingWithSuffixes,
    UnderscoreEscapingWithoutSuffixes,
    NoUtf8EscapingWithSuffixes,
    NoTranslation,
}

impl Strategy {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "UnderscoreEscapingWithSuffixes" => Self::UnderscoreEscapingWithSuffixes,
            "UnderscoreEscapingWithoutSuffixes" => Self::UnderscoreEscapingWithoutSuffixes,
            "NoUTF8EscapingWithSuffixes" => Self::NoUtf8EscapingWithSuffixes,
            "NoTranslation" => Self::NoTranslation,
            _ => return None,
        })
    }

    pub const NAMES: &'static [&'static str] = &[
        "UnderscoreEscapingWithSuffixes",
        "UnderscoreEscapingWithoutSuffixes",
        "NoUTF8EscapingWithSuffixes",
        "NoTranslation",
    ];

    pub fn adds_suffixes(self) -> bool {
        matches!(
            self,
            Self::UnderscoreEscapingWithSuffixes | Self::NoUtf8EscapingWithSuffixes
        )
    }

    pub fn escapes(self) -> bool {
        matches!(
            self,
            Self::UnderscoreEscapingWithSuffixes | Self::UnderscoreEscapingWithoutSuffixes
        )
    }
}

/// What kind of Prometheus metric an OTLP metric becomes; decides the type suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    MonotonicCounter,
    NonMonotonicCounter,
    Histogram,
    ExponentialHistogram,
    Summary,
    Unknown,
}

/// A name that normalises to nothing usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError(pub String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds metric names for one namespace and strategy.
#[derive(Clone, Debug)]
pub struct MetricNamer {
    pub namespace: String,
    pub with_suffixes: bool,
    pub utf8_allowed: bool,
}

impl MetricNamer {
    pub fn new(namespace: &str, strategy: Strategy) -> Self {
        Self {
            namespace: namespace.to_string(),
            with_suffixes: strategy.adds_suffixes(),
            utf8_allowed: !strategy.escapes(),
        }
    }

    pub fn build(&self, name: &str, unit: &str, kind: MetricKind) -> Result<String, NameError> {
        if self.utf8_allowed {
            return self.build_utf8(name, unit, kind);
        }
        let built = if self.with_suffixes {
            self.build_escaped_with_suffixes(name, unit, kind)
        } else {
            self.build_escaped(name)
        };
        if built.is_empty() {
            return Err(NameError(format!(
                "normalization for metric {name:?} resulted in empty name"
            )));
        }
        if built != name && built.chars().all(|c| c == '_') {
            return Err(NameError(format!(
                "normalization for metric {name:?} resulted in invalid name {built:?}"
            )));
        }
        Ok(built)
    }

    /// Escaping without suffixes: invalid characters split the name into words joined by
    /// `_`; `_` itself is kept as is.
    fn build_escaped(&self, name: &str) -> String {
        let words = |text: &str| {
            text.split(|c: char| !is_metric_char_or_underscore(c))
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("_")
        };
        let metric = words(name);
        if !self.namespace.is_empty() {
            return format!("{}_{}", words(&self.namespace), metric);
        }
        if metric.starts_with(|c: char| c.is_ascii_digit()) {
            return format!("_{metric}");
        }
        metric
    }

    fn build_escaped_with_suffixes(&self, name: &str, unit: &str, kind: MetricKind) -> String {
        // `_` is a separator here, which collapses runs of underscores.
        let mut tokens: Vec<String> = split_tokens(name);
        let (main, per) = unit_suffixes(unit);
        add_unit_tokens(&mut tokens, clean_up_unit(&main), clean_up_unit(&per));
        if kind == MetricKind::MonotonicCounter {
            tokens.retain(|t| t != "total");
            tokens.push("total".into());
        }
        if unit == "1" && kind == MetricKind::Gauge {
            tokens.retain(|t| t != "ratio");
            tokens.push("ratio".into());
        }
        if !self.namespace.is_empty() {
            // Unlike otlptranslator, the namespace is escaped too, so an odd namespace
            // cannot produce an invalid metric name.
            let mut with_namespace = split_tokens(&self.namespace);
            with_namespace.extend(tokens);
            tokens = with_namespace;
        }
        let joined = tokens.join("_");
        if joined.starts_with(|c: char| c.is_ascii_digit()) {
            return format!("_{joined}");
        }
        joined
    }

    fn build_utf8(&self, name: &str, unit: &str, kind: MetricKind) -> Result<String, NameError> {
        let mut built = if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}_{}", self.namespace, name)
        };
        if built.is_empty() {
            return Err(NameError(format!("metric name {name:?} is empty")));
        }
        if !self.with_suffixes {
            return Ok(built);
        }
        // Suffixes are appended innermost first: unit, per-unit, `_total`, `_ratio`.
        let ratio = unit == "1" && kind == MetricKind::Gauge;
        let total = kind == MetricKind::MonotonicCounter;
        if ratio {
            built = trim_suffix_and_delimiter(&built, "ratio");
        }
        if total {
            built = trim_suffix_and_delimiter(&built, "total");
        }
        let (main, per) = unit_suffixes(unit);
        if !per.is_empty() {
            built = trim_suffix_and_delimiter(&built, &per);
        }
        if !main.is_empty() && !built.ends_with(&main) {
            built = format!("{built}_{main}");
        }
        if !per.is_empty() {
            built = format!("{built}_{per}");
        }
        if total {
            built.push_str("_total");
        }
        if ratio {
            built.push_str("_ratio");
        }
        Ok(built)
    }
}

/// The unit as Prometheus writes it in metadata (`UNIT`): `By/s` -> `bytes_per_second`.
pub fn unit_name(unit: &str, utf8_allowed: bool) -> String {
    let (mut main, mut per) = unit_suffixes(unit);
    if !utf8_allowed {
        main = clean_up_unit(&main);
        per = clean_up_unit(&per);
    }
    let joined = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    let trimmed = joined.strip_prefix('_').unwrap_or(&joined);
    trimmed.strip_suffix('_').unwrap_or(trimmed).to_string()
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

fn is_metric_char_or_underscore(c: char) -> bool {
    is_metric_char(c) || c == '_'
}

fn split_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !is_metric_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn trim_suffix_and_delimiter(name: &str, suffix: &str) -> String {
    if name.ends_with(suffix) && name.len() > suffix.len() + 1 {
        name[..name.len() - suffix.len() - 1].to_string()
    } else {
        name.to_string()
    }
}

/// Splits `main/per` and maps each part to its word; parts in `{}` are annotations and
/// dropped. The per part comes back as `per_<word>`.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main_part, per_part) = match unit.split_once('/') {
        Some((main, per)) => (main, Some(per)),
        None => (unit, None),
    };
    let mut main = String::new();
    let main_part = main_part.trim();
    if !main_part.is_empty() && !main_part.contains(['{', '}']) {
        main = unit_word(main_part).unwrap_or(main_part).to_string();
    }
    let mut per = String::new();
    if let Some(per_part) = per_part {
        let per_part = per_part.trim();
        if !per_part.is_empty() && !per_part.contains(['{', '}']) {
            per = format!("per_{}", per_unit_word(per_part).unwrap_or(per_part));
        }
    }
    (main, per)
}

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Invalid characters to `_`, runs of `_` collapsed, one leading `_` removed.
fn clean_up_unit(unit: &str) -> String {
    let replaced: String = unit
        .chars()
        .map(|c| if is_metric_char(c) { c } else { '_' })
        .collect();
    let collapsed = collapse_underscores(&replaced);
    collapsed
        .strip_prefix('_')
        .unwrap_or(&collapsed)
        .to_string()
}

fn collapse_underscores(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

fn add_unit_tokens(tokens: &mut Vec<String>, mut main: String, per: String) {
    if tokens.contains(&main) {
        main.clear();
    }
    let mut per = if per == "per_" {
        String::new()
    } else {
        per.strip_suffix('_').unwrap_or(&per).to_string()
    };
    if tokens.contains(&per) {
        per.clear();
    }
    if !per.is_empty() {
        main = main.strip_suffix('_').unwrap_or(&main).to_string();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
}

/// Builds label names from attribute keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct LabelNamer {
    pub utf8_allowed: bool,
    /// Prefix `key` to names that start with a single `_`.
    pub underscore_sanitization: bool,
    /// Keep runs of `_` instead of collapsing them.
    pub preserve_multiple_underscores: bool,
}

impl LabelNamer {
    /// Whether [`Self::build`] gives `key` back unchanged, decided without allocating:
    /// the usual case of attributes that were Prometheus labels to begin with.
    pub fn keeps(&self, key: &str) -> bool {
        let bytes = key.as_bytes();
        if !bytes.first().is_some_and(u8::is_ascii_alphabetic) {
            return false;
        }
        self.utf8_allowed
            || (bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
                && (self.preserve_multiple_underscores || !key.contains("__")))
    }

    pub fn build(&self, key: &str) -> Result<String, NameError> {
        if key.is_empty() {
            return Err(NameError("label name is empty".into()));
        }
        if self.utf8_allowed {
            if key.chars().all(|c| c == '_') {
                return Err(NameError(format!(
                    "label name {key:?} contains only underscores"
                )));
            }
            return Ok(key.to_string());
        }
        let mut name = self.sanitize(key);
        // Checked before any `key` prefix: a name made only of underscores carries no
        // information, and `key_` in front of it would hide that.
        if name.chars().all(|c| c == '_') {
            return Err(NameError(format!(
                "normalization for label name {key:?} resulted in invalid name {name:?}"
            )));
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            name = format!("key_{name}");
        } else if self.underscore_sanitization && name.starts_with('_') && !name.starts_with("__") {
            name = format!("key{name}");
        }
        Ok(name)
    }

    fn sanitize(&self, key: &str) -> String {
        let replace = |c: char| if c.is_ascii_alphanumeric() { c } else { '_' };
        if self.preserve_multiple_underscores {
            return key.chars().map(replace).collect();
        }
        // A reserved name (`__x__`) keeps its double-underscore affixes.
        let reserved = key.len() >= 4 && key.starts_with("__") && key.ends_with("__");
        let inner = if reserved {
            &key[2..key.len() - 2]
        } else {
            key
        };
        let collapsed = collapse_underscores(&inner.chars().map(replace).collect::<String>());
        if reserved {
            format!("__{collapsed}__")
        } else {
            collapsed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;
    use std::path::PathBuf;

    #[test]
    fn a_kept_label_name_is_exactly_what_build_returns() {
        let keys = [
            "cpu",
            "mode",
            "http_method",
            "http.method",
            "a__b",
            "_x",
            "__x__",
            "9lives",
            "x9",
            "Ünïcode",
            "a-b",
            "A",
            "a_",
            "z__",
            "",
            "_",
            "__",
            "le",
            "key_1",
        ];
        let mut kept = 0;
        for utf8_allowed in [false, true] {
            for underscore_sanitization in [false, true] {
                for preserve_multiple_underscores in [false, true] {
                    let namer = LabelNamer {
                        utf8_allowed,
                        underscore_sanitization,
                        preserve_multiple_underscores,
                    };
                    for key in keys {
                        if namer.keeps(key) {
                            kept += 1;
                            assert_eq!(
                                namer.build(key).ok().as_deref(),
                                Some(key),
                                "{namer:?} {key}"
                            );
                        }
                    }
                }
            }
        }
        assert!(kept > 40, "the fast check keeps the plain names ({kept})");
    }

    fn vectors(file: &str) -> Json {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/conformance/otel_to_prometheus")
            .join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn kind(name: &str) -> MetricKind {
        match name {
            "Gauge" => MetricKind::Gauge,
            "MonotonicCounter" => MetricKind::MonotonicCounter,
            "NonMonotonicCounter" => MetricKind::NonMonotonicCounter,
            "Histogram" => MetricKind::Histogram,
            "ExponentialHistogram" => MetricKind::ExponentialHistogram,
            "Summary" => MetricKind::Summary,
            "Unknown" => MetricKind::Unknown,
            other => panic!("unknown type {other}"),
        }
    }

    #[test]
    fn every_metric_name_vector_passes() {
        let data = vectors("metric_names.json");
        let cases = data["cases"].as_array().unwrap();
        assert!(cases.len() >= 84, "expected the 84 upstream cases");
        for case in cases {
            let namer = MetricNamer {
                namespace: case["namespace"].as_str().unwrap().to_string(),
                with_suffixes: case["with_suffixes"].as_bool().unwrap(),
                utf8_allowed: case["utf8_allowed"].as_bool().unwrap(),
            };
            let input = &case["input"];
            let unit = input["unit"].as_str().unwrap();
            let got = namer.build(
                input["name"].as_str().unwrap(),
                unit,
                kind(input["type"].as_str().unwrap()),
            );
            let title = case["name"].as_str().unwrap();
            if case["want_error"].is_null() {
                assert_eq!(
                    got.as_deref().ok(),
                    case["want_name"].as_str(),
                    "case {title:?}: {got:?}"
                );
                assert_eq!(
                    unit_name(unit, namer.utf8_allowed),
                    case["want_unit_suffix"].as_str().unwrap(),
                    "unit of case {title:?}"
                );
            } else {
                assert!(got.is_err(), "case {title:?} must be rejected, got {got:?}");
            }
        }
    }

    #[test]
    fn every_label_name_vector_passes() {
        let data = vectors("label_names.json");
        let modes: [(&str, LabelNamer); 5] = [
            ("default", LabelNamer::default()),
            (
                "underscore_label_sanitization",
                LabelNamer {
                    underscore_sanitization: true,
                    ..Default::default()
                },
            ),
            (
                "preserve_multiple_underscores",
                LabelNamer {
                    preserve_multiple_underscores: true,
                    ..Default::default()
                },
            ),
            (
                "preserve_multiple_underscores+underscore_label_sanitization",
                LabelNamer {
                    preserve_multiple_underscores: true,
                    underscore_sanitization: true,
                    ..Default::default()
                },
            ),
            (
                "utf8_allowed",
                LabelNamer {
                    utf8_allowed: true,
                    ..Default::default()
                },
            ),
        ];
        let mut checked = 0;
        for case in data["cases"].as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            for (mode, namer) in &modes {
                let got = namer.build(input);
                match &case[*mode] {
                    Json::String(want) => {
                        assert_eq!(got.as_deref(), Ok(want.as_str()), "{input:?} in {mode}")
                    }
                    _ => assert!(got.is_err(), "{input:?} in {mode} must fail, got {got:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 80);
    }
}
