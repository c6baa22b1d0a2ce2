//! The Collector's attribute actions (contrib `internal/coreinternal/attraction`),
//! shared by the `attributes` processor (item and data-point attributes) and the
//! `resource` processor (resource attributes).
//!
//! Actions run in order and each sees the result of the previous ones, as in the
//! Collector. Weir's edit handles record changes and show the item as it arrived, so
//! the actions run on a small overlay of the arriving attributes (`working.rs`) and only
//! the net difference is recorded as `AttrOp`s. An item the actions leave unchanged
//! records nothing, so its resource stays as received bytes.

mod compile;
mod config;
mod run;
mod working;

pub use compile::{Action, Actions, ConvertTarget, Source};
pub use config::ActionConfig;
pub use run::{convert as convert_value, hash_value};
