//! The `load_shedder` section. Weir's own processor, so the keys are Weir's (issue 10's
//! fixed shape: `pressure`, `classes`, `shadow`; extended, never renamed).
//!
//! Parsing is strict (`deny_unknown_fields`) so a misspelled key is reported with its
//! path and a suggestion. Every class condition is compiled here as well, so
//! `weir validate` names `classes.<i>.condition` and the column of an OTTL mistake
//! before anything starts.

use std::time::Duration;

use serde::Deserialize;
use weir_api::config::{problem, problem_with_suggestion};
use weir_api::{ComponentProblem, Signal};
use weir_ottl::{Condition, Context, OttlError};

/// The default classes: the documented example. Debug and info logs go first,
/// then successful spans down to a 5% floor; error logs and error spans match neither
/// class, so they are never shed.
fn default_classes() -> Vec<ClassConfig> {
    vec![
        ClassConfig {
            name: "verbose_logs".into(),
            condition: "severity_number < SEVERITY_NUMBER_WARN".into(),
            keep_floor_percent: None,
            context: None,
        },
        ClassConfig {
            name: "ok_spans".into(),
            condition: "status.code != STATUS_CODE_ERROR".into(),
            keep_floor_percent: Some(5.0),
            context: None,
        },
    ]
}

/// The `load_shedder` configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadShedderConfig {
    pub pressure: PressureConfig,
    /// Priority classes, shed from the first; the last is kept longest. An item belongs
    /// to the first class whose condition it matches; items matching none are never shed.
    pub classes: Vec<ClassConfig>,
    /// Count what would be shed (`weir_shadow_would_drop_total`) and shed nothing.
    pub shadow: bool,
}

impl Default for LoadShedderConfig {
    fn default() -> Self {
        Self {
            pressure: PressureConfig::default(),
            classes: default_classes(),
            shadow: false,
        }
    }
}

/// When the process counts as under pressure.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PressureConfig {
    /// Threshold on the memory budget in use, as a percentage of its soft limit (the
    /// memory limiter's `limit_mib - spike_limit_mib`). 0 turns this input off; with no
    /// memory limiter configured the budget has no limit and the input is absent.
    pub memory_percent: f64,
    /// Threshold on the fullest exporter queue's fill, in percent. 0 turns it off.
    pub queue_fill_percent: f64,
    /// How far (in percentage points of each input's scale) every input must fall below
    /// the point that started a class before that class stops being shed.
    pub hysteresis_percent: f64,
    /// Threshold on the slowest exporter's mean delivery time. 0 (the default) turns
    /// this input off.
    #[serde(with = "weir_api::duration")]
    pub export_latency: Duration,
    /// How often the inputs are read (at most; they are read when data arrives).
    #[serde(with = "weir_api::duration")]
    pub check_interval: Duration,
}

impl Default for PressureConfig {
    fn default() -> Self {
        Self {
            memory_percent: 80.0,
            queue_fill_percent: 80.0,
            hysteresis_percent: 10.0,
            export_latency: Duration::ZERO,
            check_interval: Duration::from_millis(100),
        }
    }
}

/// One priority class.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// Names the class in metrics (`reason="shed_<name>"`, `class="<name>"`) and logs.
    pub name: String,
    /// An OTTL condition; which items it reads depends on `context`.
    pub condition: String,
    /// While the class is shed, keep at least this percentage of its items (sampled:
    /// spans by trace id, logs and points by count). Absent: shed all of them.
    #[serde(default)]
    pub keep_floor_percent: Option<f64>,
    /// `span`, `log` or `datapoint`: the only context the class applies to. Absent: the
    /// class applies to every signal whose context its condition compiles in.
    #[serde(default)]
    pub context: Option<String>,
}

/// The OTTL context a signal's items are judged in.
pub fn context_of(signal: Signal) -> Context {
    match signal {
        Signal::Traces => Context::Span,
        Signal::Logs => Context::Log,
        Signal::Metrics => Context::DataPoint,
    }
}

/// The contexts a class may name.
const CONTEXTS: [Context; 3] = [Context::Span, Context::Log, Context::DataPoint];

impl ClassConfig {
    /// The context named by `context`, if it is one of the three item contexts.
    fn explicit_context(&self) -> Result<Option<Context>, String> {
        let Some(name) = self.context.as_deref() else {
            return Ok(None);
        };
        match Context::parse(name) {
            Some(context) if CONTEXTS.contains(&context) => Ok(Some(context)),
            _ => Err(format!(
                "unknown context `{name}`: a class is about `span`, `log` or `datapoint` items"
            )),
        }
    }

    /// The condition compiled for `signal`'s items: `Ok(None)` when the class does not
    /// apply to that signal (another context is named, or the condition reads fields
    /// that item does not have).
    pub fn compile_for(&self, signal: Signal) -> Result<Option<Condition>, OttlError> {
        let context = context_of(signal);
        match self.explicit_context() {
            Ok(Some(named)) if named == context => {
                Condition::compile(&self.condition, context).map(Some)
            }
            Ok(Some(_)) | Err(_) => Ok(None),
            Ok(None) => Ok(Condition::compile(&self.condition, context).ok()),
        }
    }

