//! A subset of the OpenTelemetry Transformation Language (OTTL), in one place for every
//! component that takes conditions or statements: `filter`, `transform`, the `routing`
//! connector, and the sampling and aggregation processors that match on conditions.
//!
//! Why a subset, written here: OTTL is the language operators already write in their
//! Collector configs, so Weir accepts it as it is; but the Collector evaluates it on
//! decoded structs, and Weir's items stay as wire bytes until something must change them.
//! This crate compiles each expression once, at build, into a tree whose paths read
//! [`weir_api::batch::view`]s directly: a condition made of paths, literals and
//! comparisons allocates nothing per item.
//!
//! - [`Condition`] (and [`ConditionSet`], any-of): a boolean expression.
//! - [`Statement`]: an editor call (`set`, `delete_key`, ...) with an optional `where`,
//!   run against a `Batch::edit_*` handle.
//! - [`Context`]: which item an expression is about (span, log, datapoint, ...); paths
//!   resolve against it and its parents (a span's resource and scope).
//!
//! Anything outside the subset is refused when the expression is compiled, with the
//! construct and the column ([`OttlError`]); the caller adds the config key path. The
//! supported set is listed in README.md next to this crate.

mod compile;
mod context;
mod error;
mod functions;
mod lexer;
mod log_limit;
mod parser;
mod statement;
mod value;

pub use context::{Context, Item, ItemKind};
pub use error::{ErrorMode, EvalError, OttlError};
pub use log_limit::{LogLimiter, LOG_INTERVAL};
pub use statement::Statement;
pub use value::Value;

use compile::Expr;

/// A compiled boolean expression, e.g. `attributes["http.route"] == "/health"`.
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
    context: Context,
    expr: Expr,
}

impl Condition {
    /// Parses and checks `text` for `context`. Unsupported paths, functions and
    /// operators are refused here, never at evaluation.
    pub fn compile(text: &str, context: Context) -> Result<Self, OttlError> {
        let ast = parser::parse_condition(text)?;
        let expr = compile::compile_bool(&ast, context, text)?;
        Ok(Self {
            text: text.to_string(),
            context,
            expr,
        })
    }

    /// Whether the item matches. An error is a run-time failure of a converter (e.g.
    /// `Substring` past the end); the caller applies its `error_mode`.
    pub fn evaluate(&self, item: &Item<'_>) -> Result<bool, EvalError> {
        compile::eval_bool(&self.expr, item)
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn context(&self) -> Context {
        self.context
    }
}

/// Several conditions, matched when any one matches (how `filter` and `routing` lists
/// read). Evaluation stops at the first match.
#[derive(Debug, Clone, Default)]
pub struct ConditionSet {
    conditions: Vec<Condition>,
}

impl ConditionSet {
    /// Compiles every condition; the error carries the index of the first that fails.
    pub fn compile<S: AsRef<str>>(
        texts: &[S],
        context: Context,
    ) -> Result<Self, (usize, OttlError)> {
        let conditions = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Condition::compile(t.as_ref(), context).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self { conditions })
    }

    /// Whether any condition matches. With `ErrorMode::Propagate` the first error is
    /// returned; otherwise a failing condition counts as not matching (and, for
    /// `Ignore`, the caller logs the error it is handed through `on_error`).
    pub fn evaluate(
        &self,
        item: &Item<'_>,
        mode: ErrorMode,
        mut on_error: impl FnMut(&Condition, &EvalError),
    ) -> Result<bool, EvalError> {
        for condition in &self.conditions {
            match condition.evaluate(item) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(error) if mode == ErrorMode::Propagate => return Err(error),
                Err(error) => {
                    if mode == ErrorMode::Ignore {
                        on_error(condition, &error);
                    }
                }
            }
        }
        Ok(false)
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    pub fn len(&self) -> usize {
        self.conditions.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Condition> {
        self.conditions.iter()
    }
}

/// The context a flat list of statements or conditions is about, inferred as the
/// Collector infers it: from the path prefixes used (`span.`, `spanevent.`, `log.`,
/// `metric.`, `datapoint.`, `resource.`, `scope.`), taking the finest one named. An
/// expression with no prefixed path is an error naming it.
pub fn infer_context<S: AsRef<str>>(texts: &[S]) -> Result<Context, (usize, OttlError)> {
    let mut finest: Option<Context> = None;
    for (index, text) in texts.iter().enumerate() {
        let named = parser::path_prefixes(text.as_ref()).map_err(|e| (index, e))?;
        for context in named {
            finest = Some(match finest {
                Some(current) => current.finer(context).ok_or_else(|| {
                    (
                        index,
                        OttlError::new(
                            0,
                            text.as_ref(),
                            format!(
                                "mixes the `{}` and `{}` contexts, which are not one inside the other",
                                current.name(),
                                context.name()
                            ),
                        ),
                    )
                })?,
                None => context,
            });
        }
    }
    finest.ok_or_else(|| {
        (
            0,
            OttlError::new(
                0,
                texts.first().map(|t| t.as_ref()).unwrap_or(""),
                "cannot infer the context: prefix paths with the item they are about \
                 (`span.`, `spanevent.`, `metric.`, `datapoint.`, `log.`, `resource.`, `scope.`)"
                    .to_string(),
            ),
        )
    })
}

/// SHA-256 of `data`, as lower-case hex: the `SHA256` converter and the attributes
/// processor's `hash` action.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = String::with_capacity(64);
    for byte in digest.as_ref() {
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    out
}
