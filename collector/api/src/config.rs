//! Turning a component's YAML section into its typed config, with problems that point at
//! the exact key.
//!
//! Components declare their config as serde structs with `deny_unknown_fields`;
//! [`parse`] runs serde through `serde_path_to_error` so a misspelled key comes back
//! with its path inside the section and a "did you mean" taken from the field names serde
//! expected. An empty section (`otlp:`) means all defaults, as in the Collector.

use serde::de::DeserializeOwned;
use weir_config::{ComponentProblem, Value};

use crate::BuildError;

/// A component config with checks serde cannot express: ranges, keys that exclude each
/// other, files that must be named together.
pub trait Validate {
    /// Every problem, each with its key path inside the section.
    fn problems(&self) -> Vec<ComponentProblem>;
}

/// [`parse`] then [`Validate::problems`]: every problem, for a factory's `check`.
pub fn check_valid<T: DeserializeOwned + Validate>(section: &Value) -> Vec<ComponentProblem> {
    match parse::<T>(section) {
        Ok(config) => config.problems(),
        Err(problem) => vec![problem],
    }
}

/// [`parse`] then [`Validate::problems`]: the config, or a [`BuildError`] naming the first
/// problem's key path, for a factory's `build`.
pub fn parse_valid<T: DeserializeOwned + Validate>(section: &Value) -> Result<T, BuildError> {
    let config = parse::<T>(section).map_err(|problem| build_error(&problem))?;
    match config.problems().first() {
        Some(problem) => Err(build_error(problem)),
        None => Ok(config),
    }
}

/// `key.path: message`, or the message alone for a problem with the whole section.
pub fn build_error(problem: &ComponentProblem) -> BuildError {
    if problem.path.is_empty() {
        BuildError(problem.message.clone())
    } else {
        BuildError(format!("{}: {}", problem.path.join("."), problem.message))
    }
}

/// A problem at `path` (keys inside the section, outermost first), for
/// [`Validate::problems`].
pub fn problem(path: &[&str], message: impl Into<String>) -> ComponentProblem {
    ComponentProblem {
        path: path.iter().map(|s| s.to_string()).collect(),
        message: message.into(),
        suggestion: None,
    }
}

/// [`problem`] with a suggestion of what to write instead.
pub fn problem_with_suggestion(
    path: &[&str],
    message: impl Into<String>,
    suggestion: impl Into<String>,
) -> ComponentProblem {
    ComponentProblem {
        suggestion: Some(suggestion.into()),
        ..problem(path, message)
    }
}

/// Deserializes `section` into `T`, treating null as an empty mapping.
pub fn parse<T: DeserializeOwned>(section: &Value) -> Result<T, ComponentProblem> {
    let empty = Value::Mapping(Default::default());
    let section = if section.is_null() { &empty } else { section };
    serde_path_to_error::deserialize(section).map_err(|err| {
        let mut path: Vec<String> = err
            .path()
            .iter()
            .map(|segment| segment.to_string())
            .filter(|s| s != "?")
            .collect();
        let message = err.inner().to_string();
        let suggestion = unknown_field_suggestion(&message);
        if let Some(field) = unknown_field_name(&message) {
            if path.last() != Some(&field) {
                path.push(field);
            }
        }
        ComponentProblem {
            path,
            message: tidy(&message),
            suggestion,
        }
    })
}

/// Like [`parse`], shaped for a factory's `validate`.
pub fn check<T: DeserializeOwned>(section: &Value) -> Vec<ComponentProblem> {
    match parse::<T>(section) {
        Ok(_) => Vec::new(),
        Err(problem) => vec![problem],
    }
}

/// serde says: "unknown field `queue_sise`, expected one of `enabled`, `queue_size`".
fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn unknown_field_suggestion(message: &str) -> Option<String> {
    let field = unknown_field_name(message)?;
    let expected: Vec<&str> = message
        .split_once("expected")?
        .1
        .split('`')
        .skip(1)
        .step_by(2)
        .collect();
    expected
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(&field, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.to_string())
}

/// Shortens serde's unknown-field message to the key itself; the suggestion says the rest.
fn tidy(message: &str) -> String {
    match unknown_field_name(message) {
        Some(field) => format!("unknown key `{field}`"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    #[allow(dead_code)]
    struct Queue {
        enabled: bool,
        queue_size: usize,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    #[allow(dead_code)]
    struct Exporter {
        endpoint: String,
        sending_queue: Queue,
    }

    #[test]
    fn misspelled_nested_key_has_path_and_suggestion() {
        let section: Value =
            serde_yaml_ng::from_str("endpoint: x\nsending_queue:\n  queue_sise: 3\n").unwrap();
        let problem = parse::<Exporter>(&section).unwrap_err();
        assert_eq!(problem.path, ["sending_queue", "queue_sise"]);
        assert_eq!(problem.message, "unknown key `queue_sise`");
        assert_eq!(problem.suggestion.as_deref(), Some("queue_size"));
    }

    #[test]
    fn problem_paths_and_suggestions() {
        let plain = problem(&["sending_queue", "queue_size"], "must be positive");
        assert_eq!(plain.path, ["sending_queue", "queue_size"]);
        assert_eq!(plain.message, "must be positive");
        assert!(plain.suggestion.is_none());
        let hinted =
            problem_with_suggestion(&["mode"], "unknown mode", String::from("proportional"));
        assert_eq!(hinted.path, ["mode"]);
        assert_eq!(hinted.suggestion.as_deref(), Some("proportional"));
        assert!(problem(&[], "whole section").path.is_empty());
    }

    #[test]
    fn null_section_means_defaults() {
        let parsed = parse::<Exporter>(&Value::Null).unwrap();
        assert_eq!(parsed.endpoint, "");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let section: Value =
            serde_yaml_ng::from_str("sending_queue:\n  queue_size: lots\n").unwrap();
        let problem = parse::<Exporter>(&section).unwrap_err();
        assert_eq!(problem.path, ["sending_queue", "queue_size"]);
        assert!(problem.suggestion.is_none());
    }
}
