//! The detectors. Each returns the attributes it found, in order, or an error saying
//! what it could not read. They run once, when the processor is built.

pub mod docker;
pub mod env;
pub mod k8s;
pub mod system;

use std::path::Path;

use crate::config::Switches;

/// The docker detector's attributes (both enabled by default, as in the Collector).
pub const DOCKER_ATTRIBUTES: [&str; 2] = ["host.name", "os.type"];

/// Detected attributes, in order.
pub type Attributes = Vec<(String, String)>;

/// Reads an environment variable (a function, so tests can supply their own).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Whether `name` is enabled: its switch if there is one, else `default`.
pub fn enabled(switches: &Switches, name: &str, default: bool) -> bool {
    switches.get(name).map_or(default, |t| t.enabled)
}

/// A file's first line, trimmed, if it is readable and not empty.
pub fn first_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}
