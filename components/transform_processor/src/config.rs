//! The `transform` section: the Collector's keys, both list forms, compiled once.
//!
//! Each `<signal>_statements` list may hold, in any mix:
//! - strings (the Collector's "basic" form): OTTL statements whose paths carry their
//!   context prefix (`span.attributes[...]`). Weir infers the context of each statement
//!   from its own prefixes, falling back to the context inferred over the run of strings
//!   it stands in; since statements run one after another over the whole batch
//!   (statement-major), this gives the same result as the Collector's one group;
//! - mappings (the "advanced" form): `{context, conditions, statements, error_mode,
//!   shared_cache}`; without `context`, it is inferred from the group's paths.
//!
//! Everything is compiled here, for `weir validate` and again at build, so an expression
//! Weir cannot run is refused before start with its key path and column.

use serde::Deserialize;
use weir_api::config::{parse, problem, problem_with_suggestion};
use weir_api::{ComponentProblem, Signal, Value};
use weir_ottl::{infer_context, ConditionSet, Context, ErrorMode, OttlError, Statement};

use crate::fold::fold_conditions;

/// The section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// What a failing statement or condition does, unless a group says otherwise. The
    /// Collector's default is `propagate`.
    pub error_mode: ErrorMode,
    pub trace_statements: Vec<Value>,
    pub metric_statements: Vec<Value>,
    pub log_statements: Vec<Value>,
    /// The Collector's log flattening (behind a feature gate there); not supported.
    pub flatten_data: bool,
}

/// One group of the advanced form, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GroupSection {
    context: Option<String>,
    conditions: Vec<String>,
    statements: Vec<String>,
    error_mode: Option<ErrorMode>,
    shared_cache: bool,
}

/// How a group's `conditions` (any-of) gate its statements.
#[derive(Debug, Clone)]
pub enum Gate {
    /// The group has no conditions.
    Open,
    /// Evaluated once per item before the group's first statement, as the Collector
    /// does (resource, span and log contexts, whose edit walks visit each item once).
    Once(ConditionSet),
    /// Evaluated before each statement (scope and metric contexts: their edit walks may
    /// visit an item twice, so a per-item decision cannot be replayed by position).
    EachStatement(ConditionSet),
    /// Folded into each statement's `where` (span events and data points, which a
    /// statement visits itself, one by one).
    Folded,
}

/// A compiled group: statements run in order, each over the whole batch.
#[derive(Debug, Clone)]
pub struct Group {
    pub context: Context,
    pub error_mode: ErrorMode,
    pub gate: Gate,
    pub statements: Vec<Statement>,
}

/// The config key of a signal's statement list.
pub fn list_key(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "trace_statements",
        Signal::Metrics => "metric_statements",
        Signal::Logs => "log_statements",
    }
}

/// The contexts a signal's list may use (the Collector's path prefixes per list).
pub fn allowed_contexts(signal: Signal) -> &'static [Context] {
    match signal {
        Signal::Traces => &[
            Context::Resource,
            Context::Scope,
            Context::Span,
            Context::SpanEvent,
        ],
        Signal::Metrics => &[
            Context::Resource,
            Context::Scope,
            Context::Metric,
            Context::DataPoint,
        ],
        Signal::Logs => &[Context::Resource, Context::Scope, Context::Log],
    }
}

impl TransformConfig {
    fn list(&self, signal: Signal) -> &[Value] {
        match signal {
            Signal::Traces => &self.trace_statements,
            Signal::Metrics => &self.metric_statements,
            Signal::Logs => &self.log_statements,
        }
    }

    fn own_problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        if self.flatten_data {
            problems.push(problem_with_suggestion(
                &["flatten_data"],
                "flatten_data is not supported by Weir's transform processor",
                "remove it (or set it to false); statements see each log record with its own resource and scope",
            ));
        }
        problems
    }
}

/// Every problem of the section, for every signal's list (`weir validate`).
pub fn check(section: &Value) -> Vec<ComponentProblem> {
    let config: TransformConfig = match parse(section) {
        Ok(config) => config,
        Err(problem) => return vec![problem],
    };
    let mut problems = config.own_problems();
    for signal in Signal::ALL {
        compile_list(
            signal,
            config.list(signal),
            config.error_mode,
            &mut problems,
        );
    }
    problems
}

/// The groups of one signal's list, or the first problem of the section.
pub fn compile(section: &Value, signal: Signal) -> Result<Vec<Group>, ComponentProblem> {
    let config: TransformConfig = parse(section)?;
    let mut problems = config.own_problems();
    let groups = compile_list(
        signal,
        config.list(signal),
        config.error_mode,
        &mut problems,
    );
    match problems.into_iter().next() {
        Some(problem) => Err(problem),
        None => Ok(groups),
    }
}

/// Compiles one list, adding a problem (with its key path) for each entry that fails.
fn compile_list(
    signal: Signal,
    entries: &[Value],
    top: ErrorMode,
    problems: &mut Vec<ComponentProblem>,
) -> Vec<Group> {
    let key = list_key(signal);
    let mut groups = Vec::new();
    let mut index = 0;
    while index < entries.len() {
        match &entries[index] {
            Value::String(_) => {
                let start = index;
                let mut run = Vec::new();
                while let Some(Value::String(text)) = entries.get(index) {
                    run.push(text.as_str());
                    index += 1;
                }
                compile_flat(signal, start, &run, top, &mut groups, problems);
            }
            Value::Mapping(_) => {
                if let Some(group) =
                    compile_structured(signal, index, &entries[index], top, problems)
                {
                    groups.push(group);
                }
                index += 1;
            }
            _ => {
                problems.push(problem_with_suggestion(
                    &[key, &index.to_string()],
                    "expected an OTTL statement (a string) or a group (a mapping with `statements`)",
                    "e.g. `- set(span.attributes[\"env\"], \"prod\")` or `- context: span\\n  statements: [...]`",
                ));
                index += 1;
            }
        }
    }
    groups
}

