//! Remote-write 2.0 (`protobuf_message: io.prometheus.write.v2.Request`): the same
//! series as 1.0, re-encoded with a symbol table, start timestamps and metadata in-line,
//! and the 2.0 rules for what an answer means.
//!
//! Why it sits on top of the 1.0 conversion instead of beside it: the conversion (names,
//! labels, delta state, stale markers, shards, ordering hashes) is the same for both, so
//! [`crate::convert`] produces 1.0 series and, when `Settings::v2` is set, a little more
//! per series ([`SeriesInfo`]: its family's TYPE/HELP/UNIT and each sample's start time,
//! recorded by [`Recorder`]). [`pack`] turns one shard's series into size-bounded
//! `Request`s, each with its own symbol table (`symbols[0] == ""`); `_created` series are
//! not made in 2.0 (the start timestamps replace them).
//!
//! Answers (`send_one`, called by the lane for every 2.0 request):
//! - 2xx with `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written`: what the
//!   headers say was written is counted as sent; the rest is dropped under
//!   `partial_write` and logged, and the request's points that were not written are
//!   reported to the engine as rejected.
//! - 2xx with none of those headers: a 1.0 receiver that decoded the 2.0 body as an empty
//!   1.0 message (the spec says to read this as a 415).
//! - 415: the endpoint does not speak 2.0. The exporter falls back to 1.0 for good (logged
//!   once): this request and every later one go as `prometheus.WriteRequest`.
//! - 4xx: refused; when the headers say part of it was written, that part counts as sent
//!   (a partial write); without them nothing was written. 5xx and 429: retried whole.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use foldhash::HashMap;
use prost::Message;
use weir_proto::remote_write::{self as v1, metric_metadata::MetricType, MetricMetadata};
use weir_proto::remote_write_v2::{self as w2, Request};

use crate::client::{Failure, Written};
use crate::convert::DropReason;
use crate::exporter::Inner;
use crate::lane::{permanent_failure, Encoded, Sent, Shard};

/// The Content-Type of a 2.0 body.
pub const CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
/// `X-Prometheus-Remote-Write-Version` of a 2.0 request.
pub const VERSION: &str = "2.0.0";
/// The `protobuf_message` value that selects 2.0.
pub const MESSAGE: &str = "io.prometheus.write.v2.Request";

/// What 2.0 needs of one series beyond its 1.0 form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesInfo {
    /// Index into `Converted::v2_families`; `None` when unknown.
    pub family: Option<u32>,
    /// `(sample timestamp, start timestamp)` in ms, for samples that have a start time
    /// (cumulative counters, histograms, summaries); a later entry for the same
    /// timestamp wins, as the later sample does.
    pub starts: Vec<(i64, i64)>,
}

impl SeriesInfo {
    fn start_of(&self, ts: i64) -> i64 {
        self.starts
            .iter()
            .rev()
            .find(|(at, _)| *at == ts)
            .map_or(0, |(_, start)| *start)
    }
}

/// Records [`SeriesInfo`] while `convert` builds series; does nothing unless on.
#[derive(Debug, Default)]
pub struct Recorder {
    on: bool,
    /// In step with the builder's series.
    info: Vec<SeriesInfo>,
    families: Vec<MetricMetadata>,
    family: Option<u32>,
    /// The series the last sample went to.
    last: usize,
}

impl Recorder {
    pub fn new(on: bool) -> Self {
        Self {
            on,
            ..Self::default()
        }
    }

    /// The builder found (or made) series `index`; returns it.
    pub fn found(&mut self, index: usize) -> usize {
        self.last = index;
        index
    }

    /// The builder made a new series (of the current family).
    pub fn created(&mut self) {
        if self.on {
            self.info.push(SeriesInfo {
                family: self.family,
                starts: Vec::new(),
            });
        }
    }

    /// The metric being converted from now on.
    pub fn family(
        &mut self,
        name: &str,
        kind: MetricType,
        help: &str,
        unit: impl FnOnce() -> String,
    ) {
        if !self.on {
            return;
        }
        self.families.push(MetricMetadata {
            r#type: kind as i32,
            metric_family_name: name.to_string(),
            help: help.to_string(),
            unit: unit(),
        });
        self.family = Some((self.families.len() - 1) as u32);
    }

