//! The pipeline graph as the page draws it, taken from the configuration at build time.
//!
//! Nodes are what runs: one node per receiver, exporter and connector id, and one per
//! processor *per pipeline* (the engine builds a processor once for each pipeline that
//! lists it, and counts it per pipeline). Edges follow the data: a pipeline's receivers
//! feed its first processor, each processor the next, and the last one every exporter
//! (or connector) of the pipeline. Extensions are nodes without edges.

use serde::Serialize;
use weir_api::{ComponentId, Kind, PipelineId};
use weir_config::Config;

/// One component instance on the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Unique in the graph: `receiver:otlp`, `processor:traces/a:batch`, `exporter:otlp/eu`,
    /// `connector:forward`, `extension:health_check`.
    pub id: String,
    /// `receiver`, `processor`, `exporter`, `connector` or `extension`.
    pub kind: &'static str,
    /// The component id in the configuration, e.g. `otlp/eu`.
    pub component: String,
    /// The component type, e.g. `otlp`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The pipeline a processor belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// The signals flowing through the node, e.g. `["traces", "metrics"]`.
    pub signals: Vec<String>,
}

/// Data flowing from one node to another within a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub pipeline: String,
    pub signal: String,
}

/// The graph; built once, at build time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Pipeline ids in configuration order.
    pub pipelines: Vec<String>,
}

fn is_connector(config: &Config, id: &ComponentId) -> bool {
    config.component(Kind::Connector, id).is_some()
}

/// The id of the node `id` is when listed among a pipeline's receivers or exporters.
fn end_node(config: &Config, kind: Kind, id: &ComponentId) -> String {
    if is_connector(config, id) {
        format!("connector:{id}")
    } else {
        format!("{}:{id}", kind.as_str())
    }
}

fn processor_node(pipeline: &PipelineId, id: &ComponentId) -> String {
    format!("processor:{pipeline}:{id}")
}

impl Graph {
    /// The graph of the pipelines `config` defines.
    pub fn of(config: &Config) -> Self {
        let mut graph = Graph::default();
        for (pipeline_id, pipeline) in &config.service.pipelines {
            let signal = pipeline_id.signal().as_str().to_string();
            graph.pipelines.push(pipeline_id.to_string());
            let receivers: Vec<String> = pipeline
                .receivers
                .iter()
                .map(|id| {
                    let node = end_node(config, Kind::Receiver, id);
                    let kind = if is_connector(config, id) {
                        "connector"
                    } else {
                        "receiver"
                    };
                    graph.add(&node, kind, id, None, &signal);
                    node
                })
                .collect();
            let mut previous = receivers;
            for id in &pipeline.processors {
                let node = processor_node(pipeline_id, id);
                graph.add(&node, "processor", id, Some(pipeline_id), &signal);
                graph.connect(&previous, &node, pipeline_id, &signal);
                previous = vec![node];
            }
            for id in &pipeline.exporters {
                let node = end_node(config, Kind::Exporter, id);
                let kind = if is_connector(config, id) {
                    "connector"
                } else {
                    "exporter"
                };
                graph.add(&node, kind, id, None, &signal);
                graph.connect(&previous, &node, pipeline_id, &signal);
            }
        }
        for id in &config.service.extensions {
            graph.add(&format!("extension:{id}"), "extension", id, None, "");
        }
        graph
    }

    fn add(
        &mut self,
        node: &str,
        kind: &'static str,
        id: &ComponentId,
        pipeline: Option<&PipelineId>,
        signal: &str,
    ) {
        let existing = self.nodes.iter_mut().find(|n| n.id == node);
        let entry = match existing {
            Some(entry) => entry,
            None => {
                self.nodes.push(Node {
                    id: node.to_string(),
                    kind,
                    component: id.to_string(),
                    type_name: id.type_name().to_string(),
                    pipeline: pipeline.map(|p| p.to_string()),
                    signals: Vec::new(),
                });
                let last = self.nodes.len() - 1;
                &mut self.nodes[last]
            }
        };
        if !signal.is_empty() && !entry.signals.iter().any(|s| s == signal) {
            entry.signals.push(signal.to_string());
        }
    }

    fn connect(&mut self, from: &[String], to: &str, pipeline: &PipelineId, signal: &str) {
        for from in from {
            self.edges.push(Edge {
                from: from.clone(),
                to: to.to_string(),
                pipeline: pipeline.to_string(),
                signal: signal.to_string(),
            });
        }
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}
