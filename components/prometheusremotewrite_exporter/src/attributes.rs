//! OTLP attributes to Prometheus labels.
//!
//! Kept apart from the metric conversion because the rules are the spec's and easy to
//! get subtly wrong: non-string values are stringified as the spec's "AnyValue
//! representation for non-OTLP protocols" says (arrays and maps as JSON, bytes as
//! base64), and keys that sanitise to the same label have their values joined with `;`
//! in the order of the original keys.

use std::collections::BTreeMap;

use weir_api::attributes::{base64, value_json_text};
use weir_api::batch::view::{Attributes, ValueRef};

use crate::naming::LabelNamer;

/// The string form of an attribute value.
pub fn value_to_string(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Empty => String::new(),
        ValueRef::Str(s) => s.to_string(),
        ValueRef::Bool(b) => b.to_string(),
        ValueRef::Int(i) => i.to_string(),
        ValueRef::Double(d) => format_double(d),
        ValueRef::Bytes(b) => base64(b),
        ValueRef::Array(_) | ValueRef::KvList(_) => value_json_text(value),
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
    pub fn add(&mut self, attributes: Attributes<'_>) {
        for (key, value) in attributes.iter() {
            self.add_with(key, || value_to_string(value));
        }
    }

    pub fn add_one(&mut self, key: &str, value: String) {
        self.add_with(key, || value);
    }

    /// Adds `key` unless it is there already; `value` is only computed when it is not.
    pub fn add_with(&mut self, key: &str, value: impl FnOnce() -> String) {
        if !self.by_key.contains_key(key) {
            self.by_key.insert(key.to_string(), value());
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
    use crate::test_support::{both, resource_with};
    use weir_proto::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};

    /// The attribute's value as a label value, read through a batch's views (the same in
    /// both representations).
    fn string_of(kv: KeyValue) -> String {
        let [owned, wire] = both(vec![resource_with(vec![kv])]);
        let read = |batch: &weir_api::batch::Batch| {
            let resource = batch.metrics().next().expect("one resource").resource();
            let (_, value) = resource.attributes().iter().next().expect("one attribute");
            value_to_string(value)
        };
        let out = read(&owned);
        assert_eq!(out, read(&wire));
        out
    }

    /// The labels of these attributes, collected through a batch's views.
    fn collect(attributes: &[KeyValue]) -> Collector {
        let [batch, _] = both(vec![resource_with(attributes.to_vec())]);
        let mut c = Collector::default();
        if let Some(resource) = batch.metrics().next() {
            c.add(resource.resource().attributes());
        }
        c
    }

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
        assert_eq!(string_of(kv("a", V::IntValue(-3))), "-3");
        assert_eq!(string_of(kv("a", V::DoubleValue(1.5))), "1.5");
        assert_eq!(string_of(kv("a", V::BoolValue(true))), "true");
        assert_eq!(
            string_of(kv("a", V::BytesValue(b"hello".to_vec()))),
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
        assert_eq!(string_of(kv("a", array)), r#"["x",1]"#);
        let map = V::KvlistValue(KeyValueList {
            values: vec![kv("k", V::BoolValue(false))],
        });
        assert_eq!(string_of(kv("a", map)), r#"{"k":false}"#);
    }

    #[test]
    fn colliding_keys_are_joined_in_key_order() {
        let c = collect(&[
            kv("http_method", any_value::Value::StringValue("POST".into())),
            kv("http.method", any_value::Value::StringValue("GET".into())),
            kv("empty", any_value::Value::StringValue(String::new())),
        ]);
        let labels = c.into_labels(&LabelNamer::default()).unwrap();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels["http_method"], "GET;POST");
    }
}
