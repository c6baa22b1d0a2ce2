//! The in-flight unit of data: one signal's items plus the client metadata they came with.
//!
//! The representation is private on purpose. Today a batch holds decoded OTLP structs
//! behind an `Arc`, so a fan-out to several pipelines is a pointer copy and only a
//! processor that edits pays for a copy (copy-on-write through [`Batch::edit_traces`] and
//! friends). DESIGN.md's zero-copy plan (keep the wire bytes, read fields lazily) can
//! replace the inside without changing any method a component calls.

mod count;
pub mod json;
mod metadata;
mod split;

use std::sync::Arc;

use prost::Message;
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::logs::v1::ResourceLogs;
use weir_proto::metrics::v1::ResourceMetrics;
use weir_proto::trace::v1::ResourceSpans;

pub use metadata::ClientMetadata;

use crate::Signal;

/// A payload could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

#[derive(Clone, Debug, PartialEq)]
enum Payload {
    Traces(Vec<ResourceSpans>),
    Metrics(Vec<ResourceMetrics>),
    Logs(Vec<ResourceLogs>),
}

/// One signal's data in flight. Cheap to clone.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    payload: Arc<Payload>,
    metadata: ClientMetadata,
    items: usize,
}

impl Batch {
    fn from_payload(payload: Payload) -> Self {
        let items = count::items(&payload);
        Self {
            payload: Arc::new(payload),
            metadata: ClientMetadata::default(),
            items,
        }
    }

    pub fn from_traces(resource_spans: Vec<ResourceSpans>) -> Self {
        Self::from_payload(Payload::Traces(resource_spans))
    }

    pub fn from_metrics(resource_metrics: Vec<ResourceMetrics>) -> Self {
        Self::from_payload(Payload::Metrics(resource_metrics))
    }

    pub fn from_logs(resource_logs: Vec<ResourceLogs>) -> Self {
        Self::from_payload(Payload::Logs(resource_logs))
    }

    /// An empty batch of the given signal.
    pub fn empty(signal: Signal) -> Self {
        match signal {
            Signal::Traces => Self::from_traces(Vec::new()),
            Signal::Metrics => Self::from_metrics(Vec::new()),
            Signal::Logs => Self::from_logs(Vec::new()),
        }
    }

    /// Decodes an OTLP protobuf export request (`Export{Trace,Metrics,Logs}ServiceRequest`).
    pub fn decode_protobuf(signal: Signal, bytes: &[u8]) -> Result<Self, DecodeError> {
        let err = |e: prost::DecodeError| DecodeError(format!("invalid OTLP protobuf: {e}"));
        Ok(match signal {
            Signal::Traces => Self::from_traces(
                ExportTraceServiceRequest::decode(bytes)
                    .map_err(err)?
                    .resource_spans,
            ),
            Signal::Metrics => Self::from_metrics(
                ExportMetricsServiceRequest::decode(bytes)
                    .map_err(err)?
                    .resource_metrics,
            ),
            Signal::Logs => Self::from_logs(
                ExportLogsServiceRequest::decode(bytes)
                    .map_err(err)?
                    .resource_logs,
            ),
        })
    }

    /// Decodes an OTLP/JSON export request (see [`json`] for the rules it follows).
    pub fn decode_json(signal: Signal, bytes: &[u8]) -> Result<Self, DecodeError> {
        json::decode(signal, bytes)
    }

