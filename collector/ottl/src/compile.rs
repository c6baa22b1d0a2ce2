//! Compilation: resolves every path against the context into a field accessor, checks
//! converters and their arguments, turns enum names into numbers; then evaluation on an
//! [`Item`]'s views.

use std::borrow::Cow;

use weir_api::batch::view::MetricType;
use weir_api::batch::PointView;

use crate::functions::{self, Converter};
use crate::parser::{Ast, Key, Node};
use crate::value::{compare, hex, Value};
use crate::{Context, EvalError, Item, ItemKind, OttlError};

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Const(Const),
    Path(Field, Vec<Key>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(&'static str, Box<Expr>, Box<Expr>),
    Math(&'static str, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    List(Vec<Expr>),
    Call(Converter, Vec<Expr>, Vec<Key>),
}

/// A literal, owned by the compiled expression.
#[derive(Debug, Clone)]
pub(crate) enum Const {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
}

/// Every field a path can name. The context decides which are reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    ResourceAttributes,
    ResourceDroppedAttributesCount,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    ScopeDroppedAttributesCount,
    SpanTraceId,
    SpanTraceIdString,
    SpanId,
    SpanIdString,
    SpanParentSpanId,
    SpanParentSpanIdString,
    SpanTraceState,
    SpanName,
    SpanKind,
    SpanKindString,
    SpanStartTime,
    SpanEndTime,
    SpanDuration,
    SpanAttributes,
    SpanDroppedAttributesCount,
    SpanDroppedEventsCount,
    SpanDroppedLinksCount,
    SpanStatusCode,
    SpanStatusMessage,
    SpanFlags,
    EventName,
    EventTime,
    EventAttributes,
    EventDroppedAttributesCount,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    MetricTemporality,
    MetricIsMonotonic,
    PointAttributes,
    PointStartTime,
    PointTime,
    PointValueDouble,
    PointValueInt,
    PointCount,
    PointSum,
    PointFlags,
    LogTime,
    LogObservedTime,
    LogSeverityNumber,
    LogSeverityText,
    LogBody,
    LogAttributes,
    LogDroppedAttributesCount,
    LogFlags,
    LogTraceId,
    LogTraceIdString,
    LogSpanId,
    LogSpanIdString,
    LogEventName,
    Request,
}

impl Field {
    /// Whether the field is a map or a value that `["key"]` may index.
    fn indexable(self) -> bool {
        use Field::*;
        matches!(
            self,
            ResourceAttributes
                | ScopeAttributes
                | SpanAttributes
                | EventAttributes
                | PointAttributes
                | LogAttributes
                | LogBody
                | Request
        )
    }
}

/// Resolves a path as written (`span.status.code`, `attributes`, `resource.attributes`)
/// in `context`. `None`: not a path of this context.
pub(crate) fn resolve(parts: &[String], context: Context) -> Result<Field, String> {
    let names: Vec<&str> = parts.iter().map(String::as_str).collect();
    // The owner of the path: a prefix naming a context this one reaches, or the context
    // itself.
    let (owner, rest) = match names.split_first() {
        Some((first, rest)) if !rest.is_empty() || *first == "request" => {
            let named = match *first {
                "instrumentation_scope" => Some(Context::Scope),
                other => Context::parse(other),
            };
            match named {
                Some(named) if context.reaches(named) => (named, rest),
                Some(named) if named != context => {
                    return Err(format!(
                        "`{}` paths cannot be read in the `{}` context",
                        named.name(),
                        context.name()
                    ))
                }
                _ => (context, &names[..]),
            }
        }
        _ => (context, &names[..]),
    };
    use Field::*;
    let field = match (owner, rest) {
        (Context::Resource, ["attributes"]) => ResourceAttributes,
        (Context::Resource, ["dropped_attributes_count"]) => ResourceDroppedAttributesCount,
        (Context::Scope, ["name"]) => ScopeName,
        (Context::Scope, ["version"]) => ScopeVersion,
        (Context::Scope, ["attributes"]) => ScopeAttributes,
        (Context::Scope, ["dropped_attributes_count"]) => ScopeDroppedAttributesCount,
        (Context::Span, ["trace_id"]) => SpanTraceId,
        (Context::Span, ["trace_id", "string"]) => SpanTraceIdString,
        (Context::Span, ["span_id"]) => SpanId,
        (Context::Span, ["span_id", "string"]) => SpanIdString,
        (Context::Span, ["parent_span_id"]) => SpanParentSpanId,
        (Context::Span, ["parent_span_id", "string"]) => SpanParentSpanIdString,
        (Context::Span, ["trace_state"]) => SpanTraceState,
        (Context::Span, ["name"]) => SpanName,
        (Context::Span, ["kind"]) => SpanKind,
        (Context::Span, ["kind", "string"]) => SpanKindString,
        (Context::Span, ["start_time_unix_nano"]) => SpanStartTime,
        (Context::Span, ["end_time_unix_nano"]) => SpanEndTime,
        (Context::Span, ["duration"]) => SpanDuration,
        (Context::Span, ["attributes"]) => SpanAttributes,
        (Context::Span, ["dropped_attributes_count"]) => SpanDroppedAttributesCount,
        (Context::Span, ["dropped_events_count"]) => SpanDroppedEventsCount,
        (Context::Span, ["dropped_links_count"]) => SpanDroppedLinksCount,
        (Context::Span, ["status", "code"]) => SpanStatusCode,
        (Context::Span, ["status", "message"]) => SpanStatusMessage,
        (Context::Span, ["flags"]) => SpanFlags,
        (Context::SpanEvent, ["name"]) => EventName,
        (Context::SpanEvent, ["time_unix_nano"]) => EventTime,
        (Context::SpanEvent, ["attributes"]) => EventAttributes,
        (Context::SpanEvent, ["dropped_attributes_count"]) => EventDroppedAttributesCount,
        (Context::Metric, ["name"]) => MetricName,
        (Context::Metric, ["description"]) => MetricDescription,
        (Context::Metric, ["unit"]) => MetricUnit,
        (Context::Metric, ["type"]) => MetricType,
        (Context::Metric, ["aggregation_temporality"]) => MetricTemporality,
        (Context::Metric, ["is_monotonic"]) => MetricIsMonotonic,
        (Context::DataPoint, ["attributes"]) => PointAttributes,
        (Context::DataPoint, ["start_time_unix_nano"]) => PointStartTime,
        (Context::DataPoint, ["time_unix_nano"]) => PointTime,
        (Context::DataPoint, ["value_double"]) => PointValueDouble,
        (Context::DataPoint, ["value_int"]) => PointValueInt,
        (Context::DataPoint, ["count"]) => PointCount,
        (Context::DataPoint, ["sum"]) => PointSum,
        (Context::DataPoint, ["flags"]) => PointFlags,
        (Context::Log, ["time_unix_nano"]) => LogTime,
        (Context::Log, ["observed_time_unix_nano"]) => LogObservedTime,
        (Context::Log, ["severity_number"]) => LogSeverityNumber,
        (Context::Log, ["severity_text"]) => LogSeverityText,
        (Context::Log, ["body"]) => LogBody,
        (Context::Log, ["attributes"]) => LogAttributes,
        (Context::Log, ["dropped_attributes_count"]) => LogDroppedAttributesCount,
        (Context::Log, ["flags"]) => LogFlags,
        (Context::Log, ["trace_id"]) => LogTraceId,
        (Context::Log, ["trace_id", "string"]) => LogTraceIdString,
        (Context::Log, ["span_id"]) => LogSpanId,
        (Context::Log, ["span_id", "string"]) => LogSpanIdString,
        (Context::Log, ["event_name"]) => LogEventName,
        (Context::Request, []) => Request,
        _ => {
            return Err(format!(
                "`{}` is not a path of the `{}` context (see the supported paths in the weir-ottl README)",
                parts.join("."),
                context.name()
            ))
        }
    };
    Ok(field)
}

/// Compiles a condition: the expression must be boolean.
pub(crate) fn compile_bool(node: &Node, context: Context, text: &str) -> Result<Expr, OttlError> {
    let expr = compile(node, context, text)?;
    if !is_boolean(&expr) {
        return Err(OttlError::new(
            node.offset,
            text,
            "this is a value, not a condition: compare it (e.g. `== \"x\"`) or use a converter that answers true or false (`IsMatch`, `IsString`, ...)".into(),
        ));
    }
    Ok(expr)
}

fn is_boolean(expr: &Expr) -> bool {
    match expr {
        Expr::Const(Const::Bool(_))
        | Expr::Not(_)
        | Expr::And(..)
        | Expr::Or(..)
        | Expr::Compare(..) => true,
        Expr::Call(converter, _, keys) => keys.is_empty() && converter.returns_bool(),
        _ => false,
    }
}

/// Compiles any expression.
pub(crate) fn compile(node: &Node, context: Context, text: &str) -> Result<Expr, OttlError> {
    let err = |offset: usize, message: String| OttlError::new(offset, text, message);
    Ok(match &node.ast {
        Ast::Nil => Expr::Const(Const::Nil),
        Ast::Bool(b) => Expr::Const(Const::Bool(*b)),
        Ast::Int(i) => Expr::Const(Const::Int(*i)),
        Ast::Float(f) => Expr::Const(Const::Float(*f)),
        Ast::Str(s) => Expr::Const(Const::Str(s.clone())),
        Ast::Bytes(b) => Expr::Const(Const::Bytes(b.clone())),
        Ast::Enum(name) => match enum_value(name) {
            Some(v) => Expr::Const(Const::Int(v)),
            None => return Err(err(node.offset, format!("unknown enum value `{name}`"))),
        },
        Ast::Path { parts, keys } => {
            let field = resolve(parts, context).map_err(|m| err(node.offset, m))?;
            if !keys.is_empty() && !field.indexable() {
                return Err(err(
                    node.offset,
                    format!("`{}` cannot be indexed with `[...]`", parts.join(".")),
                ));
            }
            if field == Field::Request && !matches!(keys.as_slice(), [Key::Str(_)]) {
                return Err(err(
                    node.offset,
                    "the request context reads `request[\"key\"]`".into(),
                ));
            }
            Expr::Path(field, keys.clone())
        }
        Ast::Call { name, args, keys } => {
            if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                return Err(err(
                    node.offset,
                    format!("`{name}` is an editor (a statement), not a value; converters start with a capital letter"),
                ));
            }
            let compiled = args
                .iter()
                .map(|a| compile(a, context, text))
                .collect::<Result<Vec<_>, _>>()?;
            let converter = functions::resolve(name, &compiled)
                .map_err(|(index, m)| err(index.map_or(node.offset, |i| args[i].offset), m))?;
            Expr::Call(converter, compiled, keys.clone())
        }
        Ast::List(items) => Expr::List(
            items
                .iter()
                .map(|a| compile(a, context, text))
                .collect::<Result<_, _>>()?,
        ),
        Ast::Not(inner) => Expr::Not(Box::new(compile_bool(inner, context, text)?)),
        Ast::Neg(inner) => Expr::Neg(Box::new(compile(inner, context, text)?)),
        Ast::Binary(op, left, right) => match *op {
            "and" | "or" => {
                let l = Box::new(compile_bool(left, context, text)?);
                let r = Box::new(compile_bool(right, context, text)?);
                if *op == "and" {
                    Expr::And(l, r)
                } else {
                    Expr::Or(l, r)
                }
            }
            "+" | "-" | "*" | "/" => Expr::Math(
                op,
                Box::new(compile(left, context, text)?),
                Box::new(compile(right, context, text)?),
            ),
            _ => Expr::Compare(
                op,
                Box::new(compile(left, context, text)?),
                Box::new(compile(right, context, text)?),
            ),
        },
    })
}

