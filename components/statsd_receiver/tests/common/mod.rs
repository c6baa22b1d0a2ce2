//! Helpers shared by the receiver's tests: feed datagrams to an aggregator, flush, and
//! read the OTLP result back as simple points.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_api::telemetry::Telemetry;
use weir_api::Batch;
use weir_proto::common::v1::{any_value, KeyValue};
use weir_proto::metrics::v1::{metric, number_data_point};
use weir_statsd_receiver::aggregator::{Aggregator, Settings};
use weir_statsd_receiver::flush::{FlushOptions, Flusher};
use weir_statsd_receiver::reason::Reason;
use weir_statsd_receiver::Config;

/// A data point reduced to what the tests compare.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A Sum point (delta or cumulative).
    Sum(f64),
    Gauge(f64),
    /// A set's distinct members (an integer gauge).
    Distinct(i64),
    /// A histogram or summary: count, sum, min, max.
    Observed {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub resource: Vec<(String, String)>,
    pub value: Value,
    pub start_ns: u64,
    pub time_ns: u64,
}

fn text(kv: &KeyValue) -> (String, String) {
    let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    };
    (kv.key.clone(), value)
}

fn sorted(attributes: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<_> = attributes.iter().map(text).collect();
    out.sort();
    out
}

fn number(value: &Option<number_data_point::Value>) -> f64 {
    match value {
        Some(number_data_point::Value::AsDouble(d)) => *d,
        Some(number_data_point::Value::AsInt(i)) => *i as f64,
        None => f64::NAN,
    }
}

/// Every data point of a metrics batch.
pub fn points(batch: &Batch) -> Vec<Point> {
    let mut out = Vec::new();
    for rm in batch.resource_metrics() {
        let resource = rm
            .resource
            .as_ref()
            .map(|r| sorted(&r.attributes))
            .unwrap_or_default();
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let mut push =
                    |attributes: &[KeyValue], value: Value, start_ns: u64, time_ns: u64| {
                        out.push(Point {
                            name: m.name.clone(),
                            attributes: sorted(attributes),
                            resource: resource.clone(),
                            value,
                            start_ns,
                            time_ns,
                        })
                    };
                match &m.data {
                    Some(metric::Data::Sum(s)) => {
                        for p in &s.data_points {
                            push(
                                &p.attributes,
                                Value::Sum(number(&p.value)),
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }
                    }
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            let value = match p.value {
                                Some(number_data_point::Value::AsInt(i)) => Value::Distinct(i),
                                _ => Value::Gauge(number(&p.value)),
                            };
                            push(
                                &p.attributes,
                                value,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            let buckets: u64 = p
                                .positive
                                .iter()
                                .chain(&p.negative)
                                .flat_map(|b| b.bucket_counts.iter())
                                .sum();
                            assert_eq!(
                                buckets + p.zero_count,
                                p.count,
                                "bucket counts add up to count"
                            );
                            push(
                                &p.attributes,
                                Value::Observed {
                                    count: p.count,
                                    sum: p.sum.unwrap_or(f64::NAN),
                                    min: p.min.unwrap_or(f64::NAN),
                                    max: p.max.unwrap_or(f64::NAN),
                                },
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                            push(
                                &p.attributes,
                                Value::Observed {
                                    count: p.count,
                                    sum: p.sum.unwrap_or(f64::NAN),
                                    min: p.min.unwrap_or(f64::NAN),
                                    max: p.max.unwrap_or(f64::NAN),
                                },
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            let q = |x: f64| {
                                p.quantile_values
                                    .iter()
                                    .find(|v| v.quantile == x)
                                    .map_or(f64::NAN, |v| v.value)
                            };
                            push(
                                &p.attributes,
                                Value::Observed {
                                    count: p.count,
                                    sum: p.sum,
                                    min: q(0.0),
                                    max: q(1.0),
                                },
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }
                    }
                    None => {}
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.name, &a.attributes).cmp(&(&b.name, &b.attributes)));
    out
}

/// An aggregator and flusher wired like one reader of a receiver.
pub struct Harness {
    pub telemetry: Telemetry,
    pub settings: Arc<Settings>,
    pub aggregators: Vec<Aggregator>,
    pub flusher: Flusher,
    pub now_ns: u64,
}

impl Harness {
    pub fn new(config: Config) -> Self {
        Self::with_readers(config, 1)
    }

    pub fn with_readers(config: Config, readers: usize) -> Self {
        let telemetry = Telemetry::new();
        let settings = Arc::new(Settings::from_config("statsd", &config, false, &telemetry));
        let aggregators = (0..readers)
            .map(|_| Aggregator::new(Arc::clone(&settings)))
            .collect();
        Self {
            telemetry,
            settings,
            aggregators,
            flusher: Flusher::new(FlushOptions::from_config(&config), 1_000_000_000),
            now_ns: 1_000_000_000,
        }
    }

    /// Feeds one datagram to reader 0.
    pub fn send(&mut self, datagram: &[u8]) {
        self.aggregators[0].ingest(datagram, None);
    }

    /// Ends the interval (10 s later) and returns its points.
    pub fn flush(&mut self) -> Vec<Point> {
        self.now_ns += 10_000_000_000;
        let parts = self.aggregators.iter_mut().map(|a| a.take()).collect();
        let flushed = self.flusher.flush(parts, self.now_ns);
        flushed.metrics.as_ref().map(points).unwrap_or_default()
    }

    pub fn invalid(&self, reason: Reason) -> u64 {
        self.settings.metrics.invalid(reason).get()
    }

    pub fn invalid_total(&self) -> u64 {
        Reason::ALL.iter().map(|r| self.invalid(*r)).sum()
    }

    pub fn invalid_by_reason(&self) -> BTreeMap<&'static str, u64> {
        Reason::ALL
            .iter()
            .filter(|r| self.invalid(**r) > 0)
            .map(|r| (r.as_str(), self.invalid(*r)))
            .collect()
    }
}

pub fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.sort();
    out
}

pub fn config(yaml: &str) -> Config {
    let value: weir_api::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    weir_api::config::parse(&value).expect("config")
}
