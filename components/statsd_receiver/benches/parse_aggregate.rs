//! Lines per second of parse + aggregate on one core: 35 lines per ~1400-byte datagram,
//! 10k distinct series (counters, sampled timers, gauges, sets), as one reader sees them.
//! Run: `cargo bench -p weir-statsd-receiver --bench parse_aggregate`.

use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_api::telemetry::Telemetry;
use weir_statsd_receiver::aggregator::{Aggregator, Settings};
use weir_statsd_receiver::flush::{FlushOptions, Flusher};
use weir_statsd_receiver::Config;

const SERIES: usize = 10_000;
const LINES_PER_DATAGRAM: usize = 35;

fn line(i: usize, round: usize) -> String {
    let series = i % SERIES;
    let host = series % 50;
    match series % 20 {
        0..=11 => format!("shop.req.{series:05}:1|c|#env:prod,host:h{host:02}"),
        12..=15 => format!("shop.db.{series:05}:{}|ms|@0.5|#env:prod", 3 + round % 17),
        16..=18 => format!(
            "shop.queue.{series:05}:{}|g|#env:prod,host:h{host:02}",
            round % 100
        ),
        _ => format!("shop.users.{series:05}:u{}|s|#env:prod,az:a", round % 37),
    }
}

/// Enough datagrams to touch every series a few times.
fn datagrams() -> Vec<Vec<u8>> {
    let total_lines = SERIES * 3;
    let lines: Vec<String> = (0..total_lines).map(|i| line(i, i / SERIES)).collect();
    lines
        .chunks(LINES_PER_DATAGRAM)
        .map(|chunk| chunk.join("\n").into_bytes())
        .collect()
}

fn bench(c: &mut Criterion) {
    let datagrams = datagrams();
    let lines = datagrams
        .iter()
        .map(|d| d.split(|b| *b == b'\n').count())
        .sum::<usize>();
    let bytes: usize = datagrams.iter().map(Vec::len).sum();
    eprintln!(
        "{} datagrams, {lines} lines, {:.0} bytes per datagram on average",
        datagrams.len(),
        bytes as f64 / datagrams.len() as f64
    );
    let telemetry = Telemetry::new();
    let settings = Arc::new(Settings::from_config(
        "statsd",
        &Config::default(),
        false,
        &telemetry,
    ));

    let mut group = c.benchmark_group("statsd");
    group.throughput(Throughput::Elements(lines as u64));
    group.bench_function("parse_aggregate_10k_series", |b| {
        let mut aggregator = Aggregator::new(Arc::clone(&settings));
        // Series exist already, as in a steady interval.
        for d in &datagrams {
            aggregator.ingest(d, None);
        }
        b.iter(|| {
            for d in &datagrams {
                aggregator.ingest(d, None);
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("statsd");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("flush_10k_series", |b| {
        b.iter_custom(|iterations| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iterations {
                let mut aggregator = Aggregator::new(Arc::clone(&settings));
                for d in &datagrams {
                    aggregator.ingest(d, None);
                }
                let mut flusher = Flusher::new(FlushOptions::from_config(&Config::default()), 0);
                let start = Instant::now();
                let flushed = flusher.flush(vec![aggregator.take()], 1);
                total += start.elapsed();
                assert_eq!(flushed.series, SERIES);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
