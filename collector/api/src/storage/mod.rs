//! The seam between the engine's persistent queues and the storage extensions that hold
//! them (`sending_queue.storage: file_storage/NAME`).
//!
//! A storage extension (e.g. `components/file_storage_extension`) answers
//! [`Extension::storage`](crate::Extension::storage) with a [`Storage`]; the engine asks it
//! for one [`RecordLog`] per exporter and signal and runs the queue on top of it: it
//! appends each batch as OTLP wire bytes, hands records to the exporter's consumers, and
//! says when a record is done (delivered, or failed and counted). The extension never
//! sees the engine, and the engine never names the extension: they meet here.
//!
//! The log keeps the backlog on disk, not in memory, so a long outage does not grow the
//! process. Its methods do blocking file I/O: the engine calls them off the async
//! runtime's worker threads.

use std::fmt;

/// Where a record lives: its segment and its place in that segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub segment: u64,
    pub index: u32,
}

/// One record handed to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: RecordId,
    /// The items it carries (spans, points, log records), as given to `append`.
    pub items: u32,
    pub payload: Vec<u8>,
    /// It had been handed to a consumer by an earlier run that did not say it was done:
    /// it may already have been delivered, and sending it again may make a duplicate.
    pub redelivered: bool,
}

/// What `append` did to make room under [`FullPolicy::DropOldest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Records removed, not yet delivered, to make room.
    pub dropped_records: u64,
    /// The items those records carried.
    pub dropped_items: u64,
}

/// What the log does when a record would take it over its size on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FullPolicy {
    /// Refuse the record ([`AppendError::Full`]): the engine makes clients retry.
    #[default]
    Block,
    /// Remove the oldest segments (their records are counted as dropped) until it fits.
    DropOldest,
}

/// Why a record was not appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The log is at its size on disk (policy `block`); retry when records are done.
    Full,
    /// The record alone is larger than the whole log may be.
    TooLarge { bytes: u64, max: u64 },
    /// Writing failed (disk full, permissions): the message names the file.
    Io(String),
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Full => write!(f, "the persistent queue is full"),
            AppendError::TooLarge { bytes, max } => write!(
                f,
                "a record of {bytes} bytes is larger than the queue's size on disk ({max} bytes)"
            ),
            AppendError::Io(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for AppendError {}

/// How full a log is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Bytes of the log's segment files on disk.
    pub bytes: u64,
    /// The most bytes the log may hold.
    pub max_bytes: u64,
}

/// A storage extension's answer to the engine: logs by name.
pub trait Storage: Send + Sync {
    /// Opens (creating if needed) the log called `name`, e.g. `exporter_otlp_traces`, and
    /// replays what a previous run left in it: records not done are handed out again.
    /// Damage found while replaying is skipped, logged and counted (see
    /// [`RecordLog::take_damaged`]), never an error. One log per name per process.
    fn open_log(&self, name: &str) -> Result<Box<dyn RecordLog>, String>;
}

/// An append-only log of records with per-record checksums. Blocking I/O.
pub trait RecordLog: Send + Sync {
    /// Appends one record carrying `items` items. When it returns `Ok`, the record is in
    /// the log's file (and fsynced if the storage is configured to).
    fn append(&self, payload: &[u8], items: u32) -> Result<Appended, AppendError>;

    /// The oldest record not handed out yet, read from disk; `None` when every record has
    /// been handed out. Damaged records are skipped (and counted).
    fn next(&self) -> Result<Option<Record>, String>;

    /// The record was delivered, or failed and was counted: it will not be handed out
    /// again, and its segment file is deleted once every record in it is done.
    fn done(&self, id: RecordId);

    /// Records found damaged (bad checksum, cut short) since the last call.
    fn take_damaged(&self) -> u64;

    fn stats(&self) -> LogStats;
}
