//! Building OTLP/JSON objects the way protojson writes them: default values omitted,
//! 64-bit integers as decimal strings, ids as lowercase hex, non-finite doubles as
//! `"NaN"`, `"Infinity"`, `"-Infinity"`.

use base64::Engine;
use serde_json::{Map, Number, Value};

/// An object under construction; each setter skips the proto3 default.
#[derive(Default)]
pub(super) struct Obj(Map<String, Value>);

impl Obj {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn build(self) -> Value {
        Value::Object(self.0)
    }

    fn set(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    pub(super) fn string(self, key: &str, value: &str) -> Self {
        if value.is_empty() {
            return self;
        }
        self.set(key, Value::String(value.to_owned()))
    }

    pub(super) fn u64(self, key: &str, value: u64) -> Self {
        if value == 0 {
            return self;
        }
        self.set(key, Value::String(value.to_string()))
    }

    pub(super) fn u32(self, key: &str, value: u32) -> Self {
        if value == 0 {
            return self;
        }
        self.set(key, Value::from(value))
    }

    /// Also used for enums, which OTLP/JSON writes as integers.
    pub(super) fn i32(self, key: &str, value: i32) -> Self {
        if value == 0 {
            return self;
        }
        self.set(key, Value::from(value))
    }

    pub(super) fn f64(self, key: &str, value: f64) -> Self {
        if value == 0.0 && value.is_sign_positive() {
            return self;
        }
        self.set(key, f64_value(value))
    }

    /// An `optional double`: written whenever present, zero included.
    pub(super) fn opt_f64(self, key: &str, value: Option<f64>) -> Self {
        match value {
            Some(v) => self.set(key, f64_value(v)),
            None => self,
        }
    }

    pub(super) fn bool(self, key: &str, value: bool) -> Self {
        if !value {
            return self;
        }
        self.set(key, Value::Bool(true))
    }

    /// A trace or span id as lowercase hex.
    pub(super) fn id(self, key: &str, bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return self;
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.set(key, Value::String(hex))
    }

    /// A message field: written whenever present, even if empty.
    pub(super) fn message(self, key: &str, value: Option<Value>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    pub(super) fn list(self, key: &str, items: impl Iterator<Item = Value>) -> Self {
        let items: Vec<Value> = items.collect();
        if items.is_empty() {
            return self;
        }
        self.set(key, Value::Array(items))
    }

    pub(super) fn strings(self, key: &str, items: &[String]) -> Self {
        self.list(key, items.iter().map(|s| Value::String(s.clone())))
    }

    pub(super) fn u64s(self, key: &str, items: &[u64]) -> Self {
        self.list(key, items.iter().map(|n| Value::String(n.to_string())))
    }

    pub(super) fn f64s(self, key: &str, items: &[f64]) -> Self {
        self.list(key, items.iter().map(|&f| f64_value(f)))
    }

    /// A member of a oneof: written even when it holds the default value, because which
    /// member is set is information.
    pub(super) fn oneof(self, key: &str, value: Value) -> Self {
        self.set(key, value)
    }
}

pub(super) fn f64_value(value: f64) -> Value {
    match Number::from_f64(value) {
        Some(n) => Value::Number(n),
        None if value.is_nan() => Value::String("NaN".into()),
        None if value > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

pub(super) fn i64_value(value: i64) -> Value {
    Value::String(value.to_string())
}

pub(super) fn base64_value(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}
