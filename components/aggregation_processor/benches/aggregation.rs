//! Throughput of `aggregation` with 100k input series, and memory per output series.
//!
//! `cargo bench -p weir-aggregation-processor --bench aggregation`
//!
//! Each iteration feeds one round of 100k cumulative counter points (1000 instances x
//! 100 routes, 100 batches of 1000 points, as wire protobuf the way the OTLP receiver
//! hands them over) through one processor: per point a rule match, the grouping hash,
//! the input series' previous value (cumulative -> increase) and the output series'
//! update; then the consumed points are removed from each batch. Building the batches is
//! outside the measurement. The memory figure is printed once: resident memory grown
//! per output series after 100k output series were made from delta points (no input
//! state), measured from /proc/self/statm; and so is the CPU time per point (this
//! thread's, from /proc/thread-self/schedstat), beside criterion's wall-clock rate.

use std::cell::Cell;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weir_aggregation_processor::aggregation::{AggregationConfig, AggregationProcessor, Counters};
use weir_api::batch::build::{MetricBuilder, MetricsBuilder, NumberPoint};
use weir_api::batch::view::Temporality;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, Processor, Signal};

const INSTANCES: usize = 1000;
const ROUTES: usize = 100;
const PER_BATCH: usize = 10; // instances per batch: 10 x 100 routes = 1000 points

fn round(t: u64, temporality: Temporality) -> Vec<Batch> {
    (0..INSTANCES / PER_BATCH)
        .map(|b| one_batch(b, t, temporality))
        .collect()
}

/// Batch `b` of a round: instances `b * PER_BATCH ..`, every route.
fn one_batch(b: usize, t: u64, temporality: Temporality) -> Batch {
    let mut builder = MetricsBuilder::new();
    for i in b * PER_BATCH..(b + 1) * PER_BATCH {
        let mut r = builder.resource([
            ("service.name", "checkout".to_string()),
            ("service.instance.id", format!("i-{i}")),
        ]);
        let mut s = r.scope("bench", "");
        let mut m = MetricBuilder::sum("http.server.requests", temporality, true);
        for route in 0..ROUTES {
            m.push_number(
                NumberPoint::double((t * (route as u64 + 1)) as f64)
                    .attributes([("http.route", format!("/r{route}"))])
                    .start_time(1)
                    .time(t * 1_000_000_000),
            );
        }
        s.push(m);
    }
    let wire = builder.build().encode_protobuf();
    Batch::from_protobuf(Signal::Metrics, wire.into()).expect("valid")
}

fn processor(by: &str) -> AggregationProcessor {
    let yaml = format!(
        "{{rules: [{{match: http.server.requests, by: [{by}], interval: 30s, outputs: [total]}}], max_output_series: 200000}}"
    );
    let value: weir_api::Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
    let config: AggregationConfig = weir_api::config::parse_valid(&value).expect("config");
    AggregationProcessor::new(
        &config,
        Counters::new(&Telemetry::new(), "bench"),
        Instant::now(),
    )
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregation");
    group.throughput(Throughput::Elements((INSTANCES * ROUTES) as u64));
    group.sample_size(10);
    for (label, by) in [
        ("100k_in_100_out", "service.name, http.route"),
        ("100k_in_100k_out", "service.instance.id, http.route"),
    ] {
        let mut p = processor(by);
        let t = Cell::new(1u64);
        // The first round makes the input and output series.
        for b in round(1, Temporality::Cumulative) {
            p.process(b, &mut Vec::new());
        }
        group.bench_function(label, |bench| {
            bench.iter_batched(
                || {
                    t.set(t.get() + 1);
                    round(t.get(), Temporality::Cumulative)
                },
                |batches| {
                    let mut out = Vec::new();
                    for b in batches {
                        p.process(b, &mut out);
                    }
                    out
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn memory(_: &mut Criterion) {
    let mut p = processor("service.instance.id, http.route");
    // Warm the allocator with one batch, then build, process and drop one batch at a
    // time, so what resident memory gains is the processor's state.
    p.process(one_batch(0, 1, Temporality::Delta), &mut Vec::new());
    let before = resident_bytes();
    for b in 1..INSTANCES / PER_BATCH {
        p.process(one_batch(b, 1, Temporality::Delta), &mut Vec::new());
    }
    let after = resident_bytes();
    let series = p.output_series();
    println!(
        "memory: {series} output series, {} bytes resident each (RSS {} -> {} MiB)",
        (after.saturating_sub(before)) / series.max(1),
        before >> 20,
        after >> 20
    );
}

/// CPU time of this thread so far (ns), from /proc: wall time on a shared machine
/// includes time the thread waited for a core.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// CPU per point over 10 rounds of 100k points, each scenario; printed once.
fn cpu(_: &mut Criterion) {
    for (label, by) in [
        ("100k_in_100_out", "service.name, http.route"),
        ("100k_in_100k_out", "service.instance.id, http.route"),
    ] {
        let mut p = processor(by);
        for b in round(1, Temporality::Cumulative) {
            p.process(b, &mut Vec::new());
        }
        let (mut cpu, mut wall, mut points) = (0u64, 0u128, 0u64);
        for t in 2..12 {
            let batches = round(t, Temporality::Cumulative);
            let (c0, w0) = (thread_cpu_ns(), Instant::now());
            let mut out = Vec::new();
            for b in batches {
                p.process(b, &mut out);
            }
            cpu += thread_cpu_ns() - c0;
            wall += w0.elapsed().as_nanos();
            points += (INSTANCES * ROUTES) as u64;
        }
        println!(
            "cpu {label}: {:.0} ns CPU per point ({:.0} ns wall), {:.0}k points/s per core",
            cpu as f64 / points as f64,
            wall as f64 / points as f64,
            points as f64 / cpu as f64 * 1e6
        );
    }
}

criterion_group!(benches, memory, cpu, throughput);
criterion_main!(benches);
