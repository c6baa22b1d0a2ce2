//! Edits: what a processor may change in an item, a scope or a resource.
//!
//! A processor walks items with `Batch::edit_*`, reads each through its view, and asks
//! for changes through the edit handle. Changes are recorded and applied when the
//! callback returns, so reads inside the callback see the item as it arrived. Only the
//! resources that change are decoded (see `retain.rs`).

use weir_proto::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use weir_proto::logs::v1::LogRecord;
use weir_proto::metrics::v1::Metric;
use weir_proto::trace::v1::{Span, Status};

use super::view::{
    LogRecordView, MetricView, ResourceView, ScopeView, SeverityNumber, SpanKind, SpanView,
    StatusCode, ValueRef,
};

/// An attribute value owned by the caller, for edits and builders.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum OwnedValue {
    #[default]
    Empty,
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<OwnedValue>),
    KvList(Vec<(String, OwnedValue)>),
}

impl From<&str> for OwnedValue {
    fn from(value: &str) -> Self {
        Self::Str(value.to_string())
    }
}

impl From<String> for OwnedValue {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}

impl From<i64> for OwnedValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<f64> for OwnedValue {
    fn from(value: f64) -> Self {
        Self::Double(value)
    }
}

impl From<bool> for OwnedValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<ValueRef<'_>> for OwnedValue {
    fn from(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Empty => Self::Empty,
            ValueRef::Str(s) => Self::Str(s.to_string()),
            ValueRef::Bool(b) => Self::Bool(b),
            ValueRef::Int(i) => Self::Int(i),
            ValueRef::Double(d) => Self::Double(d),
            ValueRef::Bytes(b) => Self::Bytes(b.to_vec()),
            ValueRef::Array(a) => Self::Array(a.iter().map(Self::from).collect()),
            ValueRef::KvList(kv) => Self::KvList(
                kv.iter()
                    .map(|(k, v)| (k.to_string(), Self::from(v)))
                    .collect(),
            ),
        }
    }
}

impl OwnedValue {
    pub(crate) fn into_any_value(self) -> AnyValue {
        let value = match self {
            Self::Empty => None,
            Self::Str(s) => Some(any_value::Value::StringValue(s)),
            Self::Bool(b) => Some(any_value::Value::BoolValue(b)),
            Self::Int(i) => Some(any_value::Value::IntValue(i)),
            Self::Double(d) => Some(any_value::Value::DoubleValue(d)),
            Self::Bytes(b) => Some(any_value::Value::BytesValue(b)),
            Self::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
                values: a.into_iter().map(Self::into_any_value).collect(),
            })),
            Self::KvList(kv) => Some(any_value::Value::KvlistValue(KeyValueList {
                values: kv.into_iter().map(|(k, v)| key_value(k, v)).collect(),
            })),
        };
        AnyValue { value }
    }
}

pub(crate) fn key_value(key: String, value: OwnedValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value.into_any_value()),
        ..Default::default()
    }
}

/// One change to an attribute list. The Collector's `attributes` processor actions.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrOp {
    /// Adds the attribute when the key is absent.
    Insert(String, OwnedValue),
    /// Replaces the value when the key is present.
    Update(String, OwnedValue),
    /// Inserts or replaces.
    Upsert(String, OwnedValue),
    /// Moves a value to a new key (replacing any value there); nothing when absent.
    Rename { from: String, to: String },
    /// Removes every attribute with the key.
    Delete(String),
}

impl AttrOp {
    pub(crate) fn apply(self, list: &mut Vec<KeyValue>) {
        match self {
            AttrOp::Insert(key, value) => {
                if !list.iter().any(|kv| kv.key == key) {
                    list.push(key_value(key, value));
                }
            }
            AttrOp::Update(key, value) => {
                if let Some(kv) = list.iter_mut().find(|kv| kv.key == key) {
                    kv.value = Some(value.into_any_value());
                }
            }
            AttrOp::Upsert(key, value) => match list.iter_mut().find(|kv| kv.key == key) {
                Some(kv) => kv.value = Some(value.into_any_value()),
                None => list.push(key_value(key, value)),
            },
            AttrOp::Rename { from, to } => {
                if from == to {
                    return;
                }
                if let Some(index) = list.iter().position(|kv| kv.key == from) {
                    let moved = list.remove(index).value;
                    list.retain(|kv| kv.key != to);
                    list.push(KeyValue {
                        key: to,
                        value: moved,
                        ..Default::default()
                    });
                }
            }
            AttrOp::Delete(key) => list.retain(|kv| kv.key != key),
        }
    }
}

