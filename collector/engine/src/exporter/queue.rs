//! The bounded queue in front of one exporter, for one signal.
//!
//! It holds prepared requests ([`Queued`]): each batch is encoded (and compressed) once,
//! before it is queued, so the `bytes` sizer charges the request's real encoded size and
//! a retry resends the same bytes. Sized in the configured unit (requests, items or
//! bytes), and always bounded in encoded bytes as well (`max_size_mib`): whichever bound
//! is reached first makes the queue full, so the default config cannot grow a queue to
//! gigabytes of requests. Pipelines push without waiting (a full queue refuses and the caller counts the
//! drop) unless the exporter says `block_on_overflow`, in which case they wait for room
//! and the wait travels back to the receivers. Consumers pop until the queue is closed and
//! empty.
//!
//! [`Queue`] is the seam for a disk-backed queue; [`MemoryQueue`] is today's, with one
//! small mutex held for a push or a pop only, never across an await.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use weir_api::pressure::LanePressure;
use weir_api::{Acks, ExportRequest, Sizer};

/// A prepared request with the acknowledgement handles of the data it carries.
pub struct Queued {
    pub request: Box<dyn ExportRequest>,
    pub acks: Acks,
}

impl Queued {
    pub fn items(&self) -> usize {
        self.request.items()
    }
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("items", &self.items())
            .field("acks", &self.acks.len())
            .finish()
    }
}

/// What an exporter's queue does, whatever holds the data.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues if there is room now.
    fn try_push(&self, item: Queued) -> Result<(), PushError>;
    /// Enqueues, waiting for room until `give_up` is cancelled (then the item comes back
    /// as `Closed`). An item larger than the whole queue is refused at once.
    async fn push(&self, item: Queued, give_up: &CancellationToken) -> Result<(), PushError>;
    /// The next item, or `None` once the queue is closed and empty.
    async fn pop(&self) -> Option<Queued>;
    /// Takes no more data; consumers drain what is left, then stop.
    fn close(&self);
    /// Removes everything still queued (at the shutdown deadline) and returns it.
    fn drain_remaining(&self) -> Vec<Queued>;
    /// Whether the queue is at its bound now, so that `try_push` of any non-empty item
    /// would be refused: the lane then drops a batch without preparing its request.
    fn is_full(&self) -> bool {
        false
    }
}

struct State {
    /// Each request with its size in the sizer's unit and in bytes.
    batches: VecDeque<(Queued, usize, usize)>,
    used: usize,
    bytes: usize,
    closed: bool,
}

/// The in-memory queue.
pub struct MemoryQueue {
    state: Mutex<State>,
    capacity: usize,
    sizer: Sizer,
    max_bytes: usize,
    not_empty: Notify,
    not_full: Notify,
    size_gauge: Gauge,
    pressure: Option<Arc<LanePressure>>,
}

/// Why a push did not enqueue; the item comes back so the caller can record its fate.
#[derive(Debug)]
pub enum PushError {
    /// No room (or the item alone is larger than the whole queue).
    Full(Queued),
    /// The queue no longer takes data (shutdown).
    Closed(Queued),
}

impl MemoryQueue {
    pub fn new(
        capacity: usize,
        sizer: Sizer,
        max_bytes: usize,
        size_gauge: Gauge,
        capacity_gauge: &Gauge,
    ) -> Self {
        capacity_gauge.set(capacity as i64);
        Self {
            state: Mutex::new(State {
                batches: VecDeque::new(),
                used: 0,
                bytes: 0,
                closed: false,
            }),
            capacity: capacity.max(1),
            sizer,
            max_bytes: max_bytes.max(1),
            not_empty: Notify::new(),
            not_full: Notify::new(),
            size_gauge,
            pressure: None,
        }
    }

    /// Reports the queue's fill to the process's pressure readings (load shedding).
    pub fn reporting_to(mut self, lane: Arc<LanePressure>) -> Self {
        self.pressure = Some(lane);
        self
    }

