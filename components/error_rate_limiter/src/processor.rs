//! The processor: classifies items, runs each error through its key's bucket, drops (or,
//! in shadow mode, counts) what is over the limit, and emits one summary per key and
//! window that dropped anything.
//!
//! Why buckets are evicted: a key whose bucket has refilled completely and has nothing
//! to summarise behaves exactly like a key never seen, so it is forgotten at each window
//! boundary. That keeps `max_keys` a bound on live keys rather than on every key since
//! start, without changing a single decision.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir_api::batch::build::is_summary;
use weir_api::batch::view::{
    LogRecordView, ResourceView, ScopeView, SeverityNumber, SpanView, StatusCode,
};
use weir_api::batch::OwnedValue;
use weir_api::telemetry::names::{
    ERROR_RATE_LIMITER_DROPPED, ERROR_RATE_LIMITER_KEYS, ERROR_RATE_LIMITER_PASSED,
    ERROR_RATE_LIMITER_SUMMARIES,
};
use weir_api::telemetry::{Counter, Gauge, Telemetry};
use weir_api::{Batch, Processor, Signal};
use weir_ottl::{Condition, Item};

use crate::bucket::{Bucket, Limit};
use crate::config::ErrorRateLimiterConfig;
use crate::key::{Extracted, KeySpec};
use crate::summary::{self, SpanIds, Summary, Window, OVERFLOW_KEY};

/// The drop reason, in `weir_items_dropped_total` and `weir_shadow_would_drop_total`.
pub const ERROR_RATE_LIMITED: &str = "error_rate_limited";
/// The `key` label of keys beyond the first `max_keys` labelled ones.
pub const OTHER_LABEL: &str = "other";
/// The `key` label of the shared overflow bucket.
pub const OVERFLOW_LABEL: &str = "overflow";

/// The processor's time: monotonic instants for the buckets and windows, mapped to unix
/// nanoseconds for the summaries. Tests pass their own instants (no sleeping).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    unix_origin: u64,
}

impl Clock {
    /// `origin` is taken to be `unix_origin` nanoseconds after the Unix epoch.
    pub fn new(origin: Instant, unix_origin: u64) -> Self {
        Self {
            origin,
            unix_origin,
        }
    }

    /// The system's clocks, now.
    pub fn system() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self::new(Instant::now(), unix)
    }

    pub fn origin(&self) -> Instant {
        self.origin
    }

    fn nanos(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    fn unix(&self, now: Instant) -> u64 {
        self.unix_origin.saturating_add(self.nanos(now))
    }
}

/// The passed/dropped counters of one `key` label.
#[derive(Clone, Debug)]
struct KeyCounters {
    passed: Counter,
    dropped: Counter,
}

/// The bounded `key` label: the first `cap` key strings get their own series, later
/// ones share `other`. Handles are kept so a key that returns reuses its series.
#[derive(Debug)]
struct KeyLabels {
    telemetry: Telemetry,
    processor: String,
    cap: usize,
    by_key: HashMap<String, KeyCounters>,
    other: KeyCounters,
}

impl KeyLabels {
    fn counters(telemetry: &Telemetry, processor: &str, label: &str) -> KeyCounters {
        KeyCounters {
            passed: telemetry.counter_of(&ERROR_RATE_LIMITER_PASSED, &[processor, label]),
            dropped: telemetry.counter_of(&ERROR_RATE_LIMITER_DROPPED, &[processor, label]),
        }
    }

    fn for_key(&mut self, key: &str) -> KeyCounters {
        if let Some(counters) = self.by_key.get(key) {
            return counters.clone();
        }
        if self.by_key.len() >= self.cap {
            return self.other.clone();
        }
        let counters = Self::counters(&self.telemetry, &self.processor, key);
        self.by_key.insert(key.to_string(), counters.clone());
        counters
    }
}

/// One key's state: its bucket and what it dropped in the current window.
#[derive(Debug)]
struct KeyState {
    bucket: Bucket,
    resource: Vec<(String, OwnedValue)>,
    window: Window,
    counters: KeyCounters,
}

/// Handles fetched once at build.
#[derive(Clone, Debug)]
pub struct Counters {
    dropped: Counter,
    shadow: Counter,
    summaries: Counter,
    /// `weir_items_created_total{reason="summary"}`: the generic balance's term.
    created: Counter,
    keys: Gauge,
}

