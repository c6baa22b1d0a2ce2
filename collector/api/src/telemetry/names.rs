//! Every self-metric Weir serves, declared once: name (without the `_total` that
//! exposition adds to counters), help text, kind and label keys.
//!
//! Components and the engine get handles through [`Telemetry::counter_of`] and
//! [`Telemetry::gauge_of`] (or a typed bundle such as [`Telemetry::receiver`]) with one of
//! these declarations. A declaration can only be made here: [`CounterDef`] and
//! [`GaugeDef`] have no public constructor, so no call site can invent a metric name.
//!
//! The Collector's metrics keep the Collector's names (`otelcol_*`) so existing
//! dashboards and alerts keep working; Weir's own are `weir_*`.
//!
//! [`Telemetry::counter_of`]: super::Telemetry::counter_of
//! [`Telemetry::gauge_of`]: super::Telemetry::gauge_of
//! [`Telemetry::receiver`]: super::Telemetry::receiver

use crate::Signal;

/// Whether a declared metric is a counter or a gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// A declared counter. Built only in this module.
#[derive(Debug)]
pub struct CounterDef {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) labels: &'static [&'static str],
}

/// A declared gauge. Built only in this module.
#[derive(Debug)]
pub struct GaugeDef {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) labels: &'static [&'static str],
}

/// Any declared metric, as listed in [`ALL`].
#[derive(Clone, Copy, Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub labels: &'static [&'static str],
}

macro_rules! accessors {
    ($def:ty) => {
        impl $def {
            /// The metric's name, without the `_total` a counter gets on exposition.
            pub const fn name(&self) -> &'static str {
                self.name
            }
            /// The `# HELP` text.
            pub const fn help(&self) -> &'static str {
                self.help
            }
            /// The label keys, in order; a handle takes one value for each.
            pub const fn labels(&self) -> &'static [&'static str] {
                self.labels
            }
        }
    };
}
accessors!(CounterDef);
accessors!(GaugeDef);

/// One declaration per signal, for the Collector's per-signal names
/// (`..._spans`, `..._metric_points`, `..._log_records`).
#[derive(Debug)]
pub struct PerSignal<T: 'static> {
    pub traces: &'static T,
    pub metrics: &'static T,
    pub logs: &'static T,
}

impl<T> PerSignal<T> {
    pub const fn get(&self, signal: Signal) -> &'static T {
        match signal {
            Signal::Traces => self.traces,
            Signal::Metrics => self.metrics,
            Signal::Logs => self.logs,
        }
    }
}

