//! The `resourcedetection` processor: detects where Weir runs (host, OS, Docker host,
//! Kubernetes node and pod) once, when it is built, and sets those resource attributes
//! on every resource of every batch. Keys and behaviour follow the Collector contrib's
//! `resourcedetectionprocessor`; detectors that need a cloud metadata service are
//! refused at validation (see `config.rs`). See README.md.
//!
//! A detector that fails (an unreadable hostname, a malformed
//! `OTEL_RESOURCE_ATTRIBUTES`, no node-name variable for `k8snode`) stops Weir at start
//! with the detector's error, as a failing detection fails the Collector's processor
//! `Start`. An unreachable Docker daemon is a warning unless `fail_on_missing_metadata`
//! is true, as in the Collector.

pub mod config;
pub mod detect;
mod processor;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use weir_api::{
    BuildError, ComponentProblem, FactoryInfo, Processor, ProcessorBuildContext, ProcessorFactory,
    Signal, Stability, Value,
};

pub use config::ResourceDetectionConfig;
pub use processor::ResourceDetectionProcessor;

use detect::{Attributes, Lookup};

/// The component type name in configuration.
pub const TYPE_NAME: &str = "resourcedetection";

/// Builds `resourcedetection` processors. Detection runs once per processor id, however
/// many pipelines use it (as the Collector shares one provider per id): the result is
/// kept here.
#[derive(Debug, Default)]
pub struct ResourceDetectionFactory {
    detected: Mutex<HashMap<String, Arc<Detected>>>,
}

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ProcessorFactory> {
    Arc::new(ResourceDetectionFactory::default())
}

impl ProcessorFactory for ResourceDetectionFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: TYPE_NAME,
            // The Collector's newest name; `resourcedetection` is its deprecated alias.
            aliases: &["resource_detection"],
            signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
            stability: Stability::Beta,
            description:
                "Sets host, OS, Docker and Kubernetes resource attributes detected at start.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        weir_api::config::check_valid::<ResourceDetectionConfig>(config)
    }

    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError> {
        let config: ResourceDetectionConfig = weir_api::config::parse_valid(config)?;
        let id = ctx.id.to_string();
        let mut cache = self
            .detected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let detected = match cache.get(&id) {
            Some(detected) => detected.clone(),
            None => {
                let lookup = |name: &str| std::env::var(name).ok();
                let detected = detect_all(&config, &lookup, Path::new(detect::docker::SOCKET))
                    .map_err(|err| BuildError(format!("{id}: {err}")))?;
                for warning in &detected.warnings {
                    tracing::warn!(processor = %id, "resourcedetection: {warning}");
                }
                tracing::info!(processor = %id, attributes = ?detected.attributes,
                    "resourcedetection: detected resource attributes");
                let detected = Arc::new(detected);
                cache.insert(id, detected.clone());
                detected
            }
        };
        Ok(Box::new(ResourceDetectionProcessor::new(
            detected.attributes.clone(),
            config.override_,
        )))
    }
}

/// What detection found.
#[derive(Debug, Default, PartialEq)]
pub struct Detected {
    /// Merged in detector order: the first detector to find an attribute wins.
    pub attributes: Attributes,
    /// Attributes asked for that could not be detected.
    pub warnings: Vec<String>,
}

/// Runs the configured detectors, in order.
pub fn detect_all(
    config: &ResourceDetectionConfig,
    lookup: Lookup<'_>,
    docker_socket: &Path,
) -> Result<Detected, String> {
    let mut out = Detected::default();
    for name in &config.detectors {
        let (found, warnings) = match name.as_str() {
            "env" => (detect::env::detect(lookup)?, Vec::new()),
            "system" => detect::system::detect(&config.system).map_err(|e| format!("system detector: {e}"))?,
            "docker" => match detect::docker::detect(&config.docker, docker_socket, config.timeout) {
                Ok(found) => (found, Vec::new()),
                Err(e) if config.fail_on_missing_metadata => {
                    return Err(format!(
                        "docker detector: {e} (remove `docker` from detectors when Weir does not run beside a Docker daemon)"
                    ))
                }
                Err(e) => (Vec::new(), vec![format!("{e}; nothing detected (fail_on_missing_metadata is false)")]),
            },
            "k8snode" => detect::k8s::detect_node(&config.k8snode, lookup)
                .map_err(|e| format!("k8snode detector: {e}"))?,
            detect::k8s::DETECTOR => (detect::k8s::detect_env(&config.k8s_env, lookup), Vec::new()),
            other => return Err(format!("detector {other} is not supported")),
        };
        out.warnings.extend(
            warnings
                .into_iter()
                .map(|w| format!("{name} detector: {w}")),
        );
        for (key, value) in found {
            if !out.attributes.iter().any(|(k, _)| *k == key) {
                out.attributes.push((key, value));
            }
        }
    }
    if let Some(keep) = &config.attributes {
        out.attributes.retain(|(k, _)| keep.contains(k));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