    /// Shows the queue's use in its gauge and pressure lane.
    fn report(&self, state: &State) {
        self.size_gauge.set(state.used as i64);
        if let Some(lane) = &self.pressure {
            lane.set_fill(state.used, self.capacity, state.bytes, self.max_bytes);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The item's size in the queue's unit.
    pub fn size_of(&self, item: &Queued) -> usize {
        match self.sizer {
            Sizer::Requests => 1,
            Sizer::Items => item.request.items(),
            Sizer::Bytes => item.request.encoded_len(),
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    fn is_full(&self) -> bool {
        let state = self.lock();
        // Full when not even a request of the queued ones' average size fits: under a
        // steady overload a bound in bytes or items is never met exactly, and every batch
        // would be prepared only to be refused.
        let queued = state.batches.len().max(1);
        let (typical_size, typical_bytes) = (state.used / queued, state.bytes / queued);
        state.used >= self.capacity
            || state.used + typical_size.max(1) > self.capacity
            || state.bytes + typical_bytes > self.max_bytes
    }

    fn try_push(&self, item: Queued) -> Result<(), PushError> {
        let size = self.size_of(&item);
        let bytes = item.request.encoded_len();
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed(item));
        }
        if state.used + size > self.capacity || state.bytes + bytes > self.max_bytes {
            return Err(PushError::Full(item));
        }
        state.used += size;
        state.bytes += bytes;
        state.batches.push_back((item, size, bytes));
        self.report(&state);
        drop(state);
        self.not_empty.notify_one();
        Ok(())
    }

    async fn push(&self, mut item: Queued, give_up: &CancellationToken) -> Result<(), PushError> {
        if self.size_of(&item) > self.capacity || item.request.encoded_len() > self.max_bytes {
            return Err(PushError::Full(item));
        }
        loop {
            let room = self.not_full.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(item) {
                Ok(()) => return Ok(()),
                Err(PushError::Full(back)) => item = back,
                Err(closed) => return Err(closed),
            }
            tokio::select! {
                _ = room => {}
                _ = give_up.cancelled() => return Err(PushError::Closed(item)),
            }
        }
    }

    async fn pop(&self) -> Option<Queued> {
        loop {
            let ready = self.not_empty.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some((batch, size, bytes)) = state.batches.pop_front() {
                    state.used -= size;
                    state.bytes -= bytes;
                    self.report(&state);
                    let more = !state.batches.is_empty();
                    drop(state);
                    self.not_full.notify_waiters();
                    if more {
                        // Pass the wake-up on so idle consumers keep draining.
                        self.not_empty.notify_one();
                    }
                    return Some(batch);
                }
                if state.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
    }

    fn drain_remaining(&self) -> Vec<Queued> {
        let mut state = self.lock();
        state.used = 0;
        state.bytes = 0;
        self.report(&state);
        state.batches.drain(..).map(|(b, _, _)| b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_api::ExportError;

    /// A request that only knows its size.
    struct Sized(usize);

    #[async_trait]
    impl ExportRequest for Sized {
        fn items(&self) -> usize {
            self.0
        }
        fn encoded_len(&self) -> usize {
            self.0 * 10
        }
        async fn send(&mut self) -> Result<(), ExportError> {
            Ok(())
        }
    }

    fn item(n: usize) -> Queued {
        Queued {
            request: Box::new(Sized(n)),
            acks: Acks::new(),
        }
    }

    fn queue(capacity: usize, sizer: Sizer) -> MemoryQueue {
        MemoryQueue::new(
            capacity,
            sizer,
            usize::MAX,
            Gauge::default(),
            &Gauge::default(),
        )
    }

    #[tokio::test]
    async fn full_queue_refuses_then_drains_in_order() {
        let q = queue(2, Sizer::Requests);
        q.try_push(item(1)).unwrap();
        assert!(!q.is_full());
        q.try_push(item(2)).unwrap();
        assert!(
            q.is_full(),
            "no request fits: the lane drops without preparing"
        );
        assert!(matches!(q.try_push(item(3)), Err(PushError::Full(_))));
        assert_eq!(q.pop().await.unwrap().items(), 1);
        q.close();
        assert_eq!(q.pop().await.unwrap().items(), 2);
        assert!(q.pop().await.is_none());
        assert!(matches!(q.try_push(item(4)), Err(PushError::Closed(_))));
    }

    #[tokio::test]
    async fn the_bytes_sizer_charges_the_encoded_request() {
        let q = queue(50, Sizer::Bytes);
        assert!(!q.is_full());
        q.try_push(item(3)).unwrap(); // 30 bytes
        assert!(matches!(q.try_push(item(3)), Err(PushError::Full(_))));
        // Another request of the usual size (30) does not fit: full for the lane's
        // early refusal, while try_push still takes what fits exactly.
        assert!(q.is_full(), "no room for a request of the usual size");
        q.try_push(item(2)).unwrap(); // 20 more: exactly full
        let q = queue(5, Sizer::Items);
        q.try_push(item(5)).unwrap();
        assert!(matches!(q.try_push(item(1)), Err(PushError::Full(_))));
    }

    #[tokio::test]
    async fn every_sizer_is_also_bounded_in_bytes() {
        // 1,000 requests allowed, but only 50 bytes: the byte bound is reached first.
        let q = MemoryQueue::new(
            1000,
            Sizer::Requests,
            50,
            Gauge::default(),
            &Gauge::default(),
        );
        q.try_push(item(3)).unwrap(); // 30 bytes
        assert!(matches!(q.try_push(item(3)), Err(PushError::Full(_))));
        q.try_push(item(2)).unwrap();
        assert_eq!(q.pop().await.unwrap().items(), 3);
        q.try_push(item(3)).unwrap();
        // A request larger than the whole byte bound is refused at once, not waited for.
        let never = CancellationToken::new();
        assert!(matches!(
            q.push(item(6), &never).await,
            Err(PushError::Full(_))
        ));
    }

    #[tokio::test]
    async fn blocking_push_waits_for_room() {
        let q = Arc::new(queue(1, Sizer::Requests));
        q.try_push(item(1)).unwrap();
        let pusher = {
            let q = q.clone();
            tokio::spawn(async move { q.push(item(2), &CancellationToken::new()).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!pusher.is_finished());
        assert_eq!(q.pop().await.unwrap().items(), 1);
        assert!(pusher.await.unwrap());
        assert_eq!(q.pop().await.unwrap().items(), 2);
        // A blocked push gives up when told to, and hands the item back.
        q.try_push(item(3)).unwrap();
        let give_up = CancellationToken::new();
        give_up.cancel();
        assert!(matches!(
            q.push(item(4), &give_up).await,
            Err(PushError::Closed(back)) if back.items() == 4
        ));
    }
}
