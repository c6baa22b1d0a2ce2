//! The `kafka` receiver: one consumer per signal its pipelines take, in the consumer group
//! `group_id`, on the signal's topic.
//!
//! Each message is decoded and handed to the pipelines; its offset is stored for commit
//! only once the data has an outcome downstream (delivered, dropped on purpose, or failed
//! for good: the acknowledgement handle's release), and only in order: an offset is
//! committed when every message before it in its partition has its outcome too. Up to
//! `max_in_flight` messages per signal wait for their outcome at once. A crash or a
//! `kill -9` therefore replays the messages that had no outcome yet: nothing is lost, and
//! what was replayed may arrive twice.
//!
//! A message that does not decode is logged, counted as a refused request (reason
//! `malformed`) and skipped (its offset committed): one bad message must not stop a
//! partition. When the pipelines have no room, the message is offered again after a
//! pause, so the consumer slows down instead of dropping.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{FuturesOrdered, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::Message as _;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use weir_api::config::{problem, Validate};
use weir_api::{
    BuildContext, ComponentProblem, ConsumeError, Receiver, ReceiverContext, ReceiverOutput,
    RefusalReason, RunningComponent, Signal, StartError, Value,
};

use crate::client::{unknown_keys, ClientSettings, Encoding};
use crate::encoding::decode;

/// The receiver's section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ReceiverConfig {
    #[serde(flatten)]
    pub client: ClientSettings,
    pub group_id: String,
    /// `latest` or `earliest`: where a group without a committed offset starts.
    pub initial_offset: String,
    #[serde(with = "weir_api::duration")]
    pub session_timeout: Duration,
    #[serde(with = "weir_api::duration")]
    pub heartbeat_interval: Duration,
    /// Weir: how long a group waits for its members to rejoin in a rebalance
    /// (librdkafka's `max.poll.interval.ms`; the consumer polls all the time).
    #[serde(with = "weir_api::duration")]
    pub rebalance_timeout: Duration,
    pub group_rebalance_strategy: String,
    pub min_fetch_size: i32,
    pub default_fetch_size: i32,
    pub max_fetch_size: i32,
    #[serde(with = "weir_api::duration")]
    pub max_fetch_wait: Duration,
    pub autocommit: AutoCommit,
    /// Accepted: Weir always marks a message after its data has an outcome.
    pub message_marking: Option<Value>,
    pub header_extraction: HeaderExtraction,
    /// Accepted: the pause after the pipelines refused is fixed (see the module docs).
    pub error_backoff: Option<Value>,
    /// Weir: messages per signal waiting for their outcome at once.
    pub max_in_flight: usize,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            client: ClientSettings::default(),
            group_id: "otel-collector".into(),
            initial_offset: "latest".into(),
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(60),
            group_rebalance_strategy: "range".into(),
            min_fetch_size: 1,
            default_fetch_size: 1_048_576,
            max_fetch_size: 0,
            max_fetch_wait: Duration::from_millis(250),
            autocommit: AutoCommit::default(),
            message_marking: None,
            header_extraction: HeaderExtraction::default(),
            error_backoff: None,
            max_in_flight: 64,
            rest: BTreeMap::new(),
        }
    }
}

const RECEIVER_KEYS: &[&str] = &[
    "group_id",
    "initial_offset",
    "session_timeout",
    "heartbeat_interval",
    "rebalance_timeout",
    "group_rebalance_strategy",
    "min_fetch_size",
    "default_fetch_size",
    "max_fetch_size",
    "max_fetch_wait",
    "autocommit",
    "message_marking",
    "header_extraction",
    "error_backoff",
    "max_in_flight",
];

/// `autocommit`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoCommit {
    pub enable: bool,
    #[serde(with = "weir_api::duration")]
    pub interval: Duration,
}

impl Default for AutoCommit {
    fn default() -> Self {
        Self {
            enable: true,
            interval: Duration::from_secs(1),
        }
    }
}

/// `header_extraction`: refused when enabled.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderExtraction {
    pub extract_headers: bool,
    pub headers: Vec<String>,
}

