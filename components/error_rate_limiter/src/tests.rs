//! Behaviour through the factory, on an injected clock: every time below is an offset
//! from `t0`, so buckets and windows are exact and nothing sleeps.

use std::time::{Duration, Instant};

use weir_api::batch::build::{
    AttributeList, LogRecordBuilder, LogsBuilder, SpanBuilder, TracesBuilder,
};
use weir_api::batch::view::{Attributes, SeverityNumber, StatusCode, ValueRef};
use weir_api::telemetry::names::{
    ERROR_RATE_LIMITER_DROPPED, ERROR_RATE_LIMITER_PASSED, ERROR_RATE_LIMITER_SUMMARIES,
    ITEMS_DROPPED, SHADOW_WOULD_DROP,
};
use weir_api::telemetry::{CounterDef, Telemetry};
use weir_api::{Batch, ComponentId, PipelineId, Processor, ProcessorBuildContext, Signal, Value};

use super::*;

/// The unix time the injected clock starts at.
const UNIX0: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

struct Harness {
    limiter: ErrorRateLimiter,
    telemetry: Telemetry,
    t0: Instant,
    id: String,
    signal: Signal,
}

impl Harness {
    fn new(config: &str, signal: Signal) -> Self {
        Self::named(config, signal, None)
    }

    fn named(config: &str, signal: Signal, name: Option<&str>) -> Self {
        let telemetry = Telemetry::new();
        let id = ComponentId::new(TYPE_NAME, name.map(String::from));
        let ctx = ProcessorBuildContext {
            id: id.clone(),
            pipeline: PipelineId::new(signal, None),
            signal,
            telemetry: telemetry.clone(),
        };
        let t0 = Instant::now();
        let limiter = ErrorRateLimiterFactory
            .build_with_clock(&ctx, &yaml(config), Clock::new(t0, UNIX0))
            .unwrap();
        Self {
            limiter,
            telemetry,
            t0,
            id: id.to_string(),
            signal,
        }
    }

    fn at(&self, nanos: u64) -> Instant {
        self.t0 + Duration::from_nanos(nanos)
    }

    /// Processes at `nanos` after t0: (data batches, summary batches).
    fn process(&mut self, batch: Batch, nanos: u64) -> (Vec<Batch>, Vec<Batch>) {
        let mut out = Vec::new();
        let now = self.at(nanos);
        self.limiter.process_at(batch, now, &mut out);
        out.into_iter().partition(|b| !is_summary_batch(b))
    }

    /// Everything emitted while processing at `nanos`.
    fn raw(&mut self, batch: Batch, nanos: u64) -> Vec<Batch> {
        let mut out = Vec::new();
        let now = self.at(nanos);
        self.limiter.process_at(batch, now, &mut out);
        out
    }

    /// Items kept from `batch` at `nanos`.
    fn kept(&mut self, batch: Batch, nanos: u64) -> usize {
        let (data, _) = self.process(batch, nanos);
        data.iter().map(Batch::item_count).sum()
    }

    fn deadline(&mut self, nanos: u64) -> Vec<Batch> {
        let mut out = Vec::new();
        let now = self.at(nanos);
        self.limiter.on_deadline(now, &mut out);
        out
    }

    fn flush(&mut self, nanos: u64) -> Vec<Batch> {
        let mut out = Vec::new();
        let now = self.at(nanos);
        self.limiter.flush_at(now, &mut out);
        out
    }

    fn count(&self, def: &CounterDef, labels: &[&str]) -> u64 {
        self.telemetry.counter_of(def, labels).get()
    }

    fn dropped(&self) -> u64 {
        self.count(
            &ITEMS_DROPPED,
            &[&self.id, self.signal.as_str(), ERROR_RATE_LIMITED],
        )
    }

    fn would_drop(&self) -> u64 {
        self.count(
            &SHADOW_WOULD_DROP,
            &[&self.id, self.signal.as_str(), ERROR_RATE_LIMITED],
        )
    }

    fn key_counts(&self, key: &str) -> (u64, u64) {
        (
            self.count(&ERROR_RATE_LIMITER_PASSED, &[&self.id, key]),
            self.count(&ERROR_RATE_LIMITER_DROPPED, &[&self.id, key]),
        )
    }
}

fn is_summary_attrs(attributes: Attributes<'_>) -> bool {
    matches!(
        attributes.get(SUMMARY_ATTRIBUTE),
        Some(ValueRef::Bool(true))
    )
}

