//! The factory's face to `weir validate`: names, aliases, key paths and suggestions.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on bad fixtures by design

use std::time::Duration;

use weir_api::telemetry::Telemetry;
use weir_api::{BuildContext, ComponentId, Signal, Stability, Value};

fn value(yaml: &str) -> Value {
    serde_yaml_ng::from_str(yaml).unwrap()
}

#[test]
fn names_and_signals() {
    let info = weir_otlp_exporter::factory().info();
    assert_eq!(info.type_name, "otlp");
    assert_eq!(info.aliases, ["otlp_grpc"]);
    assert_eq!(info.signals, Signal::ALL);
    assert_eq!(info.stability, Stability::Beta);
}

#[test]
fn a_collector_config_parses_and_hands_over_the_engine_settings() {
    let section = value(
        "
endpoint: collector.example:4317
compression: zstd
timeout: 10s
headers: {authorization: Bearer abc}
tls: {insecure: true}
balancer_name: round_robin
keepalive: {time: 30s, timeout: 5s, permit_without_stream: true}
write_buffer_size: 524288
retry_on_failure: {enabled: true, initial_interval: 1s, max_interval: 10s, max_elapsed_time: 1m}
sending_queue: {enabled: true, num_consumers: 4, queue_size: 500}
",
    );
    let factory = weir_otlp_exporter::factory();
    assert!(
        factory.check(&section).is_empty(),
        "{:?}",
        factory.check(&section)
    );
    let ctx = BuildContext {
        id: ComponentId::new("otlp_grpc", Some("eu".into())),
        telemetry: Telemetry::new(),
    };
    let built = factory.build(ctx, &section).unwrap();
    assert_eq!(built.settings.timeout, Duration::from_secs(10));
    assert_eq!(
        built.settings.retry.initial_interval,
        Duration::from_secs(1)
    );
    assert_eq!(built.settings.queue.num_consumers, 4);
    assert_eq!(built.settings.queue.queue_size, 500);
}

#[test]
fn unknown_key_has_path_and_suggestion() {
    let problems = weir_otlp_exporter::factory().check(&value(
        "{endpoint: 'a:4317', tls: {insecure_skip_verfy: true}}",
    ));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, ["tls", "insecure_skip_verfy"]);
    assert_eq!(
        problems[0].suggestion.as_deref(),
        Some("insecure_skip_verify")
    );

    let problems =
        weir_otlp_exporter::factory().check(&value("{endpoint: 'a:4317', compresion: gzip}"));
    assert_eq!(problems[0].path, ["compresion"]);
    assert_eq!(problems[0].suggestion.as_deref(), Some("compression"));
}

#[test]
fn semantic_problems_name_the_key() {
    let factory = weir_otlp_exporter::factory();
    let problems = factory.check(&value("endpoint: 'collector'"));
    assert_eq!(problems[0].path, ["endpoint"]);
    assert!(
        problems[0].message.contains("no port"),
        "{}",
        problems[0].message
    );
    let problems = factory.check(&value("{endpoint: 'a:1', compression: lz4}"));
    assert_eq!(problems[0].path, ["compression"]);
}

#[test]
fn a_missing_ca_file_fails_the_build_naming_the_file() {
    let section = value("{endpoint: 'https://a:4317', tls: {ca_file: /nonexistent/ca.pem}}");
    let ctx = BuildContext {
        id: ComponentId::new("otlp", None),
        telemetry: Telemetry::new(),
    };
    let err = match weir_otlp_exporter::factory().build(ctx, &section) {
        Err(err) => err,
        Ok(_) => panic!("build should fail"),
    };
    assert!(err.0.contains("/nonexistent/ca.pem"), "{}", err.0);
}