impl Validate for ReceiverConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = unknown_keys(&self.rest, RECEIVER_KEYS);
        problems.extend(self.client.problems());
        if self.group_id.is_empty() {
            problems.push(problem(&["group_id"], "required"));
        }
        if !matches!(self.initial_offset.as_str(), "latest" | "earliest") {
            problems.push(problem(
                &["initial_offset"],
                format!("`{}`: use latest or earliest", self.initial_offset),
            ));
        }
        if !matches!(
            self.group_rebalance_strategy.as_str(),
            "range" | "roundrobin" | "sticky" | "cooperative-sticky"
        ) {
            problems.push(problem(
                &["group_rebalance_strategy"],
                "use range, roundrobin, sticky or cooperative-sticky",
            ));
        }
        if self.rebalance_timeout < self.session_timeout {
            problems.push(problem(
                &["rebalance_timeout"],
                "must be at least session_timeout",
            ));
        }
        if self.header_extraction.extract_headers {
            problems.push(problem(
                &["header_extraction", "extract_headers"],
                "copying message headers into resource attributes is not supported yet",
            ));
        }
        if self.max_in_flight == 0 {
            problems.push(problem(&["max_in_flight"], "must be at least 1"));
        }
        problems
    }
}

pub struct KafkaReceiver {
    config: ReceiverConfig,
    id: String,
}

impl KafkaReceiver {
    pub fn new(ctx: BuildContext, config: ReceiverConfig) -> Self {
        Self {
            config,
            id: ctx.id.to_string(),
        }
    }

    fn consumer(&self, topic: &str) -> Result<StreamConsumer, String> {
        let config = &self.config;
        let mut client = ClientConfig::new();
        config.client.apply(&mut client);
        let strategy = match config.group_rebalance_strategy.as_str() {
            "sticky" => "cooperative-sticky",
            other => other,
        };
        client
            .set("group.id", &config.group_id)
            .set("auto.offset.reset", &config.initial_offset)
            .set("enable.auto.offset.store", "false")
            .set("enable.auto.commit", config.autocommit.enable.to_string())
            .set(
                "auto.commit.interval.ms",
                config.autocommit.interval.as_millis().max(1).to_string(),
            )
            .set(
                "session.timeout.ms",
                config.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                config.heartbeat_interval.as_millis().to_string(),
            )
            .set(
                "max.poll.interval.ms",
                config.rebalance_timeout.as_millis().to_string(),
            )
            .set("partition.assignment.strategy", strategy)
            .set("fetch.min.bytes", config.min_fetch_size.max(1).to_string())
            .set(
                "fetch.wait.max.ms",
                config.max_fetch_wait.as_millis().to_string(),
            )
            .set("allow.auto.create.topics", "true");
        if config.max_fetch_size > 0 {
            client.set("fetch.max.bytes", config.max_fetch_size.to_string());
        }
        if config.default_fetch_size > 0 {
            client.set(
                "max.partition.fetch.bytes",
                config.default_fetch_size.to_string(),
            );
        }
        let consumer: StreamConsumer = client
            .create()
            .map_err(|e| format!("kafka consumer for `{topic}`: {e}"))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| format!("kafka: subscribing to `{topic}`: {e}"))?;
        Ok(consumer)
    }
}

#[async_trait]
impl Receiver for KafkaReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> Result<RunningComponent, StartError> {
        let output = ctx.output.for_transport("kafka");
        let mut loops = Vec::new();
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            if !output.accepts(signal) {
                continue;
            }
            let topic = self.config.client.topic(signal);
            let consumer = self
                .consumer(&topic)
                .map_err(|e| StartError(format!("receivers.{}: {e}", self.id)))?;
            tracing::info!(receiver = %self.id, %topic, group = %self.config.group_id, "kafka: consuming");
            loops.push(consume(Consuming {
                consumer,
                signal,
                encoding: self.config.client.encoding(signal),
                topic,
                output: output.clone(),
                max_in_flight: self.config.max_in_flight,
                shutdown: ctx.shutdown.clone(),
                id: self.id.clone(),
                commit_each: !self.config.autocommit.enable,
            }));
        }
        Ok(Box::pin(async move {
            futures_util::future::join_all(loops).await;
        }))
    }
}

struct Consuming {
    consumer: StreamConsumer,
    signal: Signal,
    encoding: Encoding,
    topic: String,
    output: ReceiverOutput,
    max_in_flight: usize,
    shutdown: CancellationToken,
    id: String,
    /// With `autocommit.enable: false`, each stored offset is committed at once.
    commit_each: bool,
}

