//! The `basicauth` section, with the contrib extension's keys: `htpasswd` for a server
//! (receivers check it), `client_auth` for a client (exporters send it), one of the two.

use serde::Deserialize;
use weir_api::config::problem;
use weir_api::{ComponentProblem, Value};

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub htpasswd: Option<Htpasswd>,
    pub client_auth: Option<ClientAuth>,
}

/// Users a receiver accepts: an htpasswd file and/or inline lines (inline lines come
/// last, so they win over the file's for the same user, as in the Collector).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Htpasswd {
    pub file: String,
    pub inline: String,
}

/// What an exporter sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuth {
    pub username: String,
    pub password: String,
}

impl weir_api::config::Validate for Config {
    fn problems(&self) -> Vec<ComponentProblem> {
        match (&self.htpasswd, &self.client_auth) {
            (Some(_), Some(_)) => vec![problem(
                &["client_auth"],
                "only one of `htpasswd` or `client_auth` can be specified",
            )],
            (None, None) => vec![problem(
                &["htpasswd"],
                "no credential source provided: set `htpasswd` (for receivers) or \
                 `client_auth` (for exporters)",
            )],
            (Some(htpasswd), None) if htpasswd.file.is_empty() && htpasswd.inline.is_empty() => {
                vec![problem(&["htpasswd"], "htpasswd needs `file` or `inline`")]
            }
            (None, Some(client)) if client.username.contains(':') => vec![problem(
                &["client_auth", "username"],
                "a Basic auth username cannot contain `:`",
            )],
            _ => Vec::new(),
        }
    }
}

/// Parses and checks a section.
pub fn check(section: &Value) -> Vec<ComponentProblem> {
    weir_api::config::check_valid::<Config>(section)
}
