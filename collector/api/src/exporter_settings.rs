//! The settings every exporter shares, with the Collector's keys and defaults
//! (`exporterhelper`): `timeout`, `retry_on_failure`, `sending_queue`.
//!
//! Exporters embed these structs in their own config (serde `deny_unknown_fields` does not
//! work through `flatten`, so each config names the three fields itself) and hand them to
//! the engine in [`ExporterSettings`]; queueing, retrying and timing out are the engine's.
//!
//! The queue's keys are checked as a group, here, so every exporter refuses the same
//! things with the same words: a `storage` that is not an extension id (or is set on a
//! disabled queue), `queue_size: 0` and `num_consumers: 0` on an enabled queue, a
//! `requests` sizer for `batch`, and a batch `max_size` below its `min_size`.
//! Deserializing a [`QueueSettings`] runs these checks, so an exporter's `check` and
//! `build` refuse them without calling anything: `storage` and `batch.sizer` are refused
//! at their own key, the others at `sending_queue` (or
//! `sending_queue.batch`) with the key named in the message, because they depend on
//! other keys of the section. [`QueueSettings::problems`] lists the same problems with
//! exact paths for settings built in code.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use weir_config::{ComponentProblem, Value};

use crate::config::problem;
use crate::duration;

/// What the engine needs to run an exporter's fixed stack: queue -> retry -> timeout.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterSettings {
    /// Limit on one export attempt; zero means no limit.
    pub timeout: Duration,
    pub retry: RetrySettings,
    pub queue: QueueSettings,
}

impl ExporterSettings {
    /// Every problem with the shared settings, with paths relative to the exporter's
    /// section (`sending_queue.queue_size`, ...). For settings an exporter builds in code;
    /// settings read from YAML were already checked while deserializing.
    pub fn problems(&self) -> Vec<ComponentProblem> {
        prefixed("sending_queue", self.queue.problems())
    }
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
///
/// Deserializing checks the section as a group (see the module docs). `remote = "Self"`
/// makes the derived code an inherent `QueueSettings::deserialize`, the unchecked first
/// step of that; deserialize through the `Deserialize` trait, as serde does.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
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
    /// The storage extension (`file_storage/NAME`) that holds a persistent queue: the
    /// backlog goes to disk, survives restarts, and receivers answer once data is
    /// persisted. Validation checks that the extension is configured and enabled.
    #[serde(deserialize_with = "storage_id")]
    pub storage: Option<String>,
    /// Exporter-side batching, same meaning as the `batch` processor.
    pub batch: Option<QueueBatchSettings>,
    /// Weir's own bound on the queue's encoded bytes, whatever `sizer` counts: the
    /// Collector's default (1,000 requests, each as large as a client sends) can hold
    /// gigabytes. The queue is full at whichever limit it reaches first.
    pub max_size_mib: u64,
}

impl QueueSettings {
    /// Whether a full queue should push back instead of dropping.
    pub fn blocks(&self) -> bool {
        self.block_on_overflow || self.blocking
    }

    /// Every problem with the section as a whole, with paths relative to it (`storage`,
    /// `queue_size`, `batch.sizer`, ...). Empty for anything deserialization accepted.
    ///
    /// An exporter whose queue section has another name or shape (such as
    /// `remote_write_queue`) can build a `QueueSettings` from it, without clamping, and
    /// report these under its own key with [`prefixed`].
    pub fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if let Some(storage) = &self.storage {
            if let Err(message) = check_storage_id(storage) {
                problems.push(problem(&["storage"], &message));
            } else if !self.enabled {
                problems.push(problem(&["storage"], STORAGE_DISABLED));
            }
        }
        if self.enabled {
            if self.queue_size == 0 {
                problems.push(problem(&["queue_size"], QUEUE_SIZE_ZERO));
            }
            if self.num_consumers == 0 {
                problems.push(problem(&["num_consumers"], NUM_CONSUMERS_ZERO));
            }
            if self.max_size_mib == 0 {
                problems.push(problem(&["max_size_mib"], MAX_SIZE_MIB_ZERO));
            }
        }
        if let Some(batch) = &self.batch {
            problems.extend(prefixed("batch", batch.problems()));
        }
        problems
    }
}

