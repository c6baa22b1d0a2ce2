//! The JSON snapshot: the graph the config describes, numbers read from the counters,
//! rates from two readings, READMEs from the published component list.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::Value as Json;
use weir_api::telemetry::{ComponentDoc, Telemetry};
use weir_api::{Kind, Signal, Stability};
use weir_config::{Config, LoadOptions, Source};

use super::*;

const CONFIG: &str = r#"
receivers:
  otlp:
  statsd:
processors:
  batch:
  filter/drop:
exporters:
  otlp/eu:
    endpoint: 127.0.0.1:1
  debug:
connectors:
  forward:
extensions:
  health_check:
service:
  extensions: [health_check]
  pipelines:
    traces/in:
      receivers: [otlp]
      processors: [filter/drop, batch]
      exporters: [otlp/eu, forward]
    traces/out:
      receivers: [forward]
      processors: [batch]
      exporters: [debug]
    metrics:
      receivers: [otlp, statsd]
      exporters: [debug]
"#;

fn config() -> Config {
    let sources = [Source {
        name: "test.yaml".into(),
        text: CONFIG.into(),
    }];
    let options = LoadOptions {
        sets: &[],
        env: &|_| None,
    };
    weir_config::load(&sources, &options).expect("config loads")
}

fn get(view: &EngineView, path: &str) -> Json {
    serde_json::from_str(&view.get(path).expect("served").body).expect("json")
}

fn node<'a>(doc: &'a Json, id: &str) -> &'a Json {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("node {id} in {doc}"))
}

#[test]
fn the_graph_has_every_component_of_the_config() {
    let graph = Graph::of(&config());
    let ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "receiver:otlp",
            "processor:traces/in:filter/drop",
            "processor:traces/in:batch",
            "exporter:otlp/eu",
            "connector:forward",
            "processor:traces/out:batch",
            "exporter:debug",
            "receiver:statsd",
            "extension:health_check",
        ]
    );
    let edges: Vec<(&str, &str)> = graph
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert!(edges.contains(&("receiver:otlp", "processor:traces/in:filter/drop")));
    assert!(edges.contains(&("processor:traces/in:batch", "connector:forward")));
    assert!(edges.contains(&("connector:forward", "processor:traces/out:batch")));
    // No processors: receivers feed the exporters directly.
    assert!(edges.contains(&("receiver:statsd", "exporter:debug")));
    let otlp = graph.node("receiver:otlp").unwrap();
    assert_eq!(otlp.signals, ["traces", "metrics"]);
}

