//! Pressure: how close the process is to refusing data, read by processors that shed
//! load before refusals start (`load_shedder`).
//!
//! The engine reports, per exporter lane (exporter and signal), how full its queue is
//! and how long deliveries take; the memory budget reports its own use. All of it is
//! atomics written where the numbers change; readers take the maximum over lanes. It is
//! reached through [`Telemetry::pressure`](crate::telemetry::Telemetry::pressure),
//! process-wide like the budget.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// See the module docs. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct Pressure(Arc<Mutex<Vec<Arc<LanePressure>>>>);

/// One exporter lane's queue fill and delivery latency.
#[derive(Debug, Default)]
pub struct LanePressure {
    name: String,
    /// Fill in hundredths of a percent (0..=10_000): the larger of the sizer's and the
    /// byte bound's fill.
    fill: AtomicU32,
    /// Exponentially weighted mean of delivery time (first attempt to outcome), in µs.
    latency_us: AtomicU64,
}

impl LanePressure {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records the queue's use against its bounds.
    pub fn set_fill(&self, used: usize, capacity: usize, bytes: usize, max_bytes: usize) {
        let ratio = |a: usize, b: usize| (a as f64 / b.max(1) as f64).min(1.0);
        let fill = ratio(used, capacity).max(ratio(bytes, max_bytes));
        self.fill.store((fill * 10_000.0) as u32, Ordering::Relaxed);
    }

    /// The queue's fill, 0-100.
    pub fn fill_percent(&self) -> f64 {
        f64::from(self.fill.load(Ordering::Relaxed)) / 100.0
    }

    /// Folds one delivery's duration into the mean (weight 1/8 for the newest).
    pub fn observe_latency(&self, took: Duration) {
        let sample = took.as_micros().min(u128::from(u64::MAX)) as u64;
        let _ = self
            .latency_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mean| {
                Some(if mean == 0 {
                    sample
                } else {
                    mean - mean / 8 + sample / 8
                })
            });
    }

    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }
}

impl Pressure {
    /// Registers a lane (an exporter and signal), e.g. `otlp/backend traces`.
    pub fn lane(&self, name: &str) -> Arc<LanePressure> {
        let lane = Arc::new(LanePressure {
            name: name.to_string(),
            ..Default::default()
        });
        self.lanes().push(lane.clone());
        lane
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, Vec<Arc<LanePressure>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fullest exporter queue, 0-100, and its lane's name.
    pub fn queue_fill_percent(&self) -> (f64, String) {
        self.lanes()
            .iter()
            .map(|l| (l.fill_percent(), l.name.clone()))
            .fold((0.0, String::new()), |a, b| if b.0 > a.0 { b } else { a })
    }

    /// Every lane's name (`<exporter> <signal>`), queue fill (0-100) and mean delivery
    /// time, for the pipeline page.
    pub fn readings(&self) -> Vec<(String, f64, Duration)> {
        self.lanes()
            .iter()
            .map(|l| (l.name.clone(), l.fill_percent(), l.latency()))
            .collect()
    }

    /// The slowest lane's mean delivery time.
    pub fn export_latency(&self) -> Duration {
        self.lanes()
            .iter()
            .map(|l| l.latency())
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_fullest_queue_and_the_slowest_lane() {
        let pressure = Pressure::default();
        let a = pressure.lane("otlp/a traces");
        let b = pressure.lane("otlp/b traces");
        a.set_fill(10, 100, 0, 1000);
        b.set_fill(1, 1000, 900, 1000);
        assert_eq!(
            pressure.queue_fill_percent(),
            (90.0, "otlp/b traces".to_string())
        );
        a.observe_latency(Duration::from_millis(800));
        b.observe_latency(Duration::from_millis(100));
        assert_eq!(pressure.export_latency(), Duration::from_millis(800));
        for _ in 0..64 {
            a.observe_latency(Duration::from_millis(100));
        }
        assert!(pressure.export_latency() < Duration::from_millis(110));
    }
}
