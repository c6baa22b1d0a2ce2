//! The `heartbeat` connector: notices sources that stop sending (Weir's own; the
//! Collector has no equivalent).
//!
//! A push pipeline cannot tell a service that died from a healthy, quiet one: nothing
//! arrives either way. This connector is the exporter of any pipelines (traces, metrics,
//! logs) and the receiver of logs pipelines. It identifies each resource's source by the
//! configured resource attributes (`service.name`, `service.instance.id` by default) and
//! remembers when it last sent. Every `check_interval` it marks sources that have sent
//! nothing for `expected_interval` as silent: `weir_source_silent{source}` turns 1 and
//! one log record (`weir.heartbeat.state=silent`) goes downstream. When such a source
//! sends again, one `returned` record follows. A source whose last data carries
//! `weir.heartbeat.shutdown=true` ended on purpose: it is forgotten, with no record.
//!
//! Cardinality is bounded: at most `max_sources` sources are tracked (data from more is
//! counted, not tracked), and a source silent for `forget_after` is forgotten, its
//! series removed.
//!
//! One instance is built per (id, signal pair); the instances of one id share one table
//! (kept by the factory), so a service sending traces and metrics is one source, and
//! goes silent once. The data itself ends here: batches are released as delivered, as
//! the `spanmetrics` connector does. See README.md.

pub mod config;
mod tracker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use weir_api::telemetry::Counter;
use weir_api::{
    Batch, BuildError, ComponentProblem, Connector, ConnectorBuildContext, ConnectorFactory,
    ConnectorOutput, FactoryInfo, Outcome, Signal, Stability, Value,
};

pub use config::HeartbeatConfig;
pub use tracker::{
    label, Consumed, Tracker, RETURNED, SCOPE_NAME, SHUTDOWN_ATTRIBUTE, SILENT,
    SILENT_FOR_ATTRIBUTE, SOURCE_ATTRIBUTE, STATE_ATTRIBUTE,
};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "heartbeat";
/// The reason its records are counted under in `weir_items_created_total`.
pub const CREATED_REASON: &str = "heartbeat";

/// Any signal in, logs out.
const PAIRS: [(Signal, Signal); 3] = [
    (Signal::Traces, Signal::Logs),
    (Signal::Metrics, Signal::Logs),
    (Signal::Logs, Signal::Logs),
];

type Shared = Arc<Mutex<Tracker>>;

/// Builds `heartbeat` connectors; holds each id's table so its instances share it.
#[derive(Default)]
pub struct HeartbeatFactory {
    tables: Mutex<HashMap<String, Shared>>,
}

impl std::fmt::Debug for HeartbeatFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeartbeatFactory")
    }
}

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ConnectorFactory> {
    Arc::new(HeartbeatFactory::default())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The table stays consistent between statements; a panic elsewhere cannot leave it
    // half-updated in a way that matters, so a poisoned lock is used as is.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ConnectorFactory for HeartbeatFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Alpha,
            description:
                "Notices sources that stop sending: silent/returned log records and weir_source_silent.",
        }
    }

    fn pairs(&self) -> &'static [(Signal, Signal)] {
        &PAIRS
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<HeartbeatConfig>(config)
    }

    fn build(
        &self,
        ctx: ConnectorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Connector>, BuildError> {
        if ctx.to != Signal::Logs {
            return Err(BuildError(format!(
                "{}: the heartbeat connector emits logs, not {}",
                ctx.id, ctx.to
            )));
        }
        let config = weir_api::config::parse_valid::<HeartbeatConfig>(config)?;
        let id = ctx.id.to_string();
        let table = lock(&self.tables)
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Tracker::new(
                    config,
                    &id,
                    &ctx.telemetry,
                    Instant::now(),
                )))
            })
            .clone();
        Ok(Box::new(HeartbeatConnector {
            table,
            created: ctx.telemetry.created(&id, Signal::Logs, CREATED_REASON),
        }))
    }
}

/// One instance (one signal pair) of a `heartbeat` connector id.
pub struct HeartbeatConnector {
    table: Shared,
    created: Counter,
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl HeartbeatConnector {
    /// An instance with a table of its own (for tests and embedding).
    pub fn new(tracker: Tracker, telemetry: &weir_api::telemetry::Telemetry, id: &str) -> Self {
        Self {
            table: Arc::new(Mutex::new(tracker)),
            created: telemetry.created(id, Signal::Logs, CREATED_REASON),
        }
    }

    fn emit(&self, records: Option<Batch>, out: &mut ConnectorOutput) {
        if let Some(batch) = records {
            self.created.inc_by(batch.item_count() as u64);
            out.to_all(batch);
        }
    }
}

impl Connector for HeartbeatConnector {
    fn consume(&mut self, batch: Batch, out: &mut ConnectorOutput) {
        let (_, records) = lock(&self.table).consume(&batch, Instant::now(), unix_nanos());
        // The data ends here: noted, so delivered (see the module docs).
        if !batch.is_empty() {
            batch.record_outcome(Outcome::Delivered);
        }
        self.emit(records, out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        Some(lock(&self.table).next_check())
    }

    fn on_deadline(&mut self, now: Instant, out: &mut ConnectorOutput) {
        let records = lock(&self.table).on_deadline(now, unix_nanos());
        self.emit(records, out);
    }
}

#[cfg(test)]
mod tests;
