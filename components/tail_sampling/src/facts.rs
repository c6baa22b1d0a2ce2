//! What policies need to know about a trace, gathered once per span as batches arrive.
//!
//! The Collector keeps every span of a trace decoded and walks them all for every policy
//! at decision time. Weir keeps the batches as received bytes and reads each span once,
//! through views, when it arrives: span count, earliest start and latest end (latency),
//! and, per "leaf" predicate (status code, attribute, trace state, OTTL), whether some
//! span (or its resource) matched. A decision then reads these few facts, not the spans.
//!
//! Every leaf is an "any span matches" question, whose answer does not depend on the
//! order spans arrive in, except for OTTL, where the Collector returns at the first span
//! that matches *or fails*: Weir records the first of those two outcomes, in arrival order.

use foldhash::HashSet;
use regex::Regex;
use weir_api::batch::view::{Attributes, EventView, ResourceView, ScopeView, SpanView, ValueRef};
use weir_ottl::{ConditionSet, ErrorMode, Item};

/// The state of one leaf for one trace.
pub const UNKNOWN: u8 = 0;
pub const MATCHED: u8 = 1;
pub const ERRORED: u8 = 2;

/// How string values are matched.
#[derive(Debug)]
pub enum StringMatcher {
    Exact(HashSet<String>),
    /// Unanchored, as Go's `MatchString`.
    Regex(Vec<Regex>),
}

impl StringMatcher {
    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(values) => values.contains(value),
            Self::Regex(list) => list.iter().any(|r| r.is_match(value)),
        }
    }
}

/// A per-span question whose "did any span match" answer policies read.
#[derive(Debug)]
pub enum Leaf {
    Status(Vec<i32>),
    String {
        key: String,
        matcher: StringMatcher,
    },
    Numeric {
        key: String,
        min: i64,
        max: i64,
    },
    Boolean {
        key: String,
        value: bool,
    },
    TraceState {
        key: String,
        values: HashSet<String>,
    },
    Ottl {
        span: ConditionSet,
        event: ConditionSet,
        mode: ErrorMode,
    },
}

impl Leaf {
    /// Whether a resource's attributes match (attribute leaves look at resources too).
    fn resource_matches(&self, attributes: Attributes<'_>) -> bool {
        match self {
            // pcommon's `Str()` of a non-string is "": the Collector matches that.
            Self::String { key, matcher } => attributes
                .get(key)
                .is_some_and(|v| matcher.matches(v.as_str().unwrap_or(""))),
            Self::Numeric { key, min, max } => {
                attributes.get(key).is_some_and(|v| in_range(v, *min, *max))
            }
            Self::Boolean { key, value } => attributes
                .get(key)
                .is_some_and(|v| v.as_bool().unwrap_or(false) == *value),
            _ => false,
        }
    }

    /// The span's own outcome: `MATCHED`, `ERRORED` or `UNKNOWN` (no match).
    fn span_outcome(
        &self,
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        span: SpanView<'_>,
    ) -> u8 {
        let yes = |b: bool| if b { MATCHED } else { UNKNOWN };
        match self {
            Self::Status(codes) => yes(codes.contains(&span.status_code().as_i32())),
            Self::String { key, matcher } => yes(span
                .attributes()
                .get(key)
                .and_then(|v| v.as_str())
                .is_some_and(|s| !s.is_empty() && matcher.matches(s))),
            Self::Numeric { key, min, max } => yes(span
                .attributes()
                .get(key)
                .is_some_and(|v| in_range(v, *min, *max))),
            Self::Boolean { key, value } => yes(span
                .attributes()
                .get(key)
                .is_some_and(|v| v.as_bool().unwrap_or(false) == *value)),
            Self::TraceState { key, values } => {
                yes(trace_state_get(span.trace_state(), key).is_some_and(|v| values.contains(v)))
            }
            Self::Ottl {
                span: conds,
                event,
                mode,
            } => ottl_outcome(conds, event, *mode, resource, scope, span),
        }
    }
}

fn in_range(value: ValueRef<'_>, min: i64, max: i64) -> bool {
    // pcommon's `Int()` of a non-integer is 0: the Collector compares that.
    let v = value.as_int().unwrap_or(0);
    v >= min && v <= max
}

fn ottl_outcome(
    span_conditions: &ConditionSet,
    event_conditions: &ConditionSet,
    mode: ErrorMode,
    resource: ResourceView<'_>,
    scope: ScopeView<'_>,
    span: SpanView<'_>,
) -> u8 {
    let log = |cond: &weir_ottl::Condition, err: &weir_ottl::EvalError| {
        tracing::debug!(condition = cond.text(), error = %err, "tail_sampling: OTTL condition failed");
    };
    if !span_conditions.is_empty() {
        match span_conditions.evaluate(&Item::span(resource, scope, span), mode, log) {
            Ok(true) => return MATCHED,
            Ok(false) => {}
            Err(_) => return ERRORED,
        }
    }
    if !event_conditions.is_empty() {
        for event in span.events() {
            let item = span_event_item(resource, scope, span, event);
            match event_conditions.evaluate(&item, mode, log) {
                Ok(true) => return MATCHED,
                Ok(false) => {}
                Err(_) => return ERRORED,
            }
        }
    }
    UNKNOWN
}