impl Counters {
    pub fn new(telemetry: &Telemetry, processor: &str, signal: Signal) -> Self {
        let l = [processor, signal.as_str()];
        Self {
            dropped: telemetry.dropped(processor, signal, ERROR_RATE_LIMITED),
            shadow: telemetry.shadow(processor, signal, ERROR_RATE_LIMITED),
            summaries: telemetry.counter_of(&ERROR_RATE_LIMITER_SUMMARIES, &l),
            created: telemetry.created(processor, signal, SUMMARY_REASON),
            keys: telemetry.gauge_of(&ERROR_RATE_LIMITER_KEYS, &l),
        }
    }
}

/// The `reason` label of the summaries in `weir_items_created_total`.
pub const SUMMARY_REASON: &str = "summary";

/// One `error_rate_limiter` instance in one pipeline.
#[derive(Debug)]
pub struct ErrorRateLimiter {
    id: String,
    signal: Signal,
    condition: Option<Condition>,
    condition_failed: bool,
    key: KeySpec,
    limit: Limit,
    shadow: bool,
    max_keys: usize,
    interval: Duration,
    clock: Clock,
    window_end: Instant,
    keys: HashMap<String, KeyState>,
    overflow: KeyState,
    labels: KeyLabels,
    counters: Counters,
    ids: SpanIds,
    scratch: Extracted,
}

/// "Now" for one batch, on both of the processor's clocks.
#[derive(Clone, Copy, Debug)]
struct Tick {
    nanos: u64,
    unix: u64,
}

impl ErrorRateLimiter {
    /// `condition` must have been compiled for `signal`'s context.
    pub fn new(
        id: &str,
        signal: Signal,
        config: &ErrorRateLimiterConfig,
        condition: Option<Condition>,
        telemetry: &Telemetry,
        clock: Clock,
    ) -> Self {
        let labels = KeyLabels {
            telemetry: telemetry.clone(),
            processor: id.to_string(),
            cap: config.max_keys,
            by_key: HashMap::new(),
            other: KeyLabels::counters(telemetry, id, OTHER_LABEL),
        };
        let overflow = KeyState {
            bucket: Bucket::default(),
            resource: Vec::new(),
            window: Window::default(),
            counters: KeyLabels::counters(telemetry, id, OVERFLOW_LABEL),
        };
        Self {
            id: id.to_string(),
            signal,
            condition,
            condition_failed: false,
            key: KeySpec::new(config.key.clone()),
            limit: Limit::new(config.rate, config.burst),
            shadow: config.shadow,
            max_keys: config.max_keys,
            interval: config.summary_interval,
            clock,
            window_end: clock.origin() + config.summary_interval,
            keys: HashMap::new(),
            overflow,
            labels,
            counters: Counters::new(telemetry, id, signal),
            ids: SpanIds::default(),
            scratch: Extracted::default(),
        }
    }

    /// [`Processor::process`] at a given instant.
    pub fn process_at(&mut self, mut batch: Batch, now: Instant, out: &mut Vec<Batch>) {
        if now >= self.window_end {
            self.close_window(now, out);
        }
        let tick = Tick {
            nanos: self.clock.nanos(now),
            unix: self.clock.unix(now),
        };
        // Decide through views first: a batch that loses nothing (no error over the
        // limit, or shadow mode) goes on as it came, shared, not copied by a walk.
        let mut drop = Vec::new();
        match batch.signal() {
            Signal::Traces => {
                for (index, (r, s, span)) in batch.spans().enumerate() {
                    if !self.keep_span(r, s, span, tick) {
                        drop.push(index);
                    }
                }
            }
            Signal::Logs => {
                for (index, (r, s, record)) in batch.log_records().enumerate() {
                    if !self.keep_record(r, s, record, tick) {
                        drop.push(index);
                    }
                }
            }
            // The factory refuses metrics pipelines; pass through rather than lose data.
            Signal::Metrics => {}
        }
        if !drop.is_empty() {
            // The walk visits items in the order the views did.
            let mut index = 0;
            let mut drop = drop.into_iter().peekable();
            let mut keep = || {
                let dropped = drop.next_if_eq(&index).is_some();
                index += 1;
                !dropped
            };
            match batch.signal() {
                Signal::Traces => batch.retain_spans(|_, _, _| keep()),
                _ => batch.retain_log_records(|_, _, _| keep()),
            }
        }
        if !batch.is_empty() {
            out.push(batch);
        }
    }

