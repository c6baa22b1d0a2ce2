//! The exporter: convert a batch once, then deliver it shard by shard, in order.
//!
//! [`Exporter::prepare`] converts a batch once: OTLP to series, delta points into the
//! running totals, series packed into `WriteRequest`s per shard, each encoded and
//! snappy-compressed. The [`RemoteWriteRequest`] it returns holds those bodies and how
//! far each shard got; the engine queues it and calls [`ExportRequest::send`] for every
//! attempt. An attempt resumes where the last one stopped: it sends only what was not
//! delivered yet, the same bytes as before, and no delta is added twice.
//!
//! Why shards: the engine runs `num_consumers` requests at once, and Prometheus refuses
//! a whole request when one of its samples is older than what it already has for that
//! series (the Collector avoids this by forcing one consumer; see its issue #2949). Here
//! every series belongs to one of `num_consumers` shards (by the hash of the point it
//! came from), and a shard sends in the order requests first tried to send: each
//! request takes a ticket on its first attempt, and on every shard it has data for it
//! waits until the requests with earlier tickets are done with that shard (delivered,
//! refused for good, or given up and dropped). A request waiting for a retry therefore
//! holds back the later requests of its shards only, and a retried sample is never
//! overtaken by a newer one. Each shard also remembers, per series, the newest timestamp
//! it delivered, and leaves out older samples before sending (counted under
//! `sample_older_than_delivered`): a safety net for data that reaches the exporter out
//! of order. Different shards proceed in parallel.
//!
//! Cancellation: the engine's timeout drops an attempt at any await. Progress is only
//! recorded after the endpoint accepted a request, so a dropped attempt leaves the
//! request as it was before that request was sent; a dropped request gives back its
//! tickets.

use std::collections::{BTreeSet, HashSet};

