//! End-to-end tests: the real `roster` binary in a temporary folder, its output snapshotted; and
//! the fuzz corpus, replayed through the fuzz targets' checks.

mod adopt;
mod apply;
mod chats;
mod common;
mod concurrency;
mod create;
mod files;
mod fuzz_corpus;
mod install;
mod layers;
mod newcomer;
mod offline;
mod pending;
mod postgres;
mod release;
mod saved;
mod stop;
mod targeting;
mod watch;
mod wire;
