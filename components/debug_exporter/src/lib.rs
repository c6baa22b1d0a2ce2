//! The `debug` exporter: writes what reaches it to the log, to see what a pipeline
//! carries while building or troubleshooting it.
//!
//! Keys, defaults and the three verbosities follow the Collector's `debugexporter`, so a
//! Collector config's `debug:` section works unchanged. The exporter never fails and has
//! no retry; with no `sending_queue` key the engine calls it synchronously, as the
//! Collector does. See README.md.

mod config;
mod exporter;
mod render;
mod sampler;

use std::sync::Arc;
use std::time::Duration;

use weir_api::{
    BuildContext, BuildError, BuiltExporter, ComponentProblem, ExporterFactory, ExporterSettings,
    FactoryInfo, QueueSettings, RetrySettings, Signal, Stability, Value,
};

pub use config::{AttributeFilter, DebugConfig, OutputSettings, PartSettings, Verbosity};
pub use exporter::DebugExporter;
pub use render::{detailed, normal, Summary};
pub use sampler::Sampler;

/// The component type name in configuration.
pub const TYPE_NAME: &str = "debug";

/// Builds `debug` exporters.
#[derive(Debug, Default)]
pub struct DebugExporterFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExporterFactory> {
    Arc::new(DebugExporterFactory)
}

/// The engine settings for a debug exporter: the configured queue, or none (synchronous)
/// when `sending_queue` is absent; no retry (export never fails); no timeout (zero, the
/// Collector's `TimeoutConfig{Timeout: 0}`).
pub fn exporter_settings(config: &DebugConfig) -> ExporterSettings {
    ExporterSettings {
        timeout: Duration::ZERO,
        retry: RetrySettings {
            enabled: false,
            ..RetrySettings::default()
        },
        queue: config.sending_queue.clone().unwrap_or(QueueSettings {
            enabled: false,
            ..QueueSettings::default()
        }),
    }
}

impl ExporterFactory for DebugExporterFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &Signal::ALL,
            stability: Stability::Development,
            description: "Writes received telemetry to the log (basic, normal or detailed).",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<DebugConfig>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        let config: DebugConfig = weir_api::config::parse_valid(config)?;
        let exporter = DebugExporter::new(ctx.id.to_string(), &config, &ctx.telemetry);
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            settings: exporter_settings(&config),
        })
    }
}

#[cfg(test)]
mod tests;
