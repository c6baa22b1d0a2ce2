//! The state of one series during one interval, how a line updates it, and how the
//! states of the same series from several readers merge at the end of the interval.
//!
//! Every reader owns its states, so the hot path takes no lock shared with other
//! readers; merging happens once per interval. Merges are exact for counters, sets and
//! histograms (count, sum, min, max). For gauges, the set with the latest arrival wins
//! and changes (`+n`/`-n`) from readers that saw no set in the interval are added on top:
//! exact for a single client, whose datagrams always reach the same reader.

use std::collections::HashSet;
use std::hash::BuildHasher;

use crate::config::Observer;
use crate::exphist::ExpHistogram;
use crate::line::{MetricLine, MetricType};

/// Summaries keep raw samples to compute exact quantiles; past this many per series and
/// reader in one interval, further samples still count in count/sum/min/max but not in
/// the quantiles (README "Limits").
pub const MAX_SUMMARY_SAMPLES: usize = 10_000;

type FastSet = HashSet<u64, foldhash::fast::FixedState>;

/// One series in one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub state: State,
    /// The latest DogStatsD `T` timestamp seen (seconds), which becomes the point time.
    pub timestamp: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum State {
    /// The sum of increments, each divided by its sample rate.
    Counter(f64),
    Gauge(GaugeState),
    /// Hashes of the distinct members (64-bit, so collisions are negligible).
    Set(FastSet),
    /// Timers, histograms and distributions.
    Observed(Observations),
}

/// A gauge's interval: the last absolute value (with the changes after it folded in)
/// and when it arrived, or only the sum of changes when no absolute value came.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GaugeState {
    pub set: Option<(f64, u64)>,
    pub delta: f64,
}