/// A run of strings: one single-statement group per string, each with its inferred context.
fn compile_flat(
    signal: Signal,
    start: usize,
    run: &[&str],
    top: ErrorMode,
    groups: &mut Vec<Group>,
    problems: &mut Vec<ComponentProblem>,
) {
    let key = list_key(signal);
    // The run's context, for statements that name no prefixed path themselves.
    let run_context = infer_context(run);
    for (offset, text) in run.iter().enumerate() {
        let path = [key.to_string(), (start + offset).to_string()];
        let context = match infer_context(&[*text]) {
            Ok(context) => context,
            Err((_, own_error)) => match &run_context {
                Ok(context) => *context,
                Err(_) => {
                    problems.push(ottl_problem(&path, &own_error));
                    continue;
                }
            },
        };
        if let Err(problem) = check_context(signal, context, &path) {
            problems.push(problem);
            continue;
        }
        match Statement::compile(text, context) {
            Ok(statement) => groups.push(Group {
                context,
                error_mode: top,
                gate: Gate::Open,
                statements: vec![statement],
            }),
            Err(error) => problems.push(ottl_problem(&path, &error)),
        }
    }
}

fn compile_structured(
    signal: Signal,
    index: usize,
    entry: &Value,
    top: ErrorMode,
    problems: &mut Vec<ComponentProblem>,
) -> Option<Group> {
    let base = [list_key(signal).to_string(), index.to_string()];
    let at = |rest: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(rest.iter().map(|s| s.to_string()))
            .collect()
    };
    let section: GroupSection = match parse(entry) {
        Ok(section) => section,
        Err(mut problem) => {
            problem.path = at(&[]).into_iter().chain(problem.path).collect();
            problems.push(problem);
            return None;
        }
    };
    let before = problems.len();
    if section.shared_cache {
        problems.push(ComponentProblem {
            path: at(&["shared_cache"]),
            message: "shared_cache is not supported by Weir's transform processor (it has no `cache` paths)".into(),
            suggestion: Some("remove it".into()),
        });
    }
    let context = match &section.context {
        Some(name) => match Context::parse(name) {
            Some(context) => context,
            None => {
                problems.push(ComponentProblem {
                    path: at(&["context"]),
                    message: format!("unknown context `{name}`"),
                    suggestion: Some(context_names(signal)),
                });
                return None;
            }
        },
        None => {
            let texts: Vec<&str> = section
                .statements
                .iter()
                .chain(&section.conditions)
                .map(String::as_str)
                .collect();
            match infer_context(&texts) {
                Ok(context) => context,
                Err((i, error)) => {
                    let path = if i < section.statements.len() {
                        at(&["statements", &i.to_string()])
                    } else {
                        at(&["conditions", &(i - section.statements.len()).to_string()])
                    };
                    let mut problem = ottl_problem(&path, &error);
                    problem.suggestion =
                        Some("or name the group's context, e.g. `context: span`".into());
                    problems.push(problem);
                    return None;
                }
            }
        }
    };
    if let Err(problem) = check_context(signal, context, &at(&["context"])) {
        problems.push(problem);
        return None;
    }
    let conditions = match ConditionSet::compile(&section.conditions, context) {
        Ok(set) => Some(set),
        Err((i, error)) => {
            problems.push(ottl_problem(&at(&["conditions", &i.to_string()]), &error));
            None
        }
    };
    let gate = match (&conditions, context) {
        (Some(set), _) if set.is_empty() => Gate::Open,
        (Some(set), Context::Resource | Context::Span | Context::Log) => Gate::Once(set.clone()),
        (Some(set), Context::Scope | Context::Metric) => Gate::EachStatement(set.clone()),
        _ => Gate::Folded,
    };
    let mut statements = Vec::with_capacity(section.statements.len());
    for (j, text) in section.statements.iter().enumerate() {
        let path = at(&["statements", &j.to_string()]);
        let statement = match Statement::compile(text, context) {
            Ok(statement) => statement,
            Err(error) => {
                problems.push(ottl_problem(&path, &error));
                continue;
            }
        };
        if !matches!(gate, Gate::Folded) || conditions.is_none() {
            statements.push(statement);
            continue;
        }
        let folded = fold_conditions(text, &section.conditions);
        match Statement::compile(&folded, context) {
            Ok(statement) => statements.push(statement),
            Err(error) => problems.push(ComponentProblem {
                path,
                message: format!("with the group's conditions added to its `where`: {error}"),
                suggestion: None,
            }),
        }
    }
    (problems.len() == before).then(|| Group {
        context,
        error_mode: section.error_mode.unwrap_or(top),
        gate,
        statements,
    })
}

fn check_context(
    signal: Signal,
    context: Context,
    path: &[String],
) -> Result<(), ComponentProblem> {
    if allowed_contexts(signal).contains(&context) {
        return Ok(());
    }
    Err(ComponentProblem {
        path: path.to_vec(),
        message: format!(
            "the `{context}` context cannot be used in {}",
            list_key(signal)
        ),
        suggestion: Some(context_names(signal)),
    })
}

fn context_names(signal: Signal) -> String {
    let names: Vec<&str> = allowed_contexts(signal).iter().map(|c| c.name()).collect();
    format!("{} takes: {}", list_key(signal), names.join(", "))
}

/// `column N: message (in `text`)` at the key path.
fn ottl_problem(path: &[String], error: &OttlError) -> ComponentProblem {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    problem(&path, error.to_string())
}
