//! What `weir validate` says: lines for people on stderr (coloured on a terminal), or
//! with `--format json` one document for programs on stdout.
//!
//! The JSON document:
//!
//! ```json
//! {"valid": false, "errors": 1, "warnings": 0,
//!  "diagnostics": [{"severity": "error", "path": "exporters.otlp.sending_queue.queue_sise",
//!                   "file": "collector.yaml", "line": 14, "message": "unknown key `queue_sise`",
//!                   "suggestion": "queue_size"}],
//!  "pipelines": []}
//! ```
//!
//! `file`, `line` and `suggestion` are `null` when unknown; `pipelines` lists the
//! pipeline ids of a valid configuration.

use std::io::IsTerminal;

use serde::Serialize;
use weir_config::{Config, Diagnostic, Diagnostics, Severity};

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<Item<'a>>,
    pipelines: Vec<String>,
}

#[derive(Serialize)]
struct Item<'a> {
    severity: &'static str,
    path: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
    message: &'a str,
    suggestion: Option<&'a str>,
}

fn item(d: &Diagnostic) -> Item<'_> {
    Item {
        severity: match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        },
        path: &d.path,
        file: d.location.as_ref().map(|l| l.file.as_str()),
        line: d.location.as_ref().map(|l| l.line).filter(|l| *l > 0),
        message: &d.message,
        suggestion: d.suggestion.as_deref(),
    }
}

/// The `--format json` document.
pub fn to_json(diagnostics: &Diagnostics, config: Option<&Config>) -> String {
    let report = Report {
        valid: config.is_some(),
        errors: diagnostics.errors().count(),
        warnings: diagnostics.warnings().count(),
        diagnostics: diagnostics.items.iter().map(item).collect(),
        pipelines: config
            .map(|c| {
                c.service
                    .pipelines
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect()
            })
            .unwrap_or_default(),
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn colored(severity: Severity, color: bool) -> String {
    match (severity, color) {
        (Severity::Error, true) => "\x1b[1;31merror\x1b[0m".into(),
        (Severity::Warning, true) => "\x1b[1;33mwarning\x1b[0m".into(),
        (severity, false) => severity.to_string(),
    }
}

/// One problem a line: `error: <key path> (<file>:<line>): <what>; did you mean ...?`.
fn problem_lines(diagnostics: &Diagnostics, color: bool) -> Vec<String> {
    diagnostics
        .items
        .iter()
        .map(|d| {
            let text = d.to_string();
            let plain = d.severity.to_string();
            match text.strip_prefix(&plain) {
                Some(rest) => format!("{}{rest}", colored(d.severity, color)),
                None => text,
            }
        })
        .collect()
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn color() -> bool {
    std::io::stderr().is_terminal() && crate::logging::color_allowed()
}

/// Every problem, then how many errors (when there are any): before `weir` runs.
pub fn print_problems(diagnostics: &Diagnostics) {
    for line in problem_lines(diagnostics, color()) {
        eprintln!("{line}");
    }
    let errors = diagnostics.errors().count();
    if errors > 0 {
        eprintln!("{} in the configuration", plural(errors, "error"));
    }
}

/// `weir validate` for people: every problem, then a verdict.
pub fn print_report(diagnostics: &Diagnostics, config: Option<&Config>) {
    eprint!("{}", report_text(diagnostics, config, color()));
}

fn report_text(diagnostics: &Diagnostics, config: Option<&Config>, color: bool) -> String {
    let mut out = String::new();
    for line in problem_lines(diagnostics, color) {
        out.push_str(&line);
        out.push('\n');
    }
    let errors = diagnostics.errors().count();
    let warnings = diagnostics.warnings().count();
    match config {
        Some(config) => {
            let pipelines: Vec<String> = config
                .service
                .pipelines
                .iter()
                .map(|(id, _)| id.to_string())
                .collect();
            out.push_str(&format!(
                "configuration is valid: {} ({})",
                plural(pipelines.len(), "pipeline"),
                pipelines.join(", ")
            ));
            if warnings > 0 {
                out.push_str(&format!(", {}", plural(warnings, "warning")));
            }
            out.push('\n');
        }
        None => {
            out.push_str(&format!(
                "{} in the configuration",
                plural(errors.max(1), "error")
            ));
            if warnings > 0 {
                out.push_str(&format!(" (and {})", plural(warnings, "warning")));
            }
            out.push_str("; Weir would not start with it\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_config::Location;

    fn broken() -> Diagnostics {
        let mut d = Diagnostics::default();
        d.push(
            Diagnostic::error(
                "exporters.otlp.sending_queue.queue_sise",
                "unknown key `queue_sise`",
            )
            .at(Some(Location {
                file: "c.yaml".into(),
                line: 14,
            }))
            .suggest(Some("queue_size".into())),
        );
        d.push(Diagnostic::warning("processors.batch", "unused"));
        d
    }

    #[test]
    fn json_for_programs() {
        let doc: serde_json::Value = serde_json::from_str(&to_json(&broken(), None)).unwrap();
        assert_eq!(doc["valid"], false);
        assert_eq!(doc["errors"], 1);
        assert_eq!(doc["warnings"], 1);
        let first = &doc["diagnostics"][0];
        assert_eq!(first["severity"], "error");
        assert_eq!(first["path"], "exporters.otlp.sending_queue.queue_sise");
        assert_eq!(first["file"], "c.yaml");
        assert_eq!(first["line"], 14);
        assert_eq!(first["suggestion"], "queue_size");
        assert_eq!(doc["diagnostics"][1]["file"], serde_json::Value::Null);
    }

    #[test]
    fn text_for_people_coloured_only_when_asked() {
        let plain = report_text(&broken(), None, false);
        assert!(!plain.contains('\x1b'));
        assert!(plain.starts_with(
            "error: exporters.otlp.sending_queue.queue_sise (c.yaml:14): unknown key `queue_sise`; did you mean `queue_size`?\n"
        ), "{plain}");
        assert!(
            plain.ends_with(
                "1 error in the configuration (and 1 warning); Weir would not start with it\n"
            ),
            "{plain}"
        );
        let colored = report_text(&broken(), None, true);
        assert!(
            colored.starts_with("\x1b[1;31merror\x1b[0m: exporters"),
            "{colored}"
        );
    }
}
