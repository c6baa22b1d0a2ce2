//! Weir's self-metrics, with the OpenTelemetry Collector's names so existing dashboards
//! and alerts keep working: `otelcol_receiver_accepted_spans`,
//! `otelcol_exporter_send_failed_metric_points`, `otelcol_exporter_queue_size`, ...
//! (served in OpenMetrics text, so counters carry the `_total` suffix, as the Collector's
//! Prometheus endpoint does since it moved to the OpenTelemetry Go SDK).
//!
//! Every metric is declared once, in [`names`]: name, help text, kind and label keys.
//! Components take handles by declaration, through [`Telemetry::counter_of`] and
//! [`Telemetry::gauge_of`] or a typed bundle ([`Telemetry::receiver`],
//! [`Telemetry::exporter`], [`Telemetry::processor`], [`Telemetry::dropped`]); no call
//! site names a metric with a string.
//!
//! Handles (counters, gauges) are fetched once when a component is built and then
//! updated with a single atomic operation; no lock is taken on the hot path.

mod bundles;
mod forget;
pub mod names;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use bundles::{ExporterCounters, ProcessorCounters, ReceiverCounters, SignalCounters};
pub use names::{CounterDef, GaugeDef};
pub use view::{ComponentDoc, PipelineView, ViewResponse};

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
    /// The process's memory budget: it lives here because every component is handed
    /// this registry, and the budget is as process-wide as the registry is.
    budget: crate::budget::MemoryBudget,
    /// Exporter queue fill and delivery latency, for load shedding.
    pressure: crate::pressure::Pressure,
    /// Authenticator extensions by id, found by receivers and exporters (see
    /// [`crate::auth`]): as process-wide as the budget.
    authenticators: crate::auth::Authenticators,
    /// The pipeline view and component list published for the pipeline page.
    view: view::Published,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

/// Pairs each declared label key with its value, or `None` if the counts differ (a
/// programming error: it fails debug builds and tests, and in a release build the caller
/// gets a handle that is not registered rather than a panic or a mislabelled series).
fn labels(metric: &str, keys: &[&str], values: &[&str]) -> Option<Labels> {
    debug_assert_eq!(
        keys.len(),
        values.len(),
        "{metric}: label values {values:?} do not match the declared keys {keys:?}"
    );
    (keys.len() == values.len()).then(|| {
        keys.iter()
            .zip(values)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
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

    /// The counter `def` with one value for each of its declared label keys, in order,
    /// registering the family on first use.
    /// The process's memory budget (see [`crate::budget`]).
    pub fn memory_budget(&self) -> &crate::budget::MemoryBudget {
        &self.inner.budget
    }

    /// The process's pressure readings (see [`crate::pressure`]).
    pub fn pressure(&self) -> &crate::pressure::Pressure {
        &self.inner.pressure
    }

    /// The process's authenticator extensions (see [`crate::auth`]).
    pub fn authenticators(&self) -> &crate::auth::Authenticators {
        &self.inner.authenticators
    }

    pub fn counter_of(&self, def: &CounterDef, values: &[&str]) -> Counter {
        match labels(def.name, def.labels, values) {
            Some(labels) => self.counter(def.name, def.help, &labels),
            None => Counter::default(),
        }
    }

    /// The gauge `def` with one value for each of its declared label keys, in order,
    /// registering the family on first use.
    pub fn gauge_of(&self, def: &GaugeDef, values: &[&str]) -> Gauge {
        match labels(def.name, def.labels, values) {
            Some(labels) => self.gauge(def.name, def.help, &labels),
            None => Gauge::default(),
        }
    }

    /// A counter named `name` (without `_total`) with these labels. Private: metrics are
    /// named in [`names`] only.
    fn counter(&self, name: &str, help: &str, labels: &Labels) -> Counter {
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
        let counter = family.get_or_create(labels).clone();
        counter
    }

    /// A gauge named `name` with these labels. Private: metrics are named in [`names`]
    /// only.
    fn gauge(&self, name: &str, help: &str, labels: &Labels) -> Gauge {
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
        let gauge = family.get_or_create(labels).clone();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RefusalReason, Signal};

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
        t.counter_of(&names::STATSD_LINES, &["statsd"]).inc();
        t.counter_of(&names::STATSD_LINES, &["statsd"]).inc();
        let text = t.encode();
        assert!(
            text.contains("weir_statsd_receiver_lines_total{receiver=\"statsd\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "# HELP weir_statsd_receiver_lines StatsD metric lines parsed and aggregated."
        ));
    }

    #[test]
    fn a_gauge_by_declaration() {
        let t = Telemetry::new();
        t.gauge_of(&names::PROMETHEUS_TARGETS, &["prometheus", "node"])
            .set(3);
        let text = t.encode();
        assert!(
            text.contains(
                "weir_prometheus_receiver_targets{receiver=\"prometheus\",job=\"node\"} 3"
            ),
            "{text}"
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "do not match the declared keys")]
    fn label_count_mismatch_fails_debug_builds() {
        Telemetry::new().counter_of(&names::STATSD_LINES, &["statsd", "extra"]);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn label_count_mismatch_gives_an_unregistered_handle_in_release() {
        let t = Telemetry::new();
        t.counter_of(&names::STATSD_LINES, &["statsd", "extra"])
            .inc();
        assert!(!t.encode().contains("weir_statsd_receiver_lines"));
    }
}
