//! The reader on damaged bytes, and the log's life cycle on a real directory.

use super::format::{self, scan, HEADER_LEN, SEGMENT_MAGIC};
use super::*;

fn image(records: &[&[u8]]) -> Vec<u8> {
    let mut bytes = SEGMENT_MAGIC.to_vec();
    for (i, payload) in records.iter().enumerate() {
        bytes.extend(format::encode(i as u32, 1, payload).expect("encodes"));
    }
    bytes
}

#[test]
fn a_clean_segment_reads_back_in_order() {
    let scan = scan(&image(&[b"one", b"two", b""]));
    assert!(scan.damage.is_empty());
    let payloads: Vec<&[u8]> = scan.records.iter().map(|(_, p)| p.as_slice()).collect();
    assert_eq!(payloads, [&b"one"[..], b"two", b""]);
    assert_eq!(scan.records[1].0.index, 1);
}

#[test]
fn a_flipped_byte_loses_one_record_and_is_counted() {
    let mut bytes = image(&[b"first record", b"second record", b"third record"]);
    // A byte in the second record's payload.
    let second = SEGMENT_MAGIC.len() + HEADER_LEN as usize + 12 + HEADER_LEN as usize + 3;
    bytes[second] ^= 0x40;
    let scan = scan(&bytes);
    let payloads: Vec<&[u8]> = scan.records.iter().map(|(_, p)| p.as_slice()).collect();
    assert_eq!(payloads, [&b"first record"[..], b"third record"]);
    assert_eq!(scan.damage.len(), 1);
    assert_eq!(scan.damage[0].1, "a record's checksum does not match");
    // A flipped byte in a length field: the reader resynchronises on the next record.
    let mut bytes = image(&[b"first record", b"second record", b"third record"]);
    let len_of_second = SEGMENT_MAGIC.len() + HEADER_LEN as usize + 12 + 8;
    bytes[len_of_second] ^= 0x01;
    let scan = super::format::scan(&bytes);
    assert_eq!(scan.records.len(), 2);
    assert_eq!(scan.damage.len(), 1);
}

#[test]
fn a_record_cut_short_is_counted_and_the_rest_kept() {
    let bytes = image(&[b"kept", b"cut in the middle"]);
    let cut = &bytes[..bytes.len() - 5];
    let scan = scan(cut);
    assert_eq!(scan.records.len(), 1);
    assert_eq!(scan.damage, [(8 + HEADER_LEN + 4, "a record is cut short")]);
    // Cut inside the header.
    let cut = &bytes[..8 + HEADER_LEN as usize + 4 + 7];
    let scan = super::format::scan(cut);
    assert_eq!(scan.records.len(), 1);
    assert_eq!(scan.damage[0].1, "a record header is cut short");
}

#[test]
fn empty_and_foreign_segments() {
    assert_eq!(scan(&[]), format::Scan::default());
    assert!(scan(SEGMENT_MAGIC).damage.is_empty());
    let mut bytes = image(&[b"x"]);
    bytes[0] = b'X';
    let scan = super::format::scan(&bytes);
    assert!(scan.records.is_empty());
    assert_eq!(scan.damage[0].0, 0);
    assert_eq!(format::scan(b"WEI").damage.len(), 1);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let base = image(&[b"alpha", b"beta", b"gamma", b"delta"]);
    for round in 0..2000 {
        let mut bytes = base.clone();
        for _ in 0..(round % 5 + 1) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % bytes.len();
            bytes[at] = (seed >> 32) as u8;
        }
        let cut = (seed >> 40) as usize % (bytes.len() + 1);
        let scan = scan(&bytes[..cut]);
        assert!(scan.records.len() <= 4);
    }
}

// ------------------------------------------------------------------ the log on disk

fn options(max_bytes: u64, segment_bytes: u64, policy: FullPolicy) -> Options {
    Options {
        fsync: false,
        max_bytes,
        segment_bytes,
        policy,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn drain(log: &Log) -> Vec<Record> {
    let mut out = Vec::new();
    while let Some(record) = log.next().expect("reads") {
        out.push(record);
    }
    out
}

fn segment_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "wal"))
        .count()
}

#[test]
fn records_survive_a_restart_and_done_ones_are_not_replayed() {
    let dir = temp_dir("restart");
    {
        let log = Log::open(&dir, options(1 << 20, 64, FullPolicy::Block)).expect("opens");
        for i in 0..6u32 {
            log.append(format!("record {i}").as_bytes(), i)
                .expect("appends");
        }
        let first = drain(&log);
        assert_eq!(first.len(), 6);
        // Two delivered, one handed out and never finished (a crash mid-send).
        log.done(first[0].id);
        log.done(first[1].id);
    }
    let log = Log::open(&dir, options(1 << 20, 64, FullPolicy::Block)).expect("reopens");
    let replayed = drain(&log);
    let payloads: Vec<String> = replayed
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect();
    assert_eq!(payloads, ["record 2", "record 3", "record 4", "record 5"]);
    assert!(
        replayed.iter().all(|r| r.redelivered),
        "handed out before the restart"
    );
    assert_eq!(replayed[0].items, 2);
    for record in &replayed {
        log.done(record.id);
    }
    // Every old segment is read and done: only the new active one is left.
    assert_eq!(segment_files(&dir), 1);
    assert_eq!(log.take_damaged(), 0);
}

