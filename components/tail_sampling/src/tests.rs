//! Behaviour through the factory, driven as the engine drives it, with a test clock.
//! Batches go through the wire form (`Batch::decode_protobuf`) so views read bytes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ComponentId, PipelineId, Processor, ProcessorBuildContext, Signal};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};

use super::*;

// ---------------------------------------------------------------- harness

struct TestClock(Arc<Mutex<Instant>>);

impl TestClock {
    fn advance(&self, d: Duration) -> Instant {
        let mut now = self.0.lock().unwrap();
        *now += d;
        *now
    }
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

struct Harness {
    processor: TailSampler,
    telemetry: Telemetry,
    clock: TestClock,
    out: Vec<Batch>,
    incoming: usize,
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn harness_named(config: &str, name: Option<&str>) -> Harness {
    let telemetry = Telemetry::new();
    let start = Arc::new(Mutex::new(Instant::now()));
    let shared = start.clone();
    let clock: Clock = Arc::new(move || *shared.lock().unwrap());
    let ctx = ProcessorBuildContext {
        id: ComponentId::new("tail_sampling", name.map(str::to_string)),
        pipeline: PipelineId::new(Signal::Traces, None),
        signal: Signal::Traces,
        telemetry: telemetry.clone(),
    };
    let processor = TailSamplingFactory
        .build_with_clock(ctx, &yaml(config), clock)
        .unwrap();
    Harness {
        processor,
        telemetry,
        clock: TestClock(start),
        out: Vec::new(),
        incoming: 0,
    }
}

fn harness(config: &str) -> Harness {
    harness_named(config, None)
}

impl Harness {
    fn send(&mut self, spans: Vec<Span>) {
        self.send_resource(Vec::new(), spans);
    }

    fn send_resource(&mut self, resource: Vec<KeyValue>, spans: Vec<Span>) {
        let batch = wire(resource, spans);
        self.incoming += batch.item_count();
        self.processor.process(batch, &mut self.out);
    }

    /// Advances the clock and runs every deadline up to it, as the engine does.
    fn wait(&mut self, d: Duration) {
        let end = self.clock.advance(d);
        while let Some(deadline) = self.processor.next_deadline() {
            if deadline > end {
                break;
            }
            self.processor.on_deadline(end, &mut self.out);
            if self.processor.next_deadline() == Some(deadline) {
                break;
            }
        }
    }

