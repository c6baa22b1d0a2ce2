//! The metrics workload `m1` (bench/otlp_metrics, issue 13): OTLP/HTTP protobuf
//! `POST /v1/metrics`, 1000 points per request over 10,000 distinct series.
//!
//! Shape (one cycle = `INSTANCES` requests, each series once per cycle):
//! - one resource per request: `service.name` = `bench-metrics`, `service.instance.id` =
//!   `instance-NN` (NN = request index in the cycle, 10 instances), nothing else (so the
//!   remote-write exporter has no `target_info` attribute to write);
//! - one scope (`io.weir.bench` 1.0.0), 10 metrics of 100 points each: 5 cumulative monotonic
//!   Sums (`as_int`, names `bench.requests.N`) and 5 Gauges (`as_double`, names
//!   `bench.inflight.N`); every point has 3 string attributes (`http.method` of 4, `http.route`
//!   of 25, `region` = `eu-west-1`), the 100 method x route pairs being the 100 points.
//!
//! 10 instances x 10 metrics x 100 attribute sets = 10,000 series. Weir's remote-write exporter
//! drops a sample that is not newer than the last delivered one of its series
//! (`sample_older_than_delivered`), so every send rewrites the `time_unix_nano` of all its
//! points (fixed64, offsets found once at load by walking the request) with a send clock that
//! is strictly increasing across the whole run ([`Stamper`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use super::{put_attr, put_fixed64, put_len, put_uint};

/// Requests per cycle, one `service.instance.id` each.
pub const INSTANCES: usize = 10;
const METRICS: usize = 10;
const POINTS_PER_METRIC: usize = 100;
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// The cycle of requests, each `(points, encoded ExportMetricsServiceRequest)`.
pub fn generate(t0: u64) -> Vec<(usize, Vec<u8>)> {
    let start = t0.saturating_sub(3_600_000_000_000); // the counters started an hour ago
    (0..INSTANCES)
        .map(|inst| {
            let mut scoped = Vec::new();
            let mut sc = Vec::new();
            put_len(&mut sc, 1, b"io.weir.bench");
            put_len(&mut sc, 2, b"1.0.0");
            put_len(&mut scoped, 1, &sc);
            for m in 0..METRICS {
                let sum = m < METRICS / 2;
                let mut points = Vec::new();
                for k in 0..POINTS_PER_METRIC {
                    let mut p = Vec::new();
                    put_attr(&mut p, 7, "http.method", METHODS[k / 25]);
                    put_attr(&mut p, 7, "http.route", &format!("/api/v1/items/{:02}", k % 25));
                    put_attr(&mut p, 7, "region", "eu-west-1");
                    put_fixed64(&mut p, 2, start);
                    put_fixed64(&mut p, 3, t0);
                    let seed = (inst * 100_000 + m * 1000 + k) as u64;
                    if sum {
                        put_fixed64(&mut p, 6, 1_000 + seed % 997); // as_int (sfixed64)
                    } else {
                        put_fixed64(&mut p, 4, ((seed % 500) as f64 * 0.5).to_bits()); // as_double
                    }
                    put_len(&mut points, 1, &p);
                }
                let mut metric = Vec::new();
                if sum {
                    put_len(&mut metric, 1, format!("bench.requests.{m}").as_bytes());
                    put_len(&mut metric, 2, b"Requests served.");
                    put_uint(&mut points, 2, 2); // AGGREGATION_TEMPORALITY_CUMULATIVE
                    put_uint(&mut points, 3, 1); // is_monotonic
                    put_len(&mut metric, 7, &points);
                } else {
                    put_len(&mut metric, 1, format!("bench.inflight.{m}").as_bytes());
                    put_len(&mut metric, 2, b"Requests in flight.");
                    put_len(&mut metric, 5, &points);
                }
                put_len(&mut scoped, 2, &metric);
            }
            let mut resource = Vec::new();
            put_attr(&mut resource, 1, "service.name", "bench-metrics");
            put_attr(&mut resource, 1, "service.instance.id", &format!("instance-{inst:02}"));
            let mut rm = Vec::new();
            put_len(&mut rm, 1, &resource);
            put_len(&mut rm, 2, &scoped);
            let mut req = Vec::new();
            put_len(&mut req, 1, &rm);
            (METRICS * POINTS_PER_METRIC, req)
        })
        .collect()
}

