//! Ordered lanes: one task per shard sends that shard's requests one at a time, in the
//! order the batches were prepared, retrying a failed request until it is delivered,
//! refused for good, or given up by its owner.
//!
//! Why the exporter owns this instead of leaving order to the engine's queue: the engine
//! runs `num_consumers` workers that pop requests concurrently, so which of two queued
//! batches reaches the endpoint first is a race, and a batch being retried would be
//! overtaken by the next one. Prometheus then refuses the older samples (or Weir's own
//! ordering record leaves them out), and they are lost. Here a batch's parts are placed
//! on their shards' lanes when the batch is prepared, which is the order the pipeline
//! hands batches over; the lane sends them in that order, and a retry holds back only
//! the lane it happens on. The engine's worker that holds the batch waits for its parts
//! (`Piece`) and reports the outcome, so the engine's counters and acknowledgements see
//! a batch as sent only once the endpoint accepted it.
//!
//! Each lane also remembers, per series, the newest timestamp it delivered and leaves out
//! older samples before sending (`Shard`, counted as `sample_older_than_delivered` and
//! reported as rejected points): with ordered lanes this only catches data that reached
//! the exporter out of order (a source sending an older point after a newer one).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use foldhash::HashMap;
use tokio::sync::Notify;
use weir_api::RetrySettings;
use weir_proto::remote_write::{TimeSeries, WriteRequest};

use crate::client::Failure;
use crate::convert::DropReason;
use crate::exporter::Inner;
use crate::request::{self, Packed};

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The oldest timestamp of a series' samples, histograms and exemplars, and the newest
/// of its samples and histograms (each list is sorted by time); `None` when it has no
/// samples or histograms.
pub(crate) fn time_range(series: &TimeSeries) -> Option<(i64, i64)> {
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
pub(crate) fn sample_counts(request: &WriteRequest) -> (usize, usize) {
    request.timeseries.iter().fold((0, 0), |(s, h), t| {
        (s + t.samples.len(), h + t.histograms.len())
    })
}

/// One `WriteRequest`, encoded and snappy-compressed once, at prepare, with what the
/// ordering record needs of it.
pub(crate) struct Encoded {
    /// The wire body; every attempt sends these bytes.
    pub body: Bytes,
    /// Protobuf size before compression.
    pub len: usize,
    /// Per series: the hash of its labels, its time range, whether it is primary.
    pub hashes: Vec<u64>,
    pub ranges: Vec<Option<(i64, i64)>>,
    pub primary: Vec<bool>,
    pub samples: usize,
    pub histograms: usize,
    pub exemplars: usize,
    /// Points carried (samples of primary series).
    pub points: usize,
    /// A remote-write 2.0 body (`crate::v2`), else 1.0.
    pub v2: bool,
}

impl Encoded {
    pub fn new(packed: Packed, scratch: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<Self, String> {
        Self::recycling(packed, scratch, out, &mut Vec::new())
    }

    /// [`Self::new`], handing the encoded series to `recycled` for the next conversion
    /// to build in (`convert::convert_recycling`) instead of freeing them.
    pub fn recycling(
        mut packed: Packed,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
        recycled: &mut Vec<TimeSeries>,
    ) -> Result<Self, String> {
        request::encode_into(&packed.request, scratch, out)?;
        let (samples, histograms) = sample_counts(&packed.request);
        let points = packed.points();
        let encoded = Self {
            body: Bytes::copy_from_slice(out),
            len: scratch.len(),
            ranges: packed.request.timeseries.iter().map(time_range).collect(),
            hashes: std::mem::take(&mut packed.hashes),
            primary: std::mem::take(&mut packed.primary),
            samples,
            histograms,
            exemplars: packed
                .request
                .timeseries
                .iter()
                .map(|t| t.exemplars.len())
                .sum(),
            points,
            v2: false,
        };
        recycled.append(&mut packed.request.timeseries);
        Ok(encoded)
    }
}

/// Where a piece is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Phase {
    /// On its lane, not started or between requests.
    Waiting,
    /// The last attempt failed and will be retried; `failures` counts them.
    Retrying {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Every request delivered (some points may have been left out as older).
    Delivered,
    /// Refused for good: the rest of the piece is not sent.
    Refused(String),
}

pub(crate) struct PieceState {
    pub requests: Vec<Arc<Encoded>>,
    /// The first request not delivered yet.
    pub next: usize,
    pub phase: Phase,
    /// Failed attempts so far (the owner reports each one to the engine once).
    pub failures: u64,
    /// Points left out because they were older than what was delivered.
    pub older_points: usize,
    /// Points a 2.0 endpoint said it did not write (a partial write, `crate::v2`).
    pub unwritten_points: usize,
    /// The owner gave up (the engine dropped the request): nothing more is sent.
    pub cancelled: bool,
    /// Advisory requests (metadata): a refusal fails no points.
    pub advisory: bool,
}

impl PieceState {
    pub fn finished(&self) -> bool {
        matches!(self.phase, Phase::Delivered | Phase::Refused(_))
    }

    /// Points not delivered because the piece was refused (from `next` on).
    pub fn refused_points(&self) -> usize {
        match self.phase {
            Phase::Refused(_) if !self.advisory => {
                self.requests.iter().skip(self.next).map(|e| e.points).sum()
            }
            _ => 0,
        }
    }
}

/// One shard's part of one prepared batch.
pub(crate) struct Piece {
    pub state: Mutex<PieceState>,
    /// Woken on every change of `state` the owner waits for.
    pub changed: Notify,
    /// Woken when the owner gives up, to cut a retry's backoff short.
    cancel: Notify,
}

impl Piece {
    pub fn new(requests: Vec<Encoded>, advisory: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(PieceState {
                requests: requests.into_iter().map(Arc::new).collect(),
                next: 0,
                phase: Phase::Waiting,
                failures: 0,
                older_points: 0,
                unwritten_points: 0,
                cancelled: false,
                advisory,
            }),
            changed: Notify::new(),
            cancel: Notify::new(),
        })
    }

    /// The owner gives up: what was not sent is not sent, and its memory is freed.
    pub fn cancel(&self) {
        let mut state = lock(&self.state);
        if state.finished() {
            return;
        }
        state.cancelled = true;
        let next = state.next;
        state.requests.truncate(next);
        drop(state);
        self.cancel.notify_one();
    }

    fn set_phase(&self, phase: Phase) {
        lock(&self.state).phase = phase;
        self.changed.notify_waiters();
    }
}

