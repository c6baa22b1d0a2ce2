//! `processors: cardinality_limiter:`: Weir's own, anchored on Vector's
//! `tag_cardinality_limit` (a limit per metric, an action for what goes over it).

use std::time::Duration;

use serde::Deserialize;
use weir_api::ComponentProblem;

/// What happens to a data point whose attribute set would go over its metric's limit.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Remove the configured `attributes` (or, with none configured, the point's
    /// attribute with the most distinct values in its metric), then keep the point if
    /// its reduced set is known or fits; drop it otherwise.
    #[default]
    DropAttributes,
    /// Drop the point.
    DropPoint,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DropAttributes => "drop_attributes",
            Action::DropPoint => "drop_point",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Distinct attribute sets (resource and point attributes) allowed per metric name
    /// in one window.
    pub max_series: usize,
    /// The sets are forgotten after this long (a tumbling window); `0s` never forgets.
    #[serde(with = "weir_api::duration")]
    pub window: Duration,
    pub action: Action,
    /// For `drop_attributes`: the point attributes to remove; empty means the offending
    /// one (the attribute with the most distinct values in that metric).
    pub attributes: Vec<String>,
    /// Metric names tracked at once; points of further names pass unlimited (logged).
    pub max_metrics: usize,
    /// Metric names given their own value of the self-metric's `metric` label; the rest
    /// are counted as `_other`.
    pub max_reported_metrics: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_series: 1000,
            window: Duration::from_secs(3600),
            action: Action::DropAttributes,
            attributes: Vec::new(),
            max_metrics: 10_000,
            max_reported_metrics: 100,
        }
    }
}

impl weir_api::config::Validate for Config {
    /// Problems beyond the shape, each at its key.
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: &str| {
            problems.push(ComponentProblem {
                path: vec![key.to_string()],
                message: message.to_string(),
                suggestion: None,
            })
        };
        if self.max_series == 0 {
            problem("max_series", "must be at least 1");
        }
        if self.max_metrics == 0 {
            problem("max_metrics", "must be at least 1");
        }
        if self.attributes.iter().any(|a| a.is_empty()) {
            problem("attributes", "attribute names must not be empty");
        }
        if self.action == Action::DropPoint && !self.attributes.is_empty() {
            problem(
                "attributes",
                "only used with `action: drop_attributes`; remove it or change the action",
            );
        }
        problems
    }
}
