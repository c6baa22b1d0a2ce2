//! The `routing` section: the Collector's keys and checks, conditions compiled once.
//!
//! `match_once` was removed from the Collector in v0.120.0 (each item goes to the first
//! route that matches); a config that still has it is refused with that explanation
//! rather than with a bare "unknown key".

use serde::Deserialize;
use weir_api::config::{parse, problem, problem_with_suggestion};
use weir_api::{ComponentProblem, PipelineId, Signal, Value};
use weir_ottl::{infer_context, Condition, Context, ErrorMode};

/// The section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    pub table: Vec<RouteSection>,
    /// Where items that match no route go; without it they are dropped (and counted).
    pub default_pipelines: Vec<String>,
    /// What a failing condition does. The Collector's default is `propagate`.
    pub error_mode: ErrorMode,
    /// Removed from the Collector; refused.
    match_once: Option<Value>,
}

/// One route as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteSection {
    /// `resource` (the default when the paths name no context), `span`, `metric`,
    /// `datapoint`, `log` or `request`.
    pub context: Option<String>,
    pub condition: Option<String>,
    /// `route() where <condition>`: the condition is what is kept.
    pub statement: Option<String>,
    pub pipelines: Vec<String>,
    /// `move` (what the Collector does): an item taken by a route is not offered to the
    /// routes after it. `copy` is refused: its Collector semantics are not settled.
    pub action: Option<String>,
}

/// A compiled route.
#[derive(Debug, Clone)]
pub struct CompiledRoute {
    pub context: Context,
    pub condition: Condition,
    /// The route's pipelines, without repeats.
    pub pipelines: Vec<PipelineId>,
}

/// The compiled section.
#[derive(Debug, Clone)]
pub struct Table {
    pub routes: Vec<CompiledRoute>,
    pub default_pipelines: Vec<PipelineId>,
    pub error_mode: ErrorMode,
}

/// The contexts a route may use.
const CONTEXTS: [Context; 6] = [
    Context::Resource,
    Context::Span,
    Context::Metric,
    Context::DataPoint,
    Context::Log,
    Context::Request,
];

/// The signal a context's items belong to (`None`: any signal).
pub fn context_signal(context: Context) -> Option<Signal> {
    match context {
        Context::Span | Context::SpanEvent => Some(Signal::Traces),
        Context::Metric | Context::DataPoint => Some(Signal::Metrics),
        Context::Log => Some(Signal::Logs),
        Context::Resource | Context::Scope | Context::Request => None,
    }
}