impl GaugeState {
    /// The value at the end of the interval, given the value before it.
    pub fn resolve(&self, previous: Option<f64>) -> f64 {
        match self.set {
            Some((value, _)) => value,
            None => previous.unwrap_or(0.0) + self.delta,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Observations {
    /// The last observation (observer `gauge`).
    Last {
        value: f64,
        seq: u64,
    },
    Summary(SummaryState),
    Exponential(ExpHistogram),
    Explicit(ExplicitState),
}

/// Moments shared by summaries and explicit histograms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    fn record(&mut self, value: f64, weight: u64) {
        self.count += weight;
        self.sum += value * weight as f64;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &Moments) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummaryState {
    pub moments: Moments,
    /// (value, weight) samples, at most [`MAX_SUMMARY_SAMPLES`] per reader.
    pub samples: Vec<(f64, u64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExplicitState {
    pub moments: Moments,
    /// One count per bound plus the overflow bucket.
    pub counts: Vec<u64>,
}

impl Series {
    /// An empty series of `kind`; `observer` applies to timers, histograms, distributions.
    pub fn new(kind: MetricType, observer: &Observer) -> Self {
        let state = match kind {
            MetricType::Counter => State::Counter(0.0),
            MetricType::Gauge => State::Gauge(GaugeState::default()),
            MetricType::Set => State::Set(FastSet::default()),
            _ => State::Observed(match observer {
                Observer::Gauge | Observer::Disabled => Observations::Last { value: 0.0, seq: 0 },
                Observer::Summary { .. } => Observations::Summary(SummaryState::default()),
                Observer::Exponential { max_size } => {
                    Observations::Exponential(ExpHistogram::new(*max_size))
                }
                Observer::Explicit { bounds } => Observations::Explicit(ExplicitState {
                    moments: Moments::default(),
                    counts: vec![0; bounds.len() + 1],
                }),
            }),
        };
        Self {
            state,
            timestamp: None,
        }
    }

    /// Applies one parsed line. `seq` orders arrivals within this reader (for gauges);
    /// `bounds` are the explicit histogram bounds when that observer is configured.
    pub fn apply(&mut self, line: &MetricLine<'_>, seq: u64, bounds: &[f64]) {
        if let Some(ts) = line.timestamp {
            self.timestamp = Some(self.timestamp.map_or(ts, |t| t.max(ts)));
        }
        let rate = line.sample_rate;
        match &mut self.state {
            State::Counter(sum) => {
                for value in line.values() {
                    *sum += value.number / rate;
                }
            }
            State::Gauge(gauge) => {
                for value in line.values() {
                    if !value.signed {
                        *gauge = GaugeState {
                            set: Some((value.number, seq)),
                            delta: 0.0,
                        };
                    } else if let Some((current, _)) = &mut gauge.set {
                        *current += value.number;
                    } else {
                        gauge.delta += value.number;
                    }
                }
            }
            State::Set(members) => {
                members
                    .insert(foldhash::fast::FixedState::with_seed(0).hash_one(line.set_member()));
            }
            State::Observed(observations) => {
                let weight = weight(rate);
                for value in line.values() {
                    observations.record(value.number, weight, seq, bounds);
                }
            }
        }
    }

    /// Adds the same series' state from another reader.
    pub fn merge(&mut self, other: Series) {
        if let Some(ts) = other.timestamp {
            self.timestamp = Some(self.timestamp.map_or(ts, |t| t.max(ts)));
        }
        match (&mut self.state, other.state) {
            (State::Counter(a), State::Counter(b)) => *a += b,
            (State::Gauge(a), State::Gauge(b)) => merge_gauges(a, b),
            (State::Set(a), State::Set(b)) => a.extend(b),
            (State::Observed(a), State::Observed(b)) => a.merge(b),
            // Same key means same type and observer; nothing else can meet here.
            _ => {}
        }
    }
}

/// The largest count one observation stands for. Without a cap, a rate such as `@1e-30`
/// would weigh `u64::MAX` and overflow the histogram counts it is added to (found by
/// fuzzing); 2^32 keeps any realistic interval's sums far below the u64 range.
pub const MAX_WEIGHT: u64 = 1 << 32;

/// The integer count an observation stands for: 1/rate, rounded, at most [`MAX_WEIGHT`]
/// (README "Limits").
pub fn weight(rate: f64) -> u64 {
    (1.0 / rate).round().clamp(1.0, MAX_WEIGHT as f64) as u64
}

fn merge_gauges(a: &mut GaugeState, b: GaugeState) {
    *a = match (a.set, b.set) {
        (Some(x), Some(y)) => GaugeState {
            set: Some(if y.1 > x.1 { y } else { x }),
            delta: 0.0,
        },
        (Some((value, seq)), None) => GaugeState {
            set: Some((value + b.delta, seq)),
            delta: 0.0,
        },
        (None, Some((value, seq))) => GaugeState {
            set: Some((value + a.delta, seq)),
            delta: 0.0,
        },
        (None, None) => GaugeState {
            set: None,
            delta: a.delta + b.delta,
        },
    };
}

impl Observations {
    fn record(&mut self, value: f64, weight: u64, seq: u64, bounds: &[f64]) {
        match self {
            Observations::Last {
                value: last,
                seq: at,
            } => {
                *last = value;
                *at = seq;
            }
            Observations::Summary(summary) => {
                summary.moments.record(value, weight);
                if summary.samples.len() < MAX_SUMMARY_SAMPLES {
                    summary.samples.push((value, weight));
                }
            }
            Observations::Exponential(histogram) => histogram.record(value, weight),
            Observations::Explicit(explicit) => {
                explicit.moments.record(value, weight);
                let bucket = bounds.partition_point(|bound| *bound < value);
                if let Some(count) = explicit.counts.get_mut(bucket) {
                    *count += weight;
                }
            }
        }
    }

    fn merge(&mut self, other: Observations) {
        match (self, other) {
            (Observations::Last { value, seq }, Observations::Last { value: v, seq: s })
                if s > *seq =>
            {
                *value = v;
                *seq = s;
            }
            (Observations::Summary(a), Observations::Summary(b)) => {
                a.moments.merge(&b.moments);
                a.samples.extend(b.samples);
            }
            (Observations::Exponential(a), Observations::Exponential(b)) => a.merge(&b),
            (Observations::Explicit(a), Observations::Explicit(b)) => {
                a.moments.merge(&b.moments);
                for (x, y) in a.counts.iter_mut().zip(b.counts) {
                    *x += y;
                }
            }
            _ => {}
        }
    }
}

/// Weighted quantile `q` in [0, 1] of `samples` (sorted in place): the smallest value
/// whose cumulative weight reaches `q` of the total; 0 gives the minimum, 1 the maximum.
pub fn quantile(samples: &mut [(f64, u64)], q: f64) -> f64 {
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = samples.iter().map(|s| s.1).sum();
    if samples.is_empty() || total == 0 {
        return 0.0;
    }
    if q <= 0.0 {
        return samples[0].0;
    }
    let target = q * total as f64;
    let mut cumulative = 0u64;
    for &(value, weight) in samples.iter() {
        cumulative += weight;
        if cumulative as f64 >= target {
            return value;
        }
    }
    samples[samples.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::{parse_line, Line, ParseOptions};

    fn apply(series: &mut Series, line: &str, seq: u64) {
        let Ok(Some(Line::Metric(m))) = parse_line(line, &ParseOptions::default()) else {
            panic!("{line}")
        };
        series.apply(&m, seq, &[1.0, 10.0]);
    }

    #[test]
    fn gauge_changes_fold_into_the_last_set() {
        let mut g = Series::new(MetricType::Gauge, &Observer::Gauge);
        for (i, line) in ["g:333|g", "g:-10|g", "g:+4|g"].into_iter().enumerate() {
            apply(&mut g, line, i as u64);
        }
        let State::Gauge(state) = g.state else {
            panic!()
        };
        assert_eq!(state.resolve(Some(1.0)), 327.0);

        let mut only_changes = Series::new(MetricType::Gauge, &Observer::Gauge);
        apply(&mut only_changes, "g:+5|g", 0);
        let State::Gauge(state) = only_changes.state else {
            panic!()
        };
        assert_eq!(state.resolve(Some(10.0)), 15.0);
    }

    #[test]
    fn gauge_merge_latest_set_wins_and_changes_add() {
        let mut a = GaugeState {
            set: Some((5.0, 1)),
            delta: 0.0,
        };
        merge_gauges(
            &mut a,
            GaugeState {
                set: Some((7.0, 2)),
                delta: 0.0,
            },
        );
        assert_eq!(a.resolve(None), 7.0);
        merge_gauges(
            &mut a,
            GaugeState {
                set: None,
                delta: -2.0,
            },
        );
        assert_eq!(a.resolve(None), 5.0);
    }

    #[test]
    fn explicit_buckets_are_upper_inclusive() {
        let observer = Observer::Explicit {
            bounds: vec![1.0, 10.0],
        };
        let mut h = Series::new(MetricType::Histogram, &observer);
        for line in ["h:1|h", "h:1.5|h|@0.5", "h:10|h", "h:11|h"] {
            apply(&mut h, line, 0);
        }
        let State::Observed(Observations::Explicit(e)) = h.state else {
            panic!()
        };
        assert_eq!(e.counts, vec![1, 3, 1]);
        assert_eq!(e.moments.count, 5);
        assert_eq!(e.moments.sum, 1.0 + 3.0 + 10.0 + 11.0);
    }

    #[test]
    fn weighted_quantiles() {
        let mut samples = vec![(3.0, 1), (1.0, 1), (2.0, 2)];
        assert_eq!(quantile(&mut samples, 0.0), 1.0);
        assert_eq!(quantile(&mut samples, 0.5), 2.0);
        assert_eq!(quantile(&mut samples, 1.0), 3.0);
    }
}
