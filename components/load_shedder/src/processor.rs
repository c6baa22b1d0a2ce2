//! The processor: reads pressure at most once per `check_interval`, moves the level,
//! and, while shedding, walks the batch once, dropping (or in shadow mode only
//! counting) the items of the classes shed now.
//!
//! When not shedding a batch passes untouched: the cost is one clock read per batch.

use std::time::{Duration, Instant};

use weir_api::telemetry::names::{
    LOAD_SHEDDER_CLASSES_SHED, LOAD_SHEDDER_PRESSURE_PERCENT, LOAD_SHEDDER_SHEDDING,
};
use weir_api::telemetry::{Gauge, Telemetry};
use weir_api::{Batch, Processor, Signal};
use weir_ottl::Item;

use crate::class::{decide, Class, Randomness};
use crate::config::LoadShedderConfig;
use crate::pressure::{self, Change, Input, PressureSource};

/// The gauges of one processor id (shared by its instances in several pipelines).
struct Gauges {
    shedding: Gauge,
    classes_shed: Gauge,
    /// Per enabled input.
    pressure: Vec<(Input, Gauge)>,
}

/// One `load_shedder` instance in one pipeline.
pub struct LoadShedder {
    id: String,
    pipeline: String,
    shadow: bool,
    classes: Vec<Class>,
    gauge: pressure::Gauge,
    source: Box<dyn PressureSource>,
    interval: Duration,
    next_read: Option<Instant>,
    gauges: Gauges,
    /// Items shed (or, in shadow mode, that would have been) since shedding began.
    episode: u64,
}

impl LoadShedder {
    /// Builds an instance reading `source`. The classes are compiled for `signal`;
    /// those whose condition does not apply to it never match.
    pub fn new(
        id: &str,
        pipeline: &str,
        signal: Signal,
        config: &LoadShedderConfig,
        telemetry: &Telemetry,
        source: Box<dyn PressureSource>,
    ) -> Result<Self, String> {
        let mut classes = Vec::with_capacity(config.classes.len());
        for (index, class) in config.classes.iter().enumerate() {
            let condition = class
                .compile_for(signal)
                .map_err(|error| format!("classes.{index}.condition: {error}"))?;
            classes.push(Class::new(
                &class.name,
                condition,
                class.keep_floor_percent,
                telemetry,
                id,
                signal,
                config.shadow,
            ));
        }
        if classes.iter().all(|c| c.condition.is_none()) {
            tracing::warn!(
                "{id} in pipeline {pipeline}: no class applies to {} (their conditions are \
                 about other items), so nothing here is ever shed",
                signal.as_str()
            );
        }
        let gauge = pressure::Gauge::new(&config.pressure, classes.len());
        let enabled: Vec<Input> = Input::ALL
            .into_iter()
            .filter(|&input| match input {
                Input::Memory => config.pressure.memory_percent > 0.0,
                Input::QueueFill => config.pressure.queue_fill_percent > 0.0,
                Input::ExportLatency => !config.pressure.export_latency.is_zero(),
            })
            .collect();
        let gauges = Gauges {
            shedding: telemetry.gauge_of(&LOAD_SHEDDER_SHEDDING, &[id]),
            classes_shed: telemetry.gauge_of(&LOAD_SHEDDER_CLASSES_SHED, &[id]),
            pressure: enabled
                .into_iter()
                .map(|input| {
                    let gauge =
                        telemetry.gauge_of(&LOAD_SHEDDER_PRESSURE_PERCENT, &[id, input.name()]);
                    (input, gauge)
                })
                .collect(),
        };
        Ok(Self {
            id: id.to_string(),
            pipeline: pipeline.to_string(),
            shadow: config.shadow,
            classes,
            gauge,
            source,
            interval: config.pressure.check_interval,
            next_read: None,
            gauges,
            episode: 0,
        })
    }

    /// Classes shed now (0: not shedding).
    pub fn level(&self) -> usize {
        self.gauge.level()
    }

    /// What a class keeps now while shed, in millionths.
    pub fn keep_of(&self, class: usize) -> Option<u64> {
        self.classes.get(class).map(|c| c.keep)
    }

    /// Reads the inputs if `check_interval` has passed since the last reading.
    pub fn refresh(&mut self, now: Instant) {
        if self.next_read.is_some_and(|next| now < next) {
            return;
        }
        self.next_read = Some(now + self.interval);
        let readings = self.source.read();
        let change = self.gauge.update(&readings);
        let level = self.gauge.level();
        for (index, class) in self.classes.iter_mut().enumerate() {
            class.set_progress(if index < level {
                self.gauge.progress(index)
            } else {
                0.0
            });
        }
        for (input, gauge) in &self.gauges.pressure {
            let value = self.gauge.values().get(*input).unwrap_or(0.0);
            gauge.set(value.round() as i64);
        }
        self.gauges.shedding.set(i64::from(level > 0));
        self.gauges.classes_shed.set(level as i64);
        if let Some(change) = change {
            self.log(change);
        }
    }

