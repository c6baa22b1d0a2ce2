//! OTLP attributes to Prometheus labels.
//!
//! Kept apart from the metric conversion because the rules are the spec's and easy to
//! get subtly wrong: non-string values are stringified as the spec's "AnyValue
//! representation for non-OTLP protocols" says (arrays and maps as JSON, bytes as
//! base64), and keys that sanitise to the same label have their values joined with `;`
//! in the order of the original keys.

use std::collections::BTreeMap;

use weir_proto::common::v1::{any_value, AnyValue, KeyValue};

use weir_api::attributes::{base64, json_text};

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
        Some(other) => json_text(other),
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
