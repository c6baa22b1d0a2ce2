//! A tonic codec that moves gRPC message bytes in and out untouched.
//!
//! With the generated prost codec tonic decodes the protobuf itself and answers an
//! undecodable body with `INTERNAL` before Weir's code runs, so the refusal could be
//! neither counted nor answered as the OTLP spec recommends. Handing the raw message to
//! the handler instead lets it decode with [`weir_api::Batch::decode_protobuf`], choose
//! the status and count the refusal; it also keeps the wire bytes in hand for the
//! zero-copy batch DESIGN.md plans. tonic still does the framing, the size limits and
//! gzip/zstd, and `copy_to_bytes` on its buffer is a split, not a copy.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Messages are [`Bytes`] both ways: the request as received, the response already
/// encoded by the handler.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
