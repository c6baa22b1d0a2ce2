//! Views shared by every signal: attribute values, attribute lists, resources and
//! instrumentation scopes.

use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::resource::v1::Resource;

use crate::batch::wire::{Field, Msg, Repeated};

/// An attribute value, borrowed from the batch: the OTLP `AnyValue`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// No value (an empty `AnyValue`, or an attribute without one).
    Empty,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Array(ArrayView<'a>),
    KvList(Attributes<'a>),
}

impl<'a> ValueRef<'a> {
    pub(crate) fn owned(value: Option<&'a AnyValue>) -> Self {
        match value.and_then(|v| v.value.as_ref()) {
            None => Self::Empty,
            Some(any_value::Value::StringValue(s)) => Self::Str(s),
            Some(any_value::Value::BoolValue(b)) => Self::Bool(*b),
            Some(any_value::Value::IntValue(i)) => Self::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => Self::Double(*d),
            Some(any_value::Value::BytesValue(b)) => Self::Bytes(b),
            Some(any_value::Value::ArrayValue(a)) => {
                Self::Array(ArrayView(Inner::Owned(&a.values)))
            }
            Some(any_value::Value::KvlistValue(kv)) => {
                Self::KvList(Attributes(AttrInner::Owned(&kv.values)))
            }
            // String-table references exist only in profiles.
            Some(_) => Self::Empty,
        }
    }

    /// Reads an `AnyValue` message: its oneof, last occurrence winning.
    pub(crate) fn wire(msg: Option<Msg<'a>>) -> Self {
        let Some(msg) = msg else { return Self::Empty };
        let mut out = Self::Empty;
        for (number, field, _) in msg.fields() {
            out = match (number, field) {
                (1, Field::Len(b)) => Self::Str(std::str::from_utf8(b).unwrap_or_default()),
                (2, Field::Varint(v)) => Self::Bool(v != 0),
                (3, Field::Varint(v)) => Self::Int(v as i64),
                (4, Field::Fixed64(v)) => Self::Double(f64::from_bits(v)),
                (5, Field::Len(b)) => Self::Array(ArrayView(Inner::Wire(Msg(b)))),
                (6, Field::Len(b)) => Self::KvList(Attributes(AttrInner::Wire(Msg(b), 1))),
                (7, Field::Len(b)) => Self::Bytes(b),
                (8, Field::Varint(_)) => Self::Empty,
                _ => continue,
            };
        }
        out
    }

    /// The value when it is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_double(&self) -> Option<f64> {
        match self {
            Self::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Inner<'a> {
    Owned(&'a [AnyValue]),
    Wire(Msg<'a>),
}

/// An array value's elements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArrayView<'a>(Inner<'a>);

impl<'a> ArrayView<'a> {
    pub fn iter(&self) -> impl Iterator<Item = ValueRef<'a>> + 'a {
        let (owned, wire) = match self.0 {
            Inner::Owned(values) => (Some(values.iter()), None),
            Inner::Wire(msg) => (None, Some(msg.repeated(1))),
        };
        owned
            .into_iter()
            .flatten()
            .map(|v| ValueRef::owned(Some(v)))
            .chain(wire.into_iter().flatten().map(|m| ValueRef::wire(Some(m))))
    }

    pub fn len(&self) -> usize {
        match self.0 {
            Inner::Owned(values) => values.len(),
            Inner::Wire(msg) => msg.repeated(1).count(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum AttrInner<'a> {
    Owned(&'a [KeyValue]),
    /// The message holding the list, and the list's field number in it.
    Wire(Msg<'a>, u32),
}

/// A list of key-value attributes (an item's, a scope's, a resource's, or a kvlist
/// value). Lookup by key compares bytes and allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attributes<'a>(AttrInner<'a>);

impl<'a> Attributes<'a> {
    pub(crate) fn owned(list: &'a [KeyValue]) -> Self {
        Self(AttrInner::Owned(list))
    }

    pub(crate) fn wire(msg: Msg<'a>, number: u32) -> Self {
        Self(AttrInner::Wire(msg, number))
    }

    pub(crate) fn none() -> Self {
        Self(AttrInner::Owned(&[]))
    }

    /// An empty list (for an item that has no such list).
    pub fn empty() -> Self {
        Self::none()
    }

    /// Every attribute, in order (duplicates included, as they arrived).
    pub fn iter(&self) -> AttributeIter<'a> {
        match self.0 {
            AttrInner::Owned(list) => AttributeIter::Owned(list.iter()),
            AttrInner::Wire(msg, number) => AttributeIter::Wire(msg.repeated(number)),
        }
    }

    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<ValueRef<'a>> {
        match self.0 {
            AttrInner::Owned(list) => list
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| ValueRef::owned(kv.value.as_ref())),
            AttrInner::Wire(msg, number) => msg
                .repeated(number)
                .find(|kv| kv.bytes(1) == key.as_bytes())
                .map(|kv| ValueRef::wire(kv.msg(2))),
        }
    }

    /// The value of `key` when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(|v| v.as_str())
    }

    pub fn len(&self) -> usize {
        match self.0 {
            AttrInner::Owned(list) => list.len(),
            AttrInner::Wire(msg, number) => msg.repeated(number).count(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Iterates `(key, value)` pairs.
#[derive(Clone, Debug)]
pub enum AttributeIter<'a> {
    #[doc(hidden)]
    Owned(std::slice::Iter<'a, KeyValue>),
    #[doc(hidden)]
    Wire(Repeated<'a>),
}

impl<'a> Iterator for AttributeIter<'a> {
    type Item = (&'a str, ValueRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Owned(it) => it
                .next()
                .map(|kv| (kv.key.as_str(), ValueRef::owned(kv.value.as_ref()))),
            Self::Wire(it) => it.next().map(|kv| (kv.str(1), ValueRef::wire(kv.msg(2)))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ResInner<'a> {
    Owned(Option<&'a Resource>),
    Wire(Option<Msg<'a>>),
}

/// The resource that produced a group of items.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResourceView<'a>(ResInner<'a>);

impl<'a> ResourceView<'a> {
    pub(crate) fn owned(resource: Option<&'a Resource>) -> Self {
        Self(ResInner::Owned(resource))
    }

    /// No resource: no attributes.
    pub fn empty() -> Self {
        Self(ResInner::Owned(None))
    }

    pub(crate) fn wire(resource: Option<Msg<'a>>) -> Self {
        Self(ResInner::Wire(resource))
    }

    pub fn attributes(&self) -> Attributes<'a> {
        match self.0 {
            ResInner::Owned(Some(r)) => Attributes::owned(&r.attributes),
            ResInner::Wire(Some(m)) => Attributes::wire(m, 1),
            _ => Attributes::none(),
        }
    }

    pub fn dropped_attributes_count(&self) -> u32 {
        match self.0 {
            ResInner::Owned(Some(r)) => r.dropped_attributes_count,
            ResInner::Wire(Some(m)) => m.varint(2) as u32,
            _ => 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ScopeInner<'a> {
    Owned(Option<&'a InstrumentationScope>),
    Wire(Option<Msg<'a>>),
}

/// The instrumentation scope (library) that produced a group of items.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScopeView<'a>(ScopeInner<'a>);

impl<'a> ScopeView<'a> {
    pub(crate) fn owned(scope: Option<&'a InstrumentationScope>) -> Self {
        Self(ScopeInner::Owned(scope))
    }

    /// No scope: empty name, version and attributes (for a resource-level item).
    pub fn empty() -> Self {
        Self(ScopeInner::Owned(None))
    }

    pub(crate) fn wire(scope: Option<Msg<'a>>) -> Self {
        Self(ScopeInner::Wire(scope))
    }

    pub fn name(&self) -> &'a str {
        match self.0 {
            ScopeInner::Owned(Some(s)) => &s.name,
            ScopeInner::Wire(Some(m)) => m.str(1),
            _ => "",
        }
    }

    pub fn version(&self) -> &'a str {
        match self.0 {
            ScopeInner::Owned(Some(s)) => &s.version,
            ScopeInner::Wire(Some(m)) => m.str(2),
            _ => "",
        }
    }

    pub fn attributes(&self) -> Attributes<'a> {
        match self.0 {
            ScopeInner::Owned(Some(s)) => Attributes::owned(&s.attributes),
            ScopeInner::Wire(Some(m)) => Attributes::wire(m, 3),
            _ => Attributes::none(),
        }
    }

    pub fn dropped_attributes_count(&self) -> u32 {
        match self.0 {
            ScopeInner::Owned(Some(s)) => s.dropped_attributes_count,
            ScopeInner::Wire(Some(m)) => m.varint(4) as u32,
            _ => 0,
        }
    }
}