/// The enum names OTTL defines, as their numbers.
fn enum_value(name: &str) -> Option<i64> {
    const SPAN_KINDS: [&str; 6] = [
        "UNSPECIFIED",
        "INTERNAL",
        "SERVER",
        "CLIENT",
        "PRODUCER",
        "CONSUMER",
    ];
    const STATUS: [&str; 3] = ["UNSET", "OK", "ERROR"];
    const METRIC_TYPES: [&str; 6] = [
        "NONE",
        "GAUGE",
        "SUM",
        "HISTOGRAM",
        "EXPONENTIAL_HISTOGRAM",
        "SUMMARY",
    ];
    const TEMPORALITY: [&str; 3] = ["UNSPECIFIED", "DELTA", "CUMULATIVE"];
    let find = |list: &[&str], rest: &str| list.iter().position(|n| *n == rest).map(|i| i as i64);
    if let Some(rest) = name.strip_prefix("SPAN_KIND_") {
        return find(&SPAN_KINDS, rest);
    }
    if let Some(rest) = name.strip_prefix("STATUS_CODE_") {
        return find(&STATUS, rest);
    }
    if let Some(rest) = name.strip_prefix("METRIC_DATA_TYPE_") {
        return find(&METRIC_TYPES, rest);
    }
    if let Some(rest) = name.strip_prefix("AGGREGATION_TEMPORALITY_") {
        return find(&TEMPORALITY, rest);
    }
    if let Some(rest) = name.strip_prefix("SEVERITY_NUMBER_") {
        if rest == "UNSPECIFIED" {
            return Some(0);
        }
        let levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
        for (i, level) in levels.iter().enumerate() {
            if let Some(n) = rest.strip_prefix(level) {
                let step = match n {
                    "" => 1,
                    "2" => 2,
                    "3" => 3,
                    "4" => 4,
                    _ => return None,
                };
                return Some(i as i64 * 4 + step);
            }
        }
    }
    None
}

