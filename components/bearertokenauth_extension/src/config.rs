//! The `bearertokenauth` section, with the contrib extension's keys and defaults.

use serde::Deserialize;
use weir_api::config::problem;
use weir_api::{ComponentProblem, Value};

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Put before the token in the header value (`Bearer <token>`); empty sends the
    /// token alone.
    pub scheme: String,
    /// The header that carries it.
    pub header: String,
    /// The one token (sent by exporters, accepted by receivers).
    pub token: String,
    /// Several tokens: a receiver accepts any of them; an exporter sends the first.
    pub tokens: Vec<String>,
    /// A file with the token(s), one per line, read again when it changes; it takes
    /// precedence over `token`/`tokens`, as in the Collector.
    pub filename: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            scheme: "Bearer".into(),
            header: "Authorization".into(),
            token: String::new(),
            tokens: Vec::new(),
            filename: String::new(),
        }
    }
}

impl weir_api::config::Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if !self.token.is_empty() && !self.tokens.is_empty() {
            problems.push(problem(
                &["tokens"],
                "either token or tokens can be configured, not both",
            ));
        }
        if self.token.is_empty() && self.tokens.is_empty() && self.filename.is_empty() {
            problems.push(problem(
                &["token"],
                "no bearer token provided: set token, tokens or filename",
            ));
        }
        if hyper::header::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            problems.push(problem(
                &["header"],
                format!("`{}` is not a valid header name", self.header),
            ));
        }
        problems
    }
}

/// Parses and checks a section.
pub fn check(section: &Value) -> Vec<ComponentProblem> {
    weir_api::config::check_valid::<Config>(section)
}
