//! Statements: an editor call with an optional `where` condition, run on an edit handle.
//!
//! An edit handle records changes and applies them after the walk, so a statement reads
//! the item as it arrived. OTTL runs statements in sequence, each seeing the previous
//! one's changes; components get that by running one statement per `Batch::edit_*` walk
//! (statement after statement), which is also what keeps untouched items as wire bytes.

use regex::Regex;
use weir_api::batch::edit::{AttrOp, LogRecordEdit, MetricEdit, ResourceEdit, ScopeEdit, SpanEdit};
use weir_api::batch::view::{Attributes, SeverityNumber, SpanKind, StatusCode};

use crate::compile::{self, eval, eval_bool, Expr, Field};
use crate::parser::{self, Ast, Key, Node};
use crate::value::Value;
use crate::{Context, EvalError, Item, OttlError};

/// Where a statement writes: one attribute of an attribute list, or a field.
#[derive(Debug, Clone)]
enum Target {
    Attribute(String),
    Field(Field),
}

/// The editors of the subset.
#[derive(Debug, Clone)]
enum Editor {
    Set(Target, Expr),
    DeleteKey(Expr),
    DeleteMatchingKeys(Regex),
    KeepKeys(Vec<String>),
    /// The target, the path that reads it, the pattern and the replacement.
    ReplacePattern(Target, Expr, Regex, String),
    ReplaceAllPatterns {
        keys: bool,
        regex: Regex,
        replacement: String,
    },
    TruncateAll(usize),
    Limit(usize, Vec<String>),
}

/// The editors, as README.md lists them.
const EDITORS: &[&str] = &[
    "set",
    "delete_key",
    "delete_matching_keys",
    "keep_keys",
    "replace_pattern",
    "replace_all_patterns",
    "truncate_all",
    "limit",
];

/// A compiled statement, e.g. `set(attributes["env"], "prod") where name == "GET /"`.
#[derive(Debug, Clone)]
pub struct Statement {
    text: String,
    context: Context,
    editor: Editor,
    condition: Option<Expr>,
}

