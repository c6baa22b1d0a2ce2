//! Running the actions on one attribute list, with the Collector's semantics
//! (`AttrProc.Process`, `sha2Hasher`, `convertValue`).

use weir_api::batch::edit::{AttrOp, OwnedValue};
use weir_api::batch::view::Attributes;
use weir_api::ClientMetadata;
use weir_match_properties::value::owned_as_string;

use super::compile::{Action, Actions, ConvertTarget, Source};
use super::working::Working;

impl Actions {
    /// Runs every action, in order, on `arrived` and hands the net changes to `sink`
    /// (e.g. `|op| { edit.attributes().apply(op); }`). Nothing reaches `sink` when the
    /// list ends as it arrived.
    pub fn apply(
        &self,
        arrived: Attributes<'_>,
        metadata: &ClientMetadata,
        sink: impl FnMut(AttrOp),
    ) {
        let mut list = Working::new(arrived);
        for action in &self.0 {
            run(action, &mut list, metadata);
        }
        list.into_ops(sink);
    }
}

fn source_value(
    source: &Source,
    list: &Working<'_>,
    metadata: &ClientMetadata,
) -> Option<OwnedValue> {
    match source {
        Source::Value(v) => Some(v.clone()),
        Source::Attribute(key) => list.get(key).map(|v| v.to_owned()),
        Source::Metadata(key) => {
            let values = metadata.get(key);
            (!values.is_empty()).then(|| OwnedValue::Str(values.join(";")))
        }
    }
}

fn matching_keys(pattern: Option<&regex::Regex>, list: &Working<'_>) -> Vec<String> {
    match pattern {
        None => Vec::new(),
        Some(re) => list.keys().into_iter().filter(|k| re.is_match(k)).collect(),
    }
}

fn run(action: &Action, list: &mut Working<'_>, metadata: &ClientMetadata) {
    match action {
        Action::Insert { key, source } => {
            if list.contains(key) {
                return;
            }
            if let Some(value) = source_value(source, list, metadata) {
                list.set(key, value);
            }
        }
        Action::Update { key, source } => {
            if !list.contains(key) {
                return;
            }
            if let Some(value) = source_value(source, list, metadata) {
                list.set(key, value);
            }
        }
        Action::Upsert { key, source } => {
            if let Some(value) = source_value(source, list, metadata) {
                list.set(key, value);
            }
        }
        Action::Delete { key, pattern } => {
            list.delete(key);
            for k in matching_keys(pattern.as_ref(), list) {
                list.delete(&k);
            }
        }
        Action::Hash { key, pattern } => {
            hash(key, list);
            for k in matching_keys(pattern.as_ref(), list) {
                hash(&k, list);
            }
        }
        Action::Extract {
            key,
            pattern,
            names,
        } => {
            let Some(OwnedValue::Str(text)) = list.get(key).map(|v| v.to_owned()) else {
                return;
            };
            let Some(captures) = pattern.captures(&text) else {
                return;
            };
            for (i, name) in names.iter().enumerate() {
                let group = captures.get(i + 1).map_or("", |m| m.as_str());
                list.set(name, OwnedValue::Str(group.to_string()));
            }
        }
        Action::Convert { key, to } => {
            let Some(value) = list.get(key).map(|v| v.to_owned()) else {
                return;
            };
            if let Some(converted) = convert(value, *to) {
                list.set(key, converted);
            }
        }
    }
}

/// `sha2Hasher`: strings by their bytes, booleans as one byte (1/0), integers and
/// doubles as 8 little-endian bytes; the value becomes the SHA-256 in lower-case hex.
/// Empty strings and other types (bytes, arrays, maps, empty) become "".
pub fn hash_value(value: &OwnedValue) -> String {
    let bytes: Vec<u8> = match value {
        OwnedValue::Str(s) => s.as_bytes().to_vec(),
        OwnedValue::Bool(b) => vec![u8::from(*b)],
        OwnedValue::Int(i) => i.to_le_bytes().to_vec(),
        OwnedValue::Double(d) => d.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    if bytes.is_empty() {
        String::new()
    } else {
        weir_ottl::sha256_hex(&bytes)
    }
}

fn hash(key: &str, list: &mut Working<'_>) {
    if let Some(value) = list.get(key).map(|v| v.to_owned()) {
        list.set(key, OwnedValue::Str(hash_value(&value)));
    }
}

/// `convertValue`: `None` leaves the value as it is (already of the type, or not
/// convertible: the Collector logs at debug level and moves on).
pub fn convert(value: OwnedValue, to: ConvertTarget) -> Option<OwnedValue> {
    match (to, value) {
        (ConvertTarget::String, OwnedValue::Str(_)) => None,
        (ConvertTarget::String, other) => Some(OwnedValue::Str(owned_as_string(&other))),
        (ConvertTarget::Int, OwnedValue::Int(_)) => None,
        // Go's int64(float64) truncates toward zero; out of range, Rust saturates.
        (ConvertTarget::Int, OwnedValue::Double(d)) => Some(OwnedValue::Int(d as i64)),
        (ConvertTarget::Int, OwnedValue::Bool(b)) => Some(OwnedValue::Int(i64::from(b))),
        (ConvertTarget::Int, OwnedValue::Str(s)) => s.parse::<i64>().ok().map(OwnedValue::Int),
        (ConvertTarget::Double, OwnedValue::Double(_)) => None,
        (ConvertTarget::Double, OwnedValue::Int(i)) => Some(OwnedValue::Double(i as f64)),
        (ConvertTarget::Double, OwnedValue::Bool(b)) => {
            Some(OwnedValue::Double(if b { 1.0 } else { 0.0 }))
        }
        (ConvertTarget::Double, OwnedValue::Str(s)) => parse_float(&s).map(OwnedValue::Double),
        _ => None,
    }
}

/// `strconv.ParseFloat(s, 64)` for the forms Rust shares with Go: an out-of-range
/// number is an error in Go (Rust would give infinity), `inf`/`nan` words are accepted.
fn parse_float(s: &str) -> Option<f64> {
    let value: f64 = s.parse().ok()?;
    if value.is_infinite() {
        let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if word != "inf" && word != "infinity" {
            return None;
        }
    }
    Some(value)
}
