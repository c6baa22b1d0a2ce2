//! One reader's aggregation state for the current interval.
//!
//! Every reader (a UDP socket thread, a TCP connection, the unixgram socket) owns one
//! `Aggregator` behind its own mutex: the reader locks it once per batch of datagrams and
//! the flusher locks it once per interval to take the contents. No lock is shared by
//! all readers, so readers scale with cores; the merge happens in [`crate::flush`].

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
    parse_line, parse_line_bytes, Line, MetricLine, MetricType, ParseOptions, MAX_LINE_BYTES,
};
use crate::reason::Reason;
use crate::self_metrics::SelfMetrics;
use crate::series::Series;

/// Events kept per reader and interval; more are counted as dropped.
pub const MAX_EVENTS_PER_INTERVAL: usize = 10_000;
/// At most one "bad line" warning per reader in this many seconds.
const LOG_EVERY_SECONDS: u64 = 10;

pub type SeriesMap = HashMap<Box<[u8]>, Series, foldhash::fast::RandomState>;

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
    pub series: SeriesMap,
    pub events: Vec<LogRecordBuilder>,
}

#[derive(Debug)]
pub struct Aggregator {
    settings: Arc<Settings>,
    interval: Interval,
    key: KeyBuilder,
    seq: u64,
    next_log: Option<Instant>,
    suppressed: u64,
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
            key: KeyBuilder::default(),
            seq: 0,
            next_log: None,
            suppressed: 0,
        }
    }

    /// Takes everything aggregated since the last call.
    pub fn take(&mut self) -> Interval {
        let capacity = self.interval.series.len();
        let mut fresh = Interval::default();
        // Keep the map's size so the next interval does not regrow it step by step.
        fresh.series.reserve(capacity);
        std::mem::replace(&mut self.interval, fresh)
    }

    /// Aggregates one datagram (or a block of complete lines from a stream). Returns the
    /// number of metric lines aggregated.
    pub fn ingest(&mut self, data: &[u8], source: Option<IpAddr>) -> u64 {
        self.seq = self.settings.epoch.elapsed().as_nanos() as u64;
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
                    let parsed = parse_line(line, &self.settings.parse);
                    lines += self.handle(parsed, line.as_bytes(), source);
                }
            }
            Err(_) => {
                for line in data.split(|b| *b == b'\n') {
                    let parsed = parse_line_bytes(line, &self.settings.parse);
                    lines += self.handle(parsed, line, source);
                }
            }
        }
        if lines > 0 {
            self.settings.metrics.lines.inc_by(lines);
        }
        lines
    }

    fn handle(
        &mut self,
        parsed: Result<Option<Line<'_>>, Reason>,
        raw: &[u8],
        source: Option<IpAddr>,
    ) -> u64 {
        match parsed {
            Ok(None) => 0,
            Ok(Some(Line::Metric(metric))) => {
                self.add_metric(&metric, source);
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

    fn add_metric(&mut self, metric: &MetricLine<'_>, source: Option<IpAddr>) {
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
        if let Some(series) = self.interval.series.get_mut(key) {
            series.apply(metric, self.seq, bounds);
            return;
        }
        let mut series = Series::new(metric.kind, observer);
        series.apply(metric, self.seq, bounds);
        self.interval.series.insert(key.into(), series);
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
