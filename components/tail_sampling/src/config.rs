//! The `tail_sampling` section: the Collector's keys and defaults, plus Weir's byte bound.
//!
//! Parsing is strict (`deny_unknown_fields`), so a misspelled key comes back with its
//! path and a suggestion. Every policy is checked here, including its OTTL conditions
//! and regular expressions, so `weir validate` reports what the Collector would only
//! find at start (or, for a bad regex, by panicking).

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use weir_api::config::{problem, problem_with_suggestion};
use weir_api::ComponentProblem;
use weir_ottl::ErrorMode;

/// Default `max_buffer_bytes`: the same 128 MiB the exporter queue defaults to.
pub const DEFAULT_MAX_BUFFER_BYTES: u64 = 128 * 1024 * 1024;

/// The `tail_sampling` configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSamplingConfig {
    /// Time from a trace's first span to its decision.
    #[serde(with = "weir_api::duration")]
    pub decision_wait: Duration,
    /// Traces remembered at once, decided or not (the Collector's circular buffer).
    pub num_traces: u64,
    /// Sizes the trace table up front.
    pub expected_new_traces_per_sec: u64,
    pub decision_cache: DecisionCacheConfig,
    pub policies: Vec<PolicyConfig>,
    /// Decide as soon as a policy samples (later policies are not evaluated).
    pub sample_on_first_match: bool,
    /// At shutdown, drop the traces not yet decided instead of deciding them.
    pub drop_pending_traces_on_shutdown: bool,
    /// A trace whose buffered spans pass this many bytes is decided at once (0: no limit).
    pub maximum_trace_size_bytes: u64,
    /// Weir: bytes of batches the buffer holds at most; past it the oldest undecided
    /// traces are decided early.
    pub max_buffer_bytes: u64,
}

impl Default for TailSamplingConfig {
    fn default() -> Self {
        Self {
            decision_wait: Duration::from_secs(30),
            num_traces: 50_000,
            expected_new_traces_per_sec: 0,
            decision_cache: DecisionCacheConfig::default(),
            policies: Vec::new(),
            sample_on_first_match: false,
            drop_pending_traces_on_shutdown: false,
            maximum_trace_size_bytes: 0,
            max_buffer_bytes: DEFAULT_MAX_BUFFER_BYTES,
        }
    }
}

/// `decision_cache`: LRU caches of decided trace ids (0 disables a cache).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCacheConfig {
    pub sampled_cache_size: usize,
    pub non_sampled_cache_size: usize,
}

/// A policy type name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    #[default]
    #[serde(rename = "")]
    Unset,
    AlwaysSample,
    Latency,
    NumericAttribute,
    Probabilistic,
    StatusCode,
    StringAttribute,
    RateLimiting,
    SpanCount,
    TraceState,
    BooleanAttribute,
    OttlCondition,
    And,
    Composite,
}

/// One policy (top level, `and_sub_policy` or `composite_sub_policy`): its name, its
/// type, and the section of that type. Sections of other types are ignored, as in
/// the Collector.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PolicyType,
    pub latency: LatencyConfig,
    pub numeric_attribute: NumericAttributeConfig,
    pub probabilistic: ProbabilisticConfig,
    pub status_code: StatusCodeConfig,
    pub string_attribute: StringAttributeConfig,
    pub rate_limiting: RateLimitingConfig,
    pub span_count: SpanCountConfig,
    pub trace_state: TraceStateConfig,
    pub boolean_attribute: BooleanAttributeConfig,
    pub ottl_condition: OttlConditionConfig,
    pub and: AndConfig,
    pub composite: CompositeConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    pub threshold_ms: i64,
    pub upper_threshold_ms: i64,
}

