//! Where a receiver sends what it decoded.
//!
//! A receiver instance serves every pipeline that lists it; the engine hands it one
//! [`ReceiverOutput`] holding, per signal, a [`Consumer`] that fans out to those
//! pipelines. `send` is where backpressure arrives: it fails fast with a retryable
//! [`ConsumeError`] when the pipeline has no room, and the receiver turns that into the
//! protocol's "try later" answer. Accepted and refused items are counted here, so every
//! receiver reports them the same way.
//!
//! When a signal's pipelines end in a persistent queue, the engine marks the output
//! ([`ReceiverOutput::acknowledging`]) and `send` returns only once every copy of the
//! data has an outcome: written to the queue's log (fsynced as configured), or failed,
//! which the receiver answers as "retry later". Unmarked signals answer at admission,
//! as fast as before.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::ack::{Ack, AckReceipt, AckSummary};
use crate::budget::{Charge, OverBudget};
use crate::telemetry::{ReceiverCounters, Telemetry};
use crate::{Batch, ComponentId, ConsumeError, Signal};

/// The hint given with a refusal when a persistent queue could not take the data.
const PERSIST_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// Takes batches of one signal. Implemented by the engine's fan-out.
#[async_trait]
pub trait Consumer: Send + Sync {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError>;
}

/// A receiver's way into its pipelines.
#[derive(Clone)]
pub struct ReceiverOutput {
    id: ComponentId,
    traces: Option<Arc<dyn Consumer>>,
    metrics: Option<Arc<dyn Consumer>>,
    logs: Option<Arc<dyn Consumer>>,
    /// Signals whose `send` waits for the acknowledgement (persistent queues).
    acknowledged: [bool; 3],
    transport: String,
    /// Registered on first use, so only transports that carry data get series.
    counters: Arc<OnceLock<ReceiverCounters>>,
    telemetry: Telemetry,
}

impl std::fmt::Debug for ReceiverOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverOutput")
            .field("id", &self.id)
            .field("traces", &self.traces.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("logs", &self.logs.is_some())
            .finish()
    }
}

impl ReceiverOutput {
    /// Built by the engine (and by tests) from the consumers of each signal.
    pub fn new(
        id: ComponentId,
        telemetry: Telemetry,
        consumers: impl IntoIterator<Item = (Signal, Arc<dyn Consumer>)>,
    ) -> Self {
        let mut output = Self {
            id,
            traces: None,
            metrics: None,
            logs: None,
            acknowledged: [false; 3],
            transport: String::new(),
            counters: Arc::new(OnceLock::new()),
            telemetry,
        };
        for (signal, consumer) in consumers {
            *output.slot(signal) = Some(consumer);
        }
        output
    }

    fn slot(&mut self, signal: Signal) -> &mut Option<Arc<dyn Consumer>> {
        match signal {
            Signal::Traces => &mut self.traces,
            Signal::Metrics => &mut self.metrics,
            Signal::Logs => &mut self.logs,
        }
    }

