//! Fuzz target `statsd`: see `weir_tests::fuzz::statsd` (tests/src/fuzz.rs) for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_tests::fuzz::statsd(data));
