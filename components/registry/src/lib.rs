//! Every component this build of Weir knows, one line each.
//!
//! The engine never names a component; the binary passes it this registry. Adding a
//! component is one crate and one line here.

use weir_api::Registry;

/// The registry of all built-in components.
pub fn registry() -> Registry {
    Registry {
        receivers: vec![
            weir_otlp_receiver::factory(),
            weir_statsd_receiver::factory(),
            weir_prometheus_receiver::factory(),
        ],
        processors: vec![
            weir_memory_limiter::factory(),
            weir_batch_processor::factory(),
            weir_probabilistic_sampler::factory(),
            weir_error_rate_limiter::factory(),
            weir_transform_processor::factory(),
            weir_attributes_processor::factory(),
            weir_resource_processor::factory(),
            weir_filter_processor::factory(),
            weir_load_shedder::factory(),
            weir_tail_sampling::factory(),
        ],
        exporters: vec![
            weir_otlp_exporter::factory(),
            weir_otlphttp_exporter::factory(),
            weir_debug_exporter::factory(),
            weir_file_exporter::factory(),
            weir_prometheusremotewrite_exporter::factory(),
            weir_loki_exporter::factory(),
        ],
        extensions: vec![
            weir_health_check::factory(),
            weir_memory_limiter::extension_factory(),
        ],
        connectors: vec![
            weir_forward_connector::factory(),
            weir_routing_connector::factory(),
            weir_spanmetrics_connector::factory(),
        ],
    }
}