    /// The sample just added at `ts` (ms) to the last series started at `start_ns`.
    /// Nothing for 0 (unknown), a stale marker, or a start after the sample.
    pub fn start(&mut self, ts: i64, start_ns: u64, is_stale: bool) {
        if !self.on || is_stale || start_ns == 0 {
            return;
        }
        // A start after its sample is left unset rather than sent wrong.
        if (start_ns / 1_000_000) as i64 > ts {
            return;
        }
        // To the nearest ms: a start often comes from a `_created` in float seconds, whose
        // nanoseconds fall just short of the ms written (1700000000.123 reads as
        // ...122999906 ns); but not past the sample (both in the same ms). 0 means unset
        // on the wire: within the epoch's first ms, 1.
        let start = ((start_ns.saturating_add(500_000) / 1_000_000) as i64)
            .min(ts)
            .max(1);
        if let Some(info) = self.info.get_mut(self.last) {
            info.starts.push((ts, start));
        }
    }

    /// Per shard, the info of its series in the order `convert` places them (series
    /// are `(shard, ..)` tuples), and the families.
    pub fn split<T>(
        self,
        shards: usize,
        series: &[(usize, u64, bool, T)],
    ) -> (Vec<Vec<SeriesInfo>>, Vec<MetricMetadata>) {
        if !self.on {
            return (Vec::new(), Vec::new());
        }
        let mut out = vec![Vec::new(); shards];
        for (info, s) in self.info.into_iter().zip(series) {
            if let Some(shard) = out.get_mut(s.0) {
                shard.push(info);
            }
        }
        (out, self.families)
    }
}

/// A request's string table: `""` first, each string once.
#[derive(Debug)]
pub struct Symbols {
    index: HashMap<String, u32>,
    list: Vec<String>,
    /// Encoded size of `list` as `Request.symbols` fields.
    len: usize,
}

impl Default for Symbols {
    fn default() -> Self {
        let mut s = Self {
            index: HashMap::default(),
            list: Vec::new(),
            len: 0,
        };
        s.intern("");
        s
    }
}

impl Symbols {
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(&at) = self.index.get(text) {
            return at;
        }
        let at = self.list.len() as u32;
        self.index.insert(text.to_string(), at);
        self.list.push(text.to_string());
        self.len += field_len(text.len());
        at
    }

    /// Forgets the symbols added after the table had `count` of them.
    fn truncate(&mut self, count: usize) {
        for text in self.list.drain(count.min(self.list.len())..) {
            self.index.remove(&text);
            self.len -= field_len(text.len());
        }
    }
}