fn is_summary_batch(batch: &Batch) -> bool {
    batch
        .spans()
        .any(|(_, _, s)| is_summary_attrs(s.attributes()))
        || batch
            .log_records()
            .any(|(_, _, r)| is_summary_attrs(r.attributes()))
}

fn trace_id(n: u64) -> [u8; 16] {
    let mut id = [0; 16];
    id[8..].copy_from_slice(&(n + 1).to_be_bytes());
    id
}

/// A span: error or not, with `exception.type` on an `exception` event when given.
fn span(n: u64, error: bool, exception: Option<&str>) -> SpanBuilder {
    let mut span = SpanBuilder::new("op", trace_id(n), [1; 8]).times(1, 2);
    if error {
        span = span.status(StatusCode::Error, "boom");
    }
    if let Some(kind) = exception {
        let mut attributes = AttributeList::new();
        attributes.push("exception.type", kind);
        span = span.event("exception", 1, attributes);
    }
    span
}

/// One resource per `(service, spans)`.
fn traces(resources: Vec<(&str, Vec<SpanBuilder>)>) -> Batch {
    let mut builder = TracesBuilder::new();
    for (service, spans) in resources {
        let mut resource = builder.resource([("service.name", service), ("host.name", "h1")]);
        let mut scope = resource.scope("lib", "1.0");
        for span in spans {
            scope.push(span);
        }
    }
    builder.build()
}

/// `n` error spans of `service` with `exception.type` = `kind`, trace ids from `first`.
fn errors(service: &str, kind: &str, first: u64, n: u64) -> Batch {
    traces(vec![(
        service,
        (first..first + n)
            .map(|i| span(i, true, Some(kind)))
            .collect(),
    )])
}

fn record(n: u64, severity: SeverityNumber, kind: Option<&str>) -> LogRecordBuilder {
    let mut record = LogRecordBuilder::new()
        .severity(severity, "")
        .body("something happened")
        .trace_id(trace_id(n).to_vec());
    if let Some(kind) = kind {
        record = record.attributes([("exception.type", kind)]);
    }
    record
}

fn logs(service: &str, records: Vec<LogRecordBuilder>) -> Batch {
    let mut builder = LogsBuilder::new();
    let mut resource = builder.resource([("service.name", service)]);
    let mut scope = resource.scope("lib", "1.0");
    for record in records {
        scope.push(record);
    }
    builder.build()
}

/// The same batch as received bytes.
fn wire(batch: &Batch) -> Batch {
    Batch::from_protobuf(batch.signal(), batch.encode_protobuf().into()).unwrap()
}

/// A decoded summary: (key, dropped, first_seen, last_seen, exemplars, resource service).
#[derive(Debug, PartialEq)]
struct Seen {
    key: String,
    dropped: i64,
    first_seen: i64,
    last_seen: i64,
    exemplars: Vec<String>,
    service: Option<String>,
}

fn read(attributes: Attributes<'_>, service: Option<&str>) -> Seen {
    let int = |k: &str| attributes.get(k).and_then(|v| v.as_int()).unwrap();
    let exemplars = match attributes.get(EXEMPLARS_ATTRIBUTE) {
        Some(ValueRef::Array(a)) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        other => panic!("exemplars: {other:?}"),
    };
    Seen {
        key: attributes.get_str(KEY_ATTRIBUTE).unwrap().to_string(),
        dropped: int(DROPPED_ATTRIBUTE),
        first_seen: int(FIRST_SEEN_ATTRIBUTE),
        last_seen: int(LAST_SEEN_ATTRIBUTE),
        exemplars,
        service: service.map(String::from),
    }
}

fn summaries(batches: &[Batch]) -> Vec<Seen> {
    let mut seen = Vec::new();
    for batch in batches {
        for (resource, scope, span) in batch.spans() {
            assert_eq!(scope.name(), SCOPE_NAME);
            assert_eq!(span.name(), SUMMARY_NAME);
            assert_eq!(span.status_code(), StatusCode::Unset);
            assert_eq!(span.trace_id().len(), 16);
            assert!(span.trace_id().iter().any(|b| *b != 0));
            assert!(is_summary_attrs(span.attributes()));
            let service = resource.attributes().get_str("service.name");
            seen.push(read(span.attributes(), service));
        }
        for (resource, scope, record) in batch.log_records() {
            assert_eq!(scope.name(), SCOPE_NAME);
            assert_eq!(record.severity_number(), SeverityNumber::WARN);
            assert!(is_summary_attrs(record.attributes()));
            let service = resource.attributes().get_str("service.name");
            seen.push(read(record.attributes(), service));
        }
    }
    seen
}

