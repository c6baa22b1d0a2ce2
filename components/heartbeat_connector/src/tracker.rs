//! The table of sources: when each last sent, whether it is silent, and the log records
//! its changes make.
//!
//! Times are passed in (a monotonic `Instant` for the silence arithmetic, Unix
//! nanoseconds for what is shown), so tests drive the table without sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use weir_api::batch::build::{AttributeList, LogRecordBuilder, LogsBuilder};
use weir_api::batch::view::{ResourceView, SeverityNumber, ValueRef};
use weir_api::batch::OwnedValue;
use weir_api::telemetry::names::{
    HEARTBEAT_FORGOTTEN_SOURCES, HEARTBEAT_SOURCES, HEARTBEAT_UNTRACKED_RESOURCES,
    SOURCE_LAST_SEEN, SOURCE_SILENT,
};
use weir_api::telemetry::{Counter, Gauge, Telemetry};
use weir_api::{Batch, Signal};

use crate::config::HeartbeatConfig;

/// The resource attribute a source sets (`true`) on its last data to say it ends on
/// purpose: it is then forgotten without a silent record.
pub const SHUTDOWN_ATTRIBUTE: &str = "weir.heartbeat.shutdown";
/// The record attribute saying `silent` or `returned`.
pub const STATE_ATTRIBUTE: &str = "weir.heartbeat.state";
/// The record attribute with the seconds (a double) since the source last sent.
pub const SILENT_FOR_ATTRIBUTE: &str = "weir.heartbeat.silent_for_seconds";
/// The record attribute with the source's label, as in the `source` metric label.
pub const SOURCE_ATTRIBUTE: &str = "weir.heartbeat.source";
/// The instrumentation scope of the records.
pub const SCOPE_NAME: &str = "weir/heartbeat";

/// `weir.heartbeat.state` values.
pub const SILENT: &str = "silent";
pub const RETURNED: &str = "returned";

/// One tracked source.
struct Source {
    /// The source attributes it carries, in configured order.
    attributes: Vec<(String, OwnedValue)>,
    last_seen: Instant,
    silent: bool,
    /// Its last data carried `weir.heartbeat.shutdown=true`.
    shutdown: bool,
    last_seen_gauge: Gauge,
    silent_gauge: Gauge,
}

/// A change worth a log record.
struct Change {
    label: String,
    attributes: Vec<(String, OwnedValue)>,
    state: &'static str,
    silent_for: Duration,
}

/// Self-metrics of one connector id.
struct Counters {
    sources: Gauge,
    untracked_full: Counter,
    untracked_unidentified: Counter,
    forgotten_after: Counter,
    forgotten_shutdown: Counter,
}

/// Every source one `heartbeat` connector id tracks.
pub struct Tracker {
    config: HeartbeatConfig,
    id: String,
    telemetry: Telemetry,
    sources: HashMap<String, Source>,
    next_check: Instant,
    counters: Counters,
    /// Whether the "table full" warning was logged since the table last had room.
    warned_full: bool,
}

/// What one consumed batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Consumed {
    /// Resources whose source is tracked (new or known).
    pub tracked: usize,
    /// Resources not tracked: the table was full.
    pub over_limit: usize,
    /// Resources not tracked: none of the source attributes.
    pub unidentified: usize,
}

impl Tracker {
    pub fn new(config: HeartbeatConfig, id: &str, telemetry: &Telemetry, now: Instant) -> Self {
        let counters = Counters {
            sources: telemetry.gauge_of(&HEARTBEAT_SOURCES, &[id]),
            untracked_full: telemetry
                .counter_of(&HEARTBEAT_UNTRACKED_RESOURCES, &[id, "max_sources"]),
            untracked_unidentified: telemetry.counter_of(
                &HEARTBEAT_UNTRACKED_RESOURCES,
                &[id, "no_source_attributes"],
            ),
            forgotten_after: telemetry
                .counter_of(&HEARTBEAT_FORGOTTEN_SOURCES, &[id, "forget_after"]),
            forgotten_shutdown: telemetry
                .counter_of(&HEARTBEAT_FORGOTTEN_SOURCES, &[id, "shutdown"]),
        };
        Self {
            next_check: now + config.check_interval,
            config,
            id: id.to_string(),
            telemetry: telemetry.clone(),
            sources: HashMap::new(),
            counters,
            warned_full: false,
        }
    }

