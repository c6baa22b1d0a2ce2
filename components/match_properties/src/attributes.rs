//! `attributes` / `resources` entries (`filtermatcher.AttributesMatcher`): every entry
//! must match. An entry without a value matches when the key is present; under
//! `strict` the value is compared with typed equality, under `regexp` the configured
//! string is a pattern searched in the attribute's string form (strings, booleans,
//! integers, doubles; other types never match).

use regex::Regex;
use weir_api::batch::edit::OwnedValue;
use weir_api::batch::view::Attributes;

use crate::config::{AttributeMatch, MatchType};
use crate::error::MatchError;
use crate::string_matcher::unrecognized_match_type;
use crate::value;

#[derive(Clone, Debug)]
enum Expect {
    Present,
    Equals(OwnedValue),
    Pattern(Regex),
}

/// One compiled `{key, value}` entry.
#[derive(Clone, Debug)]
pub struct AttributeMatcher {
    key: String,
    expect: Expect,
}

impl AttributeMatcher {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether `attributes` holds the key with a matching value.
    pub fn matches(&self, attributes: Attributes<'_>) -> bool {
        let Some(actual) = attributes.get(&self.key) else {
            return false;
        };
        match &self.expect {
            Expect::Present => true,
            Expect::Equals(expected) => value::equals(actual, expected),
            Expect::Pattern(re) => value::match_string(actual).is_some_and(|s| re.is_match(&s)),
        }
    }
}

/// A compiled list of entries; all must match.
#[derive(Clone, Debug, Default)]
pub struct AttributesMatcher(Vec<AttributeMatcher>);

impl AttributesMatcher {
    /// Compiles the list configured under `list_key` (e.g. `attributes`). Errors name
    /// the entry (`attributes[1].value`) or `match_type`, relative to the block that
    /// holds the list.
    pub fn new(
        match_type: Option<MatchType>,
        list_key: &str,
        entries: &[AttributeMatch],
    ) -> Result<Self, MatchError> {
        let mut out = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let index = index.to_string();
            if entry.key.is_empty() {
                return Err(MatchError::new(
                    &[list_key, &index, "key"],
                    "can't have empty key in the list of attributes",
                ));
            }
            let expect = match &entry.value {
                None | Some(weir_api::Value::Null) => Expect::Present,
                Some(raw) => {
                    let value = value::from_config(raw)
                        .map_err(|m| MatchError::new(&[list_key, &index, "value"], m))?;
                    match match_type {
                        Some(MatchType::Strict) => Expect::Equals(value),
                        Some(MatchType::Regexp) => {
                            let OwnedValue::Str(pattern) = &value else {
                                return Err(MatchError::new(
                                    &[list_key, &index, "value"],
                                    format!(
                                        "match_type=regexp for {:?} only supports Str, but found {}",
                                        entry.key,
                                        value::type_name(&value)
                                    ),
                                ));
                            };
                            Expect::Pattern(Regex::new(pattern).map_err(|err| {
                                MatchError::new(
                                    &[list_key, &index, "value"],
                                    format!("error parsing regexp `{pattern}`: {err}"),
                                )
                            })?)
                        }
                        None => {
                            return Err(MatchError::new(&["match_type"], unrecognized_match_type()))
                        }
                    }
                }
            };
            out.push(AttributeMatcher {
                key: entry.key.clone(),
                expect,
            });
        }
        Ok(Self(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn entries(&self) -> &[AttributeMatcher] {
        &self.0
    }

    /// True when the list is empty; otherwise every entry must match (so an item with
    /// no attributes never matches a non-empty list).
    pub fn matches(&self, attributes: Attributes<'_>) -> bool {
        self.0.iter().all(|m| m.matches(attributes))
    }
}
