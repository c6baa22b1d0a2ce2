//! Every input under `tests/fuzz/regressions/<target>/` (crashes the fuzzers found, kept
//! after the fix) is fed again to the target's entry point in `weir_tests::fuzz`, the
//! same function the fuzz target calls. A panic here is the bug coming back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use weir_tests::fuzz::TARGETS;

#[test]
fn every_regression_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&root).expect("tests/fuzz/regressions") {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (_, target) = TARGETS
            .iter()
            .find(|(target, _)| *target == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target named {name}", dir.display()));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            eprintln!("replaying {}", file.display());
            target(&data);
            replayed += 1;
        }
    }
    eprintln!("{replayed} regression inputs replayed");
}

/// The seed corpora the fuzz script starts from pass too (a seed that panics would stop
/// every fuzz run at its first input).
#[test]
fn seed_corpora_pass_their_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let file = entry.unwrap().path();
            target(&std::fs::read(&file).unwrap());
        }
    }
}

/// Writes the protobuf seeds of `otlp_protobuf` (`tests/fuzz/seeds/otlp_protobuf/`): the
/// vendored OTLP/JSON examples decoded and encoded as protobuf, behind the signal byte
/// the target reads first. Run by hand when the examples change:
/// `cargo test -p weir-tests --test fuzz_regressions -- --ignored write_protobuf_seeds`.
#[test]
#[ignore = "writes files; run by hand to refresh the seeds"]
fn write_protobuf_seeds() {
    use weir_api::Batch;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = root.join("conformance/otlp/examples");
    let out = root.join("fuzz/seeds/otlp_protobuf");
    std::fs::create_dir_all(&out).unwrap();
    for (selector, name) in [(0u8, "trace"), (1, "metrics"), (2, "logs"), (2, "events")] {
        let signal = weir_config::Signal::ALL[usize::from(selector)];
        let json = std::fs::read(examples.join(format!("{name}.json"))).unwrap();
        let batch = Batch::decode_json(signal, &json).unwrap();
        let mut seed = vec![selector];
        seed.extend(batch.encode_protobuf());
        std::fs::write(out.join(format!("{name}.bin")), seed).unwrap();
    }
}

/// The `wal` seeds (built by `tests/fuzz/seed.py`, which writes the log format on its own)
/// hold real records: the in-memory reader finds all four in the whole image, and
/// reports damage in the flipped one.
#[test]
fn wal_seeds_hold_records_the_reader_accepts() {
    use weir_file_storage_extension::wal::format;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/wal");
    let image = |name: &str| {
        let seed = std::fs::read(dir.join(name)).unwrap();
        let sidecar = usize::from(seed[0]) * 8;
        let mut image = format::SEGMENT_MAGIC.to_vec();
        image.extend_from_slice(&seed[1 + sidecar..]);
        image
    };
    let whole = format::scan(&image("records"));
    assert_eq!(whole.records.len(), 4);
    assert!(whole.damage.is_empty());
    assert_eq!(format::scan(&image("records_first_done")).records.len(), 4);
    assert!(!format::scan(&image("records_flipped")).damage.is_empty());
}
