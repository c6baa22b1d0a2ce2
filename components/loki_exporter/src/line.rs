//! A log record as its Loki line: the Collector's `json` and `logfmt` encodings.
//!
//! `json`: `{"body":…,"traceid":…,"spanid":…,"severity":…,"flags":…,"attributes":{…},
//! "resources":{…},"instrumentation_scope":{"name":…,"version":…}}`, empty fields left
//! out, attribute keys sorted.
//!
//! `logfmt`: the body's pairs (a map body flattened with `_`, an array body as `body_0…`,
//! a string body that is itself logfmt as its pairs, any other string as `msg`), then
//! `traceID`, `spanID`, `severity`, `flags` (replacing a body key of the same name),
//! `attribute_<key>` and `resource_<key>` (maps and arrays flattened), and the scope.
//! Unlike the Collector, a string body with words that are not `key=value` is `msg`
//! (the Collector's parser reads bare words as keys), and keys with spaces, `=` or quotes
//! get `_` instead of failing the record.

use serde::Serialize;
use serde_json::{Map, Value};
use weir_api::attributes::value_to_json;
use weir_api::batch::view::{ScopeView, ValueRef};

/// The record fields both formats write; empty ones are left out.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    pub trace_id: String,
    pub span_id: String,
    pub severity: &'a str,
    pub flags: u32,
}

/// Doubles as Go's `strconv.FormatFloat(d, 'f', -1, 64)` writes them (no exponent).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        d.to_string()
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Value>,
    #[serde(skip_serializing_if = "str::is_empty")]
    traceid: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    spanid: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    severity: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    flags: u32,
    #[serde(skip_serializing_if = "Map::is_empty")]
    attributes: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    resources: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instrumentation_scope: Option<Scope<'a>>,
}

#[derive(Serialize)]
struct Scope<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The `json` line.
pub fn json<'v>(
    body: ValueRef<'_>,
    fields: &Fields<'_>,
    attributes: impl Iterator<Item = (&'v str, ValueRef<'v>)>,
    resources: impl Iterator<Item = (&'v str, ValueRef<'v>)>,
    scope: ScopeView<'_>,
) -> String {
    let to_map = |it: &mut dyn Iterator<Item = (&'v str, ValueRef<'v>)>| {
        it.map(|(k, v)| (k.to_string(), value_to_json(v)))
            .collect::<Map<String, Value>>()
    };
    let line = JsonLine {
        body: (!body.is_empty()).then(|| value_to_json(body)),
        traceid: &fields.trace_id,
        spanid: &fields.span_id,
        severity: fields.severity,
        flags: fields.flags,
        attributes: to_map(&mut { attributes }),
        resources: to_map(&mut { resources }),
        instrumentation_scope: (!scope.name().is_empty()).then(|| Scope {
            name: scope.name(),
            version: scope.version(),
        }),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// A logfmt value as the pairs it flattens to.
fn flatten(key: &str, value: ValueRef<'_>, out: &mut Vec<(String, String)>) {
    let prefix = |k: &str| {
        if key.is_empty() {
            k.to_string()
        } else {
            format!("{key}_{k}")
        }
    };
    match value {
        ValueRef::Empty => {}
        ValueRef::KvList(map) => {
            for (k, v) in map.iter() {
                flatten(&prefix(k), v, out);
            }
        }
        ValueRef::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&prefix(&i.to_string()), v, out);
            }
        }
        other => out.push((key.to_string(), crate::convert::as_string(other))),
    }
}

/// `line` as logfmt pairs when every token is `key=value` (values bare or quoted).
pub fn parse_logfmt(line: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' || c == '"' || c.is_control() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        'r' => value.push('\r'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
            if !matches!(chars.peek(), None | Some(' ')) {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                if c == '"' || c == '=' {
                    return None;
                }
                value.push(c);
                chars.next();
            }
        }
        pairs.push((key, value));
    }
    (!pairs.is_empty()).then_some(pairs)
}

fn replace_or_append(pairs: &mut Vec<(String, String)>, key: &str, value: String) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value,
        None => pairs.push((key.to_string(), value)),
    }
}

/// The `logfmt` line.
pub fn logfmt<'v>(
    body: ValueRef<'_>,
    fields: &Fields<'_>,
    attributes: impl Iterator<Item = (&'v str, ValueRef<'v>)>,
    resources: impl Iterator<Item = (&'v str, ValueRef<'v>)>,
    scope: ScopeView<'_>,
) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    match body {
        ValueRef::Empty => {}
        ValueRef::Str(s) => match parse_logfmt(s) {
            Some(parsed) => pairs = parsed,
            None => pairs.push(("msg".into(), s.to_string())),
        },
        ValueRef::KvList(_) => flatten("", body, &mut pairs),
        ValueRef::Array(_) => flatten("body", body, &mut pairs),
        other => pairs.push(("msg".into(), crate::convert::as_string(other))),
    }
    if !fields.trace_id.is_empty() {
        replace_or_append(&mut pairs, "traceID", fields.trace_id.clone());
    }
    if !fields.span_id.is_empty() {
        replace_or_append(&mut pairs, "spanID", fields.span_id.clone());
    }
    if !fields.severity.is_empty() {
        replace_or_append(&mut pairs, "severity", fields.severity.to_string());
    }
    if fields.flags != 0 {
        replace_or_append(&mut pairs, "flags", fields.flags.to_string());
    }
    for (k, v) in attributes {
        flatten(&format!("attribute_{k}"), v, &mut pairs);
    }
    for (k, v) in resources {
        flatten(&format!("resource_{k}"), v, &mut pairs);
    }
    if !scope.name().is_empty() {
        pairs.push(("instrumentation_scope_name".into(), scope.name().into()));
        if !scope.version().is_empty() {
            pairs.push((
                "instrumentation_scope_version".into(),
                scope.version().into(),
            ));
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_key(&mut out, k);
        out.push('=');
        write_value(&mut out, v);
    }
    out
}

fn write_key(out: &mut String, key: &str) {
    for c in key.chars() {
        out.push(if c == ' ' || c == '=' || c == '"' || c.is_control() {
            '_'
        } else {
            c
        });
    }
}

fn write_value(out: &mut String, value: &str) {
    let needs_quotes = value
        .chars()
        .any(|c| c == ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_bodies_parse_strictly() {
        assert_eq!(
            parse_logfmt(r#"a=1 b="x y" c="#),
            Some(vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "".into())
            ])
        );
        assert_eq!(parse_logfmt("hello world"), None);
        assert_eq!(parse_logfmt("a=1 oops"), None);
        assert_eq!(parse_logfmt(""), None);
        assert_eq!(parse_logfmt(r#"a="unterminated"#), None);
    }

    #[test]
    fn logfmt_quotes_what_needs_it() {
        let mut out = String::new();
        write_value(&mut out, "plain");
        out.push('|');
        write_value(&mut out, "two words");
        out.push('|');
        write_value(&mut out, "a\"b\nc");
        assert_eq!(out, r#"plain|"two words"|"a\"b\nc""#);
        let mut key = String::new();
        write_key(&mut key, "odd key=x");
        assert_eq!(key, "odd_key_x");
    }

    #[test]
    fn doubles_without_exponent() {
        assert_eq!(format_double(1e20), "100000000000000000000");
        assert_eq!(format_double(0.5), "0.5");
        assert_eq!(format_double(f64::INFINITY), "+Inf");
    }
}
