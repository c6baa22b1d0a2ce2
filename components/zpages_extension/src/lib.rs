//! The `zpages` extension: the Collector's in-process debug pages, served by Weir from
//! what the engine publishes.
//!
//! `/debug/pipelinez` is Weir's live pipeline page (the graph of receivers, processors,
//! connectors and exporters with their rates, refusals, drops, queues and latency), the
//! same page the self-telemetry address serves at `/`. The extension never sees the
//! engine: it asks the [`weir_api::telemetry::PipelineView`] the engine published
//! through `Telemetry` at build time. Keys and default follow the Collector's core
//! extension. See README.md.

mod config;
mod server;

use std::sync::Arc;

use async_trait::async_trait;
use weir_api::telemetry::Telemetry;
use weir_api::{
    BuildContext, BuildError, ComponentId, ComponentProblem, Extension, ExtensionContext,
    ExtensionFactory, FactoryInfo, RunningComponent, Stability, StartError, Value,
};

pub use config::{Expvar, ZpagesConfig, DEFAULT_ENDPOINT};
pub use server::{respond, ZpagesServer};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "zpages";

/// Builds `zpages` extensions.
#[derive(Debug, Default)]
pub struct ZpagesFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExtensionFactory> {
    Arc::new(ZpagesFactory)
}

impl ExtensionFactory for ZpagesFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[],
            stability: Stability::Beta,
            description: "Debug pages; /debug/pipelinez is the live pipeline page.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<ZpagesConfig>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError> {
        let config: ZpagesConfig = weir_api::config::parse_valid(config)?;
        Ok(Box::new(Zpages {
            id: ctx.id,
            config,
            telemetry: ctx.telemetry,
        }))
    }
}

/// A built, not yet listening, zpages extension.
#[derive(Debug)]
pub struct Zpages {
    id: ComponentId,
    config: ZpagesConfig,
    telemetry: Telemetry,
}

#[async_trait]
impl Extension for Zpages {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> Result<RunningComponent, StartError> {
        let server = ZpagesServer::bind(&self.config.endpoint, self.telemetry).await?;
        tracing::info!(
            extension = %self.id,
            address = %server.local_addr(),
            "zpages: the pipeline page is at http://{}/debug/pipelinez",
            server.local_addr()
        );
        if self.config.expvar.enabled {
            tracing::info!(
                extension = %self.id,
                "zpages: expvar serves Go runtime variables in the Collector; Weir has none \
                 (its own numbers are at /metrics of the self-telemetry address)"
            );
        }
        Ok(server.serve(ctx.shutdown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: &str) -> Value {
        serde_yaml_ng::from_str(yaml).expect("yaml")
    }

    #[test]
    fn the_collectors_configs_are_accepted() {
        let f = ZpagesFactory;
        assert!(f.check(&Value::Null).is_empty());
        assert!(f.check(&section("endpoint: 0.0.0.0:55679")).is_empty());
        assert!(f
            .check(&section(
                "endpoint: localhost:55679\nexpvar:\n  enabled: true"
            ))
            .is_empty());
        let parsed: ZpagesConfig = weir_api::config::parse_valid(&Value::Null).expect("default");
        assert_eq!(parsed.endpoint, DEFAULT_ENDPOINT);
    }

    #[test]
    fn bad_keys_are_named() {
        let f = ZpagesFactory;
        let problems = f.check(&section("endpont: x"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, vec!["endpont".to_string()]);
        assert_eq!(problems[0].suggestion.as_deref(), Some("endpoint"));
        let problems = f.check(&section("endpoint: ''"));
        assert_eq!(problems[0].path, vec!["endpoint".to_string()]);
        let problems = f.check(&section("tls: {cert_file: a}"));
        assert_eq!(problems[0].path, vec!["tls".to_string()]);
    }
}
