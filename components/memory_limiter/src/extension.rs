//! The `memory_limiter` extension: the processor's keys, setting the same process
//! budget. The Collector offers it so receivers can be limited without a processor in
//! every pipeline; in Weir the budget is charged by every receiver either way.

use async_trait::async_trait;
use weir_api::{
    BuildContext, BuildError, ComponentProblem, Extension, ExtensionContext, ExtensionFactory,
    FactoryInfo, RunningComponent, Stability, StartError, Value,
};

use crate::Config;

pub(crate) struct Factory;

impl ExtensionFactory for Factory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "memory_limiter",
            aliases: &[],
            signals: &[],
            stability: Stability::Beta,
            description: "Bounds the bytes of data held by the whole process: receivers refuse past the budget.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<Config>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError> {
        let config: Config = weir_api::config::parse_valid(config)?;
        // The resident-memory gate needs a pipeline to sit in; the extension sets the
        // budget, which every receiver charges.
        drop(config.apply(&ctx.id.to_string(), &ctx.telemetry)?);
        Ok(Box::new(MemoryLimiterExtension))
    }
}

struct MemoryLimiterExtension;

#[async_trait]
impl Extension for MemoryLimiterExtension {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> Result<RunningComponent, StartError> {
        Ok(Box::pin(async move { ctx.shutdown.cancelled().await }))
    }
}
