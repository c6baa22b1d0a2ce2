//! Compile errors that name the key they are about.

use std::fmt;

/// A configuration error in an `include`/`exclude` block: the key path inside the
/// component's section (e.g. `["include", "attributes", "0", "value"]`) and the
/// Collector's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchError {
    pub path: Vec<String>,
    pub message: String,
}

impl MatchError {
    pub fn new(path: &[&str], message: impl Into<String>) -> Self {
        Self {
            path: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }

    /// The same error under a parent key (e.g. `include`).
    pub fn under(mut self, parent: &str) -> Self {
        self.path.insert(0, parent.to_string());
        self
    }

    /// The path as `a.b[0].c`.
    pub fn path_text(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            if segment.parse::<usize>().is_ok() {
                out.push('[');
                out.push_str(segment);
                out.push(']');
            } else {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(segment);
            }
        }
        out
    }
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path_text(), self.message)
        }
    }
}

impl std::error::Error for MatchError {}
