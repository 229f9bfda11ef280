//! End-to-end tests: the real `roster` binary in a temporary folder, its output snapshotted.

mod adopt;
mod apply;
mod common;
mod concurrency;
mod files;
mod install;
mod offline;
mod pending;
mod release;
mod saved;
mod stop;
mod wire;