impl<'de> Deserialize<'de> for QueueSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The inherent `deserialize` that `remote = "Self"` derives: shape only.
        let settings = QueueSettings::deserialize(deserializer)?;
        refuse_problems(settings, QueueSettings::problems)
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
            max_size_mib: DEFAULT_QUEUE_MAX_SIZE_MIB,
        }
    }
}

/// The default byte bound of every exporter queue (`sending_queue.max_size_mib`).
pub const DEFAULT_QUEUE_MAX_SIZE_MIB: u64 = 128;

impl QueueSettings {
    /// The byte bound, in bytes.
    pub fn max_bytes(&self) -> usize {
        usize::try_from(self.max_size_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

/// `sending_queue.batch`: `flush_timeout`, `min_size`, `max_size`, `sizer`.
///
/// Deserializing refuses a `requests` sizer (at `sizer`) and a `max_size` below
/// `min_size` (at the section).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct QueueBatchSettings {
    #[serde(with = "duration")]
    pub flush_timeout: Duration,
    pub min_size: usize,
    /// Zero means no limit.
    pub max_size: usize,
    /// `items` or `bytes`, as in the Collector.
    #[serde(deserialize_with = "batch_sizer")]
    pub sizer: Sizer,
}

impl QueueBatchSettings {
    /// Every problem with the section, with paths relative to it.
    pub fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.sizer == Sizer::Requests {
            problems.push(problem(&["sizer"], BATCH_SIZER_REQUESTS));
        }
        if self.max_size != 0 && self.max_size < self.min_size {
            let message = format!(
                "`max_size` ({}) must be 0 (no limit) or at least `min_size` ({})",
                self.max_size, self.min_size
            );
            problems.push(problem(&["max_size"], message));
        }
        problems
    }
}

impl<'de> Deserialize<'de> for QueueBatchSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The inherent `deserialize` that `remote = "Self"` derives: shape only.
        let settings = QueueBatchSettings::deserialize(deserializer)?;
        refuse_problems(settings, QueueBatchSettings::problems)
    }
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

const STORAGE_DISABLED: &str =
    "a persistent queue needs the queue: remove `storage` or set `enabled: true`";
const QUEUE_SIZE_ZERO: &str = "`queue_size` must be at least 1 while the queue is enabled (a \
     queue that holds nothing drops everything); to send without a queue, set `enabled: false`";
const NUM_CONSUMERS_ZERO: &str = "`num_consumers` must be at least 1 while the queue is \
     enabled (with no consumer nothing is sent); to send without a queue, set `enabled: false`";
/// The advice both zero messages end with, given once when they are reported together.
const MAX_SIZE_MIB_ZERO: &str =
    "must be greater than 0: it is the queue's bound in MiB of encoded data (default 128)";
const DISABLE_HINT: &str = "; to send without a queue, set `enabled: false`";
const BATCH_SIZER_REQUESTS: &str =
    "`requests` cannot size a batch; use `items` (the default) or `bytes`";

/// `problems` with `key` put in front of each path: for reporting a section's problems
/// from the section that holds it (`prefixed("sending_queue", queue.problems())`).
pub fn prefixed(key: &str, problems: Vec<ComponentProblem>) -> Vec<ComponentProblem> {
    problems
        .into_iter()
        .map(|mut p| {
            p.path.insert(0, key.to_string());
            p
        })
        .collect()
}

/// `settings`, or a deserialization error naming every one of its `problems` (the error
/// lands at the section's own path, so each message names its key).
fn refuse_problems<T, E: serde::de::Error>(
    settings: T,
    problems: fn(&T) -> Vec<ComponentProblem>,
) -> Result<T, E> {
    let problems = problems(&settings);
    if problems.is_empty() {
        return Ok(settings);
    }
    let mut hint = false;
    let messages: Vec<String> = problems
        .into_iter()
        .map(|p| match p.message.strip_suffix(DISABLE_HINT) {
            Some(message) => {
                hint = true;
                message.to_string()
            }
            None => p.message,
        })
        .collect();
    let mut message = messages.join("; ");
    if hint {
        message.push_str(DISABLE_HINT);
    }
    Err(E::custom(message))
}

/// `storage`: an extension id, `type` or `type/name`; null is no storage.
fn storage_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => check_storage_id(&id)
            .map(|()| Some(id))
            .map_err(serde::de::Error::custom),
        Some(_) => Err(serde::de::Error::custom(
            "must be a storage extension id such as `file_storage` or `file_storage/queue`",
        )),
    }
}

