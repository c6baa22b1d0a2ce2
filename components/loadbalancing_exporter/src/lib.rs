//! The `loadbalancing` exporter (alias `load_balancing`): spreads data over a tier of OTLP
//! backends by a routing key, so that everything with the same key (the spans of one trace,
//! one service, one metric stream) reaches the same backend. Tail sampling and span
//! metrics on a gateway tier need all spans of a trace in one place; this is how an agent
//! tier gives them that.
//!
//! How it differs from the Collector's exporter of the same name, and why:
//! - **Data is bound to a backend only when it is sent.** The engine's one queue in front
//!   of this exporter holds batches, not per-backend requests; each send attempt splits the
//!   batch over the membership of that moment. When a backend leaves while its part waits
//!   for a retry, that part goes to the key's new owner on the next attempt (counted in
//!   `weir_loadbalancer_rehomed_items_total`). The Collector keeps a queue per backend and
//!   drops it when the backend leaves.
//! - **Rendezvous hashing** ([`routing::owner`]): each key goes to the backend with the
//!   highest hash of (key, backend). A membership change moves exactly the keys of the
//!   backends that left or the share a new backend takes, and every agent with the same
//!   membership makes the same choice, with no ring to build.
//! - Each backend is an `otlp` exporter built from `protocol.otlp` (every key of that
//!   exporter, parsed by its own crate), with `endpoint` set by the resolver.
//!
//! Resolvers ([`resolver`]): `static` (a fixed list), `dns` (the system resolver, re-asked
//! every `interval`), `k8s` (the EndpointSlices of a Service, from the Kubernetes API).

mod config;
mod exporter;
mod membership;
mod request;
pub mod resolver;
pub mod routing;
mod split;

use std::sync::Arc;

use weir_api::{
    BuildContext, BuildError, BuiltExporter, ComponentProblem, ExporterFactory, ExporterSettings,
    FactoryInfo, Signal, Stability, Value,
};

pub use config::{Config, RoutingKey};
pub use exporter::LoadBalancingExporter;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExporterFactory> {
    Arc::new(LoadBalancingExporterFactory)
}

pub struct LoadBalancingExporterFactory;

impl ExporterFactory for LoadBalancingExporterFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "loadbalancing",
            aliases: &["load_balancing"],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Beta,
            description: "Routes data by trace id, service, resource, metric or stream to a tier of OTLP backends.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<Config>(config)
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        let config: Config = weir_api::config::parse_valid(config)?;
        let settings = ExporterSettings {
            timeout: config.stack_timeout(),
            retry: config.stack_retry(),
            queue: config.stack_queue(),
        };
        let exporter = LoadBalancingExporter::new(&ctx, config).map_err(BuildError)?;
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            settings,
        })
    }
}

#[cfg(test)]
mod tests;
