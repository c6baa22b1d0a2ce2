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
        // Connector -> pipelines using it as exporter / as receiver.
        let mut connector_out: Vec<(ComponentId, Vec<String>)> = Vec::new();
        let mut connector_in: HashSet<ComponentId> = HashSet::new();
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
                        if role == "receivers" {
                            connector_in.insert(id.clone());
                        } else {
                            match connector_out.iter_mut().find(|(c, _)| c == id) {
                                Some((_, pipes)) => pipes.push(pipe_id.to_string()),
                                None => connector_out.push((id.clone(), vec![pipe_id.to_string()])),
                            }
                            if pipe.receivers.contains(id) {
                                let message = format!(
                                    "connector `{id}` is both a receiver and an exporter of pipeline `{pipe_id}`, which would loop"
                                );
                                self.error(&path, message, None);
                            }
                        }
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
        for (id, pipes) in &connector_out {
            if !connector_in.contains(id) {
                let path = vec!["connectors".to_string(), id.to_string()];
                let message = format!(
                    "connector `{id}` is an exporter of pipeline {} but no pipeline uses it as a receiver",
                    pipes.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                );
                self.error(&path, message, None);
            }
        }
        for id in &connector_in {
            if !connector_out.iter().any(|(c, _)| c == id) {
                let path = vec!["connectors".to_string(), id.to_string()];
                let message = format!(
                    "connector `{id}` is a receiver of a pipeline but no pipeline uses it as an exporter"
                );
                self.error(&path, message, None);
            }
        }
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
    }
}
