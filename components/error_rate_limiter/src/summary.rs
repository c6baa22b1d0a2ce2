//! Summaries: what a key lost in one window, emitted downstream as one log record (logs
//! pipelines) or one span (traces pipelines).
//!
//! The attributes are fixed so dashboards and tests can rely on them (README.md lists
//! them). Each summary gets a resource of its own carrying the key's resource attributes
//! (e.g. `service.name`), so it lands with its service in a backend.

use std::hash::{BuildHasher, Hasher, RandomState};

use weir_api::batch::build::{
    AttributeList, LogRecordBuilder, LogsBuilder, SpanBuilder, TracesBuilder,
};
use weir_api::batch::view::{SeverityNumber, SpanKind, StatusCode};
use weir_api::batch::OwnedValue;
use weir_api::{Batch, Signal};

use crate::key::push_hex;

/// Marks an item Weir made to summarise others; Weir's processors never drop it.
pub use weir_api::batch::build::SUMMARY_ATTRIBUTE;
pub const KEY_ATTRIBUTE: &str = "weir.error_rate_limiter.key";
pub const DROPPED_ATTRIBUTE: &str = "weir.error_rate_limiter.dropped";
pub const FIRST_SEEN_ATTRIBUTE: &str = "weir.error_rate_limiter.first_seen";
pub const LAST_SEEN_ATTRIBUTE: &str = "weir.error_rate_limiter.last_seen";
pub const EXEMPLARS_ATTRIBUTE: &str = "weir.error_rate_limiter.exemplar_trace_ids";
/// The summary span's name and the summary record's event name.
pub const SUMMARY_NAME: &str = "weir.error_rate_limiter.summary";
/// The scope summaries are emitted under.
pub const SCOPE_NAME: &str = "weir/error_rate_limiter";
/// Exemplar trace ids kept per summary.
pub const MAX_EXEMPLARS: usize = 5;
/// The key string of the shared overflow bucket's summary (real keys contain `=`).
pub const OVERFLOW_KEY: &str = "overflow";

/// What one key dropped in the current window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub dropped: u64,
    /// Unix nanoseconds, on the processor's clock, of the first and last drop.
    pub first_seen: u64,
    pub last_seen: u64,
    /// Distinct trace ids of dropped items, lowercase hex, at most [`MAX_EXEMPLARS`].
    pub exemplars: Vec<String>,
}

impl Window {
    /// Records one dropped item seen at `unix_nanos`, with its trace id (empty or all
    /// zero when it has none).
    pub fn record(&mut self, unix_nanos: u64, trace_id: &[u8]) {
        if self.dropped == 0 {
            self.first_seen = unix_nanos;
        }
        self.dropped += 1;
        self.last_seen = unix_nanos;
        if self.exemplars.len() < MAX_EXEMPLARS
            && !trace_id.is_empty()
            && trace_id.iter().any(|b| *b != 0)
        {
            let mut hex = String::with_capacity(trace_id.len() * 2);
            for byte in trace_id {
                push_hex(&mut hex, *byte);
            }
            if !self.exemplars.contains(&hex) {
                self.exemplars.push(hex);
            }
        }
    }
}

/// One summary ready to emit.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub key: String,
    pub resource: Vec<(String, OwnedValue)>,
    pub window: Window,
}

impl Summary {
    fn attributes(&self) -> AttributeList {
        let mut list = AttributeList::with_capacity(6);
        list.push(SUMMARY_ATTRIBUTE, true)
            .push(KEY_ATTRIBUTE, self.key.as_str())
            .push(DROPPED_ATTRIBUTE, as_int(self.window.dropped))
            .push(FIRST_SEEN_ATTRIBUTE, as_int(self.window.first_seen))
            .push(LAST_SEEN_ATTRIBUTE, as_int(self.window.last_seen))
            .push(
                EXEMPLARS_ATTRIBUTE,
                OwnedValue::Array(
                    self.window
                        .exemplars
                        .iter()
                        .map(|id| OwnedValue::Str(id.clone()))
                        .collect(),
                ),
            );
        list
    }

    fn message(&self, processor: &str) -> String {
        format!(
            "{processor}: dropped {} errors over the rate limit for {}",
            self.window.dropped, self.key
        )
    }
}

fn as_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Makes the ids of summary spans: random per processor, so two Weirs never collide.
#[derive(Debug, Default)]
pub struct SpanIds {
    state: RandomState,
    sequence: u64,
}

impl SpanIds {
    fn next(&mut self) -> ([u8; 16], [u8; 8]) {
        let mut word = || {
            self.sequence += 1;
            let mut hasher = self.state.build_hasher();
            hasher.write_u64(self.sequence);
            // Never zero: an all-zero trace or span id is invalid in OTLP.
            hasher.finish().max(1)
        };
        let (high, low, span) = (word(), word(), word());
        let mut trace_id = [0; 16];
        trace_id[..8].copy_from_slice(&high.to_be_bytes());
        trace_id[8..].copy_from_slice(&low.to_be_bytes());
        (trace_id, span.to_be_bytes())
    }
}

/// The summaries as one batch of `signal` (traces or logs): one resource per summary.
/// `now_unix` stamps log records.
pub fn batch(
    signal: Signal,
    summaries: &[Summary],
    processor: &str,
    now_unix: u64,
    ids: &mut SpanIds,
) -> Batch {
    let version = env!("CARGO_PKG_VERSION");
    match signal {
        Signal::Traces => {
            let mut builder = TracesBuilder::new();
            for summary in summaries {
                let (trace_id, span_id) = ids.next();
                let span = SpanBuilder::new(SUMMARY_NAME, trace_id, span_id)
                    .kind(SpanKind::Internal)
                    .times(summary.window.first_seen, summary.window.last_seen)
                    .status(StatusCode::Unset, "")
                    .attribute_list(summary.attributes());
                builder
                    .resource(summary.resource.iter().cloned())
                    .scope(SCOPE_NAME, version)
                    .push(span);
            }
            builder.build()
        }
        _ => {
            let mut builder = LogsBuilder::new();
            for summary in summaries {
                let record = LogRecordBuilder::new()
                    .time(now_unix)
                    .observed_time(now_unix)
                    .severity(SeverityNumber::WARN, "WARN")
                    .event_name(SUMMARY_NAME)
                    .body(summary.message(processor))
                    .attribute_list(summary.attributes());
                builder
                    .resource(summary.resource.iter().cloned())
                    .scope(SCOPE_NAME, version)
                    .push(record);
            }
            builder.build()
        }
    }
}
