//! The `error_rate_limiter` section. Weir's own processor, so the keys are Weir's (issue
//! 10's fixed shape: extend, never rename).
//!
//! Parsing is strict (`deny_unknown_fields`) so a misspelled key is reported with its
//! path and a suggestion. The condition is compiled here too, so `weir validate` reports
//! an OTTL mistake with its column before anything starts.

use std::time::Duration;

use serde::Deserialize;
use weir_api::config::{problem, problem_with_suggestion};
use weir_api::ComponentProblem;
use weir_ottl::{Condition, Context, OttlError};

/// Above this rate, one token would cost less than a nanosecond of the bucket's clock.
pub const MAX_RATE: f64 = 1e9;
/// Below this rate (one error in about 31 years), a token's interval no longer fits the
/// bucket's nanosecond arithmetic.
pub const MIN_RATE: f64 = 1e-9;

/// The `error_rate_limiter` configuration, with its defaults (the values of the
/// documented example).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorRateLimiterConfig {
    /// Attributes whose values form the key: looked up on the item (and, for spans, on
    /// its `exception` events), then on its resource.
    pub key: Vec<String>,
    /// Errors per second each key may pass in the steady state.
    pub rate: f64,
    /// Errors a key may pass at once; every bucket starts full.
    pub burst: u64,
    /// Distinct keys with a bucket of their own; new keys beyond it share one overflow
    /// bucket.
    pub max_keys: usize,
    /// The window of a summary: at most one summary per key and window.
    #[serde(with = "weir_api::duration")]
    pub summary_interval: Duration,
    /// An OTTL condition (span or log context) that also marks an item as an error.
    /// Empty: only status ERROR spans and logs at severity ERROR or above are errors.
    pub condition: String,
    /// Count what would be dropped and drop nothing.
    pub shadow: bool,
}

impl Default for ErrorRateLimiterConfig {
    fn default() -> Self {
        Self {
            key: vec!["service.name".into(), "exception.type".into()],
            rate: 50.0,
            burst: 100,
            max_keys: 1000,
            summary_interval: Duration::from_secs(10),
            condition: String::new(),
            shadow: false,
        }
    }
}

impl ErrorRateLimiterConfig {
    /// Compiles `condition` for `context` (`None` when it is empty).
    pub fn compile_condition(&self, context: Context) -> Result<Option<Condition>, OttlError> {
        if self.condition.trim().is_empty() {
            return Ok(None);
        }
        Condition::compile(&self.condition, context).map(Some)
    }

    fn condition_problem(&self) -> Option<ComponentProblem> {
        // The pipeline's signal is not known here: the condition must compile for spans
        // or for logs; `build` compiles it for the pipeline it is in.
        let span = self.compile_condition(Context::Span).err()?;
        let log = self.compile_condition(Context::Log).err()?;
        let (span, log) = (span.to_string(), log.to_string());
        Some(problem(
            &["condition"],
            if span == log {
                span
            } else {
                format!("compiles neither for spans ({span}) nor for logs ({log})")
            },
        ))
    }
}

impl weir_api::config::Validate for ErrorRateLimiterConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        for (index, key) in self.key.iter().enumerate() {
            let at = index.to_string();
            if key.is_empty() {
                problems.push(problem(&["key", &at], "an empty attribute name"));
            } else if self.key[..index].contains(key) {
                problems.push(problem(&["key", &at], format!("`{key}` is listed twice")));
            }
        }
        if !self.rate.is_finite() || self.rate < MIN_RATE {
            problems.push(problem_with_suggestion(
                &["rate"],
                format!(
                    "rate must be a number of errors per second from 1e-9 to 1e9 (0.1 is one error every 10 s), not {}",
                    self.rate
                ),
                "rate: 50",
            ));
        } else if self.rate > MAX_RATE {
            problems.push(problem(
                &["rate"],
                format!(
                    "rate must be at most 1e9 errors per second, not {}",
                    self.rate
                ),
            ));
        }
        if self.burst == 0 {
            problems.push(problem_with_suggestion(
                &["burst"],
                "burst must be at least 1: with 0 no error would ever pass",
                "burst: 100",
            ));
        }
        if self.max_keys == 0 {
            problems.push(problem_with_suggestion(
                &["max_keys"],
                "max_keys must be at least 1",
                "max_keys: 1000",
            ));
        }
        if self.summary_interval.is_zero() {
            problems.push(problem_with_suggestion(
                &["summary_interval"],
                "summary_interval must be longer than 0",
                "summary_interval: 10s",
            ));
        }
        problems.extend(self.condition_problem());
        problems
    }
}
