//! The bounded queue in front of one exporter, for one signal.
//!
//! Sized in the configured unit (requests, items or bytes). Pipelines push without waiting
//! (a full queue refuses and the caller counts the drop) unless the exporter says
//! `block_on_overflow`, in which case they wait for room and the wait travels back to the
//! receivers. Consumers pop until the queue is closed and empty. One small mutex per
//! queue: it is held for a push or a pop only, never across an await.

use std::collections::VecDeque;
use std::sync::Mutex;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use weir_api::{Batch, Sizer};

struct State {
    batches: VecDeque<(Batch, usize)>,
    used: usize,
    closed: bool,
}

pub struct ExportQueue {
    state: Mutex<State>,
    capacity: usize,
    sizer: Sizer,
    not_empty: Notify,
    not_full: Notify,
    size_gauge: Gauge,
}

/// Why a push did not enqueue.
#[derive(Debug)]
pub enum PushError {
    /// No room (or the batch alone is larger than the whole queue).
    Full(Batch),
    /// The queue no longer takes data (shutdown); the batch is dropped by the caller.
    Closed,
}

impl ExportQueue {
    pub fn new(capacity: usize, sizer: Sizer, size_gauge: Gauge, capacity_gauge: &Gauge) -> Self {
        capacity_gauge.set(capacity as i64);
        Self {
            state: Mutex::new(State {
                batches: VecDeque::new(),
                used: 0,
                closed: false,
            }),
            capacity: capacity.max(1),
            sizer,
            not_empty: Notify::new(),
            not_full: Notify::new(),
            size_gauge,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The batch's size in the queue's unit.
    pub fn size_of(&self, batch: &Batch) -> usize {
        match self.sizer {
            Sizer::Requests => 1,
            Sizer::Items => batch.item_count(),
            Sizer::Bytes => batch.encoded_len(),
        }
    }

    /// Enqueues if there is room now.
    pub fn try_push(&self, batch: Batch) -> Result<(), PushError> {
        let size = self.size_of(&batch);
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed);
        }
        if state.used + size > self.capacity {
            return Err(PushError::Full(batch));
        }
        state.used += size;
        state.batches.push_back((batch, size));
        self.size_gauge.set(state.used as i64);
        drop(state);
        self.not_empty.notify_one();
        Ok(())
    }

    /// Enqueues, waiting for room. A batch larger than the whole queue is refused at once.
    pub async fn push(&self, mut batch: Batch) -> Result<(), PushError> {
        if self.size_of(&batch) > self.capacity {
            return Err(PushError::Full(batch));
        }
        loop {
            let room = self.not_full.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(batch) {
                Ok(()) => return Ok(()),
                Err(PushError::Full(back)) => batch = back,
                Err(closed) => return Err(closed),
            }
            room.await;
        }
    }

    /// The next batch, or `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<Batch> {
        loop {
            let ready = self.not_empty.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some((batch, size)) = state.batches.pop_front() {
                    state.used -= size;
                    self.size_gauge.set(state.used as i64);
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

    /// Takes no more data; consumers drain what is left, then stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
    }

    /// Removes everything still queued (at the shutdown deadline) and returns it.
    pub fn drain_remaining(&self) -> Vec<Batch> {
        let mut state = self.lock();
        state.used = 0;
        self.size_gauge.set(0);
        state.batches.drain(..).map(|(b, _)| b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use weir_api::Signal;

    fn queue(capacity: usize) -> ExportQueue {
        ExportQueue::new(
            capacity,
            Sizer::Requests,
            Gauge::default(),
            &Gauge::default(),
        )
    }

    #[tokio::test]
    async fn full_queue_refuses_then_drains_in_order() {
        let q = queue(2);
        q.try_push(Batch::empty(Signal::Traces)).unwrap();
        q.try_push(Batch::empty(Signal::Metrics)).unwrap();
        assert!(matches!(
            q.try_push(Batch::empty(Signal::Logs)),
            Err(PushError::Full(_))
        ));
        assert_eq!(q.pop().await.unwrap().signal(), Signal::Traces);
        q.close();
        assert_eq!(q.pop().await.unwrap().signal(), Signal::Metrics);
        assert!(q.pop().await.is_none());
        assert!(matches!(
            q.try_push(Batch::empty(Signal::Logs)),
            Err(PushError::Closed)
        ));
    }

    #[tokio::test]
    async fn blocking_push_waits_for_room() {
        let q = Arc::new(queue(1));
        q.try_push(Batch::empty(Signal::Traces)).unwrap();
        let pusher = {
            let q = q.clone();
            tokio::spawn(async move { q.push(Batch::empty(Signal::Logs)).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!pusher.is_finished());
        assert_eq!(q.pop().await.unwrap().signal(), Signal::Traces);
        assert!(pusher.await.unwrap());
        assert_eq!(q.pop().await.unwrap().signal(), Signal::Logs);
    }
}
