//! One entry of `actions` (attributes processor) or `attributes` (resource processor):
//! the Collector's `ActionKeyValue` keys.

use serde::Deserialize;
use weir_api::Value;

/// An action as configured. Which keys are allowed depends on `action`; that is
/// checked when compiling ([`crate::actions::Actions::compile`]).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionConfig {
    /// The attribute acted on.
    pub key: String,
    /// insert / update / upsert: the value to set (its YAML type is kept).
    pub value: Option<Value>,
    /// delete / hash: a regexp on attribute keys; extract: the regexp with named groups.
    pub pattern: String,
    /// insert / update / upsert: copy the value of this attribute.
    pub from_attribute: String,
    /// insert / update / upsert: take the value from the request's client metadata
    /// (`metadata.<key>`, or a bare key).
    pub from_context: String,
    /// convert: `int`, `double` or `string`.
    pub converted_type: String,
    /// insert, update, upsert, delete, hash, extract or convert (any case).
    pub action: String,
}
