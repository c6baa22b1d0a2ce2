//! `${env:VAR}` expansion in string values, as the OpenTelemetry Collector does it.
//!
//! Runs on the merged document, so a value an operator overrides in a later file or with
//! `--set` is the one expanded (and the only one whose variables must exist). Keys are never
//! expanded. Supported forms:
//!
//! - `${env:VAR}` and `${VAR}`: the variable's value; unset expands to the empty string (as the
//!   Collector does) with a warning naming the variable;
//! - `${env:VAR:-default}` and `${VAR:-default}`: the default when unset or empty;
//! - `$$`: a literal `$`; any other `$` is kept as is.
//!
//! When a whole value is exactly one reference, the result is re-read as a YAML scalar so
//! `port: ${env:PORT}` becomes a number and `enabled: ${env:ON}` a boolean. A quoted
//! `"${env:PORT}"` is re-read too: the parsed document does not keep quoting.
//! Other providers (`${file:...}`, `${http:...}`) are errors. References do not nest.

use serde_yaml_ng::Value;

use crate::diagnostics::{dotted, Diagnostic, Diagnostics};
use crate::locate::{key_string, Locator};

/// Expands every string scalar of `value` in place.
pub(crate) fn expand_all(
    value: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
    locator: &Locator,
    diags: &mut Diagnostics,
) {
    let mut path = Vec::new();
    walk(value, &mut path, env, locator, diags);
}

