//! A scrape's points, stale markers and synthetic series as OTLP protobuf (see `wire.rs`
//! for why by hand). Field numbers: `metrics.proto` v1.
//!
//! How Prometheus samples map: a counter is a monotonic cumulative Sum, a gauge (and
//! untyped, info, stateset) a Gauge, classic buckets an explicit-bounds Histogram
//! (cumulative counts turned into per-bucket counts), a summary a Summary. A stale
//! marker is a point flagged no-recorded-value whose floats are Prometheus' stale NaN.

use super::memory::{attributes_field, Acc, Distribution, Kind, MetricMeta, PointState};
use super::wire;
use super::{FLAG_NO_RECORDED_VALUE, STALE_NAN};

const CUMULATIVE: u64 = 2;

/// A metric message being written: its points go into `points`, then [`finish_metric`]
/// wraps them.
pub(super) struct MetricWriter {
    pub points: Vec<u8>,
    scratch: Vec<u8>,
}

impl MetricWriter {
    pub fn new() -> Self {
        Self {
            points: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Writes `point` as it was scraped; `exemplars` are its encoded `Exemplar`s.
    pub fn live_point(&mut self, kind: Kind, point: &PointState, exemplars: &[&[u8]]) {
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(&point.attributes);
        let start = match kind {
            Kind::Gauge => 0,
            _ if point.created_ns != 0 => point.created_ns,
            _ => point.start_ns,
        };
        match (&point.acc, kind) {
            (Acc::Number(value), _) => {
                times(s, start, point.time_ns);
                wire::double(s, 4, *value);
                for e in exemplars {
                    wire::message(s, 5, e);
                }
            }
            (Acc::Distribution(d), Kind::Histogram) => {
                histogram(s, d, start, point.time_ns);
                for e in exemplars {
                    wire::message(s, 8, e);
                }
            }
            (Acc::Distribution(d), _) => summary(s, d, start, point.time_ns),
        }
        wire::message(&mut self.points, 1, s);
    }

    /// A stale marker covering every series `point` produced in its last complete scrape.
    pub fn stale_point(&mut self, kind: Kind, point: &PointState, now_ns: u64) {
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(&point.attributes);
        let start = if kind == Kind::Gauge {
            0
        } else {
            point.start_ns
        };
        let stale = f64::from_bits(STALE_NAN);
        match &point.acc {
            Acc::Number(_) => {
                times(s, start, now_ns);
                wire::double(s, 4, stale);
                wire::uint(s, 8, u64::from(FLAG_NO_RECORDED_VALUE));
            }
            Acc::Distribution(d) if kind == Kind::Histogram => {
                times(s, start, now_ns);
                wire::fixed64(s, 4, 0);
                if d.shape_has_sum {
                    wire::double(s, 5, stale);
                }
                wire::packed64(s, 6, std::iter::repeat_n(0, d.shape.len() + 1));
                if !d.shape.is_empty() {
                    wire::packed64(s, 7, d.shape.iter().map(|b| b.to_bits()));
                }
                wire::uint(s, 10, u64::from(FLAG_NO_RECORDED_VALUE));
            }
            Acc::Distribution(d) => {
                times(s, start, now_ns);
                wire::fixed64(s, 4, 0);
                wire::double(s, 5, stale);
                for q in &d.shape {
                    quantile(s, *q, stale);
                }
                wire::uint(s, 8, u64::from(FLAG_NO_RECORDED_VALUE));
            }
        }
        wire::message(&mut self.points, 1, s);
    }

    /// A gauge point with `attributes` (encoded for a number point).
    pub fn gauge_point(&mut self, attributes: &[u8], value: f64, time_ns: u64, stale: bool) {
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(attributes);
        times(s, 0, time_ns);
        if stale {
            wire::double(s, 4, f64::from_bits(STALE_NAN));
            wire::uint(s, 8, u64::from(FLAG_NO_RECORDED_VALUE));
        } else {
            wire::double(s, 4, value);
        }
        wire::message(&mut self.points, 1, s);
    }

    /// Wraps the points written so far into a `Metric` (field 2 of `ScopeMetrics`) in
    /// `out`, and empties the writer for the next metric.
    pub fn finish_metric(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        kind: Kind,
        help: &str,
        unit: &str,
    ) {
        let s = &mut self.scratch;
        s.clear();
        wire::string(s, 1, name);
        wire::string(s, 2, help);
        wire::string(s, 3, unit);
        let mut data = std::mem::take(&mut self.points);
        let field = match kind {
            Kind::Gauge => 5,
            Kind::Counter => {
                wire::uint(&mut data, 2, CUMULATIVE);
                wire::uint(&mut data, 3, 1);
                7
            }
            Kind::Histogram => {
                wire::uint(&mut data, 2, CUMULATIVE);
                9
            }
            Kind::Summary => 11,
        };
        wire::message(s, field, &data);
        wire::message(out, 2, s);
        data.clear();
        self.points = data;
    }
}

fn times(s: &mut Vec<u8>, start_ns: u64, time_ns: u64) {
    if start_ns != 0 {
        wire::fixed64(s, 2, start_ns);
    }
    wire::fixed64(s, 3, time_ns);
}

fn quantile(s: &mut Vec<u8>, quantile: f64, value: f64) {
    let mut q = [0u8; 18];
    q[0] = 1 << 3 | 1;
    q[1..9].copy_from_slice(&quantile.to_bits().to_le_bytes());
    q[9] = 2 << 3 | 1;
    q[10..].copy_from_slice(&value.to_bits().to_le_bytes());
    wire::message(s, 6, &q);
}

/// Cumulative Prometheus buckets to OTLP's explicit bounds and per-bucket counts.
fn histogram(s: &mut Vec<u8>, d: &Distribution, start_ns: u64, time_ns: u64) {
    let mut buckets = d.entries.clone();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut bounds = Vec::with_capacity(buckets.len());
    let mut counts = Vec::with_capacity(buckets.len() + 1);
    let mut previous = 0.0f64;
    for &(le, cumulative) in &buckets {
        let in_bucket = (cumulative - previous).max(0.0);
        previous = previous.max(cumulative);
        if le != f64::INFINITY {
            bounds.push(le);
        }
        counts.push(in_bucket as u64);
    }
    let count = d.count.unwrap_or(previous);
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        counts.push((count - previous).max(0.0) as u64);
    }
    times(s, start_ns, time_ns);
    wire::fixed64(s, 4, count.max(0.0) as u64);
    if let Some(sum) = d.sum {
        wire::double(s, 5, sum);
    }
    if !counts.is_empty() {
        wire::packed64(s, 6, counts.into_iter());
    }
    if !bounds.is_empty() {
        wire::packed64(s, 7, bounds.iter().map(|b| b.to_bits()));
    }
}

fn summary(s: &mut Vec<u8>, d: &Distribution, start_ns: u64, time_ns: u64) {
    times(s, start_ns, time_ns);
    wire::fixed64(s, 4, d.count.unwrap_or(0.0).max(0.0) as u64);
    wire::double(s, 5, d.sum.unwrap_or(0.0));
    let mut quantiles = d.entries.clone();
    quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (q, value) in quantiles {
        quantile(s, q, value);
    }
}

/// The `Metric` of a remembered point's stale marker, written alone.
pub(super) fn stale_metric(
    out: &mut Vec<u8>,
    writer: &mut MetricWriter,
    metric: &MetricMeta,
    point: &PointState,
    now_ns: u64,
) {
    writer.stale_point(metric.kind, point, now_ns);
    writer.finish_metric(out, &metric.name, metric.kind, "", "");
}

/// An exemplar's encoding: value, time, trace and span ids, other labels as attributes.
pub(super) fn exemplar(exemplar: &crate::parser::Exemplar<'_>) -> Vec<u8> {
    let mut s = Vec::new();
    let time = exemplar
        .timestamp_ms
        .map_or(0, |ms| (ms.max(0) as u64).saturating_mul(1_000_000));
    if time != 0 {
        wire::fixed64(&mut s, 2, time);
    }
    wire::double(&mut s, 3, exemplar.value);
    for (name, value) in exemplar.labels.iter() {
        match (name, decode_hex(value)) {
            ("trace_id", Some(bytes)) if bytes.len() == 16 => wire::bytes(&mut s, 5, &bytes),
            ("span_id", Some(bytes)) if bytes.len() == 8 => wire::bytes(&mut s, 4, &bytes),
            _ => wire::string_attribute(&mut s, 7, name, value),
        }
    }
    s
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Attributes for a number point from string pairs.
pub(super) fn number_attributes<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let field = attributes_field(Kind::Gauge);
    let mut buf = Vec::new();
    for (key, value) in pairs {
        wire::string_attribute(&mut buf, field, key, value);
    }
    buf
}
