//! Workflows as library calls: what `import`, `refresh`, `plan --refresh` and the start of
//! `apply` do, each one call that a command, or a caller that runs for long, makes for one chat
//! or for many.
//!
//! Every workflow takes the store (locked by the caller where it writes), the client, the
//! command's [`Stop`], its options and a progress callback ([`Event`]), and returns a typed
//! outcome: what was read, what it showed, what was written. Nothing here prints or reads the
//! environment; the command renders the outcome.
//!
//! - `confirm.rs`: [`confirm`], once a run before its first read of a chat: the base URL
//!   answers as Linq does and Linq takes the token, so that a `404` means a chat is gone.
//! - `settle.rs`: [`settle`], the calls an interrupted run left open in the journal, settled by
//!   reading their chats, then written and the journal cleared.
//! - `lines.rs`: [`foreign_lines`], the creates whose `from` is not one of the partner's
//!   lines, refused before any call.
//! - `refresh.rs`: [`refresh`], the live membership of the managed chats in scope recorded in
//!   the state, and [`read_live`], the same reads in memory only (`plan --refresh`).
//! - `import.rs`: [`import`], chats roster does not manage yet read and adopted, recorded by
//!   [`Adoption::record`] once the caller wrote their config.
//!
//! A signal stops a workflow's reads at once: the work is dropped with the calls in flight,
//! nothing is written, and the error says at which [`Stage`] it stopped.

use std::collections::BTreeMap;
use std::future::Future;

use crate::linq::Client;
use crate::stop::Stop;
use crate::sync::{self, Read};

mod confirm;
mod error;
mod import;
mod lines;
mod refresh;
mod settle;
#[cfg(test)]
mod tests;

pub use confirm::confirm;
pub use error::{Error, Stage, Unimportable};
pub use import::{import, Adoption, Chats, ImportOptions};
pub use lines::foreign_lines;
pub use refresh::{guard_gone, read_live, refresh, Live, LiveOptions, RefreshOptions, Refreshed};
pub use settle::{settle, JournalSettled};

/// What a workflow tells its caller as it goes: for progress bars and status lines, shown as
/// it happens (an outcome comes only at the end, and not at all when a later step fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Settling the journal of an interrupted run began: `calls` of unknown outcome, in
    /// `chats` chats, are read for, each waited for up to `grace`.
    Settling {
        calls: usize,
        chats: usize,
        grace: std::time::Duration,
    },
    /// This many creates of an interrupted run of unknown outcome are looked for.
    SettlingCreates(usize),
    /// The journal of an interrupted run was settled; the state is written next.
    Settled(JournalSettled),
    /// Listing every chat began (`import --all`): the count is not known ahead.
    Listing,
    /// A page of this many chats was listed.
    Listed(usize),
    /// Reading this many chats began.
    Reading(usize),
    /// One chat was read.
    Read,
    /// The listing or the reads ended.
    DoneReading,
    /// The listing held this many direct-message chats, which roster cannot manage: skipped.
    SkippedDirect(usize),
}

/// Fails with a stop at `stage` once a signal came.
fn check(stop: &Stop, stage: Stage) -> Result<(), Error> {
    match stop.signalled() {
        Some(signal) => Err(Error::Stopped { signal, stage }),
        None => Ok(()),
    }
}

/// Runs `work` (reads that write nothing) unless a signal comes first; then the work is
/// dropped, calls in flight with it, and the workflow stops at `stage`.
async fn unless_stopped<T>(stop: &Stop, stage: Stage, work: impl Future<Output = T>) -> Result<T, Error> {
    check(stop, stage)?;
    tokio::select! {
        done = work => Ok(done),
        signal = stop.first_signal() => Err(Error::Stopped { signal, stage }),
    }
}

/// Reads the chats `ids`, at most `parallelism` at once, telling `progress`; a signal stops
/// the reads.
async fn read(
    client: &Client,
    ids: Vec<String>,
    parallelism: usize,
    stop: &Stop,
    progress: &mut dyn FnMut(Event),
) -> Result<BTreeMap<String, Read>, Error> {
    progress(Event::Reading(ids.len()));
    let reads = unless_stopped(
        stop,
        Stage::Reading,
        sync::read_chats(client, ids, parallelism, &mut || progress(Event::Read)),
    )
    .await;
    progress(Event::DoneReading);
    Ok(reads??)
}
