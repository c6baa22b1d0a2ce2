//! Lenient readers over a parsed JSON tree: absent and `null` fields read as the proto3
//! default, 64-bit integers come as numbers or strings, enums as integers or names.
//! Errors carry the path to the field so a client can find its mistake.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::{Map, Value};

/// A decoding failure and where it happened.
#[derive(Debug)]
pub(super) struct Error {
    /// Innermost segment first: pushed while the error travels up.
    path: Vec<String>,
    message: String,
}

pub(super) type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            message: message.into(),
        }
    }

    fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.push(segment.into());
        self
    }

    /// `resourceSpans[0].scopeSpans[1].spans[3].traceId: invalid hex ...`
    pub(super) fn into_message(self) -> String {
        let mut path = String::new();
        for segment in self.path.iter().rev() {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        if path.is_empty() {
            self.message
        } else {
            format!("{path}: {}", self.message)
        }
    }
}

/// Renames snake_case keys to lowerCamelCase everywhere. Safe because OTLP/JSON has no
/// free-form object keys (attribute maps are lists of `{key, value}`). When both
/// spellings are present, the lowerCamelCase one wins.
pub(super) fn normalise_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, value) in map {
                let value = normalise_keys(value);
                if key.contains('_') {
                    out.entry(snake_to_camel(&key)).or_insert(value);
                } else {
                    out.insert(key, value);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalise_keys).collect()),
        other => other,
    }
}

fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Names the JSON type of a value for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object seen as a protobuf message; `null` reads as an empty message.
#[derive(Clone, Copy)]
pub(super) struct Obj<'a>(Option<&'a Map<String, Value>>);

pub(super) fn obj(value: &Value) -> Result<Obj<'_>> {
    match value {
        Value::Object(map) => Ok(Obj(Some(map))),
        Value::Null => Ok(Obj(None)),
        other => Err(Error::new(format!(
            "must be an object, found {}",
            kind(other)
        ))),
    }
}

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0?.get(key).filter(|v| !v.is_null())
    }

    /// Whether the field is present (and not null).
    pub(super) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn field<T>(&self, key: &str, read: impl FnOnce(&'a Value) -> Result<T>) -> Result<Option<T>> {
        self.get(key).map(read).transpose().map_err(|e| e.at(key))
    }

    pub(super) fn u64(&self, key: &str) -> Result<u64> {
        Ok(self.field(key, as_u64)?.unwrap_or(0))
    }

    pub(super) fn i64(&self, key: &str) -> Result<i64> {
        Ok(self.field(key, as_i64)?.unwrap_or(0))
    }

    pub(super) fn u32(&self, key: &str) -> Result<u32> {
        Ok(self.field(key, as_u32)?.unwrap_or(0))
    }

    pub(super) fn i32(&self, key: &str) -> Result<i32> {
        Ok(self.field(key, as_i32)?.unwrap_or(0))
    }

    pub(super) fn f64(&self, key: &str) -> Result<f64> {
        Ok(self.field(key, as_f64)?.unwrap_or(0.0))
    }

    pub(super) fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.field(key, as_f64)
    }

    pub(super) fn bool(&self, key: &str) -> Result<bool> {
        Ok(self.field(key, as_bool)?.unwrap_or(false))
    }

    pub(super) fn string(&self, key: &str) -> Result<String> {
        Ok(self.field(key, as_string)?.unwrap_or_default())
    }

    /// An enum: an integer (the OTLP rule) or its protobuf name (what protojson and the
    /// Collector also accept).
    pub(super) fn enumeration(&self, key: &str, by_name: fn(&str) -> Option<i32>) -> Result<i32> {
        let read = |value: &Value| match value {
            Value::String(name) => match name.parse::<i32>() {
                Ok(n) => Ok(n),
                Err(_) => {
                    by_name(name).ok_or_else(|| Error::new(format!("unknown enum value `{name}`")))
                }
            },
            other => as_i32(other),
        };
        Ok(self.field(key, read)?.unwrap_or(0))
    }

    /// A trace id (16 bytes) or span id (8 bytes) as hex; the empty string is no id.
    pub(super) fn id(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        Ok(self.field(key, |v| as_hex_id(v, len))?.unwrap_or_default())
    }

    /// A `bytes` field: base64, standard or URL-safe alphabet, padding optional.
    pub(super) fn bytes(&self, key: &str) -> Result<Vec<u8>> {
        Ok(self.field(key, as_base64)?.unwrap_or_default())
    }

    pub(super) fn message<T>(
        &self,
        key: &str,
        read: impl FnOnce(Obj<'a>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.field(key, |v| read(obj(v)?))
    }

    pub(super) fn list<T>(
        &self,
        key: &str,
        mut read: impl FnMut(&'a Value) -> Result<T>,
    ) -> Result<Vec<T>> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(Error::new(format!("must be an array, found {}", kind(value))).at(key));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| read(item).map_err(|e| e.at(format!("[{i}]")).at(key)))
            .collect()
    }

    pub(super) fn messages<T>(
        &self,
        key: &str,
        mut read: impl FnMut(Obj<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.list(key, |v| read(obj(v)?))
    }

    pub(super) fn strings(&self, key: &str) -> Result<Vec<String>> {
        self.list(key, as_string)
    }

    pub(super) fn u64s(&self, key: &str) -> Result<Vec<u64>> {
        self.list(key, as_u64)
    }

    pub(super) fn f64s(&self, key: &str) -> Result<Vec<f64>> {
        self.list(key, as_f64)
    }
}

