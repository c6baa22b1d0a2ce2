//! The `debug` section, mirroring the Collector's `debugexporter` keys and defaults:
//! `verbosity`, `sampling_initial`, `sampling_thereafter`, `use_internal_logger`,
//! `output_paths`, `output` (what detailed/normal output shows) and `sending_queue`.
//!
//! The Collector's debug exporter has no `timeout` or `retry_on_failure` keys (it never
//! fails and runs without a timeout), so neither does this one; `sending_queue` is
//! optional there and "when unset the exporter sends synchronously", which maps to a
//! disabled queue here.

use serde::Deserialize;
use weir_api::{ComponentProblem, QueueSettings};

/// How much of each batch is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One summary line per batch (counts).
    #[default]
    Basic,
    /// The summary plus about one line per item.
    Normal,
    /// The summary plus every field of every resource.
    Detailed,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    pub verbosity: Verbosity,
    /// Writes logged per signal in each second before sampling starts.
    pub sampling_initial: u64,
    /// After the initial writes, every Nth is logged; 1 disables sampling, 0 drops the rest.
    pub sampling_thereafter: u64,
    /// `true`: through Weir's own log (`tracing`); `false`: plain text to `output_paths`.
    pub use_internal_logger: bool,
    /// Where plain output goes when `use_internal_logger` is false: `stdout`, `stderr`.
    pub output_paths: Vec<String>,
    pub output: OutputSettings,
    /// Absent means no queue: the pipeline waits for each write, as in the Collector.
    pub sending_queue: Option<QueueSettings>,
}

impl Default for DebugConfig {
    fn default() -> Self {
        Self {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
            use_internal_logger: true,
            output_paths: vec!["stdout".into()],
            output: OutputSettings::default(),
            sending_queue: None,
        }
    }
}

/// `output`: which parts of each resource normal and detailed output show.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSettings {
    pub record: PartSettings,
    pub scope: PartSettings,
    pub resource: PartSettings,
}

/// One part (record, scope or resource) of the output.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartSettings {
    pub enabled: bool,
    pub attributes: AttributeFilter,
}

impl Default for PartSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            attributes: AttributeFilter::default(),
        }
    }
}

/// Which attribute keys are shown: all, those in `include`, or all but `exclude`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeFilter {
    pub enabled: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Default for AttributeFilter {
    fn default() -> Self {
        Self {
            enabled: true,
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

impl AttributeFilter {
    pub fn keeps(&self, key: &str) -> bool {
        if !self.enabled {
            return false;
        }
        if !self.include.is_empty() {
            return self.include.iter().any(|k| k == key);
        }
        !self.exclude.iter().any(|k| k == key)
    }
}

impl DebugConfig {
    pub fn validate(&self) -> Result<(), ComponentProblem> {
        for (name, part) in [
            ("record", &self.output.record),
            ("scope", &self.output.scope),
            ("resource", &self.output.resource),
        ] {
            if !part.attributes.include.is_empty() && !part.attributes.exclude.is_empty() {
                return Err(ComponentProblem {
                    path: vec!["output".into(), name.into(), "attributes".into()],
                    message: format!(
                        "cannot specify both include and exclude attributes for {name}"
                    ),
                    suggestion: None,
                });
            }
        }
        for (index, path) in self.output_paths.iter().enumerate() {
            if path != "stdout" && path != "stderr" {
                return Err(ComponentProblem {
                    path: vec!["output_paths".into(), index.to_string()],
                    message: format!(
                        "output path `{path}` is not supported: weir's debug exporter writes to `stdout` or `stderr`"
                    ),
                    suggestion: Some("stdout".into()),
                });
            }
        }
        Ok(())
    }
}

impl weir_api::config::Validate for DebugConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        self.validate().err().into_iter().collect()
    }
}
