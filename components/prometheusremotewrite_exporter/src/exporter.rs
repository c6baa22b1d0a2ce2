//! The exporter: convert a batch once, then deliver it shard by shard, in order.
//!
//! Why shards: the engine runs `num_consumers` exports at once, and Prometheus refuses a
//! whole request when one of its samples is older than what it already has for that
//! series (the Collector avoids this by forcing one consumer; see its issue #2949). Here
//! every series belongs to one of `num_consumers` shards (by the hash of the point it
//! came from), and a shard sends one request at a time, behind an async lock. Each shard
//! also remembers, per series, the newest timestamp it delivered, and leaves out older
//! samples before sending (counted under `sample_older_than_delivered`), so a retried or
//! overtaken batch can never put an out-of-order sample on the wire. Different shards
//! proceed in parallel.
//!
//! Why a conversion cache: `export` is one attempt and the engine retries the same batch
//! on a retryable error. Converting again would add delta points into the running
//! totals twice and resend requests that already got through. So a batch in retry keeps
//! its converted requests and how far each shard got; a retry resumes where the last
//! attempt stopped. The cache holds a clone of the batch; a retry is recognised by
//! `Batch::shares_data_with` (the same shared data, see `same_batch`).

use std::collections::HashSet;

use foldhash::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ExportError, Exporter, Signal};
use weir_proto::remote_write::{TimeSeries, WriteRequest};

use crate::client::{Client, Failure};
use crate::convert::{self, DropReason, Settings};
use crate::delta::DeltaState;
use crate::request::{self, Packed};

/// Self-metric handles, fetched once at build.
struct Counters {
    dropped: HashMap<DropReason, Counter>,
    requests_sent: Counter,
    requests_retryable: Counter,
    requests_permanent: Counter,
    samples_sent: Counter,
    histograms_sent: Counter,
    delta_streams: Gauge,
}

impl Counters {
    fn new(telemetry: &Telemetry, id: &str) -> Self {
        let requests = |result: &str| {
            telemetry.counter(
                "weir_prometheusremotewrite_requests",
                "Remote-write requests by result: sent, retryable_error, permanent_error.",
                &[("exporter", id), ("result", result)],
            )
        };
        Self {
            dropped: DropReason::ALL
                .iter()
                .map(|r| (*r, telemetry.dropped(id, Signal::Metrics, r.as_str())))
                .collect(),
            requests_sent: requests("sent"),
            requests_retryable: requests("retryable_error"),
            requests_permanent: requests("permanent_error"),
            samples_sent: telemetry.counter(
                "weir_prometheusremotewrite_samples_sent",
                "Float samples delivered to the remote-write endpoint.",
                &[("exporter", id)],
            ),
            histograms_sent: telemetry.counter(
                "weir_prometheusremotewrite_histograms_sent",
                "Native histogram samples delivered to the remote-write endpoint.",
                &[("exporter", id)],
            ),
            delta_streams: telemetry.gauge(
                "weir_prometheusremotewrite_delta_streams",
                "Delta streams whose running totals are held for delta-to-cumulative conversion.",
                &[("exporter", id)],
            ),
        }
    }

    fn drop(&self, reason: DropReason, n: usize) {
        if let Some(c) = self.dropped.get(&reason) {
            c.inc_by(n as u64);
        }
    }
}

/// One ordered lane: the newest delivered timestamp of each of its series, keyed by the
/// hash of the series' labels (computed once at conversion, see `request::Packed`).
struct Shard {
    newest: HashMap<u64, (i64, Instant)>,
    /// Series remembered by all shards together, and their bound (`ordering.max_series`):
    /// shared because series spread unevenly when few targets send many series each.
    tracked: Arc<AtomicUsize>,
    capacity: usize,
    max_idle: Duration,
    /// The uncompressed protobuf of the request being sent, reused between requests.
    scratch: Vec<u8>,
}