fn walk(
    value: &mut Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
    locator: &Locator,
    diags: &mut Diagnostics,
) {
    match value {
        Value::String(text) => {
            let mut problems = Vec::new();
            if let Some(expanded) = expand(text, env, &mut problems) {
                *value = expanded;
            }
            for problem in problems {
                let d = match problem {
                    Problem::Unset(var) => Diagnostic::warning(
                        dotted(path),
                        format!("environment variable `{var}` is not set; using an empty value"),
                    ),
                    Problem::Invalid(message) => Diagnostic::error(dotted(path), message),
                };
                diags.push(d.at(locator.locate_owned(path)));
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(item, path, env, locator, diags);
                path.pop();
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                path.push(key_string(key).unwrap_or_else(|| "?".to_string()));
                walk(item, path, env, locator, diags);
                path.pop();
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, env, locator, diags),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Something wrong with one reference.
#[derive(Debug, PartialEq)]
pub(crate) enum Problem {
    Unset(String),
    Invalid(String),
}

/// Expands one string. `None` when it holds no `$` (nothing to do).
pub(crate) fn expand(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    if !text.contains('$') {
        return None;
    }
    let whole_reference = text.starts_with("${") && text.find('}') == Some(text.len() - 1);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                problems.push(Problem::Invalid(format!(
                    "unterminated `${{` in `{text}`; close it with `}}` or write `$$` for a literal `$`"
                )));
                out.push_str(&rest[pos..]);
                rest = "";
                break;
            };
            out.push_str(&resolve(&body[..end], env, problems));
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if whole_reference {
        Some(reparse(out))
    } else {
        Some(Value::String(out))
    }
}

/// The value of one `${...}` body.
fn resolve(
    body: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> String {
    // `scheme:rest` unless the colon starts a `:-default`.
    let spec = match body.split_once(':') {
        Some((scheme, rest)) if !rest.starts_with('-') => {
            if scheme != "env" {
                problems.push(Problem::Invalid(format!(
                    "unsupported provider `{scheme}` in `${{{body}}}`; only `${{env:VAR}}` is supported"
                )));
                return String::new();
            }
            rest
        }
        _ => body,
    };
    let (name, default) = match spec.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (spec, None),
    };
    if !valid_name(name) {
        problems.push(Problem::Invalid(format!(
            "`${{{body}}}`: `{name}` is not a valid environment variable name (letters, digits and `_`, not starting with a digit)"
        )));
        return String::new();
    }
    match (env(name), default) {
        (Some(v), Some(d)) if v.is_empty() => d.to_string(),
        (Some(v), _) => v,
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            problems.push(Problem::Unset(name.to_string()));
            String::new()
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Re-reads an expanded whole value as a YAML scalar; anything else stays a string.
fn reparse(text: String) -> Value {
    if text.trim().is_empty() {
        return Value::String(text);
    }
    match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
        Ok(Value::Null) => Value::Null,
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("collector.local".into()),
            "PORT" => Some("4317".into()),
            "ON" => Some("true".into()),
            "EMPTY" => Some(String::new()),
            "DOLLAR" => Some("a$b".into()),
            _ => None,
        }
    }

    fn run(text: &str) -> (Value, Vec<Problem>) {
        let mut problems = Vec::new();
        let v = expand(text, &env, &mut problems).unwrap_or_else(|| Value::String(text.into()));
        (v, problems)
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn expands_env_forms() {
        assert_eq!(run("${env:HOST}:${PORT}").0, s("collector.local:4317"));
        assert_eq!(
            run("http://${env:HOST}/v1").0,
            s("http://collector.local/v1")
        );
        assert_eq!(run("${env:MISSING:-fallback}").0, s("fallback"));
        assert_eq!(run("${MISSING:-x}-y").0, s("x-y"));
        assert_eq!(run("${env:EMPTY:-d}").0, s("d"));
        assert_eq!(run("no refs").0, s("no refs"));
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_eq!(run("price: $$5").0, s("price: $5"));
        assert_eq!(run("$${env:HOST}").0, s("${env:HOST}"));
        assert_eq!(run("a $ b").0, s("a $ b"));
        // Values from the environment are not expanded again.
        assert_eq!(run("${env:DOLLAR}").0, s("a$b"));
    }

    #[test]
    fn whole_references_are_reparsed() {
        assert_eq!(run("${env:PORT}").0, Value::Number(4317.into()));
        assert_eq!(run("${ON}").0, Value::Bool(true));
        assert_eq!(run("${env:MISSING:-12}").0, Value::Number(12.into()));
        // Part of a string: stays a string.
        assert_eq!(run(":${env:PORT}").0, s(":4317"));
        assert_eq!(run("${env:PORT}${env:PORT}").0, s("43174317"));
    }

    #[test]
    fn unset_is_empty_with_a_warning() {
        let (v, problems) = run("${env:NOPE}");
        assert_eq!(v, s(""));
        assert_eq!(problems, vec![Problem::Unset("NOPE".into())]);
    }

    #[test]
    fn unknown_providers_and_bad_syntax_are_errors() {
        let (_, problems) = run("${file:/etc/secret}");
        assert!(matches!(&problems[..], [Problem::Invalid(m)] if m.contains("`file`")));
        let (_, problems) = run("${env:HOST");
        assert!(matches!(&problems[..], [Problem::Invalid(m)] if m.contains("unterminated")));
        let (_, problems) = run("${env:1BAD}");
        assert!(matches!(&problems[..], [Problem::Invalid(_)]));
    }

    #[test]
    fn expands_a_document_with_paths() {
        let mut doc: Value = serde_yaml_ng::from_str(
            "exporters:\n  otlp:\n    endpoint: ${env:NOPE}\n    port: ${PORT}\n",
        )
        .expect("yaml");
        let locator = Locator::scan("w.yaml", "exporters:\n  otlp:\n    endpoint: ${env:NOPE}\n");
        let mut diags = Diagnostics::default();
        expand_all(&mut doc, &env, &locator, &mut diags);
        assert_eq!(doc["exporters"]["otlp"]["port"], Value::Number(4317.into()));
        let w: Vec<_> = diags.warnings().collect();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].path, "exporters.otlp.endpoint");
        assert_eq!(w[0].location.as_ref().map(|l| l.line), Some(3));
        assert!(w[0].message.contains("`NOPE`"));
    }
}
