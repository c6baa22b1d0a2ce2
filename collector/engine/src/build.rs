//! Build: turn a validated configuration into components and the wiring between them,
//! without spawning a task or opening a socket (that is `run`'s job).
//!
//! The pipelines form a graph: a connector is an exporter of some pipelines and a
//! receiver of others. Build makes, in order:
//! - one exporter instance per id, with a queue per signal fed by every pipeline that
//!   lists it;
//! - every pipeline's channel;
//! - one connector instance per connector id and (upstream, downstream) signal pair,
//!   holding the channels of the pipelines it feeds;
//! - each pipeline's processors (built once per pipeline) and outputs (exporter inputs
//!   and connector channels);
//! - one receiver instance per id, fanning out to every pipeline that lists it.
//!
//! and gives every pipeline and connector its level in the graph, the order `run` drains
//! them in. Components that no pipeline uses are not built.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::mpsc;
use weir_api::telemetry::Telemetry;
use weir_api::{
    Admission, BuildContext, ComponentId, ConnectorBuildContext, Consumer, Extension, Kind,
    PipelineId, ProcessorBuildContext, Receiver, ReceiverOutput, Registry, Signal,
};
use weir_config::Config;

use crate::connector::ConnectorRuntime;
use crate::exporter::ExporterRuntime;
use crate::fanout::Fanout;
use crate::pipeline::{Output, PipelineRuntime, Stage, CHANNEL_CAPACITY};

/// What a receiver's fan-out for one signal feeds: the pipelines' channels and the
/// admission gates of their processors.
#[derive(Default)]
struct Targets {
    senders: Vec<mpsc::Sender<weir_api::Batch>>,
    gates: Vec<Arc<dyn Admission>>,
    /// A pipeline fed ends in a persistent queue: the receiver answers once on disk.
    acknowledged: bool,
}

/// Everything `run` needs.
pub struct Graph {
    pub receivers: Vec<(ComponentId, Box<dyn Receiver>, ReceiverOutput)>,
    pub pipelines: Vec<PipelineRuntime>,
    pub connectors: Vec<ConnectorRuntime>,
    pub exporters: Vec<ExporterRuntime>,
    pub extensions: Vec<(ComponentId, Box<dyn Extension>)>,
    pub telemetry: Telemetry,
    pub metrics_address: Option<String>,
}

fn section<'a>(config: &'a Config, kind: Kind, id: &ComponentId) -> &'a weir_api::Value {
    static NULL: weir_api::Value = weir_api::Value::Null;
    config.component(kind, id).unwrap_or(&NULL)
}

fn is_connector(config: &Config, id: &ComponentId) -> bool {
    config.component(Kind::Connector, id).is_some()
}

