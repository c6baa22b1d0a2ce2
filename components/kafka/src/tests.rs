//! Configuration checks and the cutting of batches into messages (the broker round trip
//! is tested end to end against a real Kafka-protocol broker: integration/test_kafka.py).

use std::collections::{HashMap, HashSet};

use prost::Message as _;
use weir_api::config::check_valid;
use weir_api::{Batch, Signal};
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::client::Encoding;
use crate::encoding::decode;
use crate::messages::messages;
use crate::{ExporterConfig, ReceiverConfig};

fn problems<T: serde::de::DeserializeOwned + weir_api::config::Validate>(
    yaml: &str,
) -> Vec<String> {
    let value: weir_api::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    check_valid::<T>(&value)
        .into_iter()
        .map(|p| {
            format!(
                "{}: {}{}",
                p.path.join("."),
                p.message,
                p.suggestion.map(|s| format!(" ({s})")).unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn the_collectors_forms_are_accepted() {
    let none: Vec<String> = Vec::new();
    // The older top-level form.
    assert_eq!(
        problems::<ExporterConfig>(
            "brokers: [k:9092]\ntopic: spans\nencoding: otlp_json\nprotocol_version: 2.1.0"
        ),
        none
    );
    // The newer per-signal form, with producer settings and SASL over TLS.
    assert_eq!(
        problems::<ExporterConfig>(
            "brokers: [k:9092]\ntraces: {topic: t, encoding: otlp_proto}\nlogs: {topic: l}\n\
             partition_traces_by_id: true\nproducer: {compression: zstd, max_message_bytes: 500000, required_acks: -1}\n\
             auth: {sasl: {username: u, password: p, mechanism: SCRAM-SHA-512}, tls: {ca_file: /ca.pem}}"
        ),
        none
    );
    assert_eq!(
        problems::<ReceiverConfig>(
            "brokers: [k:9092]\ngroup_id: g\ninitial_offset: earliest\nmetrics: {topic: m}\n\
             session_timeout: 6s\nautocommit: {enable: false}\nmessage_marking: {after: true}"
        ),
        none
    );
}

#[test]
fn mistakes_are_named_by_their_key() {
    let found = problems::<ExporterConfig>("brokerz: [k:9092]");
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("brokerz: unknown key") && p.contains("(brokers)")),
        "{found:?}"
    );
    let found = problems::<ExporterConfig>("encoding: zipkin_proto");
    assert!(
        found.iter().any(|p| p.contains("zipkin_proto")),
        "{found:?}"
    );
    let found = problems::<ExporterConfig>("producer: {compression: brotli}");
    assert!(
        found.iter().any(|p| p.starts_with("producer.compression")),
        "{found:?}"
    );
    let found = problems::<ExporterConfig>("auth: {sasl: {username: u, mechanism: GSSAPI}}");
    assert!(
        found.iter().any(|p| p.starts_with("auth.sasl.mechanism")),
        "{found:?}"
    );
    let found = problems::<ReceiverConfig>("initial_offset: oldest");
    assert!(
        found.iter().any(|p| p.starts_with("initial_offset")),
        "{found:?}"
    );
    let found = problems::<ReceiverConfig>("group_idd: x");
    assert!(found.iter().any(|p| p.contains("(group_id)")), "{found:?}");
}

#[test]
fn topics_and_encodings_resolve_as_in_the_collector() {
    let config: ExporterConfig = weir_api::config::parse_valid(
        &serde_yaml_ng::from_str(
            "topic: all\nencoding: otlp_json\nlogs: {topic: mine, encoding: otlp_proto}",
        )
        .expect("yaml"),
    )
    .expect("valid");
    assert_eq!(config.client.topic(Signal::Traces), "all");
    assert_eq!(config.client.topic(Signal::Logs), "mine");
    assert_eq!(config.client.encoding(Signal::Metrics), Encoding::OtlpJson);
    assert_eq!(config.client.encoding(Signal::Logs), Encoding::OtlpProto);
    let defaults: ExporterConfig =
        weir_api::config::parse_valid(&serde_yaml_ng::from_str("{}").expect("yaml"))
            .expect("valid");
    assert_eq!(defaults.client.topic(Signal::Traces), "otlp_spans");
    assert_eq!(defaults.client.topic(Signal::Metrics), "otlp_metrics");
    assert_eq!(defaults.client.topic(Signal::Logs), "otlp_logs");
}

fn traces(count: u8, spans_per_trace: u8) -> Batch {
    let resource_spans = vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: (0..count)
                .flat_map(|trace| {
                    (0..spans_per_trace).map(move |span| Span {
                        trace_id: vec![trace; 16],
                        span_id: vec![span + 1, trace, 1, 1, 1, 1, 1, 1],
                        name: "x".repeat(200),
                        ..Default::default()
                    })
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }];
    let bytes = ExportTraceServiceRequest { resource_spans }.encode_to_vec();
    Batch::from_protobuf(Signal::Traces, bytes.into()).expect("valid")
}

fn trace_ids(value: &[u8]) -> Vec<u8> {
    decode(Signal::Traces, Encoding::OtlpProto, value)
        .expect("decodes")
        .spans()
        .map(|(_, _, span)| span.trace_id()[0])
        .collect()
}

#[test]
fn partitioned_by_trace_id_every_trace_keeps_one_key() {
    let cut = messages(traces(50, 3), Encoding::OtlpProto, true, 1_000_000);
    let mut key_of: HashMap<u8, Vec<u8>> = HashMap::new();
    let mut spans = 0;
    for message in &cut.messages {
        let key = message.key.clone().expect("keyed");
        for trace in trace_ids(&message.value) {
            spans += 1;
            assert_eq!(key_of.entry(trace).or_insert_with(|| key.clone()), &key);
        }
    }
    assert_eq!(spans, 150);
    assert!(cut.messages.len() > 1 && cut.messages.len() <= 64);
}

#[test]
fn unpartitioned_is_one_message_without_a_key_until_it_is_too_large() {
    let cut = messages(traces(10, 2), Encoding::OtlpProto, false, 1_000_000);
    assert_eq!(cut.messages.len(), 1);
    assert!(cut.messages[0].key.is_none());
    // About 230 bytes a span: 20 spans in messages of at most 1000 bytes.
    let cut = messages(traces(10, 2), Encoding::OtlpProto, false, 1000);
    assert!(cut.messages.len() >= 5, "{}", cut.messages.len());
    assert!(cut.messages.iter().all(|m| m.value.len() <= 1000));
    let all: HashSet<Vec<u8>> = cut
        .messages
        .iter()
        .flat_map(|m| {
            decode(Signal::Traces, Encoding::OtlpProto, &m.value)
                .expect("decodes")
                .spans()
                .map(|(_, _, s)| s.span_id().to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(all.len(), 20);
    // A span larger than the limit on its own cannot be sent, and is counted.
    let cut = messages(traces(1, 1), Encoding::OtlpProto, false, 100);
    assert_eq!((cut.messages.len(), cut.too_large), (0, 1));
}

#[test]
fn json_messages_decode_back() {
    let cut = messages(traces(3, 2), Encoding::OtlpJson, false, 0);
    let batch =
        decode(Signal::Traces, Encoding::OtlpJson, &cut.messages[0].value).expect("json decodes");
    assert_eq!(batch.item_count(), 6);
    assert!(decode(Signal::Traces, Encoding::OtlpProto, b"\xff\xff\xff").is_err());
}
