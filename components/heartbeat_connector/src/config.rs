//! The `heartbeat` section. Its shape is fixed by issue 15; the keys are Weir's own (the
//! Collector has no such component), checked strictly so a typo fails validation.

use std::time::Duration;

use serde::Deserialize;
use weir_api::config::{problem, Validate};
use weir_api::ComponentProblem;

/// `service.name`.
pub const SERVICE_NAME: &str = "service.name";
/// `service.instance.id`.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// The `heartbeat` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Resource attributes that identify a source. A resource carrying none of them is
    /// not tracked (and counted as `no_source_attributes`).
    pub source_attributes: Vec<String>,
    /// A source is silent once it has sent nothing for this long.
    #[serde(with = "weir_api::duration")]
    pub expected_interval: Duration,
    /// How often sources are checked: a silent source is noticed at most this late.
    #[serde(with = "weir_api::duration")]
    pub check_interval: Duration,
    /// Sources tracked at most; data from further new sources is counted, not tracked.
    pub max_sources: usize,
    /// A source that has sent nothing for this long is forgotten (its series removed).
    #[serde(with = "weir_api::duration")]
    pub forget_after: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            source_attributes: vec![SERVICE_NAME.into(), SERVICE_INSTANCE_ID.into()],
            expected_interval: Duration::from_secs(30),
            check_interval: Duration::from_secs(1),
            max_sources: 10_000,
            forget_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl Validate for HeartbeatConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut out = Vec::new();
        if self.source_attributes.is_empty() {
            out.push(problem(
                &["source_attributes"],
                "source_attributes must name at least one resource attribute (e.g. [service.name, service.instance.id])",
            ));
        }
        for (i, key) in self.source_attributes.iter().enumerate() {
            let index = i.to_string();
            if key.trim().is_empty() {
                out.push(problem(
                    &["source_attributes", &index],
                    "a source attribute name must not be empty",
                ));
            } else if self.source_attributes[..i].contains(key) {
                out.push(problem(
                    &["source_attributes", &index],
                    format!("{key} is listed twice"),
                ));
            }
        }
        if self.expected_interval.is_zero() {
            out.push(problem(
                &["expected_interval"],
                "expected_interval must be positive (e.g. 30s)",
            ));
        }
        if self.check_interval.is_zero() {
            out.push(problem(
                &["check_interval"],
                "check_interval must be positive (e.g. 1s)",
            ));
        }
        if self.max_sources == 0 {
            out.push(problem(&["max_sources"], "max_sources must be at least 1"));
        }
        if self.forget_after <= self.expected_interval {
            out.push(problem(
                &["forget_after"],
                format!(
                    "forget_after ({}) must be longer than expected_interval ({}): a source is forgotten only after it has been reported silent",
                    weir_api::duration::format(self.forget_after),
                    weir_api::duration::format(self.expected_interval)
                ),
            ));
        }
        out
    }
}