/// Records attribute changes; what every edit handle's `attributes()` returns.
#[derive(Debug)]
pub struct AttributeEditor<'e, Op> {
    ops: &'e mut Vec<Op>,
    wrap: fn(AttrOp) -> Op,
}

impl<Op> AttributeEditor<'_, Op> {
    fn push(&mut self, op: AttrOp) -> &mut Self {
        self.ops.push((self.wrap)(op));
        self
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<OwnedValue>) -> &mut Self {
        self.push(AttrOp::Insert(key.into(), value.into()))
    }

    pub fn update(&mut self, key: impl Into<String>, value: impl Into<OwnedValue>) -> &mut Self {
        self.push(AttrOp::Update(key.into(), value.into()))
    }

    pub fn upsert(&mut self, key: impl Into<String>, value: impl Into<OwnedValue>) -> &mut Self {
        self.push(AttrOp::Upsert(key.into(), value.into()))
    }

    pub fn rename(&mut self, from: impl Into<String>, to: impl Into<String>) -> &mut Self {
        self.push(AttrOp::Rename {
            from: from.into(),
            to: to.into(),
        })
    }

    pub fn delete(&mut self, key: impl Into<String>) -> &mut Self {
        self.push(AttrOp::Delete(key.into()))
    }

    /// Applies a prepared change.
    pub fn apply(&mut self, op: AttrOp) -> &mut Self {
        self.push(op)
    }
}

/// A change to a span.
#[derive(Clone, Debug, PartialEq)]
#[doc(hidden)]
pub enum SpanOp {
    Attr(AttrOp),
    Name(String),
    Status(StatusCode, String),
    TraceState(String),
    Kind(SpanKind),
    /// An attribute change on the span event at this index (as the span arrived).
    EventAttr(usize, AttrOp),
    /// Renames the span event at this index.
    EventName(usize, String),
    /// Keeps the span events whose flag is set (indexes as the span arrived). Applied
    /// after every other change to the span, so event indexes stay valid.
    RetainEvents(Vec<bool>),
}

impl SpanOp {
    pub(crate) fn apply(self, span: &mut Span) {
        match self {
            SpanOp::Attr(op) => op.apply(&mut span.attributes),
            SpanOp::Name(name) => span.name = name,
            SpanOp::Status(code, message) => {
                span.status = Some(Status {
                    code: code.as_i32(),
                    message,
                })
            }
            SpanOp::TraceState(state) => span.trace_state = state,
            SpanOp::Kind(kind) => span.kind = kind.as_i32(),
            SpanOp::EventAttr(index, op) => {
                if let Some(event) = span.events.get_mut(index) {
                    op.apply(&mut event.attributes);
                }
            }
            SpanOp::EventName(index, name) => {
                if let Some(event) = span.events.get_mut(index) {
                    event.name = name;
                }
            }
            SpanOp::RetainEvents(keep) => {
                let mut index = 0;
                span.events.retain(|_| {
                    index += 1;
                    keep.get(index - 1).copied().unwrap_or(true)
                });
            }
        }
    }

    /// Applies a span's changes in order, with event removals last.
    pub(crate) fn apply_all(ops: impl Iterator<Item = SpanOp>, span: &mut Span) {
        let mut removals = Vec::new();
        for op in ops {
            match op {
                SpanOp::RetainEvents(_) => removals.push(op),
                op => op.apply(span),
            }
        }
        for op in removals {
            op.apply(span);
        }
    }
}

/// One span in `Batch::edit_spans`: read it, and ask for changes.
#[derive(Debug)]
pub struct SpanEdit<'e> {
    pub(crate) span: SpanView<'e>,
    pub(crate) resource: ResourceView<'e>,
    pub(crate) scope: ScopeView<'e>,
    pub(crate) ops: &'e mut Vec<SpanOp>,
}

