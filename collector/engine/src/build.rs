//! Build: turn a validated configuration into components and the wiring between them,
//! without spawning a task or opening a socket (that is `run`'s job).
//!
//! One receiver instance per id, fanning out to every pipeline that lists it; processors
//! built once per pipeline; one exporter instance per id, with a queue per signal fed by
//! every pipeline that lists it. Components that no pipeline uses are not built.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use weir_api::telemetry::Telemetry;
use weir_api::{
    Admission, BuildContext, ComponentId, Consumer, Extension, Kind, ProcessorBuildContext,
    Receiver, ReceiverOutput, Registry, Signal,
};
use weir_config::Config;

use crate::exporter::ExporterRuntime;
use crate::fanout::Fanout;
use crate::pipeline::{PipelineRuntime, Stage, CHANNEL_CAPACITY};

/// What a receiver's fan-out for one signal feeds: the pipelines' channels and the
/// admission gates of their processors.
#[derive(Default)]
struct Targets {
    senders: Vec<mpsc::Sender<weir_api::Batch>>,
    gates: Vec<Arc<dyn Admission>>,
}

/// Everything `run` needs.
pub struct Graph {
    pub receivers: Vec<(ComponentId, Box<dyn Receiver>, ReceiverOutput)>,
    pub pipelines: Vec<PipelineRuntime>,
    pub exporters: Vec<ExporterRuntime>,
    pub extensions: Vec<(ComponentId, Box<dyn Extension>)>,
    pub telemetry: Telemetry,
    pub metrics_address: Option<String>,
}

fn section<'a>(config: &'a Config, kind: Kind, id: &ComponentId) -> &'a weir_api::Value {
    static NULL: weir_api::Value = weir_api::Value::Null;
    config.component(kind, id).unwrap_or(&NULL)
}

/// Builds every component the pipelines use. Errors name the component.
pub fn build(
    config: &Config,
    registry: &Registry,
    telemetry: Telemetry,
) -> Result<Graph, Vec<String>> {
    let mut errors = Vec::new();

    // Exporters, one per id.
    let mut exporters: BTreeMap<ComponentId, ExporterRuntime> = BTreeMap::new();
    for (_, pipeline) in &config.service.pipelines {
        for id in &pipeline.exporters {
            if exporters.contains_key(id) {
                continue;
            }
            let Some(factory) = registry.exporter(id.type_name()) else {
                errors.push(format!("exporter `{id}`: unknown type"));
                continue;
            };
            let ctx = BuildContext {
                id: id.clone(),
                telemetry: telemetry.clone(),
            };
            match factory.build(ctx, section(config, Kind::Exporter, id)) {
                Ok(built) => {
                    exporters.insert(
                        id.clone(),
                        ExporterRuntime::new(id.to_string(), built.exporter, built.settings),
                    );
                }
                Err(err) => errors.push(format!("exporter `{id}`: {err}")),
            }
        }
    }

    // Pipelines, each with its own processors and channel.
    let mut pipelines = Vec::new();
    let mut receiver_targets: BTreeMap<ComponentId, BTreeMap<Signal, Targets>> = BTreeMap::new();
    for (pipeline_id, pipeline) in &config.service.pipelines {
        let signal = pipeline_id.signal();
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let mut stages = Vec::new();
        for id in &pipeline.processors {
            let Some(factory) = registry.processor(id.type_name()) else {
                errors.push(format!("processor `{id}`: unknown type"));
                continue;
            };
            let ctx = ProcessorBuildContext {
                id: id.clone(),
                pipeline: pipeline_id.clone(),
                signal,
                telemetry: telemetry.clone(),
            };
            match factory.build(ctx, section(config, Kind::Processor, id)) {
                Ok(processor) => stages.push(Stage {
                    processor,
                    counters: telemetry.processor(
                        &id.to_string(),
                        &pipeline_id.to_string(),
                        signal,
                    ),
                }),
                Err(err) => errors.push(format!(
                    "processor `{id}` in pipeline `{pipeline_id}`: {err}"
                )),
            }
        }
        let mut inputs = Vec::new();
        for id in &pipeline.exporters {
            if let Some(runtime) = exporters.get_mut(id) {
                inputs.push(runtime.input(signal, &telemetry));
            }
        }
        let gates: Vec<Arc<dyn Admission>> = stages
            .iter()
            .filter_map(|stage| stage.processor.admission())
            .collect();
        for id in &pipeline.receivers {
            let targets = receiver_targets
                .entry(id.clone())
                .or_default()
                .entry(signal)
                .or_default();
            targets.senders.push(tx.clone());
            targets.gates.extend(gates.iter().cloned());
        }
        pipelines.push(PipelineRuntime {
            id: pipeline_id.clone(),
            input: rx,
            stages,
            exporters: inputs,
        });
    }

    // Receivers, one per id, with a fan-out per signal.
    let mut receivers = Vec::new();
    for (id, targets) in receiver_targets {
        let Some(factory) = registry.receiver(id.type_name()) else {
            errors.push(format!("receiver `{id}`: unknown type"));
            continue;
        };
        let ctx = BuildContext {
            id: id.clone(),
            telemetry: telemetry.clone(),
        };
        match factory.build(ctx, section(config, Kind::Receiver, &id)) {
            Ok(receiver) => {
                let consumers = targets.into_iter().map(|(signal, targets)| {
                    let fanout = Fanout::new(targets.senders, targets.gates);
                    (signal, Arc::new(fanout) as Arc<dyn Consumer>)
                });
                let output = ReceiverOutput::new(id.clone(), telemetry.clone(), consumers);
                receivers.push((id, receiver, output));
            }
            Err(err) => errors.push(format!("receiver `{id}`: {err}")),
        }
    }

    // Extensions, in service.extensions order.
    let mut extensions = Vec::new();
    for id in &config.service.extensions {
        let Some(factory) = registry.extension(id.type_name()) else {
            errors.push(format!("extension `{id}`: unknown type"));
            continue;
        };
        let ctx = BuildContext {
            id: id.clone(),
            telemetry: telemetry.clone(),
        };
        match factory.build(ctx, section(config, Kind::Extension, id)) {
            Ok(extension) => extensions.push((id.clone(), extension)),
            Err(err) => errors.push(format!("extension `{id}`: {err}")),
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Graph {
        receivers,
        pipelines,
        exporters: exporters.into_values().collect(),
        extensions,
        telemetry,
        metrics_address: config.service.telemetry.metrics_address.clone(),
    })
}