#[test]
fn numbers_come_from_the_counters_and_rates_from_two_readings() {
    let telemetry = Telemetry::new();
    let view = EngineView::new(Graph::of(&config()), telemetry.clone());
    let receiver = telemetry.receiver("otlp", "grpc");
    receiver.signal(Signal::Traces).accepted.inc_by(100);
    receiver.signal(Signal::Metrics).accepted.inc_by(5);
    receiver.signal(Signal::Traces).refused.inc_by(3);
    let filter = telemetry.processor("filter/drop", "traces/in", Signal::Traces);
    filter.incoming.inc_by(100);
    filter.outgoing.inc_by(90);
    telemetry
        .dropped("filter/drop", Signal::Traces, "filtered")
        .inc_by(10);
    // Another pipeline's signal is not this node's.
    telemetry
        .dropped("filter/drop", Signal::Logs, "filtered")
        .inc_by(1);
    let exporter = telemetry.exporter("otlp/eu", Signal::Traces);
    exporter.queue_size.set(7);
    exporter.queue_capacity.set(10);
    exporter.send_failed.inc_by(4);
    exporter.retries.inc_by(2);
    telemetry
        .pressure()
        .lane("otlp/eu traces")
        .set_fill(7, 10, 0, 100);

    let first = get(&view, "/api/v1/pipeline");
    assert_eq!(first["version"], 1);
    assert_eq!(first["rate_window_seconds"], Json::Null);
    let otlp = node(&first, "receiver:otlp");
    assert_eq!(otlp["stats"]["items_in"]["total"], 105.0);
    assert_eq!(otlp["stats"]["items_in"]["per_second"], Json::Null);
    assert_eq!(otlp["stats"]["refused"]["total"], 3.0);
    let filter_node = node(&first, "processor:traces/in:filter/drop");
    assert_eq!(filter_node["pipeline"], "traces/in");
    assert_eq!(filter_node["stats"]["items_out"]["total"], 90.0);
    assert_eq!(filter_node["stats"]["dropped"]["filtered"], 10.0);
    let eu = node(&first, "exporter:otlp/eu");
    assert_eq!(eu["stats"]["queue"]["size"], 7.0);
    assert_eq!(eu["stats"]["queue"]["capacity"], 10.0);
    assert_eq!(eu["stats"]["queue"]["fill_percent"], 70.0);
    assert_eq!(eu["stats"]["failed"]["total"], 4.0);
    assert_eq!(eu["stats"]["retries"]["total"], 2.0);
    // Edges carry the source's output for the edge's signal.
    let edge = first["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["from"] == "receiver:otlp" && e["signal"] == "metrics")
        .unwrap();
    assert_eq!(edge["items"]["total"], 5.0);

    std::thread::sleep(std::time::Duration::from_millis(600));
    receiver.signal(Signal::Traces).accepted.inc_by(60);
    let second = get(&view, "/api/v1/pipeline");
    let window = second["rate_window_seconds"].as_f64().unwrap();
    assert!(window >= 0.5, "{window}");
    let rate = node(&second, "receiver:otlp")["stats"]["items_in"]["per_second"]
        .as_f64()
        .unwrap();
    assert!((rate - 60.0 / window).abs() < 1e-6, "{rate} over {window}");
    let idle = node(&second, "processor:traces/in:batch")["stats"]["items_in"]["per_second"]
        .as_f64()
        .unwrap();
    assert_eq!(idle, 0.0);
}

#[test]
fn nodes_link_their_readme_and_components_are_listed() {
    let telemetry = Telemetry::new();
    telemetry.publish_component_docs(vec![ComponentDoc {
        kind: Kind::Exporter,
        type_name: "otlp".into(),
        aliases: vec!["otlp_grpc".into()],
        signals: vec!["traces".into()],
        stability: Stability::Beta,
        description: "OTLP over gRPC".into(),
        readme: Some("components/otlp_exporter/README.md".into()),
    }]);
    publish(&config(), &telemetry);
    let view = telemetry.pipeline_view().expect("published");
    let doc: Json = serde_json::from_str(&view.get("/api/v1/pipeline").unwrap().body).unwrap();
    assert_eq!(
        node(&doc, "exporter:otlp/eu")["readme"],
        "components/otlp_exporter/README.md"
    );
    // Same type name, other kind: not this README.
    assert_eq!(node(&doc, "receiver:otlp")["readme"], Json::Null);
    let components: Json =
        serde_json::from_str(&view.get("/api/v1/components").unwrap().body).unwrap();
    assert_eq!(components[0]["type"], "otlp");
    assert_eq!(components[0]["kind"], "exporter");
    let page = view.get("/").unwrap();
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("/api/v1/pipeline"));
    assert!(view.get("/nope").is_none());
    let _: Arc<dyn weir_api::telemetry::PipelineView> =
        Arc::new(EngineView::new(Graph::default(), telemetry.clone()));
}

#[test]
fn the_memory_budget_is_reported() {
    let telemetry = Telemetry::new();
    weir_api::budget::configure(&telemetry, 1000, 2000, std::time::Duration::from_secs(1));
    let view = EngineView::new(Graph::of(&config()), telemetry.clone());
    let doc = get(&view, "/api/v1/pipeline");
    assert_eq!(doc["memory_budget"]["soft_limit_bytes"], 1000);
    assert_eq!(doc["memory_budget"]["hard_limit_bytes"], 2000);
    assert_eq!(doc["memory_budget"]["use_percent"], 0.0);
}