    /// Problems with this class, at `classes.<index>`.
    fn problems(&self, index: usize, seen: &[&str], out: &mut Vec<ComponentProblem>) {
        let at = index.to_string();
        let name = self.name.as_str();
        if name.is_empty() {
            out.push(problem(&["classes", &at, "name"], "a class needs a name"));
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            out.push(problem_with_suggestion(
                &["classes", &at, "name"],
                format!("class name `{name}` has characters other than letters, digits, `_`, `-` and `.`"),
                "the name becomes a metric label and the drop reason `shed_<name>`",
            ));
        } else if seen.contains(&name) {
            out.push(problem(
                &["classes", &at, "name"],
                format!("class `{name}` is named twice"),
            ));
        }
        if let Some(floor) = self.keep_floor_percent {
            if !floor.is_finite() || !(0.0..100.0).contains(&floor) {
                out.push(problem_with_suggestion(
                    &["classes", &at, "keep_floor_percent"],
                    format!("keep_floor_percent must be at least 0 and below 100, not {floor}"),
                    "e.g. `keep_floor_percent: 5`; remove it to shed the whole class",
                ));
            }
        }
        if self.condition.trim().is_empty() {
            out.push(problem_with_suggestion(
                &["classes", &at, "condition"],
                "a class needs a condition",
                "e.g. `condition: 'severity_number < SEVERITY_NUMBER_WARN'`",
            ));
            return;
        }
        match self.explicit_context() {
            Err(message) => out.push(problem(&["classes", &at, "context"], message)),
            Ok(Some(context)) => {
                if let Err(error) = Condition::compile(&self.condition, context) {
                    out.push(problem(&["classes", &at, "condition"], format!("{error}")));
                }
            }
            Ok(None) => {
                let errors: Vec<(Context, OttlError)> = CONTEXTS
                    .iter()
                    .map(|&c| (c, Condition::compile(&self.condition, c)))
                    .filter_map(|(c, r)| r.err().map(|e| (c, e)))
                    .collect();
                if errors.len() == CONTEXTS.len() {
                    // A syntax error reads the same in every context: say it once.
                    let message = if errors.iter().all(|(_, e)| *e == errors[0].1) {
                        format!("{}", errors[0].1)
                    } else {
                        errors
                            .iter()
                            .map(|(c, e)| format!("as a {c} condition: {e}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    };
                    out.push(problem(&["classes", &at, "condition"], message));
                }
            }
        }
    }
}

/// Whether a percentage threshold is usable: 0 (off) to 100.
fn percent_problem(key: &str, value: f64) -> Option<ComponentProblem> {
    (!value.is_finite() || !(0.0..=100.0).contains(&value)).then(|| {
        problem_with_suggestion(
            &["pressure", key],
            format!("{key} must be between 0 (off) and 100, not {value}"),
            format!("e.g. `{key}: 80`"),
        )
    })
}

impl PressureConfig {
    /// The enabled thresholds, in percent of their own scale (export latency's scale is
    /// its threshold, so its threshold is 100).
    pub fn enabled_thresholds(&self) -> Vec<f64> {
        let mut out = Vec::new();
        if self.memory_percent > 0.0 {
            out.push(self.memory_percent);
        }
        if self.queue_fill_percent > 0.0 {
            out.push(self.queue_fill_percent);
        }
        if !self.export_latency.is_zero() {
            out.push(100.0);
        }
        out
    }

    fn problems(&self, out: &mut Vec<ComponentProblem>) {
        out.extend(percent_problem("memory_percent", self.memory_percent));
        out.extend(percent_problem(
            "queue_fill_percent",
            self.queue_fill_percent,
        ));
        let hysteresis = self.hysteresis_percent;
        if !hysteresis.is_finite() || hysteresis < 0.0 {
            out.push(problem_with_suggestion(
                &["pressure", "hysteresis_percent"],
                format!("hysteresis_percent must be 0 or more, not {hysteresis}"),
                "e.g. `hysteresis_percent: 10`",
            ));
        }
        let thresholds = self.enabled_thresholds();
        if thresholds.is_empty() {
            out.push(problem_with_suggestion(
                &["pressure"],
                "every pressure input is off: the load shedder would never shed",
                "set memory_percent, queue_fill_percent or export_latency",
            ));
        } else if let Some(lowest) = thresholds.iter().copied().reduce(f64::min) {
            if hysteresis.is_finite() && hysteresis >= lowest {
                out.push(problem_with_suggestion(
                    &["pressure", "hysteresis_percent"],
                    format!(
                        "hysteresis_percent ({hysteresis}) must be below the lowest threshold \
                         ({lowest}), or shedding would never stop"
                    ),
                    "e.g. `hysteresis_percent: 10`",
                ));
            }
        }
        if self.check_interval.is_zero() {
            out.push(problem_with_suggestion(
                &["pressure", "check_interval"],
                "check_interval must be longer than 0",
                "e.g. `check_interval: 100ms`",
            ));
        }
    }
}

impl weir_api::config::Validate for LoadShedderConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut problems = Vec::new();
        self.pressure.problems(&mut problems);
        if self.classes.is_empty() {
            problems.push(problem_with_suggestion(
                &["classes"],
                "no classes: the load shedder would have nothing to shed",
                "list classes, e.g. `- {name: verbose_logs, condition: 'severity_number < \
                 SEVERITY_NUMBER_WARN'}`, or remove `classes` for the defaults",
            ));
        }
        for (index, class) in self.classes.iter().enumerate() {
            let seen: Vec<&str> = self.classes[..index]
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            class.problems(index, &seen, &mut problems);
        }
        problems
    }
}
