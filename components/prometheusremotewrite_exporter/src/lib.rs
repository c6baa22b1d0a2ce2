//! `prometheusremotewrite` (alias `prometheus_remote_write`): OTLP metrics to a
//! Prometheus remote-write 1.0 endpoint, or 2.0 with
//! `protobuf_message: io.prometheus.write.v2.Request` ([`v2`]).
//!
//! The path of a batch: [`convert`] maps OTLP to series (names and labels by [`naming`]
//! and [`attributes`], exponential histograms by [`native`], delta temporality by
//! [`delta`]); [`request`] packs the series into size-bounded `WriteRequest`s;
//! [`exporter`] does all that once per batch (`prepare`) and hands each shard's part to
//! an ordered [`lane`], which sends it with [`client`] and retries it in place. The
//! engine around the exporter owns the queue (bounded in bytes) and decides when to give
//! a batch up; the lanes own order, per-request timeouts and retries. See README.md for
//! the reasons.

pub mod attributes;
pub mod client;
pub mod config;
pub mod convert;
pub mod delta;
pub mod exporter;
pub mod lane;
pub mod naming;
pub mod native;
pub mod request;
#[cfg(test)]
mod test_support;
pub mod v2;

use std::sync::Arc;

use weir_api::{
    BuildContext, BuildError, BuiltExporter, ComponentProblem, ExporterFactory, ExporterSettings,
    FactoryInfo, Signal, Stability, Value,
};

use crate::config::{Config, Resolved};

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ExporterFactory> {
    Arc::new(Factory)
}

pub struct Factory;

impl ExporterFactory for Factory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "prometheusremotewrite",
            aliases: &["prometheus_remote_write"],
            signals: &[Signal::Metrics],
            stability: Stability::Beta,
            description: "Sends metrics to a Prometheus remote-write 1.0 or 2.0 endpoint",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        match Config::resolve(config) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError> {
        let resolved = Config::resolve(config).map_err(|problems| {
            BuildError(
                problems
                    .iter()
                    .map(|p| format!("{}: {}", p.path.join("."), p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let client = client::Client::new(&resolved)
            .map_err(BuildError)?
            .with_auth(weir_api::auth::ClientAuth::new(
                resolved.config.auth.as_ref(),
                &ctx.telemetry,
            ));
        let settings = ExporterSettings {
            // The lanes bound each POST by `timeout`; the engine's wait for a whole
            // batch is not bounded, since it includes the batches ahead on its lanes.
            timeout: std::time::Duration::ZERO,
            retry: resolved.config.retry_on_failure.clone(),
            queue: resolved.queue(),
        };
        let exporter =
            exporter::RemoteWriteExporter::new(options(&ctx, &resolved), client, &ctx.telemetry);
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            settings,
        })
    }
}

fn options(ctx: &BuildContext, resolved: &Resolved) -> exporter::Options {
    let c = &resolved.config;
    let mut settings = convert::Settings::new(resolved.strategy, &c.namespace);
    settings.external_labels = c
        .external_labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    settings.resource_to_telemetry = c.resource_to_telemetry_conversion.enabled;
    settings.exclude_service_attributes = c
        .resource_to_telemetry_conversion
        .exclude_service_attributes;
    settings.target_info = c.target_info.enabled;
    let v2 = c.protobuf_message.as_deref() == Some(v2::MESSAGE);
    // 2.0 carries start timestamps instead of `_created` series.
    settings.export_created = c.export_created_metric.enabled && !v2;
    settings.v2 = v2;
    settings.send_metadata = c.send_metadata;
    settings.scope_labels = !c.disable_scope_info;
    exporter::Options {
        id: ctx.id.to_string(),
        settings,
        max_bytes: c.max_batch_size_bytes,
        shards: resolved.shards(),
        max_streams: c.delta_to_cumulative.max_streams,
        max_stale: c.delta_to_cumulative.max_stale,
        max_series: c.ordering.max_series,
        max_idle: c.ordering.max_idle,
        timeout: resolved.timeout,
        retry: c.retry_on_failure.clone(),
        v2,
    }
}
