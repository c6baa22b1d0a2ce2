//! `validate()` against a fake catalog: component checks, pipeline wiring, signals.

use serde::Deserialize;
use weir_config::{
    load, load_and_validate, suggest, validate, Catalog, ComponentProblem, Config, Kind,
    LoadOptions, Location, Severity, Signal, Source, Value,
};

/// A catalog with a handful of components; `otlp` exporters check their section with serde.
struct FakeCatalog;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OtlpExporterConfig {
    endpoint: Option<String>,
    sending_queue: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct QueueConfig {
    enabled: Option<bool>,
    queue_size: Option<u64>,
}

fn serde_problem<T: for<'de> Deserialize<'de>>(
    value: &Value,
    prefix: &[&str],
    fields: &[&str],
) -> Option<ComponentProblem> {
    let err = serde_yaml_ng::from_value::<T>(value.clone()).err()?;
    let message = err.to_string();
    let field = message
        .strip_prefix("unknown field `")?
        .split('`')
        .next()?
        .to_string();
    let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    path.push(field.clone());
    Some(ComponentProblem {
        path,
        message: format!("unknown key `{field}`"),
        suggestion: suggest(&field, fields.iter().copied()),
    })
}

impl Catalog for FakeCatalog {
    fn canonical_type(&self, kind: Kind, type_name: &str) -> Option<&'static str> {
        match (kind, type_name) {
            (Kind::Receiver, "otlp") => Some("otlp"),
            (Kind::Receiver, "prometheus") => Some("prometheus"),
            (Kind::Processor, "batch") => Some("batch"),
            (Kind::Processor, "tail_sampling") => Some("tail_sampling"),
            (Kind::Exporter, "otlp" | "otlp_grpc") => Some("otlp"),
            (Kind::Exporter, "debug") => Some("debug"),
            (Kind::Connector, "forward") => Some("forward"),
            (Kind::Connector, "spanmetrics") => Some("spanmetrics"),
            (Kind::Extension, "health_check") => Some("health_check"),
            _ => None,
        }
    }

