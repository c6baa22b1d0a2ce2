//! The token level shared by both formats: names, numbers, timestamps and label sets.
//!
//! Everything works on one line (`&str`, already checked as UTF-8) and a cursor. Labels
//! are recorded as byte spans into the line; only a value that holds an escape sequence
//! is copied, into a scratch string the parser reuses for every line. That keeps the hot
//! path free of allocations for the common exposition without escapes.

use std::ops::Range;

/// Where a label's name and value live: the name always in the line, the value in the
/// line or (when it had escapes) in the parser's scratch buffer.
#[derive(Clone, Debug)]
pub(crate) struct LabelSpan {
    pub name: Range<u32>,
    pub value: Range<u32>,
    pub value_in_scratch: bool,
}

/// How forgiving the label-set syntax is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LabelSyntax {
    /// Prometheus text: blanks and tabs around names, `=`, values and commas, and a
    /// trailing comma. OpenMetrics allows none of that.
    pub relaxed_whitespace: bool,
    /// OpenMetrics keeps unknown escapes (`\z`) as written; the text format (as
    /// prometheus/common parses it) rejects them.
    pub keep_unknown_escapes: bool,
}

pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

pub(crate) fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_metric_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// Length of the metric-name token at the start of `text` (possibly 0).
pub(crate) fn metric_name_len(text: &str) -> usize {
    text.bytes().take_while(|b| is_metric_name_byte(*b)).count()
}

/// A sample value. Both formats accept decimal floats and the words Inf/Infinity/NaN
/// with any case; hex floats and digit separators are refused.
pub(crate) fn parse_value(text: &str) -> Option<f64> {
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
    {
        return None;
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    if unsigned.len() + 1 < text.len() {
        return None; // more than one sign
    }
    if unsigned.eq_ignore_ascii_case("nan") {
        return if unsigned.len() == text.len() {
            Some(f64::NAN)
        } else {
            None
        };
    }
    text.parse::<f64>().ok()
}

/// An OpenMetrics timestamp: a real number of seconds (no Inf, no NaN), returned in ms.
pub(crate) fn parse_om_timestamp(text: &str) -> Option<f64> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E'))
    {
        return None;
    }
    let seconds: f64 = text.parse().ok()?;
    seconds.is_finite().then_some(seconds)
}

/// Seconds (OpenMetrics) to the integer milliseconds Prometheus stores.
pub(crate) fn seconds_to_millis(seconds: f64) -> i64 {
    // `as` saturates, which is what an absurd timestamp deserves.
    (seconds * 1000.0).round() as i64
}

/// Parses `{name="value",...}` starting at `*pos` (which must point at `{`). Leaves
/// `*pos` after the closing brace.
pub(crate) fn parse_labels(
    line: &str,
    pos: &mut usize,
    syntax: LabelSyntax,
    spans: &mut Vec<LabelSpan>,
    scratch: &mut String,
) -> Result<(), String> {
    let bytes = line.as_bytes();
    debug_assert_eq!(bytes.get(*pos), Some(&b'{'));
    *pos += 1;
    let skip_blanks = |pos: &mut usize| {
        if syntax.relaxed_whitespace {
            while matches!(bytes.get(*pos), Some(b' ' | b'\t')) {
                *pos += 1;
            }
        }
    };
    let first = spans.len();
    loop {
        skip_blanks(pos);
        match bytes.get(*pos) {
            Some(b'}') => {
                *pos += 1;
                return Ok(());
            }
            None => return Err("label set not closed".into()),
            _ => {}
        }
        let name_start = *pos;
        while bytes
            .get(*pos)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            *pos += 1;
        }
        let name = &line[name_start..*pos];
        if !is_label_name(name) {
            return Err(format!("invalid label name at column {}", name_start + 1));
        }
        if spans[first..]
            .iter()
            .any(|s| &line[s.name.start as usize..s.name.end as usize] == name)
        {
            return Err(format!("duplicate label name `{name}`"));
        }
        skip_blanks(pos);
        if bytes.get(*pos) != Some(&b'=') {
            return Err(format!("expected `=` after label name `{name}`"));
        }
        *pos += 1;
        skip_blanks(pos);
        if bytes.get(*pos) != Some(&b'"') {
            return Err(format!("label value of `{name}` is not quoted with \""));
        }
        *pos += 1;
        let value = parse_label_value(line, pos, syntax, scratch)?;
        spans.push(LabelSpan {
            name: name_start as u32..(name_start + name.len()) as u32,
            value: value.0,
            value_in_scratch: value.1,
        });
        skip_blanks(pos);
        match bytes.get(*pos) {
            Some(b',') => {
                *pos += 1;
                if !syntax.relaxed_whitespace && bytes.get(*pos) == Some(&b'}') {
                    return Err("trailing comma in label set".into());
                }
            }
            Some(b'}') => {}
            _ => {
                return Err(format!(
                    "expected `,` or `}}` after the value of label `{name}`"
                ))
            }
        }
    }
}

