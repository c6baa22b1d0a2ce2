//! The bytes of a segment file, and reading them back without trusting them.
//!
//! A segment starts with [`SEGMENT_MAGIC`]. Each record is a 20-byte header and its
//! payload:
//!
//! ```text
//! sync u32 | index u32 | len u32 | items u32 | crc32 u32 | payload (len bytes)
//! ```
//!
//! little-endian; the CRC-32 covers index, len, items and the payload. The sync word lets
//! the reader find the next record after damage: it scans for the word and accepts a
//! position only if the header and payload there check out. The index is the record's
//! place in its segment, written by the writer, so the done-marks of the segment's
//! sidecar (see `sidecar.rs`) still name the right records after damage is skipped.
//!
//! Everything here reads through [`Source`], implemented for files and for byte slices, so
//! the reader is tested (and can be fuzzed) on bytes in memory.

use std::io;

/// The first bytes of every segment file: format name and version.
pub const SEGMENT_MAGIC: &[u8; 8] = b"WEIRWAL1";
/// The first word of every record header ("WREC").
pub const RECORD_SYNC: u32 = 0x5745_5243;
/// Bytes of a record header.
pub const HEADER_LEN: u64 = 20;
/// A length above this is damage, not a record (the writer never writes one).
pub const MAX_PAYLOAD: u32 = 1 << 30;

/// A record's header, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub index: u32,
    pub len: u32,
    pub items: u32,
    pub crc: u32,
}

/// The checksum of a record's header fields and payload.
pub fn checksum(index: u32, len: u32, items: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&index.to_le_bytes());
    hasher.update(&len.to_le_bytes());
    hasher.update(&items.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// A record's bytes: header and payload. `None` when the payload is too large.
pub fn encode(index: u32, items: u32, payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= MAX_PAYLOAD)?;
    let mut out = Vec::with_capacity(HEADER_LEN as usize + payload.len());
    out.extend_from_slice(&RECORD_SYNC.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&items.to_le_bytes());
    out.extend_from_slice(&checksum(index, len, items, payload).to_le_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Positional reads: a file, or bytes in memory.
pub trait Source {
    /// Fills `buf` from `offset`; fewer bytes only at the end of the source.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Source for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        let Some(rest) = self.get(start..) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

impl Source for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = std::os::unix::fs::FileExt::read_at(
                self,
                &mut buf[filled..],
                offset + filled as u64,
            )?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }
}

/// What is at an offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A whole record whose checksum matches; the next one starts at `next`.
    Record {
        header: Header,
        payload: Vec<u8>,
        next: u64,
    },
    /// Nothing more: the offset is the segment's end.
    End,
    /// Bytes that are not a record: `why` says what was wrong.
    Damaged { why: &'static str },
}

/// Whether a segment starts as one should. An empty file is a segment created and never
/// written (a crash right after creating it): valid, with no records.
pub fn check_magic(
    source: &(impl Source + ?Sized),
    end: u64,
) -> io::Result<Result<(), &'static str>> {
    if end == 0 {
        return Ok(Ok(()));
    }
    let mut magic = [0u8; 8];
    let n = source.read_at(&mut magic, 0)?;
    if n < magic.len() {
        return Ok(Err("the segment header is cut short"));
    }
    if &magic != SEGMENT_MAGIC {
        return Ok(Err("the segment does not start with the log's magic bytes"));
    }
    Ok(Ok(()))
}

/// Reads the record at `offset`, the segment's valid bytes ending at `end`.
pub fn read_at(source: &(impl Source + ?Sized), offset: u64, end: u64) -> io::Result<Found> {
    if offset >= end {
        return Ok(Found::End);
    }
    if end - offset < HEADER_LEN {
        return Ok(Found::Damaged {
            why: "a record header is cut short",
        });
    }
    let mut raw = [0u8; HEADER_LEN as usize];
    if source.read_at(&mut raw, offset)? < raw.len() {
        return Ok(Found::Damaged {
            why: "a record header is cut short",
        });
    }
    let word = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    if word(0) != RECORD_SYNC {
        return Ok(Found::Damaged {
            why: "no record starts here (bad sync word)",
        });
    }
    let header = Header {
        index: word(4),
        len: word(8),
        items: word(12),
        crc: word(16),
    };
    if header.len > MAX_PAYLOAD {
        return Ok(Found::Damaged {
            why: "a record claims an impossible length",
        });
    }
    let next = offset + HEADER_LEN + u64::from(header.len);
    if next > end {
        return Ok(Found::Damaged {
            why: "a record is cut short",
        });
    }
    let mut payload = vec![0u8; header.len as usize];
    if source.read_at(&mut payload, offset + HEADER_LEN)? < payload.len() {
        return Ok(Found::Damaged {
            why: "a record is cut short",
        });
    }
    if checksum(header.index, header.len, header.items, &payload) != header.crc {
        return Ok(Found::Damaged {
            why: "a record's checksum does not match",
        });
    }
    Ok(Found::Record {
        header,
        payload,
        next,
    })
}

/// The first offset after `from` where a whole, checksummed record starts, or `None`.
/// Scans for the sync word in chunks, so a long damaged stretch costs one pass.
pub fn resync(source: &(impl Source + ?Sized), from: u64, end: u64) -> io::Result<Option<u64>> {
    const CHUNK: usize = 64 * 1024;
    let sync = RECORD_SYNC.to_le_bytes();
    let mut chunk = vec![0u8; CHUNK + 3];
    let mut at = from;
    while at + HEADER_LEN <= end {
        let want = usize::try_from((end - at).min(chunk.len() as u64)).unwrap_or(chunk.len());
        let n = source.read_at(&mut chunk[..want], at)?;
        if n < sync.len() {
            return Ok(None);
        }
        for i in 0..=n - sync.len() {
            if chunk[i..i + sync.len()] == sync {
                let candidate = at + i as u64;
                if let Found::Record { .. } = read_at(source, candidate, end)? {
                    return Ok(Some(candidate));
                }
            }
        }
        // Overlap by the sync word's length less one, so a word across chunks is found.
        at += (n - (sync.len() - 1)) as u64;
    }
    Ok(None)
}

/// Everything a segment image holds: its records and the damage met, for tests and
/// fuzzing. Never panics, whatever the bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub records: Vec<(Header, Vec<u8>)>,
    /// (offset, why) of each damaged stretch skipped.
    pub damage: Vec<(u64, &'static str)>,
}

/// Reads a whole segment image as the log's reader does.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut out = Scan::default();
    let end = bytes.len() as u64;
    match check_magic(bytes, end) {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            out.damage.push((0, why));
            return out;
        }
        Err(_) => return out,
    }
    let mut offset = SEGMENT_MAGIC.len() as u64;
    loop {
        match read_at(bytes, offset, end) {
            Ok(Found::Record {
                header,
                payload,
                next,
            }) => {
                out.records.push((header, payload));
                offset = next;
            }
            Ok(Found::End) | Err(_) => return out,
            Ok(Found::Damaged { why }) => {
                out.damage.push((offset, why));
                match resync(bytes, offset + 1, end) {
                    Ok(Some(next)) => offset = next,
                    _ => return out,
                }
            }
        }
    }
}
