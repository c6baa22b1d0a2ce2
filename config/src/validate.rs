//! Checks of the pipeline graph that need to know which components exist.
//!
//! The engine's registry knows the components; this crate must not depend on it, so the
//! registry is seen through the [`Catalog`] trait. Everything here is pure and reports
//! every problem at once: unknown types, each component's own section, pipeline wiring,
//! signal support, connectors, extensions, and unused components (warnings).

use std::collections::{HashMap, HashSet};

use serde_yaml_ng::Value;

use crate::diagnostics::{dotted, suggest, Diagnostic, Diagnostics};
use crate::ids::{ComponentId, Kind, PipelineId, Signal};
use crate::model::Config;

/// What the config crate needs to know about components to validate a graph.
pub trait Catalog {
    /// Canonical type name for `type_name` (which may be an alias such as `otlp_grpc`), if a
    /// component of that kind and type exists.
    fn canonical_type(&self, kind: Kind, type_name: &str) -> Option<&'static str>;
    /// Every known type name (canonical and aliases) of this kind, for suggestions.
    fn known_types(&self, kind: Kind) -> Vec<&'static str>;
    /// Signals a component of this canonical type supports.
    fn signals(&self, kind: Kind, type_name: &'static str) -> &'static [Signal];
    /// Check one component's own section. Paths are relative to the section.
    fn check(&self, kind: Kind, type_name: &'static str, section: &Value) -> Vec<ComponentProblem>;
    /// The (upstream, downstream) signal pairs a connector of this canonical type
    /// supports. The default, no pairs, makes every use of such a connector an error.
    fn connector_pairs(&self, _type_name: &'static str) -> &'static [(Signal, Signal)] {
        &[]
    }
}

/// One problem in a component's own section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentProblem {
    /// Key path relative to the component's section, e.g. `["sending_queue", "queue_sise"]`.
    pub path: Vec<String>,
    pub message: String,
    pub suggestion: Option<String>,
}

const KINDS: [Kind; 5] = [
    Kind::Receiver,
    Kind::Processor,
    Kind::Exporter,
    Kind::Connector,
    Kind::Extension,
];

/// Everything that can be checked without starting anything, errors and warnings.
/// Includes the warnings found while loading ([`Config::load_warnings`]).
pub fn validate(config: &Config, catalog: &dyn Catalog) -> Diagnostics {
    let mut v = Validator {
        config,
        catalog,
        diags: Diagnostics::default(),
        types: HashMap::new(),
    };
    v.diags.items.extend(config.load_warnings.iter().cloned());
    v.components();
    v.pipelines();
    v.extensions();
    v.diags
}

struct Validator<'a> {
    config: &'a Config,
    catalog: &'a dyn Catalog,
    diags: Diagnostics,
    /// Canonical type of every declared component whose type is known.
    types: HashMap<(Kind, ComponentId), &'static str>,
}

impl Validator<'_> {
    fn push(&mut self, d: Diagnostic, path: &[String]) {
        self.diags
            .push(d.at(self.config.locator.locate_owned(path)));
    }

    fn error(&mut self, path: &[String], message: String, suggestion: Option<String>) {
        self.push(
            Diagnostic::error(dotted(path), message).suggest(suggestion),
            path,
        );
    }

    fn warning(&mut self, path: &[String], message: String) {
        self.push(Diagnostic::warning(dotted(path), message), path);
    }

    /// Types exist, and each section passes its component's own check.
    fn components(&mut self) {
        for kind in KINDS {
            for (id, section) in self.config.components(kind) {
                let path = vec![kind.section().to_string(), id.to_string()];
                let Some(canonical) = self.catalog.canonical_type(kind, id.type_name()) else {
                    let known = self.catalog.known_types(kind);
                    let suggestion = suggest(id.type_name(), known.iter().copied());
                    let message = if known.is_empty() {
                        format!("unknown {kind} type `{}`", id.type_name())
                    } else {
                        let mut sorted = known.clone();
                        sorted.sort_unstable();
                        format!(
                            "unknown {kind} type `{}`; known types: {}",
                            id.type_name(),
                            sorted.join(", ")
                        )
                    };
                    self.error(&path, message, suggestion);
                    continue;
                };
                self.types.insert((kind, id.clone()), canonical);
                for problem in self.catalog.check(kind, canonical, section) {
                    let mut full = path.clone();
                    full.extend(problem.path);
                    self.error(&full, problem.message, problem.suggestion);
                }
            }
        }
    }

    fn declared(&self, kind: Kind, id: &ComponentId) -> bool {
        self.config.component(kind, id).is_some()
    }

