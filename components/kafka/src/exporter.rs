//! The `kafka` exporter: each batch becomes one or more messages on its signal's topic,
//! produced through one librdkafka producer shared by every signal.
//!
//! `prepare` encodes the messages once; a retry produces only the messages the broker
//! has not acknowledged yet. A message counts as sent when the broker acknowledged it
//! with the configured `producer.required_acks`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use weir_api::config::{problem, Validate};
use weir_api::{
    Batch, BuildContext, ComponentProblem, ExportError, ExportRequest, Exporter, QueueSettings,
    RetrySettings, Signal, Value,
};

use crate::client::{unknown_keys, ClientSettings};
use crate::messages::{messages, Message};

/// The exporter's section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ExporterConfig {
    #[serde(flatten)]
    pub client: ClientSettings,
    #[serde(with = "weir_api::duration")]
    pub timeout: Duration,
    pub producer: Producer,
    pub partition_traces_by_id: bool,
    pub partition_metrics_by_resource_attributes: bool,
    pub partition_logs_by_resource_attributes: bool,
    /// Refused: a topic per attribute value is not implemented.
    pub topic_from_attribute: String,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        Self {
            client: ClientSettings::default(),
            timeout: Duration::from_secs(5),
            producer: Producer::default(),
            partition_traces_by_id: false,
            partition_metrics_by_resource_attributes: false,
            partition_logs_by_resource_attributes: false,
            topic_from_attribute: String::new(),
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
            rest: BTreeMap::new(),
        }
    }
}

const EXPORTER_KEYS: &[&str] = &[
    "timeout",
    "producer",
    "partition_traces_by_id",
    "partition_metrics_by_resource_attributes",
    "partition_logs_by_resource_attributes",
    "topic_from_attribute",
    "retry_on_failure",
    "sending_queue",
];

/// `producer`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Producer {
    pub max_message_bytes: usize,
    /// `0` (none), `1` (the leader), `-1` (every in-sync replica).
    pub required_acks: i32,
    pub compression: String,
    pub compression_params: Option<CompressionParams>,
    pub flush_max_messages: usize,
    pub allow_auto_topic_creation: bool,
}

impl Default for Producer {
    fn default() -> Self {
        Self {
            max_message_bytes: 1_000_000,
            required_acks: 1,
            compression: "none".into(),
            compression_params: None,
            flush_max_messages: 10_000,
            allow_auto_topic_creation: true,
        }
    }
}

/// `producer.compression_params`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    pub level: Option<i32>,
}

impl Validate for ExporterConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = unknown_keys(&self.rest, EXPORTER_KEYS);
        problems.extend(self.client.problems());
        if !matches!(self.producer.required_acks, -1..=1) {
            problems.push(problem(
                &["producer", "required_acks"],
                "use 0 (no answer), 1 (the leader) or -1 (every in-sync replica)",
            ));
        }
        if !matches!(
            self.producer.compression.as_str(),
            "none" | "gzip" | "snappy" | "lz4" | "zstd"
        ) {
            problems.push(problem(
                &["producer", "compression"],
                format!(
                    "unknown compression `{}`; use none, gzip, snappy, lz4 or zstd",
                    self.producer.compression
                ),
            ));
        }
        if !self.topic_from_attribute.is_empty() {
            problems.push(problem(
                &["topic_from_attribute"],
                "a topic per attribute value is not supported; route with the routing connector \
                 to several kafka exporters, each with its own topic",
            ));
        }
        problems.extend(weir_api::exporter_settings::prefixed(
            "sending_queue",
            self.sending_queue.problems(),
        ));
        problems
    }
}

pub struct KafkaExporter {
    producer: FutureProducer,
    config: ExporterConfig,
    exporter_id: String,
}

