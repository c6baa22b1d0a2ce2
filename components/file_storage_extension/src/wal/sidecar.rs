//! A segment's sidecar file: which of its records were handed to a consumer and which
//! are done, so a restart neither resends what was delivered nor loses what was not.
//!
//! Each mark is 8 bytes, `index u32 | kind u32`, appended as it happens (not fsynced: the
//! page cache outlives a killed process, and a mark lost to a power cut only means a
//! record is sent again). A torn last mark or a word that is not a kind is ignored.
//!
//! On replay a record marked done is skipped, and one marked sent but not done is handed
//! out again flagged as redelivered: the earlier run may have delivered it. Only a
//! consumer's request in flight at the crash can be in that state, so duplicates are at
//! most one request per consumer.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The record was handed to a consumer.
pub const SENT: u32 = 0x5345_0001;
/// The record was delivered, or failed and was counted.
pub const DONE: u32 = 0x5345_0002;

/// What a sidecar says about its segment's records.
#[derive(Debug, Default)]
pub struct Marks {
    pub sent: HashSet<u32>,
    pub done: HashSet<u32>,
}

/// Parses a sidecar's bytes.
pub fn parse(bytes: &[u8]) -> Marks {
    let mut marks = Marks::default();
    for mark in bytes.chunks_exact(8) {
        let index = u32::from_le_bytes([mark[0], mark[1], mark[2], mark[3]]);
        match u32::from_le_bytes([mark[4], mark[5], mark[6], mark[7]]) {
            SENT => {
                marks.sent.insert(index);
            }
            DONE => {
                marks.done.insert(index);
            }
            _ => {}
        }
    }
    marks
}

/// The sidecar of the segment at `segment`.
pub fn path_for(segment: &Path) -> PathBuf {
    segment.with_extension("ack")
}

/// Reads a sidecar; a missing one says nothing yet.
pub fn read(path: &Path) -> io::Result<Marks> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)?;
            Ok(parse(&bytes))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Marks::default()),
        Err(err) => Err(err),
    }
}

/// Appends marks to one sidecar, opening it on first use.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: Option<File>,
}

impl Writer {
    pub fn new(path: PathBuf) -> Self {
        Self { path, file: None }
    }

    pub fn mark(&mut self, index: u32, kind: u32) -> io::Result<()> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            // A torn mark from a crash would shift every later one: start aligned.
            let len = file.metadata()?.len();
            if len % 8 != 0 {
                file.set_len(len - len % 8)?;
            }
            self.file = Some(file);
        }
        let mut mark = [0u8; 8];
        mark[..4].copy_from_slice(&index.to_le_bytes());
        mark[4..].copy_from_slice(&kind.to_le_bytes());
        match &mut self.file {
            Some(file) => file.write_all(&mark),
            None => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
