//! `loki`: OTLP logs to Loki's push API (`/loki/api/v1/push`).
//!
//! The path of a batch: [`convert`] turns each record into a stream (labels from the
//! default labels, the `loki.*` hint attributes and the explicit `labels` map, sanitized
//! by [`labels`]) and a line ([`mod@line`]: JSON, logfmt or raw), grouped by tenant, each
//! stream's entries in timestamp order; [`push`] encodes each tenant's streams
//! (`logproto.PushRequest` + snappy, or JSON); [`exporter`] sends one push per tenant with
//! its `X-Scope-OrgID`, and [`response`] says what Loki's answer means. The engine around
//! the exporter owns the queue, retries and timeouts.

pub mod config;
pub mod convert;
pub mod exporter;
pub mod labels;
pub mod line;
pub mod push;
pub mod response;

#[cfg(test)]
mod convert_tests;

use std::sync::Arc;

use weir_api::{
    BuildContext, BuildError, BuiltExporter, ComponentProblem, ExporterFactory, ExporterSettings,
    FactoryInfo, Signal, Stability, Value,
};

pub use config::Config;
pub use exporter::LokiExporter;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExporterFactory> {
    Arc::new(Factory)
}

pub struct Factory;

impl ExporterFactory for Factory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "loki",
            aliases: &[],
            signals: &[Signal::Logs],
            stability: Stability::Beta,
            description: "Sends logs to Loki's push API (protobuf + snappy, or JSON)",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<Config>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        let config: Config = weir_api::config::parse_valid(config)?;
        let exporter =
            LokiExporter::new(&config, &ctx.telemetry, &ctx.id.to_string()).map_err(BuildError)?;
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