    fn pipelines(&mut self) {
        let config = self.config;
        if config.service.pipelines.is_empty() {
            let path = vec!["service".to_string(), "pipelines".to_string()];
            let message =
                "no pipelines; define at least one under `service.pipelines` (such as `traces:`)"
                    .to_string();
            self.error(&path, message, None);
        }
        let mut used: HashSet<(Kind, ComponentId)> = HashSet::new();
        // Every place a declared connector is listed, in file order.
        let mut connector_uses: Vec<ConnectorUse> = Vec::new();
        for (pipe_id, pipe) in &config.service.pipelines {
            let base = vec![
                "service".to_string(),
                "pipelines".to_string(),
                pipe_id.to_string(),
            ];
            for (role, ids, kinds) in [
                (
                    "receivers",
                    &pipe.receivers,
                    &[Kind::Receiver, Kind::Connector][..],
                ),
                ("processors", &pipe.processors, &[Kind::Processor][..]),
                (
                    "exporters",
                    &pipe.exporters,
                    &[Kind::Exporter, Kind::Connector][..],
                ),
            ] {
                let mut seen: HashSet<&ComponentId> = HashSet::new();
                for (i, id) in ids.iter().enumerate() {
                    let mut path = base.clone();
                    path.push(role.to_string());
                    path.push(i.to_string());
                    let what = kinds[0].as_str();
                    if !seen.insert(id) {
                        let message =
                            format!("{what} `{id}` is listed twice in pipeline `{pipe_id}`");
                        self.error(&path, message, None);
                        continue;
                    }
                    let Some(kind) = kinds.iter().copied().find(|k| self.declared(*k, id)) else {
                        self.undeclared(&path, pipe_id, id, kinds);
                        continue;
                    };
                    used.insert((kind, id.clone()));
                    if kind == Kind::Connector {
                        let exporter = role == "exporters";
                        if exporter && pipe.receivers.contains(id) {
                            let message = format!(
                                "connector `{id}` is both a receiver and an exporter of pipeline `{pipe_id}`, which would loop"
                            );
                            self.error(&path, message, None);
                        }
                        connector_uses.push(ConnectorUse {
                            id: id.clone(),
                            pipeline: pipe_id.clone(),
                            exporter,
                            path,
                        });
                        continue;
                    }
                    self.signal(&path, pipe_id, kind, id);
                }
            }
            for (role, ids) in [
                ("receivers", &pipe.receivers),
                ("exporters", &pipe.exporters),
            ] {
                if ids.is_empty() {
                    let message = format!(
                        "pipeline `{pipe_id}` has no {role}; list at least one under `{role}`"
                    );
                    self.error(&base, message, None);
                }
            }
        }
        self.connector_sides(&connector_uses);
        self.connector_pairs(&connector_uses);
        self.cycles(&connector_uses);
        for kind in [
            Kind::Receiver,
            Kind::Processor,
            Kind::Exporter,
            Kind::Connector,
        ] {
            for (id, _) in config.components(kind) {
                if !used.contains(&(kind, id.clone())) {
                    let path = vec![kind.section().to_string(), id.to_string()];
                    let message = format!("{kind} `{id}` is declared but not used in any pipeline");
                    self.warning(&path, message);
                }
            }
        }
    }

    /// Every connector is used on both sides: as an exporter of one pipeline and as a
    /// receiver of another. Reported at the connector's own section.
    fn connector_sides(&mut self, uses: &[ConnectorUse]) {
        let mut ids: Vec<&ComponentId> = Vec::new();
        for u in uses {
            if !ids.contains(&&u.id) {
                ids.push(&u.id);
            }
        }
        for id in ids {
            let side = |exporter: bool| -> Vec<String> {
                uses.iter()
                    .filter(|u| &u.id == id && u.exporter == exporter)
                    .map(|u| format!("`{}`", u.pipeline))
                    .collect()
            };
            let (upstream, downstream) = (side(true), side(false));
            let path = vec!["connectors".to_string(), id.to_string()];
            if downstream.is_empty() {
                let message = format!(
                    "connector `{id}` is an exporter of pipeline {} but no pipeline uses it as a receiver",
                    upstream.join(", ")
                );
                self.error(&path, message, None);
            } else if upstream.is_empty() {
                let message = format!(
                    "connector `{id}` is a receiver of pipeline {} but no pipeline uses it as an exporter",
                    downstream.join(", ")
                );
                self.error(&path, message, None);
            }
        }
    }

