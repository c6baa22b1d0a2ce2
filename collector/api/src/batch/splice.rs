//! Edits applied to an item's wire bytes, without decoding its resource.
//!
//! A processor that changes a field of some items (the sampler writing `th:` into the
//! trace state of the spans it keeps, `attributes` hashing one attribute of every span)
//! would otherwise decode the whole resource and re-encode it on export. Here each
//! changed item is rewritten on its own: its other fields are copied as they are, the
//! changed singular fields are written anew, and its attribute list (only when an
//! attribute changes) is edited entry by entry: untouched attributes are copied as their
//! bytes, new values are encoded, with the same semantics as [`AttrOp::apply`] on decoded
//! lists. Items that do not change are copied as bytes.
//!
//! Field order inside a rewritten item changes (rewritten fields come last); protobuf
//! readers, Weir's views included, read the same message either way.

use prost::Message;
use weir_proto::common::v1::KeyValue;
use weir_proto::trace::v1::Status;

use super::edit::{AttrOp, LogOp, OwnedValue, SpanOp};
use super::wire::{put_len_header, put_varint, Msg};

/// A change the splice can make, for one item kind.
pub(super) trait Splice: Sized {
    /// Whether every op of this kind can be applied to bytes.
    fn spliceable(&self) -> bool;
    /// Applies the ops to the item's message body, writing the new body to `out`.
    fn splice(item: Msg<'_>, ops: impl Iterator<Item = Self>, out: &mut Vec<u8>);
}

/// One attribute of a list being edited: as received, or written by an op.
enum Entry<'a> {
    Raw(Msg<'a>),
    New(KeyValue),
}

impl Entry<'_> {
    fn key(&self) -> &[u8] {
        match self {
            Entry::Raw(kv) => kv.bytes(1),
            Entry::New(kv) => kv.key.as_bytes(),
        }
    }

    fn is(&self, key: &str) -> bool {
        self.key() == key.as_bytes()
    }

    /// Renamed: the value kept, decoded only for a received entry.
    fn renamed(self, to: String) -> Entry<'static> {
        let value = match self {
            Entry::Raw(kv) => kv
                .msg(2)
                .and_then(|v| weir_proto::common::v1::AnyValue::decode(v.0).ok()),
            Entry::New(kv) => kv.value,
        };
        Entry::New(KeyValue {
            key: to,
            value,
            ..Default::default()
        })
    }
}

/// [`AttrOp::apply`], on entries.
fn apply<'a>(op: AttrOp, list: &mut Vec<Entry<'a>>) {
    let new = |key: String, value: OwnedValue| Entry::New(super::edit::key_value(key, value));
    match op {
        AttrOp::Insert(key, value) => {
            if !list.iter().any(|e| e.is(&key)) {
                list.push(new(key, value));
            }
        }
        AttrOp::Update(key, value) => {
            if let Some(entry) = list.iter_mut().find(|e| e.is(&key)) {
                *entry = new(key, value);
            }
        }
        AttrOp::Upsert(key, value) => match list.iter_mut().find(|e| e.is(&key)) {
            Some(entry) => *entry = new(key, value),
            None => list.push(new(key, value)),
        },
        AttrOp::Rename { from, to } => {
            if from == to {
                return;
            }
            if let Some(index) = list.iter().position(|e| e.is(&from)) {
                let moved = list.remove(index);
                list.retain(|e| !e.is(&to));
                list.push(moved.renamed(to));
            }
        }
        AttrOp::Delete(key) => list.retain(|e| !e.is(&key)),
    }
}

/// The fields an item's ops rewrite: replaced singular fields and its attribute list.
struct Rewrite<'a> {
    /// (field number, its new encoding as a whole field) in the order set; a later
    /// value for the same field replaces an earlier one.
    fields: Vec<(u32, Vec<u8>)>,
    attributes: Option<Vec<Entry<'a>>>,
    attributes_field: u32,
}

impl<'a> Rewrite<'a> {
    fn new(attributes_field: u32) -> Self {
        Self {
            fields: Vec::new(),
            attributes: None,
            attributes_field,
        }
    }

    fn set(&mut self, number: u32, encoded: Vec<u8>) {
        self.fields.retain(|(n, _)| *n != number);
        self.fields.push((number, encoded));
    }

    fn set_string(&mut self, number: u32, value: &str) {
        let mut field = Vec::new();
        if !value.is_empty() {
            put_len_header(&mut field, number, value.len());
            field.extend_from_slice(value.as_bytes());
        }
        self.set(number, field);
    }

