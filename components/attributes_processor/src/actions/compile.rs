//! Checks and compiles actions with the Collector's rules (`attraction.NewAttrProc`),
//! reporting each problem under its key path (`actions[2].pattern`).

use regex::Regex;
use weir_api::batch::edit::OwnedValue;
use weir_api::config::{problem, problem_with_suggestion};
use weir_api::ComponentProblem;
use weir_match_properties::value::from_config;

use super::config::ActionConfig;

/// Where insert, update and upsert take their value from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// `value`: a constant.
    Value(OwnedValue),
    /// `from_attribute`: another attribute of the same list (as the earlier actions left it).
    Attribute(String),
    /// `from_context`: a key of the batch's client metadata; several values are joined
    /// with `;`, as the Collector joins them.
    Metadata(String),
}

/// `converted_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertTarget {
    Int,
    Double,
    String,
}

/// A compiled action.
#[derive(Clone, Debug)]
pub enum Action {
    Insert {
        key: String,
        source: Source,
    },
    Update {
        key: String,
        source: Source,
    },
    Upsert {
        key: String,
        source: Source,
    },
    /// `key` and/or every key matching `pattern`.
    Delete {
        key: String,
        pattern: Option<Regex>,
    },
    /// `key` and/or every key matching `pattern` (the Collector hashes a key that both
    /// names and matches twice; so does Weir).
    Hash {
        key: String,
        pattern: Option<Regex>,
    },
    /// Upserts each named group of `pattern`'s first match in the string value of `key`.
    Extract {
        key: String,
        pattern: Regex,
        names: Vec<String>,
    },
    Convert {
        key: String,
        to: ConvertTarget,
    },
}

/// An ordered list of compiled actions.
#[derive(Clone, Debug, Default)]
pub struct Actions(pub(crate) Vec<Action>);

fn regex(pattern: &str, path: &[&str], index: usize) -> Result<Regex, ComponentProblem> {
    Regex::new(pattern).map_err(|err| {
        problem(
            path,
            format!(
                "error creating AttrProc. Field \"pattern\" has invalid pattern: \"{pattern}\" to be set at the {index}-th actions: {err}"
            ),
        )
    })
}

