//! Attribute values as the Collector's `pcommon.Value` treats them: built from
//! configuration (`FromRaw`), compared with typed equality (`Equal`), and rendered
//! as strings (`AsString`, and `filtermatcher`'s narrower string form for regexps).

use std::borrow::Cow;

use weir_api::attributes::base64;
use weir_api::batch::edit::OwnedValue;
use weir_api::batch::view::ValueRef;
use weir_api::Value;

/// A configured value (YAML) as an attribute value, as `pcommon.Value.FromRaw` makes
/// it: integers stay integers, floats are doubles, sequences arrays, mappings maps
/// (string keys only), null is empty.
pub fn from_config(value: &Value) -> Result<OwnedValue, String> {
    Ok(match value {
        Value::Null => OwnedValue::Empty,
        Value::Bool(b) => OwnedValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => OwnedValue::Int(i),
            (None, Some(f)) => OwnedValue::Double(f),
            (None, None) => return Err(format!("unsupported number {n}")),
        },
        Value::String(s) => OwnedValue::Str(s.clone()),
        Value::Sequence(items) => {
            OwnedValue::Array(items.iter().map(from_config).collect::<Result<_, _>>()?)
        }
        Value::Mapping(map) => {
            let mut out = Vec::with_capacity(map.len());
            for (k, v) in map {
                let Value::String(key) = k else {
                    return Err(format!("map keys must be strings, found {k:?}"));
                };
                out.push((key.clone(), from_config(v)?));
            }
            OwnedValue::KvList(out)
        }
        Value::Tagged(tagged) => from_config(&tagged.value)?,
    })
}

/// The pcommon type name of a value (for messages): `Str`, `Int`, ...
pub fn type_name(value: &OwnedValue) -> &'static str {
    match value {
        OwnedValue::Empty => "Empty",
        OwnedValue::Str(_) => "Str",
        OwnedValue::Bool(_) => "Bool",
        OwnedValue::Int(_) => "Int",
        OwnedValue::Double(_) => "Double",
        OwnedValue::Bytes(_) => "Bytes",
        OwnedValue::Array(_) => "Slice",
        OwnedValue::KvList(_) => "Map",
    }
}

/// Typed equality (`pcommon.Value.Equal`): an `Int` never equals a `Double`; maps are
/// equal when they hold the same keys with equal values, in any order.
pub fn equals(actual: ValueRef<'_>, expected: &OwnedValue) -> bool {
    match (actual, expected) {
        (ValueRef::Empty, OwnedValue::Empty) => true,
        (ValueRef::Str(a), OwnedValue::Str(b)) => a == b,
        (ValueRef::Bool(a), OwnedValue::Bool(b)) => a == *b,
        (ValueRef::Int(a), OwnedValue::Int(b)) => a == *b,
        (ValueRef::Double(a), OwnedValue::Double(b)) => a == *b,
        (ValueRef::Bytes(a), OwnedValue::Bytes(b)) => a == b.as_slice(),
        (ValueRef::Array(a), OwnedValue::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equals(x, y))
        }
        (ValueRef::KvList(a), OwnedValue::KvList(b)) => {
            a.len() == b.len()
                && b.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|actual| equals(actual, v)))
        }
        _ => false,
    }
}

/// The string `filtermatcher` matches a regexp against: strings as they are, booleans,
/// integers and doubles (`strconv.FormatFloat(d, 'f', -1, 64)`) as text; `None` for
/// other types, which never match.
pub fn match_string(value: ValueRef<'_>) -> Option<Cow<'_, str>> {
    match value {
        ValueRef::Str(s) => Some(Cow::Borrowed(s)),
        ValueRef::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        ValueRef::Int(i) => Some(Cow::Owned(i.to_string())),
        ValueRef::Double(d) => Some(Cow::Owned(format_float_f(d))),
        _ => None,
    }
}

/// `strconv.FormatFloat(d, 'f', -1, 64)`: the shortest digits that round-trip, never
/// an exponent.
pub fn format_float_f(d: f64) -> String {
    if d.is_nan() {
        "NaN".to_string()
    } else if d.is_infinite() {
        if d > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's Display is the shortest round-trip form without an exponent.
        format!("{d}")
    }
}

/// A double as `pcommon.Value.AsString` writes it (ES6 number-to-string: an exponent
/// below 1e-6 and from 1e21, shortest round-trip digits).
pub fn format_double(d: f64) -> String {
    if !d.is_finite() {
        return format_float_f(d);
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` / `1.5e-7`; Go writes `1e+21` / `1.5e-07`, then the
        // Collector trims the exponent's leading zero: `1e+21` / `1.5e-7`.
        let text = format!("{d:e}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        }
    } else {
        format!("{d}")
    }
}

/// `pcommon.Value.AsString`: strings as they are, `true`/`false`, decimal integers,
/// doubles as [`format_double`], bytes as base64, arrays and maps as compact JSON,
/// empty as "".
pub fn as_string(value: ValueRef<'_>) -> Cow<'_, str> {
    match value {
        ValueRef::Empty => Cow::Borrowed(""),
        ValueRef::Str(s) => Cow::Borrowed(s),
        ValueRef::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        ValueRef::Int(i) => Cow::Owned(i.to_string()),
        ValueRef::Double(d) => Cow::Owned(format_double(d)),
        ValueRef::Bytes(b) => Cow::Owned(base64(b)),
        ValueRef::Array(_) | ValueRef::KvList(_) => Cow::Owned(json::of(&OwnedValue::from(value))),
    }
}

/// [`as_string`] for an owned value.
pub fn owned_as_string(value: &OwnedValue) -> String {
    match value {
        OwnedValue::Empty => String::new(),
        OwnedValue::Str(s) => s.clone(),
        OwnedValue::Bool(b) => b.to_string(),
        OwnedValue::Int(i) => i.to_string(),
        OwnedValue::Double(d) => format_double(*d),
        OwnedValue::Bytes(b) => base64(b),
        OwnedValue::Array(_) | OwnedValue::KvList(_) => json::of(value),
    }
}

/// Compact JSON as Go's `encoding/json` writes `AsRaw()`: map keys sorted, doubles in
/// the ES6 form, bytes as base64 strings.
mod json {
    use weir_api::batch::edit::OwnedValue;

    pub fn of(value: &OwnedValue) -> String {
        let mut out = String::new();
        write(value, &mut out);
        out
    }

    fn write(value: &OwnedValue, out: &mut String) {
        match value {
            OwnedValue::Empty => out.push_str("null"),
            OwnedValue::Str(s) => out.push_str(&quote(s)),
            OwnedValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            OwnedValue::Int(i) => out.push_str(&i.to_string()),
            OwnedValue::Double(d) if d.is_finite() => out.push_str(&super::format_double(*d)),
            OwnedValue::Double(d) => out.push_str(&quote(&super::format_float_f(*d))),
            OwnedValue::Bytes(b) => out.push_str(&quote(&weir_api::attributes::base64(b))),
            OwnedValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            OwnedValue::KvList(entries) => {
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quote(k));
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
        }
    }

    fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}
