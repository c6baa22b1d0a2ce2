//! Attribute values written as text, for formats that only carry strings (Prometheus
//! labels, hash keys): the OpenTelemetry specification's "AnyValue representation for
//! non-OTLP protocols". Bytes become base64 (RFC 4648, with padding); arrays and maps
//! become compact JSON. Scalars are left to the caller, because the Collector's
//! renderings of doubles differ by context (`+Inf` in `AsString`, `Infinity` in the
//! Prometheus mapping).

use base64::Engine;
use weir_proto::common::v1::any_value;

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The value as JSON: arrays and maps recursively, bytes as base64 strings, doubles
/// that JSON cannot hold (NaN, ±Infinity) as strings.
pub fn to_json(value: Option<&any_value::Value>) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        None => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| {
                J::String(
                    match (d.is_nan(), *d > 0.0) {
                        (true, _) => "NaN",
                        (false, true) => "Infinity",
                        (false, false) => "-Infinity",
                    }
                    .into(),
                )
            }),
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
        // String-table references exist only in profiles; nothing to resolve them with.
        Some(_) => J::Null,
    }
}

/// [`to_json`] for a value read through a view.
pub fn value_to_json(value: crate::batch::view::ValueRef<'_>) -> serde_json::Value {
    use crate::batch::view::ValueRef;
    use serde_json::Value as J;
    match value {
        ValueRef::Empty => J::Null,
        ValueRef::Str(s) => J::String(s.to_string()),
        ValueRef::Bool(b) => J::Bool(b),
        ValueRef::Int(i) => J::from(i),
        ValueRef::Double(d) => double_json(d),
        ValueRef::Bytes(b) => J::String(base64(b)),
        ValueRef::Array(a) => J::Array(a.iter().map(value_to_json).collect()),
        ValueRef::KvList(kv) => J::Object(
            kv.iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// [`value_to_json`] as compact text: how arrays and maps become strings.
pub fn value_json_text(value: crate::batch::view::ValueRef<'_>) -> String {
    value_to_json(value).to_string()
}

fn double_json(d: f64) -> serde_json::Value {
    use serde_json::Value as J;
    serde_json::Number::from_f64(d)
        .map(J::Number)
        .unwrap_or_else(|| {
            J::String(
                match (d.is_nan(), d > 0.0) {
                    (true, _) => "NaN",
                    (false, true) => "Infinity",
                    (false, false) => "-Infinity",
                }
                .into(),
            )
        })
}

/// [`to_json`] as compact text.
pub fn json_text(value: &any_value::Value) -> String {
    to_json(Some(value)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_proto::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};

    fn v(value: any_value::Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(value) })
    }

    #[test]
    fn base64_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn arrays_and_maps_as_compact_json() {
        let array = any_value::Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(any_value::Value::IntValue(1)),
                },
                AnyValue {
                    value: Some(any_value::Value::DoubleValue(f64::NAN)),
                },
                AnyValue {
                    value: Some(any_value::Value::BytesValue(vec![0xff])),
                },
            ],
        });
        assert_eq!(json_text(&array), r#"[1,"NaN","/w=="]"#);
        let map = any_value::Value::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "a".into(),
                value: v(any_value::Value::BoolValue(true)),
                ..Default::default()
            }],
        });
        assert_eq!(json_text(&map), r#"{"a":true}"#);
    }
}
