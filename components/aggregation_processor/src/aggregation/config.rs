//! The `aggregation` section. Its shape is fixed by issue 16 (extend, do not rename):
//!
//! ```yaml
//! aggregation:
//!   rules:
//!     - match: [http.server.requests, '/^rpc\..*/']   # names, /regex/, or OTTL conditions
//!       by: [service.name, http.route]                  # or without: [...]
//!       interval: 30s
//!       dedup_interval: 5s                              # optional
//!       outputs: [total, histogram]
//!       keep_input: false
//!       output_name: http_requests_by_route             # optional
//!   max_output_series: 100000
//!   staleness_interval: 5m
//! ```

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use weir_api::config::{problem, problem_with_suggestion};
use weir_api::ComponentProblem;
use weir_ottl::{Condition, Context};

/// `match`: one string or a list.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum MatchList {
    One(String),
    Many(Vec<String>),
}

impl MatchList {
    pub fn items(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(rename = "match")]
    pub match_: MatchList,
    #[serde(default)]
    pub by: Option<Vec<String>>,
    #[serde(default)]
    pub without: Option<Vec<String>>,
    /// Kept as written: it is part of the output names (`:30s_`).
    pub interval: String,
    #[serde(default)]
    pub dedup_interval: Option<String>,
    pub outputs: Vec<String>,
    #[serde(default)]
    pub keep_input: bool,
    #[serde(default)]
    pub output_name: Option<String>,
}

/// The `aggregation` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregationConfig {
    pub rules: Vec<RuleConfig>,
    /// At most this many output series at once; a new one beyond is refused and its
    /// points counted (`output_series_limit`).
    pub max_output_series: usize,
    /// A series (input or output) without a point for this long stops contributing.
    #[serde(with = "weir_api::duration")]
    pub staleness_interval: Duration,
    /// Weir's bound on the input series whose previous value is kept (for counters and
    /// cumulative histograms); 0 means ten times `max_output_series`.
    pub max_input_series: usize,
}

impl Default for AggregationConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            max_output_series: 100_000,
            staleness_interval: Duration::from_secs(300),
            max_input_series: 0,
        }
    }
}

/// One output of a rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Running sum of the inputs' increases: a cumulative counter.
    Total,
    /// The inputs' increases within the interval.
    Increase,
    Sum,
    Count,
    Last,
    Min,
    Max,
    Avg,
    /// Merged histograms, cumulative.
    Histogram,
    /// Quantiles of the interval's merged histograms (or of its sample values).
    Quantiles(Vec<f64>),
}

pub const OUTPUT_NAMES: &str =
    "total, increase, sum, count, last, min, max, avg, histogram, quantiles(0.5, 0.99, ...)";

impl Output {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        Ok(match text {
            "total" => Self::Total,
            "increase" => Self::Increase,
            "sum" => Self::Sum,
            "count" => Self::Count,
            "last" => Self::Last,
            "min" => Self::Min,
            "max" => Self::Max,
            "avg" => Self::Avg,
            "histogram" => Self::Histogram,
            _ => {
                let Some(inner) = text
                    .strip_prefix("quantiles(")
                    .and_then(|t| t.strip_suffix(')'))
                else {
                    return Err(format!("unknown output `{text}`"));
                };
                let mut qs = Vec::new();
                for part in inner.split(',') {
                    let q: f64 = part
                        .trim()
                        .parse()
                        .map_err(|_| format!("`{}` is not a number", part.trim()))?;
                    if !(0.0..=1.0).contains(&q) {
                        return Err(format!("quantile {q} is outside 0..1"));
                    }
                    qs.push(q);
                }
                if qs.is_empty() {
                    return Err("quantiles() needs at least one quantile".into());
                }
                Self::Quantiles(qs)
            }
        })
    }

    /// The suffix in output names (vmagent's).
    pub fn suffix(&self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Increase => "increase",
            Self::Sum => "sum",
            Self::Count => "count",
            Self::Last => "last",
            Self::Min => "min",
            Self::Max => "max",
            Self::Avg => "avg",
            Self::Histogram => "histogram",
            Self::Quantiles(_) => "quantiles",
        }
    }
}

/// One `match` entry.
#[derive(Clone, Debug)]
pub enum Matcher {
    Name(String),
    Regex(Regex),
    Condition(Condition),
}

