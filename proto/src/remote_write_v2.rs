//! Prometheus remote-write 2.0 wire types (`io.prometheus.write.v2.Request` and what it
//! holds).
//!
//! Written by hand with prost's derive macros, like [`crate::remote_write`], so the build
//! needs no protobuf compiler. Field numbers and types follow
//! `shared/conformance/remote_write/proto/prompb/io/prometheus/write/v2/types.proto`
//! (spec 2.0-rc.4; vendored in `tests/conformance/remote_write/proto/`). Strings are
//! interned: every `*_ref(s)` is an index into `Request.symbols`, whose first entry is
//! always `""`. gogoproto options have no meaning for prost and are left out.

/// The body of one remote-write 2.0 request (snappy block-compressed on the wire).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    // Tags 1 to 3 are reserved upstream (so a 1.0 decoder reads an empty message).
    /// De-duplicated strings; `symbols[0]` is `""`.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: label refs (name, value pairs, sorted by name), and either float samples
/// or native histogram samples, never both.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// Always present on the wire upstream (`nullable = false`); prost writes it when set.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    // Tag 6 is reserved upstream.
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Optional label refs (pairs), e.g. `trace_id`.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A float sample; timestamps in milliseconds since the Unix epoch, `start_timestamp`
/// 0 meaning unset.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// TYPE, HELP and UNIT of the series' family; the refs point at `""` when unknown.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(enumeration = "metadata::MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

pub mod metadata {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        Unspecified = 0,
        Counter = 1,
        Gauge = 2,
        Histogram = 3,
        Gaugehistogram = 4,
        Summary = 5,
        Info = 6,
        Stateset = 7,
    }
}

/// A native histogram sample (exponential or custom buckets).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// -4..=8 for exponential buckets, -53 for custom buckets.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    #[prost(enumeration = "histogram::ResetHint", tag = "14")]
    pub reset_hint: i32,
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
    /// 0 means unset.
    #[prost(int64, tag = "17")]
    pub start_timestamp: i64,
}

pub mod histogram {
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResetHint {
        Unspecified = 0,
        Yes = 1,
        No = 2,
        Gauge = 3,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn uses_upstream_field_numbers_and_reads_empty_as_v1() {
        let request = Request {
            symbols: vec!["".into(), "__name__".into(), "up".into()],
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 5,
                    start_timestamp: 3,
                }],
                metadata: Some(Metadata {
                    r#type: metadata::MetricType::Gauge as i32,
                    help_ref: 0,
                    unit_ref: 0,
                }),
                ..Default::default()
            }],
        };
        let bytes = request.encode_to_vec();
        // Field 4 (symbols), wire type 2: 0x22.
        assert_eq!(bytes[0], 0x22);
        assert_eq!(Request::decode(bytes.as_slice()).unwrap(), request);
        // The reserved tags: a 1.0 decoder finds nothing in a 2.0 body.
        let v1 = crate::remote_write::WriteRequest::decode(bytes.as_slice()).unwrap();
        assert!(v1.timeseries.is_empty() && v1.metadata.is_empty());
        // start_timestamp of a histogram is field 17 (two-byte tag 0x88 0x01).
        let h = Histogram {
            start_timestamp: 1,
            ..Default::default()
        };
        assert_eq!(h.encode_to_vec(), vec![0x88, 0x01, 0x01]);
    }
}
