//! The sampling decision for one span or log record, shared by both signals.
//!
//! The steps are the Collector's (`commonShouldSampleLogic`): find the item's
//! randomness and any sampling state it carries; if that fails, or the arriving
//! threshold contradicts the randomness, the decision is `fail_closed`'s; otherwise the
//! mode picks a threshold. A priority attribute may then override the threshold, the
//! item is kept when randomness ≥ threshold, and a kept item has its new threshold (and
//! randomness, in `hash_seed` mode) written back so later stages can count it.

use crate::config::{Mode, SamplerConfig};
use crate::hash::seeded_hash;
use crate::threshold::{Randomness, Threshold, MIN_SAMPLING_PROBABILITY};

/// Buckets of the `hash_seed` mode: 14 bits, as in the Collector.
const NUM_HASH_BUCKETS_LG2: u32 = 14;
const NUM_HASH_BUCKETS: u64 = 1 << NUM_HASH_BUCKETS_LG2;
const BIT_MASK_HASH_BUCKETS: u32 = (1 << NUM_HASH_BUCKETS_LG2) - 1;
/// The Collector multiplies in 32-bit floating point; so does Weir, for the same cut.
const PERCENTAGE_SCALE_FACTOR: f32 = 163.84;

/// Where an item's randomness came from: the `policy` label of the sampled counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    TraceIdHash,
    TraceIdW3c,
    SamplingRandomness,
    SamplingPriority,
    MissingRandomness,
    /// Hashed from the `from_attribute` log attribute (the label is its name).
    Attribute,
}

impl Policy {
    pub const ALL: [Policy; 6] = [
        Policy::TraceIdHash,
        Policy::TraceIdW3c,
        Policy::SamplingRandomness,
        Policy::SamplingPriority,
        Policy::MissingRandomness,
        Policy::Attribute,
    ];

    /// The Collector's label value (`Attribute` is labelled with the attribute name).
    pub fn label(self) -> &'static str {
        match self {
            Policy::TraceIdHash => "trace_id_hash",
            Policy::TraceIdW3c => "trace_id_w3c",
            Policy::SamplingRandomness => "sampling_randomness",
            Policy::SamplingPriority => "sampling_priority",
            Policy::MissingRandomness => "missing_randomness",
            Policy::Attribute => "attribute",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// An item's randomness and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rnd {
    pub value: Randomness,
    pub policy: Policy,
}

impl Rnd {
    pub const MISSING: Rnd = Rnd {
        value: Randomness::ALL_PROBABILITIES,
        policy: Policy::MissingRandomness,
    };

    pub fn is_missing(self) -> bool {
        self.policy == Policy::MissingRandomness
    }
}

/// The sampling state an item carries: `rv`/`th` in the tracestate of a span, the
/// `sampling.randomness`/`sampling.threshold` attributes of a log record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Carried {
    pub randomness: Option<Randomness>,
    pub threshold: Option<Threshold>,
    /// Set when a kept item's threshold was (re)written and must be re-encoded.
    pub threshold_updated: bool,
}

impl Carried {
    /// Records the threshold a kept item was sampled at. Lowering an arriving threshold
    /// would raise the item's probability, which is illogical: it is left as it was.
    fn update_threshold(&mut self, threshold: Threshold) {
        match self.threshold {
            Some(existing) if threshold < existing => {
                tracing::debug!("cannot raise an arriving sampling probability; threshold kept");
            }
            _ => {
                self.threshold = Some(threshold);
                self.threshold_updated = true;
            }
        }
    }
}

/// Why an item's randomness or sampling state could not be trusted. These send the
/// decision to `fail_closed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SampleError {
    MissingRandomness,
    RandomnessInUse,
    ThresholdInUse,
    InconsistentThreshold,
    Malformed(String),
}

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleError::MissingRandomness => f.write_str("missing randomness"),
            SampleError::RandomnessInUse => f.write_str(
                "item has sampling randomness, equalizing or proportional mode recommended",
            ),
            SampleError::ThresholdInUse => f.write_str(
                "item has sampling threshold, equalizing or proportional mode recommended",
            ),
            SampleError::InconsistentThreshold => {
                f.write_str("inconsistent arriving threshold: item should not have been sampled")
            }
            SampleError::Malformed(why) => write!(f, "malformed sampling state: {why}"),
        }
    }
}

