//! Converters: the functions a condition or a statement's value may call. The supported
//! set is listed in README.md; any other name is refused at compile time.

use std::borrow::Cow;

use regex::Regex;

use crate::compile::{eval, Const, Expr};
use crate::value::Value;
use crate::{EvalError, Item};

/// A resolved converter; regex arguments are compiled once, here.
#[derive(Debug, Clone)]
pub(crate) enum Converter {
    IsMatch(Regex),
    IsString,
    IsInt,
    IsDouble,
    IsBool,
    IsMap,
    IsList,
    HasPrefix,
    HasSuffix,
    Len,
    Concat,
    Substring,
    Sha256,
    Int,
    Double,
    String,
    ToLowerCase,
    ToUpperCase,
    TraceId,
    SpanId,
}

/// The converters, with their argument counts, as README.md lists them.
pub(crate) const SUPPORTED: &[(&str, usize)] = &[
    ("IsMatch", 2),
    ("IsString", 1),
    ("IsInt", 1),
    ("IsDouble", 1),
    ("IsBool", 1),
    ("IsMap", 1),
    ("IsList", 1),
    ("HasPrefix", 2),
    ("HasSuffix", 2),
    ("Len", 1),
    ("Concat", 2),
    ("Substring", 3),
    ("SHA256", 1),
    ("Int", 1),
    ("Double", 1),
    ("String", 1),
    ("ToLowerCase", 1),
    ("ToUpperCase", 1),
    ("TraceID", 1),
    ("SpanID", 1),
];

impl Converter {
    pub(crate) fn returns_bool(&self) -> bool {
        matches!(
            self,
            Self::IsMatch(_)
                | Self::IsString
                | Self::IsInt
                | Self::IsDouble
                | Self::IsBool
                | Self::IsMap
                | Self::IsList
                | Self::HasPrefix
                | Self::HasSuffix
        )
    }
}

/// A string literal argument, or an error naming it.
fn literal_str<'e>(
    args: &'e [Expr],
    index: usize,
    what: &str,
) -> Result<&'e str, (Option<usize>, String)> {
    match args.get(index) {
        Some(Expr::Const(Const::Str(s))) => Ok(s),
        _ => Err((Some(index), format!("{what} must be a string literal"))),
    }
}

/// Checks the name and the arguments; `Err((argument index, message))`.
pub(crate) fn resolve(name: &str, args: &[Expr]) -> Result<Converter, (Option<usize>, String)> {
    let Some((_, arity)) = SUPPORTED.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = SUPPORTED.iter().map(|(n, _)| *n).collect();
        return Err((
            None,
            format!(
                "unsupported converter `{name}` (supported: {})",
                names.join(", ")
            ),
        ));
    };
    if args.len() != *arity {
        return Err((
            None,
            format!("`{name}` takes {arity} argument(s), {} given", args.len()),
        ));
    }
    Ok(match name {
        "IsMatch" => {
            let pattern = literal_str(args, 1, "IsMatch's pattern")?;
            Converter::IsMatch(
                Regex::new(pattern)
                    .map_err(|e| (Some(1), format!("bad regular expression: {e}")))?,
            )
        }
        "IsString" => Converter::IsString,
        "IsInt" => Converter::IsInt,
        "IsDouble" => Converter::IsDouble,
        "IsBool" => Converter::IsBool,
        "IsMap" => Converter::IsMap,
        "IsList" => Converter::IsList,
        "HasPrefix" => Converter::HasPrefix,
        "HasSuffix" => Converter::HasSuffix,
        "Len" => Converter::Len,
        "Concat" => {
            literal_str(args, 1, "Concat's delimiter")?;
            Converter::Concat
        }
        "Substring" => Converter::Substring,
        "SHA256" => Converter::Sha256,
        "Int" => Converter::Int,
        "Double" => Converter::Double,
        "String" => Converter::String,
        "ToLowerCase" => Converter::ToLowerCase,
        "ToUpperCase" => Converter::ToUpperCase,
        "TraceID" | "SpanID" => {
            let want = if name == "TraceID" { 16 } else { 8 };
            match args.first() {
                Some(Expr::Const(Const::Bytes(b))) if b.len() == want => {}
                _ => {
                    return Err((
                        Some(0),
                        format!(
                            "`{name}` takes a {want}-byte literal, e.g. `{name}(0x{})`",
                            "00".repeat(want)
                        ),
                    ))
                }
            }
            if name == "TraceID" {
                Converter::TraceId
            } else {
                Converter::SpanId
            }
        }
        _ => return Err((None, format!("unsupported converter `{name}`"))),
    })
}

fn arg_str<'a>(value: &'a Value<'a>, name: &str) -> Result<&'a str, EvalError> {
    match value {
        Value::Str(s) => Ok(s),
        other => Err(EvalError(format!(
            "{name}: expected a string, got a {}",
            other.type_name()
        ))),
    }
}

fn arg_int(value: &Value<'_>, name: &str) -> Result<i64, EvalError> {
    match value {
        Value::Int(i) => Ok(*i),
        other => Err(EvalError(format!(
            "{name}: expected an int, got a {}",
            other.type_name()
        ))),
    }
}

