//! The live numbers of `GET /api/v1/pipeline`: each node's and edge's totals read from
//! the self-metrics, and rates from the difference with an earlier reading.
//!
//! Rates are computed here, not by each client, so a script gets them too: every request
//! keeps its reading for a few seconds, and the rate is taken over the oldest kept
//! reading at least half a second old (so over the last 0.5-3 s). The first request
//! after a quiet spell has no earlier reading: its rates are `null`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use weir_api::telemetry::{names, ComponentDoc, Telemetry};
use weir_api::Signal;

use super::graph::{Edge, Graph, Node};
use super::samples::Samples;

/// Readings older than this are not used for rates.
const MAX_AGE: Duration = Duration::from_secs(3);
/// A rate is taken over at least this long.
const MIN_SPAN: Duration = Duration::from_millis(500);

/// A count since start, and its rate over the last seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Counted {
    pub total: f64,
    /// `null` when there is no earlier reading yet.
    pub per_second: Option<f64>,
}

/// An exporter's sending queue, summed over its signals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Queue {
    /// In the queue's sizer units (requests by default).
    pub size: f64,
    pub capacity: f64,
    /// The fullest of the exporter's queues, 0-100, against its item and byte bounds.
    pub fill_percent: f64,
}

/// What the page shows for one node; absent fields do not apply to the node's kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Items coming in: accepted (receivers), incoming (processors), arriving on the
    /// node's edges (exporters, connectors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_in: Option<Counted>,
    /// Items going out: accepted (receivers), outgoing (processors), sent (exporters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_out: Option<Counted>,
    /// Receivers: items refused (the client was told to retry or that the data is bad).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Counted>,
    /// Receivers: requests refused before decoding, by reason (totals).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refused_requests: BTreeMap<String, f64>,
    /// Exporters: items in failed sends (permanent errors, or retries given up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Counted>,
    /// Exporters: items dropped because the sending queue was full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enqueue_failed: Option<Counted>,
    /// Exporters: export attempts retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<Counted>,
    /// Items not delivered, by reason (`weir_items_dropped_total` of the component).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<String, f64>,
    /// Processors: items held (e.g. batching).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<f64>,
    /// Receivers: items admitted and not yet released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<Queue>,
    /// Exporters: mean delivery time (first attempt to outcome), slowest signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct NodeState<'a> {
    #[serde(flatten)]
    pub node: &'a Node,
    /// The component's README in the repository, e.g. `components/otlp_receiver/README.md`.
    pub readme: Option<String>,
    pub stats: Stats,
}

#[derive(Debug, Serialize)]
pub struct EdgeState<'a> {
    #[serde(flatten)]
    pub edge: &'a Edge,
    /// Items along the edge; `null` when Weir does not count them there.
    pub items: Option<Counted>,
}

#[derive(Debug, Serialize)]
pub struct Budget {
    pub used_bytes: u64,
    /// `null` when unlimited.
    pub soft_limit_bytes: Option<u64>,
    pub hard_limit_bytes: Option<u64>,
    /// Use against the soft limit (where refusing starts), 0-100.
    pub use_percent: Option<f64>,
}

/// The document of `GET /api/v1/pipeline`.
#[derive(Debug, Serialize)]
pub struct Snapshot<'a> {
    /// The document's version; fields are only added within a version.
    pub version: u32,
    /// Weir's version.
    pub build_version: &'static str,
    pub time_unix_ms: u64,
    pub uptime_seconds: f64,
    /// The span the rates were taken over; `null` on the first reading.
    pub rate_window_seconds: Option<f64>,
    pub memory_budget: Budget,
    pub pipelines: &'a [String],
    pub nodes: Vec<NodeState<'a>>,
    pub edges: Vec<EdgeState<'a>>,
}

type Totals = BTreeMap<String, f64>;

/// Earlier readings, for rates.
#[derive(Debug, Default)]
pub struct History {
    readings: Mutex<VecDeque<(Instant, Arc<Totals>)>>,
}

impl History {
    /// The reading to take rates against, and the span since it; keeps `totals`.
    fn observe(&self, now: Instant, totals: &Totals) -> Option<(f64, Arc<Totals>)> {
        let mut readings = self
            .readings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        readings.retain(|(at, _)| now.saturating_duration_since(*at) <= MAX_AGE);
        let base = readings
            .iter()
            .find(|(at, _)| now.saturating_duration_since(*at) >= MIN_SPAN)
            .map(|(at, t)| (now.saturating_duration_since(*at).as_secs_f64(), t.clone()));
        let spaced = readings
            .back()
            .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= MIN_SPAN);
        if spaced {
            readings.push_back((now, Arc::new(totals.clone())));
        }
        base
    }
}

fn signal_of(name: &str) -> Option<Signal> {
    match name {
        "traces" => Some(Signal::Traces),
        "metrics" => Some(Signal::Metrics),
        "logs" => Some(Signal::Logs),
        _ => None,
    }
}

