//! One delivery: attempt, and on a retryable error wait and attempt again, as
//! `retry_on_failure` says. The order of the stack is fixed and documented: queue ->
//! retry -> timeout -> request. Every attempt sends the same prepared request. A
//! server's hint (RetryInfo, Retry-After) is honoured when it is longer than the backoff.
//! The outcome is recorded on the acknowledgement handles of the data.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use weir_api::telemetry::ExporterCounters;
use weir_api::{ExportError, ExportRequest, ExporterSettings, Outcome};

use super::Queued;

/// What happened to a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Some or all items failed for good.
    Failed {
        items: usize,
        reason: String,
    },
    /// The shutdown deadline cut delivery short; nothing was counted yet. A memory queue
    /// counts it as failed ([`deliver`]); a persistent queue keeps it on disk.
    Abandoned {
        items: usize,
    },
}

/// Sends `item`, retrying as configured, until it is sent, fails for good, or `abort`
/// is cancelled (the shutdown deadline). Updates the sent/failed counters and records
/// the outcome on the data's acknowledgement handles.
pub async fn deliver(
    settings: &ExporterSettings,
    counters: &ExporterCounters,
    item: Queued,
    abort: &CancellationToken,
    exporter_id: &str,
) -> Delivery {
    let Queued { mut request, acks } = item;
    let mut outcome = attempts(settings, counters, request.as_mut(), abort, exporter_id).await;
    if let Delivery::Abandoned { items } = outcome {
        counters.send_failed.inc_by(items as u64);
        tracing::error!(
            exporter = exporter_id,
            items,
            "exporting failed; the data is dropped (shutdown deadline reached)"
        );
        outcome = Delivery::Failed {
            items,
            reason: "shutdown deadline reached".to_string(),
        };
    }
    match &outcome {
        Delivery::Sent => acks.record(Outcome::Delivered),
        Delivery::Failed { items, .. } => {
            if *items < request.items() {
                acks.record(Outcome::Delivered);
            }
            acks.record(Outcome::Failed);
        }
        Delivery::Abandoned { .. } => acks.record(Outcome::Failed),
    }
    outcome
}

/// Sends `request`, retrying as configured; counts sent and failed items, except when
/// the shutdown deadline (`abort`) cuts it short: that is [`Delivery::Abandoned`],
/// counted by the caller.
pub async fn attempts(
    settings: &ExporterSettings,
    counters: &ExporterCounters,
    request: &mut dyn ExportRequest,
    abort: &CancellationToken,
    exporter_id: &str,
) -> Delivery {
    let items = request.items();
    let started = Instant::now();
    let mut backoff = settings.retry.initial_interval;
    let mut jitter = Jitter::new();
    loop {
        let attempt = tokio::select! {
            result = attempt(&mut *request, settings.timeout) => result,
            _ = abort.cancelled() => return Delivery::Abandoned { items },
        };
        let (message, retry_after) = match attempt {
            Ok(()) => {
                counters.sent.inc_by(items as u64);
                return Delivery::Sent;
            }
            Err(ExportError::Permanent { message, rejected }) => {
                let failed = rejected.unwrap_or(items).min(items);
                counters.sent.inc_by((items - failed) as u64);
                counters.send_failed.inc_by(failed as u64);
                tracing::warn!(exporter = exporter_id, items = failed, error = %message,
                    "exporting failed; the data is dropped (permanent error, not retried)");
                return Delivery::Failed {
                    items: failed,
                    reason: message,
                };
            }
            Err(ExportError::Retryable {
                message,
                retry_after,
            }) => (message, retry_after),
        };
        let delay = jitter
            .apply(backoff, settings.retry.randomization_factor)
            .max(retry_after.unwrap_or_default());
        let budget = settings.retry.max_elapsed_time;
        let out_of_time = !budget.is_zero() && started.elapsed() + delay > budget;
        if abort.is_cancelled() {
            return Delivery::Abandoned { items };
        }
        if !settings.retry.enabled || out_of_time {
            counters.send_failed.inc_by(items as u64);
            let why = if !settings.retry.enabled {
                "retry_on_failure is disabled"
            } else {
                "retry_on_failure.max_elapsed_time exhausted"
            };
            tracing::error!(exporter = exporter_id, items, error = %message,
                "exporting failed; the data is dropped ({why})");
            return Delivery::Failed {
                items,
                reason: message,
            };
        }
        counters.retries.inc();
        tracing::info!(exporter = exporter_id, error = %message, ?delay,
            "exporting failed; will retry");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = abort.cancelled() => {}
        }
        backoff = next_backoff(
            backoff,
            settings.retry.multiplier,
            settings.retry.max_interval,
        );
    }
}