/// One ordered lane's queue.
pub(crate) struct Lane {
    queue: Mutex<VecDeque<Arc<Piece>>>,
    wake: Notify,
}

impl Lane {
    pub fn new() -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
        }
    }

    pub fn push(&self, piece: Arc<Piece>) {
        lock(&self.queue).push_back(piece);
        self.wake.notify_one();
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.queue).len()
    }

    /// The next piece, or `None` once `closed` is set and nothing is left.
    async fn next(&self, closed: &AtomicBool) -> Option<Arc<Piece>> {
        loop {
            let woken = self.wake.notified();
            if let Some(piece) = lock(&self.queue).pop_front() {
                return Some(piece);
            }
            if closed.load(Ordering::Acquire) {
                return None;
            }
            woken.await;
        }
    }
}

/// The ordering record of one lane: the newest delivered timestamp of each of its
/// series, keyed by the hash of the series' labels (computed once at conversion).
pub(crate) struct Shard {
    /// Series hash -> (newest delivered timestamp, when last delivered in whole seconds
    /// since `born`): 24 bytes a series, for up to a million series.
    pub newest: HashMap<u64, (i64, u32)>,
    born: Instant,
    /// Series remembered by all shards together, and their bound (`ordering.max_series`).
    pub tracked: Arc<AtomicUsize>,
    pub capacity: usize,
    pub max_idle: Duration,
    /// The uncompressed protobuf of a filtered request, reused between requests.
    pub scratch: Vec<u8>,
}

impl Shard {
    pub fn new(tracked: Arc<AtomicUsize>, capacity: usize, max_idle: Duration) -> Self {
        Self {
            newest: HashMap::default(),
            born: Instant::now(),
            tracked,
            capacity: capacity.max(1),
            max_idle,
            scratch: Vec::new(),
        }
    }

