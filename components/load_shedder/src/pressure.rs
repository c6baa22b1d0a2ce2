//! Pressure: the inputs, read through an injectable [`PressureSource`], and the state
//! machine that turns them into how many classes are shed, with hysteresis.
//!
//! Every input is a percentage on its own scale, with a threshold `t` and a full-scale
//! point `f`:
//!
//! | input | value | `t` | `f` |
//! |---|---|---|---|
//! | `memory` | budget in use / soft limit × 100 | `memory_percent` | 100 |
//! | `queue_fill` | fullest exporter queue's fill | `queue_fill_percent` | 100 |
//! | `export_latency` | slowest lane's mean delivery time / `export_latency` × 100 | 100 | 200 |
//!
//! With `n` classes, class `i` (0-based) starts at `t + i × (f − t) / n` on any input and
//! stops once every input is below its start minus `hysteresis_percent`. The classes
//! shed are therefore always a prefix of the list: the level.

use std::time::Duration;

use crate::config::PressureConfig;

/// One reading of the inputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Readings {
    /// Budget in use as a percentage of its soft limit; `None` when the budget has no
    /// limit (no `memory_limiter`).
    pub memory_percent: Option<f64>,
    /// The fullest exporter queue's fill, 0-100.
    pub queue_fill_percent: f64,
    /// Which queue that is (`otlp/backend traces`), for the log line.
    pub queue_lane: String,
    /// The slowest exporter lane's mean delivery time.
    pub export_latency: Duration,
}

/// Where readings come from: the process's budget and exporter lanes in production
/// ([`TelemetrySource`]), anything in tests (a closure returning [`Readings`]).
pub trait PressureSource: Send {
    fn read(&self) -> Readings;
}

impl<F: Fn() -> Readings + Send> PressureSource for F {
    fn read(&self) -> Readings {
        self()
    }
}

/// Reads the memory budget and the exporter lanes of the process.
#[derive(Clone, Debug)]
pub struct TelemetrySource {
    budget: weir_api::budget::MemoryBudget,
    pressure: weir_api::pressure::Pressure,
}

impl TelemetrySource {
    pub fn new(telemetry: &weir_api::telemetry::Telemetry) -> Self {
        Self {
            budget: telemetry.memory_budget().clone(),
            pressure: telemetry.pressure().clone(),
        }
    }
}

impl PressureSource for TelemetrySource {
    fn read(&self) -> Readings {
        let memory_percent = self.budget.is_limited().then(|| {
            let (soft, _) = self.budget.limits();
            self.budget.used() as f64 * 100.0 / soft.max(1) as f64
        });
        let (queue_fill_percent, queue_lane) = self.pressure.queue_fill_percent();
        Readings {
            memory_percent,
            queue_fill_percent,
            queue_lane,
            export_latency: self.pressure.export_latency(),
        }
    }
}

/// The three inputs, in the order of the `input` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Memory,
    QueueFill,
    ExportLatency,
}

impl Input {
    pub const ALL: [Input; 3] = [Input::Memory, Input::QueueFill, Input::ExportLatency];

    pub fn name(self) -> &'static str {
        match self {
            Input::Memory => "memory",
            Input::QueueFill => "queue_fill",
            Input::ExportLatency => "export_latency",
        }
    }
}

/// One enabled input's scale.
#[derive(Clone, Copy, Debug)]
struct Scale {
    input: Input,
    threshold: f64,
    full: f64,
}

impl Scale {
    /// Where class `i` of `n` starts on this input.
    fn start(&self, i: usize, n: usize) -> f64 {
        self.threshold + i as f64 * (self.full - self.threshold) / n as f64
    }

    /// How far past class `i`'s start `value` is, in units of one class's band
    /// (0 at its start, 1 at the next class's start), clamped to 0..=1.
    fn progress(&self, value: f64, i: usize, n: usize) -> f64 {
        let band = (self.full - self.threshold) / n as f64;
        let start = self.start(i, n);
        if band <= 0.0 {
            return if value >= start { 1.0 } else { 0.0 };
        }
        ((value - start) / band).clamp(0.0, 1.0)
    }
}

/// The inputs' values from one reading, each in percent of its scale (`None` when the
/// input is off or absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values {
    pub values: [Option<f64>; 3],
    pub queue_lane: String,
}