fn hex_id(n: u64) -> String {
    trace_id(n).iter().map(|b| format!("{b:02x}")).collect()
}

const KEYED: &str = "
key: [service.name, exception.type]
rate: 50
burst: 100
summary_interval: 10s
";

// ---------------------------------------------------------------- buckets

#[test]
fn a_burst_then_the_steady_state() {
    let mut h = Harness::new(KEYED, Signal::Traces);
    // The bucket starts full: the first 100 of a flood pass.
    assert_eq!(h.kept(errors("checkout", "Timeout", 0, 300), 0), 100);
    // Then 50 a second, 5 per 100 ms; a quiet second refills 50, never more than 100.
    assert_eq!(h.kept(errors("checkout", "Timeout", 0, 300), SECOND), 50);
    assert_eq!(
        h.kept(errors("checkout", "Timeout", 0, 300), SECOND + SECOND / 10),
        5
    );
    for step in 2..=9 {
        let at = SECOND + step * SECOND / 10;
        assert_eq!(
            h.kept(errors("checkout", "Timeout", 0, 20), at),
            5,
            "{step}"
        );
    }
    // Another key has its own, full bucket.
    assert_eq!(
        h.kept(errors("checkout", "Refused", 0, 300), 2 * SECOND),
        100
    );
    assert_eq!(
        h.kept(errors("payment", "Timeout", 0, 300), 2 * SECOND),
        100
    );
    // Five idle seconds refill to the burst, not beyond.
    assert_eq!(
        h.kept(errors("checkout", "Timeout", 0, 300), 7 * SECOND),
        100
    );

    let timeout = "service.name=checkout,exception.type=Timeout";
    let passed = 100 + 50 + 5 + 8 * 5 + 100;
    let dropped = 4 * 300 + 8 * 20 - passed;
    assert_eq!(h.key_counts(timeout), (passed, dropped));
    assert_eq!(h.dropped(), dropped + 200 + 200);
    assert_eq!(h.would_drop(), 0);
}

#[test]
fn non_errors_pass_untouched_and_uncounted() {
    let mut h = Harness::new("burst: 1\nrate: 1", Signal::Traces);
    let ok: Vec<SpanBuilder> = (0..50).map(|i| span(i, false, Some("X"))).collect();
    let input = traces(vec![("checkout", ok)]);
    for (i, batch) in [input.clone(), wire(&input)].into_iter().enumerate() {
        let (data, summaries) = h.process(batch.clone(), i as u64);
        assert!(summaries.is_empty());
        assert_eq!(data, vec![batch.clone()]);
        // Nothing changed, so nothing was copied.
        assert!(data[0].shares_data_with(&batch), "{i}");
    }
    let mut h = Harness::new("burst: 1\nrate: 1", Signal::Logs);
    let input = logs(
        "checkout",
        (0..50)
            .map(|i| record(i, SeverityNumber(16), Some("X")))
            .collect(),
    );
    let (data, _) = h.process(input.clone(), 0);
    assert_eq!(data, vec![input]);
    assert_eq!(h.dropped(), 0);
    assert!(h.deadline(10 * SECOND).is_empty());
    assert!(h.flush(20 * SECOND).is_empty());
}

#[test]
fn only_the_errors_over_the_limit_are_dropped_from_a_mixed_batch() {
    let mut h = Harness::new("burst: 2\nrate: 1\nkey: [service.name]", Signal::Traces);
    let mixed: Vec<SpanBuilder> = (0..10).map(|i| span(i, i % 2 == 0, None)).collect();
    let input = traces(vec![("checkout", mixed)]);
    let (data, _) = h.process(wire(&input), 0);
    let kept: Vec<(bool, Vec<u8>)> = data
        .iter()
        .flat_map(|b| b.spans())
        .map(|(_, _, s)| (s.status_code() == StatusCode::Error, s.trace_id().to_vec()))
        .collect();
    // 5 OK spans and the first 2 errors (trace ids 0 and 2), in order.
    let expected: Vec<(bool, Vec<u8>)> = [0, 1, 2, 3, 5, 7, 9]
        .iter()
        .map(|&i| (i % 2 == 0, trace_id(i).to_vec()))
        .collect();
    assert_eq!(kept, expected);
    assert_eq!(h.dropped(), 3);
}