    fn known_types(&self, kind: Kind) -> Vec<&'static str> {
        match kind {
            Kind::Receiver => vec!["otlp", "prometheus"],
            Kind::Processor => vec!["batch", "tail_sampling"],
            Kind::Exporter => vec!["otlp", "otlp_grpc", "debug"],
            Kind::Connector => vec!["forward", "spanmetrics"],
            Kind::Extension => vec!["health_check"],
        }
    }

    fn signals(&self, kind: Kind, type_name: &'static str) -> &'static [Signal] {
        match (kind, type_name) {
            (Kind::Receiver, "prometheus") => &[Signal::Metrics],
            (Kind::Processor, "tail_sampling") => &[Signal::Traces],
            (Kind::Connector, _) => &[],
            _ => &Signal::ALL,
        }
    }

    fn check(&self, kind: Kind, type_name: &'static str, section: &Value) -> Vec<ComponentProblem> {
        if (kind, type_name) != (Kind::Exporter, "otlp") || section.is_null() {
            return Vec::new();
        }
        if let Some(p) =
            serde_problem::<OtlpExporterConfig>(section, &[], &["endpoint", "sending_queue"])
        {
            return vec![p];
        }
        match section.get("sending_queue") {
            Some(queue) => {
                serde_problem::<QueueConfig>(queue, &["sending_queue"], &["enabled", "queue_size"])
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        }
    }

    fn connector_pairs(&self, type_name: &'static str) -> &'static [(Signal, Signal)] {
        match type_name {
            "forward" => &[
                (Signal::Traces, Signal::Traces),
                (Signal::Metrics, Signal::Metrics),
                (Signal::Logs, Signal::Logs),
            ],
            "spanmetrics" => &[(Signal::Traces, Signal::Metrics)],
            _ => &[],
        }
    }
}

fn env(_: &str) -> Option<String> {
    None
}

fn load_one(text: &str) -> Config {
    load(
        &[Source::new("weir.yaml", text)],
        &LoadOptions {
            sets: &[],
            env: &env,
        },
    )
    .expect("loads")
}

const CONFIG: &str = r#"receivers:
  otlp:
  prometheus:
    config: {}
processors:
  batch:
  tail_sampling:
exporters:
  otlp/eu:
    endpoint: eu.example.com:4317
    sending_queue:
      queue_sise: 100
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch, tail_sampling]
      exporters: [otlp/eu]
    logs:
      receivers:
        - otlp
      processors:
        - batch
        - tail_sampling
      exporters:
        - otlp/us
"#;

#[test]
fn reports_misspelled_key_unknown_id_and_unsupported_signal_at_once() {
    let config = load_one(CONFIG);
    let diags = validate(&config, &FakeCatalog);
    let errors: Vec<_> = diags.errors().collect();
    assert_eq!(errors.len(), 3, "{diags}");

    let key = errors[0];
    assert_eq!(key.path, "exporters.otlp/eu.sending_queue.queue_sise");
    assert_eq!(
        key.location,
        Some(Location {
            file: "weir.yaml".into(),
            line: 12
        })
    );
    assert_eq!(key.suggestion.as_deref(), Some("queue_size"));
    assert_eq!(
        key.to_string(),
        "error: exporters.otlp/eu.sending_queue.queue_sise (weir.yaml:12): unknown key `queue_sise`; did you mean `queue_size`?"
    );

    let signal = errors
        .iter()
        .find(|d| d.path == "service.pipelines.logs.processors.1")
        .expect("signal error");
    assert_eq!(
        signal.message,
        "processor `tail_sampling` does not support logs; it supports: traces"
    );
    assert_eq!(signal.location.as_ref().map(|l| l.line), Some(25));

    let unknown = errors
        .iter()
        .find(|d| d.path == "service.pipelines.logs.exporters.0")
        .expect("unknown id");
    assert!(unknown.message.contains("`otlp/us`"), "{}", unknown.message);
    assert_eq!(unknown.suggestion.as_deref(), Some("otlp/eu"));
    assert_eq!(unknown.location.as_ref().map(|l| l.line), Some(27));

    // Declared but unused: warnings, not errors.
    let warnings: Vec<&str> = diags.warnings().map(|d| d.path.as_str()).collect();
    assert_eq!(warnings, ["receivers.prometheus", "exporters.debug"]);
}

#[test]
fn unknown_types_and_pipeline_shape() {
    let config = load_one(
        r#"receivers:
  otlpp:
  otlp:
exporters:
  otlp_grpc/alias:
  debug:
connectors:
  forward:
  forward/dangling:
extensions:
  health_check:
  healthcheck:
service:
  extensions: [health_check, helth_check]
  pipelines:
    traces:
      receivers: [otlp, otlp]
      exporters: [forward, forward/dangling]
    traces/2:
      receivers: [forward]
      exporters: [otlp_grpc/alias]
    metrics:
      receivers: [otlp]
    logs:
      receivers: [forward]
      exporters: [forward]
"#,
    );
    let diags = validate(&config, &FakeCatalog);
    let has = |path: &str, needle: &str| {
        assert!(
            diags
                .items
                .iter()
                .any(|d| d.path == path && d.message.contains(needle)),
            "no `{needle}` at {path}:\n{diags}"
        )
    };
    let recv = diags
        .items
        .iter()
        .find(|d| d.path == "receivers.otlpp")
        .expect("unknown type");
    assert_eq!(recv.suggestion.as_deref(), Some("otlp"));
    assert_eq!(recv.location.as_ref().map(|l| l.line), Some(2));
    has("extensions.healthcheck", "unknown extension type");
    has("service.extensions.1", "not declared");
    has("service.pipelines.traces.receivers.1", "listed twice");
    has("service.pipelines.metrics", "no exporters");
    has(
        "connectors.forward/dangling",
        "no pipeline uses it as a receiver",
    );
    has("service.pipelines.logs.exporters.0", "would loop");
    let ext = diags
        .items
        .iter()
        .find(|d| d.path == "service.extensions.1")
        .expect("ext");
    assert_eq!(ext.suggestion.as_deref(), Some("health_check"));
    // The alias resolves; exporters.debug and extensions.healthcheck are unused.
    assert!(
        !diags
            .items
            .iter()
            .any(|d| d.path == "exporters.otlp_grpc/alias"),
        "{diags}"
    );
    let warnings: Vec<(Severity, &str)> = diags
        .warnings()
        .map(|d| (d.severity, d.path.as_str()))
        .collect();
    assert!(
        warnings.contains(&(Severity::Warning, "exporters.debug")),
        "{diags}"
    );
}

#[test]
fn a_valid_config_has_no_errors_and_no_pipelines_is_an_error() {
    let ok = load_one("receivers: {otlp: }\nexporters: {debug: }\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n");
    let diags = validate(&ok, &FakeCatalog);
    assert!(diags.items.is_empty(), "{diags}");

    let none = load_one("receivers: {otlp: }\n");
    let diags = validate(&none, &FakeCatalog);
    assert!(
        diags.errors().any(|d| d.path == "service.pipelines"),
        "{diags}"
    );
}

#[test]
fn load_and_validate_reports_both_stages_together() {
    let text = "recievers: {}\nreceivers: {otlp: }\nexporters: {debug: }\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug, nope]}\n    metrics: {receivers: [otlp], exporters: [debug]}\n    logs: {receivers: [otlp], exporters: [debug]}\nextensions:\n  health_check:\n    x: ${env:UNSET}\n";
    let (config, diags) = load_and_validate(
        &[Source::new("w.yaml", text)],
        &LoadOptions {
            sets: &[],
            env: &env,
        },
        &FakeCatalog,
    );
    assert!(config.is_none());
    let paths: Vec<(Severity, &str)> = diags
        .items
        .iter()
        .map(|d| (d.severity, d.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            (Severity::Warning, "extensions.health_check.x"),
            (Severity::Error, "recievers"),
            (Severity::Error, "service.pipelines.traces.exporters.1"),
            (Severity::Warning, "extensions.health_check"),
        ],
        "{diags}"
    );
}

#[test]
fn print_config_redacts_secrets() {
    let config = load(
        &[Source::new(
            "w.yaml",
            "exporters:\n  otlp:\n    endpoint: x:4317\n    headers:\n      authorization: ${env:TOKEN}\n      x-tenant: acme\n    auth: {password: hunter2}\n",
        )],
        &LoadOptions { sets: &[], env: &|name: &str| (name == "TOKEN").then(|| "Bearer s3cr3t".to_string()) },
    )
    .expect("loads");
    let text = config.to_redacted_yaml();
    assert!(text.contains("endpoint: x:4317"), "{text}");
    assert!(
        !text.contains("s3cr3t") && !text.contains("acme") && !text.contains("hunter2"),
        "{text}"
    );
    assert_eq!(text.matches("[REDACTED]").count(), 3, "{text}");
}

fn errors_of(diags: &weir_config::Diagnostics) -> Vec<(&str, &str)> {
    diags
        .errors()
        .map(|d| (d.path.as_str(), d.message.as_str()))
        .collect()
}

#[test]
fn a_cycle_through_two_connectors_is_refused_and_named() {
    let text = r#"receivers:
  otlp:
exporters:
  debug:
connectors:
  forward/1:
  forward/2:
service:
  pipelines:
    traces/a:
      receivers: [otlp, forward/2]
      exporters: [forward/1, debug]
    traces/b:
      receivers: [forward/1]
      exporters: [forward/2]
"#;
    let config = load_one(text);
    let diags = validate(&config, &FakeCatalog);
    let errors = errors_of(&diags);
    assert_eq!(
        errors,
        [(
            "service.pipelines.traces/a.exporters.0",
            "pipelines form a cycle: traces/a -> forward/1 -> traces/b -> forward/2 -> traces/a"
        )],
        "{diags}"
    );
    let cycle = diags.errors().next().expect("one error");
    assert_eq!(cycle.location.as_ref().map(|l| l.line), Some(12));
}

#[test]
fn a_longer_cycle_is_named_once_and_a_self_loop_stays_a_loop() {
    let text = r#"receivers:
  otlp:
exporters:
  debug:
connectors:
  forward/ab:
  forward/bc:
  forward/ca:
  forward/self:
service:
  pipelines:
    logs/a:
      receivers: [otlp, forward/ca]
      exporters: [forward/ab]
    logs/b:
      receivers: [forward/ab]
      exporters: [forward/bc, debug]
    logs/c:
      receivers: [forward/bc]
      exporters: [forward/ca]
    traces:
      receivers: [otlp, forward/self]
      exporters: [forward/self]
"#;
    let config = load_one(text);
    let diags = validate(&config, &FakeCatalog);
    assert_eq!(
        errors_of(&diags),
        [
            (
                "service.pipelines.traces.exporters.0",
                "connector `forward/self` is both a receiver and an exporter of pipeline `traces`, which would loop"
            ),
            (
                "service.pipelines.logs/a.exporters.0",
                "pipelines form a cycle: logs/a -> forward/ab -> logs/b -> forward/bc -> logs/c -> forward/ca -> logs/a"
            ),
        ],
        "{diags}"
    );
}

#[test]
fn a_connector_used_on_one_side_is_reported_at_the_connector() {
    let text = r#"receivers:
  otlp:
exporters:
  debug:
connectors:
  forward/out:
  forward/in:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug, forward/out]
    traces/2:
      receivers: [forward/in]
      exporters: [debug]
"#;
    let config = load_one(text);
    let diags = validate(&config, &FakeCatalog);
    assert_eq!(
        errors_of(&diags),
        [
            (
                "connectors.forward/out",
                "connector `forward/out` is an exporter of pipeline `traces` but no pipeline uses it as a receiver"
            ),
            (
                "connectors.forward/in",
                "connector `forward/in` is a receiver of pipeline `traces/2` but no pipeline uses it as an exporter"
            ),
        ],
        "{diags}"
    );
    let lines: Vec<Option<usize>> = diags
        .errors()
        .map(|d| d.location.as_ref().map(|l| l.line))
        .collect();
    assert_eq!(lines, [Some(6), Some(7)]);
}

