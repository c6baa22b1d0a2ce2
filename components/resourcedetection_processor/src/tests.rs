use std::path::Path;

use weir_api::batch::build::{LogRecordBuilder, LogsBuilder};
use weir_api::Batch;

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn problems(text: &str) -> Vec<ComponentProblem> {
    ResourceDetectionFactory::default().check(&yaml(text))
}

fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

fn attrs(pairs: &[(&str, &str)]) -> detect::Attributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_match_the_collector() {
    let c: ResourceDetectionConfig = weir_api::config::parse_valid(&Value::Null).unwrap();
    assert_eq!(c.detectors, ["env"]);
    assert!(c.override_);
    assert_eq!(c.timeout, std::time::Duration::from_secs(5));
}

#[test]
fn collector_configs_validate() {
    // The shapes of the Collector's README and common agent configs.
    assert!(problems("detectors: [env, system]\ntimeout: 2s\noverride: false").is_empty());
    assert!(problems(
        "detectors: [env, system, docker]\nsystem:\n  hostname_sources: [dns, os]\n  resource_attributes:\n    host.id: {enabled: false}\n    os.type: {enabled: true}\n    host.arch: {enabled: true}\n    host.ip: {enabled: false}\nec2:\n  tags: ['^tag1$']"
    )
    .is_empty());
    assert!(problems(
        "detectors: [k8snode]\nk8snode:\n  auth_type: serviceAccount\n  node_from_env_var: MY_NODE"
    )
    .is_empty());
}

#[test]
fn cloud_detectors_are_refused_with_the_reason_and_the_way_out() {
    let p = problems("detectors: [env, ec2]");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, ["detectors", "1"]);
    assert!(
        p[0].message.contains("metadata service"),
        "{}",
        p[0].message
    );
    assert!(
        p[0].message.contains("OTEL_RESOURCE_ATTRIBUTES"),
        "{}",
        p[0].message
    );
    for cloud in ["gcp", "azure", "eks", "ecs", "aks", "lambda", "openshift"] {
        assert_eq!(
            problems(&format!("detectors: [{cloud}]")).len(),
            1,
            "{cloud}"
        );
    }
}

#[test]
fn mistakes_name_their_key() {
    let p = problems("detectors: [sytem]");
    assert_eq!(p[0].path, ["detectors", "0"]);
    assert_eq!(p[0].suggestion.as_deref(), Some("system"));
    let p = problems("system:\n  resource_attributes:\n    host.nmae: {enabled: true}");
    assert_eq!(p[0].path, ["system", "resource_attributes", "host.nmae"]);
    assert_eq!(p[0].suggestion.as_deref(), Some("host.name"));
    assert_eq!(
        problems("system:\n  hostname_sources: [cname]")[0].path,
        ["system", "hostname_sources", "0"]
    );
    assert_eq!(
        problems("refresh_interval: 1m")[0].path,
        ["refresh_interval"]
    );
    assert!(problems("refresh_interval: 0s").is_empty());
    assert_eq!(
        problems("detectors: [env, env]")[0].path,
        ["detectors", "1"]
    );
    assert_eq!(problems("detector: [env]")[0].path, ["detector"]);
}

#[test]
fn earlier_detectors_win_and_attributes_filters() {
    let config: ResourceDetectionConfig =
        weir_api::config::parse_valid(&yaml("detectors: [env, k8s_env, system]")).unwrap();
    let lookup = env(&[
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "host.name=from-env,deployment.environment=prod",
        ),
        ("K8S_POD_NAME", "pod-1"),
    ]);
    let found = detect_all(&config, &lookup, Path::new("/nonexistent")).unwrap();
    assert_eq!(
        found.attributes,
        attrs(&[
            ("host.name", "from-env"),
            ("deployment.environment", "prod"),
            ("k8s.pod.name", "pod-1"),
            ("os.type", "linux"),
        ])
    );
    let config: ResourceDetectionConfig = weir_api::config::parse_valid(&yaml(
        "detectors: [env, k8s_env]\nattributes: [k8s.pod.name]",
    ))
    .unwrap();
    let found = detect_all(&config, &lookup, Path::new("/nonexistent")).unwrap();
    assert_eq!(found.attributes, attrs(&[("k8s.pod.name", "pod-1")]));
}

