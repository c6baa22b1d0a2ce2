//! Weir's self-metrics, with the OpenTelemetry Collector's names so existing dashboards
//! and alerts keep working: `otelcol_receiver_accepted_spans`,
//! `otelcol_exporter_send_failed_metric_points`, `otelcol_exporter_queue_size`, ...
//! (served in OpenMetrics text, so counters carry the `_total` suffix, as the Collector's
//! Prometheus endpoint does since it moved to the OpenTelemetry Go SDK).
//!
//! Handles (counters, gauges) are fetched once when a component is built and then
//! updated with a single atomic operation; no lock is taken on the hot path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::{RefusalReason, Signal};

/// Label pairs, in order.
pub type Labels = Vec<(String, String)>;

type CounterFamily = Family<Labels, Counter>;
type GaugeFamily = Family<Labels, Gauge>;

/// The registry of self-metrics. Cloning shares it.
#[derive(Clone, Default)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    registry: Mutex<Registry>,
    counters: Mutex<HashMap<String, CounterFamily>>,
    gauges: Mutex<HashMap<String, GaugeFamily>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the registry half-written in a way
    // that matters for metrics, so a poisoned lock is used as is.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Telemetry {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter named `name` (without `_total`) with these labels, registering the
    /// family on first use.
    pub fn counter(&self, name: &str, help: &str, label_pairs: &[(&str, &str)]) -> Counter {
        let family = {
            let mut counters = lock(&self.inner.counters);
            counters
                .entry(name.to_string())
                .or_insert_with(|| {
                    let family = CounterFamily::default();
                    lock(&self.inner.registry).register(name, help, family.clone());
                    family
                })
                .clone()
        };
        let counter = family.get_or_create(&labels(label_pairs)).clone();
        counter
    }

    /// A gauge named `name` with these labels, registering the family on first use.
    pub fn gauge(&self, name: &str, help: &str, label_pairs: &[(&str, &str)]) -> Gauge {
        let family = {
            let mut gauges = lock(&self.inner.gauges);
            gauges
                .entry(name.to_string())
                .or_insert_with(|| {
                    let family = GaugeFamily::default();
                    lock(&self.inner.registry).register(name, help, family.clone());
                    family
                })
                .clone()
        };
        let gauge = family.get_or_create(&labels(label_pairs)).clone();
        gauge
    }

    /// The OpenMetrics text of every metric, for the `/metrics` endpoint.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = lock(&self.inner.registry);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }

    /// Counters for one receiver and transport (`grpc`, `http`, `udp`, ...).
    pub fn receiver(&self, receiver: &str, transport: &str) -> ReceiverCounters {
        let per_signal = |signal: Signal| {
            let l = [("receiver", receiver), ("transport", transport)];
            SignalCounters {
                accepted: self.counter(
                    &format!("otelcol_receiver_accepted_{}", signal.item_name()),
                    &format!(
                        "Number of {} successfully pushed into the pipeline.",
                        signal.item_name()
                    ),
                    &l,
                ),
                refused: self.counter(
                    &format!("otelcol_receiver_refused_{}", signal.item_name()),
                    &format!(
                        "Number of {} that could not be pushed into the pipeline.",
                        signal.item_name()
                    ),
                    &l,
                ),
                in_flight: {
                    let l = [
                        ("receiver", receiver),
                        ("transport", transport),
                        ("otel_signal", signal.as_str()),
                    ];
                    crate::ack::InFlight {
                        items: self.gauge(
                            "weir_in_flight_items",
                            "Items admitted and not yet released (delivered, dropped or failed)",
                            &l,
                        ),
                        bytes: self.gauge(
                            "weir_in_flight_bytes",
                            "Encoded bytes admitted and not yet released",
                            &l,
                        ),
                    }
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
        let items = signal.item_name();
        let l = [("exporter", exporter)];
        let q = [("exporter", exporter), ("data_type", signal.as_str())];
        ExporterCounters {
            sent: self.counter(
                &format!("otelcol_exporter_sent_{items}"),
                &format!("Number of {items} successfully sent to destination"),
                &l,
            ),
            send_failed: self.counter(
                &format!("otelcol_exporter_send_failed_{items}"),
                &format!("Number of {items} in failed attempts to send to destination"),
                &l,
            ),
            enqueue_failed: self.counter(
                &format!("otelcol_exporter_enqueue_failed_{items}"),
                &format!("Number of {items} failed to be added to the sending queue"),
                &l,
            ),
            retries: self.counter(
                "weir_exporter_retries",
                "Number of export attempts retried after a retryable error",
                &q,
            ),
            queue_size: self.gauge(
                "otelcol_exporter_queue_size",
                "Current size of the retry queue (in the queue's sizer units)",
                &q,
            ),
            queue_capacity: self.gauge(
                "otelcol_exporter_queue_capacity",
                "Fixed capacity of the retry queue (in the queue's sizer units)",
                &q,
            ),
        }
    }

    /// Counters for one processor in one pipeline.
    pub fn processor(&self, processor: &str, pipeline: &str, signal: Signal) -> ProcessorCounters {
        let l = [
            ("processor", processor),
            ("pipeline", pipeline),
            ("otel_signal", signal.as_str()),
        ];
        ProcessorCounters {
            incoming: self.counter(
                "otelcol_processor_incoming_items",
                "Number of items passed to the processor",
                &l,
            ),
            outgoing: self.counter(
                "otelcol_processor_outgoing_items",
                "Number of items emitted from the processor",
                &l,
            ),
        }
    }

    /// Items Weir did not deliver, by component and reason. Every drop is counted here or
    /// in one of the Collector-named failure counters.
    pub fn dropped(&self, component: &str, signal: Signal, reason: &str) -> Counter {
        self.counter(
            "weir_items_dropped",
            "Items not delivered, by component and reason",
            &[
                ("component", component),
                ("otel_signal", signal.as_str()),
                ("reason", reason),
            ],
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
        self.counter(
            "weir_receiver_refused_requests",
            "Requests refused before any item was decoded, by reason",
            &[
                ("receiver", receiver),
                ("transport", transport),
                ("reason", reason.as_str()),
            ],
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_names_in_openmetrics_text() {
        let t = Telemetry::new();
        let r = t.receiver("otlp", "grpc");
        r.signal(Signal::Traces).accepted.inc_by(3);
        r.refuse_request(RefusalReason::Malformed);
        t.exporter("otlp/eu", Signal::Metrics)
            .queue_capacity
            .set(10);
        let text = t.encode();
        assert!(
            text.contains(
                "otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains(
            "otelcol_exporter_queue_capacity{exporter=\"otlp/eu\",data_type=\"metrics\"} 10"
        ));
        assert!(text.contains("weir_receiver_refused_requests_total{receiver=\"otlp\",transport=\"grpc\",reason=\"malformed\"} 1"));
    }

    #[test]
    fn refusing_takes_no_registry_lock() {
        let t = Telemetry::new();
        let r = t.receiver("otlp", "http");
        let text = t.encode();
        for reason in RefusalReason::ALL {
            // Registered up front, at zero.
            let series = format!(
                "weir_receiver_refused_requests_total{{receiver=\"otlp\",transport=\"http\",reason=\"{reason}\"}} 0"
            );
            assert!(text.contains(&series), "{text}");
        }
        // Hold every lock of the registry: a refusal that took one would block until the
        // timeout below.
        let registry = lock(&t.inner.registry);
        let counters = lock(&t.inner.counters);
        let (done, finished) = std::sync::mpsc::channel();
        let refusing = r.clone();
        let worker = std::thread::spawn(move || {
            for _ in 0..10_000 {
                refusing.refuse_request(RefusalReason::TooLarge);
            }
            refusing.refuse_request(RefusalReason::NotFound);
            let _ = done.send(());
        });
        let outcome = finished.recv_timeout(std::time::Duration::from_secs(10));
        drop(counters);
        drop(registry);
        worker.join().unwrap();
        assert!(
            outcome.is_ok(),
            "refuse_request waited for the registry lock"
        );
        let text = t.encode();
        assert!(text.contains(
            "weir_receiver_refused_requests_total{receiver=\"otlp\",transport=\"http\",reason=\"too_large\"} 10000"
        ), "{text}");
        assert!(text.contains(
            "weir_receiver_refused_requests_total{receiver=\"otlp\",transport=\"http\",reason=\"not_found\"} 1"
        ));
    }

    #[test]
    fn same_labels_share_one_counter() {
        let t = Telemetry::new();
        t.counter("x", "h", &[("a", "1")]).inc();
        t.counter("x", "h", &[("a", "1")]).inc();
        assert!(t.encode().contains("x_total{a=\"1\"} 2"));
    }
}
