//! Compiled policies and how their decisions combine, as the Collector defines them.
//!
//! Each policy returns one of the Collector's decisions. The final decision
//! (`decide`): an `InvertNotSampled` anywhere means not sampled; otherwise any `Sampled`
//! means sampled; otherwise an `InvertSampled` with no `NotSampled` means sampled;
//! otherwise not sampled. Inside `and` and `composite` inverted decisions count as plain
//! ones. Stateful policies (`rate_limiting`, `composite`) take the time from the caller,
//! so tests drive them with a clock of their own.

use std::time::Instant;

use foldhash::HashSet;
use weir_ottl::{ConditionSet, Context, ErrorMode};

use crate::config::{PolicyConfig, PolicyType};
use crate::facts::{Facts, Leaf, StringMatcher, ERRORED, MATCHED};

/// A policy's verdict on one trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    InvertSampled,
    InvertNotSampled,
    /// The policy could not decide (an OTTL condition failed with `propagate`).
    Error,
}

impl Decision {
    /// The Collector's `sampled` and `decision` metric labels.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::Sampled | Self::InvertSampled => ("true", "sampled"),
            Self::NotSampled | Self::InvertNotSampled | Self::Error => ("false", "not_sampled"),
        }
    }
}

/// A trace as the policies see it.
#[derive(Clone, Copy, Debug)]
pub struct TraceView<'a> {
    pub id: &'a [u8; 16],
    pub facts: &'a Facts,
}

/// The token bucket of `golang.org/x/time/rate`, which the Collector's `rate_limiting`
/// uses: refills continuously, starts full, refuses a request larger than the bucket.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: None,
        }
    }

    pub fn allow(&mut self, now: Instant, n: f64) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.last = Some(self.last.map_or(now, |last| last.max(now)));
        if n > self.burst || self.tokens < n {
            return false;
        }
        self.tokens -= n;
        true
    }
}

/// One sub-policy of a composite with its spans-per-second allocation.
#[derive(Debug)]
pub struct SubPolicy {
    pub policy: Policy,
    pub allocated: i64,
    pub sampled_this_second: i64,
}

/// A compiled policy.
#[derive(Debug)]
pub enum Policy {
    AlwaysSample,
    Latency {
        threshold_ms: i64,
        upper_ms: i64,
    },
    Probabilistic {
        salt: Vec<u8>,
        threshold: u64,
    },
    /// A leaf predicate (status code, attribute, trace state, OTTL) by index.
    Leaf {
        index: usize,
        invert: bool,
    },
    RateLimiting(TokenBucket),
    SpanCount {
        min: i64,
        max: i64,
    },
    And(Vec<Policy>),
    Composite {
        max_total: i64,
        subs: Vec<SubPolicy>,
        /// The second (since `epoch`) the counters are for.
        second: u64,
    },
}

/// Everything `decide` needs besides the trace: the clock.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub instant: Instant,
    /// Seconds since the processor started: the composite policy's one-second windows.
    pub second: u64,
}

impl Policy {
    pub fn evaluate(&mut self, trace: TraceView<'_>, now: Now) -> Decision {
        let facts = trace.facts;
        match self {
            Self::AlwaysSample => Decision::Sampled,
            Self::Latency {
                threshold_ms,
                upper_ms,
            } => {
                let d = facts.duration_ms();
                let hit = if *upper_ms == 0 {
                    d >= *threshold_ms
                } else {
                    *threshold_ms < d && d <= *upper_ms
                };
                sampled_if(hit)
            }
            Self::Probabilistic { salt, threshold } => {
                sampled_if(fnv1a64(salt, trace.id) <= *threshold)
            }
            Self::Leaf { index, invert } => {
                let state = facts.leaves.get(*index).copied().unwrap_or(0);
                match (state, *invert) {
                    (ERRORED, _) => Decision::Error,
                    (MATCHED, false) => Decision::Sampled,
                    (_, false) => Decision::NotSampled,
                    (MATCHED, true) => Decision::InvertNotSampled,
                    (_, true) => Decision::InvertSampled,
                }
            }
            Self::RateLimiting(bucket) => {
                sampled_if(bucket.allow(now.instant, facts.span_count as f64))
            }
            Self::SpanCount { min, max } => {
                let n = facts.span_count as i64;
                sampled_if(n >= *min && (*max == 0 || n <= *max))
            }
            Self::And(subs) => {
                for sub in subs {
                    match sub.evaluate(trace, now) {
                        Decision::Error => return Decision::Error,
                        Decision::NotSampled | Decision::InvertNotSampled => {
                            return Decision::NotSampled
                        }
                        _ => {}
                    }
                }
                Decision::Sampled
            }
            Self::Composite {
                max_total,
                subs,
                second,
            } => {
                if *second != now.second {
                    *second = now.second;
                    for sub in subs.iter_mut() {
                        sub.sampled_this_second = 0;
                    }
                }
                let spans = facts.span_count as i64;
                for sub in subs.iter_mut() {
                    match sub.policy.evaluate(trace, now) {
                        Decision::Error => return Decision::Error,
                        Decision::Sampled | Decision::InvertSampled => {
                            let if_sampled = sub.sampled_this_second + spans;
                            // As in the Collector: each sub-policy is checked against its
                            // own allocation and against the total on its own.
                            if if_sampled <= sub.allocated && if_sampled <= *max_total {
                                sub.sampled_this_second = if_sampled;
                                return Decision::Sampled;
                            }
                            return Decision::NotSampled;
                        }
                        _ => {}
                    }
                }
                Decision::NotSampled
            }
        }
    }
}