    /// `now` in whole seconds since the shard was made (saturating after 136 years).
    fn seconds(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.born).as_secs()).unwrap_or(u32::MAX)
    }

    fn forget_idle(&mut self, now: Instant) {
        let max_idle = self.max_idle.as_secs();
        let now = self.seconds(now);
        let before = self.newest.len();
        self.newest
            .retain(|_, (_, seen)| u64::from(now.saturating_sub(*seen)) < max_idle.max(1));
        self.tracked
            .fetch_sub(before - self.newest.len(), Ordering::Relaxed);
    }

    fn is_full(&self) -> bool {
        self.tracked.load(Ordering::Relaxed) >= self.capacity
    }

    /// Whether `filter` would change the request whose series have these `hashes` and
    /// time `ranges`: a series without samples, or one holding something not newer than
    /// what was delivered. Usually not, and then the prepared body is sent as it is.
    pub fn needs_filter(&self, hashes: &[u64], ranges: &[Option<(i64, i64)>]) -> bool {
        ranges.iter().zip(hashes).any(|(range, hash)| match range {
            None => true,
            Some((oldest, _)) => self
                .newest
                .get(hash)
                .is_some_and(|(newest, _)| *oldest <= *newest),
        })
    }

    /// Leaves out samples not newer than what was delivered. Returns how many samples
    /// were older, and how many of them were points (samples of primary series); the
    /// same timestamp again is a resend of a delivered sample and is not counted.
    /// `hashes` and `primary` (one per series) are kept in step.
    pub fn filter(
        &self,
        request: &mut WriteRequest,
        hashes: &mut Vec<u64>,
        primary: &mut Vec<bool>,
    ) -> (usize, usize) {
        let (mut older, mut older_points) = (0, 0);
        let mut kept = Vec::with_capacity(hashes.len());
        let mut kept_primary = Vec::with_capacity(hashes.len());
        let mut keys = hashes.iter().zip(primary.iter());
        request.timeseries.retain_mut(|series| {
            let (hash, is_primary) = keys.next().map(|(h, p)| (*h, *p)).unwrap_or((0, false));
            if let Some((newest, _)) = self.newest.get(&hash) {
                let newest = *newest;
                let n = series
                    .samples
                    .iter()
                    .filter(|s| s.timestamp < newest)
                    .count()
                    + series
                        .histograms
                        .iter()
                        .filter(|h| h.timestamp < newest)
                        .count();
                older += n;
                if is_primary {
                    older_points += n;
                }
                series.samples.retain(|s| s.timestamp > newest);
                series.histograms.retain(|h| h.timestamp > newest);
                series.exemplars.retain(|e| e.timestamp > newest);
            }
            let keep = !series.samples.is_empty() || !series.histograms.is_empty();
            if keep {
                kept.push(hash);
                kept_primary.push(is_primary);
            }
            keep
        });
        *hashes = kept;
        *primary = kept_primary;
        (older, older_points)
    }

    /// Records a delivered request: its series' `hashes` and time `ranges`.
    pub fn delivered(&mut self, hashes: &[u64], ranges: &[Option<(i64, i64)>], now: Instant) {
        let seconds = self.seconds(now);
        for (range, &key) in ranges.iter().zip(hashes) {
            let Some((_, newest)) = *range else {
                continue;
            };
            if let Some(entry) = self.newest.get_mut(&key) {
                *entry = (newest, seconds);
                continue;
            }
            if self.is_full() {
                self.forget_idle(now);
                if self.is_full() {
                    // Full of live series: this one goes untracked (see README, Limits).
                    continue;
                }
            }
            self.newest.insert(key, (newest, seconds));
            self.tracked.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Exponential backoff with jitter, as `retry_on_failure` describes.
struct Backoff {
    settings: RetrySettings,
    current: Duration,
    seed: u64,
}

impl Backoff {
    fn new(settings: RetrySettings, lane: usize) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ (lane as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            current: settings.initial_interval,
            settings,
            seed: seed | 1,
        }
    }

    fn reset(&mut self) {
        self.current = self.settings.initial_interval;
    }

    /// The next delay, at least `hint` (a server's Retry-After).
    fn next(&mut self, hint: Option<Duration>) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let unit = (self.seed >> 11) as f64 / (1u64 << 53) as f64;
        let factor = self.settings.randomization_factor.clamp(0.0, 1.0);
        let delay = self
            .current
            .mul_f64(1.0 - factor + 2.0 * factor * unit)
            .max(hint.unwrap_or_default());
        let grown = self.current.mul_f64(self.settings.multiplier.max(1.0));
        self.current = grown.min(
            self.settings
                .max_interval
                .max(self.settings.initial_interval),
        );
        delay
    }
}

