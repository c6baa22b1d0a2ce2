//! Packing series into `WriteRequest`s of at most `max_batch_size_bytes` (protobuf
//! size, before snappy), as the Collector does, and encoding them for the wire.
//!
//! Series keep their order and a series larger than the limit by itself is cut into
//! several series with the same labels, each holding a run of consecutive samples, so
//! time order within a series survives the split. Only a single sample that is larger
//! than the limit on its own (very long labels) is sent alone, above the limit.

use prost::Message;
use weir_proto::remote_write::{MetricMetadata, TimeSeries, WriteRequest};

/// Bytes a length-delimited field of `len` bytes takes in its parent message.
fn field_len(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

/// A request and, for each of its series, the hash of its labels (the series' key in
/// the exporter's ordering record, computed once at conversion) and whether it is the
/// primary series of its points (one sample per point, see `convert`).
#[derive(Debug, Default)]
pub struct Packed {
    pub request: WriteRequest,
    pub hashes: Vec<u64>,
    pub primary: Vec<bool>,
}

impl Packed {
    /// The points this request carries: the samples of its primary series.
    pub fn points(&self) -> usize {
        self.request
            .timeseries
            .iter()
            .zip(&self.primary)
            .filter(|(_, primary)| **primary)
            .map(|(s, _)| s.samples.len() + s.histograms.len())
            .sum()
    }
}

/// Splits `series` into requests of at most `max_bytes` each.
pub fn pack(series: Vec<TimeSeries>, max_bytes: usize) -> Vec<WriteRequest> {
    let hashes = vec![0; series.len()];
    let primary = vec![false; series.len()];
    pack_hashed(series, hashes, primary, max_bytes)
        .into_iter()
        .map(|p| p.request)
        .collect()
}

/// [`pack`], carrying each series' hash and primary flag (`hashes[i]` and `primary[i]`
/// belong to `series[i]`) along.
pub fn pack_hashed(
    series: Vec<TimeSeries>,
    hashes: Vec<u64>,
    primary: Vec<bool>,
    max_bytes: usize,
) -> Vec<Packed> {
    let mut requests = Vec::new();
    let mut current = Packed::default();
    let mut current_len = 0;
    for ((s, hash), is_primary) in series.into_iter().zip(hashes).zip(primary) {
        // The usual series fits whole: its size is computed once, not again per part.
        let whole = field_len(s.encoded_len());
        let parts = if whole <= max_bytes {
            vec![s]
        } else {
            split_series(s, max_bytes)
        };
        let single = parts.len() == 1;
        for part in parts {
            let len = if single {
                whole
            } else {
                field_len(part.encoded_len())
            };
            if current_len + len > max_bytes && !current.request.timeseries.is_empty() {
                requests.push(std::mem::take(&mut current));
                current_len = 0;
            }
            current_len += len;
            current.request.timeseries.push(part);
            current.hashes.push(hash);
            current.primary.push(is_primary);
        }
    }
    if !current.request.timeseries.is_empty() {
        requests.push(current);
    }
    requests
}

/// Metadata in requests of its own, also bounded.
pub fn pack_metadata(metadata: Vec<MetricMetadata>, max_bytes: usize) -> Vec<WriteRequest> {
    let mut requests = Vec::new();
    let mut current = WriteRequest::default();
    let mut current_len = 0;
    for m in metadata {
        let len = field_len(m.encoded_len());
        if current_len + len > max_bytes && !current.metadata.is_empty() {
            requests.push(std::mem::take(&mut current));
            current_len = 0;
        }
        current_len += len;
        current.metadata.push(m);
    }
    if !current.metadata.is_empty() {
        requests.push(current);
    }
    requests
}

/// Cuts one series into parts that fit, keeping samples and histograms in order.
pub(crate) fn split_series(series: TimeSeries, max_bytes: usize) -> Vec<TimeSeries> {
    if field_len(series.encoded_len()) <= max_bytes {
        return vec![series];
    }
    let empty = TimeSeries {
        labels: series.labels.clone(),
        ..Default::default()
    };
    let base = field_len(empty.encoded_len());
    let mut parts = Vec::new();
    let mut current = empty.clone();
    let mut current_len = base;
    // Exemplars ride with the first part.
    for e in series.exemplars {
        current_len += field_len(e.encoded_len());
        current.exemplars.push(e);
    }
    let is_full = |current: &TimeSeries, len: usize, add: usize| {
        len + add > max_bytes && (!current.samples.is_empty() || !current.histograms.is_empty())
    };
    for s in series.samples {
        let add = field_len(s.encoded_len());
        if is_full(&current, current_len, add) {
            parts.push(std::mem::replace(&mut current, empty.clone()));
            current_len = base;
        }
        current_len += add;
        current.samples.push(s);
    }
    for h in series.histograms {
        let add = field_len(h.encoded_len());
        if is_full(&current, current_len, add) {
            parts.push(std::mem::replace(&mut current, empty.clone()));
            current_len = base;
        }
        current_len += add;
        current.histograms.push(h);
    }
    if !current.samples.is_empty()
        || !current.histograms.is_empty()
        || !current.exemplars.is_empty()
    {
        parts.push(current);
    }
    parts
}

/// The wire body: protobuf, snappy block format (not the framed stream format).
pub fn encode(request: &WriteRequest) -> Result<Vec<u8>, String> {
    encode_with(request, &mut Vec::new())
}

/// [`encode`] with a reusable scratch buffer for the uncompressed protobuf.
pub fn encode_with(request: &WriteRequest, scratch: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_into(request, scratch, &mut out)?;
    Ok(out)
}

/// [`encode`] into `out` (replacing its content), the uncompressed protobuf left in
/// `scratch`: both buffers can be reused from one request to the next.
pub fn encode_into(
    request: &WriteRequest,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    scratch.clear();
    request
        .encode(scratch)
        .map_err(|e| format!("protobuf encoding failed: {e}"))?;
    out.clear();
    out.resize(snap::raw::max_compress_len(scratch.len()), 0);
    let n = snap::raw::Encoder::new()
        .compress(scratch, out)
        .map_err(|e| format!("snappy compression failed: {e}"))?;
    out.truncate(n);
    Ok(())
}

/// The wire body back into its `WriteRequest` (to filter an already prepared request).
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy decompression failed: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf decoding failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_proto::remote_write::{Label, Sample};

    fn series(name: &str, samples: usize) -> TimeSeries {
        TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: name.into(),
            }],
            samples: (0..samples)
                .map(|i| Sample {
                    value: i as f64,
                    timestamp: 1_000 + i as i64,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn requests_stay_under_the_limit_and_keep_everything() {
        let all: Vec<TimeSeries> = (0..200)
            .map(|i| series(&format!("metric_{i}"), 3))
            .collect();
        let total_samples: usize = all.iter().map(|s| s.samples.len()).sum();
        let requests = pack(all, 1_000);
        assert!(requests.len() > 1);
        for r in &requests {
            assert!(r.encoded_len() <= 1_000, "{} bytes", r.encoded_len());
        }
        let sent: usize = requests
            .iter()
            .flat_map(|r| &r.timeseries)
            .map(|s| s.samples.len())
            .sum();
        assert_eq!(sent, total_samples);
    }

    #[test]
    fn a_large_series_is_cut_in_time_order() {
        let requests = pack(vec![series("big", 500)], 300);
        assert!(requests.len() > 5);
        let mut last = i64::MIN;
        for r in &requests {
            assert!(r.encoded_len() <= 300);
            for s in &r.timeseries {
                assert_eq!(s.labels[0].value, "big");
                for sample in &s.samples {
                    assert!(sample.timestamp > last);
                    last = sample.timestamp;
                }
            }
        }
        assert_eq!(last, 1_499);
    }

    #[test]
    fn snappy_block_format_round_trips() {
        let request = WriteRequest {
            timeseries: vec![series("up", 2)],
            metadata: vec![],
        };
        let body = encode(&request).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).unwrap(), request);
    }
}