impl Statement {
    pub fn compile(text: &str, context: Context) -> Result<Self, OttlError> {
        let ast = parser::parse_statement(text)?;
        let condition = match &ast.condition {
            Some(node) => Some(compile::compile_bool(node, context, text)?),
            None => None,
        };
        let editor = compile_editor(&ast.editor, context, text)?;
        Ok(Self {
            text: text.to_string(),
            context,
            editor,
            condition,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn context(&self) -> Context {
        self.context
    }

    fn expect(&self, context: Context) -> Result<(), EvalError> {
        if self.context == context {
            Ok(())
        } else {
            Err(EvalError(format!(
                "a `{}` statement was run on a {} (`{}`)",
                self.context, context, self.text
            )))
        }
    }

    /// Runs on a resource (context `resource`).
    pub fn run_on_resource(&self, edit: &mut ResourceEdit<'_>) -> Result<(), EvalError> {
        self.expect(Context::Resource)?;
        let item = Item::resource(edit.resource());
        self.run(
            &item,
            item.resource.attributes(),
            &mut |change| match change {
                Change::Attr(op) => {
                    edit.attributes().apply(op);
                    Ok(())
                }
                Change::Field(..) => Err(not_writable()),
            },
        )
    }

    /// Runs on a scope (context `scope`).
    pub fn run_on_scope(&self, edit: &mut ScopeEdit<'_>) -> Result<(), EvalError> {
        self.expect(Context::Scope)?;
        let item = Item::scope(edit.resource(), edit.scope());
        self.run(&item, item.scope.attributes(), &mut |change| match change {
            Change::Attr(op) => {
                edit.attributes().apply(op);
                Ok(())
            }
            Change::Field(Field::ScopeName, value) => {
                edit.set_name(string(value, "scope name")?);
                Ok(())
            }
            Change::Field(Field::ScopeVersion, value) => {
                edit.set_version(string(value, "scope version")?);
                Ok(())
            }
            Change::Field(..) => Err(not_writable()),
        })
    }

    /// Runs on a span (context `span`).
    pub fn run_on_span(&self, edit: &mut SpanEdit<'_>) -> Result<(), EvalError> {
        self.expect(Context::Span)?;
        let span = edit.span();
        let item = Item::span(edit.resource(), edit.scope(), span);
        self.run(&item, span.attributes(), &mut |change| match change {
            Change::Attr(op) => {
                edit.attributes().apply(op);
                Ok(())
            }
            Change::Field(Field::SpanName, value) => {
                edit.set_name(string(value, "span name")?);
                Ok(())
            }
            Change::Field(Field::SpanStatusCode, value) => {
                let code = int(&value, "status.code")?;
                edit.set_status(StatusCode::from_i32(code as i32), span.status_message());
                Ok(())
            }
            Change::Field(Field::SpanStatusMessage, value) => {
                edit.set_status(span.status_code(), string(value, "status.message")?);
                Ok(())
            }
            Change::Field(Field::SpanKind, value) => {
                edit.set_kind(SpanKind::from_i32(int(&value, "kind")? as i32));
                Ok(())
            }
            Change::Field(..) => Err(not_writable()),
        })
    }

    /// Runs on each event of a span (context `spanevent`).
    pub fn run_on_span_events(&self, edit: &mut SpanEdit<'_>) -> Result<(), EvalError> {
        self.expect(Context::SpanEvent)?;
        let (resource, scope, span) = (edit.resource(), edit.scope(), edit.span());
        for (index, event) in span.events().enumerate() {
            let item = Item::span_event(resource, scope, span, event);
            self.run(&item, event.attributes(), &mut |change| match change {
                Change::Attr(op) => {
                    edit.event_attribute(index, op);
                    Ok(())
                }
                Change::Field(Field::EventName, value) => {
                    edit.set_event_name(index, string(value, "event name")?);
                    Ok(())
                }
                Change::Field(..) => Err(not_writable()),
            })?;
        }
        Ok(())
    }

    /// Runs on a metric's descriptor (context `metric`).
    pub fn run_on_metric(&self, edit: &mut MetricEdit<'_>) -> Result<(), EvalError> {
        self.expect(Context::Metric)?;
        let item = Item::metric(edit.resource(), edit.scope(), edit.metric());
        self.run(&item, Attributes::empty(), &mut |change| match change {
            Change::Field(Field::MetricName, value) => {
                edit.set_name(string(value, "metric name")?);
                Ok(())
            }
            Change::Field(Field::MetricDescription, value) => {
                edit.set_description(string(value, "metric description")?);
                Ok(())
            }
            Change::Field(Field::MetricUnit, value) => {
                edit.set_unit(string(value, "metric unit")?);
                Ok(())
            }
            _ => Err(not_writable()),
        })
    }

    /// Runs on each data point of a metric (context `datapoint`).
    pub fn run_on_data_points(&self, edit: &mut MetricEdit<'_>) -> Result<(), EvalError> {
        self.expect(Context::DataPoint)?;
        let (resource, scope, metric) = (edit.resource(), edit.scope(), edit.metric());
        for (index, point) in metric.points().enumerate() {
            let item = Item::data_point(resource, scope, metric, point);
            self.run(&item, point.attributes(), &mut |change| match change {
                Change::Attr(op) => {
                    edit.point_attribute(index, op);
                    Ok(())
                }
                Change::Field(..) => Err(not_writable()),
            })?;
        }
        Ok(())
    }

    /// Runs on a log record (context `log`).
    pub fn run_on_log(&self, edit: &mut LogRecordEdit<'_>) -> Result<(), EvalError> {
        self.expect(Context::Log)?;
        let record = edit.record();
        let item = Item::log(edit.resource(), edit.scope(), record);
        self.run(&item, record.attributes(), &mut |change| match change {
            Change::Attr(op) => {
                edit.attributes().apply(op);
                Ok(())
            }
            Change::Field(Field::LogBody, value) => {
                edit.set_body(value.to_owned_value());
                Ok(())
            }
            Change::Field(Field::LogSeverityText, value) => {
                edit.set_severity_text(string(value, "severity_text")?);
                Ok(())
            }
            Change::Field(Field::LogSeverityNumber, value) => {
                edit.set_severity_number(SeverityNumber(int(&value, "severity_number")? as i32));
                Ok(())
            }
            Change::Field(..) => Err(not_writable()),
        })
    }

    /// Evaluates the `where` clause and the editor on one item, handing changes to `apply`.
    fn run<'a>(
        &'a self,
        item: &Item<'a>,
        attributes: Attributes<'a>,
        apply: &mut dyn FnMut(Change<'a>) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        if let Some(condition) = &self.condition {
            if !eval_bool(condition, item)? {
                return Ok(());
            }
        }
        match &self.editor {
            Editor::Set(target, value) => {
                let value = eval(value, item)?;
                if value.is_nil() {
                    return Ok(());
                }
                match target {
                    Target::Attribute(key) => apply(Change::Attr(AttrOp::Upsert(
                        key.clone(),
                        value.to_owned_value(),
                    ))),
                    Target::Field(field) => apply(Change::Field(*field, value)),
                }
            }
            Editor::DeleteKey(key) => match eval(key, item)? {
                Value::Str(key) => apply(Change::Attr(AttrOp::Delete(key.into_owned()))),
                other => Err(EvalError(format!(
                    "delete_key: the key is a {}, not a string",
                    other.type_name()
                ))),
            },
            Editor::DeleteMatchingKeys(regex) => {
                for (key, _) in attributes.iter().filter(|(k, _)| regex.is_match(k)) {
                    apply(Change::Attr(AttrOp::Delete(key.to_string())))?;
                }
                Ok(())
            }
            Editor::KeepKeys(keys) => {
                for (key, _) in attributes
                    .iter()
                    .filter(|(k, _)| !keys.iter().any(|kept| kept == k))
                {
                    apply(Change::Attr(AttrOp::Delete(key.to_string())))?;
                }
                Ok(())
            }
            Editor::ReplacePattern(target, reader, regex, replacement) => {
                let Value::Str(text) = eval(reader, item)? else {
                    return Ok(());
                };
                if !regex.is_match(&text) {
                    return Ok(());
                }
                let replaced = regex.replace_all(&text, replacement.as_str()).into_owned();
                match target {
                    Target::Attribute(key) => {
                        apply(Change::Attr(AttrOp::Update(key.clone(), replaced.into())))
                    }
                    Target::Field(field) => {
                        apply(Change::Field(*field, Value::Str(replaced.into())))
                    }
                }
            }
            Editor::ReplaceAllPatterns {
                keys,
                regex,
                replacement,
            } => {
                for (key, value) in attributes.iter() {
                    if *keys {
                        if regex.is_match(key) {
                            let to = regex.replace_all(key, replacement.as_str()).into_owned();
                            apply(Change::Attr(AttrOp::Rename {
                                from: key.to_string(),
                                to,
                            }))?;
                        }
                    } else if let Some(text) = value.as_str().filter(|t| regex.is_match(t)) {
                        let replaced = regex.replace_all(text, replacement.as_str()).into_owned();
                        apply(Change::Attr(AttrOp::Update(
                            key.to_string(),
                            replaced.into(),
                        )))?;
                    }
                }
                Ok(())
            }
            Editor::TruncateAll(limit) => {
                for (key, value) in attributes.iter() {
                    if let Some(text) = value.as_str().filter(|t| t.len() > *limit) {
                        let mut end = *limit;
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        apply(Change::Attr(AttrOp::Update(
                            key.to_string(),
                            text[..end].into(),
                        )))?;
                    }
                }
                Ok(())
            }
            Editor::Limit(limit, priority) => {
                if attributes.len() <= *limit {
                    return Ok(());
                }
                let mut room = limit.saturating_sub(
                    priority
                        .iter()
                        .filter(|k| attributes.get(k).is_some())
                        .count(),
                );
                for (key, _) in attributes.iter() {
                    if priority.iter().any(|p| p == key) {
                        continue;
                    }
                    if room > 0 {
                        room -= 1;
                    } else {
                        apply(Change::Attr(AttrOp::Delete(key.to_string())))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// One change a statement asks of its item.
enum Change<'a> {
    Attr(AttrOp),
    Field(Field, Value<'a>),
}

fn not_writable() -> EvalError {
    EvalError("this field cannot be written in this context".into())
}

fn string(value: Value<'_>, what: &str) -> Result<String, EvalError> {
    match value {
        Value::Str(s) => Ok(s.into_owned()),
        other => Err(EvalError(format!(
            "{what} must be a string, got a {}",
            other.type_name()
        ))),
    }
}

fn int(value: &Value<'_>, what: &str) -> Result<i64, EvalError> {
    match value {
        Value::Int(i) => Ok(*i),
        other => Err(EvalError(format!(
            "{what} must be an int, got a {}",
            other.type_name()
        ))),
    }
}

/// The fields a `set` or `replace_pattern` may write, per context.
fn writable(field: Field, context: Context) -> bool {
    use Field::*;
    match context {
        Context::Scope => matches!(field, ScopeName | ScopeVersion),
        Context::Span => matches!(
            field,
            SpanName | SpanStatusCode | SpanStatusMessage | SpanKind
        ),
        Context::SpanEvent => field == EventName,
        Context::Metric => matches!(field, MetricName | MetricDescription | MetricUnit),
        Context::Log => matches!(field, LogBody | LogSeverityText | LogSeverityNumber),
        _ => false,
    }
}

/// The attribute list a context's statements write.
fn own_attributes(context: Context) -> Option<Field> {
    Some(match context {
        Context::Resource => Field::ResourceAttributes,
        Context::Scope => Field::ScopeAttributes,
        Context::Span => Field::SpanAttributes,
        Context::SpanEvent => Field::EventAttributes,
        Context::DataPoint => Field::PointAttributes,
        Context::Log => Field::LogAttributes,
        Context::Metric | Context::Request => return None,
    })
}

fn compile_editor(node: &Node, context: Context, text: &str) -> Result<Editor, OttlError> {
    let err = |offset: usize, message: String| OttlError::new(offset, text, message);
    let Ast::Call { name, args, keys } = &node.ast else {
        return Err(err(node.offset, "expected an editor call".into()));
    };
    if !keys.is_empty() {
        return Err(err(
            node.offset,
            "an editor's result cannot be indexed".into(),
        ));
    }
    if !EDITORS.contains(&name.as_str()) {
        return Err(err(
            node.offset,
            format!(
                "unsupported editor `{name}` (supported: {})",
                EDITORS.join(", ")
            ),
        ));
    }
    let arity = match name.as_str() {
        "set" | "delete_key" | "delete_matching_keys" | "keep_keys" | "truncate_all" => 2..=2,
        "replace_pattern" => 3..=3,
        "replace_all_patterns" => 4..=4,
        _ => 2..=3, // limit
    };
    if !arity.contains(&args.len()) {
        let extra = if name.starts_with("replace_") && args.len() > *arity.end() {
            " (the optional function and format arguments are not supported)"
        } else {
            ""
        };
        return Err(err(
            node.offset,
            format!(
                "`{name}` takes {} argument(s), {} given{extra}",
                arity.end(),
                args.len()
            ),
        ));
    }
    let map = |arg: &Node| -> Result<(), OttlError> {
        let wanted = own_attributes(context).ok_or_else(|| {
            err(
                arg.offset,
                format!("the `{context}` context has no attributes to edit"),
            )
        })?;
        match &arg.ast {
            Ast::Path { parts, keys } if keys.is_empty() => {
                match compile::resolve(parts, context) {
                    Ok(field) if field == wanted => Ok(()),
                    Ok(_) => Err(err(
                        arg.offset,
                        format!("only the `{context}` item's own attributes can be edited here; use a statement in that context"),
                    )),
                    Err(message) => Err(err(arg.offset, message)),
                }
            }
            _ => Err(err(arg.offset, "expected an attribute map such as `attributes`".into())),
        }
    };
    let target = |arg: &Node| -> Result<Target, OttlError> {
        let Ast::Path { parts, keys } = &arg.ast else {
            return Err(err(
                arg.offset,
                "expected a path to write, e.g. `attributes[\"k\"]`".into(),
            ));
        };
        let field = compile::resolve(parts, context).map_err(|m| err(arg.offset, m))?;
        match keys.as_slice() {
            [] if writable(field, context) => Ok(Target::Field(field)),
            [Key::Str(key)] if Some(field) == own_attributes(context) => {
                Ok(Target::Attribute(key.clone()))
            }
            [_, _, ..] => Err(err(
                arg.offset,
                "writing inside nested maps is not supported".into(),
            )),
            _ => Err(err(
                arg.offset,
                format!(
                    "`{}` cannot be written in the `{context}` context",
                    parts.join(".")
                ),
            )),
        }
    };
    let regex = |arg: &Node| -> Result<Regex, OttlError> {
        match &arg.ast {
            Ast::Str(pattern) => Regex::new(pattern)
                .map_err(|e| err(arg.offset, format!("bad regular expression: {e}"))),
            _ => Err(err(
                arg.offset,
                "the pattern must be a string literal".into(),
            )),
        }
    };
    let string_literal = |arg: &Node| -> Result<String, OttlError> {
        match &arg.ast {
            Ast::Str(s) => Ok(s.clone()),
            _ => Err(err(arg.offset, "expected a string literal".into())),
        }
    };
    let count = |arg: &Node| -> Result<usize, OttlError> {
        match &arg.ast {
            Ast::Int(i) if *i >= 0 => Ok(*i as usize),
            _ => Err(err(
                arg.offset,
                "expected a non-negative integer literal".into(),
            )),
        }
    };
    let strings = |arg: &Node| -> Result<Vec<String>, OttlError> {
        match &arg.ast {
            Ast::List(items) => items.iter().map(string_literal).collect(),
            _ => Err(err(
                arg.offset,
                "expected a list of strings, e.g. `[\"a\", \"b\"]`".into(),
            )),
        }
    };
    Ok(match name.as_str() {
        "set" => Editor::Set(
            target(&args[0])?,
            compile::compile(&args[1], context, text)?,
        ),
        "delete_key" => {
            map(&args[0])?;
            Editor::DeleteKey(compile::compile(&args[1], context, text)?)
        }
        "delete_matching_keys" => {
            map(&args[0])?;
            Editor::DeleteMatchingKeys(regex(&args[1])?)
        }
        "keep_keys" => {
            map(&args[0])?;
            Editor::KeepKeys(strings(&args[1])?)
        }
        "replace_pattern" => {
            let target = target(&args[0])?;
            let reader = match &target {
                Target::Attribute(key) => Expr::Path(
                    own_attributes(context).unwrap_or(Field::SpanAttributes),
                    vec![Key::Str(key.clone())],
                ),
                Target::Field(field) => Expr::Path(*field, Vec::new()),
            };
            Editor::ReplacePattern(target, reader, regex(&args[1])?, string_literal(&args[2])?)
        }
        "replace_all_patterns" => {
            map(&args[0])?;
            let keys = match string_literal(&args[1])?.as_str() {
                "key" => true,
                "value" => false,
                other => {
                    return Err(err(
                        args[1].offset,
                        format!("mode is \"key\" or \"value\", not \"{other}\""),
                    ))
                }
            };
            Editor::ReplaceAllPatterns {
                keys,
                regex: regex(&args[2])?,
                replacement: string_literal(&args[3])?,
            }
        }
        "truncate_all" => {
            map(&args[0])?;
            Editor::TruncateAll(count(&args[1])?)
        }
        _ => {
            map(&args[0])?;
            let priority = match args.get(2) {
                Some(arg) => strings(arg)?,
                None => Vec::new(),
            };
            Editor::Limit(count(&args[1])?, priority)
        }
    })
}
