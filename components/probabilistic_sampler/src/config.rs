//! The `probabilistic_sampler` section: the Collector's keys, defaults and validation.
//!
//! Parsing is strict (`deny_unknown_fields`) so a misspelled key is reported with its
//! path and a suggestion; the rules of the Collector's `Config.Validate` are checked
//! here too, so `weir validate` catches them before start.

use serde::Deserialize;
use weir_api::config::{problem, problem_with_suggestion};
use weir_api::ComponentProblem;

use crate::threshold::{MIN_SAMPLING_PROBABILITY, NUM_HEX_DIGITS};

/// How the decision is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Mode {
    /// Not configured: `hash_seed`, as in the Collector.
    #[default]
    #[serde(rename = "")]
    Unset,
    /// The Collector's original mode: FNV hash of the trace id (or a log attribute)
    /// with `hash_seed`, 14 bits of precision.
    #[serde(rename = "hash_seed")]
    HashSeed,
    /// OTEP 235: raise the arriving threshold to the configured one.
    #[serde(rename = "equalizing")]
    Equalizing,
    /// OTEP 235: multiply the arriving probability by the configured one.
    #[serde(rename = "proportional")]
    Proportional,
}

/// Where log records take their randomness from in `hash_seed` mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum AttributeSource {
    /// The trace id, falling back to `from_attribute` when the record has none.
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    /// Only the `from_attribute` attribute.
    #[serde(rename = "record")]
    Record,
    /// Accepted because the Collector accepts it; behaves like `record`.
    #[serde(rename = "")]
    Unset,
}

/// The `probabilistic_sampler` configuration, with the Collector's defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerConfig {
    /// Percentage of traces or logs kept. 0 keeps none, 100 or more keeps all.
    pub sampling_percentage: f32,
    /// Seed of the hash in `hash_seed` mode; tiers of collectors share it.
    pub hash_seed: u32,
    pub mode: Mode,
    /// Drop items whose randomness cannot be established (no trace id, malformed
    /// tracestate, ...). False keeps them.
    pub fail_closed: bool,
    /// Hex digits of threshold written in `th` (1 to 14).
    pub sampling_precision: u8,
    pub attribute_source: AttributeSource,
    /// Logs only: attribute hashed when there is no trace id (or always with `record`).
    pub from_attribute: String,
    /// Logs only: attribute whose numeric value (a percentage) overrides the decision.
    pub sampling_priority: String,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: Mode::Unset,
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: AttributeSource::TraceId,
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

impl SamplerConfig {
    /// The Collector's semantic rules (`probabilisticsamplerprocessor/config.go`).
    pub fn validate(&self) -> Result<(), ComponentProblem> {
        let percent = f64::from(self.sampling_percentage);
        if !percent.is_finite() {
            return Err(problem_with_suggestion(
                &["sampling_percentage"],
                format!("sampling_percentage is not a number: {percent}"),
                "use a percentage between 0 and 100",
            ));
        }
        if percent < 0.0 {
            return Err(problem_with_suggestion(
                &["sampling_percentage"],
                format!("sampling_percentage is negative: {percent}%"),
                "use a percentage between 0 and 100",
            ));
        }
        if percent > 0.0 && percent / 100.0 < MIN_SAMPLING_PROBABILITY {
            return Err(problem_with_suggestion(
                &["sampling_percentage"],
                format!("sampling_percentage is too small to express: {percent}%"),
                "use 0 to drop everything, or at least 2^-56 × 100",
            ));
        }
        if self.sampling_precision == 0 {
            return Err(problem_with_suggestion(
                &["sampling_precision"],
                "sampling_precision must be between 1 and 14, not 0",
                "remove it to use the default of 4",
            ));
        }
        if usize::from(self.sampling_precision) > NUM_HEX_DIGITS {
            return Err(problem(
                &["sampling_precision"],
                format!(
                    "sampling_precision must be at most 14 (hex digits in a threshold), not {}",
                    self.sampling_precision
                ),
            ));
        }
        if self.attribute_source == AttributeSource::Record && self.from_attribute.is_empty() {
            // The Collector accepts this and then drops (fail_closed) or keeps every
            // record; an explicit error is kinder.
            return Err(problem_with_suggestion(
                &["from_attribute"],
                "attribute_source `record` needs from_attribute: the log attribute to hash",
                "set from_attribute, e.g. `from_attribute: log.id`",
            ));
        }
        Ok(())
    }

    /// The mode in effect: an unset mode means `hash_seed`, as in the Collector.
    pub fn effective_mode(&self) -> Mode {
        match self.mode {
            Mode::Unset => Mode::HashSeed,
            mode => mode,
        }
    }
}

impl weir_api::config::Validate for SamplerConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        self.validate().err().into_iter().collect()
    }
}
