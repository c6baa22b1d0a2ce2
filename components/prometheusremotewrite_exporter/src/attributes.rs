//! OTLP attributes to Prometheus labels.
//!
//! Kept apart from the metric conversion because the rules are the spec's and easy to
//! get subtly wrong: non-string values are stringified as the spec's "AnyValue
//! representation for non-OTLP protocols" says (arrays and maps as JSON, bytes as
//! base64), and keys that sanitise to the same label have their values joined with `;`
//! in the order of the original keys.

use std::collections::BTreeMap;

use weir_proto::common::v1::{any_value, AnyValue, KeyValue};

use crate::naming::LabelNamer;

/// The string form of an attribute value.
pub fn value_to_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => format_double(*d),
        Some(any_value::Value::BytesValue(b)) => base64(b),
        Some(other) => to_json(Some(other)).to_string(),
    }
}

fn format_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        d.to_string()
    }
}

fn to_json(value: Option<&any_value::Value>) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        None => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(format_double(*d))),
        Some(any_value::Value::BytesValue(b)) => J::String(base64(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|v| to_json(v.value.as_ref())).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        to_json(e.value.as_ref().and_then(|v| v.value.as_ref())),
                    )
                })
                .collect(),
        ),
        // String-table references only exist in profiles; nothing to resolve them with.
        Some(_) => J::Null,
    }
}

/// Standard base64 with padding (RFC 4648), as the spec asks for bytes values.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Collects attributes under their original keys; a key added twice keeps the first.
#[derive(Default)]
pub struct Collector {
    by_key: BTreeMap<String, String>,
}

impl Collector {
    pub fn add(&mut self, attributes: &[KeyValue]) {
        for kv in attributes {
            self.add_one(&kv.key, value_to_string(kv.value.as_ref()));
        }
    }

    pub fn add_one(&mut self, key: &str, value: String) {
        if !self.by_key.contains_key(key) {
            self.by_key.insert(key.to_string(), value);
        }
    }

    /// Sanitised labels, colliding keys joined with `;` in original-key order (the
    /// BTreeMap iterates in that order). Empty values are left out: Prometheus treats an
    /// empty label as an absent one. Fails on a key that cannot become a label name.
    pub fn into_labels(self, namer: &LabelNamer) -> Result<BTreeMap<String, String>, String> {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in self.by_key {
            if value.is_empty() {
                continue;
            }
            let name = namer.build(&key).map_err(|e| e.0)?;
            match labels.get_mut(&name) {
                Some(existing) => {
                    existing.push(';');
                    existing.push_str(&value);
                }
                None => {
                    labels.insert(name, value);
                }
            }
        }
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_proto::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn non_string_values() {
        use any_value::Value as V;
        assert_eq!(
            value_to_string(kv("a", V::IntValue(-3)).value.as_ref()),
            "-3"
        );
        assert_eq!(
            value_to_string(kv("a", V::DoubleValue(1.5)).value.as_ref()),
            "1.5"
        );
        assert_eq!(
            value_to_string(kv("a", V::BoolValue(true)).value.as_ref()),
            "true"
        );
        assert_eq!(
            value_to_string(kv("a", V::BytesValue(b"hello".to_vec())).value.as_ref()),
            "aGVsbG8="
        );
        let array = V::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(V::StringValue("x".into())),
                },
                AnyValue {
                    value: Some(V::IntValue(1)),
                },
            ],
        });
        assert_eq!(value_to_string(kv("a", array).value.as_ref()), r#"["x",1]"#);
        let map = V::KvlistValue(KeyValueList {
            values: vec![kv("k", V::BoolValue(false))],
        });
        assert_eq!(
            value_to_string(kv("a", map).value.as_ref()),
            r#"{"k":false}"#
        );
    }

    #[test]
    fn colliding_keys_are_joined_in_key_order() {
        let mut c = Collector::default();
        c.add(&[
            kv("http_method", any_value::Value::StringValue("POST".into())),
            kv("http.method", any_value::Value::StringValue("GET".into())),
            kv("empty", any_value::Value::StringValue(String::new())),
        ]);
        let labels = c.into_labels(&LabelNamer::default()).unwrap();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels["http_method"], "GET;POST");
    }
}
