//! Typed bundles of the handles the engine and every receiver, exporter and processor
//! share: the Collector's receiver, exporter and processor metrics, drops and refused
//! requests.

use std::sync::Arc;

use super::names::{
    EXPORTER_ENQUEUE_FAILED, EXPORTER_QUEUE_CAPACITY, EXPORTER_QUEUE_SIZE, EXPORTER_RETRIES,
    EXPORTER_SEND_FAILED, EXPORTER_SENT, IN_FLIGHT_BYTES, IN_FLIGHT_ITEMS, ITEMS_CREATED,
    ITEMS_DROPPED, PROCESSOR_HELD_ITEMS, PROCESSOR_INCOMING_ITEMS, PROCESSOR_OUTGOING_ITEMS,
    RECEIVER_ACCEPTED, RECEIVER_REFUSED, RECEIVER_REFUSED_REQUESTS,
};
use super::{Counter, Gauge, Telemetry};
use crate::{RefusalReason, Signal};

impl Telemetry {
    /// Counters for one receiver and transport (`grpc`, `http`, `udp`, ...).
    pub fn receiver(&self, receiver: &str, transport: &str) -> ReceiverCounters {
        let per_signal = |signal: Signal| {
            let l = [receiver, transport];
            let with_signal = [receiver, transport, signal.as_str()];
            SignalCounters {
                accepted: self.counter_of(RECEIVER_ACCEPTED.get(signal), &l),
                refused: self.counter_of(RECEIVER_REFUSED.get(signal), &l),
                in_flight: crate::ack::InFlight {
                    items: self.gauge_of(&IN_FLIGHT_ITEMS, &with_signal),
                    bytes: self.gauge_of(&IN_FLIGHT_BYTES, &with_signal),
                },
            }
        };
        ReceiverCounters {
            traces: per_signal(Signal::Traces),
            metrics: per_signal(Signal::Metrics),
            logs: per_signal(Signal::Logs),
            refused_requests: Arc::new(
                RefusalReason::ALL.map(|reason| self.refused_requests(receiver, transport, reason)),
            ),
        }
    }

    /// Counters and gauges for one exporter and signal.
    pub fn exporter(&self, exporter: &str, signal: Signal) -> ExporterCounters {
        let l = [exporter];
        let q = [exporter, signal.as_str()];
        ExporterCounters {
            sent: self.counter_of(EXPORTER_SENT.get(signal), &l),
            send_failed: self.counter_of(EXPORTER_SEND_FAILED.get(signal), &l),
            enqueue_failed: self.counter_of(EXPORTER_ENQUEUE_FAILED.get(signal), &l),
            retries: self.counter_of(&EXPORTER_RETRIES, &q),
            queue_size: self.gauge_of(&EXPORTER_QUEUE_SIZE, &q),
            queue_capacity: self.gauge_of(&EXPORTER_QUEUE_CAPACITY, &q),
        }
    }

    /// Counters for one processor in one pipeline.
    pub fn processor(&self, processor: &str, pipeline: &str, signal: Signal) -> ProcessorCounters {
        let l = [processor, pipeline, signal.as_str()];
        ProcessorCounters {
            incoming: self.counter_of(&PROCESSOR_INCOMING_ITEMS, &l),
            outgoing: self.counter_of(&PROCESSOR_OUTGOING_ITEMS, &l),
            held: self.gauge_of(&PROCESSOR_HELD_ITEMS, &l),
        }
    }

    /// Items a component made itself under `reason` (e.g. error summaries).
    pub fn created(&self, component: &str, signal: Signal, reason: &str) -> Counter {
        self.counter_of(&ITEMS_CREATED, &[component, signal.as_str(), reason])
    }

    /// Items Weir did not deliver, by component and reason. Every drop is counted here or
    /// in one of the Collector-named failure counters.
    pub fn dropped(&self, component: &str, signal: Signal, reason: &str) -> Counter {
        self.counter_of(&ITEMS_DROPPED, &[component, signal.as_str(), reason])
    }

    /// Items a component in shadow mode would have dropped under `reason` and let through
    /// instead (`weir_shadow_would_drop_total`). Use the reason the enforcing mode counts
    /// in [`Telemetry::dropped`], so the two series compare one to one.
    pub fn shadow(&self, component: &str, signal: Signal, reason: &str) -> Counter {
        self.counter_of(
            &super::names::SHADOW_WOULD_DROP,
            &[component, signal.as_str(), reason],
        )
    }

    /// Requests a receiver refused before decoding any item (malformed, too large, wrong
    /// content type), by reason.
    pub fn refused_requests(
        &self,
        receiver: &str,
        transport: &str,
        reason: RefusalReason,
    ) -> Counter {
        self.counter_of(
            &RECEIVER_REFUSED_REQUESTS,
            &[receiver, transport, reason.as_str()],
        )
    }
}

/// Accepted/refused item counters of one signal.
#[derive(Clone, Debug)]
pub struct SignalCounters {
    pub accepted: Counter,
    pub refused: Counter,
    /// Data admitted through this receiver and transport, not yet released.
    pub in_flight: crate::ack::InFlight,
}

/// A receiver's counters for one transport, fetched once.
#[derive(Clone, Debug)]
pub struct ReceiverCounters {
    traces: SignalCounters,
    metrics: SignalCounters,
    logs: SignalCounters,
    /// One counter per [`RefusalReason`], by [`RefusalReason::index`]: counting a
    /// refusal takes no lock and allocates nothing.
    refused_requests: Arc<[Counter; RefusalReason::COUNT]>,
}

impl ReceiverCounters {
    pub fn signal(&self, signal: Signal) -> &SignalCounters {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// Counts one request refused for `reason`: an index into counters registered when
    /// these were built, and an atomic add.
    pub fn refuse_request(&self, reason: RefusalReason) {
        self.refused_requests[reason.index()].inc();
    }
}

/// An exporter's counters for one signal.
#[derive(Clone, Debug)]
pub struct ExporterCounters {
    pub sent: Counter,
    pub send_failed: Counter,
    pub enqueue_failed: Counter,
    pub retries: Counter,
    pub queue_size: Gauge,
    pub queue_capacity: Gauge,
}

/// A processor's item counters in one pipeline.
#[derive(Clone, Debug)]
pub struct ProcessorCounters {
    pub incoming: Counter,
    pub outgoing: Counter,
    pub held: Gauge,
}
