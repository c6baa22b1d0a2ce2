//! The `health_check` extension: an HTTP endpoint that says whether Weir's pipelines are
//! running, for load balancers and Kubernetes liveness/readiness probes.
//!
//! It answers from the [`weir_api::HealthState`] the engine publishes on a watch
//! channel (200 while `Running`, 503 while `Starting` or `ShuttingDown`), so a
//! balancer stops sending before Weir stops accepting. Keys, defaults and the response
//! document follow the Collector's contrib extension. See README.md.

mod config;
mod response;
mod server;

use std::sync::Arc;

use async_trait::async_trait;
use weir_api::{
    BuildContext, BuildError, ComponentId, ComponentProblem, Extension, ExtensionContext,
    ExtensionFactory, FactoryInfo, RunningComponent, Stability, StartError, Value,
};

pub use config::{CheckCollectorPipeline, HealthCheckConfig, ResponseBody, DEFAULT_ENDPOINT};
pub use response::go_duration;
pub use server::HealthServer;

/// The component type name in configuration.
pub const TYPE_NAME: &str = "health_check";

/// Builds `health_check` extensions.
#[derive(Debug, Default)]
pub struct HealthCheckFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExtensionFactory> {
    Arc::new(HealthCheckFactory)
}

impl ExtensionFactory for HealthCheckFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &[],
            stability: Stability::Beta,
            description: "HTTP endpoint answering 200 while the pipelines run, 503 otherwise.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<HealthCheckConfig>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError> {
        let config: HealthCheckConfig = weir_api::config::parse_valid(config)?;
        Ok(Box::new(HealthCheck { id: ctx.id, config }))
    }
}

/// A built, not yet listening, health check.
#[derive(Debug)]
pub struct HealthCheck {
    id: ComponentId,
    config: HealthCheckConfig,
}

#[async_trait]
impl Extension for HealthCheck {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> Result<RunningComponent, StartError> {
        let server = HealthServer::bind(&self.config).await?;
        tracing::info!(
            extension = %self.id,
            address = %server.local_addr(),
            path = %self.config.path,
            "health_check: listening"
        );
        if self.config.check_collector_pipeline.enabled {
            tracing::warn!(
                extension = %self.id,
                "health_check: check_collector_pipeline is accepted but ignored; \
                 the answer follows the pipelines' running state"
            );
        }
        Ok(server.serve(ctx.health, ctx.shutdown))
    }
}

#[cfg(test)]
mod tests;
