//! One reader's aggregation state for the current interval.
//!
//! Every reader (a UDP socket thread, a TCP connection, the unixgram socket) owns one
//! `Aggregator` behind its own mutex: the reader locks it once per batch of datagrams and
//! the flusher locks it once per interval to swap the contents out. No lock is shared by
//! all readers, so readers scale with cores; the merge happens in [`crate::flush`], on
//! the flusher's thread.
//!
//! The hot path: a reader's map is keyed by the line's *identity*, its bytes without the
//! value (name, then every `|` field but a `T` timestamp), not by the series key. A line
//! whose identity was already seen in this interval passed every check but the value's,
//! so it is applied after parsing only its value: no tag parsing, sorting or key
//! building. Only the first line of each identity per interval goes through the full
//! parser ([`crate::line`]) and builds the series key ([`crate::key`]), which the entry
//! keeps; the flusher merges entries with the same series key (`#a:1,b:2` and
//! `#b:2,a:1`, or two sample rates of one series, are two identities of one series).
//!
//! Swapping out: `take` swaps the map with a spare, emptied map (with its capacity) that
//! the flusher gave back after the previous flush ([`Aggregator::recycle`]), so the
//! reader neither allocates a table nor frees the old one's entries while it holds the
//! lock; the flusher drains and frees them on its own thread.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use weir_api::batch::build::LogRecordBuilder;
use weir_api::telemetry::Telemetry;

use crate::config::{Config, Observer, Observers};
use crate::events;
use crate::key::KeyBuilder;
use crate::line::{
    check_values, parse_line, parse_line_bytes, Line, MetricLine, MetricType, ParseOptions,
    TagSyntax, MAX_LINE_BYTES,
};
use crate::reason::Reason;
use crate::self_metrics::SelfMetrics;
use crate::series::Series;

/// Events kept per reader and interval; more are counted as dropped.
pub const MAX_EVENTS_PER_INTERVAL: usize = 10_000;
/// At most one "bad line" warning per reader in this many seconds.
const LOG_EVERY_SECONDS: u64 = 10;

/// Series by series key ([`crate::key`]): what the flusher merges into.
pub type SeriesMap = HashMap<Box<[u8]>, Series, foldhash::fast::RandomState>;

/// A reader's entries by line identity (see the module docs).
pub type LineMap = HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>;

/// One identity's series in one reader and interval.
#[derive(Debug)]
pub struct Entry {
    /// The series key ([`crate::key`]) the flusher merges by.
    pub key: Box<[u8]>,
    pub kind: MetricType,
    pub sample_rate: f64,
    pub series: Series,
}

/// Marks an identity built from a series key rather than from a line's bytes (never
/// happens for lines the parser accepts; kept apart from real identities, which start
/// with a source byte 0, 4 or 6).
const KEY_IDENTITY: u8 = 0xff;

/// What every reader needs to know, shared read-only.
#[derive(Debug)]
pub struct Settings {
    pub receiver: String,
    pub parse: ParseOptions,
    pub observers: Observers,
    /// Keep series of different client IPs apart.
    pub by_source: bool,
    /// Whether a logs pipeline takes events and service checks.
    pub logs_accepted: bool,
    pub metrics: SelfMetrics,
    /// Origin of the arrival clock used to order gauge updates across readers.
    pub epoch: Instant,
}

impl Settings {
    /// The settings of receiver `receiver` with `config`.
    pub fn from_config(
        receiver: &str,
        config: &Config,
        logs_accepted: bool,
        telemetry: &Telemetry,
    ) -> Self {
        Self {
            receiver: receiver.to_string(),
            parse: ParseOptions {
                simple_tags: config.enable_simple_tags,
                reject_negative_counters: config.is_monotonic_counter,
                tag_dialects: config.tag_dialects,
            },
            observers: config.observers(),
            by_source: config.enable_ip_only_aggregation,
            logs_accepted,
            metrics: SelfMetrics::new(telemetry, receiver),
            epoch: Instant::now(),
        }
    }
}

/// The contents of one reader for one interval.
#[derive(Debug, Default)]
pub struct Interval {
    pub lines: LineMap,
    pub events: Vec<LogRecordBuilder>,
}

#[derive(Debug)]
pub struct Aggregator {
    settings: Arc<Settings>,
    interval: Interval,
    /// An emptied map from the flusher, swapped in by the next `take`.
    spare: Option<LineMap>,
    key: KeyBuilder,
    /// The current line's identity (reused buffer).
    identity: Vec<u8>,
    seq: u64,
    next_log: Option<Instant>,
    suppressed: u64,
}

/// A metric line cut at its first `|` and, before it, its first `:` (as the parser cuts it).
struct Split<'a> {
    values: &'a str,
    fields: &'a str,
}

/// Cuts `line` like the parser does, or `None` when it cannot be a metric line.
fn split_metric(line: &str) -> Option<Split<'_>> {
    if line.starts_with("_e{") || line.starts_with("_sc|") {
        return None;
    }
    let bar = line.as_bytes().iter().position(|&b| b == b'|')?;
    let head = &line[..bar];
    let colon = head.as_bytes().iter().position(|&b| b == b':')?;
    Some(Split {
        values: &head[colon + 1..],
        fields: &line[bar + 1..],
    })
}