    /// When the next check is due.
    pub fn next_check(&self) -> Instant {
        self.next_check
    }

    /// Sources tracked now.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Whether the source with this label is tracked and silent.
    pub fn is_silent(&self, label: &str) -> Option<bool> {
        self.sources.get(label).map(|s| s.silent)
    }

    /// Notes that every resource of `batch` sent at `now`. Returns the "returned"
    /// records of sources that were silent, as a logs batch (`None` if there are none).
    pub fn consume(
        &mut self,
        batch: &Batch,
        now: Instant,
        unix_nanos: u64,
    ) -> (Consumed, Option<Batch>) {
        let mut consumed = Consumed::default();
        let mut changes = Vec::new();
        let mut visit = |resource: ResourceView<'_>| {
            self.see(resource, now, unix_nanos, &mut consumed, &mut changes)
        };
        match batch.signal() {
            Signal::Traces => batch.traces().for_each(|r| visit(r.resource())),
            Signal::Metrics => batch.metrics().for_each(|r| visit(r.resource())),
            Signal::Logs => batch.logs().for_each(|r| visit(r.resource())),
        }
        self.counters
            .untracked_full
            .inc_by(consumed.over_limit as u64);
        self.counters
            .untracked_unidentified
            .inc_by(consumed.unidentified as u64);
        self.counters.sources.set(self.sources.len() as i64);
        (consumed, records(changes, unix_nanos))
    }

    fn see(
        &mut self,
        resource: ResourceView<'_>,
        now: Instant,
        unix_nanos: u64,
        consumed: &mut Consumed,
        changes: &mut Vec<Change>,
    ) {
        let attrs = resource.attributes();
        let mut attributes = Vec::with_capacity(self.config.source_attributes.len());
        for key in &self.config.source_attributes {
            if let Some(value) = attrs.get(key) {
                attributes.push((key.clone(), value));
            }
        }
        if attributes.is_empty() {
            consumed.unidentified += 1;
            return;
        }
        let shutdown = matches!(
            attrs.get(SHUTDOWN_ATTRIBUTE),
            Some(ValueRef::Bool(true)) | Some(ValueRef::Str("true"))
        );
        let label = label(&attributes);
        let seconds = (unix_nanos / 1_000_000_000) as i64;
        if let Some(source) = self.sources.get_mut(&label) {
            if source.silent {
                source.silent = false;
                source.silent_gauge.set(0);
                changes.push(Change {
                    label: label.clone(),
                    attributes: source.attributes.clone(),
                    state: RETURNED,
                    silent_for: now.saturating_duration_since(source.last_seen),
                });
            }
            source.last_seen = now;
            source.shutdown = shutdown;
            source.last_seen_gauge.set(seconds);
            consumed.tracked += 1;
            return;
        }
        if self.sources.len() >= self.config.max_sources {
            consumed.over_limit += 1;
            if !self.warned_full {
                self.warned_full = true;
                tracing::warn!(connector = %self.id, max_sources = self.config.max_sources,
                    "heartbeat: max_sources reached; data from new sources is counted (weir_heartbeat_untracked_resources_total), not tracked");
            }
            return;
        }
        let last_seen_gauge = self
            .telemetry
            .gauge_of(&SOURCE_LAST_SEEN, &[&self.id, &label]);
        let silent_gauge = self.telemetry.gauge_of(&SOURCE_SILENT, &[&self.id, &label]);
        last_seen_gauge.set(seconds);
        silent_gauge.set(0);
        self.sources.insert(
            label,
            Source {
                attributes: attributes
                    .into_iter()
                    .map(|(k, v)| (k, OwnedValue::from(v)))
                    .collect(),
                last_seen: now,
                silent: false,
                shutdown,
                last_seen_gauge,
                silent_gauge,
            },
        );
        consumed.tracked += 1;
    }

    /// Runs a check if one is due at `now`: sources past `expected_interval` become
    /// silent (one record each), sources past `forget_after`, or that ended on purpose
    /// and are past `expected_interval`, are forgotten. Returns the "silent" records.
    pub fn on_deadline(&mut self, now: Instant, unix_nanos: u64) -> Option<Batch> {
        if now < self.next_check {
            return None;
        }
        // The next tick on the grid, skipping ticks missed while busy.
        while self.next_check <= now {
            self.next_check += self.config.check_interval;
        }
        self.check(now, unix_nanos)
    }

    /// One check at `now` (see [`Tracker::on_deadline`]).
    pub fn check(&mut self, now: Instant, unix_nanos: u64) -> Option<Batch> {
        let expected = self.config.expected_interval;
        let forget_after = self.config.forget_after;
        let mut changes = Vec::new();
        let mut forget = Vec::new();
        for (label, source) in &mut self.sources {
            let quiet = now.saturating_duration_since(source.last_seen);
            if quiet >= forget_after {
                forget.push((label.clone(), false));
            } else if quiet >= expected && source.shutdown {
                forget.push((label.clone(), true));
            } else if quiet >= expected && !source.silent {
                source.silent = true;
                source.silent_gauge.set(1);
                changes.push(Change {
                    label: label.clone(),
                    attributes: source.attributes.clone(),
                    state: SILENT,
                    silent_for: quiet,
                });
            }
        }
        for (label, shutdown) in forget {
            self.sources.remove(&label);
            self.telemetry
                .remove_gauge_of(&SOURCE_LAST_SEEN, &[&self.id, &label]);
            self.telemetry
                .remove_gauge_of(&SOURCE_SILENT, &[&self.id, &label]);
            if shutdown {
                self.counters.forgotten_shutdown.inc();
                tracing::debug!(connector = %self.id, source = %label, "heartbeat: source ended on purpose; forgotten");
            } else {
                self.counters.forgotten_after.inc();
            }
        }
        if self.sources.len() < self.config.max_sources {
            self.warned_full = false;
        }
        self.counters.sources.set(self.sources.len() as i64);
        changes.sort_by(|a, b| a.label.cmp(&b.label));
        // One line per check, however many sources went quiet together (an upstream
        // outage can silence thousands at once); the records carry every one.
        if let Some(first) = changes.first() {
            tracing::info!(connector = %self.id, count = changes.len(), first = %first.label,
                "heartbeat: sources went silent");
        }
        records(changes, unix_nanos)
    }
}

