//! Turning one source's text into a YAML document and its key locations.
//!
//! Each source is parsed on its own so that a syntax error in one file is reported with
//! that file's name and line, and every file is parsed even when an earlier one fails:
//! an operator fixing a deployment sees all broken files in one run.

use serde_yaml_ng::{Mapping, Value};

use crate::diagnostics::{Diagnostic, Location};
use crate::locate::Locator;

/// A source of configuration text.
#[derive(Clone, Debug)]
pub struct Source {
    /// A file path, or `<embedded default>` for the built-in configuration.
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// One parsed source: its document (always a mapping) and where its keys are.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub value: Value,
    pub locator: Locator,
}

/// Parses one source. An empty file is an empty mapping.
pub(crate) fn parse(source: &Source) -> Result<Parsed, Diagnostic> {
    let value: Value = serde_yaml_ng::from_str(&source.text).map_err(|err| {
        let location = err.location().map(|l| Location {
            file: source.name.clone(),
            line: l.line(),
        });
        Diagnostic::error("", format!("invalid YAML: {err}")).at(location)
    })?;
    let value = match value {
        Value::Null => Value::Mapping(Mapping::new()),
        Value::Mapping(_) => value,
        other => {
            return Err(Diagnostic::error(
                "",
                format!(
                    "the configuration must be a mapping of sections (receivers, exporters, service, ...), found {}",
                    kind_name(&other)
                ),
            )
            .at(Some(Location {
                file: source.name.clone(),
                line: 1,
            })))
        }
    };
    Ok(Parsed {
        value,
        locator: Locator::scan(&source.name, &source.text),
    })
}

/// A short name for a YAML value's kind, for messages.
pub(crate) fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_carry_file_and_line() {
        let src = Source::new(
            "bad.yaml",
            "receivers:\n  otlp:\n    endpoint: [unclosed\nexporters: {}\n",
        );
        let err = parse(&src).expect_err("must fail");
        let loc = err.location.expect("has a location");
        assert_eq!(loc.file, "bad.yaml");
        assert!(loc.line >= 3, "line {}", loc.line);
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
    }

    #[test]
    fn empty_is_an_empty_mapping_and_scalars_are_rejected() {
        let parsed = parse(&Source::new("e.yaml", "# nothing\n")).expect("parses");
        assert_eq!(parsed.value, Value::Mapping(Mapping::new()));
        assert!(parse(&Source::new("s.yaml", "just text")).is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse(&Source::new("d.yaml", "receivers: {}\nreceivers: {}\n"))
            .expect_err("duplicate key");
        assert!(err.message.contains("duplicate"), "{}", err.message);
    }
}
