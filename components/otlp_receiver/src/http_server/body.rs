//! Reading a request body safely: a byte limit on the wire and the same limit again
//! after decompression, so neither a huge upload nor a small decompression bomb can
//! make Weir allocate more than `max_request_body_size`.

use std::io::Read;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Malformed(String),
}

/// A `Content-Encoding` Weir can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
    /// HTTP's `deflate` is the zlib format (RFC 9110); the Collector also accepts `zlib`.
    Deflate,
}

impl Encoding {
    /// Parses the header value; `Err` carries the value that is not supported.
    pub fn from_header(value: Option<&str>) -> Result<Self, String> {
        let Some(value) = value else {
            return Ok(Self::Identity);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "zstd" => Ok(Self::Zstd),
            "deflate" | "zlib" => Ok(Self::Deflate),
            _ => Err(value.to_string()),
        }
    }
}

/// Collects the body, refusing it as soon as it passes `limit` bytes.
pub async fn read(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(err) => Err(BodyError::Malformed(format!(
            "cannot read the request body: {err}"
        ))),
    }
}

/// Undoes the content encoding, producing at most `limit` bytes.
pub fn decompress(encoding: Encoding, wire: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    match encoding {
        Encoding::Identity => Ok(wire),
        Encoding::Gzip => read_limited(flate2::read::MultiGzDecoder::new(&wire[..]), limit, "gzip"),
        Encoding::Deflate => {
            read_limited(flate2::read::ZlibDecoder::new(&wire[..]), limit, "deflate")
        }
        Encoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(&wire[..])
                .map_err(|e| BodyError::Malformed(format!("invalid zstd body: {e}")))?;
            // A frame may ask for a window of up to 2 GiB; 16 MiB covers every normal
            // compression level and keeps a hostile frame from reserving more.
            decoder
                .window_log_max(24)
                .map_err(|e| BodyError::Malformed(format!("invalid zstd body: {e}")))?;
            read_limited(decoder, limit, "zstd")
        }
    }
}

fn read_limited(reader: impl Read, limit: usize, name: &str) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Malformed(format!("invalid {name} body: {e}")))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn encodings() {
        assert_eq!(Encoding::from_header(None), Ok(Encoding::Identity));
        assert_eq!(Encoding::from_header(Some(" GZIP ")), Ok(Encoding::Gzip));
        assert_eq!(Encoding::from_header(Some("br")), Err("br".into()));
    }

    #[test]
    fn limits_apply_after_decompression() {
        let data = vec![b'a'; 1000];
        let wire = Bytes::from(gzip(&data));
        assert_eq!(
            decompress(Encoding::Gzip, wire.clone(), 1000).unwrap(),
            data
        );
        assert!(matches!(
            decompress(Encoding::Gzip, wire, 999),
            Err(BodyError::TooLarge)
        ));
        let zstd = Bytes::from(zstd::encode_all(&data[..], 3).unwrap());
        assert_eq!(
            decompress(Encoding::Zstd, zstd.clone(), 1000).unwrap(),
            data
        );
        assert!(matches!(
            decompress(Encoding::Zstd, zstd, 10),
            Err(BodyError::TooLarge)
        ));
    }

    #[test]
    fn truncated_and_garbage_are_malformed() {
        let wire = gzip(b"hello world, hello world");
        let truncated = Bytes::copy_from_slice(&wire[..wire.len() - 6]);
        assert!(matches!(
            decompress(Encoding::Gzip, truncated, 1000),
            Err(BodyError::Malformed(_))
        ));
        let garbage = Bytes::from_static(b"not compressed at all");
        assert!(matches!(
            decompress(Encoding::Gzip, garbage.clone(), 1000),
            Err(BodyError::Malformed(_))
        ));
        assert!(matches!(
            decompress(Encoding::Zstd, garbage.clone(), 1000),
            Err(BodyError::Malformed(_))
        ));
        assert!(matches!(
            decompress(Encoding::Deflate, garbage, 1000),
            Err(BodyError::Malformed(_))
        ));
    }
}
