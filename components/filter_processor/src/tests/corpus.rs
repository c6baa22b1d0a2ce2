//! A generated, deterministic corpus of spans, log records and metrics whose fields
//! vary over the values the filter tests select on. Every item carries a unique id
//! (span id, log record span id, metric description, point timestamp) so the survivors
//! of two filters can be compared as sets.

use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    metric, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

/// splitmix64: the same stream on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub fn s(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

pub fn id(n: usize) -> Vec<u8> {
    (n as u64).to_be_bytes().to_vec()
}

const SERVICES: [&str; 4] = ["frontend", "backend", "db", "cache"];
const HOSTS: [&str; 3] = ["h1", "h2", "h3"];
const CONTAINERS: [&str; 3] = ["app_container_1", "app_container_2", "other"];
const LIBRARIES: [(&str, &str); 3] = [("lib.a", "1.0"), ("lib.b", "2.0"), ("io.otel", "0.9")];

fn resource(rng: &mut Rng) -> Resource {
    let mut attributes = Vec::new();
    if rng.chance(85) {
        attributes.push(kv("service.name", s(rng.pick(&SERVICES))));
    }
    if rng.chance(80) {
        attributes.push(kv("host.name", s(rng.pick(&HOSTS))));
    }
    if rng.chance(70) {
        attributes.push(kv("container.name", s(rng.pick(&CONTAINERS))));
    }
    if rng.chance(50) {
        attributes.push(kv(
            "env",
            s(if rng.chance(50) { "prod" } else { "staging" }),
        ));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

fn scope(rng: &mut Rng) -> InstrumentationScope {
    let (name, version) = rng.pick(&LIBRARIES);
    InstrumentationScope {
        name: name.to_string(),
        version: version.to_string(),
        ..Default::default()
    }
}

const SPAN_NAMES: [&str; 6] = [
    "GET /health",
    "GET /users",
    "POST /orders",
    "db.query",
    "cache.get",
    "grpc.Check",
];

pub fn traces(seed: u64) -> Vec<ResourceSpans> {
    let mut rng = Rng::new(seed);
    let mut next = 0;
    (0..8)
        .map(|_| ResourceSpans {
            resource: Some(resource(&mut rng)),
            scope_spans: (0..1 + rng.below(3))
                .map(|_| ScopeSpans {
                    scope: Some(scope(&mut rng)),
                    spans: (0..1 + rng.below(8))
                        .map(|_| {
                            next += 1;
                            span(&mut rng, next)
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

fn span(rng: &mut Rng, n: usize) -> Span {
    let mut attributes = Vec::new();
    if rng.chance(80) {
        attributes.push(kv(
            "http.method",
            s(if rng.chance(60) { "GET" } else { "POST" }),
        ));
    }
    if rng.chance(70) {
        let code = rng.pick(&[200i64, 404, 500]);
        attributes.push(kv("http.status_code", any_value::Value::IntValue(code)));
    }
    if rng.chance(40) {
        attributes.push(kv("container.name", s(rng.pick(&CONTAINERS))));
    }
    Span {
        trace_id: vec![7; 16],
        span_id: id(n),
        name: rng.pick(&SPAN_NAMES).to_string(),
        kind: rng.below(6) as i32,
        attributes,
        events: (0..rng.below(3))
            .map(|i| span::Event {
                name: if rng.chance(50) {
                    "grpc.timeout"
                } else {
                    "log"
                }
                .into(),
                time_unix_nano: i as u64,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

const BODIES: [&str; 5] = [
    "user login ok",
    "password reset requested",
    "IMPORTANT RECORD 7",
    "disk full",
    "",
];

pub fn logs(seed: u64) -> Vec<ResourceLogs> {
    let mut rng = Rng::new(seed);
    let mut next = 0;
    (0..8)
        .map(|_| ResourceLogs {
            resource: Some(resource(&mut rng)),
            scope_logs: (0..1 + rng.below(3))
                .map(|_| ScopeLogs {
                    scope: Some(scope(&mut rng)),
                    log_records: (0..1 + rng.below(8))
                        .map(|_| {
                            next += 1;
                            record(&mut rng, next)
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

fn record(rng: &mut Rng, n: usize) -> LogRecord {
    let severity = rng.below(25) as i32;
    let severity_text = match severity {
        0 => "",
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        _ => "FATAL",
    };
    let mut attributes = Vec::new();
    if rng.chance(70) {
        attributes.push(kv(
            "component",
            s(if rng.chance(50) { "db" } else { "web" }),
        ));
    }
    if rng.chance(50) {
        attributes.push(kv("retryable", any_value::Value::BoolValue(rng.chance(50))));
    }
    let body = rng.pick(&BODIES);
    LogRecord {
        span_id: id(n),
        severity_number: severity,
        severity_text: severity_text.into(),
        body: (!body.is_empty()).then(|| AnyValue {
            value: Some(s(body)),
        }),
        attributes,
        ..Default::default()
    }
}

const METRIC_NAMES: [&str; 7] = [
    "http.server.duration",
    "system.cpu.time",
    "system.disk.io",
    "prefix_requests",
    "prefix/latency",
    "hello_world",
    "hello/world",
];

pub fn metrics(seed: u64) -> Vec<ResourceMetrics> {
    let mut rng = Rng::new(seed);
    let mut next = 0;
    let mut next_point = 0u64;
    (0..8)
        .map(|_| ResourceMetrics {
            resource: Some(resource(&mut rng)),
            scope_metrics: (0..1 + rng.below(2))
                .map(|_| ScopeMetrics {
                    scope: Some(scope(&mut rng)),
                    metrics: (0..1 + rng.below(6))
                        .map(|_| {
                            next += 1;
                            metric(&mut rng, next, &mut next_point)
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

fn metric(rng: &mut Rng, n: usize, next_point: &mut u64) -> Metric {
    let mut number_points = |rng: &mut Rng| -> Vec<NumberDataPoint> {
        (0..1 + rng.below(3))
            .map(|_| {
                *next_point += 1;
                let mut attributes = Vec::new();
                if rng.chance(50) {
                    attributes.push(kv(
                        "http.method",
                        s(if rng.chance(50) { "GET" } else { "POST" }),
                    ));
                }
                NumberDataPoint {
                    time_unix_nano: *next_point,
                    attributes,
                    ..Default::default()
                }
            })
            .collect()
    };
    let data = match rng.below(3) {
        0 => metric::Data::Gauge(Gauge {
            data_points: number_points(rng),
        }),
        1 => metric::Data::Sum(Sum {
            data_points: number_points(rng),
            aggregation_temporality: 2,
            is_monotonic: true,
        }),
        _ => {
            *next_point += 1;
            metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: *next_point,
                    count: 1,
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            })
        }
    };
    Metric {
        name: rng.pick(&METRIC_NAMES).to_string(),
        description: format!("m{n}"),
        data: Some(data),
        ..Default::default()
    }
}