/// A lane's task: sends its pieces one after another until the exporter shuts down.
pub(crate) async fn run(inner: Arc<Inner>, index: usize) {
    let Some(lane) = inner.lanes.get(index) else {
        return;
    };
    let mut shard = Shard::new(inner.tracked.clone(), inner.max_series, inner.max_idle);
    let mut backoff = Backoff::new(inner.retry.clone(), index);
    while let Some(piece) = lane.next(&inner.closed).await {
        deliver(&inner, &mut shard, &mut backoff, &piece).await;
    }
}

/// What one attempt at one request gave.
pub(crate) enum Sent {
    /// Delivered (or nothing left to send after filtering); older samples and points
    /// left out, and points a 2.0 endpoint did not write.
    Ok {
        older: usize,
        older_points: usize,
        unwritten_points: usize,
    },
    Failed(Failure),
}

/// Sends one piece's requests in order, retrying each until it is delivered or refused,
/// or the piece is cancelled or the exporter closed.
async fn deliver(inner: &Inner, shard: &mut Shard, backoff: &mut Backoff, piece: &Piece) {
    backoff.reset();
    loop {
        let encoded = {
            let state = lock(&piece.state);
            // Closed: the exporter shuts down after the engine gave every request an
            // outcome, so no owner waits for this piece any more.
            if state.cancelled || inner.closed.load(Ordering::Acquire) {
                return;
            }
            match state.requests.get(state.next) {
                Some(encoded) => encoded.clone(),
                None => {
                    drop(state);
                    piece.set_phase(Phase::Delivered);
                    return;
                }
            }
        };
        match send_one(inner, shard, &encoded).await {
            Sent::Ok {
                older,
                older_points,
                unwritten_points,
            } => {
                // Counted once the request is done with, not on every attempt.
                inner.counters.drop(DropReason::OutOfOrderSample, older);
                let mut state = lock(&piece.state);
                state.older_points += older_points;
                state.unwritten_points += unwritten_points;
                state.next += 1;
                state.phase = Phase::Waiting;
                backoff.reset();
            }
            Sent::Failed(failure) if failure.retryable && inner.retry.enabled => {
                let delay = backoff.next(failure.retry_after);
                {
                    let mut state = lock(&piece.state);
                    state.failures += 1;
                    state.phase = Phase::Retrying {
                        message: failure.message,
                        retry_after: failure.retry_after,
                    };
                }
                piece.changed.notify_waiters();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = piece.cancel.notified() => {}
                    _ = inner.closing.notified() => {}
                }
            }
            Sent::Failed(failure) => {
                let mut state = lock(&piece.state);
                state.failures += 1;
                state.phase = Phase::Refused(failure.message);
                drop(state);
                piece.changed.notify_waiters();
                return;
            }
        }
    }
}

/// One attempt at one request: 2.0 bodies through `crate::v2` (as 1.0 once the endpoint
/// refused 2.0), 1.0 bodies through the ordering record here.
async fn send_one(inner: &Inner, shard: &mut Shard, encoded: &Encoded) -> Sent {
    if encoded.v2 {
        if inner.v2.active() {
            if let Some(sent) = crate::v2::send_one(inner, shard, encoded).await {
                return sent;
            }
        }
        return match crate::v2::as_v1(encoded, &mut shard.scratch) {
            Ok(v1) => send_v1(inner, shard, &v1).await,
            Err(message) => Sent::Failed(permanent_failure(message)),
        };
    }
    send_v1(inner, shard, encoded).await
}

/// One attempt at one 1.0 request, through the ordering record.
async fn send_v1(inner: &Inner, shard: &mut Shard, encoded: &Encoded) -> Sent {
    if !shard.needs_filter(&encoded.hashes, &encoded.ranges) {
        if let Err(f) = inner
            .post(encoded.body.clone(), encoded.samples, encoded.histograms)
            .await
        {
            return Sent::Failed(f);
        }
        shard.delivered(&encoded.hashes, &encoded.ranges, Instant::now());
        return Sent::Ok {
            older: 0,
            older_points: 0,
            unwritten_points: 0,
        };
    }
    let mut request = match request::decode(&encoded.body) {
        Ok(request) => request,
        Err(message) => return Sent::Failed(permanent_failure(message)),
    };
    let mut hashes = encoded.hashes.clone();
    let mut primary = encoded.primary.clone();
    let (older, older_points) = shard.filter(&mut request, &mut hashes, &mut primary);
    if !request.timeseries.is_empty() {
        let mut body = Vec::new();
        if let Err(message) = request::encode_into(&request, &mut shard.scratch, &mut body) {
            return Sent::Failed(permanent_failure(message));
        }
        let (samples, histograms) = sample_counts(&request);
        if let Err(f) = inner.post(Bytes::from(body), samples, histograms).await {
            return Sent::Failed(f);
        }
        let ranges: Vec<_> = request.timeseries.iter().map(time_range).collect();
        shard.delivered(&hashes, &ranges, Instant::now());
    }
    Sent::Ok {
        older,
        older_points,
        unwritten_points: 0,
    }
}

