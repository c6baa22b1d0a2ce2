//! Running a scrape job: discovery refreshes turn into a set of target tasks, one tokio
//! task per target so a slow or hanging target never delays another. Each task starts
//! at an offset derived from the target's identity (spreading a job's scrapes across
//! the interval instead of bursting them), scrapes on its interval with a deadline, and
//! sends one batch per scrape. A target that disappears from discovery sends stale
//! markers for everything it reported.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_api::telemetry::names::{PROMETHEUS_SCRAPE_FAILURES, PROMETHEUS_TARGETS};
use weir_api::{Batch, ReceiverOutput};

use crate::config::{GlobalConfig, ScrapeConfig};
use crate::convert::{self, Options, ScrapeBuilder, TargetMemory};
use crate::discovery::{self, FileWatcher};
use crate::relabel::Rule;
use crate::scrape::{ScrapeError, Scraper};
use crate::targets::{self, Target};

/// How often file_sd files' metadata is checked.
const FILE_SD_POLL: Duration = Duration::from_secs(1);
/// At most one log line per target per reason in this period.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Everything a job's target tasks share.
pub struct JobContext {
    pub receiver: String,
    pub config: ScrapeConfig,
    pub global: GlobalConfig,
    pub relabel: Vec<Rule>,
    pub options: Options,
    pub scraper: Scraper,
    pub output: ReceiverOutput,
    pub failures: Vec<(&'static str, Counter)>,
}

impl JobContext {
    fn interval(&self) -> Duration {
        self.config.interval(&self.global)
    }

    fn timeout(&self) -> Duration {
        self.config.timeout(&self.global)
    }

    fn failure_counter(&self, reason: &str) -> Option<&Counter> {
        self.failures
            .iter()
            .find(|(r, _)| *r == reason)
            .map(|(_, c)| c)
    }
}

/// Every failure reason's counter, fetched once per job.
pub fn failure_counters(
    output: &ReceiverOutput,
    receiver: &str,
    job: &str,
) -> Vec<(&'static str, Counter)> {
    ScrapeError::REASONS
        .iter()
        .map(|reason| {
            let counter = output
                .telemetry()
                .counter_of(&PROMETHEUS_SCRAPE_FAILURES, &[receiver, job, reason]);
            (*reason, counter)
        })
        .collect()
}

pub async fn run(ctx: Arc<JobContext>, shutdown: CancellationToken) {
    let static_groups = discovery::static_groups(&ctx.config.static_configs);
    let mut watcher = FileWatcher::new(&ctx.config.file_sd_configs);
    let mut file_groups = Vec::new();
    let tracker = TaskTracker::new();
    let mut running: HashMap<u64, CancellationToken> = HashMap::new();
    let targets_gauge = ctx
        .output
        .telemetry()
        .gauge_of(&PROMETHEUS_TARGETS, &[&ctx.receiver, &ctx.config.job_name]);
    let mut first = true;
    loop {
        let refreshed = if watcher.is_empty() {
            first
        } else {
            poll_files(&mut watcher, first, &mut file_groups)
        };
        if refreshed {
            let groups: Vec<_> = static_groups.iter().chain(&file_groups).cloned().collect();
            let (targets, errors) = targets::build(&ctx.config, &ctx.global, &ctx.relabel, &groups);
            for error in errors {
                tracing::warn!(receiver = %ctx.receiver, job = %ctx.config.job_name, "skipping a target: {error}");
            }
            reconcile(&ctx, &tracker, &mut running, targets, &shutdown);
            targets_gauge.set(running.len() as i64);
        }
        first = false;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(FILE_SD_POLL), if !watcher.is_empty() => {}
            _ = std::future::pending::<()>(), if watcher.is_empty() => {}
        }
    }
    tracker.close();
    tracker.wait().await;
}

fn poll_files(
    watcher: &mut FileWatcher,
    first: bool,
    groups: &mut Vec<discovery::TargetGroup>,
) -> bool {
    match watcher.poll(first) {
        Some((new_groups, errors)) => {
            for error in errors {
                tracing::warn!("file_sd: {error}");
            }
            *groups = new_groups;
            true
        }
        None => false,
    }
}

/// Starts tasks for new targets and stops those that are gone.
fn reconcile(
    ctx: &Arc<JobContext>,
    tracker: &TaskTracker,
    running: &mut HashMap<u64, CancellationToken>,
    targets: Vec<Target>,
    shutdown: &CancellationToken,
) {
    let wanted: std::collections::HashSet<u64> = targets.iter().map(|t| t.key).collect();
    running.retain(|key, stop| {
        let keep = wanted.contains(key);
        if !keep {
            stop.cancel();
        }
        keep
    });
    for target in targets {
        if running.contains_key(&target.key) {
            continue;
        }
        let stop = CancellationToken::new();
        running.insert(target.key, stop.clone());
        tracker.spawn(run_target(ctx.clone(), target, stop, shutdown.clone()));
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Logs a failure when its reason changes, and otherwise at most once per [`LOG_EVERY`].
#[derive(Default)]
struct LogLimiter {
    last: Option<(Instant, &'static str)>,
}

impl LogLimiter {
    fn allow(&mut self, reason: &'static str) -> bool {
        let allow = match self.last {
            Some((at, last_reason)) => last_reason != reason || at.elapsed() >= LOG_EVERY,
            None => true,
        };
        if allow {
            self.last = Some((Instant::now(), reason));
        }
        allow
    }
}

async fn run_target(
    ctx: Arc<JobContext>,
    target: Target,
    stop: CancellationToken,
    shutdown: CancellationToken,
) {
    let interval = ctx.interval();
    let offset = Duration::from_nanos(target.key % interval.as_nanos().max(1) as u64);
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(offset) => {}
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut memory = TargetMemory::default();
    let mut failure_log = LogLimiter::default();
    let mut send_log = LogLimiter::default();
    let job = ctx.config.job_name.as_str();
    let instance = target.info.instance().to_string();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = stop.cancelled() => {
                let stale = convert::removed_target(&target.info, &ctx.options, &mut memory, now_ns());
                send(&ctx, stale, &mut send_log, &instance).await;
                return;
            }
            _ = ticker.tick() => {}
        }
        let started = Instant::now();
        let now = now_ns();
        let mut builder = ScrapeBuilder::new(&target.info, &ctx.options, &mut memory, now);
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            result = tokio::time::timeout(ctx.timeout(), ctx.scraper.scrape(&target.url, ctx.timeout(), &mut builder)) => {
                result.unwrap_or(Err(ScrapeError::Timeout))
            }
        };
        let duration = started.elapsed().as_secs_f64();
        let batch = match result {
            Ok(()) => builder.finish(duration).0,
            Err(error) => {
                drop(builder);
                let reason = error.reason();
                if let Some(counter) = ctx.failure_counter(reason) {
                    counter.inc();
                }
                if failure_log.allow(reason) {
                    tracing::warn!(receiver = %ctx.receiver, job, instance = %instance, reason, "scrape failed: {error}");
                }
                convert::failed_scrape(&target.info, &ctx.options, &mut memory, now, duration)
            }
        };
        send(&ctx, batch, &mut send_log, &instance).await;
    }
}

async fn send(ctx: &JobContext, batch: Batch, log: &mut LogLimiter, instance: &str) {
    // Refused items are counted by the output (otelcol_receiver_refused_metric_points).
    if let Err(error) = ctx.output.send(batch).await {
        if log.allow("send") {
            tracing::warn!(receiver = %ctx.receiver, job = %ctx.config.job_name, instance, "scrape not delivered: {error}");
        }
    }
}
