//! Compile-time and run-time errors, and what a component does with the latter.

use serde::Deserialize;

/// An expression Weir cannot run: refused when the config is validated. The column
/// (1-based, in characters) points at the construct; callers prefix the config key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message} (in `{text}`)")]
pub struct OttlError {
    pub column: usize,
    pub message: String,
    pub text: String,
}

impl OttlError {
    /// `offset` is a byte offset into `text`; it is reported as a 1-based character column.
    pub(crate) fn new(offset: usize, text: &str, message: String) -> Self {
        let column = text.char_indices().take_while(|(i, _)| *i < offset).count() + 1;
        Self {
            column,
            message,
            text: text.to_string(),
        }
    }
}

/// A failure while evaluating (a converter given what it cannot use).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// What a component does when an expression fails on an item: the Collector's
/// `error_mode`. `propagate` (the Collector's default) fails the whole batch; `ignore`
/// logs and goes on; `silent` goes on without logging.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    Ignore,
    Silent,
    #[default]
    Propagate,
}