impl KafkaExporter {
    pub fn new(ctx: &BuildContext, config: ExporterConfig) -> Result<Self, String> {
        let mut client = ClientConfig::new();
        config.client.apply(&mut client);
        let producer = &config.producer;
        client
            .set(
                "message.max.bytes",
                producer.max_message_bytes.max(1000).to_string(),
            )
            .set("acks", producer.required_acks.to_string())
            .set("compression.type", &producer.compression)
            .set(
                "message.timeout.ms",
                config.timeout.as_millis().max(1).to_string(),
            )
            .set(
                "batch.num.messages",
                producer.flush_max_messages.max(1).to_string(),
            )
            .set("linger.ms", "5")
            .set(
                "allow.auto.create.topics",
                producer.allow_auto_topic_creation.to_string(),
            );
        if let Some(level) = producer.compression_params.as_ref().and_then(|p| p.level) {
            client.set("compression.level", level.to_string());
        }
        let producer = client
            .create()
            .map_err(|e| format!("kafka producer: {e}"))?;
        Ok(Self {
            producer,
            config,
            exporter_id: ctx.id.to_string(),
        })
    }

    fn partitioned(&self, signal: Signal) -> bool {
        match signal {
            Signal::Traces => self.config.partition_traces_by_id,
            Signal::Metrics => self.config.partition_metrics_by_resource_attributes,
            Signal::Logs => self.config.partition_logs_by_resource_attributes,
        }
    }
}

#[async_trait]
impl Exporter for KafkaExporter {
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        let signal = batch.signal();
        let items = batch.item_count();
        let encoded_len = batch.encoded_len();
        let cut = messages(
            batch,
            self.config.client.encoding(signal),
            self.partitioned(signal),
            self.config.producer.max_message_bytes,
        );
        if cut.too_large > 0 {
            tracing::warn!(exporter = %self.exporter_id, items = cut.too_large,
                max_message_bytes = self.config.producer.max_message_bytes,
                "kafka: items larger than producer.max_message_bytes on their own are not sent");
        }
        Ok(Box::new(KafkaRequest {
            producer: self.producer.clone(),
            topic: self.config.client.topic(signal),
            pending: cut.messages,
            too_large: cut.too_large,
            items,
            encoded_len,
            timeout: self.config.timeout,
        }))
    }

    async fn shutdown(&self) {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            rdkafka::producer::Producer::flush(&producer, Duration::from_secs(5))
        })
        .await;
        if let Ok(Err(err)) = flushed {
            tracing::warn!(exporter = %self.exporter_id, error = %err, "kafka: flush at shutdown");
        }
    }
}

struct KafkaRequest {
    producer: FutureProducer,
    topic: String,
    /// Messages the broker has not acknowledged yet.
    pending: Vec<Message>,
    /// Items refused for good in `prepare`.
    too_large: usize,
    items: usize,
    encoded_len: usize,
    timeout: Duration,
}

/// Whether a produce error will fail the same way again.
fn is_permanent(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::InvalidTopic
        )
    )
}

#[async_trait]
impl ExportRequest for KafkaRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let producer = &self.producer;
        let topic = &self.topic;
        let timeout = self.timeout;
        let results = join_all(self.pending.iter().map(|message| {
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).payload(&message.value);
            if let Some(key) = &message.key {
                record = record.key(key.as_slice());
            }
            producer.send(record, timeout)
        }))
        .await;
        let mut retryable: Option<String> = None;
        let mut rejected = self.too_large;
        let mut rejection: Option<String> = None;
        let mut still = Vec::new();
        for (message, result) in std::mem::take(&mut self.pending).into_iter().zip(results) {
            match result {
                Ok(_) => {}
                Err((err, _)) if is_permanent(&err) => {
                    rejected += message.items;
                    rejection.get_or_insert_with(|| format!("kafka: {err}"));
                }
                Err((err, _)) => {
                    retryable.get_or_insert_with(|| format!("kafka: {err}"));
                    still.push(message);
                }
            }
        }
        self.pending = still;
        self.too_large = 0;
        if let Some(message) = retryable {
            // Rejections so far are remembered for the final answer.
            self.too_large = rejected;
            return Err(ExportError::retryable(message));
        }
        match rejected {
            0 => Ok(()),
            rejected => Err(ExportError::Permanent {
                message: rejection
                    .unwrap_or_else(|| "kafka: larger than producer.max_message_bytes".into()),
                rejected: Some(rejected),
            }),
        }
    }
}
