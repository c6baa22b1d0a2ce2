//! Splitting and re-homing, with in-process backends that record what they receive (the
//! end-to-end tests use real Weir gateways: integration/test_loadbalancing.py).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prost::Message;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ExportError, ExportRequest, Exporter, Signal};
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::config::RoutingKey;
use crate::membership::{Backend, Membership};
use crate::request::{LoadBalancedRequest, Shared};
use crate::routing::{backend_hash, owner, trace_key};
use crate::split::{split, Rule};

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// `traces` trace ids spread over `services` resources, `spans_per_trace` spans each.
fn traces(services: usize, traces: u8, spans_per_trace: u8) -> Vec<ResourceSpans> {
    (0..services)
        .map(|service| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", &format!("svc-{service}"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..traces)
                    .flat_map(|trace| {
                        (0..spans_per_trace).map(move |span| Span {
                            trace_id: vec![trace; 16],
                            span_id: vec![span, trace, service as u8, 1, 1, 1, 1, 1],
                            name: format!("op-{span}"),
                            ..Default::default()
                        })
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect()
}

fn wire(resource_spans: Vec<ResourceSpans>) -> Batch {
    let bytes = ExportTraceServiceRequest { resource_spans }.encode_to_vec();
    Batch::from_protobuf(Signal::Traces, bytes.into()).expect("valid")
}

const TIER: [&str; 3] = ["gw-a:4317", "gw-b:4317", "gw-c:4317"];

fn hashes(endpoints: &[&str]) -> Vec<u64> {
    endpoints.iter().map(|e| backend_hash(e)).collect()
}

fn rule(key: RoutingKey) -> Rule<'static> {
    Rule {
        key,
        attributes: &[],
    }
}

/// (trace id byte, span name) of every span in a part.
fn spans_of(batch: &Batch) -> Vec<(u8, String)> {
    batch
        .spans()
        .map(|(_, _, span)| (span.trace_id()[0], span.name().to_string()))
        .collect()
}

#[test]
fn every_trace_goes_whole_to_its_owner_on_both_batch_forms() {
    let tier = hashes(&TIER);
    for batch in [Batch::from_traces(traces(3, 40, 4)), wire(traces(3, 40, 4))] {
        let total = batch.item_count();
        let parts = split(batch, &tier, rule(RoutingKey::TraceId));
        assert_eq!(parts.len(), 3, "40 traces reach every backend");
        let mut seen: HashMap<u8, usize> = HashMap::new();
        let mut count = 0;
        for (backend, part) in &parts {
            for (trace, _) in spans_of(part) {
                count += 1;
                let want = owner(trace_key(&[trace; 16]), &tier).expect("tier");
                assert_eq!(*backend, want, "trace {trace} on the wrong backend");
                assert_eq!(*seen.entry(trace).or_insert(*backend), *backend);
            }
            assert_eq!(part.item_count(), spans_of(part).len());
        }
        assert_eq!(count, total, "no span lost or duplicated");
    }
}

#[test]
fn service_routing_keeps_a_resource_together() {
    let tier = hashes(&TIER);
    let parts = split(
        Batch::from_traces(traces(6, 5, 2)),
        &tier,
        rule(RoutingKey::Service),
    );
    let mut services_seen = BTreeSet::new();
    for (_, part) in &parts {
        for resource in part.traces() {
            let name = resource
                .resource()
                .attributes()
                .get_str("service.name")
                .expect("named")
                .to_string();
            assert!(
                services_seen.insert(name),
                "a service split over two backends"
            );
        }
    }
    assert_eq!(services_seen.len(), 6);
}

#[test]
fn one_owner_means_no_copy() {
    let tier = hashes(&TIER);
    let batch = wire(traces(1, 1, 5));
    let parts = split(batch.clone(), &tier, rule(RoutingKey::TraceId));
    assert_eq!(parts.len(), 1);
    assert!(parts[0].1.shares_data_with(&batch));
}

/// A backend that records what it is sent and can be made to fail.
#[derive(Default)]
struct Recorder {
    down: AtomicBool,
    received: Mutex<Vec<Batch>>,
}

impl Recorder {
    fn spans(&self) -> usize {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(Batch::item_count)
            .sum()
    }
}

struct RecordedSend {
    backend: Arc<Recorder>,
    batch: Batch,
}

#[async_trait]
impl ExportRequest for RecordedSend {
    fn items(&self) -> usize {
        self.batch.item_count()
    }
    fn encoded_len(&self) -> usize {
        self.batch.encoded_len()
    }
    async fn send(&mut self) -> Result<(), ExportError> {
        if self.backend.down.load(Ordering::SeqCst) {
            return Err(ExportError::retryable("down"));
        }
        self.backend
            .received
            .lock()
            .expect("lock")
            .push(self.batch.clone());
        Ok(())
    }
}

struct RecorderExporter(Arc<Recorder>);

#[async_trait]
impl Exporter for RecorderExporter {
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        Ok(Box::new(RecordedSend {
            backend: self.0.clone(),
            batch,
        }))
    }
}

fn membership(
    backends: &HashMap<&'static str, Arc<Recorder>>,
    telemetry: &Telemetry,
) -> Membership {
    let backends = backends.clone();
    let telemetry_for_backends = telemetry.clone();
    Membership::new(
        Box::new(move |endpoint| {
            let recorder = backends
                .get(endpoint)
                .cloned()
                .ok_or_else(|| format!("unknown {endpoint}"))?;
            Ok(Backend {
                endpoint: endpoint.to_string(),
                exporter: Arc::new(RecorderExporter(recorder)),
                succeeded: telemetry_for_backends.counter_of(
                    &weir_api::telemetry::names::LOADBALANCER_BACKEND_OUTCOME,
                    &["lb", endpoint, "true"],
                ),
                failed: telemetry_for_backends.counter_of(
                    &weir_api::telemetry::names::LOADBALANCER_BACKEND_OUTCOME,
                    &["lb", endpoint, "false"],
                ),
            })
        }),
        telemetry.gauge_of(
            &weir_api::telemetry::names::LOADBALANCER_NUM_BACKENDS,
            &["lb", "test"],
        ),
        telemetry.counter_of(
            &weir_api::telemetry::names::LOADBALANCER_NUM_BACKEND_UPDATES,
            &["lb", "test"],
        ),
    )
}

fn endpoints(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|e| e.to_string()).collect()
}

