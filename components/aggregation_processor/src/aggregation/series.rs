//! One output series: what its inputs contributed in the current interval, the running
//! totals, and the points it emits at the end of an interval.

use weir_api::batch::build::AttributeList;
use weir_api::batch::view::NumberValue;
use weir_streams::{ExplicitHistogram, ExponentialHistogram};

use super::config::Output;
use crate::emit::{exponential_point, histogram_point, number_point, Point, Stamp};

/// A merged histogram of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Merged {
    Explicit(ExplicitHistogram),
    Exponential(ExponentialHistogram),
}

impl Merged {
    /// Adds `other`; `false` when the two cannot be merged (another kind or other
    /// bounds), and `self` is unchanged.
    pub fn add(&mut self, other: &Merged) -> bool {
        match (self, other) {
            (Merged::Explicit(a), Merged::Explicit(b)) => a.add(b).is_ok(),
            (Merged::Exponential(a), Merged::Exponential(b)) => {
                a.add(b);
                true
            }
            _ => false,
        }
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        match self {
            Merged::Explicit(h) => h.quantile(q),
            Merged::Exponential(h) => h.quantile(q),
        }
    }

    fn empty_like(&self) -> Merged {
        match self {
            Merged::Explicit(h) => Merged::Explicit(ExplicitHistogram::zero(h.bounds.clone())),
            Merged::Exponential(h) => Merged::Exponential(ExponentialHistogram::zero(h.scale)),
        }
    }
}

/// What an input contributes to an output series.
#[derive(Clone, Debug, PartialEq)]
pub enum Contribution {
    /// A number sample: its value, and its increase when it could be computed (counter
    /// semantics; `None` for the first sample of a series, which is its baseline).
    Number { value: f64, increase: Option<f64> },
    /// A histogram's increase since the input's previous point.
    Histogram(Merged),
}

/// The state of one output series.
#[derive(Debug)]
pub struct OutputSeries {
    pub rule: usize,
    pub names: std::sync::Arc<Vec<String>>,
    pub labels: AttributeList,
    pub monotonic: bool,
    /// When the series started (Unix nanoseconds): the start of its cumulative outputs.
    pub start: u64,
    // This interval.
    samples: u64,
    sum: f64,
    last: f64,
    min: f64,
    max: f64,
    values: Vec<f64>,
    increase: f64,
    increases: u64,
    histogram_interval: Option<Merged>,
    // Running.
    total: f64,
    counted: bool,
    histogram_total: Option<Merged>,
}

impl OutputSeries {
    pub fn new(
        rule: usize,
        names: std::sync::Arc<Vec<String>>,
        labels: AttributeList,
        monotonic: bool,
        start: u64,
    ) -> Self {
        Self {
            rule,
            names,
            labels,
            monotonic,
            start,
            samples: 0,
            sum: 0.0,
            last: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            values: Vec::new(),
            increase: 0.0,
            increases: 0,
            histogram_interval: None,
            total: 0.0,
            counted: false,
            histogram_total: None,
        }
    }

    /// Adds one input's contribution; `false` when a histogram could not be merged
    /// (its bounds or kind differ from the series' first).
    pub fn add(&mut self, c: Contribution, keep_values: bool) -> bool {
        match c {
            Contribution::Number { value, increase } => {
                self.samples += 1;
                self.sum += value;
                self.last = value;
                self.min = self.min.min(value);
                self.max = self.max.max(value);
                if keep_values {
                    self.values.push(value);
                }
                self.counted = true;
                if let Some(inc) = increase {
                    self.increase += inc;
                    self.increases += 1;
                    self.total += inc;
                }
                true
            }
            Contribution::Histogram(h) => {
                let total = self.histogram_total.get_or_insert_with(|| h.empty_like());
                if !total.add(&h) {
                    return false;
                }
                let interval = self
                    .histogram_interval
                    .get_or_insert_with(|| h.empty_like());
                if !interval.add(&h) {
                    *interval = h;
                }
                true
            }
        }
    }

    /// The interval's points, one per output, as `(name index, point)`; then the
    /// interval's state is cleared.
    pub fn emit(&mut self, outputs: &[Output], time: u64, mut push: impl FnMut(usize, Point)) {
        let at = Stamp {
            start: 0,
            time,
            flags: 0,
        };
        let cumulative = Stamp {
            start: self.start,
            ..at
        };
        let gauge = |v: f64| NumberValue::Double(v);
        for (i, output) in outputs.iter().enumerate() {
            let labels = || self.labels.clone();
            match output {
                Output::Total if self.counted => {
                    push(i, number_point(gauge(self.total), labels(), cumulative));
                }
                Output::Increase if self.samples > 0 => {
                    push(i, number_point(gauge(self.increase), labels(), at));
                }
                Output::Sum if self.samples > 0 => {
                    push(i, number_point(gauge(self.sum), labels(), at));
                }
                Output::Count if self.samples > 0 => {
                    push(
                        i,
                        number_point(NumberValue::Int(self.samples as i64), labels(), at),
                    );
                }
                Output::Last if self.samples > 0 => {
                    push(i, number_point(gauge(self.last), labels(), at));
                }
                Output::Min if self.samples > 0 => {
                    push(i, number_point(gauge(self.min), labels(), at));
                }
                Output::Max if self.samples > 0 => {
                    push(i, number_point(gauge(self.max), labels(), at));
                }
                Output::Avg if self.samples > 0 => {
                    push(
                        i,
                        number_point(gauge(self.sum / self.samples as f64), labels(), at),
                    );
                }
                Output::Histogram => match &self.histogram_total {
                    Some(Merged::Explicit(h)) => {
                        push(i, histogram_point(h, labels(), cumulative));
                    }
                    Some(Merged::Exponential(h)) => {
                        push(i, exponential_point(h, labels(), cumulative));
                    }
                    None => {}
                },
                Output::Quantiles(qs) => {
                    for q in qs {
                        let value = match &self.histogram_interval {
                            Some(h) => h.quantile(*q),
                            None => sample_quantile(&mut self.values, *q),
                        };
                        if let Some(v) = value {
                            let mut l = labels();
                            l.upsert("quantile", q.to_string());
                            push(i, number_point(gauge(v), l, at));
                        }
                    }
                }
                _ => {}
            }
        }
        self.samples = 0;
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
        self.values.clear();
        self.increase = 0.0;
        self.increases = 0;
        self.histogram_interval = None;
    }
}

/// The `q` quantile of samples (nearest rank, as vmagent's `quantiles` over samples).
fn sample_quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = (q * (values.len() - 1) as f64).round() as usize;
    values.get(rank.min(values.len() - 1)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_quantiles_use_the_nearest_rank() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(sample_quantile(&mut v, 0.5), Some(3.0));
        assert_eq!(sample_quantile(&mut v, 1.0), Some(5.0));
        assert_eq!(sample_quantile(&mut [], 0.5), None);
    }
}