fn sampled_if(hit: bool) -> Decision {
    if hit {
        Decision::Sampled
    } else {
        Decision::NotSampled
    }
}

/// 64-bit FNV-1a of `salt ++ trace id`: the Collector's `hashTraceID`.
pub fn fnv1a64(salt: &[u8], id: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    salt.iter()
        .chain(id)
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// `ratio × (2^64 - 1)`, truncated: the Collector's `calculateThreshold`.
pub fn probability_threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    if ratio >= 1.0 {
        return u64::MAX;
    }
    // ratio = mantissa × 2^exponent exactly; multiply in 128 bits and shift.
    let bits = ratio.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    let (mantissa, exp) = if raw_exp == 0 {
        (bits & ((1 << 52) - 1), -1074)
    } else {
        ((bits & ((1 << 52) - 1)) | (1 << 52), raw_exp - 1075)
    };
    let product = u128::from(mantissa) * u128::from(u64::MAX);
    let shift = (-exp) as u32;
    if shift >= 128 {
        return 0;
    }
    (product >> shift) as u64
}

/// The top-level policies, compiled, with their leaves.
#[derive(Debug)]
pub struct Policies {
    pub top: Vec<(String, Policy)>,
    pub leaves: Vec<Leaf>,
}

/// A configured policy that cannot be compiled (validation reports these first).
#[derive(Debug)]
pub struct CompileError(pub String);

impl Policies {
    pub fn compile(configs: &[PolicyConfig], now: Instant) -> Result<Self, CompileError> {
        let mut leaves = Vec::new();
        let mut top = Vec::with_capacity(configs.len());
        for config in configs {
            let policy = compile_policy(config, &mut leaves, now)?;
            top.push((config.name.clone(), policy));
        }
        Ok(Self { top, leaves })
    }
}