#[test]
fn logs_at_error_severity_and_above_are_errors() {
    let mut h = Harness::new("burst: 1\nrate: 1\nkey: [service.name]", Signal::Logs);
    let records = vec![
        record(0, SeverityNumber::ERROR, None),
        record(1, SeverityNumber::FATAL, None),
        record(2, SeverityNumber(16), None),
        record(3, SeverityNumber(24), None),
        record(4, SeverityNumber::INFO, None),
    ];
    let (data, _) = h.process(logs("checkout", records), 0);
    let kept: Vec<i32> = data
        .iter()
        .flat_map(|b| b.log_records())
        .map(|(_, _, r)| r.severity_number().0)
        .collect();
    assert_eq!(kept, vec![17, 16, 9]);
    assert_eq!(h.dropped(), 2);
}

// ---------------------------------------------------------------- keys

#[test]
fn exception_type_is_read_from_the_exception_event_and_attributes() {
    let mut h = Harness::new("burst: 1\nrate: 1", Signal::Traces);
    // On an `exception` event.
    assert_eq!(h.kept(errors("checkout", "Timeout", 0, 3), 0), 1);
    // On the span itself (a different key, so a full bucket).
    let on_span = span(9, true, None).attributes([("exception.type", "Refused")]);
    assert_eq!(h.kept(traces(vec![("checkout", vec![on_span])]), 0), 1);
    // An event of another name does not count: the key's value is empty.
    let other_event = SpanBuilder::new("op", trace_id(7), [1; 8])
        .status(StatusCode::Error, "")
        .event(
            "log",
            1,
            [("exception.type", "Ignored")].into_iter().collect(),
        );
    assert_eq!(
        h.kept(
            traces(vec![("checkout", vec![other_event.clone(), other_event])]),
            0
        ),
        1
    );
    assert_eq!(
        h.key_counts("service.name=checkout,exception.type=Timeout"),
        (1, 2)
    );
    assert_eq!(
        h.key_counts("service.name=checkout,exception.type=Refused"),
        (1, 0)
    );
    assert_eq!(
        h.key_counts("service.name=checkout,exception.type="),
        (1, 1)
    );
}

#[test]
fn long_key_values_are_cut() {
    let mut h = Harness::new("burst: 1\nrate: 1\nkey: [exception.type]", Signal::Logs);
    let long = "é".repeat(1000);
    let records = vec![record(0, SeverityNumber::ERROR, Some(&long)); 2];
    assert_eq!(h.kept(logs("checkout", records), 0), 1);
    let summary = summaries(&h.flush(SECOND));
    let value = summary[0].key.strip_prefix("exception.type=").unwrap();
    assert!(value.len() <= MAX_VALUE_BYTES && value.len() >= MAX_VALUE_BYTES - 1);
    assert!(long.starts_with(value));
}

#[test]
fn the_key_cap_sends_new_keys_to_one_overflow_bucket() {
    let config = "key: [service.name]\nmax_keys: 2\nburst: 2\nrate: 1\nsummary_interval: 10s";
    let mut h = Harness::new(config, Signal::Traces);
    for service in ["a", "b"] {
        assert_eq!(h.kept(errors(service, "X", 0, 5), 0), 2, "{service}");
    }
    // c and d share the overflow bucket, with the same burst: 2 pass between them.
    assert_eq!(h.kept(errors("c", "X", 10, 5), 0), 2);
    assert_eq!(h.kept(errors("d", "X", 20, 5), 0), 0);
    // a and b keep their own buckets.
    assert_eq!(h.kept(errors("a", "X", 0, 5), SECOND), 1);
    assert_eq!(h.key_counts("service.name=a"), (3, 7));
    assert_eq!(h.key_counts("service.name=b"), (2, 3));
    assert_eq!(h.key_counts(OVERFLOW_LABEL), (2, 8));
    assert_eq!(h.key_counts("service.name=c"), (0, 0));
    assert_eq!(h.dropped(), 7 + 3 + 8);

    let seen = summaries(&h.deadline(10 * SECOND));
    let keys: Vec<(&str, i64)> = seen.iter().map(|s| (s.key.as_str(), s.dropped)).collect();
    assert_eq!(
        keys,
        vec![
            ("service.name=a", 7),
            ("service.name=b", 3),
            (OVERFLOW_KEY, 8)
        ]
    );
    // The overflow summary has no key resource (its items came from several services).
    assert_eq!(seen[2].service, None);
    // c's errors (trace ids 10..) were dropped after d's were... all 8 drops: 3 of c, 5 of d.
    assert_eq!(
        seen[2].exemplars,
        (12..15).chain(20..22).map(hex_id).collect::<Vec<_>>()
    );

    // At the window boundary every bucket had refilled: the keys were forgotten, so a
    // new key gets a bucket of its own, labelled `other` beyond the first two labels.
    assert_eq!(h.kept(errors("e", "X", 0, 5), 11 * SECOND), 2);
    assert_eq!(h.kept(errors("f", "X", 0, 5), 11 * SECOND), 2);
    assert_eq!(h.kept(errors("g", "X", 0, 5), 11 * SECOND), 2);
    assert_eq!(h.key_counts(OTHER_LABEL), (4, 6));
    assert_eq!(h.key_counts(OVERFLOW_LABEL), (4, 11));
}

