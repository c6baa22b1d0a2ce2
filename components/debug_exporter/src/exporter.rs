//! The exporter instance: `prepare` samples and renders each batch at the configured
//! verbosity, once; the request's `send` writes that text to Weir's log (or to
//! stdout/stderr when `use_internal_logger: false`).
//!
//! It never fails: a debug exporter that returned errors would make the engine retry
//! and count data as failed only because it was printed, so every path returns `Ok`.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use weir_api::telemetry::names::DEBUG_SAMPLED_OUT_BATCHES;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ExportError, ExportRequest, Exporter, Signal};

use crate::config::{DebugConfig, OutputSettings, Verbosity};
use crate::render::{self, Summary};
use crate::sampler::Sampler;

/// Where the text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    /// `tracing::info!`, Weir's own log with its format and level filters.
    Log,
    Stdout,
    Stderr,
}

/// Where rendered text is written: shared by the exporter and its requests.
#[derive(Debug)]
struct Writer {
    id: String,
    sinks: Vec<Sink>,
}

pub struct DebugExporter {
    writer: Arc<Writer>,
    verbosity: Verbosity,
    output: OutputSettings,
    /// Indexed like `Signal::ALL`.
    samplers: [Sampler; 3],
    /// Batches not written because of sampling, per signal (the data itself is
    /// delivered: the debug exporter's "delivery" is the attempt).
    sampled_out: [Counter; 3],
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl DebugExporter {
    pub fn new(id: String, config: &DebugConfig, telemetry: &Telemetry) -> Self {
        let sinks = if config.use_internal_logger {
            vec![Sink::Log]
        } else {
            config
                .output_paths
                .iter()
                .map(|path| {
                    if path == "stderr" {
                        Sink::Stderr
                    } else {
                        Sink::Stdout
                    }
                })
                .collect()
        };
        let sampler = || Sampler::new(config.sampling_initial, config.sampling_thereafter);
        let sampled_out = Signal::ALL.map(|signal| {
            telemetry.counter_of(&DEBUG_SAMPLED_OUT_BATCHES, &[id.as_str(), signal.as_str()])
        });
        Self {
            writer: Arc::new(Writer { id, sinks }),
            verbosity: config.verbosity,
            output: config.output.clone(),
            samplers: [sampler(), sampler(), sampler()],
            sampled_out,
        }
    }

    /// The text written for `batch` after the summary line, if the verbosity adds any.
    pub fn body(&self, batch: &Batch) -> Option<String> {
        match self.verbosity {
            Verbosity::Basic => None,
            Verbosity::Normal => Some(render::normal(batch, &self.output)),
            Verbosity::Detailed => Some(render::detailed(batch, &self.output)),
        }
    }
}

impl Writer {
    fn write(&self, summary: &Summary, body: Option<&str>) {
        for sink in &self.sinks {
            match sink {
                Sink::Log => self.log(summary, body),
                Sink::Stdout => {
                    println!("{summary}");
                    if let Some(body) = body.filter(|b| !b.is_empty()) {
                        println!("{body}");
                    }
                }
                Sink::Stderr => {
                    eprintln!("{summary}");
                    if let Some(body) = body.filter(|b| !b.is_empty()) {
                        eprintln!("{body}");
                    }
                }
            }
        }
    }

    fn log(&self, summary: &Summary, body: Option<&str>) {
        let data_type = summary.signal.as_str();
        let exporter = self.id.as_str();
        match summary.signal {
            Signal::Traces => tracing::info!(
                kind = "exporter",
                data_type,
                name = exporter,
                resource_spans = summary.resources,
                spans = summary.items,
                "{}",
                summary.title()
            ),
            Signal::Metrics => tracing::info!(
                kind = "exporter",
                data_type,
                name = exporter,
                resource_metrics = summary.resources,
                metrics = summary.metrics,
                data_points = summary.items,
                "{}",
                summary.title()
            ),
            Signal::Logs => tracing::info!(
                kind = "exporter",
                data_type,
                name = exporter,
                resource_logs = summary.resources,
                log_records = summary.items,
                "{}",
                summary.title()
            ),
        }
        if let Some(body) = body.filter(|b| !b.is_empty()) {
            tracing::info!(kind = "exporter", data_type, name = exporter, "{body}");
        }
    }
}

#[async_trait]
impl Exporter for DebugExporter {
    /// Samples, then renders the batch's text (the summary and the verbosity's body),
    /// once: the request holds only that text, not the batch.
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        let signal = batch.signal();
        let items = batch.item_count();
        if !self.samplers[index(signal)].admit(Instant::now()) {
            self.sampled_out[index(signal)].inc();
            return Ok(Box::new(DebugRequest {
                writer: self.writer.clone(),
                items,
                text: None,
            }));
        }
        let summary = Summary::of(&batch);
        let body = self.body(&batch);
        let len = summary.to_string().len() + body.as_ref().map_or(0, String::len);
        Ok(Box::new(DebugRequest {
            writer: self.writer.clone(),
            items,
            text: Some(Rendered { summary, body, len }),
        }))
    }
}

/// The text written for one batch.
#[derive(Debug)]
struct Rendered {
    summary: Summary,
    body: Option<String>,
    /// The text's length in bytes.
    len: usize,
}

/// One batch's rendered text, or nothing when sampling skipped it.
#[derive(Debug)]
struct DebugRequest {
    writer: Arc<Writer>,
    items: usize,
    text: Option<Rendered>,
}

#[async_trait]
impl ExportRequest for DebugRequest {
    fn items(&self) -> usize {
        self.items
    }

    /// The rendered text's length: all the request holds.
    fn encoded_len(&self) -> usize {
        self.text.as_ref().map_or(0, |text| text.len)
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        if let Some(text) = &self.text {
            self.writer.write(&text.summary, text.body.as_deref());
        }
        Ok(())
    }
}
