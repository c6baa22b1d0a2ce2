//! Fuzz target `otlp_protobuf`: see `weir_tests::fuzz::otlp_protobuf` (tests/src/fuzz.rs) for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_tests::fuzz::otlp_protobuf(data));