    fn class_names(&self, level: usize) -> String {
        self.classes[..level]
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn log(&mut self, change: Change) {
        let (id, pipeline) = (&self.id, &self.pipeline);
        let mode = if self.shadow {
            " (shadow mode: counting only)"
        } else {
            ""
        };
        match change {
            Change::Entered {
                input,
                value,
                level,
            } => {
                self.episode = 0;
                let lane = match input {
                    Input::QueueFill if !self.gauge.values().queue_lane.is_empty() => {
                        format!(" ({})", self.gauge.values().queue_lane)
                    }
                    _ => String::new(),
                };
                tracing::warn!(
                    "{id} in pipeline {pipeline}: entering shedding mode{mode}: {} at {value:.1}%{lane}; \
                     shedding {}",
                    input.name(),
                    self.class_names(level)
                );
            }
            Change::Left => {
                let below = self
                    .gauge
                    .thresholds()
                    .iter()
                    .map(|(input, t)| {
                        let value = self.gauge.values().get(*input);
                        match value {
                            Some(v) => format!("{} {v:.1}% < {t}%", input.name()),
                            None => format!("{} absent", input.name()),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                tracing::info!(
                    "{id} in pipeline {pipeline}: leaving shedding mode{mode}: {below}; {} items shed",
                    self.episode
                );
            }
            Change::Level { from, to } => {
                tracing::debug!(
                    "{id} in pipeline {pipeline}: shedding {} of {} classes (was {from}): {}",
                    to,
                    self.classes.len(),
                    self.class_names(to)
                );
            }
        }
    }

    /// [`Processor::process`] at a given instant (tests drive the clock).
    pub fn process_at(&mut self, mut batch: Batch, out: &mut Vec<Batch>, now: Instant) {
        self.refresh(now);
        let level = self.gauge.level();
        let classes = &mut self.classes[..level];
        if classes.iter().all(|c| c.condition.is_none()) {
            out.push(batch);
            return;
        }
        let mut shed = vec![0u64; level];
        let keep_shed = self.shadow;
        match batch.signal() {
            Signal::Traces => batch.retain_spans(|resource, scope, span| {
                let item = Item::span(resource, scope, span);
                match decide(
                    classes,
                    &item,
                    span.attributes(),
                    Randomness::TraceId(span.trace_id()),
                ) {
                    Some(class) => {
                        shed[class] += 1;
                        keep_shed
                    }
                    None => true,
                }
            }),
            Signal::Logs => batch.retain_log_records(|resource, scope, record| {
                let item = Item::log(resource, scope, record);
                match decide(classes, &item, record.attributes(), Randomness::Counter) {
                    Some(class) => {
                        shed[class] += 1;
                        keep_shed
                    }
                    None => true,
                }
            }),
            Signal::Metrics => {
                // Decisions on points are pure (see `class.rs`): count them in a read-only
                // walk, then drop with the same decisions, however often `retain_data_points`
                // asks about a point.
                for resource_metrics in batch.metrics() {
                    let resource = resource_metrics.resource();
                    for scope_metrics in resource_metrics.scopes() {
                        let scope = scope_metrics.scope();
                        for metric in scope_metrics.metrics() {
                            for point in metric.points() {
                                let item = Item::data_point(resource, scope, metric, point);
                                let rnd = Randomness::Point(metric, point);
                                if let Some(class) = decide(classes, &item, point.attributes(), rnd)
                                {
                                    shed[class] += 1;
                                }
                            }
                        }
                    }
                }
                if !keep_shed && shed.iter().any(|&n| n > 0) {
                    batch.retain_data_points(|resource, scope, metric, point| {
                        let item = Item::data_point(resource, scope, metric, point);
                        let rnd = Randomness::Point(metric, point);
                        decide(classes, &item, point.attributes(), rnd).is_none()
                    });
                }
            }
        }
        for (class, n) in classes.iter().zip(&shed) {
            if *n > 0 {
                class.count(*n);
            }
        }
        self.episode += shed.iter().sum::<u64>();
        if !batch.is_empty() {
            out.push(batch);
        }
    }
}

impl Processor for LoadShedder {
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        self.process_at(batch, out, Instant::now());
    }

    /// While shedding, the inputs are read on a timer too, so that shedding mode ends
    /// (and its gauge and log line say so) even when no data arrives.
    fn next_deadline(&self) -> Option<Instant> {
        if self.gauge.level() > 0 {
            self.next_read
        } else {
            None
        }
    }

    fn on_deadline(&mut self, now: Instant, _out: &mut Vec<Batch>) {
        self.refresh(now);
    }
}
