//! The `zpages` section, with the Collector's keys and default.
//!
//! `expvar` is accepted so Collector configs load unchanged; it serves Go runtime
//! variables in the Collector, which a Rust process does not have, so Weir answers
//! `/debug/expvarz` with a note instead.

use serde::Deserialize;
use weir_api::{ComponentProblem, Value};

/// Where the pages are served by default: loopback only, as the Collector does since
/// `component.UseLocalHostAsDefaultHost`.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:55679";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZpagesConfig {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// `expvar.enabled`: accepted, see the module docs.
    pub expvar: Expvar,
    /// The Collector's HTTP server TLS block: recognised so the error is clear.
    pub tls: Option<Value>,
}

impl Default for ZpagesConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.into(),
            expvar: Expvar::default(),
            tls: None,
        }
    }
}

/// `expvar`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expvar {
    pub enabled: bool,
}

impl weir_api::config::Validate for ZpagesConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.endpoint.trim().is_empty() {
            problems.push(ComponentProblem {
                path: vec!["endpoint".into()],
                message: "\"endpoint\" is required when using the \"zpages\" extension".into(),
                suggestion: Some(DEFAULT_ENDPOINT.into()),
            });
        }
        if self.tls.is_some() {
            problems.push(ComponentProblem {
                path: vec!["tls".into()],
                message: "TLS is not supported by weir's zpages yet; serve it on loopback or \
                          behind a proxy"
                    .into(),
                suggestion: None,
            });
        }
        problems
    }
}