    /// Encodes as an OTLP protobuf export request.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        // Every export request has its resources as repeated field 1, so each resource is
        // written in place as that field: no copy of the batch into a request struct.
        fn encode_all<M: Message>(resources: &[M], capacity: usize) -> Vec<u8> {
            let mut buf = Vec::with_capacity(capacity);
            for resource in resources {
                prost::encoding::message::encode(1, resource, &mut buf);
            }
            buf
        }
        let capacity = self.encoded_len();
        match &*self.payload {
            Payload::Traces(rs) => encode_all(rs, capacity),
            Payload::Metrics(rm) => encode_all(rm, capacity),
            Payload::Logs(rl) => encode_all(rl, capacity),
        }
    }

    /// Encodes as an OTLP/JSON export request.
    pub fn encode_json(&self) -> Vec<u8> {
        json::encode(self)
    }

    /// The protobuf-encoded size in bytes; what the `bytes` queue sizer charges.
    pub fn encoded_len(&self) -> usize {
        match &*self.payload {
            Payload::Traces(rs) => rs.iter().map(|r| len_delimited(r.encoded_len())).sum(),
            Payload::Metrics(rm) => rm.iter().map(|r| len_delimited(r.encoded_len())).sum(),
            Payload::Logs(rl) => rl.iter().map(|r| len_delimited(r.encoded_len())).sum(),
        }
    }

    pub fn signal(&self) -> Signal {
        match &*self.payload {
            Payload::Traces(_) => Signal::Traces,
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Logs(_) => Signal::Logs,
        }
    }

    /// Items in the batch: spans, metric data points or log records.
    pub fn item_count(&self) -> usize {
        self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Client metadata (headers, gRPC metadata) kept when the receiver's
    /// `include_metadata` is on.
    pub fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    pub fn set_metadata(&mut self, metadata: ClientMetadata) {
        self.metadata = metadata;
    }

    /// The resource spans; empty for other signals.
    pub fn resource_spans(&self) -> &[ResourceSpans] {
        match &*self.payload {
            Payload::Traces(rs) => rs,
            _ => &[],
        }
    }

    /// The resource metrics; empty for other signals.
    pub fn resource_metrics(&self) -> &[ResourceMetrics] {
        match &*self.payload {
            Payload::Metrics(rm) => rm,
            _ => &[],
        }
    }

    /// The resource logs; empty for other signals.
    pub fn resource_logs(&self) -> &[ResourceLogs] {
        match &*self.payload {
            Payload::Logs(rl) => rl,
            _ => &[],
        }
    }

    /// Edits the spans in place (copying first if the batch is shared) and recounts.
    /// Does nothing for other signals.
    pub fn edit_traces(&mut self, edit: impl FnOnce(&mut Vec<ResourceSpans>)) {
        if let Payload::Traces(rs) = Arc::make_mut(&mut self.payload) {
            edit(rs);
        }
        self.items = count::items(&self.payload);
    }

    /// Edits the metrics in place (copying first if shared) and recounts.
    pub fn edit_metrics(&mut self, edit: impl FnOnce(&mut Vec<ResourceMetrics>)) {
        if let Payload::Metrics(rm) = Arc::make_mut(&mut self.payload) {
            edit(rm);
        }
        self.items = count::items(&self.payload);
    }

    /// Edits the log records in place (copying first if shared) and recounts.
    pub fn edit_logs(&mut self, edit: impl FnOnce(&mut Vec<ResourceLogs>)) {
        if let Payload::Logs(rl) = Arc::make_mut(&mut self.payload) {
            edit(rl);
        }
        self.items = count::items(&self.payload);
    }

    /// The export request, for exporters that hand it to a generated client.
    pub fn to_traces_request(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self.resource_spans().to_vec(),
        }
    }

    pub fn to_metrics_request(&self) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: self.resource_metrics().to_vec(),
        }
    }

    pub fn to_logs_request(&self) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: self.resource_logs().to_vec(),
        }
    }

    /// Appends `other`'s items. Returns `other` back unchanged if its signal differs.
    pub fn append(&mut self, other: Batch) -> Result<(), Batch> {
        if other.signal() != self.signal() {
            return Err(other);
        }
        let added = other.items;
        let other_payload = Arc::try_unwrap(other.payload).unwrap_or_else(|arc| (*arc).clone());
        match (Arc::make_mut(&mut self.payload), other_payload) {
            (Payload::Traces(a), Payload::Traces(b)) => a.extend(b),
            (Payload::Metrics(a), Payload::Metrics(b)) => a.extend(b),
            (Payload::Logs(a), Payload::Logs(b)) => a.extend(b),
            _ => {}
        }
        self.items += added;
        Ok(())
    }

    /// Moves the first `n` items into a new batch (same metadata) and keeps the rest.
    /// Resources and scopes are copied into both halves when their items straddle the cut.
    pub fn split_front(&mut self, n: usize) -> Batch {
        if n >= self.items {
            let signal = self.signal();
            let mut front = std::mem::replace(self, Batch::empty(signal));
            self.metadata = front.metadata.clone();
            front.items = count::items(&front.payload);
            return front;
        }
        let front_payload = split::split_front(Arc::make_mut(&mut self.payload), n);
        self.items = count::items(&self.payload);
        let mut front = Batch::from_payload(front_payload);
        front.metadata = self.metadata.clone();
        front
    }
}

/// Size of a length-delimited field holding `len` bytes (tag + varint length + body).
fn len_delimited(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

#[cfg(test)]
mod tests;
