//! Behaviour through the factory, as the engine drives it, with an explicit clock where
//! time matters (no sleeping, no timing assertions).

use std::time::{Duration, Instant};

use weir_api::telemetry::Telemetry;
use weir_api::{
    Batch, ClientMetadata, ComponentId, PipelineId, Processor, ProcessorBuildContext, Signal,
};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn spans(n: usize) -> Batch {
    Batch::from_traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![Span::default(); n],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn logs(n: usize) -> Batch {
    Batch::from_logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord::default(); n],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn with_tenant(mut batch: Batch, tenant: &str) -> Batch {
    batch.set_metadata(ClientMetadata::from_pairs([
        ("x-tenant", tenant),
        ("authorization", "secret"),
    ]));
    batch
}

fn sizes(out: &[Batch]) -> Vec<usize> {
    out.iter().map(Batch::item_count).collect()
}

fn build(config: &str, signal: Signal) -> (Box<dyn Processor>, Telemetry) {
    let telemetry = Telemetry::new();
    let ctx = ProcessorBuildContext {
        id: ComponentId::new("batch", None),
        pipeline: PipelineId::new(signal, None),
        signal,
        telemetry: telemetry.clone(),
    };
    let processor = factory().build(ctx, &yaml(config)).unwrap();
    (processor, telemetry)
}

fn processor(config: &str) -> (BatchProcessor, Telemetry) {
    let telemetry = Telemetry::new();
    let config = weir_api::config::parse_valid::<BatchConfig>(&yaml(config)).unwrap();
    let counters = BatchCounters::new(&telemetry, "batch", Signal::Traces);
    (
        BatchProcessor::new("batch".into(), &config, counters),
        telemetry,
    )
}

#[test]
fn defaults_are_the_collectors() {
    let config = weir_api::config::parse_valid::<BatchConfig>(&Value::Null).unwrap();
    assert_eq!(config.send_batch_size, 8192);
    assert_eq!(config.send_batch_max_size, 0);
    assert_eq!(config.timeout, Duration::from_millis(200));
    assert!(config.metadata_keys.is_empty());
    assert_eq!(config.metadata_cardinality_limit, 1000);
    let info = factory().info();
    assert_eq!(info.type_name, "batch");
    assert_eq!(info.signals, Signal::ALL);
}

#[test]
fn go_durations_are_accepted() {
    let config = weir_api::config::parse_valid::<BatchConfig>(&yaml("timeout: 1m30s")).unwrap();
    assert_eq!(config.timeout, Duration::from_secs(90));
}

#[test]
fn size_trigger_sends_and_counts() {
    let (mut p, telemetry) = build("send_batch_size: 10\ntimeout: 1h", Signal::Traces);
    let mut out = Vec::new();
    p.process(spans(4), &mut out);
    p.process(spans(4), &mut out);
    assert!(out.is_empty(), "below send_batch_size");
    p.process(spans(4), &mut out);
    assert_eq!(sizes(&out), [12], "send_batch_size is a trigger, not a cap");
    assert_eq!(p.next_deadline(), None, "nothing pending");
    let text = telemetry.encode();
    assert!(
        text.contains(
            "otelcol_processor_batch_batch_size_trigger_send_total{processor=\"batch\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("otelcol_processor_batch_timeout_trigger_send_total{processor=\"batch\"} 0")
    );
}

#[test]
fn max_size_splits_and_keeps_the_remainder() {
    let (mut p, telemetry) = build(
        "send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 1h",
        Signal::Logs,
    );
    let mut out = Vec::new();
    p.process(logs(25), &mut out);
    assert_eq!(sizes(&out), [10, 10]);
    assert!(p.next_deadline().is_some(), "5 items remain pending");
    p.flush(&mut out);
    assert_eq!(sizes(&out), [10, 10, 5]);
    let text = telemetry.encode();
    assert!(
        text.contains(
            "otelcol_processor_batch_batch_size_trigger_send_total{processor=\"batch\"} 2"
        ),
        "{text}"
    );
}

#[test]
fn timeout_sends_pending_through_deadline() {
    let (mut p, telemetry) = processor("send_batch_size: 100\ntimeout: 5s");
    let now = Instant::now();
    let mut out = Vec::new();
    p.process_at(spans(3), now, &mut out);
    let deadline = p.next_deadline().expect("a pending batch has a deadline");
    assert_eq!(deadline, now + Duration::from_secs(5));
    p.on_deadline(now, &mut out);
    assert!(out.is_empty(), "not due yet");
    p.on_deadline(deadline, &mut out);
    assert_eq!(sizes(&out), [3]);
    assert_eq!(p.next_deadline(), None);
    assert!(telemetry
        .encode()
        .contains("otelcol_processor_batch_timeout_trigger_send_total{processor=\"batch\"} 1"));
}

#[test]
fn flush_emits_everything_without_counting_a_trigger() {
    let (mut p, telemetry) = processor("send_batch_size: 100\ntimeout: 1h");
    let mut out = Vec::new();
    p.process(spans(7), &mut out);
    p.process(spans(2), &mut out);
    assert_eq!(p.pending_items(), 9);
    p.flush(&mut out);
    assert_eq!(sizes(&out), [9]);
    assert_eq!(p.pending_items(), 0);
    let text = telemetry.encode();
    assert!(text
        .contains("otelcol_processor_batch_batch_size_trigger_send_total{processor=\"batch\"} 0"));
    assert!(
        text.contains("otelcol_processor_batch_timeout_trigger_send_total{processor=\"batch\"} 0")
    );
}

#[test]
fn zero_timeout_passes_through_split_to_max() {
    let (mut p, _) = processor("timeout: 0\nsend_batch_size: 4\nsend_batch_max_size: 4");
    let mut out = Vec::new();
    p.process(spans(6), &mut out);
    assert_eq!(sizes(&out), [4, 2]);
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn over_cardinality_limit_is_counted_as_dropped() {
    let (mut p, telemetry) = build(
        "metadata_keys: [x-tenant]\nmetadata_cardinality_limit: 2\ntimeout: 1h",
        Signal::Traces,
    );
    let mut out = Vec::new();
    p.process(with_tenant(spans(1), "a"), &mut out);
    p.process(with_tenant(spans(1), "b"), &mut out);
    p.process(with_tenant(spans(3), "c"), &mut out);
    p.process(with_tenant(spans(2), "c"), &mut out);
    p.process(with_tenant(spans(1), "a"), &mut out);
    p.flush(&mut out);
    let mut got = sizes(&out);
    got.sort();
    assert_eq!(got, [1, 2], "tenant a (2 spans) and b (1 span); c refused");
    let text = telemetry.encode();
    assert!(
        text.contains(
            "weir_items_dropped_total{component=\"batch\",otel_signal=\"traces\",reason=\"metadata_cardinality_limit\"} 5"
        ),
        "{text}"
    );
}

#[test]
fn zero_cardinality_limit_means_unlimited() {
    let (mut p, _) =
        processor("metadata_keys: [x-tenant]\nmetadata_cardinality_limit: 0\ntimeout: 1h");
    let mut out = Vec::new();
    for tenant in ["a", "b", "c"] {
        p.process(with_tenant(spans(1), tenant), &mut out);
    }
    assert_eq!(p.pending_items(), 3, "nothing refused");
}

#[test]
fn emitted_batches_carry_only_metadata_keys() {
    let (mut p, _) = processor("metadata_keys: [X-Tenant]\ntimeout: 1h");
    let mut out = Vec::new();
    p.process(with_tenant(spans(1), "a"), &mut out);
    p.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].metadata().get("x-tenant"), ["a"]);
    assert!(out[0].metadata().get("authorization").is_empty());

    let (mut p, _) = processor("timeout: 1h");
    let mut out = Vec::new();
    p.process(with_tenant(spans(1), "a"), &mut out);
    p.process(with_tenant(spans(1), "b"), &mut out);
    p.flush(&mut out);
    assert_eq!(sizes(&out), [2]);
    assert!(
        out[0].metadata().is_empty(),
        "without metadata_keys, tenant a's headers must not ride on tenant b's data"
    );
}

#[test]
fn check_refuses_max_below_size_at_its_key() {
    let problems = factory().check(&yaml("send_batch_size: 100\nsend_batch_max_size: 10"));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, ["send_batch_max_size"]);
    assert!(
        problems[0]
            .message
            .contains("must be 0 or greater than or equal to send_batch_size"),
        "{}",
        problems[0].message
    );
    assert!(factory()
        .check(&yaml("send_batch_size: 100\nsend_batch_max_size: 0"))
        .is_empty());
    assert!(factory()
        .check(&yaml("send_batch_size: 100\nsend_batch_max_size: 100"))
        .is_empty());
    // The default send_batch_size (8192) is compared too.
    assert_eq!(factory().check(&yaml("send_batch_max_size: 1000")).len(), 1);
}

