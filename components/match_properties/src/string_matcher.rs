//! The Collector's `filterset`: a list of strings matched exactly (`strict`) or as
//! regular expressions (`regexp`, unanchored: a pattern matches anywhere in the text
//! unless it carries its own `^`/`$`).

use std::collections::HashSet;

use regex::RegexSet;

use crate::config::MatchType;

/// A compiled list of strings or patterns; a text matches when any entry does.
#[derive(Clone, Debug)]
pub enum StringMatcher {
    Strict(HashSet<String>),
    Regexp(RegexSet),
}

impl StringMatcher {
    /// Compiles `patterns` under `match_type`. `None` as match type is the Collector's
    /// "unrecognized match_type: ''" error. The error is the message only; callers put
    /// the key path in front.
    pub fn new(match_type: Option<MatchType>, patterns: &[String]) -> Result<Self, String> {
        match match_type {
            Some(MatchType::Strict) => Ok(Self::Strict(patterns.iter().cloned().collect())),
            Some(MatchType::Regexp) => {
                for pattern in patterns {
                    if let Err(err) = regex::Regex::new(pattern) {
                        return Err(format!("error parsing regexp `{pattern}`: {err}"));
                    }
                }
                RegexSet::new(patterns)
                    .map(Self::Regexp)
                    .map_err(|err| format!("error compiling regexps: {err}"))
            }
            None => Err(unrecognized_match_type()),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            Self::Strict(set) => set.contains(text),
            Self::Regexp(set) => set.is_match(text),
        }
    }
}

/// The Collector's message when `match_type` is missing where a filter needs it.
pub(crate) fn unrecognized_match_type() -> String {
    "unrecognized match_type: '', valid types are: [regexp strict]".to_string()
}