#[test]
fn a_key_that_has_not_refilled_is_not_forgotten() {
    let config = "key: [service.name]\nmax_keys: 1\nburst: 10\nrate: 0.1\nsummary_interval: 10s";
    let mut h = Harness::new(config, Signal::Logs);
    let flood = |first| {
        logs(
            "a",
            (first..first + 20)
                .map(|i| record(i, SeverityNumber::ERROR, None))
                .collect(),
        )
    };
    assert_eq!(h.kept(flood(0), 0), 10);
    assert_eq!(summaries(&h.deadline(10 * SECOND))[0].dropped, 10);
    // One token came back in 10 s; the bucket is still a's, not a new full one.
    assert_eq!(h.kept(flood(0), 10 * SECOND), 1);
}

// ---------------------------------------------------------------- summaries

#[test]
fn summaries_count_exactly_per_key_and_window() {
    let config = "key: [service.name, exception.type]\nburst: 2\nrate: 1\nsummary_interval: 10s";
    for signal in [Signal::Traces, Signal::Logs] {
        let mut h = Harness::new(config, signal);
        let batch = |service: &str, kind: &str, first: u64, n: u64| match signal {
            Signal::Traces => errors(service, kind, first, n),
            _ => logs(
                service,
                (first..first + n)
                    .map(|i| record(i, SeverityNumber::ERROR, Some(kind)))
                    .collect(),
            ),
        };
        // Window 1 (0-10 s): a/X drops 8 at 1 s and 1 at 3 s; b/Y drops 3; c/Z drops none.
        assert_eq!(h.kept(batch("a", "X", 0, 10), SECOND), 2);
        assert_eq!(h.kept(batch("b", "Y", 100, 5), 2 * SECOND), 2);
        assert_eq!(h.kept(batch("c", "Z", 200, 1), 2 * SECOND), 1);
        assert_eq!(h.kept(batch("a", "X", 2, 3), 3 * SECOND), 2);
        assert_eq!(h.limiter.next_deadline(), Some(h.at(10 * SECOND)));
        assert!(h.deadline(9 * SECOND).is_empty(), "not due yet");
        let window1 = h.deadline(10 * SECOND);
        assert_eq!(window1.len(), 1, "one batch");
        assert_eq!(window1[0].signal(), signal);
        assert_eq!(
            summaries(&window1),
            vec![
                Seen {
                    key: "service.name=a,exception.type=X".into(),
                    dropped: 9,
                    first_seen: (UNIX0 + SECOND) as i64,
                    last_seen: (UNIX0 + 3 * SECOND) as i64,
                    exemplars: (2..7).map(hex_id).collect(),
                    service: Some("a".into()),
                },
                Seen {
                    key: "service.name=b,exception.type=Y".into(),
                    dropped: 3,
                    first_seen: (UNIX0 + 2 * SECOND) as i64,
                    last_seen: (UNIX0 + 2 * SECOND) as i64,
                    exemplars: (102..105).map(hex_id).collect(),
                    service: Some("b".into()),
                },
            ],
            "{signal:?}"
        );
        // The summary resource carries only the key's resource attributes.
        let resource_attrs: Vec<usize> = window1[0]
            .traces()
            .map(|r| r.resource().attributes().len())
            .chain(window1[0].logs().map(|r| r.resource().attributes().len()))
            .collect();
        assert_eq!(resource_attrs, vec![1, 1]);
        assert_eq!(h.limiter.next_deadline(), Some(h.at(20 * SECOND)));

        // Window 2: only what was dropped since; flush emits the partial window.
        assert_eq!(h.kept(batch("a", "X", 50, 4), 12 * SECOND), 2);
        assert!(h.deadline(15 * SECOND).is_empty());
        let flushed = summaries(&h.flush(16 * SECOND));
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].dropped, 2);
        assert_eq!(flushed[0].exemplars, vec![hex_id(52), hex_id(53)]);
        assert!(h.flush(17 * SECOND).is_empty(), "nothing twice");

        assert_eq!(h.dropped(), 9 + 3 + 2);
        assert_eq!(
            h.count(&ERROR_RATE_LIMITER_SUMMARIES, &[&h.id, signal.as_str()]),
            3
        );
    }
}

