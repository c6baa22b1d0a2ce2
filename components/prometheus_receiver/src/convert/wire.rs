//! A small OTLP protobuf writer for the scrape path (tags and varints by `prost::encoding`).
//!
//! Why by hand: a scrape of a fleet writes the same series every interval, so each
//! series' attributes are encoded once, when it is first seen (see `memory.rs`), and
//! every later scrape only copies those bytes and writes the numbers around them. The
//! batch then travels in its wire form, as if an OTLP client had sent it: no owned
//! OTLP structs are built, cloned or dropped per sample. The field numbers are those of
//! `opentelemetry/proto/metrics/v1/metrics.proto`, `common/v1/common.proto` and
//! `resource/v1/resource.proto`; the result is checked by `Batch::from_protobuf`'s
//! validating scan before it leaves the receiver.
//!
//! A nested message is written into its own buffer and copied behind its tag and length
//! (lengths come first in protobuf). Points are small, so the copies are cheap next to
//! the allocations they replace.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

pub fn varint(buf: &mut Vec<u8>, value: u64) {
    encode_varint(value, buf);
}

fn tag(buf: &mut Vec<u8>, field: u32, wire_type: WireType) {
    encode_key(field, wire_type, buf);
}

/// A length-delimited field (a string, bytes, or an encoded message).
pub fn bytes(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
    tag(buf, field, WireType::LengthDelimited);
    varint(buf, value.len() as u64);
    buf.extend_from_slice(value);
}

/// A string field, left out when empty (proto3's default).
pub fn string(buf: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        bytes(buf, field, value.as_bytes());
    }
}

pub fn fixed64(buf: &mut Vec<u8>, field: u32, value: u64) {
    tag(buf, field, WireType::SixtyFourBit);
    buf.extend_from_slice(&value.to_le_bytes());
}

pub fn double(buf: &mut Vec<u8>, field: u32, value: f64) {
    fixed64(buf, field, value.to_bits());
}

pub fn uint(buf: &mut Vec<u8>, field: u32, value: u64) {
    tag(buf, field, WireType::Varint);
    varint(buf, value);
}

/// A packed repeated fixed64/double field from raw 64-bit words.
pub fn packed64(buf: &mut Vec<u8>, field: u32, words: impl ExactSizeIterator<Item = u64>) {
    tag(buf, field, WireType::LengthDelimited);
    varint(buf, (words.len() * 8) as u64);
    for word in words {
        buf.extend_from_slice(&word.to_le_bytes());
    }
}

/// One `KeyValue` with a string value, as field `field` of its parent.
pub fn string_attribute(buf: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    // AnyValue { string_value = 1 }
    let any_len = 1 + varint_len(value.len() as u64) + value.len();
    // KeyValue { key = 1, value = 2 }
    let kv_len =
        1 + varint_len(key.len() as u64) + key.len() + 1 + varint_len(any_len as u64) + any_len;
    tag(buf, field, WireType::LengthDelimited);
    varint(buf, kv_len as u64);
    bytes(buf, 1, key.as_bytes());
    tag(buf, 2, WireType::LengthDelimited);
    varint(buf, any_len as u64);
    bytes(buf, 1, value.as_bytes());
}

/// One `KeyValue` with an integer value.
pub fn int_attribute(buf: &mut Vec<u8>, field: u32, key: &str, value: i64) {
    let any_len = 1 + varint_len(value as u64);
    let kv_len =
        1 + varint_len(key.len() as u64) + key.len() + 1 + varint_len(any_len as u64) + any_len;
    tag(buf, field, WireType::LengthDelimited);
    varint(buf, kv_len as u64);
    bytes(buf, 1, key.as_bytes());
    tag(buf, 2, WireType::LengthDelimited);
    varint(buf, any_len as u64);
    uint(buf, 3, value as u64);
}

pub fn varint_len(value: u64) -> usize {
    encoded_len_varint(value)
}

/// Writes `inner` as the length-delimited field `field` of `buf`.
pub fn message(buf: &mut Vec<u8>, field: u32, inner: &[u8]) {
    bytes(buf, field, inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_encoding() {
        for (value, expected) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut buf = Vec::new();
            varint(&mut buf, value);
            assert_eq!(buf, expected, "{value}");
            assert_eq!(varint_len(value), expected.len(), "{value}");
        }
    }
}
