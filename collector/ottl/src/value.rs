//! Values during evaluation, borrowed from the item or the expression wherever possible,
//! and OTTL's comparison rules.

use std::borrow::Cow;
use std::cmp::Ordering;

use weir_api::batch::view::{ArrayView, Attributes, ValueRef};
use weir_api::batch::OwnedValue;

/// A value produced while evaluating an expression.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// An attribute list (a map).
    Map(Attributes<'a>),
    /// An array attribute value.
    Array(ArrayView<'a>),
    /// A list built by the expression (`["a", "b"]`).
    List(Vec<Value<'a>>),
}

impl<'a> From<ValueRef<'a>> for Value<'a> {
    fn from(value: ValueRef<'a>) -> Self {
        match value {
            ValueRef::Empty => Self::Nil,
            ValueRef::Str(s) => Self::Str(Cow::Borrowed(s)),
            ValueRef::Bool(b) => Self::Bool(b),
            ValueRef::Int(i) => Self::Int(i),
            ValueRef::Double(d) => Self::Float(d),
            ValueRef::Bytes(b) => Self::Bytes(Cow::Borrowed(b)),
            ValueRef::Array(a) => Self::Array(a),
            ValueRef::KvList(kv) => Self::Map(kv),
        }
    }
}

impl<'a> Value<'a> {
    pub fn is_nil(&self) -> bool {
        matches!(self, Self::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::Str(_) => "string",
            Self::Bytes(_) => "bytes",
            Self::Map(_) => "map",
            Self::Array(_) | Self::List(_) => "list",
        }
    }

    /// The value as a string, as OTTL's `String` converter and attribute hashing render
    /// it: strings as they are, numbers and bools in their usual text, bytes as hex,
    /// maps and lists as JSON. `None` for nil.
    pub fn render(&self) -> Option<Cow<'a, str>> {
        Some(match self {
            Self::Nil => return None,
            Self::Str(s) => s.clone(),
            Self::Bool(b) => Cow::Owned(b.to_string()),
            Self::Int(i) => Cow::Owned(i.to_string()),
            Self::Float(f) => Cow::Owned(render_float(*f)),
            Self::Bytes(b) => Cow::Owned(hex(b)),
            other => Cow::Owned(render_json(other)),
        })
    }

    /// An owned copy, for an edit.
    pub fn to_owned_value(&self) -> OwnedValue {
        match self {
            Self::Nil => OwnedValue::Empty,
            Self::Bool(b) => OwnedValue::Bool(*b),
            Self::Int(i) => OwnedValue::Int(*i),
            Self::Float(f) => OwnedValue::Double(*f),
            Self::Str(s) => OwnedValue::Str(s.to_string()),
            Self::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Self::Map(m) => OwnedValue::from(ValueRef::KvList(*m)),
            Self::Array(a) => OwnedValue::from(ValueRef::Array(*a)),
            Self::List(items) => {
                OwnedValue::Array(items.iter().map(Value::to_owned_value).collect())
            }
        }
    }

    fn as_number(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// Lower-case hex of bytes (trace and span ids' `.string`).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`-like rendering: no exponent, shortest.
fn render_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

fn render_json(value: &Value<'_>) -> String {
    fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    fn element(value: &Value<'_>) -> String {
        match value {
            Value::Nil => "null".into(),
            Value::Str(s) => quote(s),
            Value::Bytes(b) => quote(&hex(b)),
            Value::Map(_) | Value::Array(_) | Value::List(_) => render_json(value),
            other => other.render().map(|c| c.into_owned()).unwrap_or_default(),
        }
    }
    match value {
        Value::Map(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", quote(k), element(&Value::from(v))))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|v| element(&Value::from(v))).collect();
            format!("[{}]", items.join(","))
        }
        Value::List(list) => {
            let items: Vec<String> = list.iter().map(element).collect();
            format!("[{}]", items.join(","))
        }
        other => element(other),
    }
}

/// OTTL comparison. Values of different types are never equal (ints and floats compare
/// as numbers); `<`-style operators on types without an order are false, never errors.
pub(crate) fn compare(op: &str, left: &Value<'_>, right: &Value<'_>) -> bool {
    let equal = || -> bool {
        match (left, right) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (a, b) => match (a.as_number(), b.as_number()) {
                (Some(x), Some(y)) => x == y,
                _ => match (a, b) {
                    (Value::Map(_) | Value::Array(_) | Value::List(_), _)
                    | (_, Value::Map(_) | Value::Array(_) | Value::List(_)) => {
                        a.type_name() == b.type_name() && render_json(a) == render_json(b)
                    }
                    _ => false,
                },
            },
        }
    };
    let order = || -> Option<Ordering> {
        match (left, right) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Str(a), Value::Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
            (a, b) => a.as_number()?.partial_cmp(&b.as_number()?),
        }
    };
    match op {
        "==" => equal(),
        "!=" => !equal(),
        "<" => order() == Some(Ordering::Less),
        "<=" => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        ">" => order() == Some(Ordering::Greater),
        ">=" => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
        _ => false,
    }
}