#[test]
fn a_window_that_passes_while_data_arrives_is_closed_before_it() {
    let mut h = Harness::new("burst: 1\nrate: 1\nsummary_interval: 10s", Signal::Logs);
    let two = || {
        logs(
            "a",
            vec![
                record(0, SeverityNumber::ERROR, None),
                record(1, SeverityNumber::ERROR, None),
            ],
        )
    };
    assert_eq!(h.kept(two(), 0), 1);
    // No on_deadline call: the next batch, after the boundary, closes the window first.
    let (data, window1) = h.process(two(), 25 * SECOND);
    assert_eq!(data.iter().map(Batch::item_count).sum::<usize>(), 1);
    assert_eq!(summaries(&window1)[0].dropped, 1);
    assert_eq!(summaries(&window1)[0].last_seen, UNIX0 as i64);
    // Far behind: windows restart from now.
    assert_eq!(h.limiter.next_deadline(), Some(h.at(35 * SECOND)));
    assert_eq!(
        summaries(&h.flush(26 * SECOND))[0].first_seen,
        (UNIX0 + 25 * SECOND) as i64
    );
}

#[test]
fn exemplars_are_distinct_and_at_most_five() {
    let mut h = Harness::new("burst: 1\nrate: 1\nkey: []", Signal::Logs);
    let records: Vec<LogRecordBuilder> = [0, 0, 1, 1, 2, 3, 4, 5, 6]
        .iter()
        .map(|&i| record(i, SeverityNumber::ERROR, None))
        .chain([LogRecordBuilder::new().severity(SeverityNumber::ERROR, "")])
        .collect();
    assert_eq!(h.kept(logs("a", records), 0), 1);
    let seen = summaries(&h.flush(SECOND));
    assert_eq!(seen[0].key, "");
    assert_eq!(seen[0].dropped, 9);
    assert_eq!(seen[0].exemplars, (0..5).map(hex_id).collect::<Vec<_>>());
}

#[test]
fn summaries_pass_a_second_limiter_untouched() {
    for signal in [Signal::Traces, Signal::Logs] {
        let mut first = Harness::new("burst: 1\nrate: 1", signal);
        let flood = match signal {
            Signal::Traces => errors("a", "X", 0, 10),
            _ => logs(
                "a",
                (0..10)
                    .map(|i| record(i, SeverityNumber::ERROR, None))
                    .collect(),
            ),
        };
        first.kept(flood, 0);
        let summary = first.flush(SECOND);
        assert_eq!(summary.len(), 1);
        // The second limiter treats everything with a `dropped` attribute as an error
        // and has room for none: summaries are exempt all the same.
        let config =
            "burst: 1\nrate: 1\ncondition: 'attributes[\"weir.error_rate_limiter.dropped\"] > 0'";
        let mut second = Harness::new(config, signal);
        for at in 0..3 {
            let out = second.raw(summary[0].clone(), at);
            assert_eq!(out, vec![summary[0].clone()]);
            assert!(out[0].shares_data_with(&summary[0]));
        }
        assert_eq!(second.dropped(), 0);
        assert_eq!(second.key_counts(OVERFLOW_LABEL), (0, 0));
    }
}

// ---------------------------------------------------------------- shadow mode

