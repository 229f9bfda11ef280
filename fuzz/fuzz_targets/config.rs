//! The `config` fuzz target: see `roster_fuzz::config` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::config(data));
