//! Load driver for the tail_sampling benchmark (bench/tail_sampling/README.md): feeds the
//! processor wire batches at a paced rate, in process, and reports the time spent in the
//! processor, the buffer, and the process's memory.
//!
//! cargo run --release -p weir-tail-sampling --example tail_sampling_load -- \
//!   --rate 100000 --seconds 30 --decision-wait 10 --buffer-mib 64 [--num-traces 200000]

use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ComponentId, PipelineId, Processor, ProcessorBuildContext, Signal};
use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use weir_tail_sampling::{Clock, TailSamplingFactory};

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

const KEYS: [&str; 10] = [
    "http.method",
    "url.path",
    "http.route",
    "db.system",
    "net.peer.name",
    "user_agent.original",
    "tenant",
    "request.id",
    "server.address",
    "code.function",
];

/// One trace's spans: `n` spans, ~330 bytes each; 1 % have an error, 1 % are slow.
fn trace(rng: &mut Rng, n: usize, now_ns: u64) -> Vec<Span> {
    let id = [rng.next().to_be_bytes(), rng.next().to_be_bytes()].concat();
    let kind = rng.next() % 100;
    let duration_ms = if kind == 1 { 800 } else { 5 + rng.next() % 50 };
    (0..n)
        .map(|i| {
            let mut span = Span {
                trace_id: id.clone(),
                span_id: rng.next().to_be_bytes().to_vec(),
                name: format!("GET /api/v1/items/{i}"),
                kind: 2,
                start_time_unix_nano: now_ns,
                end_time_unix_nano: now_ns + duration_ms * 1_000_000 - i as u64,
                attributes: KEYS
                    .iter()
                    .map(|k| kv(k, format!("value-{:016x}", rng.next())))
                    .collect(),
                ..Default::default()
            };
            if kind == 0 && i == n - 1 {
                span.status = Some(Status {
                    code: status::StatusCode::Error as i32,
                    ..Default::default()
                });
            }
            span
        })
        .collect()
}

fn wire(spans: Vec<Span>) -> Batch {
    let owned = Batch::from_traces(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "checkout".into())],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]);
    Batch::decode_protobuf(Signal::Traces, &owned.encode_protobuf()).expect("valid")
}

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() {
    let rate = arg("--rate", 10_000.0);
    let seconds = arg("--seconds", 30.0);
    let wait = arg("--decision-wait", 10.0);
    let buffer_mib = arg("--buffer-mib", 64.0);
    let batch_spans = arg("--batch", 100.0) as usize;
    let num_traces = arg("--num-traces", 200_000.0) as u64;
    let spans_per_trace = 5;

    let config = format!(
        "decision_wait: {wait}s\nnum_traces: {num_traces}\nmax_buffer_bytes: {}\npolicies:\n  \
         - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}\n  \
         - {{name: slow, type: latency, latency: {{threshold_ms: 500}}}}\n  \
         - {{name: some, type: probabilistic, probabilistic: {{sampling_percentage: 10}}}}\n",
        (buffer_mib * 1024.0 * 1024.0) as u64
    );
    let telemetry = Telemetry::new();
    let ctx = ProcessorBuildContext {
        id: ComponentId::new("tail_sampling", None),
        pipeline: PipelineId::new(Signal::Traces, None),
        signal: Signal::Traces,
        telemetry: telemetry.clone(),
    };
    let clock: Clock = Arc::new(Instant::now);
    let value = serde_yaml_ng::from_str(&config).expect("yaml");
    let mut processor = TailSamplingFactory
        .build_with_clock(ctx, &value, clock)
        .expect("config");

    let mut rng = Rng(42);
    let mut out = Vec::new();
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let mut in_processor = Duration::ZERO;
    let (mut sent, mut emitted, mut bytes_in) = (0u64, 0u64, 0u64);
    let mut peak_buffer = 0u64;
    let mut next_report = Duration::from_secs(1);
    // Each trace's spans go in two consecutive batches: 3 now, 2 with the next batch.
    let mut carried: Vec<Span> = Vec::new();
    let mut index = 0u64;
    let now_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    loop {
        let elapsed = start.elapsed();
        if elapsed.as_secs_f64() >= seconds {
            break;
        }
        if rate > 0.0 {
            let due = Duration::from_secs_f64(index as f64 * batch_spans as f64 / rate);
            if due > elapsed {
                let deadline = processor.next_deadline();
                let target = start + due;
                if let Some(d) = deadline.filter(|d| *d <= target) {
                    std::thread::sleep(d.saturating_duration_since(Instant::now()));
                    let t = Instant::now();
                    processor.on_deadline(t, &mut out);
                    in_processor += t.elapsed();
                    continue;
                }
                std::thread::sleep(target.saturating_duration_since(Instant::now()));
            }
        }
        index += 1;
        let mut spans = std::mem::take(&mut carried);
        let ts = now_ns();
        while spans.len() + 3 <= batch_spans {
            let mut t = trace(&mut rng, spans_per_trace, ts);
            carried.extend(t.drain(3..));
            spans.extend(t);
        }
        let batch = wire(spans);
        sent += batch.item_count() as u64;
        bytes_in += batch.encoded_len() as u64;
        let t = Instant::now();
        processor.process(batch, &mut out);
        if processor.next_deadline().is_some_and(|d| d <= t) {
            processor.on_deadline(t, &mut out);
        }
        in_processor += t.elapsed();
        emitted += out.drain(..).map(|b| b.item_count() as u64).sum::<u64>();
        peak_buffer = peak_buffer.max(processor.buffer_bytes());
        if start.elapsed() >= next_report {
            next_report += Duration::from_secs(1);
            eprintln!(
                "t={:>3}s sent={sent} emitted={emitted} buffer={:.1}MiB held={} traces={} rss={:.1}MiB",
                start.elapsed().as_secs(),
                processor.buffer_bytes() as f64 / 1048576.0,
                processor.held_items(),
                processor.traces_in_memory(),
                proc_status("VmRSS:") as f64 / 1048576.0,
            );
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    let rss_at_end = proc_status("VmRSS:");
    let t = Instant::now();
    processor.flush(&mut out);
    in_processor += t.elapsed();
    emitted += out.drain(..).map(|b| b.item_count() as u64).sum::<u64>();
    let text = telemetry.encode();
    println!(
        "result rate_target={rate} wall_s={wall:.1} spans_in={sent} spans_per_s={:.0} bytes_per_span={:.0} \
         spans_out={emitted} dropped={} evicted_buffer_full={} evicted_decided_early={} \
         processor_cpu_s={:.2} processor_ns_per_span={:.0} process_cpu_s={cpu:.2} \
         peak_buffer_mib={:.1} rss_end_mib={:.1} rss_peak_mib={:.1}",
        sent as f64 / wall,
        bytes_in as f64 / sent.max(1) as f64,
        metric(&text, "weir_items_dropped_total"),
        metric(&text, "weir_tail_sampling_evicted_traces_total{processor=\"tail_sampling\",reason=\"buffer_full\"}"),
        metric(&text, "weir_tail_sampling_evicted_traces_total{processor=\"tail_sampling\",reason=\"decided_early\"}"),
        in_processor.as_secs_f64(),
        in_processor.as_nanos() as f64 / sent.max(1) as f64,
        peak_buffer as f64 / 1048576.0,
        rss_at_end as f64 / 1048576.0,
        proc_status("VmHWM:") as f64 / 1048576.0,
    );
}