fn span_event_item<'a>(
    resource: ResourceView<'a>,
    scope: ScopeView<'a>,
    span: SpanView<'a>,
    event: EventView<'a>,
) -> Item<'a> {
    Item::span_event(resource, scope, span, event)
}

/// The value of `key` in a W3C `tracestate`, or `None` when it is absent or the header is
/// malformed (the Collector's parser refuses the whole header then).
pub fn trace_state_get<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    let mut members = 0;
    let mut seen: Vec<&str> = Vec::new();
    for member in header.split(',') {
        let member = member.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        members += 1;
        let (k, v) = member.split_once('=')?;
        if members > 32 || !valid_key(k) || !valid_value(v) || seen.contains(&k) {
            return None;
        }
        seen.push(k);
        if k == key {
            found = Some(v);
        }
    }
    found
}

fn valid_key(key: &str) -> bool {
    let ok_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b);
    let plain = |s: &str, first_digit_ok: bool| {
        let b = s.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || (first_digit_ok && b[0].is_ascii_digit()))
            && b.iter().all(|c| ok_char(*c))
    };
    match key.split_once('@') {
        Some((tenant, system)) => {
            tenant.len() <= 241 && system.len() <= 14 && plain(tenant, true) && plain(system, false)
        }
        None => key.len() <= 256 && plain(key, false),
    }
}

fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    let ok = |c: u8| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=';
    !b.is_empty() && b.len() <= 256 && b.iter().all(|c| ok(*c)) && b[b.len() - 1] != b' '
}

/// What is known about one undecided trace.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub span_count: u64,
    /// Earliest start and latest end, with the Collector's "0 means unset" rule.
    pub min_start: u64,
    pub max_end: u64,
    /// One state per leaf (see [`UNKNOWN`], [`MATCHED`], [`ERRORED`]).
    pub leaves: Vec<u8>,
}

impl Facts {
    pub fn new(leaves: usize) -> Self {
        Self {
            leaves: vec![UNKNOWN; leaves],
            ..Self::default()
        }
    }

    /// Takes one span into account. `resource_matched[i]` says whether leaf `i` matched
    /// the span's resource.
    pub fn add_span(
        &mut self,
        leaves: &[Leaf],
        resource_matched: &[bool],
        resource: ResourceView<'_>,
        scope: ScopeView<'_>,
        span: SpanView<'_>,
    ) {
        self.span_count += 1;
        let start = span.start_time_unix_nano();
        let end = span.end_time_unix_nano();
        if self.min_start == 0 || start < self.min_start {
            self.min_start = start;
        }
        if self.max_end == 0 || end > self.max_end {
            self.max_end = end;
        }
        for (i, leaf) in leaves.iter().enumerate() {
            if self.leaves[i] != UNKNOWN {
                continue;
            }
            if resource_matched.get(i).copied().unwrap_or(false) {
                self.leaves[i] = MATCHED;
            } else {
                self.leaves[i] = leaf.span_outcome(resource, scope, span);
            }
        }
    }

    /// `max_end - min_start` in whole milliseconds (Go's `Duration.Milliseconds`).
    pub fn duration_ms(&self) -> i64 {
        let nanos = i128::from(self.max_end) - i128::from(self.min_start);
        (nanos / 1_000_000) as i64
    }
}

/// Which leaves match a resource, computed once per resource of a batch.
pub fn resource_matches(leaves: &[Leaf], resource: ResourceView<'_>, out: &mut Vec<bool>) {
    out.clear();
    let attributes = resource.attributes();
    out.extend(leaves.iter().map(|leaf| leaf.resource_matches(attributes)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_state_lookup_follows_w3c_rules() {
        assert_eq!(trace_state_get("a=1,b=2", "b"), Some("2"));
        assert_eq!(trace_state_get("a=1 , b=2", "b"), Some("2"));
        assert_eq!(trace_state_get("a=1", "b"), None);
        // Malformed headers match nothing.
        assert_eq!(trace_state_get("A=1,b=2", "b"), None);
        assert_eq!(trace_state_get("a=1,a=2", "a"), None);
        assert_eq!(trace_state_get("b", "b"), None);
        assert_eq!(trace_state_get("t@sys=v", "t@sys"), Some("v"));
    }
}