/// The oldest timestamp of a series' samples, histograms and exemplars, and the newest
/// of its samples and histograms (each list is sorted by time); `None` when it has no
/// samples or histograms.
fn time_range(series: &TimeSeries) -> Option<(i64, i64)> {
    let first = [
        series.samples.first().map(|s| s.timestamp),
        series.histograms.first().map(|h| h.timestamp),
        series.exemplars.first().map(|e| e.timestamp),
    ];
    let last = [
        series.samples.last().map(|s| s.timestamp),
        series.histograms.last().map(|h| h.timestamp),
    ];
    let newest = last.into_iter().flatten().max()?;
    let oldest = first.into_iter().flatten().min()?;
    Some((oldest, newest))
}

impl Shard {
    fn forget_idle(&mut self, now: Instant) {
        let max_idle = self.max_idle;
        let before = self.newest.len();
        self.newest
            .retain(|_, (_, seen)| now.saturating_duration_since(*seen) < max_idle);
        self.tracked
            .fetch_sub(before - self.newest.len(), Ordering::Relaxed);
    }

    fn is_full(&self) -> bool {
        self.tracked.load(Ordering::Relaxed) >= self.capacity
    }

    /// Whether `filter` would change the request: a series without samples, or one
    /// holding something not newer than what was delivered. Usually not, and then the
    /// request is sent as it is, without a copy.
    fn needs_filter(&self, packed: &Packed) -> bool {
        packed
            .request
            .timeseries
            .iter()
            .zip(&packed.hashes)
            .any(|(series, hash)| match time_range(series) {
                None => true,
                Some((oldest, _)) => self
                    .newest
                    .get(hash)
                    .is_some_and(|(newest, _)| oldest <= *newest),
            })
    }

    /// Leaves out samples not newer than what was delivered; returns how many were older
    /// (the same timestamp again is a resend of a delivered sample and is not counted).
    /// `hashes` (one per series) is kept in step.
    fn filter(&self, request: &mut WriteRequest, hashes: &mut Vec<u64>) -> usize {
        let mut older = 0;
        let mut kept = Vec::with_capacity(hashes.len());
        let mut hash_iter = hashes.iter();
        request.timeseries.retain_mut(|series| {
            let hash = hash_iter.next().copied().unwrap_or_default();
            if let Some((newest, _)) = self.newest.get(&hash) {
                let newest = *newest;
                older += series
                    .samples
                    .iter()
                    .filter(|s| s.timestamp < newest)
                    .count();
                older += series
                    .histograms
                    .iter()
                    .filter(|h| h.timestamp < newest)
                    .count();
                series.samples.retain(|s| s.timestamp > newest);
                series.histograms.retain(|h| h.timestamp > newest);
                series.exemplars.retain(|e| e.timestamp > newest);
            }
            let keep = !series.samples.is_empty() || !series.histograms.is_empty();
            if keep {
                kept.push(hash);
            }
            keep
        });
        *hashes = kept;
        older
    }

