//! The `forward` connector: the exporter of some pipelines and the receiver of others of
//! the same signal, passing every batch on unchanged (the Collector's `forwardconnector`).
//!
//! It joins pipelines: several pipelines can feed one (e.g. to share one set of
//! exporters), or one pipeline can feed several (each with its own processors). The batch
//! goes on as it came, with its client metadata and its acknowledgement handles, so the
//! data is acknowledged once its downstream pipelines have delivered it. See README.md.

use std::sync::Arc;

use serde::Deserialize;
use weir_api::{
    Batch, BuildError, ComponentProblem, Connector, ConnectorBuildContext, ConnectorFactory,
    ConnectorOutput, FactoryInfo, Signal, Stability, Value,
};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "forward";

/// Each signal to itself.
const PAIRS: [(Signal, Signal); 3] = [
    (Signal::Traces, Signal::Traces),
    (Signal::Metrics, Signal::Metrics),
    (Signal::Logs, Signal::Logs),
];

/// `connectors.forward`: no keys. An empty or absent section is the only valid one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {}

impl weir_api::config::Validate for ForwardConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        Vec::new()
    }
}

/// Builds `forward` connectors.
#[derive(Debug, Default)]
pub struct ForwardConnectorFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ConnectorFactory> {
    Arc::new(ForwardConnectorFactory)
}

impl ConnectorFactory for ForwardConnectorFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &Signal::ALL,
            stability: Stability::Beta,
            description: "Passes data from pipelines to pipelines of the same signal, unchanged.",
        }
    }

    fn pairs(&self) -> &'static [(Signal, Signal)] {
        &PAIRS
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<ForwardConfig>(config)
            .into_iter()
            .map(|mut problem| {
                problem.message = format!(
                    "{}: the forward connector has no settings (leave its section empty: `{TYPE_NAME}:`)",
                    problem.message
                );
                problem
            })
            .collect()
    }

    fn build(
        &self,
        _ctx: ConnectorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Connector>, BuildError> {
        if let Some(problem) = self.check(config).first() {
            return Err(weir_api::config::build_error(problem));
        }
        Ok(Box::new(ForwardConnector))
    }
}

/// Passes each batch to every downstream pipeline.
#[derive(Debug, Default)]
pub struct ForwardConnector;

impl Connector for ForwardConnector {
    fn consume(&mut self, batch: Batch, out: &mut ConnectorOutput) {
        out.to_all(batch);
    }
}

#[cfg(test)]
mod tests;
