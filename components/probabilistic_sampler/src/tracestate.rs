//! The W3C `tracestate` header with its OpenTelemetry `ot=` member parsed, so the
//! sampler can read and write `rv` (randomness) and `th` (threshold) while every other
//! vendor's entry passes through untouched.
//!
//! Syntax rules are the W3C Trace Context ones (as the Collector's `pkg/sampling`
//! checks them): a malformed header is an error, which the sampler treats as "no
//! sampling information" under `fail_closed`.

use crate::threshold::{Randomness, Threshold};

const MAX_MEMBERS: usize = 32;
const MAX_HEADER_LEN: usize = 1024;
const MAX_KEY_LEN: usize = 256;
const MAX_TENANT_LEN: usize = 241;
const MAX_SYSTEM_LEN: usize = 14;
const MAX_OTEL_VALUE_LEN: usize = 256;

/// Why a tracestate could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStateError(pub &'static str);

impl std::fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The fields of the `ot=` member. Values keep their arrival spelling (e.g. upper
/// case hex) until they are changed, as the Collector does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OtelTraceState {
    randomness: Option<Randomness>,
    rv_text: String,
    threshold: Option<Threshold>,
    th_text: String,
    /// Other `key:value` sub-members, in arrival order.
    pub extra: Vec<(String, String)>,
}

/// A parsed `tracestate`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct W3cTraceState {
    pub otel: OtelTraceState,
    /// Members other than `ot`, in arrival order.
    pub others: Vec<(String, String)>,
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

