//! `load()` end to end: several sources, `--set`, environment, the typed model, locations.

use weir_config::{
    load, ComponentId, Diagnostics, Kind, LoadOptions, Location, LogEncoding, Severity, Source,
    Value,
};

fn env(name: &str) -> Option<String> {
    match name {
        "OTLP_PORT" => Some("4317".into()),
        "REGION" => Some("eu".into()),
        _ => None,
    }
}

fn load_with(sources: &[Source], sets: &[&str]) -> Result<weir_config::Config, Diagnostics> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load(
        sources,
        &LoadOptions {
            sets: &sets,
            env: &env,
        },
    )
}

const BASE: &str = r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:${env:OTLP_PORT}
processors:
  batch:
exporters:
  otlp/eu:
    endpoint: ingest.${REGION}.example.com:4317
    port: ${env:OTLP_PORT}
    note: "costs $$5"
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/eu]
"#;

const OVERRIDE: &str = r#"exporters:
  otlp/eu:
    compression: zstd
    endpoint: override.example.com:4317
service:
  pipelines:
    traces:
      exporters:
        - otlp/eu
        - debug
"#;

#[test]
fn merges_sources_then_sets_and_expands() {
    let config = load_with(
        &[
            Source::new("base.yaml", BASE),
            Source::new("override.yaml", OVERRIDE),
        ],
        &[
            "exporters.otlp/eu.timeout=10s",
            "exporters::debug::verbosity=detailed",
        ],
    )
    .expect("loads");
    let eu = config
        .component(Kind::Exporter, &"otlp/eu".parse().expect("id"))
        .expect("declared");
    assert_eq!(eu["endpoint"], Value::from("override.example.com:4317"));
    assert_eq!(eu["compression"], Value::from("zstd"));
    assert_eq!(eu["port"], Value::from(4317));
    assert_eq!(eu["note"], Value::from("costs $5"));
    assert_eq!(eu["timeout"], Value::from("10s"));
    let debug = config
        .component(Kind::Exporter, &ComponentId::new("debug", None))
        .expect("declared");
    assert_eq!(debug["verbosity"], Value::from("detailed"));
    assert_eq!(
        config.receivers[0].1["protocols"]["grpc"]["endpoint"],
        Value::from("0.0.0.0:4317")
    );
    // Empty section is null; file order is kept.
    assert_eq!(config.processors[0].1, Value::Null);
    let names: Vec<String> = config
        .exporters
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(names, ["otlp/eu", "debug"]);
    // Sequences are replaced, not appended.
    let (pipe_id, pipe) = &config.service.pipelines[0];
    assert_eq!(pipe_id.to_string(), "traces");
    let exporters: Vec<String> = pipe.exporters.iter().map(|id| id.to_string()).collect();
    assert_eq!(exporters, ["otlp/eu", "debug"]);
    // Locations: the last source that set a key.
    let at = |path: &[&str]| config.locator.locate(path);
    assert_eq!(
        at(&["exporters", "otlp/eu", "endpoint"]),
        Some(Location {
            file: "override.yaml".into(),
            line: 4
        })
    );
    assert_eq!(
        at(&["exporters", "otlp/eu", "port"]),
        Some(Location {
            file: "base.yaml".into(),
            line: 11
        })
    );
    assert_eq!(
        at(&["service", "pipelines", "traces", "exporters", "1"]),
        Some(Location {
            file: "override.yaml".into(),
            line: 10
        })
    );
    assert_eq!(
        at(&["exporters", "otlp/eu", "timeout"]),
        Some(Location {
            file: "--set".into(),
            line: 1
        })
    );
    assert!(config.load_warnings.is_empty());
}

#[test]
fn unset_variables_warn_and_load() {
    let text = "exporters:\n  debug:\n    x: ${env:NOT_SET}\nservice:\n  pipelines: {}\n";
    let config = load_with(&[Source::new("w.yaml", text)], &[]).expect("loads");
    let w = &config.load_warnings;
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].severity, Severity::Warning);
    assert_eq!(w[0].path, "exporters.debug.x");
    assert_eq!(
        w[0].location,
        Some(Location {
            file: "w.yaml".into(),
            line: 3
        })
    );
    assert!(w[0].message.contains("NOT_SET"));
}