#[test]
fn a_failing_detector_stops_the_start_with_its_reason() {
    let config: ResourceDetectionConfig =
        weir_api::config::parse_valid(&yaml("detectors: [docker]\ntimeout: 1s")).unwrap();
    let found = detect_all(&config, &env(&[]), Path::new("/nonexistent/docker.sock")).unwrap();
    assert!(found.attributes.is_empty());
    assert!(
        found.warnings[0].contains("cannot reach the Docker daemon"),
        "{:?}",
        found.warnings
    );
    let config: ResourceDetectionConfig = weir_api::config::parse_valid(&yaml(
        "detectors: [docker]\ntimeout: 1s\nfail_on_missing_metadata: true\nretry: {enabled: true, max_interval: 10s}",
    ))
    .unwrap();
    let err = detect_all(&config, &env(&[]), Path::new("/nonexistent/docker.sock")).unwrap_err();
    assert!(
        err.starts_with("docker detector: cannot reach the Docker daemon"),
        "{err}"
    );
    assert!(err.contains("remove `docker` from detectors"), "{err}");
    let config: ResourceDetectionConfig =
        weir_api::config::parse_valid(&yaml("detectors: [env]")).unwrap();
    let err = detect_all(
        &config,
        &env(&[("OTEL_RESOURCE_ATTRIBUTES", "broken")]),
        Path::new("/x"),
    )
    .unwrap_err();
    assert!(err.contains("OTEL_RESOURCE_ATTRIBUTES"), "{err}");
}

fn batch() -> Batch {
    let mut builder = LogsBuilder::new();
    builder
        .resource([("service.name", "a"), ("host.name", "sdk-host")])
        .scope("s", "1")
        .push(LogRecordBuilder::new().body("x"));
    builder
        .resource([("service.name", "b")])
        .scope("s", "1")
        .push(LogRecordBuilder::new().body("y"));
    builder.build()
}

fn resources(batch: &Batch) -> Vec<Vec<(String, String)>> {
    batch
        .logs()
        .map(|r| {
            r.resource()
                .attributes()
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn override_decides_who_wins() {
    let detected = attrs(&[("host.name", "detected"), ("os.type", "linux")]);
    let mut out = Vec::new();
    ResourceDetectionProcessor::new(detected.clone(), true).process(batch(), &mut out);
    let got = resources(&out[0]);
    assert!(got[0].contains(&("host.name".into(), "detected".into())));
    assert!(got[1].contains(&("host.name".into(), "detected".into())));
    assert!(got[1].contains(&("os.type".into(), "linux".into())));
    assert_eq!(out[0].item_count(), 2);

    let mut out = Vec::new();
    ResourceDetectionProcessor::new(detected, false).process(batch(), &mut out);
    let got = resources(&out[0]);
    assert!(got[0].contains(&("host.name".into(), "sdk-host".into())));
    assert!(got[0].contains(&("os.type".into(), "linux".into())));
    assert!(got[1].contains(&("host.name".into(), "detected".into())));
}

#[test]
fn a_resource_that_already_has_them_keeps_its_bytes() {
    let mut builder = LogsBuilder::new();
    builder
        .resource([("host.name", "h")])
        .scope("s", "1")
        .push(LogRecordBuilder::new().body("x"));
    let bytes = builder.build().encode_protobuf();
    let wire = Batch::from_protobuf(weir_api::Signal::Logs, bytes.clone().into()).unwrap();
    let mut out = Vec::new();
    ResourceDetectionProcessor::new(attrs(&[("host.name", "h")]), true).process(wire, &mut out);
    assert_eq!(out[0].encode_protobuf(), bytes);
}

#[test]
fn detection_runs_once_per_id() {
    use weir_api::{ComponentId, PipelineId, Signal};
    let factory = ResourceDetectionFactory::default();
    let section = yaml("detectors: [system]");
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        let ctx = ProcessorBuildContext {
            id: ComponentId::new(TYPE_NAME, None),
            pipeline: PipelineId::new(signal, None),
            signal,
            telemetry: weir_api::telemetry::Telemetry::new(),
        };
        assert!(factory.build(ctx, &section).is_ok());
    }
    let cache = factory.detected.lock().unwrap();
    assert_eq!(cache.len(), 1);
    assert_eq!(
        cache["resourcedetection"].attributes[1],
        ("os.type".to_string(), "linux".to_string())
    );
}
