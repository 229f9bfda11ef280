//! The `state` fuzz target: see `roster_fuzz::state` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::state(data));