#[test]
fn reports_every_structural_problem_at_once() {
    let text = r#"recievers:
  otlp:
exporters:
  "/bad":
  debug:
service:
  pipline: {}
  pipelines:
    spans: {receivers: [otlp], exporters: [debug]}
    traces:
      receivers: [otlp]
      exportres: [debug]
  telemetry:
    logs:
      levle: debug
      encoding: yaml
    metrics:
      level: detailed
"#;
    let err = load_with(
        &[Source::new("w.yaml", text)],
        &["broken-set", "x.y=[unclosed"],
    )
    .expect_err("fails");
    let find = |path: &str| {
        err.items
            .iter()
            .find(|d| d.path == path)
            .unwrap_or_else(|| panic!("no diagnostic at {path}:\n{err}"))
    };
    let d = find("recievers");
    assert_eq!(d.suggestion.as_deref(), Some("receivers"));
    assert_eq!(d.location.as_ref().map(|l| l.line), Some(1));
    assert_eq!(
        d.to_string(),
        "error: recievers (w.yaml:1): unknown key `recievers`; did you mean `receivers`?"
    );
    assert_eq!(
        find("exporters./bad").location.as_ref().map(|l| l.line),
        Some(4)
    );
    assert_eq!(
        find("service.pipline").suggestion.as_deref(),
        Some("pipelines")
    );
    assert!(find("service.pipelines.spans")
        .message
        .contains("traces, metrics or logs"));
    let d = find("service.pipelines.traces.exportres");
    assert_eq!(
        (d.suggestion.as_deref(), d.location.as_ref().map(|l| l.line)),
        (Some("exporters"), Some(12))
    );
    assert_eq!(
        find("service.telemetry.logs.levle").suggestion.as_deref(),
        Some("level")
    );
    assert!(find("service.telemetry.logs.encoding")
        .message
        .contains("console, json"));
    let sets: Vec<_> = err.items.iter().filter(|d| d.path == "--set").collect();
    assert_eq!(sets.len(), 2, "{err}");
    assert_eq!(
        sets[0].location,
        Some(Location {
            file: "--set".into(),
            line: 1
        })
    );
    assert_eq!(err.errors().count(), 9, "{err}");
}

#[test]
fn syntax_errors_in_every_file_are_reported() {
    let err = load_with(
        &[
            Source::new("a.yaml", "receivers:\n  otlp: [\n"),
            Source::new("ok.yaml", "exporters: {}\n"),
            Source::new("b.yaml", "service:\n\tpipelines: {}\n"),
        ],
        &[],
    )
    .expect_err("fails");
    let files: Vec<_> = err
        .items
        .iter()
        .filter_map(|d| d.location.as_ref())
        .map(|l| l.file.as_str())
        .collect();
    assert_eq!(files, ["a.yaml", "b.yaml"], "{err}");
    assert!(err
        .items
        .iter()
        .all(|d| d.location.as_ref().is_some_and(|l| l.line > 0)));
}

#[test]
fn telemetry_defaults_and_forms() {
    let config = load_with(&[Source::new("e.yaml", "")], &[]).expect("loads");
    let t = &config.service.telemetry;
    assert_eq!(
        (
            t.log_level.as_str(),
            t.log_encoding,
            t.metrics_level.as_str(),
            t.metrics_address.as_deref()
        ),
        (
            "info",
            LogEncoding::Console,
            "normal",
            Some("127.0.0.1:8888")
        )
    );

    let old = "service:\n  telemetry:\n    logs: {level: DEBUG, encoding: json}\n    metrics:\n      address: 0.0.0.0:9999\n";
    let t = load_with(&[Source::new("o.yaml", old)], &[])
        .expect("loads")
        .service
        .telemetry;
    assert_eq!(t.log_level, "debug");
    assert_eq!(t.log_encoding, LogEncoding::Json);
    assert_eq!(t.metrics_address.as_deref(), Some("0.0.0.0:9999"));

    let new = r#"service:
  telemetry:
    metrics:
      level: basic
      readers:
        - periodic: {exporter: {otlp: {endpoint: x}}}
        - pull:
            exporter:
              prometheus:
                host: "::1"
                port: 9100
"#;
    let t = load_with(&[Source::new("n.yaml", new)], &[])
        .expect("loads")
        .service
        .telemetry;
    assert_eq!(t.metrics_level, "basic");
    assert_eq!(t.metrics_address.as_deref(), Some("[::1]:9100"));

    let t = load_with(
        &[Source::new("n.yaml", new)],
        &["service.telemetry.metrics.level=none"],
    )
    .expect("loads")
    .service
    .telemetry;
    assert_eq!(t.metrics_address, None);

    let err = load_with(
        &[Source::new("n.yaml", new)],
        &["service.telemetry.metrics.readers.1.pull.exporter.prometheus.port=http"],
    )
    .expect_err("bad port");
    assert_eq!(
        err.items[0].path,
        "service.telemetry.metrics.readers.1.pull.exporter.prometheus.port"
    );
    assert_eq!(
        err.items[0].location,
        Some(Location {
            file: "--set".into(),
            line: 1
        })
    );
}
