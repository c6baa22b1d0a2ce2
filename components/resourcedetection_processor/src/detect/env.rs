//! `env`: `OTEL_RESOURCE_ATTRIBUTES`, the SDKs' `key1=value1,key2=value2` list with
//! percent-encoded values (the OpenTelemetry resource SDK specification).

use super::{Attributes, Lookup};

pub const VARIABLE: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// The attributes `OTEL_RESOURCE_ATTRIBUTES` sets (none when it is unset or empty).
pub fn detect(lookup: Lookup<'_>) -> Result<Attributes, String> {
    let Some(text) = lookup(VARIABLE) else {
        return Ok(Vec::new());
    };
    parse(&text)
}

/// Parses the list; an entry without `=` or with an empty key is an error, as in the
/// Collector's env detector.
pub fn parse(text: &str) -> Result<Attributes, String> {
    let mut out: Attributes = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!(
                "{VARIABLE}: invalid entry {entry:?}: expected key=value"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("{VARIABLE}: invalid entry {entry:?}: empty key"));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| format!("{VARIABLE}: invalid percent-encoding in the value of {key}"))?;
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sdk_format() {
        let attrs = parse("service.name=cart, deployment.environment=prod%20eu,,a=1,a=2").unwrap();
        assert_eq!(
            attrs,
            [
                ("service.name".to_string(), "cart".to_string()),
                ("deployment.environment".to_string(), "prod eu".to_string()),
                ("a".to_string(), "2".to_string()),
            ]
        );
        assert!(parse("novalue").unwrap_err().contains("expected key=value"));
        assert!(parse("=x").is_err());
        assert!(parse("k=%zz").is_err());
        assert!(parse("").unwrap().is_empty());
        assert!(detect(&|_| None).unwrap().is_empty());
    }
}
