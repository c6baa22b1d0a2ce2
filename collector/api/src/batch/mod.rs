//! The in-flight unit of data: one signal's items plus the client metadata they came with.
//!
//! The representation is private, and so are the OTLP structs: components read items
//! through [`view`]s, drop them with `retain_*`, change them with `edit_*` (see
//! [`edit`]), and build new batches with the [`build`]ers.
//!
//! Behind that one API a batch holds each resource in one of two forms (`repr.rs`):
//! - *wire*: what an OTLP receiver got, kept as `Bytes` after one validating scan that
//!   allocates nothing. Views read fields lazily, batching concatenates, and encoding
//!   copies the bytes as they are.
//! - *owned*: decoded structs, for batches built in-process and for the resources an
//!   edit had to decode. An edit decodes only the resources it changes; a retain that
//!   only drops items copies the kept byte ranges without decoding anything.
//!
//! The payload sits behind an `Arc`, so a fan-out to several pipelines is a pointer copy.

pub mod build;
mod count;
pub mod edit;
pub mod json;
mod metadata;
mod repr;
mod retain;
mod splice;
pub use retain::PointView;
mod partition;
mod split;
pub mod view;
mod wire;

use std::sync::Arc;

use bytes::Bytes;
use weir_proto::collector::logs::v1::ExportLogsServiceRequest;
use weir_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_proto::collector::trace::v1::ExportTraceServiceRequest;
use weir_proto::logs::v1::ResourceLogs;
use weir_proto::metrics::v1::ResourceMetrics;
use weir_proto::trace::v1::ResourceSpans;

use crate::ack::{Ack, Acks, Outcome};
pub use edit::OwnedValue;
pub use metadata::ClientMetadata;
use repr::Res;
use view::{
    LogRecordView, ResourceLogsView, ResourceMetricsView, ResourceSpansView, ResourceView,
    ScopeView, SpanView,
};
use wire::{Field, Msg};

use crate::Signal;

/// A payload could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

#[derive(Clone, Debug)]
pub(crate) enum Payload {
    Traces(Vec<Res<ResourceSpans>>),
    Metrics(Vec<Res<ResourceMetrics>>),
    Logs(Vec<Res<ResourceLogs>>),
}

impl Payload {
    fn items(&self) -> usize {
        match self {
            Payload::Traces(rs) => rs.iter().map(Res::items).sum(),
            Payload::Metrics(rm) => rm.iter().map(Res::items).sum(),
            Payload::Logs(rl) => rl.iter().map(Res::items).sum(),
        }
    }
}

/// One signal's data in flight. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Batch {
    payload: Arc<Payload>,
    metadata: ClientMetadata,
    items: usize,
    /// The acknowledgement handles of the admitted batches whose data this holds.
    acks: Acks,
}

/// Two batches are equal when they hold the same data, whatever its representation
/// (acknowledgement handles are not data).
impl PartialEq for Batch {
    fn eq(&self, other: &Self) -> bool {
        self.signal() == other.signal()
            && self.items == other.items
            && self.metadata == other.metadata
            && match self.signal() {
                Signal::Traces => self.resource_spans() == other.resource_spans(),
                Signal::Metrics => self.resource_metrics() == other.resource_metrics(),
                Signal::Logs => self.resource_logs() == other.resource_logs(),
            }
    }
}

fn owned<P>(resources: Vec<P>) -> Vec<Res<P>> {
    resources.into_iter().map(Res::Owned).collect()
}

impl Batch {
    fn from_payload(payload: Payload) -> Self {
        let items = payload.items();
        Self {
            payload: Arc::new(payload),
            metadata: ClientMetadata::default(),
            items,
            acks: Acks::new(),
        }
    }

    /// A batch of decoded spans. Components build batches with [`build`] instead; this
    /// is for the JSON codec and tests.
    #[doc(hidden)]
    pub fn from_traces(resource_spans: Vec<ResourceSpans>) -> Self {
        Self::from_payload(Payload::Traces(owned(resource_spans)))
    }

    #[doc(hidden)]
    pub fn from_metrics(resource_metrics: Vec<ResourceMetrics>) -> Self {
        Self::from_payload(Payload::Metrics(owned(resource_metrics)))
    }

    #[doc(hidden)]
    pub fn from_logs(resource_logs: Vec<ResourceLogs>) -> Self {
        Self::from_payload(Payload::Logs(owned(resource_logs)))
    }

    /// An empty batch of the given signal.
    pub fn empty(signal: Signal) -> Self {
        Self::from_payload(match signal {
            Signal::Traces => Payload::Traces(Vec::new()),
            Signal::Metrics => Payload::Metrics(Vec::new()),
            Signal::Logs => Payload::Logs(Vec::new()),
        })
    }