/// Every problem of the section (`weir validate`).
pub fn check(section: &Value) -> Vec<ComponentProblem> {
    match compile(section) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

/// The compiled table, or every problem found.
pub fn compile(section: &Value) -> Result<Table, Vec<ComponentProblem>> {
    let config: RoutingConfig = parse(section).map_err(|problem| vec![problem])?;
    let mut problems = Vec::new();
    if config.match_once.is_some() {
        problems.push(problem_with_suggestion(
            &["match_once"],
            "match_once was removed from the Collector's routing connector in v0.120.0: \
             each item goes to the first route whose condition matches",
            "remove it; to send the same items to several pipelines, list them all in one \
             route's `pipelines`, or feed several routing connectors",
        ));
    }
    if config.table.is_empty() {
        problems.push(problem(
            &["table"],
            "invalid routing table: the routing table is empty",
        ));
    }
    let mut routes = Vec::with_capacity(config.table.len());
    for (index, route) in config.table.iter().enumerate() {
        if let Some(route) = compile_route(index, route, &mut problems) {
            routes.push(route);
        }
    }
    let default_pipelines = pipeline_ids(
        &config.default_pipelines,
        &["default_pipelines".to_string()],
        None,
        &mut problems,
    );
    if problems.is_empty() {
        Ok(Table {
            routes,
            default_pipelines,
            error_mode: config.error_mode,
        })
    } else {
        Err(problems)
    }
}

fn compile_route(
    index: usize,
    route: &RouteSection,
    problems: &mut Vec<ComponentProblem>,
) -> Option<CompiledRoute> {
    let base = ["table".to_string(), index.to_string()];
    let at = |key: &str| -> Vec<String> { vec![base[0].clone(), base[1].clone(), key.into()] };
    let before = problems.len();
    match route.action.as_deref() {
        None | Some("move") => {}
        Some("copy") => problems.push(ComponentProblem {
            path: at("action"),
            message: "action `copy` is not supported: the Collector's semantics for it are not settled".into(),
            suggestion: Some("remove it (routes move items, as in the Collector), or feed several routing connectors".into()),
        }),
        Some(other) => problems.push(ComponentProblem {
            path: at("action"),
            message: format!("unknown action `{other}`"),
            suggestion: Some("move".into()),
        }),
    }
    if route.pipelines.is_empty() {
        problems.push(ComponentProblem {
            path: at("pipelines"),
            message: "invalid route: no pipelines defined".into(),
            suggestion: None,
        });
    }
    let (text, key) = match (&route.condition, &route.statement) {
        (Some(_), Some(_)) => {
            problems.push(ComponentProblem {
                path: base.to_vec(),
                message: "invalid route: both condition and statement provided".into(),
                suggestion: Some(
                    "keep one: `condition: <expr>` or `statement: route() where <expr>`".into(),
                ),
            });
            return None;
        }
        (None, None) => {
            problems.push(ComponentProblem {
                path: base.to_vec(),
                message: "invalid route: no condition or statement provided".into(),
                suggestion: Some("add `condition: <expr>`".into()),
            });
            return None;
        }
        (Some(condition), None) => (condition.as_str(), "condition"),
        (None, Some(statement)) => match route_condition(statement) {
            Some(condition) => (condition, "statement"),
            None => {
                problems.push(ComponentProblem {
                    path: at("statement"),
                    message: format!(
                        "only `route() where <condition>` statements route; `{statement}` is not one"
                    ),
                    suggestion: Some("write the condition alone under `condition:`".into()),
                });
                return None;
            }
        },
    };
    let context = match &route.context {
        Some(name) => match Context::parse(name).filter(|c| CONTEXTS.contains(c)) {
            Some(context) => context,
            None => {
                let names: Vec<&str> = CONTEXTS.iter().map(|c| c.name()).collect();
                problems.push(ComponentProblem {
                    path: at("context"),
                    message: format!("invalid context: {name}"),
                    suggestion: Some(format!("one of: {}", names.join(", "))),
                });
                return None;
            }
        },
        // Inferred from prefixed paths, as the Collector now does; `resource` otherwise.
        None => infer_context(&[text])
            .ok()
            .filter(|c| CONTEXTS.contains(c))
            .unwrap_or(Context::Resource),
    };
    if context == Context::Request && key == "statement" {
        problems.push(ComponentProblem {
            path: at("statement"),
            message: "the request context requires a `condition`, not a `statement`".into(),
            suggestion: Some("condition: request[\"X-Tenant\"] == \"acme\"".into()),
        });
        return None;
    }
    let condition = match Condition::compile(text, context) {
        Ok(condition) => Some(condition),
        Err(error) => {
            problems.push(problem(&[&base[0], &base[1], key], error.to_string()));
            None
        }
    };
    let pipelines = pipeline_ids(
        &route.pipelines,
        &at("pipelines"),
        context_signal(context),
        problems,
    );
    let condition = condition?;
    (problems.len() == before).then_some(CompiledRoute {
        context,
        condition,
        pipelines,
    })
}

/// The condition of `route() where <condition>`, or `None` for any other statement.
fn route_condition(statement: &str) -> Option<&str> {
    let rest = statement.trim().strip_prefix("route")?.trim_start();
    let rest = rest.strip_prefix('(')?.trim_start();
    let rest = rest.strip_prefix(')')?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let condition = rest.trim_start().strip_prefix("where")?;
    if !condition.starts_with(char::is_whitespace) {
        return None;
    }
    Some(condition.trim()).filter(|c| !c.is_empty())
}

/// Parses pipeline ids, dropping repeats; a route of a signal's items may only name
/// pipelines of that signal.
fn pipeline_ids(
    names: &[String],
    path: &[String],
    signal: Option<Signal>,
    problems: &mut Vec<ComponentProblem>,
) -> Vec<PipelineId> {
    let mut ids: Vec<PipelineId> = Vec::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        let mut at: Vec<String> = path.to_vec();
        at.push(j.to_string());
        match name.parse::<PipelineId>() {
            Ok(id) => {
                if let Some(signal) = signal.filter(|s| *s != id.signal()) {
                    problems.push(ComponentProblem {
                        path: at,
                        message: format!(
                            "pipeline `{id}` is not a {signal} pipeline, and this route's context only has {signal}"
                        ),
                        suggestion: None,
                    });
                } else if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Err(message) => problems.push(ComponentProblem {
                path: at,
                message,
                suggestion: None,
            }),
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::route_condition;

    #[test]
    fn route_statements_give_their_condition() {
        assert_eq!(
            route_condition(r#"route() where attributes["a"] == "b""#),
            Some(r#"attributes["a"] == "b""#)
        );
        assert_eq!(
            route_condition("  route ( )  where  x == 1 "),
            Some("x == 1")
        );
        assert_eq!(route_condition("route() where"), None);
        assert_eq!(route_condition("route()where x == 1"), None);
        assert_eq!(route_condition(r#"set(attributes["a"], "b")"#), None);
        assert_eq!(route_condition("route(x) where y == 1"), None);
    }
}