/// Declares each metric as a constant and lists them all in [`ALL`].
macro_rules! metrics {
    (@def counter) => { CounterDef };
    (@def gauge) => { GaugeDef };
    (@kind counter) => { MetricKind::Counter };
    (@kind gauge) => { MetricKind::Gauge };
    ($(
        $(#[$doc:meta])*
        $kind:ident $id:ident = $name:literal, $help:literal, [$($label:literal),* $(,)?];
    )*) => {
        $(
            $(#[$doc])*
            pub const $id: metrics!(@def $kind) = <metrics!(@def $kind)>::declare(
                $name,
                $help,
                &[$($label),*],
            );
        )*

        /// Every declared metric.
        pub const ALL: &[MetricDef] = &[$(
            MetricDef {
                name: $id.name,
                help: $id.help,
                kind: metrics!(@kind $kind),
                labels: $id.labels,
            },
        )*];
    };
}

impl CounterDef {
    const fn declare(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self { name, help, labels }
    }
}

impl GaugeDef {
    const fn declare(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self { name, help, labels }
    }
}

metrics! {
    // --- Receivers (the Collector's), by receiver and transport.
    counter RECEIVER_ACCEPTED_SPANS = "otelcol_receiver_accepted_spans",
        "Number of spans successfully pushed into the pipeline.",
        ["receiver", "transport"];
    counter RECEIVER_ACCEPTED_METRIC_POINTS = "otelcol_receiver_accepted_metric_points",
        "Number of metric_points successfully pushed into the pipeline.",
        ["receiver", "transport"];
    counter RECEIVER_ACCEPTED_LOG_RECORDS = "otelcol_receiver_accepted_log_records",
        "Number of log_records successfully pushed into the pipeline.",
        ["receiver", "transport"];
    counter RECEIVER_REFUSED_SPANS = "otelcol_receiver_refused_spans",
        "Number of spans that could not be pushed into the pipeline.",
        ["receiver", "transport"];
    counter RECEIVER_REFUSED_METRIC_POINTS = "otelcol_receiver_refused_metric_points",
        "Number of metric_points that could not be pushed into the pipeline.",
        ["receiver", "transport"];
    counter RECEIVER_REFUSED_LOG_RECORDS = "otelcol_receiver_refused_log_records",
        "Number of log_records that could not be pushed into the pipeline.",
        ["receiver", "transport"];

    // --- Receivers (Weir's).
    /// Requests refused before any item was decoded, by [`crate::RefusalReason`].
    counter RECEIVER_REFUSED_REQUESTS = "weir_receiver_refused_requests",
        "Requests refused before any item was decoded, by reason",
        ["receiver", "transport", "reason"];
    gauge IN_FLIGHT_ITEMS = "weir_in_flight_items",
        "Items admitted and not yet released (delivered, dropped or failed)",
        ["receiver", "transport", "otel_signal"];
    gauge IN_FLIGHT_BYTES = "weir_in_flight_bytes",
        "Encoded bytes admitted and not yet released",
        ["receiver", "transport", "otel_signal"];

    // --- Processors (the Collector's), by processor, pipeline and signal.
    counter PROCESSOR_INCOMING_ITEMS = "otelcol_processor_incoming_items",
        "Number of items passed to the processor",
        ["processor", "pipeline", "otel_signal"];
    counter PROCESSOR_OUTGOING_ITEMS = "otelcol_processor_outgoing_items",
        "Number of items emitted from the processor",
        ["processor", "pipeline", "otel_signal"];
    gauge PROCESSOR_HELD_ITEMS = "weir_processor_held_items",
        "Items a processor holds (e.g. batching) and has not emitted yet",
        ["processor", "pipeline", "otel_signal"];
    counter ITEMS_CREATED = "weir_items_created",
        "Items a component made itself (e.g. error summaries), by reason: with these, every component balances as incoming + created = outgoing + dropped + held",
        ["component", "otel_signal", "reason"];

    // --- Exporters (the Collector's).
    counter EXPORTER_SENT_SPANS = "otelcol_exporter_sent_spans",
        "Number of spans successfully sent to destination",
        ["exporter"];
    counter EXPORTER_SENT_METRIC_POINTS = "otelcol_exporter_sent_metric_points",
        "Number of metric_points successfully sent to destination",
        ["exporter"];
    counter EXPORTER_SENT_LOG_RECORDS = "otelcol_exporter_sent_log_records",
        "Number of log_records successfully sent to destination",
        ["exporter"];
    counter EXPORTER_SEND_FAILED_SPANS = "otelcol_exporter_send_failed_spans",
        "Number of spans in failed attempts to send to destination",
        ["exporter"];
    counter EXPORTER_SEND_FAILED_METRIC_POINTS = "otelcol_exporter_send_failed_metric_points",
        "Number of metric_points in failed attempts to send to destination",
        ["exporter"];
    counter EXPORTER_SEND_FAILED_LOG_RECORDS = "otelcol_exporter_send_failed_log_records",
        "Number of log_records in failed attempts to send to destination",
        ["exporter"];
    counter EXPORTER_ENQUEUE_FAILED_SPANS = "otelcol_exporter_enqueue_failed_spans",
        "Number of spans failed to be added to the sending queue",
        ["exporter"];
    counter EXPORTER_ENQUEUE_FAILED_METRIC_POINTS = "otelcol_exporter_enqueue_failed_metric_points",
        "Number of metric_points failed to be added to the sending queue",
        ["exporter"];
    counter EXPORTER_ENQUEUE_FAILED_LOG_RECORDS = "otelcol_exporter_enqueue_failed_log_records",
        "Number of log_records failed to be added to the sending queue",
        ["exporter"];
    gauge EXPORTER_QUEUE_SIZE = "otelcol_exporter_queue_size",
        "Current size of the retry queue (in the queue's sizer units)",
        ["exporter", "data_type"];
    gauge EXPORTER_QUEUE_CAPACITY = "otelcol_exporter_queue_capacity",
        "Fixed capacity of the retry queue (in the queue's sizer units)",
        ["exporter", "data_type"];

    // --- Exporters (Weir's).
    counter EXPORTER_RETRIES = "weir_exporter_retries",
        "Number of export attempts retried after a retryable error",
        ["exporter", "data_type"];
    /// Persistent queue: records skipped because their bytes were damaged (a bad
    /// checksum, a record cut short), each logged with its file and offset.
    counter QUEUE_DAMAGED_RECORDS = "weir_queue_damaged_records",
        "Records of a persistent queue skipped because they were damaged on disk",
        ["exporter"];
    /// Persistent queue: items handed out again after a restart that an earlier run had
    /// handed to the exporter without finishing: the upper bound of duplicates.
    counter QUEUE_REDELIVERED_ITEMS = "weir_queue_redelivered_items",
        "Items of a persistent queue sent again after a restart that may have been sent before",
        ["exporter", "data_type"];

    // --- Any component.
    /// Items a component did not deliver, by reason. Every drop is counted here or in
    /// one of the Collector-named failure counters.
    counter ITEMS_DROPPED = "weir_items_dropped",
        "Items not delivered, by component and reason",
        ["component", "otel_signal", "reason"];

    // --- batch processor (the Collector's).
    counter BATCH_SIZE_TRIGGER_SEND = "otelcol_processor_batch_batch_size_trigger_send",
        "Number of times the batch was sent due to a size trigger.",
        ["processor"];
    counter BATCH_TIMEOUT_TRIGGER_SEND = "otelcol_processor_batch_timeout_trigger_send",
        "Number of times the batch was sent due to a timeout trigger.",
        ["processor"];

    // --- probabilistic_sampler processor (the Collector's).
    counter PROBABILISTIC_SAMPLER_COUNT_LOGS_SAMPLED =
        "otelcol_processor_probabilistic_sampler_count_logs_sampled",
        "Count of logs that were sampled or not",
        ["processor", "policy", "sampled"];
    counter PROBABILISTIC_SAMPLER_COUNT_TRACES_SAMPLED =
        "otelcol_processor_probabilistic_sampler_count_traces_sampled",
        "Count of spans that were sampled or not (deprecated by the Collector)",
        ["processor", "policy", "sampled"];
    counter PROBABILISTIC_SAMPLER_COUNT_SPANS_PROCESSED =
        "otelcol_processor_probabilistic_sampler_count_spans_processed",
        "Count of spans that were sampled or not",
        ["processor", "policy", "sampled"];

    // --- filter processor (the Collector's `otelcol_processor_filter_*.filtered`,
    // dots exposed as underscores), labelled `filter` = processor id as in the Collector.
    counter FILTER_SPANS_FILTERED = "otelcol_processor_filter_spans_filtered",
        "Number of spans dropped by the filter processor",
        ["filter"];
    counter FILTER_DATAPOINTS_FILTERED = "otelcol_processor_filter_datapoints_filtered",
        "Number of metric data points dropped by the filter processor",
        ["filter"];
    counter FILTER_LOGS_FILTERED = "otelcol_processor_filter_logs_filtered",
        "Number of logs dropped by the filter processor",
        ["filter"];

    // --- memory_limiter processor.
    gauge MEMORY_LIMITER_REFUSING = "weir_memory_limiter_refusing",
        "1 while the memory limiter refuses new data, else 0",
        ["processor"];
    gauge MEMORY_LIMITER_RESIDENT_BYTES = "weir_memory_limiter_resident_bytes",
        "The process's resident memory at the last check",
        ["processor"];
    counter MEMORY_LIMITER_REFUSED_REQUESTS = "weir_memory_limiter_refused_requests",
        "Requests refused because the process's resident memory was over its limit",
        ["processor"];
    counter LOG_LINES_DROPPED = "weir_log_lines_dropped",
        "Log lines lost because the log output (stderr) could not keep up",
        [];
    gauge MEMORY_BUDGET_USED_BYTES = "weir_memory_budget_used_bytes",
        "Bytes of admitted data not yet exported, dropped or refused (the memory budget in use)",
        [];
    gauge MEMORY_BUDGET_LIMIT_BYTES = "weir_memory_budget_limit_bytes",
        "The memory budget's limits: `soft` (refusing starts) and `hard` (nothing grows past it)",
        ["limit"];

    // --- Shadow mode (error_rate_limiter, load_shedder, filter): what a policy would drop.
    counter SHADOW_WOULD_DROP = "weir_shadow_would_drop",
        "Items a component in shadow mode would have dropped (and did not), by reason",
        ["component", "otel_signal", "reason"];

    // --- error_rate_limiter processor. `key` is bounded: the first max_keys key strings,
    // then `other`; `overflow` for the shared overflow bucket.
    counter ERROR_RATE_LIMITER_PASSED = "weir_error_rate_limiter_passed",
        "Error items the error rate limiter let through, by key",
        ["processor", "key"];
    counter ERROR_RATE_LIMITER_DROPPED = "weir_error_rate_limiter_dropped",
        "Error items over the rate limit (dropped, or in shadow mode would be), by key",
        ["processor", "key"];
    counter ERROR_RATE_LIMITER_SUMMARIES = "weir_error_rate_limiter_summaries",
        "Summary items the error rate limiter emitted (one per key and window with drops)",
        ["processor", "otel_signal"];
    gauge ERROR_RATE_LIMITER_KEYS = "weir_error_rate_limiter_keys",
        "Keys with a bucket of their own (at most max_keys)",
        ["processor", "otel_signal"];

    // --- load_shedder processor. `class` is a configured class name (bounded by the
    // config); `input` is `memory`, `queue_fill` or `export_latency`.
    counter LOAD_SHEDDER_SHED_ITEMS = "weir_load_shedder_shed_items",
        "Items the load shedder shed (or, in shadow mode, would have shed), by class",
        ["processor", "otel_signal", "class"];
    gauge LOAD_SHEDDER_SHEDDING = "weir_load_shedder_shedding",
        "1 while the load shedder is in shedding mode, else 0",
        ["processor"];
    gauge LOAD_SHEDDER_CLASSES_SHED = "weir_load_shedder_classes_shed",
        "How many of the load shedder's classes are shed now (0 when not shedding)",
        ["processor"];
    gauge LOAD_SHEDDER_PRESSURE_PERCENT = "weir_load_shedder_pressure_percent",
        "The load shedder's last pressure reading per input, in percent of its scale: memory of the budget's soft limit, queue_fill of the fullest exporter queue, export_latency of its configured threshold",
        ["processor", "input"];

    // --- tail_sampling processor: the Collector's names; `policy` is the policy name,
    // prefixed `<processor name>.` when the processor id has one, as the Collector does.
    counter TAIL_SAMPLING_COUNT_TRACES_SAMPLED =
        "otelcol_processor_tail_sampling_count_traces_sampled",
        "Count of traces that were sampled or not per sampling policy",
        ["processor", "policy", "sampled", "decision"];
    counter TAIL_SAMPLING_GLOBAL_COUNT_TRACES_SAMPLED =
        "otelcol_processor_tail_sampling_global_count_traces_sampled",
        "Global count of traces that were sampled or not by at least one policy",
        ["processor", "sampled", "decision"];
    counter TAIL_SAMPLING_POLICY_EXECUTION_COUNT =
        "otelcol_processor_tail_sampling_sampling_policy_execution_count",
        "Number of times each sampling policy was evaluated",
        ["processor", "policy"];
    counter TAIL_SAMPLING_POLICY_EXECUTION_TIME_SUM =
        "otelcol_processor_tail_sampling_sampling_policy_execution_time_sum",
        "Time spent evaluating each sampling policy, in microseconds",
        ["processor", "policy"];
    counter TAIL_SAMPLING_POLICY_EVALUATION_ERROR =
        "otelcol_processor_tail_sampling_sampling_policy_evaluation_error",
        "Count of sampling policy evaluation errors",
        ["processor"];
    counter TAIL_SAMPLING_NEW_TRACE_ID_RECEIVED =
        "otelcol_processor_tail_sampling_new_trace_id_received",
        "Counts the arrival of new traces",
        ["processor"];
    counter TAIL_SAMPLING_EARLY_RELEASES_FROM_CACHE_DECISION =
        "otelcol_processor_tail_sampling_early_releases_from_cache_decision",
        "Number of spans that were able to be immediately released due to a decision cache hit.",
        ["processor", "sampled"];
    gauge TAIL_SAMPLING_TRACES_ON_MEMORY =
        "otelcol_processor_tail_sampling_sampling_traces_on_memory",
        "Tracks the number of traces current on memory",
        ["processor"];
    counter TAIL_SAMPLING_LATE_SPANS = "weir_tail_sampling_late_spans",
        "Spans that arrived after their trace was decided and followed the decision (trace table or decision cache)",
        ["processor", "sampled"];
    counter TAIL_SAMPLING_EVICTED_TRACES = "weir_tail_sampling_evicted_traces",
        "Undecided traces decided before decision_wait, by reason: buffer_full (max_buffer_bytes), trace_too_large (maximum_trace_size_bytes), decided_early (num_traces)",
        ["processor", "reason"];
    gauge TAIL_SAMPLING_BUFFER_BYTES = "weir_tail_sampling_buffer_bytes",
        "Bytes of received batches the tail sampler holds until their traces are decided",
        ["processor"];

    // --- loadbalancing exporter (the Collector's names, plus Weir's re-homing count).
    counter LOADBALANCER_NUM_RESOLUTIONS = "otelcol_loadbalancer_num_resolutions",
        "Number of times the resolver has triggered new resolutions.",
        ["exporter", "resolver", "success"];
    gauge LOADBALANCER_NUM_BACKENDS = "otelcol_loadbalancer_num_backends",
        "Current number of backends in use.",
        ["exporter", "resolver"];
    counter LOADBALANCER_NUM_BACKEND_UPDATES = "otelcol_loadbalancer_num_backend_updates",
        "Number of times the list of backends was updated.",
        ["exporter", "resolver"];
    counter LOADBALANCER_BACKEND_OUTCOME = "otelcol_loadbalancer_backend_outcome",
        "Number of successes and failures for each endpoint.",
        ["exporter", "endpoint", "success"];
    counter LOADBALANCER_REHOMED_ITEMS = "weir_loadbalancer_rehomed_items",
        "Items whose backend left the tier while they waited for a retry, sent to their keys' new owners instead",
        ["exporter"];

    // --- cardinality_limiter processor. `metric` takes the first `max_reported_metrics`
    // metric names that went over their limit, then `_other`, so it stays bounded.
    counter CARDINALITY_LIMITED_POINTS = "weir_cardinality_limiter_limited_points",
        "Data points of a metric over its max_series distinct attribute sets, by metric name and action (drop_attributes or drop_point)",
        ["processor", "metric", "action"];
    gauge CARDINALITY_TRACKED_METRICS = "weir_cardinality_limiter_tracked_metrics",
        "Metric names whose attribute sets the cardinality limiter tracks in the current window",
        ["processor"];

    // --- statsd receiver.
    counter STATSD_INVALID_LINES = "weir_statsd_receiver_invalid_lines",
        "StatsD lines rejected, by reason.",
        ["receiver", "reason"];
    counter STATSD_LINES = "weir_statsd_receiver_lines",
        "StatsD metric lines parsed and aggregated.",
        ["receiver"];
    counter STATSD_KERNEL_DROPS = "weir_statsd_receiver_kernel_drops",
        "Datagrams dropped by the kernel because the receiver's socket buffer was full (from /proc/net/udp).",
        ["receiver"];
    gauge STATSD_SERIES = "weir_statsd_receiver_series",
        "Series in the last aggregation interval.",
        ["receiver"];

    // --- prometheus receiver.
    counter PROMETHEUS_SCRAPE_FAILURES = "weir_prometheus_receiver_scrape_failures",
        "Scrapes that failed (up was 0), by job and reason.",
        ["receiver", "job", "reason"];
    gauge PROMETHEUS_TARGETS = "weir_prometheus_receiver_targets",
        "Targets currently scraped, by job.",
        ["receiver", "job"];

    // --- debug exporter.
    counter DEBUG_SAMPLED_OUT_BATCHES = "weir_debug_exporter_sampled_out_batches",
        "Batches the debug exporter did not print because of sampling_initial/sampling_thereafter.",
        ["exporter", "otel_signal"];

    // --- prometheusremotewrite exporter.
    /// By `result`: `sent`, `retryable_error`, `permanent_error`.
    counter REMOTE_WRITE_REQUESTS = "weir_prometheusremotewrite_requests",
        "Remote-write requests by result: sent, retryable_error, permanent_error.",
        ["exporter", "result"];
    counter REMOTE_WRITE_SAMPLES_SENT = "weir_prometheusremotewrite_samples_sent",
        "Float samples delivered to the remote-write endpoint.",
        ["exporter"];
    counter REMOTE_WRITE_HISTOGRAMS_SENT = "weir_prometheusremotewrite_histograms_sent",
        "Native histogram samples delivered to the remote-write endpoint.",
        ["exporter"];
    gauge REMOTE_WRITE_DELTA_STREAMS = "weir_prometheusremotewrite_delta_streams",
        "Delta streams whose running totals are held for delta-to-cumulative conversion.",
        ["exporter"];

    // --- loki exporter.
    /// By `result`: `sent`, `retryable_error`, `permanent_error` (one per tenant push).
    counter LOKI_REQUESTS = "weir_loki_exporter_requests",
        "Push requests to Loki by result: sent, retryable_error, permanent_error.",
        ["exporter", "result"];
    counter LOKI_OUT_OF_ORDER = "weir_loki_exporter_out_of_order_entries",
        "Log entries Loki refused as out of order or too far behind (HTTP 400); not retried.",
        ["exporter"];
    counter LOKI_MISSING_LABELS = "otelcol_lokiexporter_send_failed_due_to_missing_labels",
        "Number of log records failed to send because labels were missing",
        ["exporter"];

    // --- spanmetrics connector.
    counter SPANMETRICS_OVERFLOW_SPANS = "weir_spanmetrics_overflow_spans",
        "Spans aggregated into the otel.metric.overflow=\"true\" series because their resource had reached aggregation_cardinality_limit series",
        ["connector"];
    counter SPANMETRICS_EVICTED_RESOURCES = "weir_spanmetrics_evicted_resources",
        "Resources whose series were forgotten, by reason: expired (metrics_expiration) or cache_full (resource_metrics_cache_size)",
        ["connector", "reason"];
    gauge SPANMETRICS_SERIES = "weir_spanmetrics_series",
        "Series (calls and duration) the spanmetrics connector holds",
        ["connector"];

    // --- heartbeat connector (silent sources). A source's series are removed when it is
    // forgotten (`forget_after`, or a deliberate end), so their number stays bounded by
    // `max_sources`.
    gauge SOURCE_LAST_SEEN = "weir_source_last_seen_seconds",
        "Unix time, in seconds, when the heartbeat connector last received data from the source",
        ["connector", "source"];
    gauge SOURCE_SILENT = "weir_source_silent",
        "1 while the source has sent nothing for longer than expected_interval, else 0",
        ["connector", "source"];
    gauge HEARTBEAT_SOURCES = "weir_heartbeat_sources",
        "Sources the heartbeat connector tracks (at most max_sources)",
        ["connector"];
    counter HEARTBEAT_UNTRACKED_RESOURCES = "weir_heartbeat_untracked_resources",
        "Resources whose source the heartbeat connector does not track, by reason: max_sources (the table is full) or no_source_attributes",
        ["connector", "reason"];
    counter HEARTBEAT_FORGOTTEN_SOURCES = "weir_heartbeat_forgotten_sources",
        "Sources the heartbeat connector stopped tracking, by reason: forget_after or shutdown (weir.heartbeat.shutdown=true on its last data)",
        ["connector", "reason"];
}

/// `otelcol_receiver_accepted_*`, by signal.
pub const RECEIVER_ACCEPTED: PerSignal<CounterDef> = PerSignal {
    traces: &RECEIVER_ACCEPTED_SPANS,
    metrics: &RECEIVER_ACCEPTED_METRIC_POINTS,
    logs: &RECEIVER_ACCEPTED_LOG_RECORDS,
};
/// `otelcol_receiver_refused_*`, by signal.
pub const RECEIVER_REFUSED: PerSignal<CounterDef> = PerSignal {
    traces: &RECEIVER_REFUSED_SPANS,
    metrics: &RECEIVER_REFUSED_METRIC_POINTS,
    logs: &RECEIVER_REFUSED_LOG_RECORDS,
};
/// `otelcol_exporter_sent_*`, by signal.
pub const EXPORTER_SENT: PerSignal<CounterDef> = PerSignal {
    traces: &EXPORTER_SENT_SPANS,
    metrics: &EXPORTER_SENT_METRIC_POINTS,
    logs: &EXPORTER_SENT_LOG_RECORDS,
};
/// `otelcol_exporter_send_failed_*`, by signal.
pub const EXPORTER_SEND_FAILED: PerSignal<CounterDef> = PerSignal {
    traces: &EXPORTER_SEND_FAILED_SPANS,
    metrics: &EXPORTER_SEND_FAILED_METRIC_POINTS,
    logs: &EXPORTER_SEND_FAILED_LOG_RECORDS,
};
/// `otelcol_exporter_enqueue_failed_*`, by signal.
pub const EXPORTER_ENQUEUE_FAILED: PerSignal<CounterDef> = PerSignal {
    traces: &EXPORTER_ENQUEUE_FAILED_SPANS,
    metrics: &EXPORTER_ENQUEUE_FAILED_METRIC_POINTS,
    logs: &EXPORTER_ENQUEUE_FAILED_LOG_RECORDS,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_prefixed_and_without_total() {
        let mut seen = HashSet::new();
        for def in ALL {
            assert!(seen.insert(def.name), "{} is declared twice", def.name);
            assert!(
                def.name.starts_with("otelcol_") || def.name.starts_with("weir_"),
                "{} has neither the Collector's otelcol_ prefix nor Weir's weir_",
                def.name
            );
            assert!(
                !def.name.ends_with("_total"),
                "{}: exposition adds _total to counters",
                def.name
            );
            assert!(
                def.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                def.name
            );
            assert!(!def.help.is_empty(), "{} has no help text", def.name);
            let keys: HashSet<_> = def.labels.iter().collect();
            assert_eq!(
                keys.len(),
                def.labels.len(),
                "{}: a label key twice",
                def.name
            );
        }
    }

    #[test]
    fn per_signal_names_follow_the_collectors_item_names() {
        let sets = [
            (&RECEIVER_ACCEPTED, "otelcol_receiver_accepted_"),
            (&RECEIVER_REFUSED, "otelcol_receiver_refused_"),
            (&EXPORTER_SENT, "otelcol_exporter_sent_"),
            (&EXPORTER_SEND_FAILED, "otelcol_exporter_send_failed_"),
            (&EXPORTER_ENQUEUE_FAILED, "otelcol_exporter_enqueue_failed_"),
        ];
        for (set, prefix) in sets {
            for signal in Signal::ALL {
                let def = set.get(signal);
                assert_eq!(def.name(), format!("{prefix}{}", signal.item_name()));
                assert!(def.help().contains(signal.item_name()), "{}", def.help());
            }
        }
    }
}