    fn keep_span(
        &mut self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        span: SpanView<'_>,
        tick: Tick,
    ) -> bool {
        let error = span.status_code() == StatusCode::Error
            || self.matches(&Item::span(resource, scope, span));
        // Summaries are never limited; checked second, as most items are not errors.
        if !error || is_summary(span.attributes()) {
            return true;
        }
        self.key.span(resource, span, &mut self.scratch);
        self.admit(resource, span.trace_id(), tick)
    }

    fn keep_record(
        &mut self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        record: LogRecordView<'_>,
        tick: Tick,
    ) -> bool {
        let error = record.severity_number() >= SeverityNumber::ERROR
            || self.matches(&Item::log(resource, scope, record));
        if !error || is_summary(record.attributes()) {
            return true;
        }
        self.key.log(resource, record, &mut self.scratch);
        self.admit(resource, record.trace_id(), tick)
    }

    /// The configured condition; a condition that fails to evaluate does not match.
    fn matches(&mut self, item: &Item<'_>) -> bool {
        let Some(condition) = &self.condition else {
            return false;
        };
        match condition.evaluate(item) {
            Ok(matched) => matched,
            Err(error) => {
                if !self.condition_failed {
                    self.condition_failed = true;
                    tracing::warn!(
                        processor = %self.id,
                        %error,
                        "condition failed to evaluate; such items are not treated as errors \
                         (logged once)"
                    );
                }
                false
            }
        }
    }

    /// Runs one error (whose key is in `self.scratch`) through its bucket; whether to
    /// keep it.
    fn admit(&mut self, resource: ResourceView<'_>, trace_id: &[u8], tick: Tick) -> bool {
        let text = &self.scratch.text;
        if !self.keys.contains_key(text.as_str()) && self.keys.len() < self.max_keys {
            let state = KeyState {
                bucket: Bucket::default(),
                resource: self.key.resource_attributes(resource, &self.scratch),
                window: Window::default(),
                counters: self.labels.for_key(text),
            };
            self.keys.insert(text.clone(), state);
            self.counters.keys.set(gauge_value(self.keys.len()));
        }
        let state = match self.keys.get_mut(text.as_str()) {
            Some(state) => state,
            None => &mut self.overflow,
        };
        if state.bucket.take(self.limit, tick.nanos) {
            state.counters.passed.inc();
            return true;
        }
        state.counters.dropped.inc();
        if self.shadow {
            self.counters.shadow.inc();
            return true;
        }
        state.window.record(tick.unix, trace_id);
        self.counters.dropped.inc();
        false
    }

    /// [`Processor::flush`] at a given instant (it stamps the summary log records).
    pub fn flush_at(&mut self, now: Instant, out: &mut Vec<Batch>) {
        self.emit_summaries(now, out);
    }

    /// Emits the window's summaries, forgets idle keys and starts the next window.
    fn close_window(&mut self, now: Instant, out: &mut Vec<Batch>) {
        self.emit_summaries(now, out);
        let nanos = self.clock.nanos(now);
        self.keys.retain(|_, state| !state.bucket.is_full(nanos));
        self.counters.keys.set(gauge_value(self.keys.len()));
        self.window_end += self.interval;
        if self.window_end <= now {
            // Woken late (or idle for several windows): restart the windows from now.
            self.window_end = now + self.interval;
        }
    }

    /// One batch with a summary per key that dropped anything since the last one.
    fn emit_summaries(&mut self, now: Instant, out: &mut Vec<Batch>) {
        let mut summaries: Vec<Summary> = self
            .keys
            .iter_mut()
            .filter(|(_, state)| state.window.dropped > 0)
            .map(|(key, state)| Summary {
                key: key.clone(),
                resource: state.resource.clone(),
                window: std::mem::take(&mut state.window),
            })
            .collect();
        summaries.sort_by(|a, b| a.key.cmp(&b.key));
        if self.overflow.window.dropped > 0 {
            summaries.push(Summary {
                key: OVERFLOW_KEY.to_string(),
                resource: Vec::new(),
                window: std::mem::take(&mut self.overflow.window),
            });
        }
        if summaries.is_empty() {
            return;
        }
        let count = u64::try_from(summaries.len()).unwrap_or(u64::MAX);
        out.push(summary::batch(
            self.signal,
            &summaries,
            &self.id,
            self.clock.unix(now),
            &mut self.ids,
        ));
        self.counters.summaries.inc_by(count);
        self.counters.created.inc_by(count);
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Processor for ErrorRateLimiter {
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        self.process_at(batch, Instant::now(), out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        Some(self.window_end)
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch>) {
        if now >= self.window_end {
            self.close_window(now, out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Batch>) {
        self.flush_at(Instant::now(), out);
    }
}