/// Writes the identity of a metric line into `out`: the source, the name, then every
/// field but `T` timestamps, each after its `|`. Returns whether a `T` field was left out.
fn write_identity(
    out: &mut Vec<u8>,
    source: Option<IpAddr>,
    line: &str,
    split: &Split<'_>,
) -> bool {
    out.clear();
    match source {
        None => out.push(0),
        Some(IpAddr::V4(ip)) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        Some(IpAddr::V6(ip)) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    let name_end = split.values.as_ptr() as usize - line.as_ptr() as usize - 1;
    out.extend_from_slice(&line.as_bytes()[..name_end]);
    let fields = split.fields.as_bytes();
    // The type comes first and is never `T`, so a timestamp field follows a `|`.
    if !fields.windows(2).any(|pair| pair == b"|T") {
        out.push(b'|');
        out.extend_from_slice(fields);
        return false;
    }
    for field in split.fields.split('|') {
        if !field.starts_with('T') {
            out.push(b'|');
            out.extend_from_slice(field.as_bytes());
        }
    }
    true
}

/// The `T` timestamp of a line whose other fields are known to be valid (the last one
/// wins, as in the parser).
fn timestamp_field(fields: &str) -> Result<Option<u64>, Reason> {
    let mut timestamp = None;
    for field in fields.split('|') {
        if let Some(digits) = field.strip_prefix('T') {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Reason::BadTimestamp);
            }
            timestamp = Some(digits.parse().map_err(|_| Reason::BadTimestamp)?);
        }
    }
    Ok(timestamp)
}

