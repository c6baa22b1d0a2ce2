//! The `otlphttp` exporter (alias `otlp_http`): sends batches as OTLP/HTTP (protobuf or
//! JSON) to `<endpoint>/v1/{traces,metrics,logs}` or per-signal URLs.
//!
//! `prepare` turns a batch into a request once (encoded, compressed); the engine queues
//! that request and wraps its `send` (one attempt, the same bytes every time) in the
//! queue -> retry -> timeout stack configured by `sending_queue`, `retry_on_failure` and
//! `timeout`, which this crate only parses and hands over in
//! [`weir_api::ExporterSettings`]. What the crate decides is the wire (hyper client,
//! encoding, compression, headers, TLS) and what each answer means (retryable with a
//! delay, or permanent with a count of rejected items).

mod config;
mod exporter;
mod response;

use std::sync::Arc;

use weir_api::{
    BuildContext, BuildError, BuiltExporter, ComponentProblem, ExporterFactory, ExporterSettings,
    FactoryInfo, Signal, Stability, Value,
};

pub use config::{Compression, Config, Encoding};
pub use exporter::OtlpHttpExporter;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExporterFactory> {
    Arc::new(OtlpHttpExporterFactory)
}

pub struct OtlpHttpExporterFactory;

impl ExporterFactory for OtlpHttpExporterFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "otlphttp",
            aliases: &["otlp_http"],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Beta,
            description: "Sends traces, metrics and logs over OTLP/HTTP (protobuf or JSON).",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<Config>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        let config: Config = weir_api::config::parse_valid(config)?;
        let auth = weir_api::auth::ClientAuth::new(config.auth.as_ref(), &ctx.telemetry);
        let exporter = OtlpHttpExporter::with_auth(&config, auth).map_err(BuildError)?;
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            settings: ExporterSettings {
                timeout: config.timeout,
                retry: config.retry_on_failure,
                queue: config.sending_queue,
            },
        })
    }
}