impl Values {
    pub fn get(&self, input: Input) -> Option<f64> {
        self.values[input as usize]
    }
}

/// What changed at a reading, for the log lines.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Shedding mode starts: the input that crossed its threshold and its value.
    Entered {
        input: Input,
        value: f64,
        level: usize,
    },
    /// Shedding mode ends.
    Left,
    /// The level moved while shedding.
    Level { from: usize, to: usize },
}

/// The level (classes shed) and its hysteresis.
#[derive(Clone, Debug)]
pub struct Gauge {
    scales: Vec<Scale>,
    latency_threshold: Duration,
    hysteresis: f64,
    classes: usize,
    level: usize,
    values: Values,
}

impl Gauge {
    pub fn new(config: &PressureConfig, classes: usize) -> Self {
        let mut scales = Vec::new();
        if config.memory_percent > 0.0 {
            scales.push(Scale {
                input: Input::Memory,
                threshold: config.memory_percent,
                full: 100.0_f64.max(config.memory_percent),
            });
        }
        if config.queue_fill_percent > 0.0 {
            scales.push(Scale {
                input: Input::QueueFill,
                threshold: config.queue_fill_percent,
                full: 100.0_f64.max(config.queue_fill_percent),
            });
        }
        if !config.export_latency.is_zero() {
            scales.push(Scale {
                input: Input::ExportLatency,
                threshold: 100.0,
                full: 200.0,
            });
        }
        Self {
            scales,
            latency_threshold: config.export_latency,
            hysteresis: config.hysteresis_percent,
            classes: classes.max(1),
            level: 0,
            values: Values::default(),
        }
    }

    /// Classes shed now (0: not shedding).
    pub fn level(&self) -> usize {
        self.level
    }

    pub fn values(&self) -> &Values {
        &self.values
    }

    /// Takes a reading and moves the level; returns what changed.
    pub fn update(&mut self, readings: &Readings) -> Option<Change> {
        let mut values = Values {
            values: [None; 3],
            queue_lane: readings.queue_lane.clone(),
        };
        for scale in &self.scales {
            values.values[scale.input as usize] = match scale.input {
                Input::Memory => readings.memory_percent,
                Input::QueueFill => Some(readings.queue_fill_percent),
                Input::ExportLatency => Some(
                    readings.export_latency.as_secs_f64() * 100.0
                        / self.latency_threshold.as_secs_f64(),
                ),
            }
            .filter(|v| v.is_finite());
        }
        self.values = values;
        let from = self.level;
        let n = self.classes;
        let shed = |i: usize| {
            self.scales.iter().any(|s| {
                self.values.get(s.input).is_some_and(|v| {
                    let start = s.start(i, n);
                    v >= start || (i < from && v >= start - self.hysteresis)
                })
            })
        };
        let to = (0..n).take_while(|&i| shed(i)).count();
        self.level = to;
        match (from, to) {
            (a, b) if a == b => None,
            (0, level) => {
                let (input, value) = self.crossing();
                Some(Change::Entered {
                    input,
                    value,
                    level,
                })
            }
            (_, 0) => Some(Change::Left),
            (from, to) => Some(Change::Level { from, to }),
        }
    }

    /// The input furthest past its threshold (relative to its band) and its value.
    fn crossing(&self) -> (Input, f64) {
        self.scales
            .iter()
            .filter_map(|s| {
                let v = self.values.get(s.input)?;
                let rank = (v - s.threshold) / (s.full - s.threshold).max(f64::EPSILON);
                Some((rank, s.input, v))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, input, v)| (input, v))
            .unwrap_or((Input::Memory, 0.0))
    }

    /// How far the worst input is into class `i`'s band (0..=1): the ramp a class with a
    /// floor samples along.
    pub fn progress(&self, i: usize) -> f64 {
        self.scales
            .iter()
            .filter_map(|s| Some(s.progress(self.values.get(s.input)?, i, self.classes)))
            .fold(0.0, f64::max)
    }

    /// The thresholds, for the leaving log line: `memory < 70%` per enabled input.
    pub fn thresholds(&self) -> Vec<(Input, f64)> {
        self.scales
            .iter()
            .map(|s| (s.input, s.threshold - self.hysteresis))
            .collect()
    }
}
