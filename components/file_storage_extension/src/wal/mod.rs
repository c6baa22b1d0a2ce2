//! The write-ahead log of one persistent queue (one exporter and signal): a directory of
//! segment files, appended at the newest, read from the oldest.
//!
//! - **Append** writes a checksummed record (`format.rs`) to the active segment, fsynced
//!   if configured, before the engine answers the receiver. A segment is sealed at
//!   `segment_size_mib` and a new one started; a run never appends to a previous run's
//!   segments, so a damaged tail is never written after.
//! - **Read** hands records out in order, from disk: only the record being handed out is
//!   in memory, so the backlog of a long outage costs disk, not resident memory.
//! - **Done** marks a record delivered (or failed and counted) in the segment's sidecar
//!   (`sidecar.rs`); a sealed segment whose records were all read and are all done is
//!   deleted with its sidecar. Nothing else deletes a segment, except `drop_oldest`, which
//!   counts what it removes.
//! - **Damage** (bad magic, bad checksum, a record cut short) is skipped: the reader
//!   resynchronises on the next valid record, logs the file and offset and counts one
//!   damaged record per damaged stretch. It is never an error.
//!
//! One mutex guards the log; it is held for one append (with its fsync) or one read.

pub mod format;
mod segment;
pub mod sidecar;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use weir_api::storage::{AppendError, Appended, FullPolicy, LogStats, Record, RecordId, RecordLog};

use format::{Found, SEGMENT_MAGIC};
use segment::Segment;

/// An active segment at least this large is sealed (and deleted) as soon as everything
/// in it is delivered; a smaller one waits to fill, so light traffic does not create and
/// delete a file per batch.
const ROLL_DELIVERED_BYTES: u64 = 1 << 20;

/// How a log behaves; from the extension's config.
#[derive(Clone, Debug)]
pub struct Options {
    pub fsync: bool,
    /// The most bytes of segment files the log may hold.
    pub max_bytes: u64,
    /// Size at which the active segment is sealed.
    pub segment_bytes: u64,
    pub policy: FullPolicy,
}

/// Where the reader is: a segment (by id) and an offset in it.
struct Cursor {
    segment: u64,
    offset: u64,
    file: Option<(u64, File)>,
}

struct Inner {
    /// Oldest first; the last one is the active segment.
    segments: VecDeque<Segment>,
    /// The active segment, opened for appending.
    writer: Option<File>,
    next_index: u32,
    cursor: Cursor,
    total_bytes: u64,
    damaged: u64,
    next_id: u64,
}

/// One queue's log. See the module docs.
pub struct Log {
    dir: PathBuf,
    options: Options,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("dir", &self.dir).finish()
    }
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> String {
    format!("{what} {}: {err}", path.display())
}