#[test]
fn segments_are_deleted_only_when_every_record_is_done() {
    let dir = temp_dir("delete");
    // 64-byte segments: each 30-byte record fills one.
    let log = Log::open(&dir, options(1 << 20, 64, FullPolicy::Block)).expect("opens");
    for _ in 0..3 {
        log.append(&[7u8; 10], 1).expect("appends");
    }
    let records = drain(&log);
    assert_eq!(records.len(), 3);
    assert_eq!(segment_files(&dir), 3);
    log.done(records[1].id);
    assert_eq!(
        segment_files(&dir),
        2,
        "the second segment is done and goes"
    );
    assert!(
        segment::path_for(&dir, 1).exists(),
        "the first is still out with a consumer"
    );
    log.done(records[0].id);
    assert_eq!(segment_files(&dir), 1, "the first sealed segment is done");
    log.done(records[2].id);
    assert_eq!(segment_files(&dir), 1, "the active segment stays");
}

#[test]
fn block_refuses_and_drop_oldest_counts_what_it_drops() {
    let dir = temp_dir("full");
    // Room for the magic and two 30-byte records per 72-byte segment, 150 bytes in all.
    let log = Log::open(&dir, options(150, 72, FullPolicy::Block)).expect("opens");
    let mut appended = 0;
    while log.append(&[1u8; 10], 5).is_ok() {
        appended += 1;
        assert!(appended < 100);
    }
    assert!(matches!(log.append(&[1u8; 10], 5), Err(AppendError::Full)));
    assert!(matches!(
        log.append(&[0u8; 200], 1),
        Err(AppendError::TooLarge { .. })
    ));
    assert!(log.stats().bytes <= 150);
    drop(log);

    let dir = temp_dir("drop-oldest");
    let log = Log::open(&dir, options(150, 72, FullPolicy::DropOldest)).expect("opens");
    let mut dropped = Appended::default();
    for _ in 0..10 {
        let a = log
            .append(&[1u8; 10], 5)
            .expect("drop_oldest always makes room");
        dropped.dropped_records += a.dropped_records;
        dropped.dropped_items += a.dropped_items;
    }
    assert!(log.stats().bytes <= 150);
    let left = drain(&log).len() as u64;
    assert_eq!(
        left + dropped.dropped_records,
        10,
        "every record delivered or counted"
    );
    assert_eq!(dropped.dropped_items, dropped.dropped_records * 5);
}

#[test]
fn damage_on_disk_is_skipped_counted_and_never_an_error() {
    let dir = temp_dir("damage");
    {
        let log = Log::open(&dir, options(1 << 20, 1 << 20, FullPolicy::Block)).expect("opens");
        for i in 0..4u32 {
            log.append(format!("payload number {i}").as_bytes(), 1)
                .expect("appends");
        }
    }
    // Flip a byte in the second record and cut the last one short.
    let path = segment::path_for(&dir, 1);
    let mut bytes = std::fs::read(&path).expect("segment");
    let record = HEADER_LEN as usize + "payload number 0".len();
    bytes[SEGMENT_MAGIC.len() + record + HEADER_LEN as usize + 2] ^= 0xff;
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&path, bytes).expect("write");
    let log = Log::open(&dir, options(1 << 20, 1 << 20, FullPolicy::Block)).expect("opens");
    let records = drain(&log);
    let payloads: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect();
    assert_eq!(payloads, ["payload number 0", "payload number 2"]);
    assert_eq!(log.take_damaged(), 2);
    assert_eq!(log.take_damaged(), 0, "counted once");
    for record in &records {
        log.done(record.id);
    }
    assert_eq!(
        segment_files(&dir),
        1,
        "the damaged segment is gone once read"
    );
}

#[test]
fn a_large_delivered_active_segment_is_rolled_and_deleted() {
    let dir = temp_dir("roll");
    let log = Log::open(&dir, options(64 << 20, 8 << 20, FullPolicy::Block)).expect("opens");
    log.append(&vec![3u8; 600 << 10], 1).expect("appends");
    let small = drain(&log);
    log.done(small[0].id);
    assert!(
        log.stats().bytes > 600 << 10,
        "below the roll size the segment stays"
    );
    log.append(&vec![3u8; 600 << 10], 1).expect("appends");
    let records = drain(&log);
    log.done(records[0].id);
    assert_eq!(log.stats().bytes, SEGMENT_MAGIC.len() as u64);
    assert_eq!(segment_files(&dir), 1);
    // The log goes on in the new segment.
    log.append(b"after", 1).expect("appends");
    assert_eq!(drain(&log)[0].payload, b"after");
}

#[test]
fn an_empty_or_foreign_segment_file_is_passed_over() {
    let dir = temp_dir("empty");
    // A crash between creating a segment and writing its magic, and a file of other bytes.
    std::fs::write(segment::path_for(&dir, 1), b"").expect("write");
    std::fs::write(segment::path_for(&dir, 2), b"not a segment at all").expect("write");
    std::fs::write(segment::path_for(&dir, 3), b"WEI").expect("write");
    let log = Log::open(&dir, options(1 << 20, 1 << 20, FullPolicy::Block)).expect("opens");
    log.append(b"new", 1).expect("appends");
    let records = drain(&log);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].payload, b"new");
    assert_eq!(log.take_damaged(), 2, "the empty file is not damage");
    assert_eq!(
        segment_files(&dir),
        1,
        "only the new active segment is left"
    );
}
