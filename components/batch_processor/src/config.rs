//! The `batch` section: the Collector's keys, defaults and validation rules.
//!
//! Parsing is strict (`deny_unknown_fields`) so a misspelled key is reported with its
//! path instead of being silently ignored; the semantic rules the Collector enforces in
//! `Config.Validate` are checked here too, so `weir validate` catches them before start.

use std::time::Duration;

use serde::Deserialize;
use weir_api::{BatcherSettings, ComponentProblem};

/// The `batch` processor's configuration, with the Collector's defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, data points, log records) that trigger a send. A trigger, not a cap.
    pub send_batch_size: usize,
    /// Upper bound of an emitted batch; larger ones are split. Zero means no bound.
    pub send_batch_max_size: usize,
    /// How long a pending batch may wait before it is sent regardless of size. Zero
    /// sends immediately, only splitting to `send_batch_max_size`.
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    /// Client metadata keys whose values keep batches apart (one batch per tenant).
    pub metadata_keys: Vec<String>,
    /// How many distinct combinations of `metadata_keys` values may be pending at once.
    /// Zero means no limit, as in the Collector.
    pub metadata_cardinality_limit: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        let defaults = BatcherSettings::default();
        Self {
            send_batch_size: defaults.send_batch_size,
            send_batch_max_size: defaults.send_batch_max_size,
            timeout: defaults.timeout,
            metadata_keys: defaults.metadata_keys,
            metadata_cardinality_limit: defaults.metadata_cardinality_limit,
        }
    }
}

impl BatchConfig {
    /// The Collector's semantic rules (`processor/batchprocessor/config.go`).
    pub fn validate(&self) -> Result<(), ComponentProblem> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(ComponentProblem {
                path: vec!["send_batch_max_size".into()],
                message: format!(
                    "send_batch_max_size ({}) must be 0 or greater than or equal to send_batch_size ({})",
                    self.send_batch_max_size, self.send_batch_size
                ),
                suggestion: Some(format!(
                    "raise send_batch_max_size to {} or more, or remove it so batches are not split",
                    self.send_batch_size
                )),
            });
        }
        let mut seen: Vec<String> = Vec::with_capacity(self.metadata_keys.len());
        for (index, key) in self.metadata_keys.iter().enumerate() {
            let lower = key.to_ascii_lowercase();
            if seen.contains(&lower) {
                return Err(ComponentProblem {
                    path: vec!["metadata_keys".into(), index.to_string()],
                    message: format!(
                        "duplicate entry in metadata_keys: `{lower}` (case-insensitive)"
                    ),
                    suggestion: None,
                });
            }
            seen.push(lower);
        }
        Ok(())
    }

    /// The settings of the shared [`weir_api::Batcher`].
    ///
    /// `metadata_cardinality_limit: 0` means "no limit" in the Collector but "refuse
    /// everything" to `Batcher`, so zero is translated here.
    pub fn batcher_settings(&self) -> BatcherSettings {
        BatcherSettings {
            send_batch_size: self.send_batch_size,
            send_batch_max_size: self.send_batch_max_size,
            timeout: self.timeout,
            metadata_keys: self.metadata_keys.clone(),
            metadata_cardinality_limit: match self.metadata_cardinality_limit {
                0 => usize::MAX,
                limit => limit,
            },
            // The batch processor counts items, as the Collector's does.
            sizer: weir_api::Sizer::Items,
        }
    }
}

impl weir_api::config::Validate for BatchConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        self.validate().err().into_iter().collect()
    }
}
