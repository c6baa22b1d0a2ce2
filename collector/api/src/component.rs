//! The component traits and their factories.
//!
//! A factory knows a component type: its name and aliases, the signals it supports, its
//! stability, how to check a config section (pure, for `weir validate`) and how to build
//! an instance (no task spawned, no socket opened). Instances start later, so a whole
//! configuration is checked and built before anything binds a port.

use std::time::Instant;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::telemetry::Telemetry;
use crate::{
    Batch, BuildError, ComponentId, ComponentProblem, ExportError, ExporterSettings, PipelineId,
    ReceiverOutput, Signal, StartError, Value,
};

/// How mature a component is, shown by `weir components`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stability {
    Development,
    Alpha,
    Beta,
    Stable,
}

impl Stability {
    pub fn as_str(self) -> &'static str {
        match self {
            Stability::Development => "development",
            Stability::Alpha => "alpha",
            Stability::Beta => "beta",
            Stability::Stable => "stable",
        }
    }
}

/// What `weir components` prints and what validation needs.
#[derive(Clone, Debug)]
pub struct FactoryInfo {
    /// The canonical type name, e.g. `otlp`.
    pub type_name: &'static str,
    /// Other accepted spellings, e.g. `otlp_grpc`.
    pub aliases: &'static [&'static str],
    /// Signals the component supports (empty for extensions).
    pub signals: &'static [Signal],
    pub stability: Stability,
    /// One line for `weir components`.
    pub description: &'static str,
}

/// Given to every factory's `build`.
#[derive(Clone, Debug)]
pub struct BuildContext {
    pub id: ComponentId,
    pub telemetry: Telemetry,
}

/// A running component: the future completes when it has shut down.
pub type RunningComponent = BoxFuture<'static, ()>;

// ---------------------------------------------------------------- receivers

/// Given to a receiver when it starts.
#[derive(Clone, Debug)]
pub struct ReceiverContext {
    pub output: ReceiverOutput,
    /// Cancelled when Weir shuts down: stop accepting, finish in-flight requests, return.
    pub shutdown: CancellationToken,
}

/// Turns a wire format into batches.
#[async_trait]
pub trait Receiver: Send {
    /// Binds sockets and returns the future that serves until `ctx.shutdown`. A bind
    /// failure is a [`StartError`] naming the address.
    async fn start(self: Box<Self>, ctx: ReceiverContext) -> Result<RunningComponent, StartError>;
}

pub trait ReceiverFactory: Send + Sync {
    fn info(&self) -> FactoryInfo;
    /// Checks a config section without side effects.
    fn check(&self, config: &Value) -> Vec<ComponentProblem>;
    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Receiver>, BuildError>;
}

// ---------------------------------------------------------------- processors

/// Given to a processor factory: processors are built once per pipeline.
#[derive(Clone, Debug)]
pub struct ProcessorBuildContext {
    pub id: ComponentId,
    pub pipeline: PipelineId,
    pub signal: Signal,
    pub telemetry: Telemetry,
}

/// Runs inline in its pipeline's task: synchronous, no channel hop. Stateful processors
/// own their state; time-driven ones report their next deadline and are woken for it.
pub trait Processor: Send {
    /// Takes a batch and pushes zero or more batches to `out`. Items dropped on purpose
    /// must be counted by the processor under a reason (see `Telemetry::dropped`).
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>);

    /// When the processor next wants [`Processor::on_deadline`] called.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Called at or after the deadline.
    fn on_deadline(&mut self, _now: Instant, _out: &mut Vec<Batch>) {}

    /// Called at shutdown: emit everything held.
    fn flush(&mut self, _out: &mut Vec<Batch>) {}

    /// Items taken in and not yet emitted nor dropped (a batching processor's pending
    /// items), for the engine's `weir_processor_held_items`: with it every processor
    /// balances as incoming + created = outgoing + dropped + held.
    fn held_items(&self) -> usize {
        0
    }

    /// A gate the engine consults before admitting data into this processor's pipeline
    /// (e.g. `memory_limiter`). Refusing there, before the batch is queued anywhere,
    /// lets receivers answer "retry later" instead of Weir taking data it cannot hold.
    fn admission(&self) -> Option<std::sync::Arc<dyn Admission>> {
        None
    }
}

/// Decides, cheaply and without blocking, whether a pipeline takes a batch now. It sees
/// the batch (its size, signal and client metadata), so a gate can charge a byte budget
/// or look at the tenant; a charge is given back through the batch's acknowledgement
/// handles (`batch.acks()`, `Ack::on_release`), which are attached before admission.
pub trait Admission: Send + Sync {
    /// `Err(ConsumeError::NoRoom{..})` to refuse; the receiver turns it into a
    /// retryable answer and counts the items as refused.
    fn admit(&self, batch: &Batch) -> Result<(), crate::ConsumeError>;
}

pub trait ProcessorFactory: Send + Sync {
    fn info(&self) -> FactoryInfo;
    fn check(&self, config: &Value) -> Vec<ComponentProblem>;
    fn build(
        &self,
        ctx: ProcessorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Processor>, BuildError>;
}

// ---------------------------------------------------------------- exporters

/// Turns batches into requests and sends them. Queueing, retry, timeout and concurrency
/// are the engine's (one fixed stack per exporter):
///
/// `prepare` (once per batch: encode, compress, convert) -> queue (sized by the request)
/// -> retry -> timeout -> [`ExportRequest::send`] (one attempt).
///
/// A retry sends the same request again: nothing is encoded or compressed twice, and a
/// request that sends in parts (remote-write shards) resumes where it stopped.
#[async_trait]
pub trait Exporter: Send + Sync {
    /// Called once before the first export (e.g. to check a CA file).
    async fn start(&self) -> Result<(), StartError> {
        Ok(())
    }