#[tokio::test]
async fn a_backend_that_leaves_while_its_part_waits_has_its_data_rehomed() {
    let telemetry = Telemetry::new();
    let recorders: HashMap<&'static str, Arc<Recorder>> = TIER
        .iter()
        .map(|endpoint| (*endpoint, Arc::new(Recorder::default())))
        .collect();
    let membership = Arc::new(membership(&recorders, &telemetry));
    assert!(membership.update(&endpoints(&TIER)));
    let rehomed = telemetry.counter_of(
        &weir_api::telemetry::names::LOADBALANCER_REHOMED_ITEMS,
        &["lb"],
    );
    let shared = Arc::new(Shared {
        membership: membership.clone(),
        routing_key: RoutingKey::TraceId,
        routing_attributes: Vec::new(),
        rehomed: rehomed.clone(),
    });

    recorders["gw-b:4317"].down.store(true, Ordering::SeqCst);
    let batch = wire(traces(2, 60, 3));
    let total = batch.item_count();
    let mut request = LoadBalancedRequest::new(shared, batch);
    let first = request.send().await;
    assert!(
        matches!(first, Err(ExportError::Retryable { .. })),
        "{first:?}"
    );
    let delivered_first = recorders["gw-a:4317"].spans() + recorders["gw-c:4317"].spans();
    let waiting = total - delivered_first;
    assert!(waiting > 0, "gw-b owned some traces");

    // A retry while gw-b is still in the tier waits for it: nothing is sent twice.
    assert!(request.send().await.is_err());
    assert_eq!(
        recorders["gw-a:4317"].spans() + recorders["gw-c:4317"].spans(),
        delivered_first
    );

    // gw-b leaves the tier: its part goes to the keys' new owners on the next attempt.
    assert!(membership.update(&endpoints(&["gw-a:4317", "gw-c:4317"])));
    request.send().await.expect("re-homed and delivered");
    assert_eq!(recorders["gw-b:4317"].spans(), 0);
    assert_eq!(
        recorders["gw-a:4317"].spans() + recorders["gw-c:4317"].spans(),
        total,
        "every span delivered exactly once"
    );
    assert_eq!(rehomed.get(), waiting as u64);
    // And each re-homed trace went whole to its new owner.
    let tier = hashes(&["gw-a:4317", "gw-c:4317"]);
    let names = ["gw-a:4317", "gw-c:4317"];
    for (index, name) in names.iter().enumerate() {
        for batch in recorders[name].received.lock().expect("lock").iter() {
            for (trace, _) in spans_of(batch) {
                let original = owner(trace_key(&[trace; 16]), &hashes(&TIER)).expect("tier");
                if TIER[original] == "gw-b:4317" {
                    assert_eq!(owner(trace_key(&[trace; 16]), &tier), Some(index));
                }
            }
        }
    }
}

