//! The `saved_plan` fuzz target: see `roster_fuzz::saved_plan` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::saved_plan(data));