/// One attempt, bounded by `timeout` unless it is zero.
async fn attempt(request: &mut dyn ExportRequest, timeout: Duration) -> Result<(), ExportError> {
    if timeout.is_zero() {
        return request.send().await;
    }
    tokio::time::timeout(timeout, request.send())
        .await
        .unwrap_or_else(|_| {
            Err(ExportError::retryable(format!(
                "export timed out after {timeout:?}"
            )))
        })
}

fn next_backoff(current: Duration, multiplier: f64, max: Duration) -> Duration {
    let next = current.mul_f64(multiplier.max(1.0));
    next.min(max)
}

/// A tiny xorshift generator for backoff jitter; no need for a random crate.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self(seed | 1)
    }

    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `interval` spread by ±`factor`, as the Collector's backoff does.
    fn apply(&mut self, interval: Duration, factor: f64) -> Duration {
        let factor = factor.clamp(0.0, 1.0);
        let spread = 1.0 - factor + 2.0 * factor * self.next_unit();
        interval.mul_f64(spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use weir_api::telemetry::Telemetry;
    use weir_api::{Ack, Acks, RetrySettings, Signal};

    /// A request of 3 items that fails `failures_left` times with `error`.
    struct Flaky {
        failures_left: usize,
        error: ExportError,
        attempts: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl ExportRequest for Flaky {
        fn items(&self) -> usize {
            3
        }
        fn encoded_len(&self) -> usize {
            30
        }
        async fn send(&mut self) -> Result<(), ExportError> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            if self.failures_left == 0 {
                return Ok(());
            }
            self.failures_left -= 1;
            Err(self.error.clone())
        }
    }

    fn settings() -> ExporterSettings {
        ExporterSettings {
            timeout: Duration::from_secs(1),
            retry: RetrySettings {
                initial_interval: Duration::from_millis(1),
                max_interval: Duration::from_millis(2),
                max_elapsed_time: Duration::from_secs(5),
                ..Default::default()
            },
            queue: Default::default(),
        }
    }

    /// A queued request and the receipt of its data's acknowledgement.
    fn queued(failures: usize, error: ExportError) -> (Queued, weir_api::AckReceipt) {
        let (ack, receipt) = Ack::new(3, 30, &Default::default());
        let mut acks = Acks::new();
        acks.push(ack);
        let request = Flaky {
            failures_left: failures,
            error,
            attempts: Arc::new(AtomicUsize::new(0)),
        };
        (
            Queued {
                request: Box::new(request),
                acks,
            },
            receipt,
        )
    }

    #[tokio::test]
    async fn retries_until_sent() {
        let telemetry = Telemetry::new();
        let counters = telemetry.exporter("x", Signal::Logs);
        let (item, receipt) = queued(2, ExportError::retryable("down"));
        let outcome = deliver(&settings(), &counters, item, &CancellationToken::new(), "x").await;
        assert_eq!(outcome, Delivery::Sent);
        assert_eq!(counters.sent.get(), 3);
        assert_eq!(counters.retries.get(), 2);
        let summary = receipt.released().await;
        assert!(summary.delivered && !summary.failed);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let telemetry = Telemetry::new();
        let counters = telemetry.exporter("x", Signal::Logs);
        let (item, receipt) = queued(
            5,
            ExportError::Permanent {
                message: "400".into(),
                rejected: Some(2),
            },
        );
        let outcome = deliver(&settings(), &counters, item, &CancellationToken::new(), "x").await;
        assert!(matches!(outcome, Delivery::Failed { items: 2, .. }));
        assert_eq!(counters.sent.get(), 1);
        assert_eq!(counters.send_failed.get(), 2);
        assert_eq!(counters.retries.get(), 0);
        let summary = receipt.released().await;
        assert!(
            summary.delivered && summary.failed,
            "a partial success is both"
        );
    }

    #[tokio::test]
    async fn gives_up_when_retry_disabled() {
        let mut s = settings();
        s.retry.enabled = false;
        let telemetry = Telemetry::new();
        let counters = telemetry.exporter("x", Signal::Logs);
        let (item, receipt) = queued(5, ExportError::retryable("down"));
        let outcome = deliver(&s, &counters, item, &CancellationToken::new(), "x").await;
        assert!(matches!(outcome, Delivery::Failed { items: 3, .. }));
        assert_eq!(counters.send_failed.get(), 3);
        assert!(receipt.released().await.failed);
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let b = next_backoff(Duration::from_secs(5), 1.5, Duration::from_secs(30));
        assert_eq!(b, Duration::from_millis(7500));
        assert_eq!(
            next_backoff(Duration::from_secs(25), 1.5, Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        let mut j = Jitter::new();
        for _ in 0..100 {
            let d = j.apply(Duration::from_secs(10), 0.5);
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(15));
        }
    }
}