/// Each pipeline's level: 0 when no connector feeds it, else one more than the deepest
/// pipeline upstream of its connectors. `Err` names a pipeline on a cycle (validation
/// refuses cycles first; this guards the engine on its own).
pub fn levels(config: &Config) -> Result<BTreeMap<PipelineId, usize>, String> {
    let pipelines = &config.service.pipelines;
    let upstream = |pipe: &PipelineId| -> Vec<PipelineId> {
        let Some(p) = pipelines.iter().find(|(id, _)| id == pipe).map(|(_, p)| p) else {
            return Vec::new();
        };
        p.receivers
            .iter()
            .filter(|r| is_connector(config, r))
            .flat_map(|c| {
                pipelines
                    .iter()
                    .filter(move |(_, up)| up.exporters.contains(c))
                    .map(|(id, _)| id.clone())
            })
            .collect()
    };
    let mut levels: BTreeMap<PipelineId, usize> = BTreeMap::new();
    // Longest-path relaxation: with n pipelines, a graph without cycles settles within n
    // rounds; still changing after that means a cycle.
    for _ in 0..=pipelines.len() {
        let mut changed = false;
        for (id, _) in pipelines {
            let level = upstream(id)
                .iter()
                .map(|up| levels.get(up).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            if levels.insert(id.clone(), level) != Some(level) {
                changed = true;
            }
        }
        if !changed {
            return Ok(levels);
        }
    }
    let on_cycle = levels
        .iter()
        .max_by_key(|(_, level)| **level)
        .map(|(id, _)| id.to_string())
        .unwrap_or_default();
    Err(format!(
        "the pipelines form a cycle through connectors (pipeline `{on_cycle}` is on it)"
    ))
}

/// Builds every component the pipelines use. Errors name the component.
pub fn build(
    config: &Config,
    registry: &Registry,
    telemetry: Telemetry,
) -> Result<Graph, Vec<String>> {
    let mut errors = Vec::new();
    let levels = levels(config).map_err(|e| vec![e])?;

    // Exporters, one per id.
    let mut exporters: BTreeMap<ComponentId, ExporterRuntime> = BTreeMap::new();
    for (_, pipeline) in &config.service.pipelines {
        for id in &pipeline.exporters {
            if exporters.contains_key(id) || is_connector(config, id) {
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

    // Every pipeline's channel.
    let mut channels: BTreeMap<
        PipelineId,
        (
            mpsc::Sender<weir_api::Batch>,
            mpsc::Receiver<weir_api::Batch>,
        ),
    > = BTreeMap::new();
    for (pipeline_id, _) in &config.service.pipelines {
        channels.insert(pipeline_id.clone(), mpsc::channel(CHANNEL_CAPACITY));
    }

    // Connectors: one instance per id and signal pair; upstream senders by (id, signal).
    let mut connectors = Vec::new();
    let mut connector_inputs: BTreeMap<(ComponentId, Signal), Vec<mpsc::Sender<weir_api::Batch>>> =
        BTreeMap::new();
    let connector_ids: BTreeSet<&ComponentId> = config
        .service
        .pipelines
        .iter()
        .flat_map(|(_, p)| p.exporters.iter())
        .filter(|id| is_connector(config, id))
        .collect();
    for id in connector_ids {
        let Some(factory) = registry.connector(id.type_name()) else {
            errors.push(format!("connector `{id}`: unknown type"));
            continue;
        };
        let uses = |role_is_exporter: bool| -> Vec<&PipelineId> {
            config
                .service
                .pipelines
                .iter()
                .filter(|(_, p)| {
                    if role_is_exporter {
                        p.exporters.contains(id)
                    } else {
                        p.receivers.contains(id)
                    }
                })
                .map(|(pid, _)| pid)
                .collect()
        };
        let upstream = uses(true);
        let downstream = uses(false);
        let from_signals: BTreeSet<Signal> = upstream.iter().map(|p| p.signal()).collect();
        let to_signals: BTreeSet<Signal> = downstream.iter().map(|p| p.signal()).collect();
        for &from in &from_signals {
            for &to in &to_signals {
                if !factory.pairs().contains(&(from, to)) {
                    continue;
                }
                let targets: Vec<PipelineId> = downstream
                    .iter()
                    .filter(|p| p.signal() == to)
                    .map(|p| (*p).clone())
                    .collect();
                let ctx = ConnectorBuildContext {
                    id: id.clone(),
                    from,
                    to,
                    downstream: targets.clone(),
                    telemetry: telemetry.clone(),
                };
                match factory.build(ctx, section(config, Kind::Connector, id)) {
                    Ok(connector) => {
                        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
                        connector_inputs
                            .entry((id.clone(), from))
                            .or_default()
                            .push(tx);
                        let level = upstream
                            .iter()
                            .filter(|p| p.signal() == from)
                            .filter_map(|p| levels.get(*p).copied())
                            .max()
                            .unwrap_or(0);
                        connectors.push(ConnectorRuntime {
                            id: id.clone(),
                            from,
                            to,
                            connector,
                            input: rx,
                            downstream: targets
                                .iter()
                                .filter_map(|p| {
                                    channels.get(p).map(|(tx, _)| (p.clone(), tx.clone()))
                                })
                                .collect(),
                            level,
                        });
                    }
                    Err(err) => errors.push(format!("connector `{id}` ({from} -> {to}): {err}")),
                }
            }
        }
    }

    // Pipelines that end in a persistent queue (directly or through connectors).
    let persistent_exporters: BTreeSet<ComponentId> = exporters
        .iter()
        .filter(|(_, runtime)| runtime.is_persistent())
        .map(|(id, _)| id.clone())
        .collect();
    let persistent = crate::exporter::graph::persistent_pipelines(config, &persistent_exporters);

    // Pipelines, each with its own processors and outputs.
    let mut pipelines = Vec::new();
    let mut receiver_targets: BTreeMap<ComponentId, BTreeMap<Signal, Targets>> = BTreeMap::new();
    for (pipeline_id, pipeline) in &config.service.pipelines {
        let signal = pipeline_id.signal();
        let Some((tx, rx)) = channels.remove(pipeline_id) else {
            continue;
        };
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
        let mut outputs = Vec::new();
        for id in &pipeline.exporters {
            if let Some(runtime) = exporters.get_mut(id) {
                outputs.push(Output::Exporter(runtime.input(signal, &telemetry)));
            } else if let Some(senders) = connector_inputs.get(&(id.clone(), signal)) {
                outputs.extend(senders.iter().map(|tx| Output::Connector {
                    id: id.clone(),
                    tx: tx.clone(),
                }));
            }
        }
        let gates: Vec<Arc<dyn Admission>> = stages
            .iter()
            .filter_map(|stage| stage.processor.admission())
            .collect();
        for id in pipeline
            .receivers
            .iter()
            .filter(|r| !is_connector(config, r))
        {
            let targets = receiver_targets
                .entry(id.clone())
                .or_default()
                .entry(signal)
                .or_default();
            targets.senders.push(tx.clone());
            targets.gates.extend(gates.iter().cloned());
            targets.acknowledged |= persistent.contains(pipeline_id);
        }
        pipelines.push(PipelineRuntime {
            id: pipeline_id.clone(),
            input: rx,
            stages,
            outputs,
            level: levels.get(pipeline_id).copied().unwrap_or(0),
        });
    }
    // Only the pipelines and connectors hold connector senders now: a connector's input
    // closes when its last upstream pipeline finishes.
    drop(connector_inputs);

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
                let acknowledged: Vec<Signal> = targets
                    .iter()
                    .filter(|(_, t)| t.acknowledged)
                    .map(|(signal, _)| *signal)
                    .collect();
                let consumers = targets.into_iter().map(|(signal, targets)| {
                    let fanout = Fanout::new(targets.senders, targets.gates);
                    (signal, Arc::new(fanout) as Arc<dyn Consumer>)
                });
                let output = acknowledged.into_iter().fold(
                    ReceiverOutput::new(id.clone(), telemetry.clone(), consumers),
                    ReceiverOutput::acknowledging,
                );
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
    // Persistent queues get the storage their `sending_queue.storage` names.
    for runtime in exporters.values_mut() {
        let Some(name) = runtime.storage_name().map(str::to_string) else {
            continue;
        };
        match extensions.iter().find(|(id, _)| id.to_string() == name) {
            Some((_, extension)) => match extension.storage() {
                Some(storage) => runtime.use_storage(storage),
                None => errors.push(format!(
                    "exporter `{}`: sending_queue.storage names `{name}`, which is not a \
                     storage extension",
                    runtime.id()
                )),
            },
            None => errors.push(format!(
                "exporter `{}`: sending_queue.storage names `{name}`, which is not an \
                 enabled extension (declare it under `extensions` and list it in \
                 `service.extensions`)",
                runtime.id()
            )),
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    // The pipeline page's graph, served at `/` of the self-metrics and by `zpages`.
    crate::page::publish(config, &telemetry);
    // No memory_limiter set the budget: memory is bounded by default all the same.
    if !telemetry.memory_budget().is_limited() {
        let (soft, hard) =
            weir_api::budget::default_limits(weir_api::budget::available_memory_bytes());
        weir_api::budget::configure(&telemetry, soft, hard, std::time::Duration::from_secs(1));
        tracing::debug!(
            soft_mib = soft >> 20,
            hard_mib = hard >> 20,
            "no memory_limiter: the default memory budget applies"
        );
    }
    Ok(Graph {
        receivers,
        pipelines,
        connectors,
        exporters: exporters.into_values().collect(),
        extensions,
        telemetry,
        metrics_address: config.service.telemetry.metrics_address.clone(),
    })
}