/// Evaluates a boolean expression.
pub(crate) fn eval_bool(expr: &Expr, item: &Item<'_>) -> Result<bool, EvalError> {
    match expr {
        Expr::Const(Const::Bool(b)) => Ok(*b),
        Expr::Not(inner) => Ok(!eval_bool(inner, item)?),
        Expr::And(a, b) => Ok(eval_bool(a, item)? && eval_bool(b, item)?),
        Expr::Or(a, b) => Ok(eval_bool(a, item)? || eval_bool(b, item)?),
        Expr::Compare(op, a, b) => Ok(compare(op, &eval(a, item)?, &eval(b, item)?)),
        other => match eval(other, item)? {
            Value::Bool(b) => Ok(b),
            v => Err(EvalError(format!(
                "expected a bool, got a {}",
                v.type_name()
            ))),
        },
    }
}

/// Evaluates an expression to a value borrowed from the item or the expression.
pub(crate) fn eval<'a>(expr: &'a Expr, item: &Item<'a>) -> Result<Value<'a>, EvalError> {
    Ok(match expr {
        Expr::Const(c) => match c {
            Const::Nil => Value::Nil,
            Const::Bool(b) => Value::Bool(*b),
            Const::Int(i) => Value::Int(*i),
            Const::Float(f) => Value::Float(*f),
            Const::Str(s) => Value::Str(Cow::Borrowed(s)),
            Const::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
        },
        Expr::Path(field, keys) => {
            index(read(*field, keys, item), keys_after_request(*field, keys))
        }
        Expr::Not(_) | Expr::And(..) | Expr::Or(..) | Expr::Compare(..) => {
            Value::Bool(eval_bool(expr, item)?)
        }
        Expr::Neg(inner) => match eval(inner, item)? {
            Value::Int(i) => Value::Int(
                i.checked_neg()
                    .ok_or_else(|| EvalError("integer overflow".into()))?,
            ),
            Value::Float(f) => Value::Float(-f),
            v => return Err(EvalError(format!("cannot negate a {}", v.type_name()))),
        },
        Expr::Math(op, a, b) => math(op, eval(a, item)?, eval(b, item)?)?,
        Expr::List(items) => Value::List(
            items
                .iter()
                .map(|e| eval(e, item))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Call(converter, args, keys) => index(functions::call(converter, args, item)?, keys),
    })
}

fn keys_after_request(field: Field, keys: &[Key]) -> &[Key] {
    if field == Field::Request {
        &keys[keys.len().min(1)..]
    } else {
        keys
    }
}

fn math<'a>(op: &str, a: Value<'a>, b: Value<'a>) -> Result<Value<'a>, EvalError> {
    let overflow = || EvalError("integer overflow".into());
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(match op {
            "+" => x.checked_add(y).ok_or_else(overflow)?,
            "-" => x.checked_sub(y).ok_or_else(overflow)?,
            "*" => x.checked_mul(y).ok_or_else(overflow)?,
            _ => {
                if y == 0 {
                    return Err(EvalError("division by zero".into()));
                }
                x / y
            }
        }),
        (Value::Float(x), Value::Float(y)) => Value::Float(float_op(op, x, y)?),
        (Value::Int(x), Value::Float(y)) => Value::Float(float_op(op, x as f64, y)?),
        (Value::Float(x), Value::Int(y)) => Value::Float(float_op(op, x, y as f64)?),
        (a, b) => {
            return Err(EvalError(format!(
                "cannot use `{op}` on a {} and a {}",
                a.type_name(),
                b.type_name()
            )))
        }
    })
}