    fn delivered(&mut self, request: &WriteRequest, hashes: &[u64], now: Instant) {
        for (series, &key) in request.timeseries.iter().zip(hashes) {
            let Some((_, newest)) = time_range(series) else {
                continue;
            };
            if let Some(entry) = self.newest.get_mut(&key) {
                *entry = (newest, now);
                continue;
            }
            if self.is_full() {
                self.forget_idle(now);
                if self.is_full() {
                    // Full of live series: this one goes untracked (see README, Limits).
                    continue;
                }
            }
            self.newest.insert(key, (newest, now));
            self.tracked.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How far one shard of one batch got.
struct ShardWork {
    requests: Vec<Packed>,
    next: usize,
    points: usize,
    failed: bool,
}

/// A converted batch, kept while the engine retries it.
struct Work {
    batch: Batch,
    metadata: Vec<WriteRequest>,
    metadata_next: usize,
    shards: Vec<ShardWork>,
    dropped_points: usize,
    drop_summary: String,
}

impl Work {
    fn is(&self, batch: &Batch) -> bool {
        same_batch(&self.batch, batch)
    }
}

/// Whether `b` is a clone of `a` (the engine retrying it), told by where their data
/// lives rather than by comparing it. A batch exposes no identity of its own, so each
/// resource is pinned by the address of its first non-empty text (an attribute key, a
/// scope or metric name): two live batches can only share that address by sharing the
/// resource itself, since a batch never changes a resource in place (edits and retains
/// write new memory). A resource without such text makes the batch never match, which
/// only costs a conversion.
fn same_batch(a: &Batch, b: &Batch) -> bool {
    a.shares_data_with(b)
}

/// Puts unfinished work back in the cache even when the attempt is cancelled (the
/// engine's timeout drops the export future).
struct InFlight<'a> {
    work: Option<Work>,
    cache: &'a Mutex<Vec<Work>>,
    capacity: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            let mut cache = lock(self.cache);
            if cache.len() >= self.capacity {
                cache.remove(0);
            }
            cache.push(work);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct RemoteWriteExporter {
    id: String,
    settings: Settings,
    max_bytes: usize,
    client: Client,
    shards: Vec<tokio::sync::Mutex<Shard>>,
    delta: Mutex<DeltaState>,
    cache: Mutex<Vec<Work>>,
    cache_capacity: usize,
    counters: Counters,
    /// Permanent failures already logged, so each distinct reason is logged once.
    logged: Mutex<HashSet<String>>,
}

pub struct Options {
    pub id: String,
    pub settings: Settings,
    pub max_bytes: usize,
    pub shards: usize,
    pub max_streams: usize,
    pub max_stale: Duration,
    pub max_series: usize,
    pub max_idle: Duration,
}

impl RemoteWriteExporter {
    pub fn new(options: Options, client: Client, telemetry: &Telemetry) -> Self {
        let shards = options.shards.max(1);
        let tracked = Arc::new(AtomicUsize::new(0));
        Self {
            counters: Counters::new(telemetry, &options.id),
            id: options.id,
            settings: options.settings,
            max_bytes: options.max_bytes,
            client,
            shards: (0..shards)
                .map(|_| {
                    tokio::sync::Mutex::new(Shard {
                        newest: HashMap::default(),
                        tracked: tracked.clone(),
                        capacity: options.max_series.max(1),
                        max_idle: options.max_idle,
                        scratch: Vec::new(),
                    })
                })
                .collect(),
            delta: Mutex::new(DeltaState::new(options.max_streams, options.max_stale)),
            cache: Mutex::new(Vec::new()),
            // Each consumer retries one batch at a time; room for twice that many.
            cache_capacity: (shards * 2).max(8),
            logged: Mutex::new(HashSet::new()),
        }
    }

    /// The cached work for `batch`, or a fresh conversion.
    fn work_for(&self, batch: &Batch) -> Work {
        {
            let mut cache = lock(&self.cache);
            if let Some(i) = cache.iter().position(|w| w.is(batch)) {
                return cache.remove(i);
            }
        }
        let converted = {
            let mut delta = lock(&self.delta);
            let converted = convert::convert(
                batch,
                &self.settings,
                self.shards.len(),
                &mut delta,
                Instant::now(),
            );
            self.counters.delta_streams.set(delta.len() as i64);
            converted
        };
        let mut reasons: Vec<String> = Vec::new();
        for (reason, n) in &converted.dropped {
            self.counters.drop(*reason, *n);
            reasons.push(format!("{n} {}", reason.as_str()));
        }
        reasons.sort();
        let dropped_points = converted.dropped_points();
        let shard_points = converted.shard_points;
        Work {
            batch: batch.clone(),
            metadata: request::pack_metadata(converted.metadata, self.max_bytes),
            metadata_next: 0,
            shards: converted
                .shards
                .into_iter()
                .zip(converted.hashes)
                .zip(shard_points)
                .map(|((series, hashes), points)| ShardWork {
                    requests: request::pack_hashed(series, hashes, self.max_bytes),
                    next: 0,
                    points,
                    failed: false,
                })
                .collect(),
            dropped_points,
            drop_summary: reasons.join(", "),
        }
    }

    async fn send(&self, request: &WriteRequest, scratch: &mut Vec<u8>) -> Result<(), Failure> {
        let body = request::encode_with(request, scratch).map_err(|message| Failure {
            retryable: false,
            retry_after: None,
            status: None,
            message,
        })?;
        match self.client.send(body).await {
            Ok(()) => {
                self.counters.requests_sent.inc();
                let (samples, histograms) = request.timeseries.iter().fold((0, 0), |(s, h), t| {
                    (s + t.samples.len(), h + t.histograms.len())
                });
                self.counters.samples_sent.inc_by(samples as u64);
                self.counters.histograms_sent.inc_by(histograms as u64);
                Ok(())
            }
            Err(failure) => {
                if failure.retryable {
                    self.counters.requests_retryable.inc();
                } else {
                    self.counters.requests_permanent.inc();
                    self.log_once(&failure);
                }
                Err(failure)
            }
        }
    }

    fn log_once(&self, failure: &Failure) {
        let key: String = failure.message.chars().take(200).collect();
        let mut logged = lock(&self.logged);
        if logged.len() < 1000 && logged.insert(key) {
            tracing::error!(exporter = %self.id, status = ?failure.status, error = %failure.message,
                "remote-write endpoint refused a request; it is not retried (logged once per distinct reason)");
        }
    }

    /// Sends what is left of one shard's requests; `Err` on the first failure.
    async fn run_shard(&self, index: usize, work: &mut ShardWork) -> Result<(), Failure> {
        let mut guard = self.shards[index].lock().await;
        let shard = &mut *guard;
        while work.next < work.requests.len() {
            let packed = &work.requests[work.next];
            if shard.needs_filter(packed) {
                let mut request = packed.request.clone();
                let mut hashes = packed.hashes.clone();
                let older = shard.filter(&mut request, &mut hashes);
                self.counters.drop(DropReason::OutOfOrderSample, older);
                if !request.timeseries.is_empty() {
                    self.send(&request, &mut shard.scratch).await?;
                    shard.delivered(&request, &hashes, Instant::now());
                }
            } else {
                self.send(&packed.request, &mut shard.scratch).await?;
                shard.delivered(&packed.request, &packed.hashes, Instant::now());
            }
            work.next += 1;
        }
        Ok(())
    }

    async fn attempt(&self, work: &mut Work) -> Result<(), ExportError> {
        while work.metadata_next < work.metadata.len() {
            match self
                .send(&work.metadata[work.metadata_next], &mut Vec::new())
                .await
            {
                Ok(()) => work.metadata_next += 1,
                Err(f) if f.retryable => return Err(retryable(f)),
                // Metadata is advisory; a refused metadata request does not fail samples.
                Err(_) => work.metadata_next += 1,
            }
        }
        let mut permanent: Option<Failure> = None;
        for index in 0..work.shards.len() {
            let shard_work = &mut work.shards[index];
            if shard_work.failed || shard_work.next >= shard_work.requests.len() {
                continue;
            }
            match self.run_shard(index, shard_work).await {
                Ok(()) => {}
                // The endpoint is unreachable or overloaded: the other shards would
                // fail the same way, so stop and let the engine back off.
                Err(f) if f.retryable => return Err(retryable(f)),
                Err(f) => {
                    shard_work.failed = true;
                    permanent.get_or_insert(f);
                }
            }
        }
        let failed_points: usize = work
            .shards
            .iter()
            .filter(|s| s.failed)
            .map(|s| s.points)
            .sum();
        let rejected = failed_points + work.dropped_points;
        if rejected == 0 {
            return Ok(());
        }
        let mut message = match &permanent {
            Some(f) => format!("{failed_points} points refused: {}", f.message),
            None => String::new(),
        };
        if work.dropped_points > 0 {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!(
                "{} points could not be converted to Prometheus series ({})",
                work.dropped_points, work.drop_summary
            ));
        }
        Err(ExportError::Permanent {
            message,
            rejected: Some(rejected.min(work.batch.item_count())),
        })
    }
}

fn retryable(f: Failure) -> ExportError {
    ExportError::Retryable {
        message: f.message,
        retry_after: f.retry_after,
    }
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    async fn export(&self, batch: Batch) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut in_flight = InFlight {
            work: Some(self.work_for(&batch)),
            cache: &self.cache,
            capacity: self.cache_capacity,
        };
        let Some(work) = in_flight.work.as_mut() else {
            return Ok(());
        };
        let result = self.attempt(work).await;
        if !matches!(result, Err(ExportError::Retryable { .. })) {
            // Finished (delivered or failed for good): nothing to keep for a retry.
            in_flight.work = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_proto::remote_write::{Exemplar, Label, Sample};

    fn shard() -> Shard {
        Shard {
            newest: HashMap::default(),
            tracked: Arc::default(),
            capacity: 10,
            max_idle: Duration::from_secs(600),
            scratch: Vec::new(),
        }
    }

    fn packed(times: &[i64], exemplar: Option<i64>) -> Packed {
        Packed {
            request: WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: vec![Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    }],
                    samples: times
                        .iter()
                        .map(|t| Sample {
                            value: 1.0,
                            timestamp: *t,
                        })
                        .collect(),
                    exemplars: exemplar
                        .map(|t| Exemplar {
                            timestamp: t,
                            ..Default::default()
                        })
                        .into_iter()
                        .collect(),
                    ..Default::default()
                }],
                metadata: vec![],
            },
            hashes: vec![7],
        }
    }

    #[test]
    fn only_requests_touching_delivered_time_are_filtered() {
        let mut s = shard();
        let first = packed(&[10, 20], None);
        assert!(!s.needs_filter(&first));
        s.delivered(&first.request, &first.hashes, Instant::now());
        assert_eq!(s.newest[&7].0, 20);

        // Newer samples only: sent as they are.
        assert!(!s.needs_filter(&packed(&[21, 30], None)));
        // An exemplar at the delivered time would be filtered.
        assert!(s.needs_filter(&packed(&[21], Some(20))));

        // One resent and one older sample: filtering keeps the newer one, counts one.
        let mut p = packed(&[15, 20, 25], None);
        assert!(s.needs_filter(&p));
        let older = s.filter(&mut p.request, &mut p.hashes);
        assert_eq!(older, 1);
        assert_eq!(p.request.timeseries[0].samples.len(), 1);
        assert_eq!(p.hashes, vec![7]);

        // Everything delivered already: the series (and its hash) goes.
        let mut p = packed(&[5, 20], None);
        s.filter(&mut p.request, &mut p.hashes);
        assert!(p.request.timeseries.is_empty());
        assert!(p.hashes.is_empty());

        // A series without samples is always left out.
        assert!(s.needs_filter(&packed(&[], Some(30))));
    }

    #[test]
    fn the_series_bound_is_shared_by_all_shards() {
        let tracked = Arc::new(AtomicUsize::new(0));
        let mut a = shard();
        let mut b = shard();
        for s in [&mut a, &mut b] {
            s.tracked = tracked.clone();
            s.capacity = 1;
        }
        let p = packed(&[10], None);
        a.delivered(&p.request, &p.hashes, Instant::now());
        b.delivered(&p.request, &[8], Instant::now());
        assert_eq!(tracked.load(Ordering::Relaxed), 1);
        assert!(
            b.newest.is_empty(),
            "full: the second series goes untracked"
        );
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;
    use crate::test_support::{both, metric_with};
    use weir_proto::metrics::v1::{metric, Gauge, NumberDataPoint};

    fn gauge(time: u64) -> weir_proto::metrics::v1::ResourceMetrics {
        metric_with(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: time,
                ..Default::default()
            }],
        }))
    }

    #[test]
    fn a_batch_is_recognised_by_its_clones_only() {
        for batch in both(vec![gauge(1), gauge(2)]) {
            assert!(same_batch(&batch, &batch.clone()));
            // The same content elsewhere is another batch.
            let [owned, wire] = both(vec![gauge(1), gauge(2)]);
            assert!(!same_batch(&batch, &owned));
            assert!(!same_batch(&batch, &wire));
            // So is one that lost or gained items.
            let mut rest = batch.clone();
            let front = rest.split_front(1);
            assert!(!same_batch(&batch, &front));
            assert!(!same_batch(&batch, &rest));
            let mut more = batch.clone();
            assert!(more.append(owned).is_ok());
            assert!(!same_batch(&batch, &more));
        }
    }
}
