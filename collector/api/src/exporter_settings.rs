//! The settings every exporter shares, with the Collector's keys and defaults
//! (`exporterhelper`): `timeout`, `retry_on_failure`, `sending_queue`.
//!
//! Exporters embed these structs in their own config (serde `deny_unknown_fields` does not
//! work through `flatten`, so each config names the three fields itself) and hand them to
//! the engine in [`ExporterSettings`]; queueing, retrying and timing out are the engine's.

use std::time::Duration;

use serde::Deserialize;

use crate::duration;

/// What the engine needs to run an exporter's fixed stack: queue -> retry -> timeout.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterSettings {
    /// Limit on one export attempt; zero means no limit.
    pub timeout: Duration,
    pub retry: RetrySettings,
    pub queue: QueueSettings,
}

impl Default for ExporterSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            retry: RetrySettings::default(),
            queue: QueueSettings::default(),
        }
    }
}

/// `retry_on_failure`: exponential backoff for retryable errors.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub enabled: bool,
    #[serde(with = "duration")]
    pub initial_interval: Duration,
    pub randomization_factor: f64,
    pub multiplier: f64,
    #[serde(with = "duration")]
    pub max_interval: Duration,
    /// Give up after this long in total; zero means never give up.
    #[serde(with = "duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

/// What `queue_size` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sizer {
    /// Export requests (batches).
    #[default]
    Requests,
    /// Spans, data points or log records.
    Items,
    /// Protobuf-encoded bytes.
    Bytes,
}

/// `sending_queue`: the bounded queue in front of an exporter.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    pub enabled: bool,
    pub num_consumers: usize,
    pub queue_size: usize,
    pub sizer: Sizer,
    /// When full: wait for room (pushing back to receivers) instead of dropping.
    pub block_on_overflow: bool,
    /// Older spelling of `block_on_overflow`.
    pub blocking: bool,
    /// Accepted for compatibility; Weir answers clients when data is queued.
    pub wait_for_result: bool,
    /// Persistent queues are a later issue; naming a storage extension is refused.
    pub storage: Option<String>,
    /// Exporter-side batching, same meaning as the `batch` processor.
    pub batch: Option<QueueBatchSettings>,
}

impl QueueSettings {
    /// Whether a full queue should push back instead of dropping.
    pub fn blocks(&self) -> bool {
        self.block_on_overflow || self.blocking
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: Sizer::Requests,
            block_on_overflow: false,
            blocking: false,
            wait_for_result: false,
            storage: None,
            batch: None,
        }
    }
}

/// `sending_queue.batch`: `flush_timeout`, `min_size`, `max_size`, `sizer`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueBatchSettings {
    #[serde(with = "duration")]
    pub flush_timeout: Duration,
    pub min_size: usize,
    pub max_size: usize,
    pub sizer: Sizer,
}

impl Default for QueueBatchSettings {
    fn default() -> Self {
        Self {
            flush_timeout: Duration::from_millis(200),
            min_size: 8192,
            max_size: 0,
            sizer: Sizer::Items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_collector() {
        let q: QueueSettings = crate::config::parse(&weir_config::Value::Null).unwrap();
        assert_eq!(q.queue_size, 1000);
        assert_eq!(q.num_consumers, 10);
        let r: RetrySettings = serde_yaml_ng::from_str("initial_interval: 100ms").unwrap();
        assert_eq!(r.initial_interval, Duration::from_millis(100));
        assert_eq!(r.max_interval, Duration::from_secs(30));
    }
}
