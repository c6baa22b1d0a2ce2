//! A tonic codec that moves gRPC message bytes in and out untouched, for the OTLP
//! receiver and exporter.
//!
//! - **Receiving.** With the generated prost codec, tonic decodes the protobuf itself and answers an undecodable
//!   body with `INTERNAL` before Weir's code runs, so the refusal could be neither counted nor answered as the
//!   OTLP spec recommends. With raw bytes the receiver decodes with `Batch::decode_protobuf`, chooses the status
//!   and counts the refusal.
//! - **Sending.** The generated clients take an owned `Export*ServiceRequest`, a deep copy of the batch on every
//!   attempt. The exporter sends the bytes `Batch::encode_protobuf` already wrote.
//!
//! tonic still does the framing, the size limits and gzip/zstd. `copy_to_bytes` on its buffer is a split, not a
//! copy.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Messages are [`Bytes`] both ways.
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

/// The OTLP `Export` method paths, as the generated clients and servers name them.
pub const TRACES_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const METRICS_EXPORT_PATH: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
pub const LOGS_EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
