//! The `pprof` section, with the Collector's keys and defaults
//! (`extension/pprofextension/config.go`).
//!
//! `block_profile_fraction` and `mutex_profile_fraction` tune Go runtime profilers that a
//! Rust program does not have: they are accepted so Collector configs load unchanged,
//! and a non-zero value is reported at start as having no effect.

use serde::Deserialize;
use weir_api::config::{problem, Validate};
use weir_api::ComponentProblem;

/// Loopback only, as the Collector's `localhost:1777`.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:1777";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PprofConfig {
    /// `host:port` to serve `/debug/pprof/` on.
    pub endpoint: String,
    /// Go's block profile rate: no meaning for Weir (accepted, see the module docs).
    pub block_profile_fraction: i64,
    /// Go's mutex profile fraction: no meaning for Weir (accepted).
    pub mutex_profile_fraction: i64,
    /// When set, a CPU profile runs from start to shutdown and is written to this file.
    pub save_to_file: Option<String>,
    /// The Collector's `confignet` transport: only `tcp` is served.
    pub transport: Option<String>,
}

impl Default for PprofConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.into(),
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: None,
            transport: None,
        }
    }
}

impl Validate for PprofConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut out = Vec::new();
        if self.endpoint.trim().is_empty() {
            out.push(problem(
                &["endpoint"],
                "endpoint must be specified (e.g. 127.0.0.1:1777)",
            ));
        }
        if let Some(transport) = &self.transport {
            if transport != "tcp" && transport != "tcp4" && transport != "tcp6" {
                out.push(problem(
                    &["transport"],
                    format!(
                        "transport {transport:?} is not supported; the pprof extension serves tcp"
                    ),
                ));
            }
        }
        if self
            .save_to_file
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            out.push(problem(
                &["save_to_file"],
                "save_to_file must be a file path when set",
            ));
        }
        out
    }
}