/// The observer of timers, histograms and distributions; counters, gauges and sets
/// have none (`Gauge` stands in, unused).
fn observer_for(observers: &Observers, kind: MetricType) -> &Observer {
    match kind {
        MetricType::Timer => &observers.timer,
        MetricType::Histogram => &observers.histogram,
        MetricType::Distribution => &observers.distribution,
        _ => &Observer::Gauge,
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Aggregator {
    pub fn new(settings: Arc<Settings>) -> Self {
        Self {
            settings,
            interval: Interval::default(),
            spare: None,
            key: KeyBuilder::default(),
            identity: Vec::new(),
            seq: 0,
            next_log: None,
            suppressed: 0,
        }
    }

    /// Takes everything aggregated since the last call, leaving the spare map (or a new
    /// one) in its place.
    pub fn take(&mut self) -> Interval {
        let fresh = Interval {
            lines: self.spare.take().unwrap_or_default(),
            events: Vec::new(),
        };
        std::mem::replace(&mut self.interval, fresh)
    }

    /// Gives back a map the flusher has emptied, for the next `take` (its capacity saves
    /// the reader from regrowing a table every interval).
    pub fn recycle(&mut self, mut map: LineMap) {
        if self.spare.is_none() {
            map.clear();
            self.spare = Some(map);
        }
    }

    /// Whether a map given back by the flusher is waiting for the next `take`.
    pub fn has_spare(&self) -> bool {
        self.spare.is_some()
    }

    /// Aggregates one datagram (or a block of complete lines from a stream). Returns the
    /// number of metric lines aggregated.
    pub fn ingest(&mut self, data: &[u8], source: Option<IpAddr>) -> u64 {
        // Arrival order for gauges across readers: nanoseconds since start, and strictly
        // increasing line by line within a reader.
        let now = self.settings.epoch.elapsed().as_nanos() as u64;
        self.seq = now.max(self.seq + 1);
        let source = if self.settings.by_source {
            source
        } else {
            None
        };
        let mut lines = 0u64;
        // One UTF-8 check for the whole datagram is much cheaper than one per line; only
        // a datagram with a bad byte falls back to checking line by line.
        match std::str::from_utf8(data) {
            Ok(text) => {
                for line in text.split('\n') {
                    if line.len() > MAX_LINE_BYTES {
                        self.reject(Reason::TooLong, line.as_bytes());
                        continue;
                    }
                    lines += self.line(line, source);
                }
            }
            Err(_) => {
                for line in data.split(|b| *b == b'\n') {
                    match std::str::from_utf8(line) {
                        Ok(text) if text.len() <= MAX_LINE_BYTES => {
                            lines += self.line(text, source);
                        }
                        _ => {
                            let parsed = parse_line_bytes(line, &self.settings.parse);
                            lines += self.handle(parsed, line, source, false);
                        }
                    }
                }
            }
        }
        if lines > 0 {
            self.settings.metrics.lines.inc_by(lines);
        }
        lines
    }

    /// One line of at most [`MAX_LINE_BYTES`]: the identity's entry when there is one,
    /// the full parser otherwise.
    fn line(&mut self, raw: &str, source: Option<IpAddr>) -> u64 {
        self.seq += 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let Some(split) = split_metric(line) else {
            let parsed = parse_line(raw, &self.settings.parse);
            return self.handle(parsed, raw.as_bytes(), source, false);
        };
        let has_timestamp = write_identity(&mut self.identity, source, line, &split);
        let Some(entry) = self.interval.lines.get_mut(self.identity.as_slice()) else {
            let parsed = parse_line(raw, &self.settings.parse);
            return self.handle(parsed, raw.as_bytes(), source, true);
        };
        // Everything but the value (and a timestamp) was checked when this identity was
        // first seen; check them in the parser's order.
        let timestamp =
            check_values(split.values, entry.kind, &self.settings.parse).and_then(|()| {
                if has_timestamp {
                    timestamp_field(split.fields)
                } else {
                    Ok(None)
                }
            });
        let timestamp = match timestamp {
            Ok(timestamp) => timestamp,
            Err(reason) => {
                self.reject(reason, raw.as_bytes());
                return 0;
            }
        };
        let metric = MetricLine {
            name: "",
            name_tail: "",
            raw_values: split.values,
            kind: entry.kind,
            sample_rate: entry.sample_rate,
            raw_tags: "",
            tag_syntax: TagSyntax::DogStatsd,
            container_id: "",
            timestamp,
        };
        let bounds: &[f64] = match observer_for(&self.settings.observers, entry.kind) {
            Observer::Explicit { bounds } => bounds,
            _ => &[],
        };
        entry.series.apply(&metric, self.seq, bounds);
        1
    }

    /// A parsed line; `identified` says whether `self.identity` holds its identity.
    fn handle(
        &mut self,
        parsed: Result<Option<Line<'_>>, Reason>,
        raw: &[u8],
        source: Option<IpAddr>,
        identified: bool,
    ) -> u64 {
        match parsed {
            Ok(None) => 0,
            Ok(Some(Line::Metric(metric))) => {
                self.add_metric(&metric, source, identified);
                1
            }
            Ok(Some(Line::Event(line))) => {
                self.add_event(line, false);
                0
            }
            Ok(Some(Line::ServiceCheck(line))) => {
                self.add_event(line, true);
                0
            }
            Err(reason) => {
                self.reject(reason, raw);
                0
            }
        }
    }

    /// Counts a line that could not be used, under `reason`.
    pub fn reject(&mut self, reason: Reason, raw: &[u8]) {
        self.settings.metrics.invalid(reason).inc();
        let now = Instant::now();
        if self.next_log.is_some_and(|next| now < next) {
            self.suppressed += 1;
            return;
        }
        let preview: String = String::from_utf8_lossy(&raw[..raw.len().min(200)])
            .escape_debug()
            .collect();
        tracing::warn!(
            receiver = %self.settings.receiver,
            reason = reason.as_str(),
            suppressed = self.suppressed,
            line = %preview,
            "statsd: rejected a line (similar warnings are limited to one per {LOG_EVERY_SECONDS}s per reader)"
        );
        self.suppressed = 0;
        self.next_log = Some(now + std::time::Duration::from_secs(LOG_EVERY_SECONDS));
    }

    /// The first line of an identity in this interval: a new entry.
    fn add_metric(&mut self, metric: &MetricLine<'_>, source: Option<IpAddr>, identified: bool) {
        let observer = observer_for(&self.settings.observers, metric.kind);
        if *observer == Observer::Disabled {
            self.settings
                .metrics
                .observations_disabled
                .inc_by(metric.values().count() as u64);
            return;
        }
        let bounds: &[f64] = match observer {
            Observer::Explicit { bounds } => bounds,
            _ => &[],
        };
        let key = self.key.build(metric, source);
        if !identified {
            // Not reached for lines the parser accepts (see `split_metric`); keyed apart.
            self.identity.clear();
            self.identity.push(KEY_IDENTITY);
            self.identity.extend_from_slice(key);
        }
        if let Some(entry) = self.interval.lines.get_mut(self.identity.as_slice()) {
            entry.series.apply(metric, self.seq, bounds);
            return;
        }
        let mut series = Series::new(metric.kind, observer);
        series.apply(metric, self.seq, bounds);
        let entry = Entry {
            key: key.into(),
            kind: metric.kind,
            sample_rate: metric.sample_rate,
            series,
        };
        self.interval
            .lines
            .insert(self.identity.as_slice().into(), entry);
    }

    fn add_event(&mut self, line: &str, service_check: bool) {
        let metrics = &self.settings.metrics;
        if !self.settings.logs_accepted {
            metrics.events_without_pipeline.inc();
            return;
        }
        let now = unix_nanos();
        let parsed = if service_check {
            events::parse_service_check(line, now)
        } else {
            events::parse_event(line, now)
        };
        match parsed {
            Ok(_) if self.interval.events.len() >= MAX_EVENTS_PER_INTERVAL => {
                metrics.events_over_limit.inc();
            }
            Ok(record) => self.interval.events.push(record),
            Err(reason) => self.reject(reason, line.as_bytes()),
        }
    }
}