/// Bytes a length-delimited field of `len` bytes takes in its parent message.
fn field_len(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

fn refs(symbols: &mut Symbols, labels: &[v1::Label]) -> Vec<u32> {
    let mut out = Vec::with_capacity(labels.len() * 2);
    for l in labels {
        out.push(symbols.intern(&l.name));
        out.push(symbols.intern(&l.value));
    }
    out
}

fn histogram(h: &v1::Histogram, start: i64) -> w2::Histogram {
    use v1::histogram::{Count, ZeroCount};
    w2::Histogram {
        count: h.count.map(|c| match c {
            Count::CountInt(n) => w2::histogram::Count::CountInt(n),
            Count::CountFloat(n) => w2::histogram::Count::CountFloat(n),
        }),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count.map(|c| match c {
            ZeroCount::ZeroCountInt(n) => w2::histogram::ZeroCount::ZeroCountInt(n),
            ZeroCount::ZeroCountFloat(n) => w2::histogram::ZeroCount::ZeroCountFloat(n),
        }),
        negative_spans: h.negative_spans.iter().map(span).collect(),
        negative_deltas: h.negative_deltas.clone(),
        negative_counts: h.negative_counts.clone(),
        positive_spans: h.positive_spans.iter().map(span).collect(),
        positive_deltas: h.positive_deltas.clone(),
        positive_counts: h.positive_counts.clone(),
        // The enums number their values alike.
        reset_hint: h.reset_hint,
        timestamp: h.timestamp,
        custom_values: h.custom_values.clone(),
        start_timestamp: start,
    }
}

fn span(s: &v1::BucketSpan) -> w2::BucketSpan {
    w2::BucketSpan {
        offset: s.offset,
        length: s.length,
    }
}

/// One 1.0 series in 2.0 form, its strings interned in `symbols`.
pub fn series(
    symbols: &mut Symbols,
    s: &v1::TimeSeries,
    info: Option<&SeriesInfo>,
    families: &[MetricMetadata],
) -> w2::TimeSeries {
    let start = |ts: i64| info.map_or(0, |i| i.start_of(ts));
    let family = info
        .and_then(|i| i.family)
        .and_then(|f| families.get(f as usize));
    let metadata = match family {
        Some(f) => w2::Metadata {
            // The enums number their values alike.
            r#type: f.r#type,
            help_ref: symbols.intern(&f.help),
            unit_ref: symbols.intern(&f.unit),
        },
        None => w2::Metadata::default(),
    };
    // 2.0 requires exemplar timestamps; one without (an OpenMetrics exemplar without a
    // timestamp) takes its series' sample time, as a scrape would assign it.
    let newest = s
        .samples
        .last()
        .map(|x| x.timestamp)
        .max(s.histograms.last().map(|h| h.timestamp))
        .unwrap_or(0);
    w2::TimeSeries {
        labels_refs: refs(symbols, &s.labels),
        samples: s
            .samples
            .iter()
            .map(|x| w2::Sample {
                value: x.value,
                timestamp: x.timestamp,
                start_timestamp: start(x.timestamp),
            })
            .collect(),
        histograms: s
            .histograms
            .iter()
            .map(|h| histogram(h, start(h.timestamp)))
            .collect(),
        exemplars: s
            .exemplars
            .iter()
            .map(|e| w2::Exemplar {
                labels_refs: refs(symbols, &e.labels),
                value: e.value,
                timestamp: if e.timestamp == 0 {
                    newest
                } else {
                    e.timestamp
                },
            })
            .collect(),
        metadata: Some(metadata),
    }
}

/// A 2.0 request and, per series, its ordering hash and whether it is primary (as
/// `request::Packed` for 1.0).
#[derive(Debug, Default)]
pub struct Packed {
    pub request: Request,
    pub hashes: Vec<u64>,
    pub primary: Vec<bool>,
}

impl Packed {
    /// The points this request carries: the samples of its primary series.
    pub fn points(&self) -> usize {
        self.request
            .timeseries
            .iter()
            .zip(&self.primary)
            .filter(|(_, primary)| **primary)
            .map(|(s, _)| s.samples.len() + s.histograms.len())
            .sum()
    }
}

/// One shard's series as requests of at most `max_bytes` (protobuf, symbols included),
/// each with its own symbol table. `info` is in step with `series` (or empty).
pub fn pack(
    series: Vec<v1::TimeSeries>,
    hashes: Vec<u64>,
    primary: Vec<bool>,
    info: &[SeriesInfo],
    families: &[MetricMetadata],
    max_bytes: usize,
) -> Vec<Packed> {
    let mut out = Vec::new();
    let mut symbols = Symbols::default();
    let mut current = Packed::default();
    let mut series_len = 0;
    for (i, ((s, hash), is_primary)) in series.into_iter().zip(hashes).zip(primary).enumerate() {
        for part in crate::request::split_series(s, max_bytes) {
            let mark = symbols.list.len();
            let converted = self::series(&mut symbols, &part, info.get(i), families);
            let len = field_len(converted.encoded_len());
            let converted = if series_len + len + symbols.len > max_bytes
                && !current.request.timeseries.is_empty()
            {
                // Full: this series starts the next request, with a new table.
                symbols.truncate(mark);
                current.request.symbols = std::mem::take(&mut symbols).list;
                out.push(std::mem::take(&mut current));
                series_len = 0;
                self::series(&mut symbols, &part, info.get(i), families)
            } else {
                converted
            };
            series_len += field_len(converted.encoded_len());
            current.request.timeseries.push(converted);
            current.hashes.push(hash);
            current.primary.push(is_primary);
        }
    }
    if !current.request.timeseries.is_empty() {
        current.request.symbols = symbols.list;
        out.push(current);
    }
    out
}

/// The oldest and newest timestamp of a series (as `lane::time_range` for 1.0).
fn time_range(series: &w2::TimeSeries) -> Option<(i64, i64)> {
    let first = [
        series.samples.first().map(|s| s.timestamp),
        series.histograms.first().map(|h| h.timestamp),
        series.exemplars.first().map(|e| e.timestamp),
    ];
    let last = [
        series.samples.last().map(|s| s.timestamp),
        series.histograms.last().map(|h| h.timestamp),
    ];
    let newest = last.into_iter().flatten().max()?;
    let oldest = first.into_iter().flatten().min()?;
    Some((oldest, newest))
}

/// Encodes one 2.0 request for its lane.
pub(crate) fn encoded(
    packed: Packed,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<Encoded, String> {
    encode_into(&packed.request, scratch, out)?;
    let points = packed.points();
    let r = &packed.request;
    Ok(Encoded {
        body: Bytes::copy_from_slice(out),
        len: scratch.len(),
        ranges: r.timeseries.iter().map(time_range).collect(),
        samples: r.timeseries.iter().map(|t| t.samples.len()).sum(),
        histograms: r.timeseries.iter().map(|t| t.histograms.len()).sum(),
        exemplars: r.timeseries.iter().map(|t| t.exemplars.len()).sum(),
        hashes: packed.hashes,
        primary: packed.primary,
        points,
        v2: true,
    })
}

/// Protobuf, then snappy block format, into `out`; the protobuf is left in `scratch`.
pub fn encode_into(
    request: &Request,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    scratch.clear();
    request
        .encode(scratch)
        .map_err(|e| format!("protobuf encoding failed: {e}"))?;
    out.clear();
    out.resize(snap::raw::max_compress_len(scratch.len()), 0);
    let n = snap::raw::Encoder::new()
        .compress(scratch, out)
        .map_err(|e| format!("snappy compression failed: {e}"))?;
    out.truncate(n);
    Ok(())
}

/// A 2.0 wire body back into its `Request`.
pub fn decode(body: &[u8]) -> Result<Request, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy decompression failed: {e}"))?;
    Request::decode(raw.as_slice()).map_err(|e| format!("protobuf decoding failed: {e}"))
}

fn labels(symbols: &[String], refs: &[u32]) -> Vec<v1::Label> {
    let text = |r: &u32| symbols.get(*r as usize).cloned().unwrap_or_default();
    refs.chunks_exact(2)
        .map(|pair| v1::Label {
            name: text(&pair[0]),
            value: text(&pair[1]),
        })
        .collect()
}

/// A 2.0 request as 1.0, for an endpoint that refused 2.0: start timestamps and
/// metadata are left out (1.0 has no place for them per series).
pub fn to_v1(request: &Request) -> v1::WriteRequest {
    use w2::histogram::{Count, ZeroCount};
    let symbols = &request.symbols;
    let timeseries = request
        .timeseries
        .iter()
        .map(|s| v1::TimeSeries {
            labels: labels(symbols, &s.labels_refs),
            samples: s
                .samples
                .iter()
                .map(|x| v1::Sample {
                    value: x.value,
                    timestamp: x.timestamp,
                })
                .collect(),
            exemplars: s
                .exemplars
                .iter()
                .map(|e| v1::Exemplar {
                    labels: labels(symbols, &e.labels_refs),
                    value: e.value,
                    timestamp: e.timestamp,
                })
                .collect(),
            histograms: s
                .histograms
                .iter()
                .map(|h| v1::Histogram {
                    count: h.count.map(|c| match c {
                        Count::CountInt(n) => v1::histogram::Count::CountInt(n),
                        Count::CountFloat(n) => v1::histogram::Count::CountFloat(n),
                    }),
                    sum: h.sum,
                    schema: h.schema,
                    zero_threshold: h.zero_threshold,
                    zero_count: h.zero_count.map(|c| match c {
                        ZeroCount::ZeroCountInt(n) => v1::histogram::ZeroCount::ZeroCountInt(n),
                        ZeroCount::ZeroCountFloat(n) => v1::histogram::ZeroCount::ZeroCountFloat(n),
                    }),
                    negative_spans: h.negative_spans.iter().map(span_v1).collect(),
                    negative_deltas: h.negative_deltas.clone(),
                    negative_counts: h.negative_counts.clone(),
                    positive_spans: h.positive_spans.iter().map(span_v1).collect(),
                    positive_deltas: h.positive_deltas.clone(),
                    positive_counts: h.positive_counts.clone(),
                    reset_hint: h.reset_hint,
                    timestamp: h.timestamp,
                    custom_values: h.custom_values.clone(),
                })
                .collect(),
        })
        .collect();
    v1::WriteRequest {
        timeseries,
        metadata: Vec::new(),
    }
}

fn span_v1(s: &w2::BucketSpan) -> v1::BucketSpan {
    v1::BucketSpan {
        offset: s.offset,
        length: s.length,
    }
}

/// A prepared 2.0 request re-encoded as 1.0 (the fallback), with the same series keys.
pub(crate) fn as_v1(encoded: &Encoded, scratch: &mut Vec<u8>) -> Result<Encoded, String> {
    let request = to_v1(&decode(&encoded.body)?);
    let packed = crate::request::Packed {
        request,
        hashes: encoded.hashes.clone(),
        primary: encoded.primary.clone(),
    };
    Encoded::new(packed, scratch, &mut Vec::new())
}

/// The 2.0 side of the exporter: configured or not, and whether the endpoint refused it.
#[derive(Debug, Default)]
pub struct Mode {
    pub enabled: bool,
    fallen_back: AtomicBool,
}

impl Mode {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            fallen_back: AtomicBool::new(false),
        }
    }

    /// Whether new batches are prepared as 2.0.
    pub fn active(&self) -> bool {
        self.enabled && !self.fallen_back.load(Ordering::Acquire)
    }

    /// The endpoint does not speak 2.0: from now on, everything goes as 1.0.
    fn fall_back(&self, id: &str, why: &str) {
        if !self.fallen_back.swap(true, Ordering::AcqRel) {
            tracing::warn!(exporter = %id, reason = %why,
                "remote-write endpoint does not accept io.prometheus.write.v2.Request; \
                 falling back to prometheus.WriteRequest (remote-write 1.0) for this endpoint \
                 (logged once)");
        }
    }
}

