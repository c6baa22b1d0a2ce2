//! Wire types shared by every crate.
//!
//! OTLP comes from `opentelemetry-proto` (prost messages, tonic services, and serde
//! derives used for OTLP/JSON). Re-exporting it from one place keeps every crate on the
//! same version and lets the hot path move to hand-written zero-copy readers later
//! without touching the components that only name these types.

pub use opentelemetry_proto::tonic::collector;
pub use opentelemetry_proto::tonic::common;
pub use opentelemetry_proto::tonic::logs;
pub use opentelemetry_proto::tonic::metrics;
pub use opentelemetry_proto::tonic::resource;
pub use opentelemetry_proto::tonic::trace;

/// A raw-bytes gRPC codec and the OTLP method paths.
pub mod grpc;

/// Prometheus remote-write 1.0 messages.
pub mod remote_write;
/// Prometheus remote-write 2.0 messages (`io.prometheus.write.v2.Request`).
pub mod remote_write_v2;

/// Checks, without allocating, that bytes are an OTLP export request prost would decode
/// (the same accept/refuse decision), so a zero-copy batch can validate once on receipt.
pub mod validate;

/// prost, re-exported so callers encode and decode with the same version.
pub use prost;