/// Whether a string is a plain metric name (no OTTL operators or spaces).
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '/'))
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() >= 2 && text.starts_with('/') && text.ends_with('/') {
            let pattern = &text[1..text.len() - 1];
            return Regex::new(&format!("^(?:{pattern})$"))
                .map(Self::Regex)
                .map_err(|e| format!("invalid regular expression: {e}"));
        }
        if is_name(text) {
            return Ok(Self::Name(text.to_string()));
        }
        Condition::compile(text, Context::DataPoint)
            .map(Self::Condition)
            .map_err(|e| format!("not a metric name, /regex/ or OTTL condition: {e}"))
    }
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    weir_api::duration::parse(text)
}

impl weir_api::config::Validate for AggregationConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut out = Vec::new();
        if self.rules.is_empty() {
            out.push(problem_with_suggestion(
                &["rules"],
                "at least one rule is needed",
                "add a rule with match, by, interval and outputs",
            ));
        }
        if self.max_output_series == 0 {
            out.push(problem(
                &["max_output_series"],
                "max_output_series must be greater than 0",
            ));
        }
        if self.staleness_interval.is_zero() {
            out.push(problem(
                &["staleness_interval"],
                "staleness_interval must be greater than 0",
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let index = i.to_string();
            let at = |key: &str| vec!["rules".to_string(), index.clone(), key.to_string()];
            let mut push = |path: Vec<String>, message: String| {
                out.push(ComponentProblem {
                    path,
                    message,
                    suggestion: None,
                });
            };
            if rule.match_.items().is_empty() {
                push(
                    at("match"),
                    "match needs at least one name, /regex/ or condition".into(),
                );
            }
            for (j, m) in rule.match_.items().iter().enumerate() {
                if let Err(e) = Matcher::parse(m) {
                    let mut path = at("match");
                    path.push(j.to_string());
                    push(path, e);
                }
            }
            if rule.by.is_some() && rule.without.is_some() {
                push(
                    at("without"),
                    "by and without exclude each other: set one".into(),
                );
            }
            match parse_duration(&rule.interval) {
                Ok(d) if d.is_zero() => {
                    push(at("interval"), "interval must be greater than 0".into())
                }
                Ok(d) => {
                    if let Some(dedup) = &rule.dedup_interval {
                        match parse_duration(dedup) {
                            Ok(x) if x.is_zero() || x > d || d.as_nanos() % x.as_nanos() != 0 => {
                                push(
                                    at("dedup_interval"),
                                    format!(
                                        "dedup_interval must be greater than 0 and divide interval ({})",
                                        rule.interval
                                    ),
                                );
                            }
                            Ok(_) => {}
                            Err(e) => push(at("dedup_interval"), e),
                        }
                    }
                    if self.staleness_interval < d {
                        push(
                            at("interval"),
                            "interval must not be longer than staleness_interval".into(),
                        );
                    }
                }
                Err(e) => push(at("interval"), e),
            }
            if rule.outputs.is_empty() {
                push(
                    at("outputs"),
                    format!("at least one output is needed: {OUTPUT_NAMES}"),
                );
            }
            for (j, o) in rule.outputs.iter().enumerate() {
                if let Err(e) = Output::parse(o) {
                    let mut path = at("outputs");
                    path.push(j.to_string());
                    push(path, format!("{e} (outputs: {OUTPUT_NAMES})"));
                }
            }
            if let Some(name) = &rule.output_name {
                if name.is_empty() {
                    push(at("output_name"), "output_name must not be empty".into());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_and_refuse() {
        assert_eq!(
            Output::parse("quantiles(0.5, 0.99)"),
            Ok(Output::Quantiles(vec![0.5, 0.99]))
        );
        assert!(Output::parse("quantiles(2)").is_err());
        assert!(Output::parse("rate").is_err());
    }

    #[test]
    fn matchers_are_names_regexes_or_conditions() {
        assert!(matches!(
            Matcher::parse("http.server.requests"),
            Ok(Matcher::Name(_))
        ));
        let Ok(Matcher::Regex(r)) = Matcher::parse("/^rpc\\..*/") else {
            panic!("a regex")
        };
        assert!(r.is_match("rpc.calls"));
        assert!(matches!(
            Matcher::parse(r#"metric.name == "x" and attributes["a"] == "b""#),
            Ok(Matcher::Condition(_))
        ));
        assert!(Matcher::parse("metric.name == ").is_err());
    }
}
