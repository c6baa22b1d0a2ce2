//! From configuration to what runs: the compiled condition stages of one signal, in
//! the order the Collector evaluates them (resource, scope, item, sub-item), or the
//! legacy include/exclude matcher.
//!
//! The same code serves `check` (every signal, every problem, with key paths) and
//! `build` (one signal), so whatever `weir validate` accepts builds.

use weir_api::config::{problem, problem_with_suggestion};
use weir_api::{ComponentProblem, Signal, Value};
use weir_ottl::{infer_context, Condition, ConditionSet, Context, ErrorMode, OttlError};

use crate::config::{ConditionGroup, FilterConfig};
use crate::legacy::LegacyFilter;

/// Conditions of one context, run in one walk over the batch.
#[derive(Debug)]
pub struct Stage {
    pub context: Context,
    pub conditions: ConditionSet,
    pub error_mode: ErrorMode,
    /// Where the conditions come from (`traces.span`, `trace_conditions`), for logs.
    pub key: String,
}

/// What a `filter` processor does to one signal.
#[derive(Debug, Default)]
pub struct Plan {
    /// Condition stages, coarsest context first: an item a coarser stage dropped is
    /// never evaluated by a finer one, as in the Collector.
    pub stages: Vec<Stage>,
    /// The legacy include/exclude form, when configured.
    pub legacy: Option<LegacyFilter>,
}

impl Plan {
    /// Whether the processor passes everything through untouched.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty() && self.legacy.is_none()
    }
}

/// Every problem in the section, for every signal.
pub fn problems(config: &FilterConfig) -> Vec<ComponentProblem> {
    let mut problems = conflicts(config);
    if !problems.is_empty() {
        return problems;
    }
    for signal in Signal::ALL {
        if let Err(mut found) = plan(config, signal) {
            problems.append(&mut found);
        }
    }
    problems
}

/// The plan for one signal, or every problem found on the way.
pub fn plan(config: &FilterConfig, signal: Signal) -> Result<Plan, Vec<ComponentProblem>> {
    let conflicts = conflicts(config);
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mode = config.effective_error_mode();
    let mut builder = Builder {
        signal,
        mode,
        stages: Vec::new(),
        problems: Vec::new(),
    };
    match signal {
        Signal::Traces => {
            let t = &config.traces;
            builder.explicit(&["traces", "resource"], &t.resource, Context::Resource);
            builder.explicit(&["traces", "span"], &t.span, Context::Span);
            builder.explicit(&["traces", "spanevent"], &t.spanevent, Context::SpanEvent);
            builder.inferred("trace_conditions", config.trace_conditions.as_deref());
        }
        Signal::Metrics => {
            let m = &config.metrics;
            builder.explicit(&["metrics", "resource"], &m.resource, Context::Resource);
            builder.explicit(&["metrics", "metric"], &m.metric, Context::Metric);
            builder.explicit(&["metrics", "datapoint"], &m.datapoint, Context::DataPoint);
            builder.inferred("metric_conditions", config.metric_conditions.as_deref());
        }
        Signal::Logs => {
            let l = &config.logs;
            builder.explicit(&["logs", "resource"], &l.resource, Context::Resource);
            builder.explicit(&["logs", "log_record"], &l.log_record, Context::Log);
            builder.inferred("log_conditions", config.log_conditions.as_deref());
        }
    }
    let legacy = match LegacyFilter::compile(config, signal) {
        Ok(legacy) => legacy,
        Err(mut problems) => {
            builder.problems.append(&mut problems);
            None
        }
    };
    if !builder.problems.is_empty() {
        return Err(builder.problems);
    }
    let mut stages = builder.stages;
    stages.sort_by_key(|stage| level(stage.context));
    Ok(Plan { stages, legacy })
}