/// Leaves out samples not newer than what the lane delivered (as `Shard::filter` does for
/// 1.0). Returns how many samples were older and how many of them were points.
fn filter(
    shard: &Shard,
    request: &mut Request,
    hashes: &mut Vec<u64>,
    primary: &mut Vec<bool>,
) -> (usize, usize) {
    let (mut older, mut older_points) = (0, 0);
    let mut kept = Vec::with_capacity(hashes.len());
    let mut kept_primary = Vec::with_capacity(hashes.len());
    let mut keys = hashes.iter().zip(primary.iter());
    request.timeseries.retain_mut(|series| {
        let (hash, is_primary) = keys.next().map(|(h, p)| (*h, *p)).unwrap_or((0, false));
        if let Some((newest, _)) = shard.newest.get(&hash) {
            let newest = *newest;
            let n = series
                .samples
                .iter()
                .filter(|s| s.timestamp < newest)
                .count()
                + series
                    .histograms
                    .iter()
                    .filter(|h| h.timestamp < newest)
                    .count();
            older += n;
            if is_primary {
                older_points += n;
            }
            series.samples.retain(|s| s.timestamp > newest);
            series.histograms.retain(|h| h.timestamp > newest);
            series.exemplars.retain(|e| e.timestamp > newest);
        }
        let keep = !series.samples.is_empty() || !series.histograms.is_empty();
        if keep {
            kept.push(hash);
            kept_primary.push(is_primary);
        }
        keep
    });
    *hashes = kept;
    *primary = kept_primary;
    (older, older_points)
}

