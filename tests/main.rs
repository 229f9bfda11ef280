//! End-to-end tests: the real `roster` binary in a temporary folder, its output snapshotted; and
//! the fuzz corpus, replayed through the fuzz targets' checks.

mod adopt;
mod apply;
mod common;
mod fuzz_corpus;
mod offline;