impl<'e> SpanEdit<'e> {
    /// The span as it arrived (changes asked for here are not visible yet).
    pub fn span(&self) -> SpanView<'e> {
        self.span
    }

    pub fn resource(&self) -> ResourceView<'e> {
        self.resource
    }

    pub fn scope(&self) -> ScopeView<'e> {
        self.scope
    }

    pub fn attributes(&mut self) -> AttributeEditor<'_, SpanOp> {
        AttributeEditor {
            ops: self.ops,
            wrap: SpanOp::Attr,
        }
    }

    pub fn set_name(&mut self, name: impl Into<String>) {
        self.ops.push(SpanOp::Name(name.into()));
    }

    pub fn set_status(&mut self, code: StatusCode, message: impl Into<String>) {
        self.ops.push(SpanOp::Status(code, message.into()));
    }

    pub fn set_trace_state(&mut self, state: impl Into<String>) {
        self.ops.push(SpanOp::TraceState(state.into()));
    }

    pub fn set_kind(&mut self, kind: SpanKind) {
        self.ops.push(SpanOp::Kind(kind));
    }

    /// Changes an attribute of the span event at `index` (in `span().events()` order).
    pub fn event_attribute(&mut self, index: usize, op: AttrOp) {
        self.ops.push(SpanOp::EventAttr(index, op));
    }

    /// Renames the span event at `index`.
    pub fn set_event_name(&mut self, index: usize, name: impl Into<String>) {
        self.ops.push(SpanOp::EventName(index, name.into()));
    }

    /// Keeps the span events whose flag is set, in `span().events()` order; events past
    /// the end of `keep` stay.
    pub fn retain_events(&mut self, keep: Vec<bool>) {
        self.ops.push(SpanOp::RetainEvents(keep));
    }
}

/// A change to a log record.
#[derive(Clone, Debug, PartialEq)]
#[doc(hidden)]
pub enum LogOp {
    Attr(AttrOp),
    Body(OwnedValue),
    SeverityNumber(SeverityNumber),
    SeverityText(String),
}

impl LogOp {
    pub(crate) fn apply(self, record: &mut LogRecord) {
        match self {
            LogOp::Attr(op) => op.apply(&mut record.attributes),
            LogOp::Body(body) => {
                record.body = match body {
                    OwnedValue::Empty => None,
                    body => Some(body.into_any_value()),
                }
            }
            LogOp::SeverityNumber(number) => record.severity_number = number.0,
            LogOp::SeverityText(text) => record.severity_text = text,
        }
    }
}

/// One log record in `Batch::edit_log_records`.
#[derive(Debug)]
pub struct LogRecordEdit<'e> {
    pub(crate) record: LogRecordView<'e>,
    pub(crate) resource: ResourceView<'e>,
    pub(crate) scope: ScopeView<'e>,
    pub(crate) ops: &'e mut Vec<LogOp>,
}

impl<'e> LogRecordEdit<'e> {
    /// The record as it arrived.
    pub fn record(&self) -> LogRecordView<'e> {
        self.record
    }

    pub fn resource(&self) -> ResourceView<'e> {
        self.resource
    }

    pub fn scope(&self) -> ScopeView<'e> {
        self.scope
    }

    pub fn attributes(&mut self) -> AttributeEditor<'_, LogOp> {
        AttributeEditor {
            ops: self.ops,
            wrap: LogOp::Attr,
        }
    }

    pub fn set_body(&mut self, body: impl Into<OwnedValue>) {
        self.ops.push(LogOp::Body(body.into()));
    }

    pub fn set_severity_number(&mut self, number: SeverityNumber) {
        self.ops.push(LogOp::SeverityNumber(number));
    }

    pub fn set_severity_text(&mut self, text: impl Into<String>) {
        self.ops.push(LogOp::SeverityText(text.into()));
    }
}

/// A resource in `Batch::edit_resources`.
#[derive(Debug)]
pub struct ResourceEdit<'e> {
    pub(crate) resource: ResourceView<'e>,
    pub(crate) ops: &'e mut Vec<AttrOp>,
}

impl<'e> ResourceEdit<'e> {
    pub fn resource(&self) -> ResourceView<'e> {
        self.resource
    }

    pub fn attributes(&mut self) -> AttributeEditor<'_, AttrOp> {
        AttributeEditor {
            ops: self.ops,
            wrap: |op| op,
        }
    }
}

/// A change to an instrumentation scope.
#[derive(Clone, Debug, PartialEq)]
#[doc(hidden)]
pub enum ScopeOp {
    Attr(AttrOp),
    Name(String),
    Version(String),
}

/// A scope in `Batch::edit_scopes`.
#[derive(Debug)]
pub struct ScopeEdit<'e> {
    pub(crate) resource: ResourceView<'e>,
    pub(crate) scope: ScopeView<'e>,
    pub(crate) ops: &'e mut Vec<ScopeOp>,
}

impl<'e> ScopeEdit<'e> {
    pub fn resource(&self) -> ResourceView<'e> {
        self.resource
    }

    pub fn scope(&self) -> ScopeView<'e> {
        self.scope
    }

    pub fn attributes(&mut self) -> AttributeEditor<'_, ScopeOp> {
        AttributeEditor {
            ops: self.ops,
            wrap: ScopeOp::Attr,
        }
    }

    pub fn set_name(&mut self, name: impl Into<String>) {
        self.ops.push(ScopeOp::Name(name.into()));
    }

    pub fn set_version(&mut self, version: impl Into<String>) {
        self.ops.push(ScopeOp::Version(version.into()));
    }
}

