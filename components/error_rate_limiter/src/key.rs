//! The key of an error: the values of the configured attributes, joined as `k=v,k=v`.
//!
//! Each attribute is looked up on the item first, then (spans only) on its `exception`
//! events, where the OpenTelemetry semantic conventions put `exception.type`,
//! `exception.message` and `exception.stacktrace` when a span records an exception, and
//! last on the item's resource (`service.name`). An attribute found nowhere has an empty
//! value (`exception.type=`). Values are cut to [`MAX_VALUE_BYTES`], so a hostile
//! `exception.type` cannot make a key (held for up to `max_keys` keys) arbitrarily large.

use weir_api::batch::view::{LogRecordView, ResourceView, SpanView, ValueRef};
use weir_api::batch::OwnedValue;

/// The longest attribute value kept in a key, in bytes.
pub const MAX_VALUE_BYTES: usize = 256;

/// The span event name under which the semantic conventions record an exception.
pub const EXCEPTION_EVENT: &str = "exception";

/// The configured attribute names.
#[derive(Clone, Debug)]
pub struct KeySpec {
    names: Vec<String>,
}

/// Where a key value was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Item,
    Resource,
    Missing,
}

/// A key extracted from one item: its text, and which values came from the resource
/// (kept so a summary can carry them as its own resource). Reused between items, so
/// extracting allocates only when a key is longer than any before.
#[derive(Clone, Debug, Default)]
pub struct Extracted {
    pub text: String,
    sources: Vec<Source>,
}

impl KeySpec {
    pub fn new(names: Vec<String>) -> Self {
        Self { names }
    }

    /// The key of a span: span attributes, then `exception` events, then the resource.
    pub fn span(&self, resource: ResourceView<'_>, span: SpanView<'_>, out: &mut Extracted) {
        self.extract(out, |name| {
            if let Some(value) = span.attributes().get(name) {
                return Some((value, Source::Item));
            }
            let from_event = span
                .events()
                .filter(|event| event.name() == EXCEPTION_EVENT)
                .find_map(|event| event.attributes().get(name));
            from_event.map(|value| (value, Source::Item)).or_else(|| {
                resource
                    .attributes()
                    .get(name)
                    .map(|v| (v, Source::Resource))
            })
        });
    }

    /// The key of a log record: record attributes, then the resource.
    pub fn log(&self, resource: ResourceView<'_>, record: LogRecordView<'_>, out: &mut Extracted) {
        self.extract(out, |name| {
            record
                .attributes()
                .get(name)
                .map(|value| (value, Source::Item))
                .or_else(|| {
                    resource
                        .attributes()
                        .get(name)
                        .map(|v| (v, Source::Resource))
                })
        });
    }

    fn extract<'a>(
        &self,
        out: &mut Extracted,
        lookup: impl Fn(&str) -> Option<(ValueRef<'a>, Source)>,
    ) {
        out.text.clear();
        out.sources.clear();
        for (index, name) in self.names.iter().enumerate() {
            if index > 0 {
                out.text.push(',');
            }
            out.text.push_str(name);
            out.text.push('=');
            match lookup(name) {
                Some((value, source)) => {
                    push_value(&mut out.text, value);
                    out.sources.push(source);
                }
                None => out.sources.push(Source::Missing),
            }
        }
    }

    /// The key values that came from the resource, as resource attributes for a summary.
    /// `resource` must be the one the key was extracted with.
    pub fn resource_attributes(
        &self,
        resource: ResourceView<'_>,
        extracted: &Extracted,
    ) -> Vec<(String, OwnedValue)> {
        self.names
            .iter()
            .zip(&extracted.sources)
            .filter(|(_, source)| **source == Source::Resource)
            .filter_map(|(name, _)| {
                resource
                    .attributes()
                    .get(name)
                    .map(|value| (name.clone(), OwnedValue::from(value)))
            })
            .collect()
    }
}

/// Appends a value's text, cut to [`MAX_VALUE_BYTES`] on a character boundary.
fn push_value(out: &mut String, value: ValueRef<'_>) {
    let start = out.len();
    match value {
        ValueRef::Empty => {}
        ValueRef::Str(s) => out.push_str(cut(s)),
        ValueRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        ValueRef::Int(i) => out.push_str(&i.to_string()),
        ValueRef::Double(d) => out.push_str(&d.to_string()),
        ValueRef::Bytes(bytes) => {
            for byte in bytes.iter().take(MAX_VALUE_BYTES / 2) {
                push_hex(out, *byte);
            }
        }
        other => out.push_str(cut(&weir_api::attributes::value_json_text(other))),
    }
    if out.len() - start > MAX_VALUE_BYTES {
        let mut end = start + MAX_VALUE_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
}

fn cut(text: &str) -> &str {
    if text.len() <= MAX_VALUE_BYTES {
        return text;
    }
    let mut end = MAX_VALUE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Appends a byte as two lowercase hex digits.
pub fn push_hex(out: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(char::from(DIGITS[usize::from(byte >> 4)]));
    out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
}