/// A deterministic stream of mixed batches: several services and exception types,
/// errors and non-errors, at uneven times over three windows.
fn workload(signal: Signal) -> Vec<(Batch, u64)> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut out = Vec::new();
    let mut at = 0;
    for i in 0..300u64 {
        at += next(100_000_000);
        let service = ["a", "b", "c", "d", "e"][next(5) as usize];
        let kind = ["X", "Y", "Z"][next(3) as usize];
        let n = 1 + next(40);
        let batch = match signal {
            Signal::Traces => traces(vec![(
                service,
                (0..n)
                    .map(|j| span(i * 100 + j, next(10) < 7, Some(kind)))
                    .collect(),
            )]),
            _ => logs(
                service,
                (0..n)
                    .map(|j| {
                        let severity = SeverityNumber(1 + next(24) as i32);
                        record(i * 100 + j, severity, Some(kind))
                    })
                    .collect(),
            ),
        };
        out.push((batch, at));
    }
    out
}

#[test]
fn shadow_counts_exactly_what_enforcement_drops() {
    let config = "key: [service.name, exception.type]\nrate: 20\nburst: 30\nmax_keys: 8\nsummary_interval: 10s";
    for signal in [Signal::Traces, Signal::Logs] {
        let mut enforce = Harness::new(config, signal);
        let mut shadow = Harness::new(&format!("{config}\nshadow: true"), signal);
        let (mut delivered, mut summarised, mut total) = (0, 0, 0);
        for (batch, at) in workload(signal) {
            total += batch.item_count();
            for (h, is_shadow) in [(&mut enforce, false), (&mut shadow, true)] {
                let deadline = h.limiter.next_deadline().unwrap();
                let mut out = if h.at(at) >= deadline {
                    h.deadline(at)
                } else {
                    Vec::new()
                };
                let (data, summary) = h.process(batch.clone(), at);
                out.extend(summary);
                if is_shadow {
                    // Nothing dropped, nothing added, nothing copied.
                    assert_eq!(data, vec![batch.clone()]);
                    assert!(data[0].shares_data_with(&batch));
                    assert!(out.iter().all(|b| !is_summary_batch(b)), "no summaries");
                } else {
                    delivered += data.iter().map(Batch::item_count).sum::<usize>();
                    summarised += summaries(&out).iter().map(|s| s.dropped).sum::<i64>();
                }
            }
        }
        summarised += summaries(&enforce.flush(40 * SECOND))
            .iter()
            .map(|s| s.dropped)
            .sum::<i64>();
        assert!(shadow.flush(40 * SECOND).is_empty());
        let dropped = enforce.dropped();
        assert!(
            dropped > 300,
            "the workload must exercise the limit: {dropped}"
        );
        assert_eq!(shadow.would_drop(), dropped, "{signal:?}");
        assert_eq!(shadow.dropped(), 0);
        assert_eq!(enforce.would_drop(), 0);
        // Accounting: in = out + dropped; the summaries account for every drop.
        assert_eq!(total as u64, delivered as u64 + dropped);
        assert_eq!(summarised as u64, dropped);
        // Both modes make the same per-key decisions.
        for label in [OVERFLOW_LABEL, "service.name=a,exception.type=X"] {
            assert_eq!(shadow.key_counts(label), enforce.key_counts(label));
        }
    }
}

// ---------------------------------------------------------------- wire and owned

#[test]
fn wire_and_owned_batches_give_the_same_result() {
    let config = "key: [service.name, exception.type]\nrate: 20\nburst: 30\nmax_keys: 8";
    for signal in [Signal::Traces, Signal::Logs] {
        let mut owned = Harness::new(config, signal);
        let mut received = Harness::new(config, signal);
        for (batch, at) in workload(signal) {
            let (owned_data, owned_summaries) = owned.process(batch.clone(), at);
            let (wire_data, wire_summaries) = received.process(wire(&batch), at);
            // Equal data, whatever the form (summary ids are random, so compare those
            // by their attributes).
            assert_eq!(owned_data, wire_data);
            assert_eq!(summaries(&owned_summaries), summaries(&wire_summaries));
        }
        assert_eq!(owned.dropped(), received.dropped());
        assert_eq!(
            summaries(&owned.flush(40 * SECOND)),
            summaries(&received.flush(40 * SECOND))
        );
    }
}

// ---------------------------------------------------------------- condition