    /// An `int32`/enum field: negative values are sign-extended, as protobuf encodes them.
    fn set_varint(&mut self, number: u32, value: u64) {
        let mut field = Vec::new();
        if value != 0 {
            put_varint(&mut field, u64::from(number << 3));
            put_varint(&mut field, value);
        }
        self.set(number, field);
    }

    fn set_message(&mut self, number: u32, body: &[u8]) {
        let mut field = Vec::new();
        put_len_header(&mut field, number, body.len());
        field.extend_from_slice(body);
        self.set(number, field);
    }

    fn attr(&mut self, item: Msg<'a>, op: AttrOp) {
        let number = self.attributes_field;
        let list = self
            .attributes
            .get_or_insert_with(|| item.repeated(number).map(Entry::Raw).collect());
        apply(op, list);
    }

    /// The item with its rewritten fields: every other field copied as it is.
    fn write(self, item: Msg<'_>, out: &mut Vec<u8>) {
        let attributes_field = self.attributes_field;
        let replaced = |number: u32| {
            self.fields.iter().any(|(n, _)| *n == number)
                || (number == attributes_field && self.attributes.is_some())
        };
        for (number, _, raw) in item.fields() {
            if !replaced(number) {
                out.extend_from_slice(raw);
            }
        }
        for (_, field) in &self.fields {
            out.extend_from_slice(field);
        }
        for entry in self.attributes.iter().flatten() {
            match entry {
                Entry::Raw(kv) => {
                    put_len_header(out, attributes_field, kv.0.len());
                    out.extend_from_slice(kv.0);
                }
                Entry::New(kv) => {
                    put_len_header(out, attributes_field, kv.encoded_len());
                    kv.encode_raw(out);
                }
            }
        }
    }
}

/// Span fields (opentelemetry/proto/trace/v1/trace.proto).
mod span_field {
    pub const TRACE_STATE: u32 = 3;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const ATTRIBUTES: u32 = 9;
    pub const STATUS: u32 = 15;
}

impl Splice for SpanOp {
    fn spliceable(&self) -> bool {
        matches!(
            self,
            SpanOp::Attr(_)
                | SpanOp::Name(_)
                | SpanOp::Status(..)
                | SpanOp::TraceState(_)
                | SpanOp::Kind(_)
        )
    }

    fn splice(item: Msg<'_>, ops: impl Iterator<Item = Self>, out: &mut Vec<u8>) {
        let mut rewrite = Rewrite::new(span_field::ATTRIBUTES);
        for op in ops {
            match op {
                SpanOp::Attr(op) => rewrite.attr(item, op),
                SpanOp::Name(name) => rewrite.set_string(span_field::NAME, &name),
                SpanOp::TraceState(state) => rewrite.set_string(span_field::TRACE_STATE, &state),
                SpanOp::Kind(kind) => {
                    rewrite.set_varint(span_field::KIND, i64::from(kind.as_i32()) as u64)
                }
                SpanOp::Status(code, message) => {
                    let status = Status {
                        code: code.as_i32(),
                        message,
                    };
                    rewrite.set_message(span_field::STATUS, &status.encode_to_vec());
                }
                // Not spliceable: `finish_wire` decodes the resource for these.
                SpanOp::EventAttr(..) | SpanOp::EventName(..) | SpanOp::RetainEvents(_) => {}
            }
        }
        rewrite.write(item, out);
    }
}

/// Log record fields (opentelemetry/proto/logs/v1/logs.proto).
mod log_field {
    pub const SEVERITY_NUMBER: u32 = 2;
    pub const SEVERITY_TEXT: u32 = 3;
    pub const BODY: u32 = 5;
    pub const ATTRIBUTES: u32 = 6;
}

impl Splice for LogOp {
    fn spliceable(&self) -> bool {
        true
    }

    fn splice(item: Msg<'_>, ops: impl Iterator<Item = Self>, out: &mut Vec<u8>) {
        let mut rewrite = Rewrite::new(log_field::ATTRIBUTES);
        for op in ops {
            match op {
                LogOp::Attr(op) => rewrite.attr(item, op),
                LogOp::SeverityText(text) => rewrite.set_string(log_field::SEVERITY_TEXT, &text),
                LogOp::SeverityNumber(number) => {
                    rewrite.set_varint(log_field::SEVERITY_NUMBER, i64::from(number.0) as u64)
                }
                LogOp::Body(OwnedValue::Empty) => rewrite.set(log_field::BODY, Vec::new()),
                LogOp::Body(body) => {
                    rewrite.set_message(log_field::BODY, &body.into_any_value().encode_to_vec())
                }
            }
        }
        rewrite.write(item, out);
    }
}