/// A change to a metric's descriptor or to its points' attributes.
#[derive(Clone, Debug, PartialEq)]
#[doc(hidden)]
pub enum MetricOp {
    Name(String),
    Description(String),
    Unit(String),
    /// Applied to every data point of the metric.
    PointAttr(AttrOp),
    /// Applied to the data point at this index (in the metric's point order).
    PointAttrAt(usize, AttrOp),
}

impl MetricOp {
    pub(crate) fn apply(self, metric: &mut Metric) {
        use weir_proto::metrics::v1::metric::Data;
        match self {
            MetricOp::Name(name) => metric.name = name,
            MetricOp::Description(text) => metric.description = text,
            MetricOp::Unit(unit) => metric.unit = unit,
            MetricOp::PointAttrAt(index, op) => {
                if let Some(attributes) = point_attributes_mut(metric).nth(index) {
                    op.apply(attributes);
                }
            }
            MetricOp::PointAttr(op) => match &mut metric.data {
                Some(Data::Gauge(g)) => {
                    for p in &mut g.data_points {
                        op.clone().apply(&mut p.attributes)
                    }
                }
                Some(Data::Sum(s)) => {
                    for p in &mut s.data_points {
                        op.clone().apply(&mut p.attributes)
                    }
                }
                Some(Data::Histogram(h)) => {
                    for p in &mut h.data_points {
                        op.clone().apply(&mut p.attributes)
                    }
                }
                Some(Data::ExponentialHistogram(h)) => {
                    for p in &mut h.data_points {
                        op.clone().apply(&mut p.attributes)
                    }
                }
                Some(Data::Summary(s)) => {
                    for p in &mut s.data_points {
                        op.clone().apply(&mut p.attributes)
                    }
                }
                None => {}
            },
        }
    }
}

/// The attribute lists of a metric's data points, in order.
fn point_attributes_mut(metric: &mut Metric) -> Box<dyn Iterator<Item = &mut Vec<KeyValue>> + '_> {
    use weir_proto::metrics::v1::metric::Data;
    match &mut metric.data {
        Some(Data::Gauge(g)) => Box::new(g.data_points.iter_mut().map(|p| &mut p.attributes)),
        Some(Data::Sum(s)) => Box::new(s.data_points.iter_mut().map(|p| &mut p.attributes)),
        Some(Data::Histogram(h)) => Box::new(h.data_points.iter_mut().map(|p| &mut p.attributes)),
        Some(Data::ExponentialHistogram(h)) => {
            Box::new(h.data_points.iter_mut().map(|p| &mut p.attributes))
        }
        Some(Data::Summary(s)) => Box::new(s.data_points.iter_mut().map(|p| &mut p.attributes)),
        None => Box::new(std::iter::empty()),
    }
}

/// A metric in `Batch::edit_metrics`.
#[derive(Debug)]
pub struct MetricEdit<'e> {
    pub(crate) metric: MetricView<'e>,
    pub(crate) resource: ResourceView<'e>,
    pub(crate) scope: ScopeView<'e>,
    pub(crate) ops: &'e mut Vec<MetricOp>,
}

impl<'e> MetricEdit<'e> {
    pub fn metric(&self) -> MetricView<'e> {
        self.metric
    }

    pub fn resource(&self) -> ResourceView<'e> {
        self.resource
    }

    pub fn scope(&self) -> ScopeView<'e> {
        self.scope
    }

    pub fn set_name(&mut self, name: impl Into<String>) {
        self.ops.push(MetricOp::Name(name.into()));
    }

    pub fn set_description(&mut self, text: impl Into<String>) {
        self.ops.push(MetricOp::Description(text.into()));
    }

    pub fn set_unit(&mut self, unit: impl Into<String>) {
        self.ops.push(MetricOp::Unit(unit.into()));
    }

    /// Changes an attribute of the data point at `index` (in `metric().points()` order).
    pub fn point_attribute(&mut self, index: usize, op: AttrOp) {
        self.ops.push(MetricOp::PointAttrAt(index, op));
    }

    /// Changes the attributes of every data point of this metric.
    pub fn point_attributes(&mut self) -> AttributeEditor<'_, MetricOp> {
        AttributeEditor {
            ops: self.ops,
            wrap: MetricOp::PointAttr,
        }
    }
}
