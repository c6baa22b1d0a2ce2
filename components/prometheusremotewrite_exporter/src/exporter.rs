//! The exporter: convert a batch once, hand its shards' parts to the ordered lanes, and
//! report to the engine once the endpoint accepted them.
//!
//! [`Exporter::prepare`] converts a batch once: OTLP to series, delta points into the
//! running totals, series packed into `WriteRequest`s per shard, each encoded and
//! snappy-compressed. Each shard's requests become one `Piece` placed on that shard's
//! lane right away, so lanes send batches in the order the pipeline handed them over
//! (see [`crate::lane`] for why order is kept here and not by the engine's queue). The
//! [`RemoteWriteRequest`] the engine queues holds the pieces; [`ExportRequest::send`]
//! waits for them: it returns once every piece is delivered or refused, and returns a
//! retryable error each time one of its pieces failed an attempt (the lane retries it;
//! the engine's retry loop sees each failure and gives up after `max_elapsed_time`).
//! When the engine gives up, or the queue drops the request, dropping it cancels what
//! its pieces did not send yet, so a later batch is never held back by an abandoned one.
//!
//! Why shards: one lane sends one request at a time, in order, so it keeps every series
//! in order; `num_consumers` lanes send in parallel. Every series belongs to one shard by
//! the hash of the point it came from, so the series of one busy instance spread over
//! all lanes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use foldhash::HashMap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use weir_api::telemetry::names::{
    REMOTE_WRITE_DELTA_STREAMS, REMOTE_WRITE_HISTOGRAMS_SENT, REMOTE_WRITE_REQUESTS,
    REMOTE_WRITE_SAMPLES_SENT,
};
use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ExportError, ExportRequest, Exporter, RetrySettings, Signal};

use crate::client::{Client, Failure};
use crate::convert::{self, DropReason, Settings};
use crate::delta::DeltaState;
use crate::lane::{self, lock, Encoded, Lane, Phase, Piece};
use crate::request::{self, Packed};
use weir_proto::remote_write::TimeSeries;

/// Sent series kept for the next conversion to build in: about what one large scrape or
/// batch holds, a few megabytes at most.
const RECYCLED_SERIES: usize = 20_000;

/// Self-metric handles, fetched once at build.
pub(crate) struct Counters {
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

    pub(crate) fn drop(&self, reason: DropReason, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(c) = self.dropped.get(&reason) {
            c.inc_by(n as u64);
        }
    }
}

/// What the exporter, its lanes and its requests share.
pub(crate) struct Inner {
    id: String,
    settings: Settings,
    max_bytes: usize,
    client: Client,
    /// One attempt's deadline (`timeout`), applied to every POST by the lanes.
    timeout: Duration,
    pub(crate) retry: RetrySettings,
    pub(crate) lanes: Vec<Lane>,
    /// Series remembered by all lanes' ordering records together, and their bound.
    pub(crate) tracked: Arc<AtomicUsize>,
    pub(crate) max_series: usize,
    pub(crate) max_idle: Duration,
    /// Set at shutdown: lanes end once their queues are empty.
    pub(crate) closed: AtomicBool,
    pub(crate) closing: Notify,
    /// Lanes are spawned on first use, on the runtime that prepares batches.
    started: OnceLock<()>,
    /// Held from conversion until a batch's pieces are on their lanes, so batches
    /// prepared at once by several pipelines reach the lanes in the order they were
    /// converted (the order their delta totals and timestamps were computed in).
    placing: Mutex<()>,
    delta: Mutex<DeltaState>,
    /// Sent 1.0 series whose allocations the next conversion reuses (at most
    /// `RECYCLED_SERIES`; see `convert::convert_recycling`).
    recycled: Mutex<Vec<TimeSeries>>,
    pub(crate) counters: Counters,
    /// Permanent failures already logged, so each distinct reason is logged once.
    logged: Mutex<HashSet<String>>,
    /// Remote-write 2.0: configured, and whether the endpoint refused it (`crate::v2`).
    pub(crate) v2: crate::v2::Mode,
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
    pub timeout: Duration,
    pub retry: RetrySettings,
    /// Send `io.prometheus.write.v2.Request` (remote-write 2.0).
    pub v2: bool,
}