fn valid_key(key: &str) -> Result<(), TraceStateError> {
    let bytes = key.as_bytes();
    if bytes.is_empty() {
        return Err(TraceStateError("tracestate member without a key"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(TraceStateError("tracestate key is too long"));
    }
    let ok = match key.split_once('@') {
        Some((tenant, system)) => {
            if tenant.len() > MAX_TENANT_LEN || system.len() > MAX_SYSTEM_LEN {
                return Err(TraceStateError("tracestate multi-tenant key is too long"));
            }
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            !t.is_empty()
                && !s.is_empty()
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && s[0].is_ascii_lowercase()
                && t[1..].iter().all(|b| is_key_char(*b))
                && s[1..].iter().all(|b| is_key_char(*b))
        }
        None => bytes[0].is_ascii_lowercase() && bytes[1..].iter().all(|b| is_key_char(*b)),
    };
    if ok {
        Ok(())
    } else {
        Err(TraceStateError("tracestate key has invalid characters"))
    }
}

fn is_nonblank_value_char(b: u8) -> bool {
    matches!(b, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e)
}

fn valid_value(value: &str) -> Result<(), TraceStateError> {
    let bytes = value.as_bytes();
    let ok = match bytes.split_last() {
        Some((last, rest)) => {
            bytes.len() <= 256
                && is_nonblank_value_char(*last)
                && rest
                    .iter()
                    .all(|b| *b == b' ' || is_nonblank_value_char(*b))
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(TraceStateError(
            "tracestate value has invalid characters or length",
        ))
    }
}

impl OtelTraceState {
    /// Parses the value of the `ot=` member: `key:value` pairs joined by `;`.
    fn parse(input: &str) -> Result<Self, TraceStateError> {
        if input.len() > MAX_OTEL_VALUE_LEN {
            return Err(TraceStateError("ot tracestate value is too long"));
        }
        let mut parsed = OtelTraceState::default();
        for member in input.split(';') {
            let (key, value) = member
                .split_once(':')
                .ok_or(TraceStateError("ot tracestate member without `:`"))?;
            let key_ok = key.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            let value_ok = value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !key_ok || !value_ok {
                return Err(TraceStateError(
                    "ot tracestate member has invalid characters",
                ));
            }
            match key {
                "rv" => {
                    parsed.randomness = Some(
                        Randomness::parse_rvalue(value)
                            .ok_or(TraceStateError("ot rv must be 14 hex digits"))?,
                    );
                    parsed.rv_text = value.to_string();
                }
                "th" => {
                    parsed.threshold = Some(
                        Threshold::parse_tvalue(value)
                            .ok_or(TraceStateError("ot th must be 1 to 14 hex digits"))?,
                    );
                    parsed.th_text = value.to_string();
                }
                _ => parsed.extra.push((key.to_string(), value.to_string())),
            }
        }
        Ok(parsed)
    }

    pub fn randomness(&self) -> Option<Randomness> {
        self.randomness
    }

    pub fn threshold(&self) -> Option<Threshold> {
        self.threshold
    }

    /// Replaces `rv` (written in canonical lower-case form).
    pub fn set_randomness(&mut self, randomness: Option<Randomness>) {
        self.randomness = randomness;
        self.rv_text = randomness.map(Randomness::rvalue).unwrap_or_default();
    }

    /// Replaces `th` (re-encoded with trailing zeros removed).
    pub fn set_threshold(&mut self, threshold: Option<Threshold>) {
        self.threshold = threshold;
        self.th_text = threshold.map(Threshold::tvalue).unwrap_or_default();
    }

    fn is_empty(&self) -> bool {
        self.randomness.is_none() && self.threshold.is_none() && self.extra.is_empty()
    }

    /// `rv` first, then `th`, then the rest, as the Collector writes it.
    fn serialize(&self, out: &mut String) {
        let mut parts: Vec<String> = Vec::new();
        if self.randomness.is_some() && !self.rv_text.is_empty() {
            parts.push(format!("rv:{}", self.rv_text));
        }
        if self.threshold.is_some() && !self.th_text.is_empty() {
            parts.push(format!("th:{}", self.th_text));
        }
        parts.extend(self.extra.iter().map(|(k, v)| format!("{k}:{v}")));
        out.push_str(&parts.join(";"));
    }
}

impl W3cTraceState {
    /// Parses a `tracestate` header value; empty means no members.
    pub fn parse(input: &str) -> Result<Self, TraceStateError> {
        let mut parsed = W3cTraceState::default();
        if input.is_empty() {
            return Ok(parsed);
        }
        if input.len() > MAX_HEADER_LEN {
            return Err(TraceStateError("tracestate is longer than 1024 bytes"));
        }
        let mut members = 0;
        for member in input.split(',') {
            let member = member.trim_matches(|c| c == ' ' || c == '\t');
            if member.is_empty() {
                continue;
            }
            members += 1;
            if members > MAX_MEMBERS {
                return Err(TraceStateError("tracestate has more than 32 members"));
            }
            let (key, value) = member
                .split_once('=')
                .ok_or(TraceStateError("tracestate member without `=`"))?;
            valid_key(key)?;
            valid_value(value)?;
            if key == "ot" {
                parsed.otel = OtelTraceState::parse(value)?;
            } else {
                parsed.others.push((key.to_string(), value.to_string()));
            }
        }
        Ok(parsed)
    }

    /// The header value: the `ot` member first (it is the one this hop modified, as
    /// W3C asks), then the others in their original order.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        if !self.otel.is_empty() {
            out.push_str("ot=");
            self.otel.serialize(&mut out);
        }
        for (key, value) in &self.others {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ot_member_is_parsed_and_others_kept_in_order() {
        let ts = W3cTraceState::parse(
            "congo=t61rcWkgMzE, ot=th:8;rv:0123456789abcd;xx:y ,rojo=00f067aa0ba902b7",
        )
        .unwrap();
        assert_eq!(ts.otel.threshold(), Threshold::parse_tvalue("8"));
        assert_eq!(
            ts.otel.randomness(),
            Randomness::parse_rvalue("0123456789abcd")
        );
        assert_eq!(ts.otel.extra, vec![("xx".to_string(), "y".to_string())]);
        assert_eq!(
            ts.serialize(),
            "ot=rv:0123456789abcd;th:8;xx:y,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        );
    }

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            "Upper=1",
            "a=",
            "ot=rv:123",
            "ot=th:123456789abcdef",
            "ot=th:zz",
            "ot=rv",
            "novalue",
            "k=v\u{7f}",
        ] {
            assert!(W3cTraceState::parse(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(W3cTraceState::parse(&many.join(",")).is_err());
        assert!(W3cTraceState::parse("tenant@sys=v, ,a=b").is_ok());
    }

    #[test]
    fn arrival_spelling_is_kept_until_changed() {
        let mut ts = W3cTraceState::parse("ot=rv:FD70A3D70A3D71;th:80000000000000").unwrap();
        assert_eq!(ts.serialize(), "ot=rv:FD70A3D70A3D71;th:80000000000000");
        ts.otel.set_threshold(Threshold::parse_tvalue("8"));
        assert_eq!(ts.serialize(), "ot=rv:FD70A3D70A3D71;th:8");
    }

    #[test]
    fn empty_ot_is_not_written() {
        let ts = W3cTraceState::parse("a=b").unwrap();
        assert_eq!(ts.serialize(), "a=b");
        assert_eq!(W3cTraceState::parse("").unwrap().serialize(), "");
    }
}