/// Forms that cannot be combined for one signal, refused as the Collector refuses them
/// (and `trace_conditions` with `spans`, which the Collector accepts and then silently
/// ignores `spans`).
fn conflicts(config: &FilterConfig) -> Vec<ComponentProblem> {
    let mut problems = Vec::new();
    let mut refuse = |path: &[&str], message: &str| {
        problems.push(problem_with_suggestion(
            path,
            message,
            "use one form per signal: the `*_conditions` list is the Collector's current one",
        ))
    };
    if config.trace_conditions.is_some() && (config.traces.is_set() || config.spans.is_set()) {
        refuse(
            &["trace_conditions"],
            "cannot use context inferred trace conditions \"trace_conditions\" and the settings \
             \"traces.resource\", \"traces.span\", \"traces.spanevent\", \"spans.include\", \
             \"spans.exclude\" at the same time",
        );
    }
    let m = &config.metrics;
    if config.metric_conditions.is_some() && (m.conditions_set() || m.legacy_set()) {
        refuse(
            &["metric_conditions"],
            "cannot use context inferred metric conditions \"metric_conditions\" and the settings \
             \"metrics.resource\", \"metrics.metric\", \"metrics.datapoint\", \"metrics.include\", \
             \"metrics.exclude\" at the same time",
        );
    }
    let l = &config.logs;
    if config.log_conditions.is_some() && (l.conditions_set() || l.legacy_set()) {
        refuse(
            &["log_conditions"],
            "cannot use context inferred log conditions \"log_conditions\" and the settings \
             \"logs.resource\", \"logs.log_record\", \"logs.include\", \"logs.exclude\" at the \
             same time",
        );
    }
    if config.traces.is_set() && config.spans.is_set() {
        refuse(
            &["spans"],
            "cannot use \"traces.resource\", \"traces.span\", \"traces.spanevent\" and the span \
             settings \"spans.include\", \"spans.exclude\" at the same time",
        );
    }
    if m.conditions_set() && m.legacy_set() {
        refuse(
            &["metrics"],
            "cannot use \"metrics.resource\", \"metrics.metric\", \"metrics.datapoint\" and the \
             settings \"metrics.include\", \"metrics.exclude\" at the same time",
        );
    }
    if l.conditions_set() && l.legacy_set() {
        refuse(
            &["logs"],
            "cannot use \"logs.resource\", \"logs.log_record\" and the settings \"logs.include\", \
             \"logs.exclude\" at the same time",
        );
    }
    problems
}

/// Evaluation order: coarser contexts first.
fn level(context: Context) -> u8 {
    match context {
        Context::Request | Context::Resource => 0,
        Context::Scope => 1,
        Context::Span | Context::Metric | Context::Log => 2,
        Context::SpanEvent | Context::DataPoint => 3,
    }
}

/// The contexts a signal's conditions may be about.
fn allowed(signal: Signal) -> &'static [Context] {
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