/// How long a refused message waits before it is offered again.
const NO_ROOM_PAUSE: Duration = Duration::from_millis(200);

/// How long shutdown waits for in-flight messages to get their outcome.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// A message waiting for its outcome: resolves to its partition, offset, and whether
/// its data got an outcome (false: shutdown came first; it must be read again).
type Waiting = Pin<Box<dyn Future<Output = (i32, i64, bool)> + Send>>;

async fn consume(job: Consuming) {
    let mut waiting: FuturesOrdered<Waiting> = FuturesOrdered::new();
    // Partitions where a message had no outcome: nothing after it may be committed.
    let mut stalled: Vec<i32> = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = job.shutdown.cancelled() => break,
            Some(done) = waiting.next(), if !waiting.is_empty() => {
                store(&job, done, &mut stalled);
            }
            received = job.consumer.recv(), if waiting.len() < job.max_in_flight => {
                let message = match received {
                    Ok(message) => message,
                    Err(err) => {
                        tracing::warn!(receiver = %job.id, topic = %job.topic, error = %err, "kafka: consumer error");
                        tokio::time::sleep(NO_ROOM_PAUSE).await;
                        continue;
                    }
                };
                let (partition, offset) = (message.partition(), message.offset());
                let value = message.payload().unwrap_or_default();
                match decode(job.signal, job.encoding, value) {
                    Ok(batch) => {
                        drop(message);
                        let output = job.output.clone();
                        let shutdown = job.shutdown.clone();
                        waiting.push_back(Box::pin(async move {
                            let delivered = deliver(&output, batch, &shutdown).await;
                            (partition, offset, delivered)
                        }));
                    }
                    Err(err) => {
                        tracing::warn!(receiver = %job.id, topic = %job.topic, partition, offset,
                            error = %err, "kafka: a message that does not decode as OTLP is skipped");
                        job.output.refuse_request(RefusalReason::Malformed);
                        drop(message);
                        waiting.push_back(Box::pin(async move { (partition, offset, true) }));
                    }
                }
            }
        }
    }
    // Shutdown: give what is in flight a bounded time to get its outcome, then commit.
    let drain = async {
        while let Some(done) = waiting.next().await {
            store(&job, done, &mut stalled);
        }
    };
    if tokio::time::timeout(DRAIN_LIMIT, drain).await.is_err() {
        tracing::warn!(receiver = %job.id, topic = %job.topic,
            "kafka: messages still without an outcome at shutdown are not committed; they will be read again");
    }
    if let Err(err) = job.consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(receiver = %job.id, error = %err, "kafka: final commit");
    }
}

/// Hands `batch` to the pipelines and waits for its outcome; when they have no room,
/// offers it again after a pause. False when shutdown came first (or the pipelines are
/// shutting down): the message must be read again.
async fn deliver(
    output: &ReceiverOutput,
    batch: weir_api::Batch,
    shutdown: &CancellationToken,
) -> bool {
    loop {
        match output.send_acknowledged(batch.clone()).await {
            Ok(_) => return true,
            Err(ConsumeError::NoRoom { retry_after }) => {
                let pause = retry_after.clamp(NO_ROOM_PAUSE, Duration::from_secs(5));
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "kafka: the pipelines did not take a message; it will be read again");
                return false;
            }
        }
    }
}

/// Stores a message's offset for commit, unless an earlier message of its partition had
/// no outcome.
fn store(
    job: &Consuming,
    (partition, offset, delivered): (i32, i64, bool),
    stalled: &mut Vec<i32>,
) {
    if !delivered || stalled.contains(&partition) {
        if !stalled.contains(&partition) {
            stalled.push(partition);
        }
        return;
    }
    if let Err(err) = job.consumer.store_offset(&job.topic, partition, offset) {
        // The partition moved to another member in a rebalance: it reads from the last
        // commit, so this message may be read twice, never lost.
        tracing::debug!(receiver = %job.id, partition, offset, error = %err, "kafka: offset not stored");
        return;
    }
    if job.commit_each {
        if let Err(err) = job.consumer.commit_consumer_state(CommitMode::Async) {
            tracing::debug!(receiver = %job.id, error = %err, "kafka: commit");
        }
    }
}
