//! One `include` or `exclude` block, with the Collector's keys
//! (`filterconfig.MatchProperties` and the squashed `filterset.Config`).

use serde::{Deserialize, Deserializer};
use weir_api::batch::view::SeverityNumber;
use weir_api::Value;

/// How strings are compared: `strict` is exact equality, `regexp` an unanchored
/// regular-expression search (the Collector's `filterset/regexp` does not anchor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    Strict,
    Regexp,
}

impl MatchType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Regexp => "regexp",
        }
    }
}

/// `regexp:` options of the Collector's regexp filter set. The Collector caches match
/// results in an LRU; Weir's compiled regexes need no cache, so these are accepted and
/// have no effect.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexpConfig {
    pub cacheenabled: bool,
    pub cachemaxnumentries: i64,
}

/// One `{key, value}` entry of `attributes` or `resources`. Without `value` (or with
/// `value: null`) the entry matches when the key is present.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeMatch {
    pub key: String,
    pub value: Option<Value>,
}

/// One `{name, version}` entry of `libraries` (the instrumentation scope). Without
/// `version` any version matches; `version: ""` matches only an empty version.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryMatch {
    pub name: String,
    pub version: Option<String>,
}

/// `log_severity_number`: records at `min` or above match; records without a severity
/// number (0) match only with `match_undefined: true`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityNumberMatch {
    #[serde(deserialize_with = "severity_number")]
    pub min: SeverityNumber,
    pub match_undefined: bool,
}

impl SeverityNumberMatch {
    /// Whether a record of severity `number` matches: at `min` or above, or unspecified
    /// (0) with `match_undefined`.
    pub fn matches(&self, number: SeverityNumber) -> bool {
        if number == SeverityNumber::UNSPECIFIED {
            self.match_undefined
        } else {
            number >= self.min
        }
    }
}

impl Default for SeverityNumberMatch {
    fn default() -> Self {
        Self {
            min: SeverityNumber::UNSPECIFIED,
            match_undefined: false,
        }
    }
}

/// A severity number as a number (0-24) or a name (`INFO`, `warn2`,
/// `SEVERITY_NUMBER_ERROR`), case-insensitive.
fn severity_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SeverityNumber, D::Error> {
    use serde::de::Error;
    let value = Value::deserialize(deserializer)?;
    match &value {
        Value::Number(n) => n
            .as_i64()
            .filter(|n| (0..=24).contains(n))
            .map(|n| SeverityNumber(n as i32))
            .ok_or_else(|| D::Error::custom(format!("severity number {n} is not between 0 and 24"))),
        Value::String(s) => parse_severity_name(s).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown severity `{s}`: expected a number 0-24 or a name such as INFO, WARN2, ERROR"
            ))
        }),
        _ => Err(D::Error::custom(
            "expected a severity number (0-24) or name (e.g. INFO)",
        )),
    }
}

fn parse_severity_name(text: &str) -> Option<SeverityNumber> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SEVERITY_NUMBER_").unwrap_or(&upper);
    if let Ok(n) = name.parse::<i32>() {
        return (0..=24).contains(&n).then_some(SeverityNumber(n));
    }
    (0..=24)
        .map(SeverityNumber)
        .find(|s| s.name().strip_prefix("SEVERITY_NUMBER_") == Some(name))
}

/// One `include` or `exclude` block. Every key the Collector's `MatchProperties` has;
/// which of them apply depends on the signal (see [`crate::Matcher`]).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchProperties {
    /// `strict` or `regexp`; required as soon as a list of strings or an attribute
    /// value is given.
    pub match_type: Option<MatchType>,
    pub regexp: Option<RegexpConfig>,
    /// Spans: the resource's `service.name`.
    pub services: Vec<String>,
    pub span_names: Vec<String>,
    /// Spans: `SPAN_KIND_SERVER`, ... (checked against the five kinds under `strict`).
    pub span_kinds: Vec<String>,
    /// Logs: the body's string form.
    pub log_bodies: Vec<String>,
    pub log_severity_texts: Vec<String>,
    pub log_severity_number: Option<SeverityNumberMatch>,
    /// Metrics: the metric name.
    pub metric_names: Vec<String>,
    /// The item's attributes: every entry must match.
    pub attributes: Vec<AttributeMatch>,
    /// The resource's attributes: every entry must match.
    pub resources: Vec<AttributeMatch>,
    /// The instrumentation scope: every entry must match.
    pub libraries: Vec<LibraryMatch>,
}