    /// Turns a batch into its request, once. An error here is permanent for the batch.
    fn prepare(&self, batch: Batch) -> Result<Box<dyn ExportRequest>, ExportError>;

    /// Called after the queue has drained, before exit.
    async fn shutdown(&self) {}
}

/// One prepared request: what the queue holds and the retry loop sends.
#[async_trait]
pub trait ExportRequest: Send + Sync {
    /// The items it carries, in the engine's accounting unit (spans, points, records).
    fn items(&self) -> usize;

    /// Its encoded size before compression: what the `bytes` queue sizer charges.
    fn encoded_len(&self) -> usize;

    /// One attempt. Called again, on the same request, after a retryable error; the
    /// attempt may be cancelled at any await (the timeout), so keep progress consistent.
    async fn send(&mut self) -> Result<(), ExportError>;
}

/// A built exporter and the settings of the engine's stack around it.
pub struct BuiltExporter {
    pub exporter: std::sync::Arc<dyn Exporter>,
    pub settings: ExporterSettings,
}

pub trait ExporterFactory: Send + Sync {
    fn info(&self) -> FactoryInfo;
    fn check(&self, config: &Value) -> Vec<ComponentProblem>;
    fn build(&self, ctx: BuildContext, config: &Value) -> Result<BuiltExporter, BuildError>;
}

// ---------------------------------------------------------------- connectors

/// Given to a connector factory: one instance is built per connector id and signal
/// pair, shared by every pipeline that exports to it.
#[derive(Clone, Debug)]
pub struct ConnectorBuildContext {
    pub id: ComponentId,
    /// The signal of the pipelines it is an exporter of.
    pub from: Signal,
    /// The signal of the pipelines it is a receiver of.
    pub to: Signal,
    /// The pipelines it feeds, in configuration order (a routing connector's targets).
    pub downstream: Vec<PipelineId>,
    pub telemetry: Telemetry,
}

/// Where a connector's output goes: every downstream pipeline, or one of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    All,
    Pipeline(PipelineId),
}

/// What a connector emits while handling a batch or a deadline.
#[derive(Debug, Default)]
pub struct ConnectorOutput {
    emitted: Vec<(Route, Batch)>,
}

impl ConnectorOutput {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `batch` to every downstream pipeline.
    pub fn to_all(&mut self, batch: Batch) {
        self.emitted.push((Route::All, batch));
    }

    /// Sends `batch` to one downstream pipeline.
    pub fn to_pipeline(&mut self, pipeline: PipelineId, batch: Batch) {
        self.emitted.push((Route::Pipeline(pipeline), batch));
    }

    /// Takes what was emitted (for the engine).
    pub fn take(&mut self) -> Vec<(Route, Batch)> {
        std::mem::take(&mut self.emitted)
    }

    pub fn is_empty(&self) -> bool {
        self.emitted.is_empty()
    }
}

/// The exporter of one pipeline and the receiver of others: forward, route, or turn one
/// signal into another (span metrics). Runs in a task of its own, fed by every upstream
/// pipeline; what it emits goes to the downstream pipelines' channels, where waiting for
/// room is the backpressure. Items it drops on purpose are counted by it under a reason.
pub trait Connector: Send {
    fn consume(&mut self, batch: Batch, out: &mut ConnectorOutput);

    /// When the connector next wants [`Connector::on_deadline`] called.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&mut self, _now: Instant, _out: &mut ConnectorOutput) {}

    /// Called at shutdown, after the last upstream batch: emit everything held.
    fn flush(&mut self, _out: &mut ConnectorOutput) {}
}

pub trait ConnectorFactory: Send + Sync {
    /// `signals` lists the signals it takes in; `pairs` says what each becomes.
    fn info(&self) -> FactoryInfo;
    /// Supported (upstream, downstream) signal pairs.
    fn pairs(&self) -> &'static [(Signal, Signal)];
    fn check(&self, config: &Value) -> Vec<ComponentProblem>;
    fn build(
        &self,
        ctx: ConnectorBuildContext,
        config: &Value,
    ) -> Result<Box<dyn Connector>, BuildError>;
}

// ---------------------------------------------------------------- extensions

/// Whether the pipelines are running, for the health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    Starting,
    Running,
    ShuttingDown,
}

/// Given to an extension when it starts.
#[derive(Clone, Debug)]
pub struct ExtensionContext {
    pub health: tokio::sync::watch::Receiver<HealthState>,
    pub shutdown: CancellationToken,
}

#[async_trait]
pub trait Extension: Send {
    async fn start(self: Box<Self>, ctx: ExtensionContext) -> Result<RunningComponent, StartError>;

    /// The storage this extension offers exporters' persistent queues
    /// (`sending_queue.storage`), if it is a storage extension. Asked once, at build.
    fn storage(&self) -> Option<std::sync::Arc<dyn crate::storage::Storage>> {
        None
    }
}

pub trait ExtensionFactory: Send + Sync {
    fn info(&self) -> FactoryInfo;
    fn check(&self, config: &Value) -> Vec<ComponentProblem>;
    fn build(&self, ctx: BuildContext, config: &Value) -> Result<Box<dyn Extension>, BuildError>;
}
