//! End-to-end tests: the real `roster` binary in a temporary folder, its output snapshotted.

mod adopt;
mod apply;
mod common;
mod offline;
mod wire;