    /// Trace ids (first byte) of every span emitted so far, sorted.
    fn emitted(&self) -> Vec<u8> {
        let mut ids: Vec<u8> = self
            .out
            .iter()
            .flat_map(|b| {
                b.spans()
                    .map(|(_, _, s)| s.trace_id()[0])
                    .collect::<Vec<_>>()
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    fn emitted_count(&self) -> usize {
        self.out.iter().map(Batch::item_count).sum()
    }

    fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        metric(&self.telemetry, name, labels)
    }

    fn dropped(&self) -> f64 {
        self.metric("weir_items_dropped_total", &["reason=\"not_sampled\""])
    }

    fn evicted(&self, reason: &str) -> f64 {
        self.metric(
            "weir_tail_sampling_evicted_traces_total",
            &[&format!("reason=\"{reason}\"")],
        )
    }

    /// incoming = outgoing + dropped + held, as the engine checks.
    fn assert_balanced(&self) {
        assert_eq!(
            self.incoming,
            self.emitted_count() + self.dropped() as usize + self.processor.held_items(),
            "incoming = outgoing + dropped + held"
        );
    }
}

fn metric(telemetry: &Telemetry, name: &str, labels: &[&str]) -> f64 {
    let text = telemetry.encode();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn wire(resource: Vec<KeyValue>, spans: Vec<Span>) -> Batch {
    let batch = Batch::from_traces(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: resource,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]);
    Batch::decode_protobuf(Signal::Traces, &batch.encode_protobuf()).unwrap()
}

fn tid(n: u8) -> Vec<u8> {
    let mut id = vec![n; 16];
    id[15] = n.wrapping_mul(7);
    id
}

/// A span of trace `n`, from `start_ms` to `end_ms`.
fn sp(n: u8, start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: tid(n),
        span_id: vec![n, 1, 2, 3, 4, 5, 6, 7],
        name: format!("span-{n}"),
        start_time_unix_nano: 1_000_000_000_000 + start_ms * 1_000_000,
        end_time_unix_nano: 1_000_000_000_000 + end_ms * 1_000_000,
        ..Default::default()
    }
}

fn error(mut span: Span) -> Span {
    span.status = Some(Status {
        code: status::StatusCode::Error as i32,
        ..Default::default()
    });
    span
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn with_attr(mut span: Span, key: &str, value: any_value::Value) -> Span {
    span.attributes.push(kv(key, value));
    span
}

fn s(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

const WAIT: Duration = Duration::from_secs(1);
const AFTER: Duration = Duration::from_millis(1200);

fn policy_config(policies: &str) -> String {
    format!("decision_wait: 1s\npolicies:\n{policies}")
}

// ---------------------------------------------------------------- config

#[test]
fn defaults_are_the_collectors() {
    let config = TailSamplingConfig::default();
    assert_eq!(config.decision_wait, Duration::from_secs(30));
    assert_eq!(config.num_traces, 50_000);
    assert_eq!(config.decision_cache.sampled_cache_size, 0);
    assert_eq!(config.max_buffer_bytes, DEFAULT_MAX_BUFFER_BYTES);
}

fn problems(text: &str) -> Vec<String> {
    TailSamplingFactory
        .check(&yaml(text))
        .into_iter()
        .map(|p| format!("{}: {}", p.path.join("."), p.message))
        .collect()
}

#[test]
fn bad_configs_name_the_key() {
    let cases = [
        ("policies: []", "policies: "),
        ("decision_wiat: 1s\npolicies: [{name: a, type: always_sample}]", "decision_wiat"),
        ("policies: [{name: a, type: always_sampel}]", "type: unknown variant `always_sampel`"),
        ("policies: [{type: always_sample}]", "policies.0.name"),
        (
            "policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]",
            "policies.1.name: duplicate",
        ),
        (
            "policies: [{name: a, type: status_code, status_code: {status_codes: [ERR]}}]",
            "policies.0.status_code.status_codes.0",
        ),
        (
            "policies: [{name: a, type: string_attribute, string_attribute: {key: k, values: ['(('], enabled_regex_matching: true}}]",
            "policies.0.string_attribute.values.0",
        ),
        (
            "policies: [{name: a, type: numeric_attribute, numeric_attribute: {key: k}}]",
            "policies.0.numeric_attribute",
        ),
        (
            "policies: [{name: a, type: numeric_attribute, numeric_attribute: {key: k, min_value: 9, max_value: 3}}]",
            "policies.0.numeric_attribute.max_value",
        ),
        (
            "policies: [{name: a, type: ottl_condition, ottl_condition: {span: ['Frobnicate(name)']}}]",
            "policies.0.ottl_condition.span.0: column",
        ),
        (
            "policies: [{name: a, type: rate_limiting, rate_limiting: {spans_per_second: 0}}]",
            "policies.0.rate_limiting.spans_per_second",
        ),
        (
            "policies: [{name: a, type: and, and: {and_sub_policy: [{name: b, type: composite}]}}]",
            "policies.0.and.and_sub_policy.0.type",
        ),
        (
            "policies: [{name: c, type: composite, composite: {max_total_spans_per_second: 10, composite_sub_policy: [{name: x, type: always_sample}], rate_allocation: [{policy: y, percent: 50}]}}]",
            "policies.0.composite.rate_allocation.0.policy",
        ),
        (
            "max_buffer_bytes: 0\npolicies: [{name: a, type: always_sample}]",
            "max_buffer_bytes",
        ),
    ];
    for (config, expected) in cases {
        let found = problems(config);
        assert!(
            found
                .iter()
                .any(|p| p.starts_with(expected) || p.contains(expected)),
            "{config}: expected `{expected}` in {found:?}"
        );
    }
    assert!(problems(&policy_config("  - {name: a, type: always_sample}")).is_empty());
}

#[test]
fn the_readme_example_is_valid() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```yaml\nprocessors:\n  tail_sampling:")
        .unwrap();
    let body = &readme[start + 8..];
    let body = &body[..body.find("```").unwrap()];
    let doc: Value = yaml(body);
    let section = &doc["processors"]["tail_sampling"];
    assert_eq!(TailSamplingFactory.check(section), vec![]);
}

// ---------------------------------------------------------------- policies

#[test]
fn always_sample_waits_for_the_decision_then_keeps_everything() {
    let mut h = harness(&policy_config("  - {name: all, type: always_sample}"));
    h.send(vec![sp(1, 0, 10), sp(2, 0, 10)]);
    assert!(h.out.is_empty());
    assert_eq!(h.processor.held_items(), 2);
    h.assert_balanced();
    h.wait(WAIT / 2);
    assert!(h.out.is_empty());
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1, 2]);
    assert_eq!(h.processor.held_items(), 0);
    assert_eq!(h.processor.buffer_bytes(), 0);
    h.assert_balanced();
    assert_eq!(
        h.metric(
            "otelcol_processor_tail_sampling_count_traces_sampled_total",
            &["policy=\"all\"", "sampled=\"true\""]
        ),
        2.0
    );
    assert_eq!(
        h.metric(
            "otelcol_processor_tail_sampling_global_count_traces_sampled_total",
            &["decision=\"sampled\""]
        ),
        2.0
    );
    assert_eq!(
        h.metric(
            "otelcol_processor_tail_sampling_sampling_policy_execution_count_total",
            &[]
        ),
        2.0
    );
}

#[test]
fn status_code_keeps_error_traces_whole_across_batches() {
    let mut h = harness(&policy_config(
        "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    ));
    h.send(vec![sp(1, 0, 10), sp(2, 0, 10)]);
    h.send(vec![error(sp(1, 5, 8)), sp(2, 5, 8), sp(3, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1, 1]);
    assert_eq!(h.dropped(), 3.0);
    h.assert_balanced();
}

#[test]
fn latency_reads_the_whole_trace_span() {
    let mut h = harness(&policy_config(
        "  - {name: slow, type: latency, latency: {threshold_ms: 500}}",
    ));
    // Trace 1 spans 0..600 ms over two spans; trace 2 is 0..499.
    h.send(vec![sp(1, 0, 100), sp(2, 0, 499)]);
    h.send(vec![sp(1, 550, 600)]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1, 1]);

    let mut h = harness(&policy_config(
        "  - {name: band, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}",
    ));
    h.send(vec![sp(1, 0, 100), sp(2, 0, 150), sp(3, 0, 201)]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![2]);
}

#[test]
fn probabilistic_keeps_the_configured_share_by_trace_id_hash() {
    let mut h = harness(&policy_config(
        "  - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}",
    ));
    let mut expected = 0;
    let threshold = policy::probability_threshold(0.25);
    for i in 0..4000u32 {
        let mut id = vec![0u8; 16];
        id[..4].copy_from_slice(&i.to_le_bytes());
        id[8..12].copy_from_slice(&(i.wrapping_mul(2_654_435_761)).to_be_bytes());
        if policy::fnv1a64(b"default-hash-seed", &id) <= threshold {
            expected += 1;
        }
        let span = Span {
            trace_id: id,
            span_id: vec![1; 8],
            ..Default::default()
        };
        h.send(vec![span]);
    }
    h.wait(AFTER);
    assert_eq!(h.emitted_count(), expected);
    let share = expected as f64 / 4000.0;
    assert!((share - 0.25).abs() < 0.03, "{share}");
    h.assert_balanced();
}

#[test]
fn string_attribute_matches_exact_regex_resource_and_inverted() {
    let config = policy_config(
        "  - {name: s, type: string_attribute, string_attribute: {key: route, values: [/a, /b]}}",
    );
    let mut h = harness(&config);
    h.send(vec![
        with_attr(sp(1, 0, 1), "route", s("/a")),
        with_attr(sp(2, 0, 1), "route", s("/c")),
        sp(3, 0, 1),
    ]);
    h.send_resource(vec![kv("route", s("/b"))], vec![sp(4, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1, 4]);

    let mut h = harness(&policy_config(
        "  - {name: s, type: string_attribute, string_attribute: {key: route, values: ['^/v1/.+'], enabled_regex_matching: true}}",
    ));
    h.send(vec![
        with_attr(sp(1, 0, 1), "route", s("/v1/x")),
        with_attr(sp(2, 0, 1), "route", s("/v2/x")),
    ]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1]);

    // Inverted: everything but a match, including traces without the key; an inverted
    // "not sampled" wins over another policy's "sampled".
    let mut h = harness(&policy_config(
        "  - {name: s, type: string_attribute, string_attribute: {key: route, values: [/health], invert_match: true}}\n  - {name: all, type: always_sample}",
    ));
    h.send(vec![
        with_attr(sp(1, 0, 1), "route", s("/health")),
        with_attr(sp(2, 0, 1), "route", s("/api")),
        sp(3, 0, 1),
    ]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![2, 3]);
}

#[test]
fn numeric_and_boolean_attributes() {
    let mut h = harness(&policy_config(
        "  - {name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599}}",
    ));
    h.send(vec![
        with_attr(sp(1, 0, 1), "code", any_value::Value::IntValue(503)),
        with_attr(sp(2, 0, 1), "code", any_value::Value::IntValue(200)),
        with_attr(sp(3, 0, 1), "code", s("503")),
    ]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1]);

    // Only a lower bound; inverted.
    let mut h = harness(&policy_config(
        "  - {name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, invert_match: true}}",
    ));
    h.send(vec![
        with_attr(sp(1, 0, 1), "code", any_value::Value::IntValue(9000)),
        with_attr(sp(2, 0, 1), "code", any_value::Value::IntValue(200)),
    ]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![2]);

    let mut h = harness(&policy_config(
        "  - {name: b, type: boolean_attribute, boolean_attribute: {key: force, value: true}}",
    ));
    h.send(vec![
        with_attr(sp(1, 0, 1), "force", any_value::Value::BoolValue(true)),
        with_attr(sp(2, 0, 1), "force", any_value::Value::BoolValue(false)),
    ]);
    h.send_resource(
        vec![kv("force", any_value::Value::BoolValue(true))],
        vec![sp(3, 0, 1)],
    );
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1, 3]);
}

#[test]
fn rate_limiting_spends_a_token_bucket_of_spans() {
    // 2 spans/s, burst 4: the first two 2-span traces pass, the third does not.
    let mut h = harness(&policy_config(
        "  - {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 2}}",
    ));
    h.send(vec![
        sp(1, 0, 1),
        sp(1, 0, 1),
        sp(2, 0, 1),
        sp(2, 0, 1),
        sp(3, 0, 1),
        sp(3, 0, 1),
    ]);
    h.wait(AFTER);
    assert_eq!(h.emitted().len(), 4);
    // A second later the bucket has two spans again.
    h.wait(Duration::from_secs(1));
    h.send(vec![sp(4, 0, 1), sp(4, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.emitted().len(), 6);
}

#[test]
fn span_count_and_trace_state() {
    let mut h = harness(&policy_config(
        "  - {name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}",
    ));
    h.send(vec![
        sp(1, 0, 1),
        sp(2, 0, 1),
        sp(2, 0, 1),
        sp(3, 0, 1),
        sp(3, 0, 1),
    ]);
    h.send(vec![sp(3, 0, 1), sp(3, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![2, 2]);

    let mut h = harness(&policy_config(
        "  - {name: t, type: trace_state, trace_state: {key: vendor, values: [keep]}}",
    ));
    let mut a = sp(1, 0, 1);
    a.trace_state = "other=1,vendor=keep".into();
    let mut b = sp(2, 0, 1);
    b.trace_state = "vendor=drop".into();
    h.send(vec![a, b]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1]);
}

#[test]
fn ottl_conditions_on_spans_and_events_with_error_modes() {
    let mut h = harness(&policy_config(
        "  - name: o\n    type: ottl_condition\n    ottl_condition:\n      span: ['attributes[\"tier\"] == \"gold\"']\n      spanevent: ['name == \"exception\"']",
    ));
    let mut with_event = sp(2, 0, 1);
    with_event.events.push(span::Event {
        name: "exception".into(),
        ..Default::default()
    });
    h.send(vec![
        with_attr(sp(1, 0, 1), "tier", s("gold")),
        with_event,
        sp(3, 0, 1),
    ]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1, 2]);

    // A failing condition: `propagate` makes the policy an error (not sampled, counted),
    // `ignore` reads it as "no match" and goes on to the next condition.
    for (mode, expected, errors) in [("propagate", vec![], 1.0), ("ignore", vec![1], 0.0)] {
        let mut h = harness(&policy_config(&format!(
            "  - name: o\n    type: ottl_condition\n    ottl_condition:\n      error_mode: {mode}\n      span: ['Substring(name, 0, 40) == \"x\"', 'name == \"span-1\"']"
        )));
        h.send(vec![sp(1, 0, 1)]);
        h.wait(AFTER);
        assert_eq!(h.emitted(), expected, "{mode}");
        assert_eq!(
            h.metric(
                "otelcol_processor_tail_sampling_sampling_policy_evaluation_error_total",
                &[]
            ),
            errors
        );
    }
}

#[test]
fn sample_on_first_match_stops_evaluating() {
    // Without it, the rate limiter spends its one-span bucket on trace 1 even though
    // always_sample already kept it; with it, the bucket is left for trace 2.
    let policies = "  - {name: all, type: and, and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]}}\n  - {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 1, burst_capacity: 1}}";
    for (first_match, evaluations) in [(false, 4.0), (true, 3.0)] {
        let mut h = harness(&format!(
            "decision_wait: 1s\nsample_on_first_match: {first_match}\npolicies:\n{policies}"
        ));
        h.send(vec![error(sp(1, 0, 1)), sp(2, 0, 1)]);
        h.wait(AFTER);
        assert_eq!(
            h.metric(
                "otelcol_processor_tail_sampling_sampling_policy_execution_count_total",
                &[]
            ),
            evaluations,
            "sample_on_first_match: {first_match}"
        );
        let expected = if first_match { vec![1, 2] } else { vec![1] };
        assert_eq!(h.emitted(), expected);
    }
}

#[test]
fn and_needs_every_sub_policy() {
    let mut h = harness(&policy_config(
        "  - name: a\n    type: and\n    and:\n      and_sub_policy:\n        - {name: e, type: status_code, status_code: {status_codes: [ERROR]}}\n        - {name: s, type: string_attribute, string_attribute: {key: svc, values: [api]}}",
    ));
    h.send(vec![
        with_attr(error(sp(1, 0, 1)), "svc", s("api")),
        error(sp(2, 0, 1)),
        with_attr(sp(3, 0, 1), "svc", s("api")),
    ]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1]);
}

#[test]
fn composite_allocates_spans_per_second_by_sub_policy() {
    // 10 spans/s in total: errors get 50% (5 spans), everything else 30% (3 spans).
    let mut h = harness(&policy_config(
        "  - name: c\n    type: composite\n    composite:\n      max_total_spans_per_second: 10\n      policy_order: [errors, rest]\n      composite_sub_policy:\n        - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n        - {name: rest, type: always_sample}\n      rate_allocation:\n        - {policy: errors, percent: 50}\n        - {policy: rest, percent: 30}",
    ));
    // 8 one-span error traces and 8 plain ones, decided within the same second.
    let mut spans = Vec::new();
    for n in 0..8 {
        spans.push(error(sp(n, 0, 1)));
        spans.push(sp(100 + n, 0, 1));
    }
    h.send(spans);
    h.wait(AFTER);
    let ids = h.emitted();
    assert_eq!(ids.iter().filter(|id| **id < 100).count(), 5);
    assert_eq!(ids.iter().filter(|id| **id >= 100).count(), 3);
    // The next second's window starts afresh.
    h.wait(Duration::from_secs(1));
    h.send(vec![error(sp(50, 0, 1)), sp(150, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.emitted().len(), 10);
    h.assert_balanced();
}

// ---------------------------------------------------------------- late spans, bounds

#[test]
fn late_spans_follow_the_decision() {
    let mut h = harness(&policy_config(
        "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    ));
    h.send(vec![error(sp(1, 0, 1)), sp(2, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1]);
    // Late spans of both traces: trace 1's are kept at once, trace 2's dropped.
    h.send(vec![sp(1, 2, 3), sp(2, 2, 3)]);
    assert_eq!(h.emitted(), vec![1, 1]);
    assert_eq!(h.processor.held_items(), 0);
    assert_eq!(
        h.metric("weir_tail_sampling_late_spans_total", &["sampled=\"true\""]),
        1.0
    );
    assert_eq!(
        h.metric(
            "weir_tail_sampling_late_spans_total",
            &["sampled=\"false\""]
        ),
        1.0
    );
    // A late span sharing a batch with a new trace leaves at once, ahead of its batch.
    h.send(vec![sp(1, 4, 5), sp(3, 0, 1)]);
    assert_eq!(h.emitted(), vec![1, 1, 1]);
    assert_eq!(h.processor.held_items(), 1);
    h.assert_balanced();
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![1, 1, 1]);
    assert_eq!(h.processor.held_items(), 0);
    h.assert_balanced();
}

#[test]
fn a_sampled_trace_leaves_at_its_decision_even_when_its_batch_waits() {
    let mut h = harness(&policy_config(
        "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    ));
    h.send(vec![error(sp(1, 0, 1)), sp(2, 0, 1)]);
    h.wait(Duration::from_millis(600));
    // Trace 1's second batch also starts trace 3, which is decided 600 ms later.
    h.send(vec![sp(1, 2, 3), error(sp(3, 0, 1)), sp(3, 1, 2)]);
    h.wait(Duration::from_millis(600));
    // Trace 1 is decided: both its spans are out, though its second batch still waits.
    assert_eq!(h.emitted(), vec![1, 1]);
    assert_eq!(h.processor.held_items(), 2);
    h.assert_balanced();
    h.wait(Duration::from_millis(600));
    assert_eq!(h.emitted(), vec![1, 1, 3, 3]);
    assert_eq!(h.dropped(), 1.0);
    assert_eq!(h.processor.held_items(), 0);
    assert_eq!(h.processor.buffer_bytes(), 0);
    h.assert_balanced();
}

#[test]
fn late_spans_use_the_decision_cache_after_the_table_forgets() {
    let mut h = harness(
        "decision_wait: 1s\nnum_traces: 2\ndecision_cache: {sampled_cache_size: 100, non_sampled_cache_size: 100}\npolicies:\n  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    );
    h.send(vec![error(sp(1, 0, 1)), sp(2, 0, 1)]);
    h.wait(AFTER);
    // Two new traces push the decided ones out of the table.
    h.send(vec![sp(3, 0, 1), sp(4, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.processor.traces_in_memory(), 2);
    h.send(vec![sp(1, 1, 2), sp(2, 1, 2)]);
    assert_eq!(h.emitted(), vec![1, 1]);
    assert_eq!(
        h.metric(
            "otelcol_processor_tail_sampling_early_releases_from_cache_decision_total",
            &["sampled=\"true\""]
        ),
        1.0
    );
    assert_eq!(h.evicted("decided_early"), 0.0);
    h.assert_balanced();
}

#[test]
fn num_traces_decides_the_oldest_trace_early() {
    let mut h = harness(
        "decision_wait: 10s\nnum_traces: 2\npolicies:\n  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    );
    h.send(vec![error(sp(1, 0, 1))]);
    h.send(vec![sp(2, 0, 1)]);
    h.send(vec![sp(3, 0, 1)]);
    // Trace 1 was decided (sampled) to make room, long before its decision_wait.
    assert_eq!(h.emitted(), vec![1]);
    assert_eq!(h.evicted("decided_early"), 1.0);
    h.assert_balanced();
}

#[test]
fn a_full_byte_buffer_decides_the_oldest_batches_early() {
    let one = wire(Vec::new(), vec![error(sp(1, 0, 1)), sp(2, 0, 1)]).encoded_len() as u64;
    let mut h = harness(&format!(
        "decision_wait: 10s\nmax_buffer_bytes: {}\npolicies:\n  - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}",
        one * 2 + one / 2
    ));
    h.send(vec![error(sp(1, 0, 1)), sp(2, 0, 1)]);
    h.send(vec![error(sp(3, 0, 1)), sp(4, 0, 1)]);
    assert!(h.out.is_empty());
    assert_eq!(
        h.metric("weir_tail_sampling_buffer_bytes", &[]),
        2.0 * one as f64
    );
    h.send(vec![error(sp(5, 0, 1)), sp(6, 0, 1)]);
    // The first batch's traces were decided early: the error kept, the other dropped.
    assert_eq!(h.emitted(), vec![1]);
    assert_eq!(h.evicted("buffer_full"), 2.0);
    assert!(h.processor.buffer_bytes() <= one * 2 + one / 2);
    assert_eq!(h.dropped(), 1.0);
    h.assert_balanced();

    // A batch larger than the whole buffer is decided as it arrives.
    let mut h = harness(&format!(
        "decision_wait: 10s\nmax_buffer_bytes: {}\npolicies:\n  - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}",
        one / 2
    ));
    h.send(vec![error(sp(1, 0, 1)), sp(2, 0, 1)]);
    assert_eq!(h.emitted(), vec![1]);
    assert_eq!(h.processor.buffer_bytes(), 0);
    assert_eq!(h.evicted("buffer_full"), 2.0);
    h.assert_balanced();
}

#[test]
fn traces_decided_early_do_not_pile_up_in_the_deadline_queue() {
    let one = wire(Vec::new(), vec![sp(1, 0, 1)]).encoded_len() as u64;
    let mut h = harness(&format!(
        "decision_wait: 30s\nnum_traces: 100000\nmax_buffer_bytes: {}\npolicies:\n  - {{name: all, type: always_sample}}",
        one * 4
    ));
    for i in 0..20_000u32 {
        let mut span = sp(1, 0, 1);
        span.trace_id[..4].copy_from_slice(&i.to_le_bytes());
        h.send(vec![span]);
    }
    assert!(
        h.processor.queued_deadlines() < 2_000,
        "{}",
        h.processor.queued_deadlines()
    );
    assert_eq!(h.emitted_count() + h.processor.held_items(), 20_000);
    h.assert_balanced();
}

#[test]
fn a_trace_over_maximum_trace_size_bytes_is_decided_at_once() {
    let mut h = harness(
        "decision_wait: 10s\nmaximum_trace_size_bytes: 300\npolicies:\n  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    );
    let big: Vec<Span> = (0..10).map(|_| error(sp(1, 0, 1))).collect();
    h.send(big);
    assert_eq!(h.emitted().len(), 10);
    assert_eq!(h.evicted("trace_too_large"), 1.0);
    // Its later spans follow the decision.
    h.send(vec![sp(1, 0, 1)]);
    assert_eq!(h.emitted().len(), 11);
    h.assert_balanced();
}

#[test]
fn summaries_are_never_sampled_out() {
    let mut h = harness(&policy_config(
        "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    ));
    let summary = with_attr(
        sp(9, 0, 1),
        "weir.summary",
        any_value::Value::BoolValue(true),
    );
    h.send(vec![summary, sp(2, 0, 1)]);
    h.wait(AFTER);
    assert_eq!(h.emitted(), vec![9]);
    h.send(vec![with_attr(
        sp(8, 0, 1),
        "weir.summary",
        any_value::Value::BoolValue(true),
    )]);
    assert_eq!(h.emitted(), vec![8, 9]);
    h.assert_balanced();
}

#[test]
fn flush_decides_everything_pending() {
    let mut h = harness(&policy_config(
        "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}",
    ));
    h.send(vec![error(sp(1, 0, 1)), sp(2, 0, 1)]);
    h.processor.flush(&mut h.out);
    assert_eq!(h.emitted(), vec![1]);
    assert_eq!(h.processor.held_items(), 0);
    h.assert_balanced();

    let mut h = harness(
        "drop_pending_traces_on_shutdown: true\npolicies:\n  - {name: all, type: always_sample}",
    );
    h.send(vec![sp(1, 0, 1)]);
    h.processor.flush(&mut h.out);
    assert!(h.out.is_empty());
    assert_eq!(h.dropped(), 1.0);
}

#[test]
fn policy_labels_carry_the_processor_name() {
    let h = harness_named(
        &policy_config("  - {name: all, type: always_sample}"),
        Some("eu"),
    );
    let text = h.telemetry.encode();
    assert!(text.contains("policy=\"eu.all\""), "{text}");
    let _ = h.clock.now();
}

#[test]
fn deadlines_are_rounded_to_ticks_and_never_early() {
    let mut h = harness(&policy_config("  - {name: all, type: always_sample}"));
    let start = h.clock.now();
    h.clock.advance(Duration::from_millis(30));
    h.send(vec![sp(1, 0, 1)]);
    let deadline = h.processor.next_deadline().unwrap();
    assert!(deadline >= start + Duration::from_millis(1030));
    assert!(deadline <= start + Duration::from_millis(1030) + TICK);
    h.processor
        .on_deadline(start + Duration::from_millis(1000), &mut h.out);
    assert!(h.out.is_empty());
    h.processor.on_deadline(deadline, &mut h.out);
    assert_eq!(h.emitted(), vec![1]);
}