/// Runs a converter.
pub(crate) fn call<'a>(
    converter: &'a Converter,
    args: &'a [Expr],
    item: &Item<'a>,
) -> Result<Value<'a>, EvalError> {
    let first = || eval(&args[0], item);
    Ok(match converter {
        Converter::IsMatch(regex) => match first()? {
            Value::Nil => Value::Bool(false),
            value => match value.render() {
                Some(text)
                    if !matches!(
                        value,
                        Value::Map(_) | Value::Array(_) | Value::List(_) | Value::Bytes(_)
                    ) =>
                {
                    Value::Bool(regex.is_match(&text))
                }
                _ => {
                    return Err(EvalError(format!(
                        "IsMatch: cannot match a {} against a pattern",
                        value.type_name()
                    )))
                }
            },
        },
        Converter::IsString => Value::Bool(matches!(first()?, Value::Str(_))),
        Converter::IsInt => Value::Bool(matches!(first()?, Value::Int(_))),
        Converter::IsDouble => Value::Bool(matches!(first()?, Value::Float(_))),
        Converter::IsBool => Value::Bool(matches!(first()?, Value::Bool(_))),
        Converter::IsMap => Value::Bool(matches!(first()?, Value::Map(_))),
        Converter::IsList => Value::Bool(matches!(first()?, Value::Array(_) | Value::List(_))),
        Converter::HasPrefix | Converter::HasSuffix => {
            let target = first()?;
            let affix = eval(&args[1], item)?;
            let (Value::Str(t), Value::Str(a)) = (&target, &affix) else {
                return Ok(Value::Bool(false));
            };
            Value::Bool(if matches!(converter, Converter::HasPrefix) {
                t.starts_with(a.as_ref())
            } else {
                t.ends_with(a.as_ref())
            })
        }
        Converter::Len => match first()? {
            Value::Str(s) => Value::Int(s.len() as i64),
            Value::Bytes(b) => Value::Int(b.len() as i64),
            Value::Map(m) => Value::Int(m.len() as i64),
            Value::Array(a) => Value::Int(a.len() as i64),
            Value::List(l) => Value::Int(l.len() as i64),
            other => {
                return Err(EvalError(format!(
                    "Len: a {} has no length",
                    other.type_name()
                )))
            }
        },
        Converter::Concat => {
            let delimiter = match &args[1] {
                Expr::Const(Const::Str(s)) => s.as_str(),
                _ => "",
            };
            let parts = match first()? {
                Value::List(items) => items,
                other => {
                    return Err(EvalError(format!(
                        "Concat: expected a list of values, got a {}",
                        other.type_name()
                    )))
                }
            };
            let rendered: Vec<Cow<'_, str>> = parts
                .iter()
                .map(|v| v.render().unwrap_or(Cow::Borrowed("")))
                .collect();
            Value::Str(Cow::Owned(rendered.join(delimiter)))
        }
        Converter::Substring => {
            let target = first()?;
            let text = arg_str(&target, "Substring")?;
            let start = arg_int(&eval(&args[1], item)?, "Substring's start")?;
            let length = arg_int(&eval(&args[2], item)?, "Substring's length")?;
            let range = usize::try_from(start)
                .ok()
                .zip(usize::try_from(length).ok())
                .and_then(|(s, l)| Some(s..s.checked_add(l)?))
                .filter(|r| r.end <= text.len());
            match range.and_then(|r| text.get(r)) {
                Some(sub) => Value::Str(Cow::Owned(sub.to_string())),
                None => {
                    return Err(EvalError(format!(
                        "Substring: start {start} and length {length} are out of range for a string of {} bytes",
                        text.len()
                    )))
                }
            }
        }
        Converter::Sha256 => match first()? {
            Value::Nil => Value::Nil,
            Value::Str(s) => Value::Str(Cow::Owned(crate::sha256_hex(s.as_bytes()))),
            other => {
                return Err(EvalError(format!(
                    "SHA256: expected a string, got a {}",
                    other.type_name()
                )))
            }
        },
        Converter::Int => match first()? {
            Value::Int(i) => Value::Int(i),
            Value::Float(f) if f.is_finite() => Value::Int(f.trunc() as i64),
            Value::Bool(b) => Value::Int(i64::from(b)),
            Value::Str(s) => s.trim().parse::<i64>().map_or(Value::Nil, Value::Int),
            _ => Value::Nil,
        },
        Converter::Double => match first()? {
            Value::Int(i) => Value::Float(i as f64),
            Value::Float(f) => Value::Float(f),
            Value::Bool(b) => Value::Float(if b { 1.0 } else { 0.0 }),
            Value::Str(s) => s.trim().parse::<f64>().map_or(Value::Nil, Value::Float),
            _ => Value::Nil,
        },
        Converter::String => match first()?.render() {
            Some(text) => Value::Str(Cow::Owned(text.into_owned())),
            None => Value::Nil,
        },
        Converter::ToLowerCase | Converter::ToUpperCase => {
            let target = first()?;
            let text = arg_str(&target, "ToLowerCase/ToUpperCase")?;
            Value::Str(Cow::Owned(if matches!(converter, Converter::ToLowerCase) {
                text.to_lowercase()
            } else {
                text.to_uppercase()
            }))
        }
        Converter::TraceId | Converter::SpanId => first()?,
    })
}
