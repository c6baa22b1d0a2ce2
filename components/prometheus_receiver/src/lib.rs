//! The `prometheus` receiver: scrapes Prometheus and OpenMetrics targets and turns what
//! it reads into OTLP metrics, so Weir can replace a Prometheus agent (or the Collector's
//! prometheus receiver) in front of any OTLP or remote-write backend.
//!
//! The code path, in order:
//! - [`config`]: the Prometheus configuration subset under `config:`.
//! - [`discovery`] and [`targets`]: static and file_sd target groups, relabeled into targets.
//! - [`job`]: one task per target, scraping on its interval at a spread offset.
//! - [`scrape`]: the HTTP request and the streamed body (gunzip, size limit).
//! - [`parser`]: text 0.0.4 and OpenMetrics 1.0, line by line.
//! - [`convert`]: samples to OTLP (start times, staleness, synthetic series).
//! - [`relabel`]: Prometheus relabeling, for targets and for samples.

pub mod config;
pub mod convert;
pub mod discovery;
pub mod job;
pub mod parser;
pub mod relabel;
pub mod scrape;
pub mod targets;
mod tls;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::task::TaskTracker;
use weir_api::{
    BuildContext, BuildError, ComponentProblem, FactoryInfo, Receiver, ReceiverContext,
    ReceiverFactory, RunningComponent, Signal, Stability, StartError, Value,
};

use crate::config::ReceiverConfig;
use crate::convert::Options;
use crate::relabel::Rule;

/// The factory the registry lists.
pub fn factory() -> Arc<dyn ReceiverFactory> {
    Arc::new(PrometheusReceiverFactory)
}

pub struct PrometheusReceiverFactory;

impl ReceiverFactory for PrometheusReceiverFactory {
    fn info(&self) -> FactoryInfo {
        FactoryInfo {
            type_name: "prometheus",
            aliases: &[],
            signals: &[Signal::Metrics],
            stability: Stability::Alpha,
            description: "Scrapes Prometheus text and OpenMetrics targets (static and file_sd, relabeling) into OTLP metrics.",
        }
    }

    fn check(&self, config: &Value) -> Vec<ComponentProblem> {
        match weir_api::config::parse::<ReceiverConfig>(config) {
            Ok(parsed) => parsed.config.problems(),
            Err(problem) => vec![problem],
        }
    }

    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Receiver>, BuildError> {
        let parsed: ReceiverConfig =
            weir_api::config::parse(config).map_err(|p| BuildError(describe(&p)))?;
        if let Some(problem) = parsed.config.problems().into_iter().next() {
            return Err(BuildError(describe(&problem)));
        }
        Ok(Box::new(PrometheusReceiver {
            id: ctx.id.to_string(),
            config: parsed,
        }))
    }
}

fn describe(problem: &ComponentProblem) -> String {
    format!("{}: {}", problem.path.join("."), problem.message)
}

struct PrometheusReceiver {
    id: String,
    config: ReceiverConfig,
}

fn rules(configs: &[relabel::RelabelConfig]) -> Result<Vec<Rule>, String> {
    configs.iter().cloned().map(Rule::new).collect()
}

#[async_trait]
impl Receiver for PrometheusReceiver {
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> Result<RunningComponent, StartError> {
        let output = ctx.output.for_transport("http");
        let global = self.config.config.global.clone();
        let external_labels: Vec<(String, String)> =
            global.external_labels.clone().into_iter().collect();
        let mut jobs = Vec::new();
        for job in self.config.config.scrape_configs {
            let name = job.job_name.clone();
            let fail = |e: String| {
                StartError(format!(
                    "prometheus receiver `{}`, job `{name}`: {e}",
                    self.id
                ))
            };
            let scraper = scrape::Scraper::new(&job).map_err(fail)?;
            let options = Options {
                honor_labels: job.honor_labels,
                honor_timestamps: job.honor_timestamps,
                metric_relabel: Arc::new(rules(&job.metric_relabel_configs).map_err(fail)?),
                external_labels: external_labels.clone(),
                sample_limit: job.sample_limit,
                label_limit: job.label_limit,
                label_name_length_limit: job.label_name_length_limit,
                label_value_length_limit: job.label_value_length_limit,
                metadata: Default::default(),
            };
            jobs.push(Arc::new(job::JobContext {
                receiver: self.id.clone(),
                relabel: rules(&job.relabel_configs).map_err(fail)?,
                failures: job::failure_counters(&output, &self.id, &name),
                config: job,
                global: global.clone(),
                options,
                scraper,
                output: output.clone(),
            }));
        }
        let shutdown = ctx.shutdown;
        Ok(Box::pin(async move {
            let tracker = TaskTracker::new();
            for job in jobs {
                tracker.spawn(job::run(job, shutdown.clone()));
            }
            tracker.close();
            tracker.wait().await;
        }))
    }
}