impl Actions {
    /// Compiles the list configured under `list_key` (`actions` or `attributes`).
    /// Refuses an empty list, as both processors do.
    pub fn compile(list_key: &str, configs: &[ActionConfig]) -> Result<Self, ComponentProblem> {
        if configs.is_empty() {
            return Err(problem_with_suggestion(
                &[list_key],
                format!("missing required field \"{list_key}\""),
                format!("add e.g. `{list_key}: [{{key: env, value: prod, action: upsert}}]`"),
            ));
        }
        configs
            .iter()
            .enumerate()
            .map(|(i, c)| compile_one(list_key, i, c))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Action> {
        self.0.iter()
    }

    /// Whether any action reads the client metadata.
    pub fn uses_metadata(&self) -> bool {
        self.0.iter().any(|a| {
            matches!(
                a,
                Action::Insert {
                    source: Source::Metadata(_),
                    ..
                } | Action::Update {
                    source: Source::Metadata(_),
                    ..
                } | Action::Upsert {
                    source: Source::Metadata(_),
                    ..
                }
            )
        })
    }
}

fn compile_one(list: &str, i: usize, c: &ActionConfig) -> Result<Action, ComponentProblem> {
    let index = i.to_string();
    let at = |key: &'static str| [list, index.as_str(), key];
    let action = c.action.to_ascii_lowercase();
    match action.as_str() {
        "delete" | "hash" => {
            if c.key.is_empty() && c.pattern.is_empty() {
                return Err(problem(
                    &at("key"),
                    format!("error creating AttrProc due to missing required field (at least one of \"key\" and \"pattern\" have to be used) at the {i}-th actions"),
                ));
            }
        }
        "" => {
            return Err(problem_with_suggestion(
                &at("action"),
                format!(
                    "error creating AttrProc due to unsupported action \"\" at the {i}-th actions"
                ),
                "one of insert, update, upsert, delete, hash, extract, convert",
            ))
        }
        _ => {
            if c.key.is_empty() {
                return Err(problem(
                    &at("key"),
                    format!("error creating AttrProc due to missing required field \"key\" at the {i}-th actions"),
                ));
            }
        }
    }
    let value_sources = usize::from(c.value.is_some())
        + usize::from(!c.from_attribute.is_empty())
        + usize::from(!c.from_context.is_empty());
    let no_converted_type = || {
        if c.converted_type.is_empty() {
            Ok(())
        } else {
            Err(problem(
                &at("converted_type"),
                format!("error creating AttrProc. Action \"{action}\" does not use the \"converted_type\" field. This must not be specified for {i}-th action"),
            ))
        }
    };
    let key = c.key.clone();
    match action.as_str() {
        "insert" | "update" | "upsert" => {
            if value_sources == 0 {
                return Err(problem(
                    &at("value"),
                    format!("error creating AttrProc. Either field \"value\", \"from_attribute\" or \"from_context\" setting must be specified for {i}-th action"),
                ));
            }
            if value_sources > 1 {
                return Err(problem(
                    &at("value"),
                    format!("error creating AttrProc due to multiple value sources being set at the {i}-th actions"),
                ));
            }
            if !c.pattern.is_empty() {
                return Err(problem(
                    &at("pattern"),
                    format!("error creating AttrProc. Action \"{action}\" does not use the \"pattern\" field. This must not be specified for {i}-th action"),
                ));
            }
            no_converted_type()?;
            let source = if let Some(value) = &c.value {
                Source::Value(from_config(value).map_err(|m| problem(&at("value"), m))?)
            } else if !c.from_attribute.is_empty() {
                Source::Attribute(c.from_attribute.clone())
            } else {
                Source::Metadata(context_key(&c.from_context, &at("from_context"))?)
            };
            Ok(match action.as_str() {
                "insert" => Action::Insert { key, source },
                "update" => Action::Update { key, source },
                _ => Action::Upsert { key, source },
            })
        }
        "delete" | "hash" => {
            if c.value.is_some() || !c.from_attribute.is_empty() {
                let field = if c.value.is_some() { "value" } else { "from_attribute" };
                return Err(problem(
                    &at(field),
                    format!("error creating AttrProc. Action \"{action}\" does not use \"value\" or \"from_attribute\" field. These must not be specified for {i}-th action"),
                ));
            }
            let pattern = if c.pattern.is_empty() {
                None
            } else {
                Some(regex(&c.pattern, &at("pattern"), i)?)
            };
            no_converted_type()?;
            Ok(if action == "delete" {
                Action::Delete { key, pattern }
            } else {
                Action::Hash { key, pattern }
            })
        }
        "extract" => {
            if value_sources > 0 {
                return Err(problem(
                    &at("value"),
                    format!("error creating AttrProc. Action \"{action}\" does not use a value source field. These must not be specified for {i}-th action"),
                ));
            }
            if c.pattern.is_empty() {
                return Err(problem(
                    &at("pattern"),
                    format!("error creating AttrProc due to missing required field \"pattern\" for action \"{action}\" at the {i}-th action"),
                ));
            }
            no_converted_type()?;
            let pattern = regex(&c.pattern, &at("pattern"), i)?;
            let names: Vec<Option<&str>> = pattern.capture_names().skip(1).collect();
            if names.is_empty() {
                return Err(problem(
                    &at("pattern"),
                    format!("error creating AttrProc. Field \"pattern\" contains no named matcher groups at the {i}-th actions"),
                ));
            }
            if names.iter().any(Option::is_none) {
                return Err(problem(
                    &at("pattern"),
                    format!("error creating AttrProc. Field \"pattern\" contains at least one unnamed matcher group at the {i}-th actions"),
                ));
            }
            let names = names.into_iter().flatten().map(str::to_string).collect();
            Ok(Action::Extract { key, pattern, names })
        }
        "convert" => {
            if value_sources > 0 || !c.pattern.is_empty() {
                let field = if !c.pattern.is_empty() { "pattern" } else { "value" };
                return Err(problem(
                    &at(field),
                    format!("error creating AttrProc. Action \"{action}\" does not use value sources or \"pattern\" field. These must not be specified for {i}-th action"),
                ));
            }
            let to = match c.converted_type.as_str() {
                "int" => ConvertTarget::Int,
                "double" => ConvertTarget::Double,
                "string" => ConvertTarget::String,
                "" => {
                    return Err(problem(
                        &at("converted_type"),
                        format!("error creating AttrProc due to missing required field \"converted_type\" for action \"{action}\" at the {i}-th action"),
                    ))
                }
                other => {
                    return Err(problem_with_suggestion(
                        &at("converted_type"),
                        format!("error creating AttrProc due to invalid value \"{other}\" in field \"converted_type\" for action \"{action}\" at the {i}-th action"),
                        "one of int, double, string",
                    ))
                }
            };
            Ok(Action::Convert { key, to })
        }
        other => Err(problem_with_suggestion(
            &at("action"),
            format!("error creating AttrProc due to unsupported action \"{other}\" at the {i}-th actions"),
            "one of insert, update, upsert, delete, hash, extract, convert",
        )),
    }
}

/// The client-metadata key a `from_context` names. `metadata.<key>` and a bare key
/// (the Collector's fallback) read client metadata; `auth.*` and `client.address`
/// are refused: Weir's receivers keep neither authentication data nor the peer
/// address on batches.
fn context_key(from_context: &str, path: &[&str]) -> Result<String, ComponentProblem> {
    if from_context == "client.address" || from_context.starts_with("auth.") {
        return Err(problem_with_suggestion(
            path,
            format!("from_context `{from_context}` is not supported: batches carry client metadata only, not the client address or authentication data"),
            "use `metadata.<header>` with the receiver's `include_metadata: true`",
        ));
    }
    let key = from_context
        .strip_prefix("metadata.")
        .unwrap_or(from_context);
    if key.is_empty() {
        return Err(problem(
            path,
            "from_context `metadata.` names no metadata key",
        ));
    }
    Ok(key.to_string())
}
