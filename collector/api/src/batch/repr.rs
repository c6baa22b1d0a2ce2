//! The two representations of a batch's resources, behind one private type.
//!
//! A resource is either the wire bytes of a `ResourceSpans`/`ResourceMetrics`/
//! `ResourceLogs` message as it arrived (validated on receipt, read lazily through
//! views), or the decoded struct (batches built in-process, and resources an edit had to
//! decode). A batch can mix both: an edit decodes only the resources it changes.

use bytes::Bytes;
use prost::Message;
use weir_proto::logs::v1::ResourceLogs;
use weir_proto::metrics::v1::ResourceMetrics;
use weir_proto::trace::v1::ResourceSpans;

use super::count;
use super::view::{FromRepr, ResourceLogsView, ResourceMetricsView, ResourceSpansView};
use super::wire::{put_len_header, Msg};

/// One resource and its items, in either representation.
#[derive(Clone, Debug)]
pub(crate) enum Res<P> {
    /// A validated message, and the number of items in it (counted on receipt).
    Wire {
        bytes: Bytes,
        items: usize,
    },
    Owned(P),
}

/// What the batch code needs of each signal's resource type.
pub(crate) trait OtlpResource: Message + Default + Clone + PartialEq + Sized {
    type View<'a>: FromRepr<'a, Self>
    where
        Self: 'a;

    /// Whether items sit directly in scopes (spans, log records), so a resource's bytes
    /// can be cut between items without decoding.
    const ITEMS_IN_SCOPES: bool;

    /// Items in a decoded resource.
    fn owned_items(&self) -> usize;
    /// Items in a resource's wire bytes.
    fn wire_items(msg: Msg<'_>) -> usize;
}

impl OtlpResource for ResourceSpans {
    type View<'a> = ResourceSpansView<'a>;
    const ITEMS_IN_SCOPES: bool = true;

    fn owned_items(&self) -> usize {
        self.scope_spans.iter().map(|s| s.spans.len()).sum()
    }

    fn wire_items(msg: Msg<'_>) -> usize {
        msg.repeated(2).map(|scope| scope.repeated(2).count()).sum()
    }
}

impl OtlpResource for ResourceLogs {
    type View<'a> = ResourceLogsView<'a>;
    const ITEMS_IN_SCOPES: bool = true;

    fn owned_items(&self) -> usize {
        self.scope_logs.iter().map(|s| s.log_records.len()).sum()
    }

    fn wire_items(msg: Msg<'_>) -> usize {
        msg.repeated(2).map(|scope| scope.repeated(2).count()).sum()
    }
}

impl OtlpResource for ResourceMetrics {
    type View<'a> = ResourceMetricsView<'a>;
    const ITEMS_IN_SCOPES: bool = false;

    fn owned_items(&self) -> usize {
        self.scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(count::data_points)
            .sum()
    }

    fn wire_items(msg: Msg<'_>) -> usize {
        msg.repeated(2)
            .flat_map(|scope| scope.repeated(2))
            .map(count::wire_data_points)
            .sum()
    }
}

impl<P: OtlpResource> Res<P> {
    pub(crate) fn wire(bytes: Bytes) -> Self {
        let items = P::wire_items(Msg(&bytes));
        Self::Wire { bytes, items }
    }

    pub(crate) fn items(&self) -> usize {
        match self {
            Self::Wire { items, .. } => *items,
            Self::Owned(p) => p.owned_items(),
        }
    }

    pub(crate) fn view(&self) -> P::View<'_> {
        match self {
            Self::Wire { bytes, .. } => P::View::from_wire(Msg(bytes)),
            Self::Owned(p) => P::View::from_owned(p),
        }
    }

    /// The decoded resource (a copy for wire resources).
    pub(crate) fn to_owned_resource(&self) -> P {
        match self {
            Self::Owned(p) => p.clone(),
            // Validated on receipt, so decoding cannot fail; an empty resource is the
            // fallback rather than a panic.
            Self::Wire { bytes, .. } => P::decode(bytes.as_ref()).unwrap_or_default(),
        }
    }

    /// Decodes a wire resource in place and hands out the struct.
    pub(crate) fn make_owned(&mut self) -> &mut P {
        if let Self::Wire { .. } = self {
            *self = Self::Owned(self.to_owned_resource());
        }
        match self {
            Self::Owned(p) => p,
            Self::Wire { .. } => unreachable!("made owned just above"),
        }
    }

    /// Size of the body (without the field header).
    pub(crate) fn body_len(&self) -> usize {
        match self {
            Self::Wire { bytes, .. } => bytes.len(),
            Self::Owned(p) => p.encoded_len(),
        }
    }

    /// Writes the resource as field 1 of an export request: wire bytes as they are.
    pub(crate) fn encode_field(&self, out: &mut Vec<u8>) {
        match self {
            Self::Wire { bytes, .. } => {
                put_len_header(out, 1, bytes.len());
                out.extend_from_slice(bytes);
            }
            Self::Owned(p) => prost::encoding::message::encode(1, p, out),
        }
    }
}