fn compile_policy(
    config: &PolicyConfig,
    leaves: &mut Vec<Leaf>,
    now: Instant,
) -> Result<Policy, CompileError> {
    let _ = now;
    let mut leaf = |leaf: Leaf, invert: bool| {
        leaves.push(leaf);
        Policy::Leaf {
            index: leaves.len() - 1,
            invert,
        }
    };
    let err = |m: String| CompileError(format!("policy `{}`: {m}", config.name));
    Ok(match config.kind {
        PolicyType::Unset => return Err(err("no type".into())),
        PolicyType::AlwaysSample => Policy::AlwaysSample,
        PolicyType::Latency => Policy::Latency {
            threshold_ms: config.latency.threshold_ms,
            upper_ms: config.latency.upper_threshold_ms,
        },
        PolicyType::Probabilistic => {
            let c = &config.probabilistic;
            let salt = if c.hash_salt.is_empty() {
                "default-hash-seed"
            } else {
                c.hash_salt.as_str()
            };
            Policy::Probabilistic {
                salt: salt.as_bytes().to_vec(),
                threshold: probability_threshold(c.sampling_percentage / 100.0),
            }
        }
        PolicyType::StatusCode => {
            let codes = config
                .status_code
                .status_codes
                .iter()
                .map(|c| {
                    crate::config::status_code(c).ok_or_else(|| err(format!("status code {c}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            leaf(Leaf::Status(codes), false)
        }
        PolicyType::StringAttribute => {
            let c = &config.string_attribute;
            let matcher = if c.enabled_regex_matching {
                StringMatcher::Regex(
                    c.values
                        .iter()
                        .map(|v| regex::Regex::new(v).map_err(|e| err(e.to_string())))
                        .collect::<Result<_, _>>()?,
                )
            } else {
                StringMatcher::Exact(c.values.iter().filter(|v| !v.is_empty()).cloned().collect())
            };
            leaf(
                Leaf::String {
                    key: c.key.clone(),
                    matcher,
                },
                c.invert_match,
            )
        }
        PolicyType::NumericAttribute => {
            let c = &config.numeric_attribute;
            let min = if c.min_value == 0 {
                i64::MIN
            } else {
                c.min_value
            };
            let max = if c.max_value == 0 {
                i64::MAX
            } else {
                c.max_value
            };
            leaf(
                Leaf::Numeric {
                    key: c.key.clone(),
                    min,
                    max,
                },
                c.invert_match,
            )
        }
        PolicyType::BooleanAttribute => {
            let c = &config.boolean_attribute;
            leaf(
                Leaf::Boolean {
                    key: c.key.clone(),
                    value: c.value,
                },
                c.invert_match,
            )
        }
        PolicyType::TraceState => {
            let c = &config.trace_state;
            let values: HashSet<String> = c
                .values
                .iter()
                .filter(|v| !v.is_empty() && c.key.len() + v.len() < 256)
                .cloned()
                .collect();
            leaf(
                Leaf::TraceState {
                    key: c.key.clone(),
                    values,
                },
                false,
            )
        }
        PolicyType::OttlCondition => {
            let c = &config.ottl_condition;
            let span = ConditionSet::compile(&c.span, Context::Span)
                .map_err(|(i, e)| err(format!("span[{i}]: {e}")))?;
            let event = ConditionSet::compile(&c.spanevent, Context::SpanEvent)
                .map_err(|(i, e)| err(format!("spanevent[{i}]: {e}")))?;
            leaf(
                Leaf::Ottl {
                    span,
                    event,
                    mode: c.error_mode.unwrap_or(ErrorMode::Propagate),
                },
                false,
            )
        }
        PolicyType::RateLimiting => {
            let c = &config.rate_limiting;
            let burst = if c.burst_capacity > 0 {
                c.burst_capacity
            } else {
                c.spans_per_second.saturating_mul(2)
            };
            Policy::RateLimiting(TokenBucket::new(c.spans_per_second as f64, burst as f64))
        }
        PolicyType::SpanCount => Policy::SpanCount {
            min: i64::from(config.span_count.min_spans),
            max: i64::from(config.span_count.max_spans),
        },
        PolicyType::And => Policy::And(
            config
                .and
                .and_sub_policy
                .iter()
                .map(|sub| compile_policy(sub, leaves, now))
                .collect::<Result<_, _>>()?,
        ),
        PolicyType::Composite => {
            let c = &config.composite;
            let total = c.max_total_spans_per_second as f64;
            let default = total / c.composite_sub_policy.len().max(1) as f64;
            let allocation = |name: &str| {
                c.rate_allocation
                    .iter()
                    .rev()
                    .find(|a| a.policy == name)
                    .map_or(0.0, |a| {
                        if a.percent > 0 {
                            a.percent as f64 / 100.0 * total
                        } else {
                            default
                        }
                    })
            };
            let subs = c
                .composite_sub_policy
                .iter()
                .map(|sub| {
                    Ok(SubPolicy {
                        policy: compile_policy(sub, leaves, now)?,
                        allocated: allocation(&sub.name) as i64,
                        sampled_this_second: 0,
                    })
                })
                .collect::<Result<_, CompileError>>()?;
            Policy::Composite {
                max_total: c.max_total_spans_per_second,
                subs,
                second: u64::MAX,
            }
        }
    })
}

/// Combines the top-level decisions into the final one (see the module docs).
pub fn combine(decisions: &[Decision]) -> bool {
    let has = |d: Decision| decisions.contains(&d);
    if has(Decision::InvertNotSampled) {
        return false;
    }
    has(Decision::Sampled) || (has(Decision::InvertSampled) && !has(Decision::NotSampled))
}

/// Seconds between `epoch` and `now` (0 before `epoch`).
pub fn seconds_since(epoch: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(epoch).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn fnv1a64_reference_vectors() {
        assert_eq!(fnv1a64(b"", b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"", b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foo", b"bar"), fnv1a64(b"", b"foobar"));
    }

    #[test]
    fn thresholds_scale_the_full_range() {
        assert_eq!(probability_threshold(0.0), 0);
        assert_eq!(probability_threshold(1.0), u64::MAX);
        assert_eq!(probability_threshold(0.5), u64::MAX / 2);
        let tenth = probability_threshold(0.1) as f64 / u64::MAX as f64;
        assert!((tenth - 0.1).abs() < 1e-12);
    }

    #[test]
    fn combine_follows_the_collector() {
        use Decision::*;
        assert!(combine(&[Sampled, NotSampled]));
        assert!(!combine(&[Sampled, InvertNotSampled]));
        assert!(combine(&[InvertSampled]));
        assert!(!combine(&[InvertSampled, NotSampled]));
        assert!(combine(&[InvertSampled, NotSampled, Sampled]));
        assert!(!combine(&[Error]));
        assert!(!combine(&[]));
    }

    #[test]
    fn token_bucket_refills_continuously_and_refuses_oversized_requests() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 20.0);
        assert!(bucket.allow(t0, 20.0));
        assert!(!bucket.allow(t0, 1.0));
        assert!(bucket.allow(t0 + ms(100), 1.0));
        assert!(!bucket.allow(t0 + ms(100), 1.0));
        assert!(!bucket.allow(t0 + ms(100_000), 21.0));
        assert!(bucket.allow(t0 + ms(100_000), 20.0));
    }
}
