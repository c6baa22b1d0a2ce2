//! A batch to and from a message's value: an OTLP export request, as protobuf or JSON.

use bytes::Bytes;
use weir_api::{Batch, DecodeError, Signal};

use crate::client::Encoding;

/// The message value for `batch`.
pub fn encode(batch: &Batch, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::OtlpProto => batch.encode_protobuf(),
        Encoding::OtlpJson => batch.encode_json(),
    }
}

/// The batch in a message's value, validated.
pub fn decode(signal: Signal, encoding: Encoding, value: &[u8]) -> Result<Batch, DecodeError> {
    match encoding {
        Encoding::OtlpProto => Batch::from_protobuf(signal, Bytes::copy_from_slice(value)),
        Encoding::OtlpJson => Batch::decode_json(signal, value),
    }
}