pub(crate) fn permanent_failure(message: String) -> Failure {
    Failure {
        retryable: false,
        retry_after: None,
        status: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_proto::remote_write::{Exemplar, Label, Sample};

    fn shard() -> Shard {
        Shard::new(Arc::default(), 10, Duration::from_secs(600))
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
            primary: vec![true],
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
        assert_eq!(first.points(), 2);
        assert!(!needs_filter(&s, &first));
        s.delivered(&first.hashes, &ranges(&first), Instant::now());
        assert_eq!(s.newest[&7].0, 20);

        // Newer samples only: sent as they are.
        assert!(!needs_filter(&s, &packed(&[21, 30], None)));
        // An exemplar at the delivered time would be filtered.
        assert!(needs_filter(&s, &packed(&[21], Some(20))));

        // One resent and one older sample: filtering keeps the newer one, counts one
        // sample and, the series being primary, one point.
        let mut p = packed(&[15, 20, 25], None);
        assert!(needs_filter(&s, &p));
        let older = s.filter(&mut p.request, &mut p.hashes, &mut p.primary);
        assert_eq!(older, (1, 1));
        assert_eq!(p.request.timeseries[0].samples.len(), 1);
        assert_eq!(p.hashes, vec![7]);
        assert_eq!(p.primary, vec![true]);

        // A series that is not primary (a bucket) counts samples, not points.
        let mut p = packed(&[15, 25], None);
        p.primary = vec![false];
        assert_eq!(
            s.filter(&mut p.request, &mut p.hashes, &mut p.primary),
            (1, 0)
        );

        // Everything delivered already: the series (and its hash) goes.
        let mut p = packed(&[5, 20], None);
        s.filter(&mut p.request, &mut p.hashes, &mut p.primary);
        assert!(p.request.timeseries.is_empty());
        assert!(p.hashes.is_empty() && p.primary.is_empty());

        // A series without samples is always left out.
        assert!(needs_filter(&s, &packed(&[], Some(30))));
    }

    #[test]
    fn the_series_bound_is_shared_by_all_shards() {
        let tracked = Arc::new(AtomicUsize::new(0));
        let mut a = Shard::new(tracked.clone(), 1, Duration::from_secs(600));
        let mut b = Shard::new(tracked.clone(), 1, Duration::from_secs(600));
        let p = packed(&[10], None);
        a.delivered(&p.hashes, &ranges(&p), Instant::now());
        b.delivered(&[8], &ranges(&p), Instant::now());
        assert_eq!(tracked.load(Ordering::Relaxed), 1);
        assert!(
            b.newest.is_empty(),
            "full: the second series goes untracked"
        );
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_honours_hints() {
        let settings = RetrySettings {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(400),
            multiplier: 2.0,
            randomization_factor: 0.5,
            ..RetrySettings::default()
        };
        let mut b = Backoff::new(settings, 3);
        let delays: Vec<Duration> = (0..6).map(|_| b.next(None)).collect();
        for d in &delays {
            assert!(
                *d >= Duration::from_millis(50) && *d <= Duration::from_millis(600),
                "{d:?}"
            );
        }
        assert!(delays[4] >= Duration::from_millis(200), "grown: {delays:?}");
        assert_eq!(b.next(Some(Duration::from_secs(3))), Duration::from_secs(3));
        b.reset();
        assert!(b.next(None) <= Duration::from_millis(150));
    }

    #[test]
    fn a_cancelled_piece_frees_what_it_did_not_send() {
        let mut scratch = Vec::new();
        let mut out = Vec::new();
        let encoded = Encoded::new(packed(&[1], None), &mut scratch, &mut out).unwrap();
        assert_eq!(encoded.points, 1);
        let piece = Piece::new(vec![encoded], false);
        piece.cancel();
        let state = lock(&piece.state);
        assert!(state.cancelled && state.requests.is_empty());
        assert_eq!(state.refused_points(), 0);
    }
}