/// Totals keyed `<node or edge index>|<field>`, read from the samples.
fn totals(graph: &Graph, samples: &Samples) -> Totals {
    let mut t = Totals::new();
    receiver_signal_totals(graph, samples, &mut t);
    let signals =
        |node: &Node| -> Vec<Signal> { node.signals.iter().filter_map(|s| signal_of(s)).collect() };
    for node in &graph.nodes {
        let id = node.component.as_str();
        let key = |field: &str| format!("{}|{field}", node.id);
        match node.kind {
            "receiver" => {
                let by = [("receiver", id)];
                let accepted: f64 = signals(node)
                    .iter()
                    .map(|s| samples.counter(names::RECEIVER_ACCEPTED.get(*s), &by))
                    .sum();
                let refused: f64 = signals(node)
                    .iter()
                    .map(|s| samples.counter(names::RECEIVER_REFUSED.get(*s), &by))
                    .sum();
                t.insert(key("in"), accepted);
                t.insert(key("out"), accepted);
                t.insert(key("refused"), refused);
            }
            "processor" => {
                let pipeline = node.pipeline.as_deref().unwrap_or_default();
                let by = [("processor", id), ("pipeline", pipeline)];
                t.insert(
                    key("in"),
                    samples.counter(&names::PROCESSOR_INCOMING_ITEMS, &by),
                );
                t.insert(
                    key("out"),
                    samples.counter(&names::PROCESSOR_OUTGOING_ITEMS, &by),
                );
            }
            "exporter" => {
                let by = [("exporter", id)];
                let sum = |defs: &names::PerSignal<weir_api::telemetry::CounterDef>| -> f64 {
                    signals(node)
                        .iter()
                        .map(|s| samples.counter(defs.get(*s), &by))
                        .sum()
                };
                t.insert(key("out"), sum(&names::EXPORTER_SENT));
                t.insert(key("failed"), sum(&names::EXPORTER_SEND_FAILED));
                t.insert(key("enqueue_failed"), sum(&names::EXPORTER_ENQUEUE_FAILED));
                t.insert(
                    key("retries"),
                    samples.counter(&names::EXPORTER_RETRIES, &by),
                );
            }
            _ => {}
        }
        let dropped: f64 = drop_filter(node)
            .map(|filter| {
                samples
                    .counter_by(&names::ITEMS_DROPPED, &filter, "reason")
                    .values()
                    .sum()
            })
            .unwrap_or(0.0);
        t.insert(key("dropped"), dropped);
    }
    for (index, edge) in graph.edges.iter().enumerate() {
        if let Some(total) = edge_total(graph, edge, &t) {
            t.insert(format!("edge{index}|items"), total);
        }
    }
    // Exporters and connectors: what arrives on their edges.
    for node in &graph.nodes {
        if node.kind == "exporter" || node.kind == "connector" {
            let arriving: Option<f64> = graph
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| e.to == node.id)
                .map(|(i, _)| t.get(&format!("edge{i}|items")).copied())
                .sum();
            if let Some(arriving) = arriving {
                t.insert(format!("{}|in", node.id), arriving);
            }
        }
        if node.kind == "connector" {
            let leaving: Option<f64> = graph
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| e.from == node.id)
                .map(|(i, _)| t.get(&format!("edge{i}|items")).copied())
                .sum();
            if let Some(leaving) = leaving {
                t.insert(format!("{}|out", node.id), leaving);
            }
        }
    }
    t
}

/// `weir_items_dropped_total`'s series that belong to `node`: the component's, and for a
/// processor only its pipeline's signal.
fn drop_filter(node: &Node) -> Option<Vec<(&str, &str)>> {
    let mut filter = vec![("component", node.component.as_str())];
    match node.kind {
        "extension" => return None,
        "processor" => filter.push(("otel_signal", node.signals.first()?.as_str())),
        _ => {}
    }
    Some(filter)
}

/// Items along an edge: what its source emits for the edge's signal. A connector's
/// output into a pipeline is counted where the pipeline's first processor takes it in,
/// when that processor has no other source.
fn edge_total(graph: &Graph, edge: &Edge, t: &Totals) -> Option<f64> {
    let from = graph.node(&edge.from)?;
    match from.kind {
        // Per signal: a receiver may feed pipelines of several signals.
        "receiver" => t.get(&format!("{}|{}|in", from.id, edge.signal)).copied(),
        "processor" => t.get(&format!("{}|out", from.id)).copied(),
        "connector" => {
            let to = graph.node(&edge.to)?;
            let sources = graph.edges.iter().filter(|e| e.to == edge.to).count();
            (to.kind == "processor" && sources == 1)
                .then(|| t.get(&format!("{}|in", to.id)).copied())
                .flatten()
        }
        _ => None,
    }
}