/// What one body holds, to compare with what the endpoint says it wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Counts {
    samples: usize,
    histograms: usize,
    exemplars: usize,
    points: usize,
}

/// One attempt at one 2.0 request, through the ordering record. `None`: the endpoint
/// does not speak 2.0 (the exporter has fallen back): send it again as 1.0.
pub(crate) async fn send_one(inner: &Inner, shard: &mut Shard, encoded: &Encoded) -> Option<Sent> {
    let mut counts = Counts {
        samples: encoded.samples,
        histograms: encoded.histograms,
        exemplars: encoded.exemplars,
        points: encoded.points,
    };
    let (mut older, mut older_points) = (0, 0);
    let mut filtered = None;
    let body = if shard.needs_filter(&encoded.hashes, &encoded.ranges) {
        let mut request = match decode(&encoded.body) {
            Ok(request) => request,
            Err(message) => return Some(Sent::Failed(permanent_failure(message))),
        };
        let mut hashes = encoded.hashes.clone();
        let mut primary = encoded.primary.clone();
        (older, older_points) = filter(shard, &mut request, &mut hashes, &mut primary);
        if request.timeseries.is_empty() {
            return Some(Sent::Ok {
                older,
                older_points,
                unwritten_points: 0,
            });
        }
        let mut body = Vec::new();
        if let Err(message) = encode_into(&request, &mut shard.scratch, &mut body) {
            return Some(Sent::Failed(permanent_failure(message)));
        }
        let ts = &request.timeseries;
        counts = Counts {
            samples: ts.iter().map(|t| t.samples.len()).sum(),
            histograms: ts.iter().map(|t| t.histograms.len()).sum(),
            exemplars: ts.iter().map(|t| t.exemplars.len()).sum(),
            points: encoded.points.saturating_sub(older_points),
        };
        let ranges: Vec<_> = ts.iter().map(time_range).collect();
        filtered = Some((hashes, ranges));
        Bytes::from(body)
    } else {
        encoded.body.clone()
    };
    let (result, written) = inner.post_v2(body).await;
    let unwritten = match result {
        Ok(()) if !written.any() => {
            // A 1.0 receiver read the 2.0 body as an empty 1.0 message (spec: as a 415).
            inner.v2.fall_back(
                inner.id(),
                "a 2xx answer without X-Prometheus-Remote-Write-*-Written headers",
            );
            return None;
        }
        Ok(()) => not_written(inner, counts, written, None),
        Err(failure) if failure.status == Some(415) => {
            inner.v2.fall_back(inner.id(), &failure.message);
            return None;
        }
        // Refused, but the headers say part of it was written: a partial write.
        Err(failure) if !failure.retryable && written.any() && written.total() > 0 => {
            not_written(inner, counts, written, Some(&failure))
        }
        Err(failure) => return Some(Sent::Failed(failure)),
    };
    match &filtered {
        Some((hashes, ranges)) => shard.delivered(hashes, ranges, Instant::now()),
        None => shard.delivered(&encoded.hashes, &encoded.ranges, Instant::now()),
    }
    Some(Sent::Ok {
        older,
        older_points,
        unwritten_points: unwritten,
    })
}