impl Log {
    /// Opens the log in `dir` (which must exist), finds the segments a previous run left
    /// and starts a new active segment after them.
    pub fn open(dir: &Path, options: Options) -> Result<Log, String> {
        let mut segments: Vec<Segment> = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| io_error("cannot read the queue directory", dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if let Some(id) = segment::id_of(&path) {
                segments.push(Segment::existing(id, path)?);
            } else if path.extension().is_some_and(|e| e == "ack")
                && !path.with_extension("wal").exists()
            {
                // The sidecar of a segment deleted just before a crash.
                let _ = std::fs::remove_file(&path);
            }
        }
        segments.sort_by_key(|s| s.id);
        let next_id = segments.last().map_or(1, |s| s.id + 1);
        let total_bytes = segments.iter().map(|s| s.bytes).sum();
        let first = segments.first().map_or(next_id, |s| s.id);
        let replayed = segments.len();
        let inner = Inner {
            segments: segments.into(),
            writer: None,
            next_index: 0,
            cursor: Cursor {
                segment: first,
                offset: 0,
                file: None,
            },
            total_bytes,
            damaged: 0,
            next_id,
        };
        let log = Log {
            dir: dir.to_path_buf(),
            options,
            inner: Mutex::new(inner),
        };
        {
            let mut inner = log.lock();
            log.start_segment(&mut inner)?;
        }
        if replayed > 0 {
            tracing::info!(dir = %dir.display(), segments = replayed, bytes = total_bytes,
                "persistent queue: replaying what the previous run left");
        }
        Ok(log)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seals the active segment (if any) and starts a new one.
    fn start_segment(&self, inner: &mut Inner) -> Result<(), String> {
        if let Some(active) = inner.segments.back_mut() {
            active.sealed = true;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let path = segment::path_for(&self.dir, id);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error("cannot create segment", &path, e))?;
        file.write_all(SEGMENT_MAGIC)
            .map_err(|e| io_error("cannot write segment", &path, e))?;
        if self.options.fsync {
            file.sync_all()
                .map_err(|e| io_error("cannot fsync segment", &path, e))?;
            if let Ok(dir) = File::open(&self.dir) {
                let _ = dir.sync_all();
            }
        }
        let bytes = SEGMENT_MAGIC.len() as u64;
        inner.total_bytes += bytes;
        inner.segments.push_back(Segment::new(id, path, bytes));
        inner.writer = Some(file);
        inner.next_index = 0;
        // Sealing may have made a read-out segment deletable.
        self.collect(inner);
        Ok(())
    }

    /// Deletes every segment that is sealed, read to its end, and has nothing in flight.
    fn collect(&self, inner: &mut Inner) {
        let mut i = 0;
        while i < inner.segments.len() {
            if inner.segments[i].finished() {
                if let Some(segment) = inner.segments.remove(i) {
                    inner.total_bytes = inner.total_bytes.saturating_sub(segment.bytes);
                    segment.delete();
                }
            } else {
                i += 1;
            }
        }
    }

    /// Removes the oldest segment to make room, counting its records not done and not in
    /// flight. Returns false when only the active segment is left.
    fn evict_oldest(&self, inner: &mut Inner, dropped: &mut Appended) -> bool {
        if inner.segments.len() < 2 {
            return false;
        }
        let Some(segment) = inner.segments.pop_front() else {
            return false;
        };
        let (records, items) = segment.undelivered();
        dropped.dropped_records += records;
        dropped.dropped_items += items;
        inner.total_bytes = inner.total_bytes.saturating_sub(segment.bytes);
        if inner.cursor.segment <= segment.id {
            inner.cursor = Cursor {
                segment: segment.id + 1,
                offset: 0,
                file: None,
            };
        }
        tracing::warn!(file = %segment.path.display(), records, items,
            "persistent queue full (full_policy: drop_oldest): oldest segment dropped");
        segment.delete();
        true
    }

    fn append_locked(
        &self,
        inner: &mut Inner,
        payload: &[u8],
        items: u32,
    ) -> Result<Appended, AppendError> {
        let record_len = format::HEADER_LEN + payload.len() as u64;
        if record_len + SEGMENT_MAGIC.len() as u64 > self.options.max_bytes {
            return Err(AppendError::TooLarge {
                bytes: record_len,
                max: self.options.max_bytes,
            });
        }
        let active_bytes = inner.segments.back().map_or(0, |s| s.bytes);
        if active_bytes > SEGMENT_MAGIC.len() as u64
            && active_bytes + record_len > self.options.segment_bytes
        {
            self.start_segment(inner).map_err(AppendError::Io)?;
        }
        let mut dropped = Appended::default();
        while inner.total_bytes + record_len > self.options.max_bytes {
            match self.options.policy {
                FullPolicy::Block => return Err(AppendError::Full),
                FullPolicy::DropOldest => {
                    if !self.evict_oldest(inner, &mut dropped) {
                        // Only the active segment is left: seal it so it can go too.
                        let active_has_records = inner
                            .segments
                            .back()
                            .is_some_and(|s| s.bytes > SEGMENT_MAGIC.len() as u64);
                        if !active_has_records {
                            return Err(AppendError::Full);
                        }
                        self.start_segment(inner).map_err(AppendError::Io)?;
                    }
                }
            }
        }
        let index = inner.next_index;
        let Some(bytes) = format::encode(index, items, payload) else {
            return Err(AppendError::TooLarge {
                bytes: record_len,
                max: u64::from(format::MAX_PAYLOAD),
            });
        };
        let Some(active) = inner.segments.back_mut() else {
            return Err(AppendError::Io("the queue has no active segment".into()));
        };
        let path = active.path.clone();
        let before = active.bytes;
        let Some(writer) = inner.writer.as_mut() else {
            return Err(AppendError::Io("the queue has no active segment".into()));
        };
        if let Err(err) = writer.write_all(&bytes) {
            // Leave no half record behind.
            let _ = writer.set_len(before);
            return Err(AppendError::Io(io_error("cannot write to", &path, err)));
        }
        if self.options.fsync {
            if let Err(err) = writer.sync_data() {
                return Err(AppendError::Io(io_error("cannot fsync", &path, err)));
            }
        }
        if let Some(active) = inner.segments.back_mut() {
            active.appended(record_len);
        }
        inner.total_bytes += record_len;
        inner.next_index += 1;
        Ok(dropped)
    }

    fn next_locked(&self, inner: &mut Inner) -> Result<Option<Record>, String> {
        loop {
            let Some(pos) = inner
                .segments
                .iter()
                .position(|s| s.id >= inner.cursor.segment)
            else {
                return Ok(None);
            };
            let seg_id = inner.segments[pos].id;
            if seg_id != inner.cursor.segment {
                inner.cursor = Cursor {
                    segment: seg_id,
                    offset: 0,
                    file: None,
                };
            }
            let end = inner.segments[pos].bytes;
            let sealed = inner.segments[pos].sealed;
            let path = inner.segments[pos].path.clone();
            if inner.cursor.file.as_ref().map(|(id, _)| *id) != Some(seg_id) {
                let file = File::open(&path).map_err(|e| io_error("cannot open", &path, e))?;
                inner.cursor.file = Some((seg_id, file));
            }
            let Some((_, file)) = inner.cursor.file.as_ref() else {
                return Ok(None);
            };
            if inner.cursor.offset == 0 {
                match format::check_magic(file, end)
                    .map_err(|e| io_error("cannot read", &path, e))?
                {
                    // An empty file (created, never written) reads as the end.
                    Ok(()) => inner.cursor.offset = SEGMENT_MAGIC.len() as u64,
                    Err(why) => {
                        self.damage(inner, &path, 0, why);
                        inner.cursor.offset = end.max(SEGMENT_MAGIC.len() as u64);
                    }
                }
                continue;
            }
            let offset = inner.cursor.offset;
            let Some((_, file)) = inner.cursor.file.as_ref() else {
                return Ok(None);
            };
            match format::read_at(file, offset, end)
                .map_err(|e| io_error("cannot read", &path, e))?
            {
                Found::End => {
                    if !sealed {
                        return Ok(None);
                    }
                    inner.segments[pos].exhausted = true;
                    inner.cursor = Cursor {
                        segment: seg_id + 1,
                        offset: 0,
                        file: None,
                    };
                    self.collect(inner);
                }
                Found::Damaged { why } => {
                    let resumed = format::resync(file, offset + 1, end)
                        .map_err(|e| io_error("cannot read", &path, e))?;
                    self.damage(inner, &path, offset, why);
                    inner.cursor.offset = resumed.unwrap_or(end);
                }
                Found::Record {
                    header,
                    payload,
                    next,
                } => {
                    inner.cursor.offset = next;
                    let segment = &mut inner.segments[pos];
                    if let Some(redelivered) = segment.hand_out(header.index, header.items) {
                        return Ok(Some(Record {
                            id: RecordId {
                                segment: seg_id,
                                index: header.index,
                            },
                            items: header.items,
                            payload,
                            redelivered,
                        }));
                    }
                }
            }
        }
    }

    /// Once everything in a large active segment is delivered, seals it so its file goes
    /// now rather than when it fills up: after an outage the disk empties as the backlog
    /// drains.
    fn roll_if_delivered(&self, inner: &mut Inner) {
        let Some(active) = inner.segments.back_mut() else {
            return;
        };
        let read_out = inner.cursor.segment == active.id && inner.cursor.offset >= active.bytes;
        if !read_out || !active.idle() || active.bytes < ROLL_DELIVERED_BYTES {
            return;
        }
        active.exhausted = true;
        if let Err(err) = self.start_segment(inner) {
            tracing::warn!(error = %err, "persistent queue: cannot start a new segment");
        }
    }

    fn damage(&self, inner: &mut Inner, path: &Path, offset: u64, why: &str) {
        inner.damaged += 1;
        tracing::warn!(file = %path.display(), offset, problem = why,
            "persistent queue: damaged bytes skipped");
    }
}

impl RecordLog for Log {
    fn append(&self, payload: &[u8], items: u32) -> Result<Appended, AppendError> {
        let mut inner = self.lock();
        self.append_locked(&mut inner, payload, items)
    }

    fn next(&self) -> Result<Option<Record>, String> {
        let mut inner = self.lock();
        self.next_locked(&mut inner)
    }

    fn done(&self, id: RecordId) {
        let mut inner = self.lock();
        if let Some(segment) = inner.segments.iter_mut().find(|s| s.id == id.segment) {
            segment.done(id.index);
            self.collect(&mut inner);
        }
        self.roll_if_delivered(&mut inner);
    }

    fn take_damaged(&self) -> u64 {
        std::mem::take(&mut self.lock().damaged)
    }

    fn stats(&self) -> LogStats {
        LogStats {
            bytes: self.lock().total_bytes,
            max_bytes: self.options.max_bytes,
        }
    }
}