    fn consumer(&self, signal: Signal) -> Option<&Arc<dyn Consumer>> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }

    /// Makes `send` (and `send_charged`) of `signal` wait until the data has its outcome
    /// and refuse it, retryably, when any part failed: for pipelines that end in a
    /// persistent queue, so a client is answered OK only once its data is on disk.
    pub fn acknowledging(mut self, signal: Signal) -> Self {
        self.acknowledged[signal_index(signal)] = true;
        self
    }

    /// Whether `send` of `signal` waits for the acknowledgement.
    pub fn is_acknowledging(&self, signal: Signal) -> bool {
        self.acknowledged[signal_index(signal)]
    }

    /// The receiver's id, for logs and labels.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// The same output, counting under `transport` (`grpc`, `http`, `udp`, ...).
    pub fn for_transport(&self, transport: &str) -> Self {
        let mut output = self.clone();
        output.transport = transport.to_string();
        output.counters = Arc::new(OnceLock::new());
        // A named transport is served for real: show its counters at zero from the start.
        output.counters();
        output
    }

    fn counters(&self) -> &ReceiverCounters {
        self.counters.get_or_init(|| {
            self.telemetry
                .receiver(&self.id.to_string(), &self.transport)
        })
    }

    /// Whether any pipeline takes this signal from this receiver.
    pub fn accepts(&self, signal: Signal) -> bool {
        self.consumer(signal).is_some()
    }

    /// Hands a batch to every pipeline of its signal. Counts the items as accepted or
    /// refused. An empty batch is accepted without being sent. The receiver's answer
    /// can go out now: the data is admitted (end-to-end acknowledgement is
    /// [`ReceiverOutput::send_acknowledged`]).
    pub async fn send(&self, batch: Batch) -> Result<(), ConsumeError> {
        let signal = batch.signal();
        let receipt = self.admit(batch, None).await?;
        self.settle(signal, receipt).await
    }

    /// For an acknowledging signal, waits for the outcome: a failure (the persistent
    /// queue could not take the data) becomes a retryable refusal.
    async fn settle(
        &self,
        signal: Signal,
        receipt: Option<AckReceipt>,
    ) -> Result<(), ConsumeError> {
        if !self.is_acknowledging(signal) {
            return Ok(());
        }
        let Some(receipt) = receipt else {
            return Ok(());
        };
        let summary = receipt.released().await;
        if summary.failed {
            return Err(ConsumeError::NoRoom {
                retry_after: PERSIST_RETRY_AFTER,
            });
        }
        Ok(())
    }

    /// Charges `bytes` to the memory budget before the request is read or decoded (the
    /// receiver knows its size: Content-Length, a frame length, a datagram). Refused
    /// (and counted) when the budget is over its soft limit; the receiver answers
    /// "retry later". Hand the charge to [`ReceiverOutput::send_charged`].
    pub fn reserve(&self, bytes: u64) -> Result<Charge, ConsumeError> {
        self.telemetry
            .memory_budget()
            .charge(bytes)
            .map_err(|over| self.over_budget(over))
    }

    /// [`ReceiverOutput::send`] for data charged up front: the charge grows to the
    /// batch's size if that is larger (within the budget's hard limit) and is released
    /// when the data has its outcome.
    pub async fn send_charged(&self, batch: Batch, charge: Charge) -> Result<(), ConsumeError> {
        let signal = batch.signal();
        let receipt = self.admit(batch, Some(charge)).await?;
        self.settle(signal, receipt).await
    }

    fn over_budget(&self, over: OverBudget) -> ConsumeError {
        self.refuse_request(crate::RefusalReason::OverBudget);
        ConsumeError::NoRoom {
            retry_after: over.retry_after,
        }
    }

    /// [`ReceiverOutput::send`], then waits until every copy of the data has an outcome
    /// (delivered, dropped on purpose, or failed) and returns their summary. For
    /// receivers that answer only once data is delivered (or, later, persisted).
    pub async fn send_acknowledged(&self, batch: Batch) -> Result<AckSummary, ConsumeError> {
        match self.admit(batch, None).await? {
            Some(receipt) => Ok(receipt.released().await),
            None => Ok(AckSummary {
                delivered: true,
                ..Default::default()
            }),
        }
    }

    /// Charges the memory budget (unless the receiver did), attaches the
    /// acknowledgement handle that releases the charge, and hands the batch on.
    async fn admit(
        &self,
        mut batch: Batch,
        charge: Option<Charge>,
    ) -> Result<Option<AckReceipt>, ConsumeError> {
        let signal = batch.signal();
        let items = batch.item_count() as u64;
        let counters = self.counters().signal(signal);
        let Some(consumer) = self.consumer(signal) else {
            counters.refused.inc_by(items);
            return Err(ConsumeError::NoPipeline(signal));
        };
        if items == 0 {
            return Ok(None);
        }
        let bytes = batch.encoded_len() as u64;
        let budget = self.telemetry.memory_budget();
        let charged = match charge {
            Some(mut charge) => charge.grow_to(bytes).map(|()| charge),
            None => budget.charge(bytes),
        };
        let charge = match charged {
            Ok(charge) => charge,
            Err(over) => {
                counters.refused.inc_by(items);
                return Err(self.over_budget(over));
            }
        };
        let (ack, receipt) = Ack::new(items, bytes, &counters.in_flight);
        ack.on_release(move |_| drop(charge));
        batch.attach_ack(ack);
        match consumer.consume(batch).await {
            Ok(()) => {
                counters.accepted.inc_by(items);
                Ok(Some(receipt))
            }
            Err(err) => {
                counters.refused.inc_by(items);
                Err(err)
            }
        }
    }

    /// Counts `items` refused by the receiver itself (e.g. a partial success where some
    /// items failed validation).
    pub fn refuse_items(&self, signal: Signal, items: u64) {
        self.counters().signal(signal).refused.inc_by(items);
    }

    /// Counts a request refused before any item was decoded, under a fixed reason. Takes
    /// no lock and allocates nothing once the transport's counters exist.
    pub fn refuse_request(&self, reason: crate::RefusalReason) {
        self.counters().refuse_request(reason);
    }

    /// The self-metrics registry, for a receiver's own metrics.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    /// A pipeline that settles every batch with one outcome at once (as a persistent
    /// queue does once the batch is written).
    struct Settles(Outcome);

    #[async_trait]
    impl Consumer for Settles {
        async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
            batch.record_outcome(self.0);
            Ok(())
        }
    }

    fn one_span() -> Batch {
        // ExportTraceServiceRequest { resource_spans { scope_spans { spans {} } } }
        let bytes = bytes::Bytes::from_static(&[0x0a, 0x04, 0x12, 0x02, 0x12, 0x00]);
        Batch::from_protobuf(Signal::Traces, bytes).expect("valid request")
    }

    fn output(outcome: Outcome) -> ReceiverOutput {
        let consumer: Arc<dyn Consumer> = Arc::new(Settles(outcome));
        ReceiverOutput::new(
            "otlp".parse().expect("id"),
            Telemetry::new(),
            [(Signal::Traces, consumer)],
        )
    }

    #[tokio::test]
    async fn an_acknowledging_output_refuses_what_failed_to_persist() {
        let persisted = output(Outcome::Persisted).acknowledging(Signal::Traces);
        assert_eq!(persisted.send(one_span()).await, Ok(()));
        let failed = output(Outcome::Failed).acknowledging(Signal::Traces);
        assert!(matches!(
            failed.send(one_span()).await,
            Err(ConsumeError::NoRoom { .. })
        ));
        // Without the mark, the answer is given at admission, whatever happens after.
        assert_eq!(output(Outcome::Failed).send(one_span()).await, Ok(()));
        assert!(!output(Outcome::Failed).is_acknowledging(Signal::Traces));
    }
}