/// Adds the per-signal receiver totals edges need (a receiver in several signals'
/// pipelines has one edge per signal).
fn receiver_signal_totals(graph: &Graph, samples: &Samples, t: &mut Totals) {
    for node in graph.nodes.iter().filter(|n| n.kind == "receiver") {
        for signal in node.signals.iter().filter_map(|s| signal_of(s)) {
            let accepted = samples.counter(
                names::RECEIVER_ACCEPTED.get(signal),
                &[("receiver", node.component.as_str())],
            );
            t.insert(format!("{}|{}|in", node.id, signal.as_str()), accepted);
        }
    }
}

fn counted(now: &Totals, base: Option<&(f64, Arc<Totals>)>, key: &str) -> Option<Counted> {
    let total = *now.get(key)?;
    let per_second = base.and_then(|(span, earlier)| {
        let before = earlier.get(key)?;
        Some(((total - before) / span).max(0.0))
    });
    Some(Counted { total, per_second })
}

fn readme(docs: &[ComponentDoc], node: &Node) -> Option<String> {
    docs.iter()
        .find(|d| {
            d.kind.as_str() == node.kind
                && (d.type_name == node.type_name || d.aliases.contains(&node.type_name))
        })
        .and_then(|d| d.readme.clone())
}

/// The snapshot for `graph` now.
pub fn snapshot<'a>(
    graph: &'a Graph,
    telemetry: &Telemetry,
    history: &History,
    started: Instant,
) -> Snapshot<'a> {
    let samples = Samples::read(&telemetry.encode());
    let t = totals(graph, &samples);
    let now = Instant::now();
    let base = history.observe(now, &t);
    let base = base.as_ref();
    let docs = telemetry.component_docs();
    let lanes = telemetry.pressure().readings();

    let nodes = graph
        .nodes
        .iter()
        .map(|node| {
            let key = |field: &str| format!("{}|{field}", node.id);
            let mut stats = Stats {
                items_in: counted(&t, base, &key("in")),
                items_out: counted(&t, base, &key("out")),
                ..Stats::default()
            };
            let id = node.component.as_str();
            if let Some(filter) = drop_filter(node) {
                stats.dropped = samples.counter_by(&names::ITEMS_DROPPED, &filter, "reason");
            }
            match node.kind {
                "receiver" => {
                    stats.refused = counted(&t, base, &key("refused"));
                    stats.refused_requests = samples.counter_by(
                        &names::RECEIVER_REFUSED_REQUESTS,
                        &[("receiver", id)],
                        "reason",
                    );
                    stats.in_flight =
                        Some(samples.gauge(&names::IN_FLIGHT_ITEMS, &[("receiver", id)]));
                }
                "processor" => {
                    let pipeline = node.pipeline.as_deref().unwrap_or_default();
                    stats.held = Some(samples.gauge(
                        &names::PROCESSOR_HELD_ITEMS,
                        &[("processor", id), ("pipeline", pipeline)],
                    ));
                }
                "exporter" => {
                    stats.failed = counted(&t, base, &key("failed"));
                    stats.enqueue_failed = counted(&t, base, &key("enqueue_failed"));
                    stats.retries = counted(&t, base, &key("retries"));
                    let prefix = format!("{id} ");
                    let mine = lanes
                        .iter()
                        .filter(|(lane, _, _)| lane.starts_with(&prefix));
                    let fill = mine.clone().map(|(_, fill, _)| *fill).fold(0.0, f64::max);
                    let latency = mine.map(|(_, _, latency)| *latency).max();
                    stats.queue = Some(Queue {
                        size: samples.gauge(&names::EXPORTER_QUEUE_SIZE, &[("exporter", id)]),
                        capacity: samples
                            .gauge(&names::EXPORTER_QUEUE_CAPACITY, &[("exporter", id)]),
                        fill_percent: fill,
                    });
                    stats.latency_ms = latency.map(|l| l.as_secs_f64() * 1000.0);
                }
                _ => {}
            }
            NodeState {
                node,
                readme: readme(&docs, node),
                stats,
            }
        })
        .collect();
    let edges = graph
        .edges
        .iter()
        .enumerate()
        .map(|(index, edge)| EdgeState {
            edge,
            items: counted(&t, base, &format!("edge{index}|items")),
        })
        .collect();

    let budget = telemetry.memory_budget();
    let (soft, hard) = budget.limits();
    let limit = |l: u64| (l != u64::MAX).then_some(l);
    let used = budget.used();
    Snapshot {
        version: 1,
        build_version: env!("CARGO_PKG_VERSION"),
        time_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        uptime_seconds: now.saturating_duration_since(started).as_secs_f64(),
        rate_window_seconds: base.map(|(span, _)| *span),
        memory_budget: Budget {
            used_bytes: used,
            soft_limit_bytes: limit(soft),
            hard_limit_bytes: limit(hard),
            use_percent: limit(soft).map(|s| used as f64 * 100.0 / s.max(1) as f64),
        },
        pipelines: &graph.pipelines,
        nodes,
        edges,
    }
}