/// What the signal-specific code found on an item.
#[derive(Debug)]
pub struct Extracted {
    pub rnd: Rnd,
    /// `None` when the item's sampling state must not be touched.
    pub carried: Option<Carried>,
    pub error: Option<SampleError>,
}

/// The outcome for one item.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    pub sampled: bool,
    pub policy: Policy,
    /// True when the item was dropped because of `fail_closed`.
    pub failed_closed: bool,
    /// The state to write back into a kept item (`None`: leave the item as it is).
    pub write_back: Option<Carried>,
}

/// The configured mode, ready to decide.
#[derive(Clone, Debug)]
pub enum Sampler {
    /// `sampling_percentage: 0`: nothing is kept except by priority.
    Never,
    Hash {
        seed: u32,
        threshold: Threshold,
    },
    Equalizing {
        threshold: Threshold,
    },
    Proportional {
        ratio: f64,
        precision: u8,
    },
}

/// A trace id usable as randomness: 16 bytes, not all zero.
pub fn valid_trace_id(trace_id: &[u8]) -> Option<&[u8; 16]> {
    let id: &[u8; 16] = trace_id.try_into().ok()?;
    id.iter().any(|b| *b != 0).then_some(id)
}

/// The Collector's `randomnessFromBytes`: spreads the 32-bit hash over 56 bits so
/// that "randomness ≥ threshold" is exactly the original "hash % 2^14 < scaled rate".
pub fn randomness_from_bytes(bytes: &[u8], seed: u32) -> Randomness {
    let hashed32 = seeded_hash(bytes, seed);
    let hashed = u64::from(hashed32 & BIT_MASK_HASH_BUCKETS);
    let rprime14 = NUM_HASH_BUCKETS - 1 - hashed;
    let unused18 = u64::from(hashed32 >> (32 - NUM_HASH_BUCKETS_LG2));
    let mixed28 = unused18 ^ (unused18 << 10);
    let rnd56 = (rprime14 << 42) | (mixed28 << 14) | hashed;
    Randomness::from_unsigned(rnd56).unwrap_or(Randomness::ALL_PROBABILITIES)
}

impl Sampler {
    /// The Collector's `makeSampler`.
    pub fn new(config: &SamplerConfig) -> Self {
        let percent = config.sampling_percentage.min(100.0);
        if percent <= 0.0 {
            return Sampler::Never;
        }
        let ratio = (f64::from(percent) / 100.0).max(MIN_SAMPLING_PROBABILITY);
        match config.effective_mode() {
            Mode::Equalizing => Sampler::Equalizing {
                threshold: Threshold::from_probability(ratio, config.sampling_precision)
                    .unwrap_or(Threshold::ALWAYS),
            },
            Mode::Proportional => Sampler::Proportional {
                ratio,
                precision: config.sampling_precision,
            },
            Mode::HashSeed | Mode::Unset => {
                // As the Collector: multiply in f32 and truncate.
                let scaled = (percent * PERCENTAGE_SCALE_FACTOR) as u64;
                if scaled == 0 {
                    return Sampler::Never;
                }
                let reject = NUM_HASH_BUCKETS.saturating_sub(scaled);
                Sampler::Hash {
                    seed: config.hash_seed,
                    threshold: Threshold::from_unsigned(reject << 42).unwrap_or(Threshold::ALWAYS),
                }
            }
        }
    }

    /// True for the OTEP 235 modes, which read randomness from `rv` or the trace id.
    pub fn is_consistent(&self) -> bool {
        matches!(
            self,
            Sampler::Equalizing { .. } | Sampler::Proportional { .. }
        )
    }

    /// The threshold the mode asks for, given the item's arriving state.
    fn threshold_for(&self, carried: Option<&Carried>) -> Threshold {
        let arriving = carried.and_then(|c| c.threshold);
        match self {
            Sampler::Never => Threshold::NEVER,
            Sampler::Hash { threshold, .. } => *threshold,
            Sampler::Equalizing { threshold } => match arriving {
                Some(arriving) if arriving > *threshold => arriving,
                _ => *threshold,
            },
            Sampler::Proportional { ratio, precision } => {
                let incoming = arriving.map_or(1.0, Threshold::probability);
                // Below the smallest expressible probability nothing is kept.
                Threshold::from_probability(incoming * ratio, *precision)
                    .unwrap_or(Threshold::NEVER)
            }
        }
    }