/// Reads a quoted value body; `*pos` is just after the opening quote. Returns the span and
/// whether it lives in `scratch` (only when an escape had to be resolved).
fn parse_label_value(
    line: &str,
    pos: &mut usize,
    syntax: LabelSyntax,
    scratch: &mut String,
) -> Result<(Range<u32>, bool), String> {
    let bytes = line.as_bytes();
    let start = *pos;
    let mut end = start;
    while end < bytes.len() && bytes[end] != b'"' && bytes[end] != b'\\' {
        end += 1;
    }
    match bytes.get(end) {
        Some(b'"') => {
            *pos = end + 1;
            return Ok((start as u32..end as u32, false));
        }
        None => return Err("label value not closed".into()),
        _ => {}
    }
    // An escape: copy into scratch.
    let scratch_start = scratch.len();
    scratch.push_str(&line[start..end]);
    let mut i = end;
    loop {
        match bytes.get(i) {
            None => return Err("label value not closed".into()),
            Some(b'"') => break,
            Some(b'\\') => {
                match bytes.get(i + 1) {
                    Some(b'\\') => scratch.push('\\'),
                    Some(b'"') => scratch.push('"'),
                    Some(b'n') => scratch.push('\n'),
                    None => return Err("label value not closed".into()),
                    Some(_) if syntax.keep_unknown_escapes => {
                        scratch.push('\\');
                        i += 1;
                        continue;
                    }
                    Some(_) => return Err("invalid escape sequence in label value".into()),
                }
                i += 2;
            }
            Some(_) => {
                let run_end = line[i..].find(['"', '\\']).map_or(line.len(), |n| i + n);
                scratch.push_str(&line[i..run_end]);
                i = run_end;
            }
        }
    }
    *pos = i + 1;
    Ok((scratch_start as u32..scratch.len() as u32, true))
}

/// Resolves `\\`, `\n` (and `\"` where allowed) in HELP text; unknown escapes are kept.
pub(crate) fn unescape_help(text: &str, out: &mut String) {
    out.clear();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value("1.5e3"), Some(1500.0));
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("0000001"), Some(1.0));
        for bad in ["", "0x1", "1_2", "a", "--1", "1 ", "+NaN", "0x1p-3", "1e"] {
            assert_eq!(parse_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn labels_with_escapes_use_scratch() {
        let line = r#"{a="x\"y",b="plain"}"#;
        let (mut spans, mut scratch, mut pos) = (Vec::new(), String::new(), 0);
        let syntax = LabelSyntax {
            relaxed_whitespace: false,
            keep_unknown_escapes: true,
        };
        parse_labels(line, &mut pos, syntax, &mut spans, &mut scratch).unwrap();
        assert_eq!(pos, line.len());
        assert_eq!(scratch, "x\"y");
        assert!(spans[0].value_in_scratch);
        assert!(!spans[1].value_in_scratch);
    }
}
