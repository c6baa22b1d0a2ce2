//! The `attributes` section: `actions` plus the optional `include` / `exclude` blocks
//! (the Collector's `attraction.Settings` and `filterconfig.MatchConfig`, squashed).
//!
//! `check` compiles the actions and both blocks with every key; the per-signal rules
//! of the blocks (e.g. `services` is refused for logs) are applied when the processor
//! is built for its pipeline's signal, because only then is the signal known.

use serde::Deserialize;
use weir_api::ComponentProblem;
use weir_match_properties::{MatchError, MatchProperties, Matcher};

use crate::actions::{ActionConfig, Actions};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributesConfig {
    /// Items to process (all when absent).
    pub include: Option<MatchProperties>,
    /// Items not to process, checked after `include`.
    pub exclude: Option<MatchProperties>,
    /// What to do, in order. Required.
    pub actions: Vec<ActionConfig>,
}

/// A matcher error as a component problem at its key path.
pub(crate) fn match_problem(err: MatchError) -> ComponentProblem {
    ComponentProblem {
        path: err.path,
        message: err.message,
        suggestion: None,
    }
}

impl weir_api::config::Validate for AttributesConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if let Err(problem) = Actions::compile("actions", &self.actions) {
            problems.push(problem);
        }
        if let Err(err) = Matcher::compile(self.include.as_ref(), self.exclude.as_ref()) {
            problems.push(match_problem(err));
        }
        problems
    }
}