    /// Takes an OTLP protobuf export request (`Export{Trace,Metrics,Logs}ServiceRequest`)
    /// as it arrived, without decoding it: the bytes are validated once, by a scan that
    /// allocates nothing and refuses exactly what a protobuf decoder refuses, and kept.
    pub fn from_protobuf(signal: Signal, bytes: Bytes) -> Result<Self, DecodeError> {
        validate(signal, &bytes)?;
        let resources =
            Msg(&bytes)
                .fields()
                .filter_map(|(number, field, _)| match (number, field) {
                    (1, Field::Len(body)) => Some(bytes.slice_ref(body)),
                    _ => None,
                });
        Ok(Self::from_payload(match signal {
            Signal::Traces => Payload::Traces(resources.map(Res::wire).collect()),
            Signal::Metrics => Payload::Metrics(resources.map(Res::wire).collect()),
            Signal::Logs => Payload::Logs(resources.map(Res::wire).collect()),
        }))
    }

    /// [`Batch::from_protobuf`] from borrowed bytes (copied once).
    pub fn decode_protobuf(signal: Signal, bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_protobuf(signal, Bytes::copy_from_slice(bytes))
    }

    /// Decodes an OTLP/JSON export request (see [`json`] for the rules it follows).
    pub fn decode_json(signal: Signal, bytes: &[u8]) -> Result<Self, DecodeError> {
        json::decode(signal, bytes)
    }

