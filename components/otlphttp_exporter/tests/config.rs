//! The factory's face to `weir validate`: names, aliases, key paths and suggestions.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on bad fixtures by design

use std::time::Duration;

use weir_api::telemetry::Telemetry;
use weir_api::{BuildContext, ComponentId, Signal, Stability, Value};

fn value(yaml: &str) -> Value {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn ctx() -> BuildContext {
    BuildContext {
        id: ComponentId::new("otlp_http", Some("vendor".into())),
        telemetry: Telemetry::new(),
    }
}

#[test]
fn names_and_signals() {
    let info = weir_otlphttp_exporter::factory().info();
    assert_eq!(info.type_name, "otlphttp");
    assert_eq!(info.aliases, ["otlp_http"]);
    assert_eq!(info.signals, Signal::ALL);
    assert_eq!(info.stability, Stability::Beta);
}

#[test]
fn a_collector_config_parses_and_hands_over_the_engine_settings() {
    let section = value(
        "
endpoint: http://otlp.example.com:4318
traces_endpoint: http://traces.example.com/v1/traces
encoding: json
compression: zstd
compression_params: {level: 3}
timeout: 10s
headers: {authorization: Bearer abc}
read_buffer_size: 0
write_buffer_size: 524288
max_idle_conns: 100
max_idle_conns_per_host: 10
idle_conn_timeout: 90s
tls: {insecure: false, include_system_ca_certs_pool: true}
retry_on_failure: {enabled: true, initial_interval: 1s, max_elapsed_time: 0}
sending_queue: {enabled: true, num_consumers: 4, queue_size: 500}
",
    );
    let factory = weir_otlphttp_exporter::factory();
    assert!(
        factory.check(&section).is_empty(),
        "{:?}",
        factory.check(&section)
    );
    let built = factory.build(ctx(), &section).unwrap();
    assert_eq!(built.settings.timeout, Duration::from_secs(10));
    assert_eq!(built.settings.retry.max_elapsed_time, Duration::ZERO);
    assert_eq!(built.settings.queue.num_consumers, 4);
}

#[test]
fn the_default_timeout_is_the_collectors_30s() {
    let built = weir_otlphttp_exporter::factory()
        .build(ctx(), &value("endpoint: http://127.0.0.1:4318"))
        .unwrap();
    assert_eq!(built.settings.timeout, Duration::from_secs(30));
}

#[test]
fn unknown_key_has_path_and_suggestion() {
    let factory = weir_otlphttp_exporter::factory();
    let problems = factory.check(&value("{endpoint: 'http://a', trace_endpoint: 'http://b'}"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, ["trace_endpoint"]);
    assert_eq!(problems[0].suggestion.as_deref(), Some("traces_endpoint"));

    let problems = factory.check(&value(
        "{endpoint: 'http://a', sending_queue: {queue_sise: 5}}",
    ));
    assert_eq!(problems[0].path, ["sending_queue", "queue_sise"]);
    assert_eq!(problems[0].suggestion.as_deref(), Some("queue_size"));
}

#[test]
fn semantic_problems_name_the_key() {
    let factory = weir_otlphttp_exporter::factory();
    let problems = factory.check(&value("endpoint: 'collector:4318'"));
    assert_eq!(problems[0].path, ["endpoint"]);
    let problems = factory.check(&value("{endpoint: 'http://a', compression: lz4}"));
    assert_eq!(problems[0].path, ["compression"]);
    let problems = factory.check(&value("{endpoint: 'http://a', headers: {'bad header': x}}"));
    assert_eq!(problems[0].path, ["headers", "bad header"]);
}

#[test]
fn a_missing_ca_file_fails_the_build_naming_the_file() {
    let section = value("{endpoint: 'https://a:4318', tls: {ca_file: /nonexistent/ca.pem}}");
    let err = match weir_otlphttp_exporter::factory().build(ctx(), &section) {
        Err(err) => err,
        Ok(_) => panic!("build should fail"),
    };
    assert!(err.0.contains("/nonexistent/ca.pem"), "{}", err.0);
}