#[test]
fn check_refuses_duplicate_metadata_keys_and_unknown_keys() {
    let problems = factory().check(&yaml("metadata_keys: [Tenant, tenant]"));
    assert_eq!(problems[0].path, ["metadata_keys", "1"]);
    assert!(problems[0].message.contains("duplicate"));

    let problems = factory().check(&yaml("send_batch_sise: 10"));
    assert_eq!(problems[0].path, ["send_batch_sise"]);
    assert_eq!(problems[0].suggestion.as_deref(), Some("send_batch_size"));

    let problems = factory().check(&yaml("timeout: 5 seconds"));
    assert_eq!(problems[0].path, ["timeout"]);
}

#[test]
fn build_fails_with_the_same_message() {
    let ctx = ProcessorBuildContext {
        id: ComponentId::new("batch", None),
        pipeline: PipelineId::new(Signal::Traces, None),
        signal: Signal::Traces,
        telemetry: Telemetry::new(),
    };
    let err = factory()
        .build(ctx, &yaml("send_batch_size: 100\nsend_batch_max_size: 10"))
        .err()
        .expect("invalid config");
    assert!(err.0.starts_with("send_batch_max_size: "), "{err}");
}

/// Two former bugs in `weir_api::Batcher`, checked against the Batcher directly so they
/// cannot come back.
mod batcher_bugs {
    use weir_api::{Batcher, BatcherSettings};

    use super::*;

    /// The Collector treats `metadata_cardinality_limit: 0` as "no limit"
    /// (`if mb.metadataLimit != 0 && mb.size >= mb.metadataLimit`); the Batcher refuses
    /// every batch instead.
    #[test]
    fn zero_cardinality_limit_refuses_everything() {
        let mut b = Batcher::new(BatcherSettings {
            metadata_cardinality_limit: 0,
            ..Default::default()
        });
        let mut out = Vec::new();
        assert!(b.add(spans(1), Instant::now(), &mut out).is_ok());
    }

    /// A merged batch keeps the full metadata of the first request it took in, so with
    /// no `metadata_keys` one client's headers (tenant, authorization) travel with every
    /// other client's data. The Collector emits only the `metadata_keys` values.
    #[test]
    fn merged_batch_keeps_first_requests_metadata() {
        let mut b = Batcher::new(BatcherSettings::default());
        let now = Instant::now();
        let mut out = Vec::new();
        b.add(with_tenant(spans(1), "a"), now, &mut out).unwrap();
        b.add(with_tenant(spans(1), "b"), now, &mut out).unwrap();
        b.flush(&mut out);
        assert!(out[0].metadata().is_empty(), "{:?}", out[0].metadata());
    }
}