#[test]
fn an_unsupported_signal_pair_is_reported_on_each_side() {
    let text = r#"receivers:
  otlp:
exporters:
  debug:
connectors:
  spanmetrics:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spanmetrics]
    logs:
      receivers: [otlp]
      exporters: [spanmetrics]
    metrics:
      receivers: [spanmetrics]
      exporters: [debug]
    logs/out:
      receivers: [spanmetrics]
      exporters: [debug]
"#;
    let config = load_one(text);
    let diags = validate(&config, &FakeCatalog);
    // traces -> metrics is supported; logs becomes nothing downstream, and nothing upstream
    // becomes logs.
    assert_eq!(
        errors_of(&diags),
        [
            (
                "service.pipelines.logs.exporters.0",
                "connector `spanmetrics` cannot turn logs into metrics or logs; it supports: traces->metrics"
            ),
            (
                "service.pipelines.logs/out.receivers.0",
                "connector `spanmetrics` cannot turn traces or logs into logs; it supports: traces->metrics"
            ),
        ],
        "{diags}"
    );

    let simple = load_one(
        "receivers: {otlp: }\nexporters: {debug: }\nconnectors: {spanmetrics: }\nservice:\n  pipelines:\n    logs: {receivers: [otlp], exporters: [spanmetrics]}\n    metrics: {receivers: [spanmetrics], exporters: [debug]}\n",
    );
    let diags = validate(&simple, &FakeCatalog);
    assert_eq!(
        errors_of(&diags),
        [
            (
                "service.pipelines.logs.exporters.0",
                "connector `spanmetrics` cannot turn logs into metrics; it supports: traces->metrics"
            ),
            (
                "service.pipelines.metrics.receivers.0",
                "connector `spanmetrics` cannot turn logs into metrics; it supports: traces->metrics"
            ),
        ],
        "{diags}"
    );
}