fn float_op(op: &str, x: f64, y: f64) -> Result<f64, EvalError> {
    Ok(match op {
        "+" => x + y,
        "-" => x - y,
        "*" => x * y,
        _ => {
            if y == 0.0 {
                return Err(EvalError("division by zero".into()));
            }
            x / y
        }
    })
}

/// Applies `["key"]`/`[0]` indexes to a value: a missing key is nil.
fn index<'a>(mut value: Value<'a>, keys: &[Key]) -> Value<'a> {
    for key in keys {
        value = match (value, key) {
            (Value::Map(map), Key::Str(k)) => map.get(k).map(Value::from).unwrap_or(Value::Nil),
            (Value::Array(array), Key::Int(i)) => usize::try_from(*i)
                .ok()
                .and_then(|i| array.iter().nth(i))
                .map(Value::from)
                .unwrap_or(Value::Nil),
            (Value::List(mut list), Key::Int(i)) => match usize::try_from(*i) {
                Ok(i) if i < list.len() => list.swap_remove(i),
                _ => Value::Nil,
            },
            _ => Value::Nil,
        };
    }
    value
}

fn ns(v: u64) -> Value<'static> {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn id_hex(bytes: &[u8]) -> Value<'static> {
    Value::Str(Cow::Owned(hex(bytes)))
}