/// The `source` label: `key=value` for each source attribute present, in configured
/// order, joined by commas (`service.name=checkout,service.instance.id=i-1`).
pub fn label(attributes: &[(String, ValueRef<'_>)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push('=');
        render(*value, &mut out);
    }
    out
}

/// A value as text, for the label.
fn render(value: ValueRef<'_>, out: &mut String) {
    use std::fmt::Write;
    match value {
        ValueRef::Empty => {}
        ValueRef::Str(s) => out.push_str(s),
        ValueRef::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        ValueRef::Int(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Double(d) => {
            let _ = write!(out, "{d}");
        }
        ValueRef::Bytes(b) => {
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
        }
        ValueRef::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(v, out);
            }
            out.push(']');
        }
        ValueRef::KvList(kv) => {
            out.push('{');
            for (i, (k, v)) in kv.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push('=');
                render(v, out);
            }
            out.push('}');
        }
    }
}

/// One resource per change, carrying the source's attributes, with one record.
fn records(changes: Vec<Change>, unix_nanos: u64) -> Option<Batch> {
    if changes.is_empty() {
        return None;
    }
    let mut builder = LogsBuilder::new();
    for change in changes {
        let seconds = change.silent_for.as_secs_f64();
        let (severity, text, body) = if change.state == SILENT {
            (
                SeverityNumber::WARN,
                "WARN",
                format!(
                    "source {} went silent: no data for {seconds:.1}s",
                    change.label
                ),
            )
        } else {
            (
                SeverityNumber::INFO,
                "INFO",
                format!(
                    "source {} returned after {seconds:.1}s of silence",
                    change.label
                ),
            )
        };
        let resource: AttributeList = change.attributes.into_iter().collect();
        let mut attributes = AttributeList::with_capacity(3);
        attributes
            .push(STATE_ATTRIBUTE, change.state)
            .push(SILENT_FOR_ATTRIBUTE, seconds)
            .push(SOURCE_ATTRIBUTE, change.label);
        builder
            .resource_with(resource)
            .scope(SCOPE_NAME, env!("CARGO_PKG_VERSION"))
            .push(
                LogRecordBuilder::new()
                    .time(unix_nanos)
                    .observed_time(unix_nanos)
                    .severity(severity, text)
                    .body(body)
                    .attribute_list(attributes),
            );
    }
    Some(builder.build())
}