fn allowed_names(signal: Signal) -> String {
    allowed(signal)
        .iter()
        .map(|c| format!("`{}`", c.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Builder {
    signal: Signal,
    mode: ErrorMode,
    stages: Vec<Stage>,
    problems: Vec<ComponentProblem>,
}

impl Builder {
    /// A per-context list (`traces.span`): every condition compiled for `context`.
    fn explicit(&mut self, path: &[&str], texts: &Option<Vec<String>>, context: Context) {
        let Some(texts) = texts else { return };
        let key = path.join(".");
        let mut compiled = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            match Condition::compile(text, context) {
                Ok(_) => compiled.push(text.clone()),
                Err(error) => self.ottl_problem(path, index, &error),
            }
        }
        self.push(key, context, &compiled, self.mode);
    }

    /// A `*_conditions` list: strings (basic style) or groups (advanced style), not both.
    fn inferred(&mut self, key: &str, entries: Option<&[Value]>) {
        let Some(entries) = entries else { return };
        let strings = entries.iter().filter(|v| v.is_string()).count();
        if strings != 0 && strings != entries.len() {
            self.problems.push(problem_with_suggestion(
                &[key],
                "configuring multiple configuration styles is not supported: the list mixes \
                 conditions (strings) and groups (`context`/`conditions`/`error_mode`)",
                "write only conditions, or only groups",
            ));
            return;
        }
        for (index, entry) in entries.iter().enumerate() {
            let index_text = index.to_string();
            match entry {
                Value::String(text) => {
                    let path = [key, index_text.as_str()];
                    if let Some(context) = self.infer_one(&path, text) {
                        self.push(
                            key.to_string(),
                            context,
                            std::slice::from_ref(text),
                            self.mode,
                        );
                    }
                }
                _ => {
                    let group: ConditionGroup = match weir_api::config::parse(entry) {
                        Ok(group) => group,
                        Err(mut problem) => {
                            let mut path = vec![key.to_string(), index_text.clone()];
                            path.append(&mut problem.path);
                            problem.path = path;
                            self.problems.push(problem);
                            continue;
                        }
                    };
                    self.group(key, &index_text, &group);
                }
            }
        }
    }

    /// One advanced-style group: its context (given or inferred per condition) and its
    /// error mode.
    fn group(&mut self, key: &str, index: &str, group: &ConditionGroup) {
        let mode = group.error_mode.unwrap_or(self.mode);
        let stage_key = format!("{key}[{index}]");
        let given = match group.context.as_deref() {
            None => None,
            Some(name) => {
                match Context::parse(&name.to_ascii_lowercase())
                    .filter(|c| allowed(self.signal).contains(c))
                {
                    Some(context) => Some(context),
                    None => {
                        self.problems.push(problem_with_suggestion(
                            &[key, index, "context"],
                            format!("unknown context `{name}` for {} conditions", self.signal),
                            format!("use one of {}", allowed_names(self.signal)),
                        ));
                        return;
                    }
                }
            }
        };
        for (i, text) in group.conditions.iter().enumerate() {
            let i = i.to_string();
            let path = [key, index, "conditions", i.as_str()];
            let context = match given {
                Some(context) => match Condition::compile(text, context) {
                    Ok(_) => context,
                    Err(error) => {
                        self.problems.push(problem(&path, format!("{error}")));
                        continue;
                    }
                },
                None => match self.infer_one(&path, text) {
                    Some(context) => context,
                    None => continue,
                },
            };
            self.push(stage_key.clone(), context, std::slice::from_ref(text), mode);
        }
    }

    /// Infers one condition's context from its path prefixes, checks the signal has it,
    /// and compiles the condition.
    fn infer_one(&mut self, path: &[&str], text: &str) -> Option<Context> {
        let context = match infer_context(&[text]) {
            Ok(context) => context,
            Err((_, error)) => {
                self.problems.push(problem(path, format!("{error}")));
                return None;
            }
        };
        if !allowed(self.signal).contains(&context) {
            self.problems.push(problem_with_suggestion(
                path,
                format!(
                    "the `{}` context is not one of {} conditions' (in `{text}`)",
                    context.name(),
                    self.signal
                ),
                format!("prefix paths with {}", allowed_names(self.signal)),
            ));
            return None;
        }
        match Condition::compile(text, context) {
            Ok(_) => Some(context),
            Err(error) => {
                self.problems.push(problem(path, format!("{error}")));
                None
            }
        }
    }

    fn ottl_problem(&mut self, path: &[&str], index: usize, error: &OttlError) {
        let index = index.to_string();
        let mut full: Vec<&str> = path.to_vec();
        full.push(&index);
        self.problems.push(problem(&full, format!("{error}")));
    }

    /// Adds conditions to the last stage when it has the same context, key and error
    /// mode (a basic-style list becomes one stage per context), else a new stage.
    fn push(&mut self, key: String, context: Context, texts: &[String], mode: ErrorMode) {
        if texts.is_empty() {
            return;
        }
        let mut all: Vec<String> = texts.to_vec();
        if let Some(pos) = self
            .stages
            .iter()
            .position(|s| s.context == context && s.key == key && s.error_mode == mode)
        {
            let existing = self.stages.remove(pos);
            let mut merged: Vec<String> = existing
                .conditions
                .iter()
                .map(|c| c.text().to_string())
                .collect();
            merged.append(&mut all);
            all = merged;
        }
        match ConditionSet::compile(&all, context) {
            Ok(conditions) => self.stages.push(Stage {
                context,
                conditions,
                error_mode: mode,
                key,
            }),
            // Each text compiled alone above; a failure here cannot happen, but is
            // reported rather than lost.
            Err((index, error)) => self.problems.push(problem(
                &[key.as_str()],
                format!("condition {index}: {error}"),
            )),
        }
    }
}