/// `(field number, wire type, payload start, payload end)` of the fields of `b`, offsets
/// relative to `base`. None when `b` is not well-formed protobuf.
fn fields(b: &[u8], base: usize) -> Option<Vec<(u64, u64, usize, usize)>> {
    fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let (start, end) = match key & 7 {
            0 => {
                let s = i;
                varint(b, &mut i)?;
                (s, i)
            }
            1 => (i, i + 8),
            5 => (i, i + 4),
            2 => {
                let len = varint(b, &mut i)? as usize;
                (i, i.checked_add(len)?)
            }
            _ => return None,
        };
        if end > b.len() {
            return None;
        }
        out.push((key >> 3, key & 7, base + start, base + end));
        i = end;
    }
    Some(out)
}

/// Offsets of every `time_unix_nano` (NumberDataPoint field 3, fixed64) in an
/// ExportMetricsServiceRequest, for Gauge and Sum metrics.
pub fn time_offsets(req: &[u8]) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let sub = |f: &[(u64, u64, usize, usize)], want: &[u64]| -> Vec<(usize, usize)> {
        f.iter().filter(|x| want.contains(&x.0) && x.1 == 2).map(|x| (x.2, x.3)).collect()
    };
    for (s, e) in sub(&fields(req, 0)?, &[1]) {
        for (s, e) in sub(&fields(&req[s..e], s)?, &[2]) {
            for (s, e) in sub(&fields(&req[s..e], s)?, &[2]) {
                for (s, e) in sub(&fields(&req[s..e], s)?, &[5, 7]) {
                    for (s, e) in sub(&fields(&req[s..e], s)?, &[1]) {
                        for f in fields(&req[s..e], s)? {
                            if f.0 == 3 && f.1 == 1 {
                                out.push(f.2);
                            }
                        }
                    }
                }
            }
        }
    }
    Some(out)
}

/// Rewrites the points' timestamps at every send: a clock that never goes back and never
/// repeats (nanoseconds since the epoch, at least one more than the previous send's).
pub struct Stamper {
    /// Per payload (same index as the plan's payloads): the offsets to rewrite.
    pub offsets: Vec<Vec<usize>>,
    last: AtomicU64,
}

impl Stamper {
    pub fn new(offsets: Vec<Vec<usize>>) -> Self {
        Stamper { offsets, last: AtomicU64::new(0) }
    }

    fn next_time(&self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let mut prev = self.last.load(Relaxed);
        loop {
            let t = now.max(prev + 1);
            match self.last.compare_exchange_weak(prev, t, Relaxed, Relaxed) {
                Ok(_) => return t,
                Err(p) => prev = p,
            }
        }
    }

    /// A copy of `body` (payload number `index`) with a new timestamp on every point.
    pub fn stamp(&self, index: usize, body: &Bytes) -> Bytes {
        let t = self.next_time().to_le_bytes();
        let mut b = BytesMut::from(&body[..]);
        for &o in &self.offsets[index] {
            b[o..o + 8].copy_from_slice(&t);
        }
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_has_one_time_offset_holding_t0() {
        let t0 = 1_700_000_000_000_000_000u64;
        for (points, req) in generate(t0) {
            let offs = time_offsets(&req).expect("well-formed");
            assert_eq!(offs.len(), points);
            for o in offs {
                assert_eq!(u64::from_le_bytes(req[o..o + 8].try_into().unwrap()), t0);
            }
        }
    }

    #[test]
    fn stamps_increase() {
        let (_, req) = generate(5).remove(0);
        let s = Stamper::new(vec![time_offsets(&req).unwrap()]);
        let body = Bytes::from(req);
        let (a, b) = (s.stamp(0, &body), s.stamp(0, &body));
        let o = s.offsets[0][0];
        let ta = u64::from_le_bytes(a[o..o + 8].try_into().unwrap());
        let tb = u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        assert!(tb > ta && ta > 5);
    }
}