/// Reads a field from the item. A field of another context than the item's reads nil.
fn read<'a>(field: Field, keys: &[Key], item: &Item<'a>) -> Value<'a> {
    use Field::*;
    let span = match item.kind {
        ItemKind::Span(s) | ItemKind::SpanEvent(s, _) => Some(s),
        _ => None,
    };
    let metric = match item.kind {
        ItemKind::Metric(m) | ItemKind::DataPoint(m, _) => Some(m),
        _ => None,
    };
    let point = match item.kind {
        ItemKind::DataPoint(_, p) => Some(p),
        _ => None,
    };
    let event = match item.kind {
        ItemKind::SpanEvent(_, e) => Some(e),
        _ => None,
    };
    let log = match item.kind {
        ItemKind::Log(l) => Some(l),
        _ => None,
    };
    let value = match field {
        ResourceAttributes => Some(Value::Map(item.resource.attributes())),
        ResourceDroppedAttributesCount => {
            Some(Value::Int(item.resource.dropped_attributes_count().into()))
        }
        ScopeName => Some(Value::Str(Cow::Borrowed(item.scope.name()))),
        ScopeVersion => Some(Value::Str(Cow::Borrowed(item.scope.version()))),
        ScopeAttributes => Some(Value::Map(item.scope.attributes())),
        ScopeDroppedAttributesCount => {
            Some(Value::Int(item.scope.dropped_attributes_count().into()))
        }
        SpanTraceId => span.map(|s| Value::Bytes(Cow::Borrowed(s.trace_id()))),
        SpanTraceIdString => span.map(|s| id_hex(s.trace_id())),
        SpanId => span.map(|s| Value::Bytes(Cow::Borrowed(s.span_id()))),
        SpanIdString => span.map(|s| id_hex(s.span_id())),
        SpanParentSpanId => span.map(|s| Value::Bytes(Cow::Borrowed(s.parent_span_id()))),
        SpanParentSpanIdString => span.map(|s| id_hex(s.parent_span_id())),
        SpanTraceState => span.map(|s| Value::Str(Cow::Borrowed(s.trace_state()))),
        SpanName => span.map(|s| Value::Str(Cow::Borrowed(s.name()))),
        SpanKind => span.map(|s| Value::Int(s.kind().as_i32().into())),
        SpanKindString => span.map(|s| Value::Str(Cow::Borrowed(kind_string(s.kind().as_i32())))),
        SpanStartTime => span.map(|s| ns(s.start_time_unix_nano())),
        SpanEndTime => span.map(|s| ns(s.end_time_unix_nano())),
        SpanDuration => span.map(|s| ns(s.duration_nanos())),
        SpanAttributes => span.map(|s| Value::Map(s.attributes())),
        SpanDroppedAttributesCount => span.map(|s| Value::Int(s.dropped_attributes_count().into())),
        SpanDroppedEventsCount => span.map(|s| Value::Int(s.dropped_events_count().into())),
        SpanDroppedLinksCount => span.map(|s| Value::Int(s.dropped_links_count().into())),
        SpanStatusCode => span.map(|s| Value::Int(s.status_code().as_i32().into())),
        SpanStatusMessage => span.map(|s| Value::Str(Cow::Borrowed(s.status_message()))),
        SpanFlags => span.map(|s| Value::Int(s.flags().into())),
        EventName => event.map(|e| Value::Str(Cow::Borrowed(e.name()))),
        EventTime => event.map(|e| ns(e.time_unix_nano())),
        EventAttributes => event.map(|e| Value::Map(e.attributes())),
        EventDroppedAttributesCount => {
            event.map(|e| Value::Int(e.dropped_attributes_count().into()))
        }
        MetricName => metric.map(|m| Value::Str(Cow::Borrowed(m.name()))),
        MetricDescription => metric.map(|m| Value::Str(Cow::Borrowed(m.description()))),
        MetricUnit => metric.map(|m| Value::Str(Cow::Borrowed(m.unit()))),
        MetricType => metric.map(|m| Value::Int(metric_type_number(m.metric_type()))),
        MetricTemporality => metric.map(|m| Value::Int(m.temporality().as_i32().into())),
        MetricIsMonotonic => metric.map(|m| Value::Bool(m.is_monotonic())),
        PointAttributes => point.map(|p| Value::Map(p.attributes())),
        PointStartTime => point.map(|p| ns(p.start_time_unix_nano())),
        PointTime => point.map(|p| ns(p.time_unix_nano())),
        PointValueDouble => point.map(|p| match p {
            PointView::Number(n) => match n.value() {
                weir_api::batch::view::NumberValue::Double(d) => Value::Float(d),
                _ => Value::Float(0.0),
            },
            _ => Value::Nil,
        }),
        PointValueInt => point.map(|p| match p {
            PointView::Number(n) => match n.value() {
                weir_api::batch::view::NumberValue::Int(i) => Value::Int(i),
                _ => Value::Int(0),
            },
            _ => Value::Nil,
        }),
        PointCount => point.map(|p| match p {
            PointView::Histogram(h) => ns(h.count()),
            PointView::ExponentialHistogram(h) => ns(h.count()),
            PointView::Summary(s) => ns(s.count()),
            PointView::Number(_) => Value::Nil,
        }),
        PointSum => point.map(|p| match p {
            PointView::Histogram(h) => h.sum().map_or(Value::Nil, Value::Float),
            PointView::ExponentialHistogram(h) => h.sum().map_or(Value::Nil, Value::Float),
            PointView::Summary(s) => Value::Float(s.sum()),
            PointView::Number(_) => Value::Nil,
        }),
        PointFlags => point.map(|p| match p {
            PointView::Number(n) => Value::Int(n.flags().into()),
            PointView::Histogram(h) => Value::Int(h.flags().into()),
            PointView::ExponentialHistogram(h) => Value::Int(h.flags().into()),
            PointView::Summary(s) => Value::Int(s.flags().into()),
        }),
        LogTime => log.map(|l| ns(l.time_unix_nano())),
        LogObservedTime => log.map(|l| ns(l.observed_time_unix_nano())),
        LogSeverityNumber => log.map(|l| Value::Int(l.severity_number().0.into())),
        LogSeverityText => log.map(|l| Value::Str(Cow::Borrowed(l.severity_text()))),
        LogBody => log.map(|l| Value::from(l.body())),
        LogAttributes => log.map(|l| Value::Map(l.attributes())),
        LogDroppedAttributesCount => log.map(|l| Value::Int(l.dropped_attributes_count().into())),
        LogFlags => log.map(|l| Value::Int(l.flags().into())),
        LogTraceId => log.map(|l| Value::Bytes(Cow::Borrowed(l.trace_id()))),
        LogTraceIdString => log.map(|l| id_hex(l.trace_id())),
        LogSpanId => log.map(|l| Value::Bytes(Cow::Borrowed(l.span_id()))),
        LogSpanIdString => log.map(|l| id_hex(l.span_id())),
        LogEventName => log.map(|l| Value::Str(Cow::Borrowed(l.event_name()))),
        Request => match (item.request, keys.first()) {
            (Some(metadata), Some(Key::Str(key))) => metadata
                .get(key)
                .first()
                .map(|v| Value::Str(Cow::Borrowed(v.as_str()))),
            _ => None,
        },
    };
    value.unwrap_or(Value::Nil)
}

fn kind_string(kind: i32) -> &'static str {
    match kind {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

fn metric_type_number(kind: MetricType) -> i64 {
    match kind {
        MetricType::Gauge => 1,
        MetricType::Sum => 2,
        MetricType::Histogram => 3,
        MetricType::ExponentialHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Empty => 0,
    }
}
