//! One segment file and what the log knows about it: its size, whether it is sealed or
//! read to its end, which of its records are out with a consumer and which are done.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use super::format::{self, Found, SEGMENT_MAGIC};
use super::sidecar::{self, Marks, DONE, SENT};

const EXTENSION: &str = "wal";

/// `<dir>/<id, 20 digits>.wal`: names sort as the ids do.
pub fn path_for(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{EXTENSION}"))
}

/// The id of a segment file, or `None` for any other file.
pub fn id_of(path: &Path) -> Option<u64> {
    if path.extension()? != EXTENSION {
        return None;
    }
    path.file_stem()?.to_str()?.parse().ok()
}

#[derive(Debug)]
pub struct Segment {
    pub id: u64,
    pub path: PathBuf,
    /// Valid bytes: the file's length, or for the active segment what was appended.
    pub bytes: u64,
    /// No more appends: every segment but the active one.
    pub sealed: bool,
    /// The reader went past its last record.
    pub exhausted: bool,
    /// Marks an earlier run left in the sidecar.
    replayed: Marks,
    /// Records handed out and not yet done: index -> items.
    in_flight: HashMap<u32, u32>,
    done: HashSet<u32>,
    marks: sidecar::Writer,
}

impl Segment {
    /// The active segment just created, `bytes` long (its magic).
    pub fn new(id: u64, path: PathBuf, bytes: u64) -> Self {
        let marks = sidecar::Writer::new(sidecar::path_for(&path));
        Self {
            id,
            path,
            bytes,
            sealed: false,
            exhausted: false,
            replayed: Marks::default(),
            in_flight: HashMap::new(),
            done: HashSet::new(),
            marks,
        }
    }

    /// A segment an earlier run left: sealed, with its sidecar's marks.
    pub fn existing(id: u64, path: PathBuf) -> Result<Self, String> {
        let bytes = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        let replayed = sidecar::read(&sidecar::path_for(&path))
            .map_err(|e| format!("cannot read the sidecar of {}: {e}", path.display()))?;
        let mut segment = Self::new(id, path, bytes);
        segment.sealed = true;
        segment.replayed = replayed;
        Ok(segment)
    }

    /// A record was appended to this (active) segment.
    pub fn appended(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// The reader met record `index`: `None` if it is done already (skip it), else
    /// whether an earlier run had handed it out without finishing it.
    pub fn hand_out(&mut self, index: u32, items: u32) -> Option<bool> {
        if self.replayed.done.contains(&index) || self.done.contains(&index) {
            return None;
        }
        self.in_flight.insert(index, items);
        self.mark(index, SENT);
        Some(self.replayed.sent.contains(&index))
    }

    pub fn done(&mut self, index: u32) {
        if self.in_flight.remove(&index).is_some() {
            self.done.insert(index);
            self.mark(index, DONE);
        }
    }

    fn mark(&mut self, index: u32, kind: u32) {
        if let Err(err) = self.marks.mark(index, kind) {
            // A lost mark only means the record may be sent again after a restart.
            tracing::warn!(file = %self.marks.path().display(), error = %err,
                "persistent queue: cannot write a delivery mark");
        }
    }

    /// Nothing out with a consumer.
    pub fn idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Sealed, read to its end, nothing out with a consumer: its file can go.
    pub fn finished(&self) -> bool {
        self.sealed && self.exhausted && self.in_flight.is_empty()
    }

    /// Records (and their items) neither done nor out with a consumer: what dropping the
    /// segment loses. Reads the file's headers; damage was or will be counted by the
    /// reader, not here.
    pub fn undelivered(&self) -> (u64, u64) {
        let Ok(file) = File::open(&self.path) else {
            return (0, 0);
        };
        let mut records = 0;
        let mut items = 0;
        let mut offset = SEGMENT_MAGIC.len() as u64;
        while offset < self.bytes {
            match format::read_at(&file, offset, self.bytes) {
                Ok(Found::Record { header, next, .. }) => {
                    let index = header.index;
                    if !self.replayed.done.contains(&index)
                        && !self.done.contains(&index)
                        && !self.in_flight.contains_key(&index)
                    {
                        records += 1;
                        items += u64::from(header.items);
                    }
                    offset = next;
                }
                Ok(Found::Damaged { .. }) => match format::resync(&file, offset + 1, self.bytes) {
                    Ok(Some(next)) => offset = next,
                    _ => break,
                },
                Ok(Found::End) | Err(_) => break,
            }
        }
        (records, items)
    }

    /// Removes the segment and its sidecar.
    pub fn delete(self) {
        for path in [&self.path, self.marks.path()] {
            if let Err(err) = std::fs::remove_file(path) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %path.display(), error = %err,
                        "persistent queue: cannot delete a delivered segment");
                }
            }
        }
    }
}