#[tokio::test]
async fn no_backend_yet_is_retryable() {
    let telemetry = Telemetry::new();
    let membership = Arc::new(membership(&HashMap::new(), &telemetry));
    let shared = Arc::new(Shared {
        membership,
        routing_key: RoutingKey::TraceId,
        routing_attributes: Vec::new(),
        rehomed: telemetry.counter_of(
            &weir_api::telemetry::names::LOADBALANCER_REHOMED_ITEMS,
            &["lb"],
        ),
    });
    let mut request = LoadBalancedRequest::new(shared, wire(traces(1, 1, 1)));
    assert!(matches!(
        request.send().await,
        Err(ExportError::Retryable { .. })
    ));
}

mod config {
    use weir_api::config::check_valid;

    use crate::Config;

    fn problems(yaml: &str) -> Vec<String> {
        let value: weir_api::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        check_valid::<Config>(&value)
            .into_iter()
            .map(|p| format!("{}: {}", p.path.join("."), p.message))
            .collect()
    }

    #[test]
    fn the_collectors_examples_are_valid() {
        assert_eq!(
            problems(
                "routing_key: service\nprotocol: {otlp: {timeout: 1s, tls: {insecure: true}}}\n\
                 resolver: {static: {hostnames: [backend-1:4317, backend-2:4317]}}"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            problems("resolver: {k8s: {service: lb-svc.kube-public, ports: [15317, 16317]}}"),
            Vec::<String>::new()
        );
        assert_eq!(
            problems("resolver: {dns: {hostname: gateways.example, port: 4317, interval: 5s}}"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn mistakes_are_named_by_their_key() {
        let found = problems(
            "protocol: {otlp: {endpoint: x:4317}}\nresolver: {static: {hostnames: [a:1]}}",
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("protocol.otlp.endpoint:")),
            "{found:?}"
        );
        let found = problems("resolver: {}");
        assert!(
            found.iter().any(|p| p.starts_with("resolver:")),
            "{found:?}"
        );
        let found = problems("routing_key: attributes\nresolver: {static: {hostnames: [a:1]}}");
        assert!(
            found.iter().any(|p| p.starts_with("routing_attributes:")),
            "{found:?}"
        );
        let found = problems("routing_key: traceid\nresolver: {static: {hostnames: [a:1]}}");
        assert!(
            found.iter().any(|p| p.starts_with("routing_key")),
            "{found:?}"
        );
        let found = problems("resolver: {aws_cloud_map: {namespace: x}}");
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("resolver.aws_cloud_map:")),
            "{found:?}"
        );
        let found = problems(
            "protocol: {otlp: {compression: snappy}}\nresolver: {static: {hostnames: [a:1]}}",
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("protocol.otlp.compression")),
            "{found:?}"
        );
    }
}
