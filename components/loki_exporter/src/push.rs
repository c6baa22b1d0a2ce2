//! Loki's push API bodies: `logproto.PushRequest` (protobuf, snappy block format) and the
//! JSON form.
//!
//! The protobuf messages are written by hand with prost's derive, from Loki's published
//! `pkg/push/push.proto` (Apache-2.0; a copy with its licence is in `proto/loki/` at the
//! repository root, where the acceptance test decodes what Weir sends). gogoproto's
//! options (`nullable = false`, `stdtime`, JSON tags) change the Go types only, not the
//! wire. Only what a client sends is here: `parsed` (field 4) is for query responses and
//! `hash` is internal to Loki.

use serde_json::{Map, Value};

use crate::convert::Stream;
use crate::labels::selector;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream (its label selector) and its entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    pub fn from_unix_nanos(nanos: u64) -> Self {
        Self {
            seconds: (nanos / 1_000_000_000) as i64,
            nanos: (nanos % 1_000_000_000) as i32,
        }
    }
}

/// The protobuf body, snappy block-compressed (what Loki expects for
/// `application/x-protobuf`). Returns (body, uncompressed length).
pub fn encode_protobuf(request: &PushRequest) -> Result<(Vec<u8>, usize), String> {
    let raw = prost::Message::encode_to_vec(request);
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .map_err(|e| format!("snappy compression failed: {e}"))?;
    Ok((body, raw.len()))
}

/// The `PushRequest` of a tenant's streams.
pub fn request(streams: &[Stream]) -> PushRequest {
    PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: selector(&s.labels),
                entries: s
                    .entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp::from_unix_nanos(e.nanos)),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(name, value)| LabelPairAdapter {
                                name: name.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The JSON body: `{"streams":[{"stream":{labels},"values":[["<ns>","<line>",{sm}]]}]}`
/// (timestamps as strings of Unix nanoseconds, structured metadata as an optional third
/// element).
pub fn encode_json(streams: &[Stream]) -> Vec<u8> {
    let streams: Vec<Value> = streams
        .iter()
        .map(|stream| {
            let labels: Map<String, Value> = stream
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let values: Vec<Value> = stream
                .entries
                .iter()
                .map(|entry| {
                    let mut value = vec![
                        Value::String(entry.nanos.to_string()),
                        Value::String(entry.line.clone()),
                    ];
                    if !entry.metadata.is_empty() {
                        value.push(Value::Object(
                            entry
                                .metadata
                                .iter()
                                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                                .collect(),
                        ));
                    }
                    Value::Array(value)
                })
                .collect();
            serde_json::json!({"stream": labels, "values": values})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn protobuf_round_trips_through_snappy() {
        let request = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{job="a"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp::from_unix_nanos(1_700_000_000_123_456_789)),
                    line: "hello".into(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "abc".into(),
                    }],
                }],
            }],
        };
        let (body, raw_len) = encode_protobuf(&request).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(raw.len(), raw_len);
        let back = PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(back, request);
        let ts = back.streams[0].entries[0].timestamp.unwrap();
        assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 123_456_789));
    }

    #[test]
    fn json_has_nanosecond_strings_and_metadata() {
        use crate::convert::Entry;
        let streams = [Stream {
            labels: [("job".to_string(), "x".to_string())].into(),
            entries: vec![
                Entry {
                    nanos: 5,
                    line: "a".into(),
                    metadata: vec![],
                },
                Entry {
                    nanos: 6,
                    line: "b".into(),
                    metadata: vec![("k".into(), "v".into())],
                },
            ],
        }];
        let json: Value = serde_json::from_slice(&encode_json(&streams)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"streams": [{"stream": {"job": "x"},
                "values": [["5", "a"], ["6", "b", {"k": "v"}]]}]})
        );
        let proto = request(&streams);
        assert_eq!(proto.streams[0].labels, r#"{job="x"}"#);
        assert_eq!(proto.streams[0].entries[1].structured_metadata[0].name, "k");
    }
}