/// Whether `id` reads as an extension id: `type` or `type/name`, neither part empty.
fn check_storage_id(id: &str) -> Result<(), String> {
    let (type_name, name) = match id.split_once('/') {
        Some((t, n)) => (t, Some(n)),
        None => (id, None),
    };
    let bad_type = type_name.is_empty()
        || !type_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if bad_type || name.is_some_and(str::is_empty) {
        return Err(format!(
            "`{id}` is not an extension id; use `type` or `type/name`, e.g. `file_storage/queue`"
        ));
    }
    Ok(())
}

/// `batch.sizer`: `items` or `bytes`.
fn batch_sizer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Sizer, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.as_str() {
        "items" => Ok(Sizer::Items),
        "bytes" => Ok(Sizer::Bytes),
        "requests" => Err(serde::de::Error::custom(BATCH_SIZER_REQUESTS)),
        other => Err(serde::de::Error::custom(format!(
            "unknown sizer `{other}`; use `items` or `bytes`"
        ))),
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
        assert!(q.problems().is_empty());
        assert!(ExporterSettings::default().problems().is_empty());
    }

    /// An exporter's section, as exporters embed the shared settings.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    #[allow(dead_code)]
    struct Section {
        endpoint: String,
        sending_queue: QueueSettings,
    }

    /// The debug exporter's shape: the queue is optional.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    #[allow(dead_code)]
    struct OptionalQueue {
        sending_queue: Option<QueueSettings>,
    }

    fn section(yaml: &str) -> Result<Section, ComponentProblem> {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        crate::config::parse(&value)
    }

    fn refused(yaml: &str) -> ComponentProblem {
        section(yaml).expect_err("refused")
    }

    fn queue(yaml: &str) -> QueueSettings {
        section(yaml).expect("accepted").sending_queue
    }

    #[test]
    fn storage_takes_an_extension_id_on_an_enabled_queue() {
        assert_eq!(
            queue("sending_queue:\n  storage: file_storage/queue").storage,
            Some("file_storage/queue".to_string())
        );
        assert_eq!(
            queue("sending_queue:\n  storage: file_storage").storage,
            Some("file_storage".to_string())
        );
        // Not an id: refused at its key.
        let p = refused("sending_queue:\n  storage: {}");
        assert_eq!(p.path, ["sending_queue", "storage"]);
        let p = refused("sending_queue:\n  storage: file_storage/");
        assert_eq!(p.path, ["sending_queue", "storage"]);
        assert!(p.message.contains("not an extension id"), "{}", p.message);
        // A disabled queue has no storage to use.
        let p = refused("sending_queue:\n  enabled: false\n  storage: file_storage");
        assert_eq!(p.path, ["sending_queue"]);
        assert!(p.message.contains("set `enabled: true`"), "{}", p.message);
        // Null is no storage.
        assert_eq!(queue("sending_queue:\n  storage:").storage, None);
        // Through `Option`, as the debug exporter holds it.
        let value: Value = serde_yaml_ng::from_str("sending_queue: {storage: 7}").unwrap();
        let p = crate::config::parse::<OptionalQueue>(&value).expect_err("refused");
        assert_eq!(p.path, ["sending_queue", "storage"]);
    }

    #[test]
    fn zero_queue_size_and_consumers_are_errors_on_an_enabled_queue() {
        let p = refused("sending_queue:\n  queue_size: 0");
        assert_eq!(p.path, ["sending_queue"]);
        assert!(
            p.message
                .starts_with("`queue_size` must be at least 1 while the queue is enabled"),
            "{}",
            p.message
        );
        assert!(p.message.contains("set `enabled: false`"), "{}", p.message);

        let p = refused("sending_queue:\n  num_consumers: 0\n  enabled: true");
        assert_eq!(p.path, ["sending_queue"]);
        assert!(
            p.message.starts_with("`num_consumers` must be at least 1"),
            "{}",
            p.message
        );

        // Both at once: one message naming both keys, with the advice once.
        let p = refused("sending_queue: {queue_size: 0, num_consumers: 0}");
        assert!(
            p.message.contains("`queue_size`") && p.message.contains("`num_consumers`"),
            "{}",
            p.message
        );
        assert_eq!(
            p.message.matches("enabled: false").count(),
            1,
            "{}",
            p.message
        );

        // A disabled queue is not used: its sizes do not matter (as in the Collector),
        // wherever `enabled` is written.
        let q = queue("sending_queue:\n  queue_size: 0\n  num_consumers: 0\n  enabled: false");
        assert!(!q.enabled);
        let q = queue("sending_queue: {queue_size: 1, num_consumers: 1}");
        assert_eq!((q.queue_size, q.num_consumers), (1, 1));
    }

    #[test]
    fn batch_sizer_is_items_or_bytes() {
        let q = queue("sending_queue:\n  batch:\n    sizer: bytes\n    min_size: 1000");
        let batch = q.batch.expect("batch");
        assert_eq!(batch.sizer, Sizer::Bytes);
        assert_eq!(batch.min_size, 1000);
        let q = queue("sending_queue: {batch: {sizer: items}}");
        assert_eq!(q.batch.map(|b| b.sizer), Some(Sizer::Items));
        // The default is items.
        let q = queue("sending_queue: {batch: {}}");
        assert_eq!(q.batch.map(|b| b.sizer), Some(Sizer::Items));

        let p = refused("sending_queue:\n  batch:\n    sizer: requests");
        assert_eq!(p.path, ["sending_queue", "batch", "sizer"]);
        assert_eq!(
            p.message,
            "`requests` cannot size a batch; use `items` (the default) or `bytes`"
        );
        let p = refused("sending_queue: {batch: {sizer: spans}}");
        assert_eq!(p.path, ["sending_queue", "batch", "sizer"]);
        assert_eq!(p.message, "unknown sizer `spans`; use `items` or `bytes`");

        // The queue's own sizer keeps all three values.
        let q = queue("sending_queue: {sizer: requests, batch: {sizer: bytes}}");
        assert_eq!(q.sizer, Sizer::Requests);
    }

    #[test]
    fn batch_max_size_below_min_size_is_refused() {
        let p = refused("sending_queue: {batch: {min_size: 10, max_size: 5}}");
        assert_eq!(p.path, ["sending_queue", "batch"]);
        assert_eq!(
            p.message,
            "`max_size` (5) must be 0 (no limit) or at least `min_size` (10)"
        );
        let q = queue("sending_queue: {batch: {min_size: 10, max_size: 0}}");
        assert_eq!(q.batch.map(|b| b.max_size), Some(0));
        let q = queue("sending_queue: {batch: {min_size: 10, max_size: 10}}");
        assert_eq!(q.batch.map(|b| b.max_size), Some(10));
    }

    #[test]
    fn unknown_keys_keep_their_exact_path() {
        let p = refused("sending_queue:\n  queue_sise: 3");
        assert_eq!(p.path, ["sending_queue", "queue_sise"]);
        assert_eq!(p.suggestion.as_deref(), Some("queue_size"));
        let p = refused("sending_queue:\n  batch:\n    min_sise: 3");
        assert_eq!(p.path, ["sending_queue", "batch", "min_sise"]);
    }

    #[test]
    fn problems_of_settings_built_in_code_have_exact_paths() {
        let settings = ExporterSettings {
            queue: QueueSettings {
                queue_size: 0,
                num_consumers: 0,
                storage: Some("file_storage/".into()),
                batch: Some(QueueBatchSettings {
                    sizer: Sizer::Requests,
                    min_size: 4,
                    max_size: 2,
                    ..QueueBatchSettings::default()
                }),
                ..QueueSettings::default()
            },
            ..ExporterSettings::default()
        };
        let paths: Vec<String> = settings
            .problems()
            .iter()
            .map(|p| p.path.join("."))
            .collect();
        assert_eq!(
            paths,
            [
                "sending_queue.storage",
                "sending_queue.queue_size",
                "sending_queue.num_consumers",
                "sending_queue.batch.sizer",
                "sending_queue.batch.max_size",
            ]
        );
        // A disabled queue's sizes are not checked.
        let disabled = QueueSettings {
            enabled: false,
            queue_size: 0,
            num_consumers: 0,
            ..QueueSettings::default()
        };
        assert!(disabled.problems().is_empty());
        // Reported under another section's key.
        let other = prefixed(
            "remote_write_queue",
            QueueSettings {
                num_consumers: 0,
                ..QueueSettings::default()
            }
            .problems(),
        );
        assert_eq!(other[0].path, ["remote_write_queue", "num_consumers"]);
    }
}