use foldhash::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use weir_api::telemetry::names::{
    REMOTE_WRITE_DELTA_STREAMS, REMOTE_WRITE_HISTOGRAMS_SENT, REMOTE_WRITE_REQUESTS,
    REMOTE_WRITE_SAMPLES_SENT,
};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ExportError, ExportRequest, Exporter, Signal};
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
        let requests = |result: &str| telemetry.counter_of(&REMOTE_WRITE_REQUESTS, &[id, result]);
        Self {
            dropped: DropReason::ALL
                .iter()
                .map(|r| (*r, telemetry.dropped(id, Signal::Metrics, r.as_str())))
                .collect(),
            requests_sent: requests("sent"),
            requests_retryable: requests("retryable_error"),
            requests_permanent: requests("permanent_error"),
            samples_sent: telemetry.counter_of(&REMOTE_WRITE_SAMPLES_SENT, &[id]),
            histograms_sent: telemetry.counter_of(&REMOTE_WRITE_HISTOGRAMS_SENT, &[id]),
            delta_streams: telemetry.gauge_of(&REMOTE_WRITE_DELTA_STREAMS, &[id]),
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
    /// The uncompressed protobuf of a filtered request, reused between requests.
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

/// Float samples and native histogram samples in a request.
fn sample_counts(request: &WriteRequest) -> (usize, usize) {
    request.timeseries.iter().fold((0, 0), |(s, h), t| {
        (s + t.samples.len(), h + t.histograms.len())
    })
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

    /// Whether `filter` would change the request whose series have these `hashes` and
    /// time `ranges`: a series without samples, or one holding something not newer than
    /// what was delivered. Usually not, and then the prepared body is sent as it is.
    fn needs_filter(&self, hashes: &[u64], ranges: &[Option<(i64, i64)>]) -> bool {
        ranges.iter().zip(hashes).any(|(range, hash)| match range {
            None => true,
            Some((oldest, _)) => self
                .newest
                .get(hash)
                .is_some_and(|(newest, _)| *oldest <= *newest),
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

    /// Records a delivered request: its series' `hashes` and time `ranges`.
    fn delivered(&mut self, hashes: &[u64], ranges: &[Option<(i64, i64)>], now: Instant) {
        for (range, &key) in ranges.iter().zip(hashes) {
            let Some((_, newest)) = *range else {
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

/// One `WriteRequest`, encoded and snappy-compressed once, at prepare, with what the
/// ordering record needs of it.
struct Encoded {
    /// The wire body; every attempt sends these bytes.
    body: Bytes,
    /// Protobuf size before compression.
    len: usize,
    /// Per series: the hash of its labels and its time range.
    hashes: Vec<u64>,
    ranges: Vec<Option<(i64, i64)>>,
    samples: usize,
    histograms: usize,
}

impl Encoded {
    fn new(packed: Packed, scratch: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<Self, String> {
        request::encode_into(&packed.request, scratch, out)?;
        let (samples, histograms) = sample_counts(&packed.request);
        Ok(Self {
            body: Bytes::copy_from_slice(out),
            len: scratch.len(),
            ranges: packed.request.timeseries.iter().map(time_range).collect(),
            hashes: packed.hashes,
            samples,
            histograms,
        })
    }
}

/// The requests of one shard of one batch, and how far they got.
struct ShardWork {
    requests: Vec<Encoded>,
    /// The first request not delivered yet.
    next: usize,
    /// Points converted into this shard (what a permanent refusal fails).
    points: usize,
    /// Refused for good: the rest of this shard is not sent.
    failed: bool,
}

impl ShardWork {
    fn finished(&self) -> bool {
        self.failed || self.next >= self.requests.len()
    }
}

/// Tickets of the requests that still have data for each shard: a shard serves its
/// lowest ticket first.
struct Turns {
    next: u64,
    pending: Vec<BTreeSet<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the exporter and its requests share.
struct Inner {
    id: String,
    settings: Settings,
    max_bytes: usize,
    client: Client,
    shards: Vec<tokio::sync::Mutex<Shard>>,
    turns: Mutex<Turns>,
    /// Per shard: woken when a ticket leaves the shard.
    turn_changed: Vec<Notify>,
    delta: Mutex<DeltaState>,
    counters: Counters,
    /// Permanent failures already logged, so each distinct reason is logged once.
    logged: Mutex<HashSet<String>>,
}

pub struct RemoteWriteExporter {
    inner: Arc<Inner>,
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
        let inner = Inner {
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
            turns: Mutex::new(Turns {
                next: 0,
                pending: vec![BTreeSet::new(); shards],
            }),
            turn_changed: (0..shards).map(|_| Notify::new()).collect(),
            delta: Mutex::new(DeltaState::new(options.max_streams, options.max_stale)),
            logged: Mutex::new(HashSet::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Converts, packs and encodes `batch`, once.
    fn prepare_request(&self, batch: Batch) -> Result<RemoteWriteRequest, ExportError> {
        let inner = &self.inner;
        let mut prepared = RemoteWriteRequest {
            inner: inner.clone(),
            items: batch.item_count(),
            encoded_len: 0,
            metadata: Vec::new(),
            metadata_next: 0,
            shards: Vec::new(),
            dropped_points: 0,
            drop_summary: String::new(),
            refused: None,
            ticket: None,
        };
        if batch.is_empty() {
            return Ok(prepared);
        }
        let converted = {
            let mut delta = lock(&inner.delta);
            let converted = convert::convert(
                &batch,
                &inner.settings,
                inner.shards.len(),
                &mut delta,
                Instant::now(),
            );
            inner.counters.delta_streams.set(delta.len() as i64);
            converted
        };
        // The request carries its converted bodies, not the batch.
        drop(batch);
        let mut reasons: Vec<String> = Vec::new();
        for (reason, n) in &converted.dropped {
            inner.counters.drop(*reason, *n);
            reasons.push(format!("{n} {}", reason.as_str()));
        }
        reasons.sort();
        prepared.dropped_points = converted.dropped_points();
        prepared.drop_summary = reasons.join(", ");

        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        let mut encode = |packed: Packed| {
            Encoded::new(packed, &mut scratch, &mut out).map_err(|message| {
                ExportError::permanent(format!(
                    "could not encode a remote-write request: {message}"
                ))
            })
        };
        prepared.metadata = request::pack_metadata(converted.metadata, inner.max_bytes)
            .into_iter()
            .map(|request| {
                encode(Packed {
                    request,
                    hashes: Vec::new(),
                })
            })
            .collect::<Result<_, _>>()?;
        for ((series, hashes), points) in converted
            .shards
            .into_iter()
            .zip(converted.hashes)
            .zip(converted.shard_points)
        {
            let requests = request::pack_hashed(series, hashes, inner.max_bytes)
                .into_iter()
                .map(&mut encode)
                .collect::<Result<_, _>>()?;
            prepared.shards.push(ShardWork {
                requests,
                next: 0,
                points,
                failed: false,
            });
        }
        prepared.encoded_len = prepared
            .metadata
            .iter()
            .chain(prepared.shards.iter().flat_map(|s| &s.requests))
            .map(|e| e.len)
            .sum();
        Ok(prepared)
    }
}

impl Inner {
    /// POSTs one body and counts the result.
    async fn post(&self, body: Bytes, samples: usize, histograms: usize) -> Result<(), Failure> {
        match self.client.send(body).await {
            Ok(()) => {
                self.counters.requests_sent.inc();
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

    /// A new ticket, queued on each shard for which `has_work` is true.
    fn take_ticket(&self, has_work: impl Iterator<Item = bool>) -> u64 {
        let mut turns = lock(&self.turns);
        let ticket = turns.next;
        turns.next += 1;
        for (pending, has_work) in turns.pending.iter_mut().zip(has_work) {
            if has_work {
                pending.insert(ticket);
            }
        }
        ticket
    }

    /// Takes `ticket` off `shard`, letting the next request in.
    fn release(&self, shard: usize, ticket: u64) {
        let removed = lock(&self.turns)
            .pending
            .get_mut(shard)
            .is_some_and(|pending| pending.remove(&ticket));
        if removed {
            if let Some(changed) = self.turn_changed.get(shard) {
                changed.notify_waiters();
            }
        }
    }

    fn is_turn(&self, shard: usize, ticket: u64) -> bool {
        lock(&self.turns)
            .pending
            .get(shard)
            .and_then(|pending| pending.first())
            .is_none_or(|first| *first >= ticket)
    }

    /// Waits until every request with an earlier ticket is done with `shard`.
    async fn wait_turn(&self, shard: usize, ticket: u64) {
        let Some(changed) = self.turn_changed.get(shard) else {
            return;
        };
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between the two is not missed.
            notified.as_mut().enable();
            if self.is_turn(shard, ticket) {
                return;
            }
            notified.await;
        }
    }

    /// Sends what is left of one shard's requests, in order; `Err` on the first failure.
    async fn run_shard(
        &self,
        index: usize,
        ticket: u64,
        work: &mut ShardWork,
    ) -> Result<(), Failure> {
        self.wait_turn(index, ticket).await;
        let Some(shard) = self.shards.get(index) else {
            return Ok(());
        };
        let mut guard = shard.lock().await;
        let shard = &mut *guard;
        while let Some(encoded) = work.requests.get(work.next) {
            if shard.needs_filter(&encoded.hashes, &encoded.ranges) {
                let mut request = request::decode(&encoded.body).map_err(permanent_failure)?;
                let mut hashes = encoded.hashes.clone();
                let older = shard.filter(&mut request, &mut hashes);
                if !request.timeseries.is_empty() {
                    let mut body = Vec::new();
                    request::encode_into(&request, &mut shard.scratch, &mut body)
                        .map_err(permanent_failure)?;
                    let (samples, histograms) = sample_counts(&request);
                    self.post(Bytes::from(body), samples, histograms).await?;
                    let ranges: Vec<_> = request.timeseries.iter().map(time_range).collect();
                    shard.delivered(&hashes, &ranges, Instant::now());
                }
                // Counted once the request is done with, not on every attempt.
                self.counters.drop(DropReason::OutOfOrderSample, older);
            } else {
                self.post(encoded.body.clone(), encoded.samples, encoded.histograms)
                    .await?;
                shard.delivered(&encoded.hashes, &encoded.ranges, Instant::now());
            }
            work.next += 1;
        }
        Ok(())
    }
}

fn permanent_failure(message: String) -> Failure {
    Failure {
        retryable: false,
        retry_after: None,
        status: None,
        message,
    }
}

fn retryable(f: Failure) -> ExportError {
    ExportError::Retryable {
        message: f.message,
        retry_after: f.retry_after,
    }
}

/// A prepared batch: its encoded requests per shard and how far each got.
pub struct RemoteWriteRequest {
    inner: Arc<Inner>,
    items: usize,
    encoded_len: usize,
    metadata: Vec<Encoded>,
    metadata_next: usize,
    shards: Vec<ShardWork>,
    /// Points that could not be converted, and why.
    dropped_points: usize,
    drop_summary: String,
    /// The first permanent refusal of a shard.
    refused: Option<String>,
    /// This request's place in its shards' order, taken on the first attempt.
    ticket: Option<u64>,
}

impl RemoteWriteRequest {
    /// The attempt's result once every shard is delivered or refused for good.
    fn outcome(&self) -> Result<(), ExportError> {
        let failed_points: usize = self
            .shards
            .iter()
            .filter(|s| s.failed)
            .map(|s| s.points)
            .sum();
        let rejected = failed_points + self.dropped_points;
        if rejected == 0 {
            return Ok(());
        }
        let mut message = match &self.refused {
            Some(refused) => format!("{failed_points} points refused: {refused}"),
            None => String::new(),
        };
        if self.dropped_points > 0 {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!(
                "{} points could not be converted to Prometheus series ({})",
                self.dropped_points, self.drop_summary
            ));
        }
        Err(ExportError::Permanent {
            message,
            rejected: Some(rejected.min(self.items)),
        })
    }
}

#[async_trait]
impl ExportRequest for RemoteWriteRequest {
    fn items(&self) -> usize {
        self.items
    }

    fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    async fn send(&mut self) -> Result<(), ExportError> {
        let inner = self.inner.clone();
        let ticket = match self.ticket {
            Some(ticket) => ticket,
            None => {
                let ticket = inner.take_ticket(self.shards.iter().map(|s| !s.finished()));
                self.ticket = Some(ticket);
                ticket
            }
        };
        while let Some(encoded) = self.metadata.get(self.metadata_next) {
            match inner.post(encoded.body.clone(), 0, 0).await {
                Ok(()) => self.metadata_next += 1,
                Err(f) if f.retryable => return Err(retryable(f)),
                // Metadata is advisory; a refused metadata request does not fail samples.
                Err(_) => self.metadata_next += 1,
            }
        }
        for index in 0..self.shards.len() {
            let work = &mut self.shards[index];
            if work.finished() {
                continue;
            }
            match inner.run_shard(index, ticket, work).await {
                Ok(()) => inner.release(index, ticket),
                // The endpoint is unreachable or overloaded: the other shards would
                // fail the same way, so stop and let the engine back off.
                Err(f) if f.retryable => return Err(retryable(f)),
                Err(f) => {
                    work.failed = true;
                    inner.release(index, ticket);
                    self.refused.get_or_insert(f.message);
                }
            }
        }
        self.outcome()
    }
}

impl Drop for RemoteWriteRequest {
    /// Delivered, refused, or given up by the engine: later requests may go.
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            for index in 0..self.shards.len() {
                self.inner.release(index, ticket);
            }
        }
    }
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        Ok(Box::new(self.prepare_request(batch)?))
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

    fn ranges(p: &Packed) -> Vec<Option<(i64, i64)>> {
        p.request.timeseries.iter().map(time_range).collect()
    }

    fn needs_filter(s: &Shard, p: &Packed) -> bool {
        s.needs_filter(&p.hashes, &ranges(p))
    }

    #[test]
    fn only_requests_touching_delivered_time_are_filtered() {
        let mut s = shard();
        let first = packed(&[10, 20], None);
        assert!(!needs_filter(&s, &first));
        s.delivered(&first.hashes, &ranges(&first), Instant::now());
        assert_eq!(s.newest[&7].0, 20);

        // Newer samples only: sent as they are.
        assert!(!needs_filter(&s, &packed(&[21, 30], None)));
        // An exemplar at the delivered time would be filtered.
        assert!(needs_filter(&s, &packed(&[21], Some(20))));

        // One resent and one older sample: filtering keeps the newer one, counts one.
        let mut p = packed(&[15, 20, 25], None);
        assert!(needs_filter(&s, &p));
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
        assert!(needs_filter(&s, &packed(&[], Some(30))));
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
        a.delivered(&p.hashes, &ranges(&p), Instant::now());
        b.delivered(&[8], &ranges(&p), Instant::now());
        assert_eq!(tracked.load(Ordering::Relaxed), 1);
        assert!(
            b.newest.is_empty(),
            "full: the second series goes untracked"
        );
    }
}

#[cfg(test)]
mod request_tests {
    use super::*;
    use crate::config::Config;
    use crate::test_support::{gauges, RecordingServer};
    use weir_api::{BuildContext, ComponentId};

    fn exporter(config: &str) -> RemoteWriteExporter {
        let value: weir_api::Value = serde_yaml_ng::from_str(config).unwrap();
        let resolved = Config::resolve(&value).unwrap();
        let telemetry = Telemetry::new();
        let ctx = BuildContext {
            id: ComponentId::new("prometheusremotewrite", None),
            telemetry: telemetry.clone(),
        };
        let client = Client::new(&resolved).unwrap();
        RemoteWriteExporter::new(crate::options(&ctx, &resolved), client, &telemetry)
    }

    #[test]
    fn a_request_is_sized_by_its_uncompressed_protobuf() {
        let e = exporter("endpoint: http://127.0.0.1:1/api/v1/write\nmax_batch_size_bytes: 2000\nremote_write_queue: {num_consumers: 3}\n");
        let batch = gauges(100, 1_000);
        let items = batch.item_count();
        let prepared = e.prepare_request(batch).unwrap();
        assert_eq!(prepared.items(), items);
        let bodies: Vec<&Encoded> = prepared.shards.iter().flat_map(|s| &s.requests).collect();
        assert!(bodies.len() > 3, "{} requests", bodies.len());
        let mut total = 0;
        for encoded in bodies {
            let decoded = request::decode(&encoded.body).unwrap();
            assert_eq!(prost::Message::encoded_len(&decoded), encoded.len);
            total += encoded.len;
        }
        assert_eq!(prepared.encoded_len(), total);
    }

    #[tokio::test]
    async fn a_retry_resends_only_what_did_not_get_through() {
        let server = RecordingServer::start().await;
        let e = exporter(&format!(
            "endpoint: {}\nmax_batch_size_bytes: 2000\nremote_write_queue: {{num_consumers: 4}}\n",
            server.url
        ));
        let mut prepared = e.prepare_request(gauges(400, 1_000)).unwrap();
        let busy: Vec<usize> = (0..prepared.shards.len())
            .filter(|i| prepared.shards[*i].requests.len() >= 2)
            .collect();
        assert!(busy.len() >= 2, "the series spread over several shards");
        let second = busy[1];
        // The second shard's second request fails once: that shard is partly delivered.
        let failing = prepared.shards[second].requests[1].body.clone();
        server.fail_once(failing.clone());

        assert!(matches!(
            prepared.send().await,
            Err(ExportError::Retryable { .. })
        ));
        let first_attempt = server.posts();
        assert_eq!(first_attempt.last().map(|p| &p.1), Some(&failing));
        assert_eq!(prepared.shards[second].next, 1);
        for earlier in &prepared.shards[..second] {
            assert!(earlier.finished());
        }

        prepared.send().await.unwrap();
        let posts = server.posts();
        let retried: Vec<Bytes> = posts[first_attempt.len()..]
            .iter()
            .map(|p| p.1.clone())
            .collect();
        // The second attempt sends the failed request again, byte for byte, then what
        // was not tried yet; nothing that got through is sent twice.
        let expected: Vec<Bytes> = prepared.shards[second].requests[1..]
            .iter()
            .chain(
                prepared.shards[second + 1..]
                    .iter()
                    .flat_map(|s| &s.requests),
            )
            .map(|e| e.body.clone())
            .collect();
        assert_eq!(retried, expected);
        let mut delivered: Vec<Bytes> = posts
            .iter()
            .filter(|p| p.0 == 200)
            .map(|p| p.1.clone())
            .collect();
        let mut all: Vec<Bytes> = prepared
            .shards
            .iter()
            .flat_map(|s| &s.requests)
            .map(|e| e.body.clone())
            .collect();
        delivered.sort();
        all.sort();
        assert_eq!(delivered, all, "every body delivered exactly once");
        assert_eq!(posts.iter().filter(|p| p.0 != 200).count(), 1);
    }
}