/// Counts what the endpoint wrote as sent and the rest as dropped (`partial_write`),
/// logs a partial write, and returns the points not written.
fn not_written(
    inner: &Inner,
    counts: Counts,
    written: Written,
    refusal: Option<&Failure>,
) -> usize {
    let samples = written.samples.unwrap_or(0).min(counts.samples as u64) as usize;
    let histograms = written
        .histograms
        .unwrap_or(0)
        .min(counts.histograms as u64) as usize;
    let exemplars = written.exemplars.unwrap_or(0).min(counts.exemplars as u64) as usize;
    inner.count_written(samples, histograms);
    let missing = (counts.samples - samples) + (counts.histograms - histograms);
    if missing == 0 && exemplars == counts.exemplars && refusal.is_none() {
        return 0;
    }
    inner.counters.drop(DropReason::PartialWrite, missing);
    let message = format!(
        "remote-write endpoint wrote {samples} of {} samples, {histograms} of {} histograms, \
         {exemplars} of {} exemplars{}",
        counts.samples,
        counts.histograms,
        counts.exemplars,
        refusal.map_or(String::new(), |f| format!(" ({})", f.message)),
    );
    inner.log_partial(&message);
    // Which points were not written is unknown: at most all of them.
    missing.min(counts.points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_series(name: &str, extra: &[(&str, &str)], times: &[i64]) -> v1::TimeSeries {
        let mut labels = vec![v1::Label {
            name: "__name__".into(),
            value: name.into(),
        }];
        labels.extend(extra.iter().map(|(k, v)| v1::Label {
            name: (*k).into(),
            value: (*v).into(),
        }));
        v1::TimeSeries {
            labels,
            samples: times
                .iter()
                .map(|t| v1::Sample {
                    value: 1.0,
                    timestamp: *t,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn symbols_start_empty_and_dedupe() {
        let mut s = Symbols::default();
        assert_eq!(s.intern("job"), 1);
        assert_eq!(s.intern(""), 0);
        assert_eq!(s.intern("job"), 1);
        assert_eq!(s.intern("x"), 2);
        s.truncate(2);
        assert_eq!(s.list, vec!["".to_string(), "job".to_string()]);
        assert_eq!(s.intern("y"), 2);
        assert_eq!(
            s.len,
            [0, 3, 1].iter().map(|n| field_len(*n)).sum::<usize>()
        );
    }

    #[test]
    fn start_timestamps_are_looked_up_by_sample_time_and_never_after_it() {
        let mut r = Recorder::new(true);
        r.family("c_total", MetricType::Counter, "help", || "".into());
        r.created();
        r.found(0);
        r.start(2_000, 1_000_000_000, false);
        r.start(3_000, 5_000_000_000, false); // after the sample: left unset
        r.start(4_000, 1_000_000_000, true); // stale: unset
        r.start(5_000, 4_999_600_000, false); // rounds up, past the sample: the sample's ms
        r.start(6_000, 5_999_400_000, false); // rounds down
        let info = &r.info[0];
        assert_eq!(info.start_of(5_000), 5_000);
        assert_eq!(info.start_of(6_000), 5_999);
        assert_eq!(info.start_of(2_000), 1_000);
        assert_eq!(info.start_of(3_000), 0);
        assert_eq!(info.start_of(4_000), 0);
        assert_eq!(info.family, Some(0));
    }

    #[test]
    fn requests_stay_under_the_limit_each_with_its_own_table() {
        let all: Vec<_> = (0..200)
            .map(|i| v1_series(&format!("metric_{i}"), &[("job", "j")], &[1, 2, 3]))
            .collect();
        let n = all.len();
        let packed = pack(all, vec![7; n], vec![true; n], &[], &[], 1_000);
        assert!(packed.len() > 1);
        let mut samples = 0;
        for p in &packed {
            assert!(
                p.request.encoded_len() <= 1_000,
                "{}",
                p.request.encoded_len()
            );
            assert_eq!(p.request.symbols[0], "");
            let unique: std::collections::HashSet<_> = p.request.symbols.iter().collect();
            assert_eq!(unique.len(), p.request.symbols.len());
            for s in &p.request.timeseries {
                assert_eq!(s.labels_refs.len() % 2, 0);
                assert!(s
                    .labels_refs
                    .iter()
                    .all(|r| (*r as usize) < p.request.symbols.len()));
                samples += s.samples.len();
            }
            assert_eq!(p.hashes.len(), p.request.timeseries.len());
        }
        assert_eq!(samples, 600);
    }

    #[test]
    fn to_v1_gives_back_the_labels_and_samples() {
        let s = v1_series("up", &[("instance", "a:1"), ("job", "j")], &[5, 6]);
        let packed = pack(vec![s.clone()], vec![1], vec![true], &[], &[], 1 << 20);
        let back = to_v1(&packed[0].request);
        assert_eq!(back.timeseries, vec![s]);
    }
}