impl RemoteWriteExporter {
    pub fn new(options: Options, client: Client, telemetry: &Telemetry) -> Self {
        let shards = options.shards.max(1);
        let inner = Inner {
            counters: Counters::new(telemetry, &options.id),
            id: options.id,
            settings: options.settings,
            max_bytes: options.max_bytes,
            client,
            timeout: options.timeout,
            retry: options.retry,
            lanes: (0..shards).map(|_| Lane::new()).collect(),
            tracked: Arc::new(AtomicUsize::new(0)),
            max_series: options.max_series.max(1),
            max_idle: options.max_idle,
            closed: AtomicBool::new(false),
            closing: Notify::new(),
            started: OnceLock::new(),
            placing: Mutex::new(()),
            delta: Mutex::new(DeltaState::new(options.max_streams, options.max_stale)),
            recycled: Mutex::new(Vec::new()),
            logged: Mutex::new(HashSet::new()),
            v2: crate::v2::Mode::new(options.v2),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Spawns the lanes' tasks once, when there is a runtime to run them.
    fn ensure_lanes(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.inner.started.get_or_init(|| {
            for index in 0..self.inner.lanes.len() {
                handle.spawn(lane::run(self.inner.clone(), index));
            }
        });
    }

    /// Converts, packs and encodes `batch`, once, and places its pieces on the lanes.
    fn prepare_request(&self, batch: Batch) -> Result<RemoteWriteRequest, ExportError> {
        let inner = &self.inner;
        let mut prepared = RemoteWriteRequest {
            items: batch.item_count(),
            encoded_len: 0,
            pieces: Vec::new(),
            seen_failures: Vec::new(),
            dropped_points: 0,
            drop_summary: String::new(),
        };
        if batch.is_empty() {
            return Ok(prepared);
        }
        let _placing = lock(&inner.placing);
        let mut recycled = std::mem::take(&mut *lock(&inner.recycled));
        let converted = {
            let mut delta = lock(&inner.delta);
            let converted = convert::convert_recycling(
                &batch,
                &inner.settings,
                inner.lanes.len(),
                &mut delta,
                Instant::now(),
                &mut recycled,
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

        // 2.0 (until the endpoint refuses it): metadata travels in-line with the series.
        let v2 = inner.v2.active();
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        let (mut scratch_v2, mut out_v2) = (Vec::new(), Vec::new());
        let mut encode = |packed: Packed| {
            Encoded::recycling(packed, &mut scratch, &mut out, &mut recycled).map_err(|message| {
                ExportError::permanent(format!(
                    "could not encode a remote-write request: {message}"
                ))
            })
        };
        let metadata = if v2 { Vec::new() } else { converted.metadata };
        let metadata: Vec<Encoded> = request::pack_metadata(metadata, inner.max_bytes)
            .into_iter()
            .map(|request| {
                encode(Packed {
                    request,
                    ..Packed::default()
                })
            })
            .collect::<Result<_, _>>()?;
        // Everything is encoded before any piece goes on a lane: an encoding error
        // leaves no half-placed batch behind.
        let mut per_shard = Vec::with_capacity(inner.lanes.len());
        for (shard, ((series, hashes), primary)) in converted
            .shards
            .into_iter()
            .zip(converted.hashes)
            .zip(converted.primary)
            .enumerate()
        {
            if v2 {
                let info = converted.v2_info.get(shard).map_or(&[][..], Vec::as_slice);
                let packed = crate::v2::pack(
                    series,
                    hashes,
                    primary,
                    info,
                    &converted.v2_families,
                    inner.max_bytes,
                );
                let requests: Vec<Encoded> = packed
                    .into_iter()
                    .map(|p| {
                        crate::v2::encoded(p, &mut scratch_v2, &mut out_v2).map_err(|message| {
                            ExportError::permanent(format!(
                                "could not encode a remote-write 2.0 request: {message}"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                per_shard.push(requests);
                continue;
            }
            let requests: Vec<Encoded> =
                request::pack_hashed(series, hashes, primary, inner.max_bytes)
                    .into_iter()
                    .map(&mut encode)
                    .collect::<Result<_, _>>()?;
            per_shard.push(requests);
        }
        recycled.truncate(RECYCLED_SERIES);
        *lock(&inner.recycled) = recycled;
        let lengths = metadata
            .iter()
            .chain(per_shard.iter().flatten())
            .map(|e| e.len);
        prepared.encoded_len = lengths.sum();
        self.ensure_lanes();
        // Metadata first, on the first lane: it describes the samples that follow.
        let metadata = (!metadata.is_empty()).then_some((0, metadata, true));
        let samples = per_shard
            .into_iter()
            .enumerate()
            .filter(|(_, requests)| !requests.is_empty())
            .map(|(index, requests)| (index, requests, false));
        for (index, requests, advisory) in metadata.into_iter().chain(samples) {
            let piece = Piece::new(requests, advisory);
            if let Some(lane) = inner.lanes.get(index) {
                lane.push(piece.clone());
            }
            prepared.pieces.push(piece);
            prepared.seen_failures.push(0);
        }
        Ok(prepared)
    }
}

impl Inner {
    /// POSTs one body, within `timeout`, and counts the result.
    pub(crate) async fn post(
        &self,
        body: Bytes,
        samples: usize,
        histograms: usize,
    ) -> Result<(), Failure> {
        let sent = if self.timeout.is_zero() {
            self.client.send(body).await
        } else {
            tokio::time::timeout(self.timeout, self.client.send(body))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure {
                        retryable: true,
                        retry_after: None,
                        status: None,
                        message: format!("remote-write request timed out after {:?}", self.timeout),
                    })
                })
        };
        match sent {
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

    /// One 2.0 POST within `timeout`, with the written counts the endpoint answered
    /// (`crate::v2` counts the samples).
    pub(crate) async fn post_v2(
        &self,
        body: Bytes,
    ) -> (Result<(), Failure>, crate::client::Written) {
        let sent = if self.timeout.is_zero() {
            self.client.send_v2(body).await
        } else {
            tokio::time::timeout(self.timeout, self.client.send_v2(body))
                .await
                .unwrap_or_else(|_| {
                    let failure = Failure {
                        retryable: true,
                        retry_after: None,
                        status: None,
                        message: format!("remote-write request timed out after {:?}", self.timeout),
                    };
                    (Err(failure), crate::client::Written::default())
                })
        };
        match &sent.0 {
            Ok(()) => {
                self.counters.requests_sent.inc();
            }
            Err(failure) if failure.retryable => {
                self.counters.requests_retryable.inc();
            }
            // A 415 is not a refusal: the request goes again as 1.0.
            Err(failure) if failure.status == Some(415) => {}
            Err(failure) => {
                self.counters.requests_permanent.inc();
                self.log_once(failure);
            }
        }
        sent
    }

    /// Samples and histograms an endpoint wrote.
    pub(crate) fn count_written(&self, samples: usize, histograms: usize) {
        self.counters.samples_sent.inc_by(samples as u64);
        self.counters.histograms_sent.inc_by(histograms as u64);
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// A partial write, logged once per distinct text (at most 1000 of them).
    pub(crate) fn log_partial(&self, message: &str) {
        let key: String = message.chars().take(200).collect();
        let mut logged = lock(&self.logged);
        if logged.len() < 1000 && logged.insert(key) {
            tracing::warn!(exporter = %self.id, error = %message,
                "remote-write endpoint did not write part of a request; what it did not write is dropped (partial_write)");
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
}

/// A prepared batch: its pieces, one per shard it has data for.
pub struct RemoteWriteRequest {
    items: usize,
    encoded_len: usize,
    pieces: Vec<Arc<Piece>>,
    /// Per piece: the failed attempts already reported to the engine.
    seen_failures: Vec<u64>,
    /// Points that could not be converted, and why.
    dropped_points: usize,
    drop_summary: String,
}

impl RemoteWriteRequest {
    /// The result once every piece is delivered or refused: the points refused, left out
    /// as older than delivered, or not converted are rejected; the rest were accepted.
    fn outcome(&self) -> Result<(), ExportError> {
        let (mut refused, mut older, mut unwritten) = (0, 0, 0);
        let mut refusal: Option<String> = None;
        for piece in &self.pieces {
            let state = lock(&piece.state);
            refused += state.refused_points();
            older += state.older_points;
            unwritten += state.unwritten_points;
            if let Phase::Refused(message) = &state.phase {
                if !state.advisory {
                    refusal.get_or_insert_with(|| message.clone());
                }
            }
        }
        let rejected = refused + older + unwritten + self.dropped_points;
        if rejected == 0 {
            return Ok(());
        }
        let mut parts = Vec::new();
        if let Some(refusal) = refusal {
            parts.push(format!("{refused} points refused: {refusal}"));
        }
        if older > 0 {
            parts.push(format!(
                "{older} points left out: older than samples already delivered for their series (sample_older_than_delivered)"
            ));
        }
        if unwritten > 0 {
            parts.push(format!(
                "{unwritten} points not written by the remote-write 2.0 endpoint (partial_write)"
            ));
        }
        if self.dropped_points > 0 {
            parts.push(format!(
                "{} points could not be converted to Prometheus series ({})",
                self.dropped_points, self.drop_summary
            ));
        }
        Err(ExportError::Permanent {
            message: parts.join("; "),
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
        for (piece, seen) in self.pieces.iter().zip(self.seen_failures.iter_mut()) {
            loop {
                let changed = piece.changed.notified();
                tokio::pin!(changed);
                // Registered before the check, so a change between the two is not missed.
                changed.as_mut().enable();
                {
                    let state = lock(&piece.state);
                    if state.finished() {
                        break;
                    }
                    if let Phase::Retrying {
                        message,
                        retry_after,
                    } = &state.phase
                    {
                        if state.failures > *seen {
                            // Each failed attempt is reported once; the lane retries it.
                            *seen = state.failures;
                            return Err(ExportError::Retryable {
                                message: message.clone(),
                                retry_after: *retry_after,
                            });
                        }
                    }
                }
                changed.await;
            }
        }
        self.outcome()
    }
}

impl Drop for RemoteWriteRequest {
    /// Delivered, refused, or given up by the engine: what is left is not sent, and
    /// later batches on the same lanes go on.
    fn drop(&mut self) {
        for piece in &self.pieces {
            piece.cancel();
        }
    }
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    async fn start(&self) -> Result<(), weir_api::StartError> {
        self.ensure_lanes();
        Ok(())
    }

    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError> {
        Ok(Box::new(self.prepare_request(batch)?))
    }

    async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.closing.notify_waiters();
        for lane in &self.inner.lanes {
            lane.wake();
        }
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

    fn bodies(prepared: &RemoteWriteRequest) -> Vec<Vec<Bytes>> {
        prepared
            .pieces
            .iter()
            .map(|p| {
                lock(&p.state)
                    .requests
                    .iter()
                    .map(|e| e.body.clone())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_request_is_sized_by_its_uncompressed_protobuf() {
        // No runtime here: the pieces stay on their lanes, unsent.
        let e = exporter("endpoint: http://127.0.0.1:1/api/v1/write\nmax_batch_size_bytes: 2000\nremote_write_queue: {num_consumers: 3}\n");
        let batch = gauges(100, 1_000);
        let items = batch.item_count();
        let prepared = e.prepare_request(batch).unwrap();
        assert_eq!(prepared.items(), items);
        let mut total = 0;
        let mut count = 0;
        for piece in &prepared.pieces {
            for encoded in &lock(&piece.state).requests {
                let decoded = request::decode(&encoded.body).unwrap();
                assert_eq!(prost::Message::encoded_len(&decoded), encoded.len);
                total += encoded.len;
                count += 1;
            }
        }
        assert!(count > 3, "{count} requests");
        assert_eq!(prepared.encoded_len(), total);
        let queued: usize = e.inner.lanes.iter().map(Lane::len).sum();
        assert_eq!(queued, prepared.pieces.len());
    }

    /// Issue 13: one instance (one `job` + `instance`) spreads over every lane.
    #[test]
    fn one_instance_spreads_over_every_lane() {
        let e = exporter(
            "endpoint: http://127.0.0.1:1/api/v1/write\nremote_write_queue: {num_consumers: 4}\n",
        );
        let prepared = e.prepare_request(gauges(400, 1_000)).unwrap();
        assert_eq!(prepared.pieces.len(), 4, "a piece on each lane");
        for lane in &e.inner.lanes {
            assert_eq!(lane.len(), 1);
        }
        let points: usize = prepared
            .pieces
            .iter()
            .flat_map(|p| lock(&p.state).requests.clone())
            .map(|e| e.points)
            .sum();
        assert_eq!(
            points, 400,
            "every point counted once, in its primary series"
        );
    }

    #[tokio::test]
    async fn a_retry_resends_only_what_did_not_get_through() {
        let server = RecordingServer::start().await;
        let e = exporter(&format!(
            "endpoint: {}\nmax_batch_size_bytes: 2000\nremote_write_queue: {{num_consumers: 4}}\n",
            server.url
        ));
        let mut prepared = e.prepare_request(gauges(400, 1_000)).unwrap();
        let all = bodies(&prepared);
        let busy: Vec<&Vec<Bytes>> = all.iter().filter(|b| b.len() >= 2).collect();
        assert!(!busy.is_empty(), "a lane with several requests");
        // The second request of a lane fails once: that lane is partly delivered.
        let failing = busy[0][1].clone();
        server.fail_once(failing.clone());
        // The lanes send (and retry) on their own; the request reports the failure once.
        let mut failures = 0;
        loop {
            match prepared.send().await {
                Ok(()) => break,
                Err(ExportError::Retryable { .. }) => failures += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        assert!(failures <= 1, "{failures}");
        let posts = server.posts();
        assert_eq!(posts.iter().filter(|p| p.0 != 200).count(), 1);
        // On the failing lane, the failed body went again before the lane's next one.
        let lane: Vec<Bytes> = posts
            .iter()
            .map(|p| p.1.clone())
            .filter(|b| busy[0].contains(b))
            .collect();
        let mut expected = busy[0].clone();
        expected.insert(1, failing);
        assert_eq!(lane, expected);
        // Every body delivered exactly once.
        let mut delivered: Vec<Bytes> = posts
            .iter()
            .filter(|p| p.0 == 200)
            .map(|p| p.1.clone())
            .collect();
        let mut everything: Vec<Bytes> = all.into_iter().flatten().collect();
        delivered.sort();
        everything.sort();
        assert_eq!(delivered, everything);
    }
}