    /// Each connector supports the signals it joins: every upstream signal becomes at least
    /// one of the downstream signals, and every downstream signal comes from at least one
    /// upstream signal. Reported at the pipeline's `exporters.N` / `receivers.N` entry.
    fn connector_pairs(&mut self, uses: &[ConnectorUse]) {
        for u in uses {
            let Some(canonical) = self.types.get(&(Kind::Connector, u.id.clone())).copied() else {
                continue; // unknown type: already reported
            };
            let pairs = self.catalog.connector_pairs(canonical);
            let signal = u.pipeline.signal();
            // The signals on the other side of this connector, in first-use order.
            let mut others: Vec<Signal> = Vec::new();
            for other in uses
                .iter()
                .filter(|o| o.id == u.id && o.exporter != u.exporter)
            {
                let s = other.pipeline.signal();
                if !others.contains(&s) {
                    others.push(s);
                }
            }
            if others.is_empty() {
                continue; // one-sided: already reported
            }
            let pair = |other: Signal| {
                if u.exporter {
                    (signal, other)
                } else {
                    (other, signal)
                }
            };
            if others.iter().any(|o| pairs.contains(&pair(*o))) {
                continue;
            }
            let others = others
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or ");
            let (from, into) = if u.exporter {
                (signal.as_str().to_string(), others)
            } else {
                (others, signal.as_str().to_string())
            };
            let supported = if pairs.is_empty() {
                "no signal pairs".to_string()
            } else {
                pairs
                    .iter()
                    .map(|(a, b)| format!("{a}->{b}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let message = format!(
                "connector `{}` cannot turn {from} into {into}; it supports: {supported}",
                u.id
            );
            self.error(&u.path, message, None);
        }
    }

    /// Pipelines joined by connectors form no cycle. A pipeline `p` feeds `q` when a
    /// connector is an exporter of `p` and a receiver of `q` for a signal pair it supports
    /// (unsupported pairs and unknown types are reported elsewhere). A connector on both
    /// sides of one pipeline is reported as a loop where it is listed, so self-edges are
    /// left out here. One cycle is named per group of pipelines that reach each other.
    fn cycles(&mut self, uses: &[ConnectorUse]) {
        let pipelines: Vec<&PipelineId> = self
            .config
            .service
            .pipelines
            .iter()
            .map(|(p, _)| p)
            .collect();
        let index = |p: &PipelineId| pipelines.iter().position(|q| *q == p);
        // edges[p] = (q, connector, path of the connector in p's exporters), in file order.
        let mut edges: Vec<Vec<(usize, &ComponentId, &[String])>> =
            vec![Vec::new(); pipelines.len()];
        for up in uses.iter().filter(|u| u.exporter) {
            let Some(canonical) = self.types.get(&(Kind::Connector, up.id.clone())).copied() else {
                continue;
            };
            let pairs = self.catalog.connector_pairs(canonical);
            let Some(from) = index(&up.pipeline) else {
                continue;
            };
            for down in uses.iter().filter(|d| !d.exporter && d.id == up.id) {
                let Some(to) = index(&down.pipeline) else {
                    continue;
                };
                let pair = (up.pipeline.signal(), down.pipeline.signal());
                if to != from
                    && pairs.contains(&pair)
                    && !edges[from].iter().any(|(t, _, _)| *t == to)
                {
                    edges[from].push((to, &up.id, up.path.as_slice()));
                }
            }
        }
        let mut found: Vec<(usize, Vec<String>, String)> = Vec::new();
        for component in strongly_connected(&edges) {
            let Some(&start) = component.iter().min() else {
                continue;
            };
            if component.len() < 2 {
                continue;
            }
            let Some(cycle) = shortest_cycle(&edges, start, &component) else {
                continue;
            };
            let mut names = vec![pipelines[start].to_string()];
            let mut path: Vec<String> = Vec::new();
            for (from, to) in cycle.iter().zip(cycle.iter().skip(1).chain([&start])) {
                let Some((_, connector, at)) = edges[*from].iter().find(|(t, _, _)| t == to) else {
                    continue;
                };
                if path.is_empty() {
                    path = at.to_vec();
                }
                names.push(connector.to_string());
                names.push(pipelines[*to].to_string());
            }
            found.push((
                start,
                path,
                format!("pipelines form a cycle: {}", names.join(" -> ")),
            ));
        }
        // In file order of each cycle's first pipeline.
        found.sort_by_key(|(start, _, _)| *start);
        for (_, path, message) in found {
            self.error(&path, message, None);
        }
    }

    fn undeclared(
        &mut self,
        path: &[String],
        pipe_id: &PipelineId,
        id: &ComponentId,
        kinds: &[Kind],
    ) {
        let declared: Vec<String> = kinds
            .iter()
            .flat_map(|k| {
                self.config
                    .components(*k)
                    .iter()
                    .map(|(d, _)| d.to_string())
            })
            .collect();
        let suggestion = suggest(&id.to_string(), declared.iter().map(String::as_str));
        let sections = kinds
            .iter()
            .map(|k| format!("`{}`", k.section()))
            .collect::<Vec<_>>()
            .join(" or ");
        let message = format!(
            "pipeline `{pipe_id}` uses {} `{id}`, which is not declared under {sections}",
            kinds[0]
        );
        self.error(path, message, suggestion);
    }

    /// The component supports the pipeline's signal.
    fn signal(&mut self, path: &[String], pipe_id: &PipelineId, kind: Kind, id: &ComponentId) {
        let Some(canonical) = self.types.get(&(kind, id.clone())).copied() else {
            return; // unknown type: already reported
        };
        let supported = self.catalog.signals(kind, canonical);
        let signal = pipe_id.signal();
        if supported.contains(&signal) {
            return;
        }
        let list = if supported.is_empty() {
            "no signals".to_string()
        } else {
            supported
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let message = format!("{kind} `{id}` does not support {signal}; it supports: {list}");
        self.error(path, message, None);
    }

    fn extensions(&mut self) {
        let config = self.config;
        let mut seen: HashSet<&ComponentId> = HashSet::new();
        for (i, id) in config.service.extensions.iter().enumerate() {
            let path = vec![
                "service".to_string(),
                "extensions".to_string(),
                i.to_string(),
            ];
            if !seen.insert(id) {
                self.error(&path, format!("extension `{id}` is listed twice"), None);
            } else if !self.declared(Kind::Extension, id) {
                let declared: Vec<String> = config
                    .extensions
                    .iter()
                    .map(|(d, _)| d.to_string())
                    .collect();
                let suggestion = suggest(&id.to_string(), declared.iter().map(String::as_str));
                let message = format!("extension `{id}` is not declared under `extensions`");
                self.error(&path, message, suggestion);
            }
        }
        for (id, _) in &config.extensions {
            if !seen.contains(id) {
                let path = vec!["extensions".to_string(), id.to_string()];
                let message =
                    format!("extension `{id}` is declared but not enabled in `service.extensions`");
                self.warning(&path, message);
            }
        }
        // `sending_queue.storage` (an exporter's persistent queue) names an extension
        // that is declared and enabled.
        for (exporter, section) in config.components(Kind::Exporter) {
            let Some(name) = section
                .get("sending_queue")
                .and_then(|queue| queue.get("storage"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let Ok(storage) = name.parse::<ComponentId>() else {
                continue; // the exporter's own check reports a malformed id
            };
            if seen.contains(&storage) {
                continue;
            }
            let path = vec![
                Kind::Exporter.section().to_string(),
                exporter.to_string(),
                "sending_queue".to_string(),
                "storage".to_string(),
            ];
            let message = if self.declared(Kind::Extension, &storage) {
                format!(
                    "storage extension `{storage}` is not enabled: add it to `service.extensions`"
                )
            } else {
                format!("storage extension `{storage}` is not declared under `extensions`")
            };
            let declared = config
                .extensions
                .iter()
                .map(|(d, _)| d.to_string())
                .collect::<Vec<_>>();
            let suggestion = suggest(name, declared.iter().map(String::as_str));
            self.error(&path, message, suggestion);
        }
    }
}

/// One place a declared connector is listed in a pipeline.
struct ConnectorUse {
    id: ComponentId,
    pipeline: PipelineId,
    /// Listed under the pipeline's `exporters` (the connector's upstream side); otherwise
    /// under its `receivers`.
    exporter: bool,
    /// `service.pipelines.<id>.exporters.N` or `...receivers.N`.
    path: Vec<String>,
}

type Edges<'a> = [Vec<(usize, &'a ComponentId, &'a [String])>];

/// The strongly connected components of a small graph (Tarjan's algorithm, iterative).
fn strongly_connected(edges: &Edges<'_>) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index: Vec<Option<usize>> = vec![None; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0usize;
    for root in 0..n {
        if index[root].is_some() {
            continue;
        }
        // (node, next edge to look at)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = Some(next);
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut e)) = work.last_mut() {
            if let Some(&(w, _, _)) = edges[v].get(*e) {
                *e += 1;
                match index[w] {
                    None => {
                        index[w] = Some(next);
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    }
                    Some(iw) if on_stack[w] => low[v] = low[v].min(iw),
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if Some(low[v]) == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                out.push(component);
            }
        }
    }
    out
}

/// The shortest cycle through `start` within `component` (breadth-first), as the list of
/// nodes from `start` up to the one whose edge leads back to `start`.
fn shortest_cycle(edges: &Edges<'_>, start: usize, component: &[usize]) -> Option<Vec<usize>> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &(w, _, _) in &edges[v] {
            if w == start {
                let mut cycle = vec![v];
                let mut at = v;
                while let Some(&p) = parent.get(&at) {
                    cycle.push(p);
                    at = p;
                }
                cycle.reverse();
                return Some(cycle);
            }
            if component.contains(&w) && !parent.contains_key(&w) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}
