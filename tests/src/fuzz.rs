//! The fuzz targets' entry points, one function per target of `tests/fuzz`.
//!
//! They live here, not in the fuzz package, so that the regression test
//! (`tests/tests/fuzz_regressions.rs`) feeds a crashing input to exactly the code the
//! fuzzer ran, on the stable toolchain and inside `cargo test --workspace`. Each function
//! takes arbitrary bytes and must return without panicking: a panic is a bug in Weir's
//! code (or a broken invariant asserted here), never an acceptable answer to input.

use bytes::Bytes;
use weir_api::batch::view::{Attributes, ValueRef};
use weir_api::Batch;
use weir_config::Signal;

/// How deep [`walk_value`] follows nested arrays and key-value lists. Validation bounds the
/// nesting a batch can hold; this only keeps a broken bound from overflowing the stack.
const MAX_VALUE_DEPTH: usize = 256;

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name: the folder names under `tests/fuzz/regressions/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("otlp_protobuf", otlp_protobuf),
    ("otlp_json", otlp_json),
    ("config", config),
    ("statsd", statsd),
    ("prometheus", prometheus),
    ("wal", wal),
];

fn signal_of(selector: u8) -> Signal {
    Signal::ALL[usize::from(selector) % Signal::ALL.len()]
}

/// OTLP protobuf: the first byte picks the signal, the rest is an export request. A
/// request that validates must be readable through every view of every item, re-encode to
/// a request that validates with the same item count, and encode to OTLP/JSON that
/// decodes again with the same item count.
pub fn otlp_protobuf(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let signal = signal_of(selector);
    let Ok(batch) = Batch::from_protobuf(signal, Bytes::copy_from_slice(message)) else {
        return;
    };
    check_batch(&batch);
}

/// OTLP/JSON: the first byte picks the signal, the rest is the JSON document. A request
/// that decodes goes through the same checks as [`otlp_protobuf`].
pub fn otlp_json(data: &[u8]) {
    let Some((&selector, document)) = data.split_first() else {
        return;
    };
    let Ok(batch) = Batch::decode_json(signal_of(selector), document) else {
        return;
    };
    check_batch(&batch);
}

fn check_batch(batch: &Batch) {
    let walked = walk(batch);
    assert_eq!(walked.items, batch.item_count(), "views see every item");
    let encoded = batch.encode_protobuf();
    let again = Batch::from_protobuf(batch.signal(), Bytes::from(encoded))
        .expect("a batch's own protobuf encoding validates");
    assert_eq!(again.item_count(), batch.item_count());
    let json = batch.encode_json();
    let from_json = Batch::decode_json(batch.signal(), &json);
    if walked.odd_ids {
        // Protobuf takes trace and span ids of any length (as prost does); OTLP/JSON
        // takes only 16 and 8 bytes, so such a batch's JSON may be refused.
        return;
    }
    let from_json = from_json.expect("a batch's own OTLP/JSON decodes");
    assert_eq!(from_json.item_count(), batch.item_count());
}

/// What [`walk`] saw.
#[derive(Debug, Default)]
pub struct Walked {
    /// Spans, metric data points and log records.
    pub items: usize,
    /// A trace or span id whose length is neither 0 nor 16 / 8 bytes.
    pub odd_ids: bool,
}

fn odd(trace_id: &[u8], span_id: &[u8]) -> bool {
    !matches!(trace_id.len(), 0 | 16) || !matches!(span_id.len(), 0 | 8)
}

/// Reads every field of every view of every item.
pub fn walk(batch: &Batch) -> Walked {
    let mut items = 0;
    let mut odd_ids = false;
    for rs in batch.traces() {
        walk_attributes(rs.resource().attributes(), 0);
        let _ = (rs.resource().dropped_attributes_count(), rs.schema_url());
        for scope in rs.scopes() {
            walk_scope(scope.scope());
            let _ = scope.schema_url();
            for span in scope.spans() {
                items += 1;
                odd_ids |= odd(span.trace_id(), span.span_id());
                odd_ids |= odd(&[], span.parent_span_id());
                let _ = (span.trace_state(), span.flags(), span.name().len());
                let _ = (span.kind().name(), span.kind().as_i32());
                let _ = (span.start_time_unix_nano(), span.end_time_unix_nano());
                let _ = span.duration_nanos();
                let _ = (span.status_code().name(), span.status_message());
                let _ = (span.dropped_attributes_count(), span.dropped_events_count());
                let _ = span.dropped_links_count();
                walk_attributes(span.attributes(), 0);
                for event in span.events() {
                    let _ = (event.time_unix_nano(), event.name());
                    let _ = event.dropped_attributes_count();
                    walk_attributes(event.attributes(), 0);
                }
                for link in span.links() {
                    odd_ids |= odd(link.trace_id(), link.span_id());
                    let _ = link.trace_state();
                    let _ = (link.flags(), link.dropped_attributes_count());
                    walk_attributes(link.attributes(), 0);
                }
            }
        }
    }
    for rm in batch.metrics() {
        walk_attributes(rm.resource().attributes(), 0);
        let _ = rm.schema_url();
        for scope in rm.scopes() {
            walk_scope(scope.scope());
            let _ = scope.schema_url();
            for metric in scope.metrics() {
                let (points, odd_exemplar_ids) = walk_metric(metric);
                items += points;
                odd_ids |= odd_exemplar_ids;
            }
        }
    }
    for rl in batch.logs() {
        walk_attributes(rl.resource().attributes(), 0);
        let _ = rl.schema_url();
        for scope in rl.scopes() {
            walk_scope(scope.scope());
            let _ = scope.schema_url();
            for record in scope.log_records() {
                items += 1;
                let _ = (record.time_unix_nano(), record.observed_time_unix_nano());
                let _ = (record.severity_number(), record.severity_text());
                let _ = (record.dropped_attributes_count(), record.flags());
                odd_ids |= odd(record.trace_id(), record.span_id());
                let _ = record.event_name();
                walk_value(record.body(), 0);
                walk_attributes(record.attributes(), 0);
            }
        }
    }
    Walked { items, odd_ids }
}

fn walk_scope(scope: weir_api::batch::view::ScopeView<'_>) {
    let _ = (
        scope.name(),
        scope.version(),
        scope.dropped_attributes_count(),
    );
    walk_attributes(scope.attributes(), 0);
}

/// Returns the points and whether an exemplar has an odd id.
fn walk_metric(metric: weir_api::batch::view::MetricView<'_>) -> (usize, bool) {
    let mut odd_ids = false;
    let _ = (metric.name(), metric.description(), metric.unit());
    walk_attributes(metric.metadata(), 0);
    let _ = (
        metric.metric_type(),
        metric.temporality(),
        metric.is_monotonic(),
    );
    let mut points = 0;
    for point in metric.number_points() {
        points += 1;
        walk_attributes(point.attributes(), 0);
        let _ = (point.start_time_unix_nano(), point.time_unix_nano());
        let _ = (point.flags(), point.value().as_f64());
        odd_ids |= walk_exemplars(point.exemplars());
    }
    for point in metric.histogram_points() {
        points += 1;
        walk_attributes(point.attributes(), 0);
        let _ = (point.start_time_unix_nano(), point.time_unix_nano());
        let _ = (point.flags(), point.count(), point.sum());
        let _ = (point.min(), point.max());
        let _ = point.bucket_counts().count() + point.explicit_bounds().count();
        odd_ids |= walk_exemplars(point.exemplars());
    }
    for point in metric.exponential_histogram_points() {
        points += 1;
        walk_attributes(point.attributes(), 0);
        let _ = (point.start_time_unix_nano(), point.time_unix_nano());
        let _ = (point.flags(), point.count(), point.sum(), point.scale());
        let _ = (point.zero_count(), point.zero_threshold());
        let _ = (point.min(), point.max());
        for buckets in [point.positive(), point.negative()] {
            let _ = (buckets.offset(), buckets.bucket_counts().count());
        }
        odd_ids |= walk_exemplars(point.exemplars());
    }
    for point in metric.summary_points() {
        points += 1;
        walk_attributes(point.attributes(), 0);
        let _ = (point.start_time_unix_nano(), point.time_unix_nano());
        let _ = (point.flags(), point.count(), point.sum());
        for quantile in point.quantiles() {
            let _ = (quantile.quantile, quantile.value);
        }
    }
    assert_eq!(
        points,
        metric.point_count(),
        "point_count matches the points"
    );
    (points, odd_ids)
}

/// Returns whether an exemplar has an odd id.
fn walk_exemplars<'a>(
    exemplars: impl Iterator<Item = weir_api::batch::view::ExemplarView<'a>>,
) -> bool {
    let mut odd_ids = false;
    for exemplar in exemplars {
        walk_attributes(exemplar.filtered_attributes(), 0);
        let _ = (exemplar.time_unix_nano(), exemplar.value().as_f64());
        odd_ids |= odd(exemplar.trace_id(), exemplar.span_id());
    }
    odd_ids
}

fn walk_attributes(attributes: Attributes<'_>, depth: usize) {
    let _ = (attributes.len(), attributes.is_empty());
    for (key, value) in attributes.iter() {
        // Lookup by key finds an attribute with that key (the first one, for duplicates).
        assert!(
            attributes.get(key).is_some(),
            "attribute {key:?} found by key"
        );
        walk_value(value, depth + 1);
    }
}

fn walk_value(value: ValueRef<'_>, depth: usize) {
    assert!(depth <= MAX_VALUE_DEPTH, "any-value nesting past the bound");
    let _ = (
        value.as_str(),
        value.as_int(),
        value.as_double(),
        value.as_bool(),
    );
    match value {
        ValueRef::Array(array) => {
            let _ = (array.len(), array.is_empty());
            for item in array.iter() {
                walk_value(item, depth + 1);
            }
        }
        ValueRef::KvList(list) => walk_attributes(list, depth + 1),
        ValueRef::Empty
        | ValueRef::Str(_)
        | ValueRef::Bool(_)
        | ValueRef::Int(_)
        | ValueRef::Double(_)
        | ValueRef::Bytes(_) => {}
    }
}

/// Configuration: the bytes as one YAML file, loaded (parse, merge, expand, the typed
/// model) and validated against the real component registry, as `weir validate` does.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sources = [weir_config::Source::new("fuzz.yaml", text)];
    let env = |name: &str| (name == "FUZZ").then(|| "value".to_string());
    let options = weir_config::LoadOptions {
        sets: &[],
        env: &env,
    };
    thread_local! {
        // Built once: building the registry costs more than validating a small file.
        static REGISTRY: weir_api::Registry = weir_components::registry();
    }
    REGISTRY.with(|registry| {
        let catalog = weir_engine::RegistryCatalog(registry);
        let (_config, diagnostics) = weir_config::load_and_validate(&sources, &options, &catalog);
        for diagnostic in &diagnostics.items {
            let _ = diagnostic.to_string();
        }
    });
}

/// StatsD: the bytes as one datagram, aggregated by a receiver's reader with the default
/// config and flushed into batches, which are walked like received OTLP.
pub fn statsd(data: &[u8]) {
    use std::sync::Arc;
    use weir_statsd_receiver::aggregator::{Aggregator, Settings};
    use weir_statsd_receiver::flush::{FlushOptions, Flusher};

    let config = weir_statsd_receiver::Config::default();
    let telemetry = weir_api::telemetry::Telemetry::new();
    let settings = Arc::new(Settings::from_config("statsd", &config, true, &telemetry));
    let mut aggregator = Aggregator::new(settings);
    aggregator.ingest(data, None);
    // The same datagram twice: the second merges into existing series.
    aggregator.ingest(data, Some(std::net::IpAddr::from([127, 0, 0, 1])));
    let mut flusher = Flusher::new(FlushOptions::from_config(&config), 1_000_000_000);
    let flushed = flusher.flush(vec![aggregator.take()], 11_000_000_000);
    for batch in flushed.metrics.iter().chain(flushed.logs.iter()) {
        check_batch(batch);
    }
}

/// Prometheus text 0.0.4 and OpenMetrics: the first byte picks the format, strictness and
/// gzip; the rest is the scrape body. It is parsed on its own (lenient and strict), then
/// streamed through the scrape path (`BodySink`, in two chunks) into a batch that is walked.
pub fn prometheus(data: &[u8]) {
    use weir_prometheus_receiver::convert::{Options, ScrapeBuilder, TargetInfo, TargetMemory};
    use weir_prometheus_receiver::parser::{parse_all, Format, Parser};
    use weir_prometheus_receiver::scrape::BodySink;

    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        Format::PrometheusText
    } else {
        Format::OpenMetrics
    };
    let mut parser = if selector & 2 == 0 {
        Parser::new(format)
    } else {
        Parser::strict(format)
    };
    let _ = parse_all(&mut parser, body, |sample| {
        let _ = sample.labels.iter().count();
    });

    let gzipped = selector & 4 != 0;
    let target = TargetInfo {
        labels: vec![
            ("job".into(), "fuzz".into()),
            ("instance".into(), "127.0.0.1:9".into()),
        ],
        scheme: "http".into(),
        host: "127.0.0.1".into(),
        port: Some(9),
    };
    let options = Options {
        sample_limit: 10_000,
        ..Options::default()
    };
    let mut memory = TargetMemory::default();
    let mut builder = ScrapeBuilder::new(&target, &options, &mut memory, 1_000_000_000);
    let mut sink = BodySink::new(format, gzipped, 1 << 20);
    let split = usize::from(selector >> 3).min(body.len());
    let (first, second) = body.split_at(split);
    if sink.write(first, &mut builder).is_err() || sink.write(second, &mut builder).is_err() {
        return;
    }
    if sink.finish(&mut builder).is_err() {
        return;
    }
    let (batch, _counts) = builder.finish(0.01);
    check_batch(&batch);
}

/// The persistent queue's log reader (`weir_file_storage_extension::wal`). The first byte
/// says how much of the rest is the sidecar (done-marks); the remainder is a segment image.
/// The image is scanned in memory, with and without the segment magic in front: every
/// record found must check out. Then it is written as a segment a previous run left, with
/// its sidecar, and replayed through `Log::open` and `next` as a restart does: opening and
/// reading a damaged log is never an error, hands out no more records than the image holds,
/// and the log still takes a new record and hands it back.
pub fn wal(data: &[u8]) {
    use weir_api::storage::{FullPolicy, RecordLog};
    use weir_file_storage_extension::wal::{format, sidecar, Log, Options};

    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (marks, segment) = rest.split_at((usize::from(split) * 8).min(rest.len()));
    let mut image = format::SEGMENT_MAGIC.to_vec();
    image.extend_from_slice(segment);
    let _ = format::scan(segment);
    let scan = format::scan(&image);
    for (header, payload) in &scan.records {
        assert_eq!(header.len as usize, payload.len());
        let crc = format::checksum(header.index, header.len, header.items, payload);
        assert_eq!(crc, header.crc, "a record handed out checks out");
    }
    let _ = sidecar::parse(marks);

    // One scratch directory per call: tests may replay inputs on several threads at once.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("weir-fuzz-wal-{}-{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(format!("{:020}.wal", 1));
    std::fs::write(&path, &image).expect("write the segment");
    std::fs::write(sidecar::path_for(&path), marks).expect("write the sidecar");
    let options = Options {
        fsync: false,
        max_bytes: 64 << 20,
        segment_bytes: 1 << 20,
        policy: FullPolicy::Block,
    };
    let log = Log::open(&dir, options).expect("a damaged log opens");
    let mut handed = 0;
    while let Some(record) = log.next().expect("reading a damaged log is not an error") {
        handed += 1;
        assert!(
            handed <= scan.records.len(),
            "more records than the image holds"
        );
        log.done(record.id);
    }
    let _ = log.take_damaged();
    log.append(b"after", 1)
        .expect("a replayed log takes a new record");
    let record = log.next().expect("read").expect("the new record");
    assert_eq!(record.payload, b"after");
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}
