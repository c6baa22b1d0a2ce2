//! The structure test: component crates read and build items through `Batch`'s views,
//! edits and builders, never through the OTLP prost structs.
//!
//! Why: with the structs out of the components, `Batch` can hold received wire bytes
//! (or anything else) without touching a component. This test reads every component's
//! production source (`components/*/src`, without `#[cfg(test)]` modules and test
//! files) and fails on any use of the OTLP types or of the hidden decoded accessors
//! that exist for tests and the JSON codec.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// What a component's production code may not name.
const FORBIDDEN: &[&str] = &[
    "opentelemetry_proto",
    "weir_proto::trace",
    "weir_proto::metrics",
    "weir_proto::logs",
    "weir_proto::common",
    "weir_proto::resource",
    ".resource_spans()",
    ".resource_metrics()",
    ".resource_logs()",
    "edit_otlp_traces",
    "Batch::from_traces",
    "Batch::from_metrics",
    "Batch::from_logs",
    "to_traces_request",
    "to_metrics_request",
    "to_logs_request",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Test modules and files are exempt: tests may build inputs as a client would.
fn is_test_file(relative: &Path) -> bool {
    let name = relative
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || name == "test_support.rs"
        || relative.components().any(|c| c.as_os_str() == "tests")
}

/// The source before its first `#[cfg(test)]`: test modules sit at the end of a file.
fn production_part(source: &str) -> &str {
    source.split("#[cfg(test)]").next().unwrap_or_default()
}

fn violations(components: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(components).unwrap().flatten() {
        if entry.file_name() == "registry" {
            continue;
        }
        rust_files(&entry.path().join("src"), &mut files);
    }
    assert!(
        !files.is_empty(),
        "no component sources under {}",
        components.display()
    );
    for file in files
        .iter()
        .filter(|f| !is_test_file(f.strip_prefix(components).unwrap_or(f)))
    {
        let source = std::fs::read_to_string(file).unwrap();
        for (number, line) in production_part(&source).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for pattern in FORBIDDEN {
                if line.contains(pattern) {
                    found.push(format!("{}:{}: `{pattern}`", file.display(), number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn components_name_no_otlp_struct() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let components = root.join("components");
    let found = violations(&components);
    assert!(
        found.is_empty(),
        "component code must use Batch's views, edits and builders, not the OTLP structs:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_a_violation() {
    let dir = std::env::temp_dir().join(format!("weir-structure-{}", std::process::id()));
    let src = dir.join("fake_component/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "use weir_proto::trace::v1::Span;\n#[cfg(test)]\nmod tests { use weir_proto::logs::v1::LogRecord; }\n",
    )
    .unwrap();
    let found = violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("weir_proto::trace"));
}

/// Metric names a production file spells at a call site: a `.counter(` or `.gauge(` whose
/// first argument is a string literal, or any string literal that looks like a metric
/// name (`"otelcol_..."`, `"weir_..."`). Metrics are named once, in
/// `collector/api/src/telemetry/names.rs`, and taken by declaration.
fn metric_names_at_call_sites(root: &Path, skip: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        if skip.iter().any(|s| entry.file_name() == *s) {
            continue;
        }
        rust_files(&entry.path().join("src"), &mut files);
    }
    assert!(!files.is_empty(), "no sources under {}", root.display());
    for file in files
        .iter()
        .filter(|f| !is_test_file(f.strip_prefix(root).unwrap_or(f)))
    {
        let source = std::fs::read_to_string(file).unwrap();
        // Comment lines blanked, so line numbers still match.
        let code: String = production_part(&source)
            .lines()
            .map(|line| {
                if line.trim_start().starts_with("//") {
                    "\n".to_string()
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
        for call in [".counter(", ".gauge("] {
            for (at, _) in code.match_indices(call) {
                let rest = code[at + call.len()..].trim_start();
                if rest.starts_with('"') {
                    found.push(format!(
                        "{}:{}: `{call}` with a string literal",
                        file.display(),
                        line_of(at)
                    ));
                }
            }
        }
        for prefix in ["\"otelcol_", "\"weir_"] {
            for (at, _) in code.match_indices(prefix) {
                let literal = &code[at + 1..];
                let end = literal.find('"').unwrap_or(literal.len());
                let name = &literal[..end];
                if name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    found.push(format!(
                        "{}:{}: metric name \"{name}\"",
                        file.display(),
                        line_of(at)
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn components_and_engine_name_no_metric() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut found = metric_names_at_call_sites(&root.join("components"), &["registry"]);
    // weir-api declares the names; the engine and the binary take them by declaration.
    found.extend(metric_names_at_call_sites(
        &root.join("collector"),
        &["api"],
    ));
    assert!(
        found.is_empty(),
        "declare metrics in collector/api/src/telemetry/names.rs and take handles with \
         Telemetry::counter_of/gauge_of, not names at the call site:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_metric_name_check_catches_a_violation() {
    let dir = std::env::temp_dir().join(format!("weir-structure-metrics-{}", std::process::id()));
    let src = dir.join("fake_component/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        concat!(
            "fn a(t: &Telemetry) { t.counter(\n    \"x_y\", \"help\", &[]); }\n",
            "const NAME: &str = \"otelcol_made_up\";\n",
            "#[serde(with = \"weir_api::duration\")]\n",
            "fn b(slot: Slot) { slot.gauge().push(1); }\n",
            "// t.gauge(\"weir_in_a_comment\", \"\", &[])\n",
            "#[cfg(test)]\nmod tests { const N: &str = \"weir_in_a_test\"; }\n",
        ),
    )
    .unwrap();
    let found = metric_names_at_call_sites(&dir, &[]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("lib.rs:1: `.counter(`"), "{found:?}");
    assert!(
        found[1].contains("lib.rs:3: metric name \"otelcol_made_up\""),
        "{found:?}"
    );
}
