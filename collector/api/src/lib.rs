//! The contract between Weir's engine and its components.
//!
//! Components (receivers, processors, exporters, extensions) depend on this crate and on
//! `weir-proto`, never on the engine. That is what lets a component be written, tested
//! and reviewed on its own, and lets the engine change how it schedules work without
//! touching a single component.
//!
//! - [`Batch`]: one signal's in-flight data. Its representation is private; components
//!   use its methods, so the zero-copy representation described in DESIGN.md can replace
//!   the decoded one without touching them.
//! - [`Receiver`], [`Processor`], [`Exporter`] (with its [`ExportRequest`]),
//!   [`Connector`], [`Extension`] and their factories.
//! - [`Ack`]: the acknowledgement handle every admitted batch carries.
//! - [`ExportError`]: retryable (with an optional delay) or permanent.
//! - [`telemetry::Telemetry`]: self-metrics with the Collector's names, each declared once in
//!   [`telemetry::names`].
//! - Shapes more than one component needs, written once: [`config::problem`],
//!   [`error::chain`], [`otlp::partial_success`], [`http::retry_after`],
//!   [`http::serve`] and [`RefusalReason`].

pub mod ack;
pub mod attributes;
pub mod auth;
pub mod batch;
pub mod batcher;
pub mod budget;
pub mod component;
pub mod config;
pub mod conn;
pub mod duration;
pub mod error;
pub mod exporter_settings;
pub mod http;
pub mod otlp;
pub mod output;
pub mod pressure;
pub mod refusal;
pub mod registry;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod tls_server;

pub use ack::{Ack, AckReceipt, AckSummary, Acks, Outcome};
pub use batch::{Batch, ClientMetadata, DecodeError};
pub use batcher::{Batcher, BatcherSettings};
pub use component::{
    Admission, BuildContext, BuiltExporter, Connector, ConnectorBuildContext, ConnectorFactory,
    ConnectorOutput, ExportRequest, Exporter, ExporterFactory, Extension, ExtensionContext,
    ExtensionFactory, FactoryInfo, HealthState, Processor, ProcessorBuildContext, ProcessorFactory,
    Receiver, ReceiverContext, ReceiverFactory, Route, RunningComponent, Stability,
};
pub use error::{BuildError, ConsumeError, ExportError, StartError};
pub use exporter_settings::{ExporterSettings, QueueSettings, RetrySettings, Sizer};
pub use output::{Consumer, ReceiverOutput};
pub use refusal::RefusalReason;
pub use registry::Registry;
pub use weir_config::{ComponentId, ComponentProblem, Kind, PipelineId, Signal, Value};
