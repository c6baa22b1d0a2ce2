//! A receiver's consumer for one signal: hands each batch to every pipeline that lists
//! the receiver.
//!
//! Admission is all-or-nothing: a slot is reserved in every pipeline's channel before the
//! batch is sent to any, so a client told "try again" has not had its data half
//! delivered. When a pipeline has no room for `ADMISSION_WAIT`, the client is told to
//! retry (gRPC UNAVAILABLE / HTTP 503) instead of being held.

use std::time::Duration;

use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::mpsc;

use weir_api::{Admission, Batch, ConsumeError, Consumer};

/// How long a receiver waits for room in a pipeline before refusing with "retry".
pub const ADMISSION_WAIT: Duration = Duration::from_millis(500);

/// The retry hint given to clients refused for lack of room.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct Fanout {
    pipelines: Vec<mpsc::Sender<Batch>>,
    /// Gates of the target pipelines' processors (e.g. memory_limiter), checked first.
    gates: Vec<Arc<dyn Admission>>,
}

impl Fanout {
    pub fn new(pipelines: Vec<mpsc::Sender<Batch>>, gates: Vec<Arc<dyn Admission>>) -> Self {
        Self { pipelines, gates }
    }
}

#[async_trait]
impl Consumer for Fanout {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        for gate in &self.gates {
            gate.admit(&batch)?;
        }
        let mut permits = Vec::with_capacity(self.pipelines.len());
        for pipeline in &self.pipelines {
            match tokio::time::timeout(ADMISSION_WAIT, pipeline.reserve()).await {
                Ok(Ok(permit)) => permits.push(permit),
                Ok(Err(_closed)) => return Err(ConsumeError::ShuttingDown),
                Err(_elapsed) => {
                    return Err(ConsumeError::NoRoom {
                        retry_after: RETRY_AFTER,
                    })
                }
            }
        }
        let mut batch = Some(batch);
        let last = permits.len().saturating_sub(1);
        for (index, permit) in permits.into_iter().enumerate() {
            // Clones share the payload; only the last pipeline takes the original.
            let item = if index == last {
                batch.take()
            } else {
                batch.clone()
            };
            if let Some(item) = item {
                permit.send(item);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_api::Signal;

    #[tokio::test]
    async fn all_or_nothing_admission() {
        let (a_tx, mut a_rx) = mpsc::channel(1);
        let (b_tx, mut b_rx) = mpsc::channel(1);
        let fanout = Fanout::new(vec![a_tx, b_tx.clone()], Vec::new());
        fanout.consume(Batch::empty(Signal::Logs)).await.unwrap();
        assert!(a_rx.try_recv().is_ok());
        // b is now full (its item was not read): the next batch must reach neither.
        let err = fanout
            .consume(Batch::empty(Signal::Logs))
            .await
            .unwrap_err();
        assert!(matches!(err, ConsumeError::NoRoom { .. }));
        assert!(a_rx.try_recv().is_err(), "a must not get a batch b refused");
        assert!(b_rx.try_recv().is_ok());
        drop(b_rx);
        let err = fanout
            .consume(Batch::empty(Signal::Logs))
            .await
            .unwrap_err();
        assert_eq!(err, ConsumeError::ShuttingDown);
    }
}