    /// Encodes as an OTLP protobuf export request. Wire resources are copied as they
    /// are; only decoded ones are encoded.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        fn encode_all<P: repr::OtlpResource>(resources: &[Res<P>], capacity: usize) -> Vec<u8> {
            let mut buf = Vec::with_capacity(capacity);
            for resource in resources {
                resource.encode_field(&mut buf);
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
        fn sum<P: repr::OtlpResource>(resources: &[Res<P>]) -> usize {
            resources
                .iter()
                .map(|r| wire::len_field_size(1, r.body_len()))
                .sum()
        }
        match &*self.payload {
            Payload::Traces(rs) => sum(rs),
            Payload::Metrics(rm) => sum(rm),
            Payload::Logs(rl) => sum(rl),
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

    /// Whether `other` is a clone of this batch (the same shared data, not merely equal
    /// data), e.g. to check that a fan-out or a connector passed data on without copying.
    /// Any edit, split or append gives a batch data of its own.
    pub fn shares_data_with(&self, other: &Batch) -> bool {
        Arc::ptr_eq(&self.payload, &other.payload)
    }

    /// The number of resources.
    pub fn resource_count(&self) -> usize {
        match &*self.payload {
            Payload::Traces(rs) => rs.len(),
            Payload::Metrics(rm) => rm.len(),
            Payload::Logs(rl) => rl.len(),
        }
    }

    /// Client metadata (headers, gRPC metadata) kept when the receiver's
    /// `include_metadata` is on.
    pub fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    pub fn set_metadata(&mut self, metadata: ClientMetadata) {
        self.metadata = metadata;
    }

    // ---- Acknowledgements ------------------------------------------------------------

    /// Attaches an admitted batch's acknowledgement handle (the receiver output does).
    pub fn attach_ack(&mut self, ack: Ack) {
        self.acks.push(ack);
    }

    /// The handles this data carries.
    pub fn acks(&self) -> &Acks {
        &self.acks
    }

    /// Takes the handles out, for whatever carries the data on (an export request).
    pub fn take_acks(&mut self) -> Acks {
        std::mem::take(&mut self.acks)
    }

    /// Records what became of this data on every handle it carries.
    pub fn record_outcome(&self, outcome: Outcome) {
        self.acks.record(outcome);
    }

    // ---- Views -------------------------------------------------------------------

    /// The resources of a traces batch; empty for other signals.
    pub fn traces(&self) -> impl Iterator<Item = ResourceSpansView<'_>> + '_ {
        let resources: &[Res<ResourceSpans>] = match &*self.payload {
            Payload::Traces(rs) => rs,
            _ => &[],
        };
        resources.iter().map(Res::view)
    }

    /// The resources of a metrics batch; empty for other signals.
    pub fn metrics(&self) -> impl Iterator<Item = ResourceMetricsView<'_>> + '_ {
        let resources: &[Res<ResourceMetrics>] = match &*self.payload {
            Payload::Metrics(rm) => rm,
            _ => &[],
        };
        resources.iter().map(Res::view)
    }

    /// The resources of a logs batch; empty for other signals.
    pub fn logs(&self) -> impl Iterator<Item = ResourceLogsView<'_>> + '_ {
        let resources: &[Res<ResourceLogs>] = match &*self.payload {
            Payload::Logs(rl) => rl,
            _ => &[],
        };
        resources.iter().map(Res::view)
    }

    /// Every span with its resource and scope.
    pub fn spans(&self) -> impl Iterator<Item = (ResourceView<'_>, ScopeView<'_>, SpanView<'_>)> {
        self.traces().flat_map(|r| {
            let resource = r.resource();
            r.scopes().flat_map(move |s| {
                let scope = s.scope();
                s.spans().map(move |span| (resource, scope, span))
            })
        })
    }

    /// Every log record with its resource and scope.
    pub fn log_records(
        &self,
    ) -> impl Iterator<Item = (ResourceView<'_>, ScopeView<'_>, LogRecordView<'_>)> {
        self.logs().flat_map(|r| {
            let resource = r.resource();
            r.scopes().flat_map(move |s| {
                let scope = s.scope();
                s.log_records().map(move |record| (resource, scope, record))
            })
        })
    }

    // ---- Decoded access, for the JSON codec and tests ------------------------------

    /// A decoded copy of the resource spans; empty for other signals.
    #[doc(hidden)]
    pub fn resource_spans(&self) -> Vec<ResourceSpans> {
        match &*self.payload {
            Payload::Traces(rs) => rs.iter().map(Res::to_owned_resource).collect(),
            _ => Vec::new(),
        }
    }

    #[doc(hidden)]
    pub fn resource_metrics(&self) -> Vec<ResourceMetrics> {
        match &*self.payload {
            Payload::Metrics(rm) => rm.iter().map(Res::to_owned_resource).collect(),
            _ => Vec::new(),
        }
    }

    #[doc(hidden)]
    pub fn resource_logs(&self) -> Vec<ResourceLogs> {
        match &*self.payload {
            Payload::Logs(rl) => rl.iter().map(Res::to_owned_resource).collect(),
            _ => Vec::new(),
        }
    }

    /// Edits the decoded spans (decoding every resource first). For tests.
    #[doc(hidden)]
    pub fn edit_otlp_traces(&mut self, edit: impl FnOnce(&mut Vec<ResourceSpans>)) {
        if let Payload::Traces(rs) = Arc::make_mut(&mut self.payload) {
            let mut decoded: Vec<ResourceSpans> =
                rs.drain(..).map(|mut r| r.make_owned().clone()).collect();
            edit(&mut decoded);
            *rs = owned(decoded);
        }
        self.recount();
    }

    #[doc(hidden)]
    pub fn to_traces_request(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self.resource_spans(),
        }
    }

    #[doc(hidden)]
    pub fn to_metrics_request(&self) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: self.resource_metrics(),
        }
    }

    #[doc(hidden)]
    pub fn to_logs_request(&self) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: self.resource_logs(),
        }
    }

    // ---- Batching ------------------------------------------------------------------

    /// Appends `other`'s items: its resources join this batch's as they are (wire
    /// bytes are not copied). Returns `other` back unchanged if its signal differs.
    pub fn append(&mut self, other: Batch) -> Result<(), Batch> {
        if other.signal() != self.signal() {
            return Err(other);
        }
        let added = other.items;
        self.acks.extend(other.acks);
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
    /// Whole resources move as they are; only a resource whose items straddle the cut
    /// is decoded and copied into both halves.
    pub fn split_front(&mut self, n: usize) -> Batch {
        if n >= self.items {
            let signal = self.signal();
            let front = std::mem::replace(self, Batch::empty(signal));
            self.metadata = front.metadata.clone();
            return front;
        }
        let front_payload = split::split_front(Arc::make_mut(&mut self.payload), n);
        // Moved, not dropped: no outcome to record.
        self.items = self.payload.items();
        let mut front = Batch::from_payload(front_payload);
        front.metadata = self.metadata.clone();
        front.acks = self.acks.clone();
        front
    }

    /// Recounts after a walk; items the walk removed are recorded as dropped.
    fn recount(&mut self) {
        let before = self.items;
        self.items = self.payload.items();
        if self.items < before {
            self.acks.record(Outcome::Dropped);
        }
    }

    fn payload_mut(&mut self) -> &mut Payload {
        Arc::make_mut(&mut self.payload)
    }
}

/// The validating scan of a received request.
fn validate(signal: Signal, bytes: &[u8]) -> Result<(), DecodeError> {
    use weir_proto::validate::{validate_request, RequestKind};
    let kind = match signal {
        Signal::Traces => RequestKind::Traces,
        Signal::Metrics => RequestKind::Metrics,
        Signal::Logs => RequestKind::Logs,
    };
    validate_request(kind, bytes).map_err(|e| DecodeError(e.to_string()))
}

#[cfg(test)]
mod tests;
