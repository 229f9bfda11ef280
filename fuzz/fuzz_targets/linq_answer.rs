//! The `linq_answer` fuzz target: see `roster_fuzz::linq_answer` and fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::linq_answer(data));
