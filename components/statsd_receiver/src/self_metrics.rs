//! The receiver's own metrics, fetched once at start so the hot path only does atomic
//! additions (and those once per datagram, not per line).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use weir_api::telemetry::names::{
    STATSD_INVALID_LINES, STATSD_KERNEL_DROPS, STATSD_LINES, STATSD_SERIES,
};
use weir_api::telemetry::Telemetry;
use weir_api::Signal;

use crate::reason::Reason;

#[derive(Clone, Debug)]
pub struct SelfMetrics {
    /// `weir_statsd_receiver_invalid_lines{receiver, reason}`, indexed by [`Reason::index`].
    pub invalid_lines: Vec<Counter>,
    /// `weir_statsd_receiver_lines{receiver}`: metric lines aggregated.
    pub lines: Counter,
    /// `weir_statsd_receiver_kernel_drops{receiver}`: datagrams the kernel dropped
    /// because a socket's receive buffer was full.
    pub kernel_drops: Counter,
    /// `weir_statsd_receiver_series{receiver}`: series in the last flushed interval.
    pub series: Gauge,
    /// DogStatsD events and service checks with no logs pipeline to take them.
    pub events_without_pipeline: Counter,
    /// Events beyond the per-interval buffer.
    pub events_over_limit: Counter,
    /// Observations of a type whose observer is `disabled`.
    pub observations_disabled: Counter,
}

impl SelfMetrics {
    pub fn new(telemetry: &Telemetry, receiver: &str) -> Self {
        let invalid_lines = Reason::ALL
            .iter()
            .map(|reason| telemetry.counter_of(&STATSD_INVALID_LINES, &[receiver, reason.as_str()]))
            .collect();
        let labels = [receiver];
        Self {
            invalid_lines,
            lines: telemetry.counter_of(&STATSD_LINES, &labels),
            kernel_drops: telemetry.counter_of(&STATSD_KERNEL_DROPS, &labels),
            series: telemetry.gauge_of(&STATSD_SERIES, &labels),
            events_without_pipeline: telemetry.dropped(receiver, Signal::Logs, "no_logs_pipeline"),
            events_over_limit: telemetry.dropped(receiver, Signal::Logs, "event_buffer_full"),
            observations_disabled: telemetry.dropped(
                receiver,
                Signal::Metrics,
                "observer_disabled",
            ),
        }
    }

    pub fn invalid(&self, reason: Reason) -> &Counter {
        &self.invalid_lines[reason.index()]
    }
}
