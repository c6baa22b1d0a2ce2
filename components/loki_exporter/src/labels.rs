//! Loki label names and the stream selector text.
//!
//! Loki takes Prometheus label names (`[a-zA-Z_][a-zA-Z0-9_]*`), so attribute names are
//! normalized as the Collector's Prometheus translator does (`NormalizeLabel`): every
//! other character becomes `_`, a leading digit gets a `key_` prefix, and a single leading
//! underscore a `key` prefix (names starting `__` are Loki's own). A stream is sent as
//! its selector text, `{a="x", b="y"}`, labels sorted by name, values quoted as Go's
//! `%q` does, which is what Loki's parser reads.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Whether `name` is a valid label name as it is.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The Collector's `NormalizeLabel`: `service.name` -> `service_name`,
/// `0day` -> `key_0day`, `_x` -> `key_x`.
pub fn sanitize(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// Labels by sanitized name. When two attributes sanitize to the same name, the one added
/// last wins (as the Collector's label-set merge does).
pub type LabelSet = BTreeMap<String, String>;

/// `{a="x", b="y"}`: the stream selector Loki parses.
pub fn selector(labels: &LabelSet) -> String {
    let mut out = String::with_capacity(2 + labels.len() * 24);
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        quote_into(&mut out, value);
    }
    out.push('}');
    out
}

/// Go's `strconv.Quote` for the characters that matter in a label value.
fn quote_into(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_like_the_collector() {
        assert_eq!(sanitize("service.name"), "service_name");
        assert_eq!(sanitize("k8s.pod-name"), "k8s_pod_name");
        assert_eq!(sanitize("0day"), "key_0day");
        assert_eq!(sanitize("_private"), "key_private");
        assert_eq!(sanitize("__reserved"), "__reserved");
        assert_eq!(sanitize("héllo"), "h_llo");
        assert_eq!(sanitize("level"), "level");
        assert!(is_valid_label_name("service_name"));
        assert!(!is_valid_label_name("service.name"));
        assert!(!is_valid_label_name("1x"));
        assert!(!is_valid_label_name(""));
    }

    #[test]
    fn selector_is_sorted_and_quoted() {
        let labels: LabelSet = [
            ("job".to_string(), "shop/cart".to_string()),
            ("exporter".to_string(), "OTLP".to_string()),
            ("odd".to_string(), "a \"b\" \\ c\nd".to_string()),
        ]
        .into();
        assert_eq!(
            selector(&labels),
            r#"{exporter="OTLP", job="shop/cart", odd="a \"b\" \\ c\nd"}"#
        );
        assert_eq!(selector(&LabelSet::new()), "{}");
    }
}
