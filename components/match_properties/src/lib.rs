//! The OpenTelemetry Collector's legacy `include`/`exclude` matching
//! (contrib `internal/filter/filterconfig` `MatchProperties`, with the evaluation of
//! `filterspan`, `filterlog` and `filtermetric`), shared by the `attributes` processor
//! and the `filter` processor's legacy forms.
//!
//! Why a crate of its own: several processors take the same `include`/`exclude`
//! blocks, and they must all read and match them exactly as the Collector does (an
//! unanchored regexp, typed equality under `strict`, "key present" when a value is
//! omitted, every library entry required). Keeping one implementation keeps them in
//! agreement.
//!
//! - [`MatchProperties`]: one `include` or `exclude` block as configured (serde).
//! - [`Matcher`]: include + exclude compiled once; `matches_span` / `matches_log` /
//!   `matches_metric` say whether an item is processed (include matches or is absent,
//!   and exclude does not match).
//! - [`StringMatcher`], [`AttributesMatcher`]: the primitives, for processors that
//!   build their own forms on them.
//! - [`value`]: config values to attribute values, typed equality and the Collector's
//!   `AsString` rendering.

mod attributes;
mod config;
mod error;
mod matcher;
mod string_matcher;
pub mod value;

pub use attributes::{AttributeMatcher, AttributesMatcher};
pub use config::{
    AttributeMatch, LibraryMatch, MatchProperties, MatchType, RegexpConfig, SeverityNumberMatch,
};
pub use error::MatchError;
pub use matcher::{Matcher, Properties};
pub use string_matcher::StringMatcher;

#[cfg(test)]
mod tests;