#[test]
fn connectors_of_unknown_type_are_reported_once() {
    let text = "receivers: {otlp: }\nexporters: {debug: }\nconnectors: {count: }\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [count]}\n    metrics: {receivers: [count], exporters: [debug]}\n";
    let config = load_one(text);
    let diags = validate(&config, &FakeCatalog);
    assert_eq!(
        errors_of(&diags),
        [(
            "connectors.count",
            "unknown connector type `count`; known types: forward, spanmetrics"
        )],
        "{diags}"
    );
}

#[test]
fn a_fan_out_through_a_connector_is_accepted() {
    let text = r#"receivers:
  otlp:
processors:
  batch:
exporters:
  otlp/eu:
    endpoint: eu.example.com:4317
  debug:
connectors:
  forward:
  spanmetrics:
service:
  pipelines:
    traces/a:
      receivers: [otlp]
      processors: [batch]
      exporters: [forward, spanmetrics]
    traces/b:
      receivers: [forward]
      exporters: [otlp/eu]
    traces/c:
      receivers: [forward]
      exporters: [debug]
    metrics:
      receivers: [otlp, spanmetrics]
      exporters: [debug]
"#;
    let config = load_one(text);
    let diags = validate(&config, &FakeCatalog);
    assert!(diags.items.is_empty(), "{diags}");
}
