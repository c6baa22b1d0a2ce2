//! One connector instance at run time: the exporter of its upstream pipelines and the
//! receiver of its downstream ones.
//!
//! It runs in a task of its own, fed through a bounded channel by every upstream pipeline
//! (the channel is the "exporter" those pipelines see). What the connector emits is sent
//! to the downstream pipelines' channels; waiting there for room is the backpressure, and
//! it travels up through the upstream pipelines to the receivers. The task ends when every
//! upstream pipeline has finished (its input closes), after flushing the connector, so a
//! downstream pipeline is drained only once nothing more can reach it.

use std::time::Instant;

use tokio::sync::mpsc;
use weir_api::{
    Batch, ComponentId, Connector, ConnectorOutput, Outcome, PipelineId, Route, Signal,
};

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::exporter::sleep_until_opt;
use crate::pipeline::abandon;

pub struct ConnectorRuntime {
    pub id: ComponentId,
    pub from: Signal,
    pub to: Signal,
    pub connector: Box<dyn Connector>,
    pub input: mpsc::Receiver<Batch>,
    pub downstream: Vec<(PipelineId, mpsc::Sender<Batch>)>,
    /// Its place in the shutdown order: the deepest level of its upstream pipelines.
    pub level: usize,
}

impl ConnectorRuntime {
    /// Runs until every upstream pipeline has finished; at the shutdown deadline
    /// (`hard_stop`) records what it still holds as failed and counts it in `lost`.
    pub async fn run(mut self, hard_stop: CancellationToken, lost: Arc<AtomicU64>) {
        let mut out = ConnectorOutput::new();
        loop {
            let deadline = self.connector.next_deadline();
            tokio::select! {
                received = self.input.recv() => match received {
                    Some(batch) => self.connector.consume(batch, &mut out),
                    None => break,
                },
                _ = sleep_until_opt(deadline) => self.connector.on_deadline(Instant::now(), &mut out),
                _ = hard_stop.cancelled() => {
                    self.input.close();
                    let mut held = Vec::new();
                    while let Ok(batch) = self.input.try_recv() {
                        held.push(batch);
                    }
                    self.connector.flush(&mut out);
                    held.extend(out.take().into_iter().map(|(_, batch)| batch));
                    let items = abandon(held, &lost);
                    if items > 0 {
                        tracing::error!(connector = %self.id, items,
                            "shutdown deadline reached; data still in the connector was not delivered");
                    }
                    return;
                }
            }
            emit(&self.id, &self.downstream, &mut out).await;
        }
        self.connector.flush(&mut out);
        emit(&self.id, &self.downstream, &mut out).await;
        tracing::debug!(connector = %self.id, from = %self.from, to = %self.to, "connector drained");
    }
}

/// Sends what a connector emitted to its downstream pipelines. (A free function: the
/// connector itself need not be `Sync` to be awaited around.)
async fn emit(
    id: &ComponentId,
    downstream: &[(PipelineId, mpsc::Sender<Batch>)],
    out: &mut ConnectorOutput,
) {
    {
        for (route, batch) in out.take() {
            if batch.is_empty() {
                continue;
            }
            match route {
                Route::All => {
                    // Clones share the payload and the acknowledgement handles.
                    for (pipeline, tx) in downstream {
                        send(id, pipeline, tx, batch.clone()).await;
                    }
                }
                Route::Pipeline(target) => {
                    match downstream.iter().find(|(p, _)| *p == target) {
                        Some((pipeline, tx)) => send(id, pipeline, tx, batch).await,
                        None => {
                            // The factory was told its downstream pipelines; routing to
                            // another is the connector's bug. Count it as failed, loudly.
                            batch.record_outcome(Outcome::Failed);
                            tracing::error!(connector = %id, pipeline = %target,
                                items = batch.item_count(),
                                "connector routed data to a pipeline it does not feed; dropped");
                        }
                    }
                }
            }
        }
    }
}

async fn send(id: &ComponentId, pipeline: &PipelineId, tx: &mpsc::Sender<Batch>, batch: Batch) {
    if let Err(mpsc::error::SendError(batch)) = tx.send(batch).await {
        batch.record_outcome(Outcome::Failed);
        tracing::error!(connector = %id, pipeline = %pipeline, items = batch.item_count(),
            "downstream pipeline closed before the connector drained; data dropped");
    }
}
