//! `headers` become gRPC metadata. Names and values are checked when the config is
//! checked, so a bad header is a config problem with a key path rather than an error on
//! every export.

use std::collections::BTreeMap;

use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

/// A header name must be a valid ASCII metadata key (binary `-bin` keys would need
/// base64 values and are refused).
pub fn check_name(name: &str) -> Result<AsciiMetadataKey, String> {
    AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
        format!("`{name}` is not a valid gRPC metadata name (ASCII token, no `-bin` suffix)")
    })
}

pub fn check_value(value: &str) -> Result<AsciiMetadataValue, String> {
    AsciiMetadataValue::try_from(value)
        .map_err(|_| "a header value must be visible ASCII (no control characters)".to_string())
}

/// The metadata sent with every request.
pub fn build(headers: &BTreeMap<String, String>) -> Result<MetadataMap, String> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let key = check_name(name)?;
        let value = check_value(value).map_err(|e| format!("header `{name}`: {e}"))?;
        map.insert(key, value);
    }
    Ok(map)
}