fn as_u64(value: &Value) -> Result<u64> {
    let parsed = match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| integral(n.as_f64()?, 0.0, u64::MAX as f64).map(|f| f as u64)),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        expected(
            "an unsigned 64-bit integer (number or decimal string)",
            value,
        )
    })
}

pub(super) fn as_i64(value: &Value) -> Result<i64> {
    let parsed = match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| integral(n.as_f64()?, i64::MIN as f64, i64::MAX as f64).map(|f| f as i64)),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| expected("a 64-bit integer (number or decimal string)", value))
}

/// A float that is a whole number within range, as some JSON writers print integers.
fn integral(f: f64, min: f64, max: f64) -> Option<f64> {
    (f.fract() == 0.0 && f >= min && f <= max).then_some(f)
}

fn as_u32(value: &Value) -> Result<u32> {
    let wide = as_i64(value).map_err(|_| expected("an unsigned 32-bit integer", value))?;
    u32::try_from(wide).map_err(|_| expected("an unsigned 32-bit integer", value))
}

fn as_i32(value: &Value) -> Result<i32> {
    let wide = as_i64(value).map_err(|_| expected("a 32-bit integer", value))?;
    i32::try_from(wide).map_err(|_| expected("a 32-bit integer", value))
}

pub(super) fn as_f64(value: &Value) -> Result<f64> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse::<f64>().ok(),
        },
        _ => None,
    };
    parsed.ok_or_else(|| expected("a number (or \"NaN\", \"Infinity\", \"-Infinity\")", value))
}

pub(super) fn as_bool(value: &Value) -> Result<bool> {
    value.as_bool().ok_or_else(|| expected("a boolean", value))
}

pub(super) fn as_string(value: &Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| expected("a string", value))
}

fn as_hex_id(value: &Value, len: usize) -> Result<Vec<u8>> {
    let text = value
        .as_str()
        .ok_or_else(|| expected("a hex string", value))?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.len() != len * 2 {
        return Err(Error::new(format!(
            "must be {} hex digits ({len} bytes), found {} characters",
            len * 2,
            text.len()
        )));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| Error::new(format!("`{text}` is not valid hex")))
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

const BASE64_CONFIG: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_CONFIG);

pub(super) fn as_base64(value: &Value) -> Result<Vec<u8>> {
    let text = value
        .as_str()
        .ok_or_else(|| expected("a base64 string", value))?;
    BASE64
        .decode(text)
        .or_else(|_| BASE64_URL.decode(text))
        .map_err(|e| Error::new(format!("invalid base64: {e}")))
}

fn expected(what: &str, found: &Value) -> Error {
    let shown = match found {
        Value::String(s) if s.len() <= 40 => format!("the string \"{s}\""),
        Value::Number(n) => format!("the number {n}"),
        other => kind(other).to_string(),
    };
    Error::new(format!("must be {what}, found {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_keys_become_camel_case() {
        assert_eq!(snake_to_camel("start_time_unix_nano"), "startTimeUnixNano");
        assert_eq!(snake_to_camel("_x"), "x");
        assert_eq!(snake_to_camel("name"), "name");
    }

    #[test]
    fn error_paths_read_naturally() {
        let e = Error::new("bad").at("traceId").at("[2]").at("spans");
        assert_eq!(e.into_message(), "spans[2].traceId: bad");
    }
}
