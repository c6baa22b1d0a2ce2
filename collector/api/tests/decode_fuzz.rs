//! Hostile input never panics the decoders: arbitrary bytes and mangled OTLP/JSON (a
//! real example with bytes flipped, cut or spliced) must come back as `Ok` or as a
//! `DecodeError`, for every signal. Bounded: a few thousand cases, about a second.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use weir_api::{Batch, Signal};

const CASES: u32 = 1500;

fn examples() -> Vec<(Signal, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance/otlp/examples");
    [
        (Signal::Traces, "trace.json"),
        (Signal::Metrics, "metrics.json"),
        (Signal::Logs, "logs.json"),
    ]
    .into_iter()
    .map(|(signal, name)| (signal, std::fs::read(dir.join(name)).unwrap()))
    .collect()
}

fn signal(index: u8) -> Signal {
    Signal::ALL[usize::from(index) % 3]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), s in any::<u8>()) {
        let _ = Batch::decode_protobuf(signal(s), &bytes);
        let _ = Batch::decode_json(signal(s), &bytes);
    }

    #[test]
    fn mangled_json_examples_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (signal, mut bytes) = examples().swap_remove(which);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        let _ = Batch::decode_json(signal, &bytes);
    }

    #[test]
    fn mangled_json_values_never_panic(
        which in 0usize..3,
        value in prop_oneof![
            Just("\"\"".to_string()),
            Just("\"zz\"".to_string()),
            Just("-1".to_string()),
            Just("1e400".to_string()),
            Just("\"18446744073709551616\"".to_string()),
            Just("null".to_string()),
            Just("[]".to_string()),
            Just("{}".to_string()),
            Just("\"NaN\"".to_string()),
            "\"[0-9a-fA-F]{0,40}\"",
        ],
        nth in 0usize..40,
    ) {
        // Replace the nth JSON string or number value in an example with a hostile one.
        let (signal, bytes) = examples().swap_remove(which);
        let text = String::from_utf8(bytes).unwrap();
        let positions: Vec<usize> = text.match_indices("\": ").map(|(i, _)| i + 3).collect();
        let Some(&start) = positions.get(nth % positions.len().max(1)) else { return Ok(()); };
        let rest = &text[start..];
        let end = rest.find([',', '\n', '}']).map_or(text.len(), |e| start + e);
        let mangled = format!("{}{}{}", &text[..start], value, &text[end..]);
        let _ = Batch::decode_json(signal, mangled.as_bytes());
    }
}
