//! The `routing` connector: the exporter of one pipeline and the receiver of several of
//! the same signal, sending each span, data point or log record to the pipelines of the
//! first route whose OTTL condition matches it (the Collector contrib's
//! `routingconnector`).
//!
//! Why a connector and not a processor: routing picks among pipelines, each with its own
//! processors and exporters, and the engine gives a connector the channels of the
//! pipelines it feeds (`ConnectorOutput::to_pipeline`). Conditions are compiled once,
//! when the config is checked and again at build; the pipelines a route names are
//! checked at build against the pipelines that list the connector as a receiver.
//! See README.md.

mod config;
mod router;

use std::sync::Arc;

use weir_api::{
    Batch, BuildError, ComponentProblem, Connector, ConnectorBuildContext, ConnectorFactory,
    ConnectorOutput, FactoryInfo, Signal, Stability, Value,
};

pub use config::{CompiledRoute, RouteSection, RoutingConfig, Table};
pub use router::{Router, MAX_PIPELINES, NO_ROUTE, OTTL_ERROR};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "routing";

/// Each signal to itself.
const PAIRS: [(Signal, Signal); 3] = [
    (Signal::Traces, Signal::Traces),
    (Signal::Metrics, Signal::Metrics),
    (Signal::Logs, Signal::Logs),
];

/// Builds `routing` connectors.
#[derive(Debug, Default)]
pub struct RoutingConnectorFactory;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ConnectorFactory> {
    Arc::new(RoutingConnectorFactory)
}

impl ConnectorFactory for RoutingConnectorFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            aliases: &[],
            signals: &Signal::ALL,
            stability: Stability::Alpha,
            description:
                "Sends each item to the pipelines of the first route whose OTTL condition matches.",
        }
    }

    fn pairs(&self) -> &'static [(Signal, Signal)] {
        &PAIRS
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        config::check(config)
    }

    fn build(
        &self,
        ctx: ConnectorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Connector>, BuildError> {
        if ctx.from != ctx.to {
            return Err(BuildError(format!(
                "{}: the routing connector routes a signal to pipelines of the same signal, not {} to {}",
                ctx.id, ctx.from, ctx.to
            )));
        }
        let table = config::compile(config).map_err(|problems| match problems.first() {
            Some(problem) => weir_api::config::build_error(problem),
            None => BuildError("invalid routing configuration".into()),
        })?;
        let router = Router::new(
            table,
            ctx.id.to_string(),
            ctx.from,
            ctx.downstream,
            &ctx.telemetry,
        )
        .map_err(BuildError)?;
        Ok(Box::new(RoutingConnector { router }))
    }
}

/// Routes each batch as it comes; holds nothing between batches.
pub struct RoutingConnector {
    router: Router,
}

impl Connector for RoutingConnector {
    fn consume(&mut self, batch: Batch, out: &mut ConnectorOutput) {
        self.router.route(batch, out);
    }
}

#[cfg(test)]
mod tests;