#[test]
fn a_condition_marks_more_items_as_errors() {
    let config = "burst: 1\nrate: 1\nkey: [service.name]\ncondition: 'attributes[\"http.response.status_code\"] >= 500'";
    let mut h = Harness::new(config, Signal::Traces);
    let spans: Vec<SpanBuilder> = [200, 503, 500, 404]
        .iter()
        .enumerate()
        .map(|(i, code)| {
            span(i as u64, false, None)
                .attributes([("http.response.status_code", i64::from(*code))])
        })
        .collect();
    let (data, _) = h.process(traces(vec![("a", spans)]), 0);
    let codes: Vec<i64> = data
        .iter()
        .flat_map(|b| b.spans())
        .map(|(_, _, s)| {
            s.attributes()
                .get("http.response.status_code")
                .unwrap()
                .as_int()
                .unwrap()
        })
        .collect();
    assert_eq!(codes, vec![200, 503, 404]);

    let config = "burst: 1\nrate: 1\nkey: [service.name]\ncondition: 'body == \"oops\"'";
    let mut h = Harness::new(config, Signal::Logs);
    let records = (0..3)
        .map(|i| record(i, SeverityNumber::INFO, None).body("oops"))
        .collect();
    assert_eq!(h.kept(logs("a", records), 0), 1);
}

// ---------------------------------------------------------------- config

#[test]
fn defaults_are_the_documented_example() {
    let config = weir_api::config::parse_valid::<ErrorRateLimiterConfig>(&Value::Null).unwrap();
    assert_eq!(config.key, vec!["service.name", "exception.type"]);
    assert_eq!(config.rate, 50.0);
    assert_eq!(config.burst, 100);
    assert_eq!(config.max_keys, 1000);
    assert_eq!(config.summary_interval, Duration::from_secs(10));
    assert_eq!(config.condition, "");
    assert!(!config.shadow);
    let full = "
key: [service.name, exception.type]
rate: 50
burst: 100
max_keys: 1000
summary_interval: 10s
condition: ''
shadow: false
";
    assert!(ErrorRateLimiterFactory.check(&yaml(full)).is_empty());
}

#[test]
fn bad_config_is_reported_with_its_key() {
    let check = |text: &str| {
        ErrorRateLimiterFactory
            .check(&yaml(text))
            .into_iter()
            .map(|p| (p.path.join("."), p.message))
            .collect::<Vec<_>>()
    };
    let paths = |text: &str| check(text).into_iter().map(|(p, _)| p).collect::<Vec<_>>();
    assert_eq!(paths("rate: 0"), vec!["rate"]);
    assert_eq!(paths("rate: -1"), vec!["rate"]);
    assert_eq!(paths("rate: 2e9"), vec!["rate"]);
    assert_eq!(paths("burst: 0"), vec!["burst"]);
    assert_eq!(paths("max_keys: 0"), vec!["max_keys"]);
    assert_eq!(paths("summary_interval: 0"), vec!["summary_interval"]);
    assert_eq!(paths("key: [a, '', a]"), vec!["key.1", "key.2"]);
    assert_eq!(paths("rate_limit: 5"), vec!["rate_limit"]);
    assert_eq!(paths("summary_interval: 5x"), vec!["summary_interval"]);
    let bad = check("condition: 'attributes[\"a\"] =='");
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, "condition");
    assert!(bad[0].1.contains("column"), "{}", bad[0].1);
    // A span-only condition is valid config; a logs pipeline refuses it at build.
    assert!(check("condition: 'status.code == STATUS_CODE_ERROR'").is_empty());
    let ctx = ProcessorBuildContext {
        id: ComponentId::new(TYPE_NAME, Some("x".into())),
        pipeline: PipelineId::new(Signal::Logs, None),
        signal: Signal::Logs,
        telemetry: Telemetry::new(),
    };
    let err = ErrorRateLimiterFactory
        .build(ctx, &yaml("condition: 'status.code == STATUS_CODE_ERROR'"))
        .err()
        .unwrap();
    assert!(
        err.0.starts_with("error_rate_limiter/x: condition: "),
        "{err}"
    );
    assert!(err.0.contains("`log` context"), "{err}");
}

#[test]
fn metrics_pipelines_are_refused() {
    let ctx = ProcessorBuildContext {
        id: ComponentId::new(TYPE_NAME, None),
        pipeline: PipelineId::new(Signal::Metrics, None),
        signal: Signal::Metrics,
        telemetry: Telemetry::new(),
    };
    let err = ErrorRateLimiterFactory
        .build(ctx, &Value::Null)
        .err()
        .unwrap();
    assert!(err.0.contains("not metrics"), "{err}");
}

#[test]
fn the_registry_knows_it() {
    let info = factory().info();
    assert_eq!(info.type_name, "error_rate_limiter");
    assert_eq!(info.signals, &[Signal::Traces, Signal::Logs]);
}
