//! The live pipeline page: what the engine publishes through `Telemetry` at build time
//! so the self-metrics endpoint (at `/`) and the `zpages` extension (at
//! `/debug/pipelinez`) can serve it without either knowing the other.
//!
//! - `/`: the page, one HTML file with its CSS and JS (`index.html`, embedded in the
//!   binary; nothing is fetched from elsewhere). It draws the graph in SVG and polls
//!   the JSON every second.
//! - `/api/v1/pipeline`: the graph with live numbers ([`live::Snapshot`]; documented in
//!   the engine's README).
//! - `/api/v1/components`: the components this build knows, with their README.

mod graph;
mod live;
mod samples;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use weir_api::telemetry::{ComponentDoc, PipelineView, Telemetry, ViewResponse};
use weir_config::Config;

pub use graph::Graph;

const PAGE: &str = include_str!("index.html");
const JSON: &str = "application/json";

/// The view the engine publishes.
pub struct EngineView {
    graph: Graph,
    telemetry: Telemetry,
    history: live::History,
    started: Instant,
}

impl EngineView {
    pub fn new(graph: Graph, telemetry: Telemetry) -> Self {
        Self {
            graph,
            telemetry,
            history: live::History::default(),
            started: Instant::now(),
        }
    }

    /// `GET /api/v1/pipeline`.
    pub fn pipeline_json(&self) -> String {
        let snapshot = live::snapshot(&self.graph, &self.telemetry, &self.history, self.started);
        serde_json::to_string(&snapshot).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Publishes the view of `config`'s pipelines on `telemetry`.
pub fn publish(config: &Config, telemetry: &Telemetry) {
    let view = EngineView::new(Graph::of(config), telemetry.clone());
    telemetry.publish_view(Arc::new(view));
}

#[derive(Serialize)]
struct Doc<'a> {
    kind: &'static str,
    #[serde(rename = "type")]
    type_name: &'a str,
    aliases: &'a [String],
    signals: &'a [String],
    stability: &'static str,
    description: &'a str,
    readme: Option<&'a str>,
}

fn components_json(docs: &[ComponentDoc]) -> String {
    let docs: Vec<Doc<'_>> = docs
        .iter()
        .map(|d| Doc {
            kind: d.kind.as_str(),
            type_name: &d.type_name,
            aliases: &d.aliases,
            signals: &d.signals,
            stability: d.stability.as_str(),
            description: &d.description,
            readme: d.readme.as_deref(),
        })
        .collect();
    serde_json::to_string(&docs).unwrap_or_else(|_| "[]".into())
}

impl PipelineView for EngineView {
    fn get(&self, path: &str) -> Option<ViewResponse> {
        let (content_type, body) = match path {
            "/" | "/index.html" => ("text/html; charset=utf-8", PAGE.to_string()),
            "/api/v1/pipeline" => (JSON, self.pipeline_json()),
            "/api/v1/components" => (JSON, components_json(&self.telemetry.component_docs())),
            _ => return None,
        };
        Some(ViewResponse { content_type, body })
    }
}

#[cfg(test)]
mod tests;
