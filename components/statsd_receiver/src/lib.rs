//! The `statsd` receiver: StatsD and DogStatsD over UDP, TCP or a unix datagram socket,
//! aggregated per interval into OTLP metrics (and DogStatsD events and service checks
//! into log records).
//!
//! Why it is built this way:
//! - StatsD clients fire and forget, so the receiver must read faster than they send or
//!   the kernel drops datagrams silently. Readers are threads doing batched `recvmmsg`
//!   on SO_REUSEPORT sockets ([`readers`], [`socket`]); the kernel's drops are reported.
//! - Aggregation is exact and cheap: a line whose identity (its bytes without the value)
//!   a reader has already seen in the interval is applied after parsing only its value;
//!   the first line of an identity is parsed in full without allocating
//!   ([`line`](mod@line)) and keyed by its series ([`key`]). Readers aggregate into their
//!   own maps ([`aggregator`], [`series`]), which the flusher swaps out, merges by series
//!   and gives back emptied once per interval ([`flush`]).
//! - Bad input is counted by reason ([`reason`]) and logged at a limited rate.
//!
//! Data path: socket -> reader -> `Aggregator::ingest` -> (known identity: value only |
//! new identity: `parse_line`, series key) -> `Series::apply` ... interval end ->
//! `Shards::drain` -> `Flusher::flush` -> `Shards::recycle` -> `ReceiverOutput::send`.

use std::sync::Arc;

use weir_api::telemetry::Telemetry;
use weir_api::{
    BuildContext, BuildError, ComponentProblem, FactoryInfo, Receiver, ReceiverFactory, Signal,
    Stability, Value,
};

pub mod aggregator;
pub mod config;
pub mod events;
pub mod exphist;
pub mod flush;
pub mod key;
pub mod line;
pub mod readers;
pub mod reason;
pub mod receiver;
pub mod self_metrics;
pub mod series;
pub mod socket;

pub use config::Config;
pub use receiver::{StatsdReceiver, READ_TIMEOUT};

/// The factory of the `statsd` receiver.
pub fn factory() -> Arc<dyn ReceiverFactory> {
    Arc::new(StatsdFactory)
}

#[derive(Debug)]
pub struct StatsdFactory;

impl ReceiverFactory for StatsdFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "statsd",
            aliases: &[],
            signals: &[Signal::Metrics, Signal::Logs],
            stability: Stability::Alpha,
            description: "StatsD and DogStatsD over UDP, TCP or unixgram, aggregated into OTLP metrics (events as logs).",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<Config>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Receiver>, BuildError> {
        let parsed: Config = weir_api::config::parse_valid(config)?;
        Ok(Box::new(StatsdReceiver::new(
            ctx.id.to_string(),
            parsed,
            ctx.telemetry,
        )))
    }
}

/// Builds a receiver straight from a config (for tests and benchmarks).
pub fn receiver(id: &str, config: Config, telemetry: Telemetry) -> StatsdReceiver {
    StatsdReceiver::new(id.to_string(), config, telemetry)
}