    /// Randomness for an item with this trace id and arriving state, for the
    /// trace-id-based paths (spans in every mode, log records in the OTEP 235 modes
    /// and in `hash_seed` mode with `attribute_source: traceID`).
    pub fn extract(
        &self,
        trace_id: &[u8],
        carried: Result<Carried, SampleError>,
        attribute: Option<&[u8]>,
    ) -> Extracted {
        match self {
            Sampler::Never => Extracted {
                rnd: Rnd {
                    value: Randomness::ALL_PROBABILITIES,
                    policy: Policy::SamplingPriority,
                },
                carried: carried.as_ref().ok().copied(),
                error: carried.err(),
            },
            Sampler::Hash { seed, .. } => {
                let mut rnd = match valid_trace_id(trace_id) {
                    Some(id) => Rnd {
                        value: randomness_from_bytes(id, *seed),
                        policy: Policy::TraceIdHash,
                    },
                    None => Rnd::MISSING,
                };
                if rnd.is_missing() {
                    if let Some(bytes) = attribute.filter(|b| !b.is_empty()) {
                        rnd = Rnd {
                            value: randomness_from_bytes(bytes, *seed),
                            policy: Policy::Attribute,
                        };
                    }
                }
                match carried {
                    Err(error) => Extracted {
                        rnd,
                        carried: None,
                        error: Some(error),
                    },
                    Ok(c) if c.randomness.is_some() => Extracted {
                        rnd,
                        carried: None,
                        error: Some(SampleError::RandomnessInUse),
                    },
                    Ok(c) if c.threshold.is_some() => Extracted {
                        rnd,
                        carried: None,
                        error: Some(SampleError::ThresholdInUse),
                    },
                    Ok(mut c) => {
                        c.randomness = Some(rnd.value);
                        Extracted {
                            rnd,
                            carried: Some(c),
                            error: None,
                        }
                    }
                }
            }
            Sampler::Equalizing { .. } | Sampler::Proportional { .. } => match carried {
                Err(error) => Extracted {
                    rnd: Rnd::MISSING,
                    carried: None,
                    error: Some(error),
                },
                Ok(c) => {
                    let rnd = match (c.randomness, valid_trace_id(trace_id)) {
                        (Some(value), _) => Rnd {
                            value,
                            policy: Policy::SamplingRandomness,
                        },
                        (None, Some(id)) => Rnd {
                            value: Randomness::from_trace_id(id),
                            policy: Policy::TraceIdW3c,
                        },
                        (None, None) => Rnd::MISSING,
                    };
                    Extracted {
                        rnd,
                        carried: Some(c),
                        error: None,
                    }
                }
            },
        }
    }

    /// Decides one item. `priority` may replace the policy and threshold (the traces
    /// and logs rules differ).
    pub fn decide(
        &self,
        extracted: Extracted,
        fail_closed: bool,
        priority: impl FnOnce(Rnd, Threshold) -> (Rnd, Threshold),
    ) -> Decision {
        let Extracted {
            rnd,
            mut carried,
            mut error,
        } = extracted;
        if error.is_none() {
            error = consistency_check(rnd, carried.as_mut());
        }
        let threshold = match &error {
            Some(why) => {
                tracing::debug!(error = %why, fail_closed, "probabilistic_sampler");
                if fail_closed {
                    Threshold::NEVER
                } else {
                    Threshold::ALWAYS
                }
            }
            None => self.threshold_for(carried.as_ref()),
        };
        let (rnd, threshold) = priority(rnd, threshold);
        let sampled = threshold.should_sample(rnd.value);
        let write_back = if sampled {
            carried.map(|mut c| {
                c.update_threshold(threshold);
                c
            })
        } else {
            None
        };
        Decision {
            sampled,
            policy: rnd.policy,
            failed_closed: !sampled
                && error.is_some()
                && fail_closed
                && rnd.policy != Policy::SamplingPriority,
            write_back,
        }
    }
}

/// Without randomness nothing can be checked; an arriving threshold the randomness
/// does not pass is a lie and is removed (the spec's advice).
fn consistency_check(rnd: Rnd, carried: Option<&mut Carried>) -> Option<SampleError> {
    if rnd.is_missing() {
        return Some(SampleError::MissingRandomness);
    }
    let carried = carried?;
    match carried.threshold {
        Some(arriving) if !arriving.should_sample(rnd.value) => {
            carried.threshold = None;
            Some(SampleError::InconsistentThreshold)
        }
        _ => None,
    }
}