/// `min_value`/`max_value` of 0 mean "no bound", as in the Collector.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumericAttributeConfig {
    pub key: String,
    pub min_value: i64,
    pub max_value: i64,
    pub invert_match: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticConfig {
    pub hash_salt: String,
    pub sampling_percentage: f64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusCodeConfig {
    pub status_codes: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StringAttributeConfig {
    pub key: String,
    pub values: Vec<String>,
    pub enabled_regex_matching: bool,
    /// Accepted for compatibility: Weir's regexes need no result cache.
    pub cache_max_size: usize,
    pub invert_match: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitingConfig {
    pub spans_per_second: i64,
    /// Token bucket size; 0 means twice `spans_per_second`, as in the Collector.
    pub burst_capacity: i64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanCountConfig {
    pub min_spans: i32,
    pub max_spans: i32,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceStateConfig {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BooleanAttributeConfig {
    pub key: String,
    pub value: bool,
    pub invert_match: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OttlConditionConfig {
    /// Unset means `propagate`, the Collector's default for this policy.
    pub error_mode: Option<ErrorMode>,
    pub span: Vec<String>,
    pub spanevent: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AndConfig {
    pub and_sub_policy: Vec<PolicyConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompositeConfig {
    pub max_total_spans_per_second: i64,
    /// Accepted as in the Collector, which evaluates sub-policies in
    /// `composite_sub_policy` order; names must be sub-policies.
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    pub rate_allocation: Vec<RateAllocationConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateAllocationConfig {
    pub policy: String,
    pub percent: i64,
}

/// Where a policy sits, which decides the types it may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Top,
    Composite,
    And,
}

impl weir_api::config::Validate for TailSamplingConfig {
    fn problems(&self) -> Vec<ComponentProblem> {
        let mut out = Vec::new();
        if self.num_traces == 0 {
            out.push(problem(&["num_traces"], "num_traces must be at least 1"));
        }
        if self.max_buffer_bytes == 0 {
            out.push(problem_with_suggestion(
                &["max_buffer_bytes"],
                "max_buffer_bytes must be positive",
                "remove it to use the default of 128 MiB",
            ));
        }
        if self.policies.is_empty() {
            out.push(problem_with_suggestion(
                &["policies"],
                "tail_sampling needs at least one policy",
                "e.g. `policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]`",
            ));
        }
        let mut names = HashSet::new();
        for (index, policy) in self.policies.iter().enumerate() {
            let path = vec!["policies".to_string(), index.to_string()];
            if !policy.name.is_empty() && !names.insert(policy.name.as_str()) {
                out.push(owned_problem(
                    &path,
                    "name",
                    format!("duplicate policy name `{}`", policy.name),
                ));
            }
            check_policy(policy, Level::Top, &path, &mut out);
        }
        out
    }
}

fn owned_problem(path: &[String], key: &str, message: String) -> ComponentProblem {
    let mut full: Vec<&str> = path.iter().map(String::as_str).collect();
    if !key.is_empty() {
        full.extend(key.split('.'));
    }
    problem(&full, message)
}

fn check_policy(
    policy: &PolicyConfig,
    level: Level,
    path: &[String],
    out: &mut Vec<ComponentProblem>,
) {
    let mut report = |key: &str, message: String| out.push(owned_problem(path, key, message));
    if policy.name.is_empty() {
        report(
            "name",
            "a policy needs a name (it labels the policy's metrics)".into(),
        );
    }
    match policy.kind {
        PolicyType::Unset => report(
            "type",
            "a policy needs a type: always_sample, latency, numeric_attribute, probabilistic, \
             status_code, string_attribute, rate_limiting, span_count, trace_state, \
             boolean_attribute, ottl_condition, and, composite"
                .into(),
        ),
        PolicyType::AlwaysSample | PolicyType::SpanCount => {
            let c = &policy.span_count;
            if policy.kind == PolicyType::SpanCount && c.max_spans != 0 && c.max_spans < c.min_spans
            {
                report(
                    "span_count.max_spans",
                    format!(
                        "max_spans ({}) is below min_spans ({})",
                        c.max_spans, c.min_spans
                    ),
                );
            }
        }
        PolicyType::Latency => {
            let c = &policy.latency;
            if c.threshold_ms < 0 || c.upper_threshold_ms < 0 {
                report("latency", "latency thresholds cannot be negative".into());
            }
            if c.upper_threshold_ms != 0 && c.upper_threshold_ms < c.threshold_ms {
                report(
                    "latency.upper_threshold_ms",
                    format!(
                        "upper_threshold_ms ({}) is below threshold_ms ({})",
                        c.upper_threshold_ms, c.threshold_ms
                    ),
                );
            }
        }
        PolicyType::NumericAttribute => {
            let c = &policy.numeric_attribute;
            if c.key.is_empty() {
                report(
                    "numeric_attribute.key",
                    "numeric_attribute needs a key".into(),
                );
            }
            if c.min_value == 0 && c.max_value == 0 {
                report(
                    "numeric_attribute",
                    "numeric_attribute needs min_value or max_value (0 means no bound)".into(),
                );
            }
            if c.min_value != 0 && c.max_value != 0 && c.min_value > c.max_value {
                report(
                    "numeric_attribute.max_value",
                    format!(
                        "max_value ({}) is below min_value ({})",
                        c.max_value, c.min_value
                    ),
                );
            }
        }
        PolicyType::Probabilistic => {
            let p = policy.probabilistic.sampling_percentage;
            if !p.is_finite() || p < 0.0 {
                report(
                    "probabilistic.sampling_percentage",
                    format!("sampling_percentage must be a percentage from 0 to 100, not {p}"),
                );
            }
        }
        PolicyType::StatusCode => {
            let codes = &policy.status_code.status_codes;
            if codes.is_empty() {
                report(
                    "status_code.status_codes",
                    "status_code needs at least one status code (OK, ERROR, UNSET)".into(),
                );
            }
            for (i, code) in codes.iter().enumerate() {
                if status_code(code).is_none() {
                    report(
                        &format!("status_code.status_codes.{i}"),
                        format!("unknown status code `{code}`; supported: OK, ERROR, UNSET"),
                    );
                }
            }
        }
        PolicyType::StringAttribute => {
            let c = &policy.string_attribute;
            if c.key.is_empty() {
                report(
                    "string_attribute.key",
                    "string_attribute needs a key".into(),
                );
            }
            if c.enabled_regex_matching {
                for (i, value) in c.values.iter().enumerate() {
                    if let Err(e) = regex::Regex::new(value) {
                        report(
                            &format!("string_attribute.values.{i}"),
                            format!("invalid regular expression `{value}`: {e}"),
                        );
                    }
                }
            }
        }
        PolicyType::RateLimiting => {
            let c = &policy.rate_limiting;
            if c.spans_per_second <= 0 {
                report(
                    "rate_limiting.spans_per_second",
                    format!(
                        "spans_per_second must be positive, not {}",
                        c.spans_per_second
                    ),
                );
            }
            if c.burst_capacity < 0 {
                report(
                    "rate_limiting.burst_capacity",
                    "burst_capacity cannot be negative (0 means twice spans_per_second)".into(),
                );
            }
        }
        PolicyType::TraceState => {
            if policy.trace_state.key.is_empty() {
                report("trace_state.key", "trace_state needs a key".into());
            }
        }
        PolicyType::BooleanAttribute => {
            if policy.boolean_attribute.key.is_empty() {
                report(
                    "boolean_attribute.key",
                    "boolean_attribute needs a key".into(),
                );
            }
        }
        PolicyType::OttlCondition => {
            let c = &policy.ottl_condition;
            if c.span.is_empty() && c.spanevent.is_empty() {
                report(
                    "ottl_condition",
                    "ottl_condition needs at least one `span` or `spanevent` condition".into(),
                );
            }
            for (key, texts, context) in [
                ("span", &c.span, weir_ottl::Context::Span),
                ("spanevent", &c.spanevent, weir_ottl::Context::SpanEvent),
            ] {
                for (i, text) in texts.iter().enumerate() {
                    if let Err(e) = weir_ottl::Condition::compile(text, context) {
                        report(&format!("ottl_condition.{key}.{i}"), e.to_string());
                    }
                }
            }
        }
        PolicyType::And => {
            if level == Level::And {
                report("type", "an and_sub_policy cannot itself be `and`".into());
                return;
            }
            let subs = &policy.and.and_sub_policy;
            if subs.is_empty() {
                report(
                    "and.and_sub_policy",
                    "an `and` policy needs sub-policies".into(),
                );
            }
            for (i, sub) in subs.iter().enumerate() {
                let mut sub_path = path.to_vec();
                sub_path.extend(["and".into(), "and_sub_policy".into(), i.to_string()]);
                check_policy(sub, Level::And, &sub_path, out);
            }
        }
        PolicyType::Composite => {
            if level != Level::Top {
                report(
                    "type",
                    "a `composite` policy can only be at the top level".into(),
                );
                return;
            }
            check_composite(&policy.composite, path, out);
        }
    }
}

fn check_composite(c: &CompositeConfig, path: &[String], out: &mut Vec<ComponentProblem>) {
    if c.max_total_spans_per_second <= 0 {
        out.push(owned_problem(
            path,
            "composite.max_total_spans_per_second",
            "max_total_spans_per_second must be positive".into(),
        ));
    }
    if c.composite_sub_policy.is_empty() {
        out.push(owned_problem(
            path,
            "composite.composite_sub_policy",
            "a `composite` policy needs sub-policies".into(),
        ));
    }
    let names: HashSet<&str> = c
        .composite_sub_policy
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    for (i, sub) in c.composite_sub_policy.iter().enumerate() {
        let mut sub_path = path.to_vec();
        sub_path.extend([
            "composite".into(),
            "composite_sub_policy".into(),
            i.to_string(),
        ]);
        check_policy(sub, Level::Composite, &sub_path, out);
    }
    for (i, name) in c.policy_order.iter().enumerate() {
        if !names.contains(name.as_str()) {
            out.push(owned_problem(
                path,
                &format!("composite.policy_order.{i}"),
                format!("`{name}` is not one of the composite_sub_policy names"),
            ));
        }
    }
    let mut total = 0;
    for (i, allocation) in c.rate_allocation.iter().enumerate() {
        if !names.contains(allocation.policy.as_str()) {
            out.push(owned_problem(
                path,
                &format!("composite.rate_allocation.{i}.policy"),
                format!(
                    "`{}` is not one of the composite_sub_policy names",
                    allocation.policy
                ),
            ));
        }
        if !(0..=100).contains(&allocation.percent) {
            out.push(owned_problem(
                path,
                &format!("composite.rate_allocation.{i}.percent"),
                format!("percent must be from 0 to 100, not {}", allocation.percent),
            ));
        }
        total += allocation.percent.max(0);
    }
    if total > 100 {
        out.push(owned_problem(
            path,
            "composite.rate_allocation",
            format!("the rate allocations add up to {total}%, more than 100%"),
        ));
    }
}

/// A configured status code name as its OTLP number.
pub fn status_code(name: &str) -> Option<i32> {
    match name {
        "UNSET" => Some(0),
        "OK" => Some(1),
        "ERROR" => Some(2),
        _ => None,
    }
}
