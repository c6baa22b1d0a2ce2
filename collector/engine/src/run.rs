//! Run: start in dependency order, serve until told to stop, stop in reverse order.
//!
//! Start: self-metrics, extensions, exporters (workers), then pipelines and connectors in
//! reverse topological order (downstream first), receivers last, so nothing is accepted
//! before there is somewhere to put it. Any start failure stops what already started and
//! is returned with the component's name.
//!
//! Shutdown (SIGTERM/SIGINT): health turns to "shutting down"; receivers stop accepting
//! and finish in-flight requests; pipelines drain in topological order, level by level:
//! a level's pipelines drain what was admitted and flush their processors, then the
//! connectors they feed flush, and only then does the next level close its input, so no
//! item meets a closed channel. Exporter queues drain until the deadline; whatever is
//! left is counted as failed and logged with its count.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use weir_api::{ExtensionContext, HealthState, ReceiverContext, StartError};

use crate::build::Graph;
use crate::selfmetrics;

/// How long receivers may take to finish in-flight requests at shutdown.
pub const RECEIVER_GRACE: Duration = Duration::from_secs(3);

/// What shutdown found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Items still queued or in retry when the shutdown deadline passed.
    pub undelivered_items: u64,
}

/// Starts the graph, runs until `stop` completes, then shuts down within `shutdown_timeout`.
pub async fn run(
    graph: Graph,
    stop: impl Future<Output = ()>,
    shutdown_timeout: Duration,
) -> Result<RunReport, StartError> {
    let Graph {
        receivers,
        mut pipelines,
        mut connectors,
        mut exporters,
        extensions,
        telemetry,
        metrics_address,
    } = graph;
    let (health_tx, health_rx) = watch::channel(HealthState::Starting);
    let background = CancellationToken::new();
    let receivers_stop = CancellationToken::new();
    let mut background_tasks = JoinSet::new();

    if let Some(address) = &metrics_address {
        let (bound, serve) =
            selfmetrics::start(address, telemetry.clone(), background.clone()).await?;
        tracing::info!(address = %bound, "serving self-metrics at http://{bound}/metrics");
        background_tasks.spawn(serve);
    }

    for (id, extension) in extensions {
        let ctx = ExtensionContext {
            health: health_rx.clone(),
            shutdown: background.clone(),
        };
        match extension.start(ctx).await {
            Ok(running) => {
                background_tasks.spawn(running);
            }
            Err(err) => {
                background.cancel();
                return Err(StartError(format!("extension `{id}`: {err}")));
            }
        }
    }

    for exporter in &mut exporters {
        if let Err(err) = exporter.start().await {
            background.cancel();
            return Err(StartError(format!("exporter `{}`: {err}", exporter.id())));
        }
    }

    // Level by level, downstream first. Each level has its own drain token and tasks.
    let depth = pipelines.iter().map(|p| p.level + 1).max().unwrap_or(0);
    let drains: Vec<CancellationToken> = (0..depth).map(|_| CancellationToken::new()).collect();
    let mut pipeline_tasks: Vec<JoinSet<()>> = (0..depth).map(|_| JoinSet::new()).collect();
    let mut connector_tasks: Vec<JoinSet<()>> = (0..depth).map(|_| JoinSet::new()).collect();
    pipelines.sort_by_key(|p| std::cmp::Reverse(p.level));
    connectors.sort_by_key(|c| std::cmp::Reverse(c.level));
    // Cancelled at the shutdown deadline: pipelines and connectors give up what they
    // hold, recording it as failed and counting it here.
    let hard_stop = CancellationToken::new();
    let lost_in_pipelines = Arc::new(AtomicU64::new(0));
    for pipeline in pipelines {
        let level = pipeline.level;
        pipeline_tasks[level].spawn(pipeline.run(
            drains[level].clone(),
            hard_stop.clone(),
            lost_in_pipelines.clone(),
        ));
    }
    for connector in connectors {
        let level = connector.level.min(depth.saturating_sub(1));
        connector_tasks[level].spawn(connector.run(hard_stop.clone(), lost_in_pipelines.clone()));
    }

    let mut receiver_tasks = JoinSet::new();
    let mut start_error = None;
    for (id, receiver, output) in receivers {
        let ctx = ReceiverContext {
            output,
            shutdown: receivers_stop.clone(),
        };
        match receiver.start(ctx).await {
            Ok(running) => {
                receiver_tasks.spawn(running);
            }
            Err(err) => {
                start_error = Some(StartError(format!("receiver `{id}`: {err}")));
                break;
            }
        }
    }

    if start_error.is_none() {
        let _ = health_tx.send(HealthState::Running);
        tracing::info!("Everything is ready. Begin running and processing data.");
        stop.await;
        tracing::info!("shutdown requested: receivers stop accepting, queued data drains");
    }
    let _ = health_tx.send(HealthState::ShuttingDown);

    let deadline = Instant::now() + shutdown_timeout;
    receivers_stop.cancel();
    // Receivers finish in-flight requests; idle client connections that stay open (a gRPC
    // client keeps its channel) must not hold the whole shutdown, so they get a short grace.
    let receivers_started = Instant::now();
    let receivers_deadline = deadline.min(receivers_started + RECEIVER_GRACE);
    let receivers_done = tokio::time::timeout_at(receivers_deadline.into(), async {
        while receiver_tasks.join_next().await.is_some() {}
    })
    .await;
    if receivers_done.is_err() {
        let waited = receivers_deadline.saturating_duration_since(receivers_started);
        tracing::info!("receivers still had open connections after {waited:?}; closing them");
        receiver_tasks.abort_all();
        while receiver_tasks.join_next().await.is_some() {}
    }

    let pipelines_done = tokio::time::timeout_at(deadline.into(), async {
        for level in 0..depth {
            drains[level].cancel();
            while pipeline_tasks[level].join_next().await.is_some() {}
            // The connectors this level feeds end once their upstream pipelines have.
            while connector_tasks[level].join_next().await.is_some() {}
        }
    })
    .await;
    if pipelines_done.is_err() {
        tracing::warn!("pipelines did not drain before the shutdown deadline");
        // Exporters first: a pipeline blocked on a full queue gets its batch back and
        // counts it, so nothing is dropped uncounted when the pipeline then gives up.
        for exporter in &exporters {
            exporter.abort_now();
        }
        hard_stop.cancel();
        // Each gives up at once; wait for them so their count is in the report and no
        // batch reaches an exporter after its queue closed.
        for tasks in pipeline_tasks.iter_mut().chain(connector_tasks.iter_mut()) {
            while tasks.join_next().await.is_some() {}
        }
    }

    let mut report = RunReport::default();
    // Exporters drain side by side: a slow one must not eat the others' share of the
    // deadline.
    let drains = exporters
        .iter_mut()
        .map(|exporter| exporter.shutdown(deadline));
    report.undelivered_items = futures_util::future::join_all(drains)
        .await
        .into_iter()
        .sum::<u64>()
        + lost_in_pipelines.load(Ordering::Relaxed);
    background.cancel();
    while tokio::time::timeout(Duration::from_secs(1), background_tasks.join_next())
        .await
        .ok()
        .flatten()
        .is_some()
    {}

    if let Some(err) = start_error {
        return Err(err);
    }
    if report.undelivered_items > 0 {
        tracing::error!(
            items = report.undelivered_items,
            "shutdown complete; some data could not be delivered before the deadline"
        );
    } else {
        tracing::info!("shutdown complete; every admitted item was handled");
    }
    Ok(report)
}
