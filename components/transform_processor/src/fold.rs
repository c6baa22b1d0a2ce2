//! Folding a group's `conditions` into a statement's `where` clause.
//!
//! Why: a `spanevent` or `datapoint` statement visits the events or points of a span or
//! metric itself (`Statement::run_on_span_events`, `run_on_data_points`), so the
//! processor cannot gate it per event or point from outside. Adding the group's
//! conditions to the statement's own `where` gates it at the right level:
//! `f(x) where a` with conditions `[c1, c2]` becomes `f(x) where (a) and ((c1) or (c2))`.
//! The parts are compiled on their own first, so errors point at the text as written.

/// The statement with the conditions (any-of) added to its `where`.
pub fn fold_conditions(statement: &str, conditions: &[String]) -> String {
    let any = conditions
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" or ");
    match split_where(statement) {
        Some((editor, existing)) => format!("{editor} where ({existing}) and ({any})"),
        None => format!("{} where {any}", statement.trim_end()),
    }
}

/// Splits at the top-level `where` keyword: outside string literals and brackets, and
/// not part of a longer name. `None` when the statement has no `where`.
fn split_where(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'w' if depth == 0 && bytes[i..].starts_with(b"where") => {
                let after = i + "where".len();
                let starts = i == 0 || !is_name(bytes[i - 1]);
                let ends = after == bytes.len() || !is_name(bytes[after]);
                if starts && ends {
                    return Some((text[..i].trim_end(), text[after..].trim()));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn adds_a_where_when_there_is_none() {
        assert_eq!(
            fold_conditions(r#"set(attributes["a"], "b")"#, &conds(&["name == \"x\""])),
            r#"set(attributes["a"], "b") where (name == "x")"#
        );
    }

    #[test]
    fn joins_an_existing_where_and_any_of_the_conditions() {
        assert_eq!(
            fold_conditions(
                r#"set(attributes["a"], "where") where attributes["somewhere"] != nil"#,
                &conds(&["name == \"x\"", "name == \"y\""])
            ),
            r#"set(attributes["a"], "where") where (attributes["somewhere"] != nil) and ((name == "x") or (name == "y"))"#
        );
    }

    #[test]
    fn ignores_where_inside_strings_names_and_brackets() {
        assert_eq!(split_where(r#"set(x, "a where b")"#), None);
        assert_eq!(split_where(r#"set(attributes["where"], nowhere)"#), None);
        assert_eq!(split_where("set(x, where_clause)"), None);
        assert_eq!(
            split_where(r#"set(x, "\"where") where y == 1"#),
            Some((r#"set(x, "\"where")"#, "y == 1"))
        );
    }
}
