//! The `spanmetrics` connector: the exporter of traces pipelines and the receiver of
//! metrics pipelines, turning spans into request, error and duration (RED) metrics (the
//! Collector contrib's `spanmetricsconnector`).
//!
//! Every span is counted in a `calls` sum and its duration recorded in a `duration`
//! histogram, per resource and per set of dimension values (`service.name`, `span.name`,
//! `span.kind`, `status.code` and the configured `dimensions`). Every
//! `metrics_flush_interval` the state is emitted as one metrics batch to the downstream
//! pipelines. The spans themselves go no further: the connector is where they end.
//!
//! Acknowledgement: a traces batch is released as soon as its spans are aggregated, with
//! the outcome `Delivered` (spans of resources without `service.name`, which the Collector
//! skips, are counted as dropped under `missing_service_name`). The metrics the spans
//! became are new data, with no acknowledgement handle of their own: holding the span
//! batches until a cumulative series is exported would keep them in flight forever. So
//! an end-to-end acknowledgement through this connector means "aggregated", as in the
//! Collector, where `ConsumeTraces` returns once the spans are counted. See README.md.

mod aggregator;
pub mod config;
mod histogram;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir_api::telemetry::names::{
    SPANMETRICS_EVICTED_RESOURCES, SPANMETRICS_OVERFLOW_SPANS, SPANMETRICS_SERIES,
};
use weir_api::telemetry::{Counter, Gauge, Telemetry};
use weir_api::{
    Batch, BuildError, ComponentProblem, Connector, ConnectorBuildContext, ConnectorFactory,
    ConnectorOutput, FactoryInfo, Outcome, Signal, Stability, Value,
};

pub use aggregator::{Aggregator, Consumed, Flushed, OVERFLOW_ATTRIBUTE, SCOPE_NAME};
pub use config::SpanMetricsConfig;
pub use histogram::{bucket_index, MAX_SCALE};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "spanmetrics";
/// Drop reason for spans whose resource has no `service.name`.
pub const MISSING_SERVICE_NAME: &str = "missing_service_name";
/// The reason data points it makes are counted under in `weir_items_created_total`.
pub const CREATED_REASON: &str = "span_metrics";

/// Traces in, metrics out.
const PAIRS: [(Signal, Signal); 1] = [(Signal::Traces, Signal::Metrics)];

/// Builds `spanmetrics` connectors.
#[derive(Debug, Default)]
pub struct SpanMetricsConnectorFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ConnectorFactory> {
    Arc::new(SpanMetricsConnectorFactory)
}

impl ConnectorFactory for SpanMetricsConnectorFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[Signal::Traces],
            stability: Stability::Alpha,
            description:
                "Turns spans into calls and duration metrics (RED) per service, span and dimensions.",
        }
    }

    fn pairs(&self) -> &'static [(Signal, Signal)] {
        &PAIRS
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<SpanMetricsConfig>(config)
    }

    fn build(
        &self,
        ctx: ConnectorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Connector>, BuildError> {
        if (ctx.from, ctx.to) != (Signal::Traces, Signal::Metrics) {
            return Err(BuildError(format!(
                "{}: the spanmetrics connector turns traces into metrics, not {} into {}",
                ctx.id, ctx.from, ctx.to
            )));
        }
        let config = weir_api::config::parse_valid::<SpanMetricsConfig>(config)?;
        Ok(Box::new(SpanMetricsConnector::new(
            config,
            &ctx.id.to_string(),
            &ctx.telemetry,
            Instant::now(),
        )))
    }
}

/// Self-metrics of one connector.
struct Counters {
    missing_service_name: Counter,
    overflow: Counter,
    expired: Counter,
    cache_full: Counter,
    created: Counter,
    series: Gauge,
}

/// Aggregates spans and emits metrics every `metrics_flush_interval`.
pub struct SpanMetricsConnector {
    id: String,
    aggregator: Aggregator,
    interval: Duration,
    next_flush: Instant,
    counters: Counters,
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl SpanMetricsConnector {
    /// A connector whose first flush is one interval after `now`.
    pub fn new(config: SpanMetricsConfig, id: &str, telemetry: &Telemetry, now: Instant) -> Self {
        let interval = config.metrics_flush_interval;
        Self {
            counters: Counters {
                missing_service_name: telemetry.dropped(id, Signal::Traces, MISSING_SERVICE_NAME),
                overflow: telemetry.counter_of(&SPANMETRICS_OVERFLOW_SPANS, &[id]),
                expired: telemetry.counter_of(&SPANMETRICS_EVICTED_RESOURCES, &[id, "expired"]),
                cache_full: telemetry
                    .counter_of(&SPANMETRICS_EVICTED_RESOURCES, &[id, "cache_full"]),
                created: telemetry.created(id, Signal::Metrics, CREATED_REASON),
                series: telemetry.gauge_of(&SPANMETRICS_SERIES, &[id]),
            },
            id: id.to_string(),
            aggregator: Aggregator::new(config),
            interval,
            next_flush: now + interval,
        }
    }

    /// Aggregates a batch at `now_unix_nano` and releases it (see the module docs).
    pub fn consume_at(&mut self, batch: Batch, now_unix_nano: u64) -> Consumed {
        let consumed = self.aggregator.consume(&batch, now_unix_nano);
        self.counters.overflow.inc_by(consumed.overflowed);
        self.counters.cache_full.inc_by(consumed.evicted);
        if consumed.no_service_name > 0 {
            self.counters
                .missing_service_name
                .inc_by(consumed.no_service_name);
            batch.record_outcome(Outcome::Dropped);
        }
        if consumed.aggregated > 0 {
            batch.record_outcome(Outcome::Delivered);
        }
        if consumed.evicted > 0 {
            tracing::warn!(connector = %self.id, evicted = consumed.evicted,
                "spanmetrics: resource_metrics_cache_size reached; least recently seen resources forgotten (their cumulative series restart)");
        }
        self.counters.series.set(self.aggregator.series() as i64);
        consumed
    }

    /// Emits the state at `now_unix_nano`.
    pub fn flush_at(&mut self, now_unix_nano: u64, out: &mut ConnectorOutput) {
        let flushed = self.aggregator.flush(now_unix_nano);
        self.counters.expired.inc_by(flushed.expired);
        self.counters.series.set(self.aggregator.series() as i64);
        if let Some(batch) = flushed.batch {
            self.counters.created.inc_by(batch.item_count() as u64);
            out.to_all(batch);
        }
    }

    /// The aggregation state (for tests and diagnostics).
    pub fn aggregator(&self) -> &Aggregator {
        &self.aggregator
    }
}

impl Connector for SpanMetricsConnector {
    fn consume(&mut self, batch: Batch, _out: &mut ConnectorOutput) {
        self.consume_at(batch, unix_nanos());
    }

    fn next_deadline(&self) -> Option<Instant> {
        Some(self.next_flush)
    }

    fn on_deadline(&mut self, now: Instant, out: &mut ConnectorOutput) {
        if now < self.next_flush {
            return;
        }
        self.flush_at(unix_nanos(), out);
        // The next tick on the grid, skipping ticks missed while busy.
        while self.next_flush <= now {
            self.next_flush += self.interval;
        }
    }

    /// At shutdown the state is emitted once more, so spans counted since the last tick
    /// are not lost (the Collector stops its ticker without a last flush).
    fn flush(&mut self, out: &mut ConnectorOutput) {
        self.flush_at(unix_nanos(), out);
    }
}

#[cfg(test)]
mod tests;
