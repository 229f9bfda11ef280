//! The last applied state: what roster believes each managed chat holds.
//!
//! [`State`] is the versioned document; [`StateStore`] is the small interface behind which its
//! two backends live: the file store (atomic writes, backup, lock, journal) and PostgreSQL
//! (every version kept, fenced writes, a lock row with a lease, journal rows; [`postgres`]).
//! The store owns the journal: [`StateStore::load_with_journal`] is the one way the state is
//! read with an interrupted run's calls folded in ([`journal`]); comparing it with what Linq
//! shows is [`crate::sync`]'s.
//!
//! What the backends share lives here, each backend keeping only its storage: the one error
//! type every store method returns ([`StateError`], `error.rs`), where the state is and which
//! backend opens it ([`StateLocation`], `location.rs`), the wait for the lock and
//! `force-unlock` (`lock.rs`), atomic file writes (`atomic.rs`) and parsing a state document
//! (`document.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::escape::Escaped;
use crate::handle::Handle;
use crate::members::Members;
use crate::op::Op;
use crate::stop::Stop;

mod atomic;
pub mod create;
mod document;
mod error;
mod file;
pub mod journal;
mod location;
mod lock;
pub mod pending;
pub mod postgres;
mod push;

pub use atomic::{write_atomic, write_new};
pub use create::{idempotency_key, CreateIntent};
pub use document::{parse_state, NotAState};
pub use error::{ConnectCause, JournalPlace, StateError};
pub use file::FileStore;
pub use location::{PostgresUrl, StateLocation};
pub use pending::{PendingChange, PendingChanges, PendingTimeout, DEFAULT_PENDING_TIMEOUT};
pub use postgres::PostgresStore;
pub use push::{check_push, Push};

/// The state format this build reads and writes; a newer one is refused.
pub const STATE_VERSION: u32 = 1;

/// The state document (`roster.state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Fixed when the state is created; a saved plan made from another lineage is refused.
    pub lineage: String,
    /// Grows by one with every write; a saved plan made at another serial is stale.
    pub serial: u64,
    /// Linq chat id -> what roster knows of that chat. The chat's key in the config is its id,
    /// unless [`ChatState::key`] says otherwise, so a state written before keys of the team's
    /// own existed loads unchanged, each chat keeping its id as its key.
    pub chats: BTreeMap<String, ChatState>,
}

/// What roster last knew of one chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatState {
    /// The config key this chat stands for, when it is not the chat id (a key of the team's
    /// own: bound by `id:`, taken over with `previously:`, or given when roster created it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Canonical members, your own line excluded; serialized sorted.
    pub members: Members,
    /// Members who left the chat on their own (`status: left`); not re-added by default.
    #[serde(default, skip_serializing_if = "<[Handle]>::is_empty")]
    pub left: Members,
    /// The chat's service as Linq reported it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The chat's display name as roster last set it or Linq last reported it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The icon (an `https` URL) roster last set: Linq returns no icon, so this is the only
    /// record of it (an icon changed outside roster is seen only through webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Changes Linq accepted that were not yet seen to land, with when Linq accepted them. They
    /// are already in `members`; apply waits for them to show before touching the chat, so its
    /// own queued work is never taken for drift and never counted towards the floor before it
    /// lands, and drops them once overdue (see [`pending`]).
    #[serde(default, skip_serializing_if = "PendingChanges::is_empty")]
    pub pending: PendingChanges,
}

impl ChatState {
    /// The config key of the chat whose id is `id`: its own key, else the id.
    pub fn key_or<'a>(&'a self, id: &'a str) -> &'a str {
        self.key.as_deref().unwrap_or(id)
    }
}

impl State {
    /// Key -> chat id for the chats recorded under a key that is not their id (usually few):
    /// with it, the chat a key stands for is found without a walk over every chat.
    pub fn own_keys(&self) -> std::collections::HashMap<&str, &str> {
        (self.chats.iter())
            .filter_map(|(id, chat)| chat.key.as_deref().map(|key| (key, id.as_str())))
            .collect()
    }

    /// The chat id `key` stands for: the chat recorded under that key, else the chat whose id
    /// is the key (and which no other key took); `own` is [`State::own_keys`].
    pub fn chat_for<'a>(&'a self, key: &str, own: &std::collections::HashMap<&str, &'a str>) -> Option<&'a str> {
        if let Some(id) = own.get(key) {
            return Some(id);
        }
        let (id, chat) = self.chats.get_key_value(key)?;
        (chat.key.is_none()).then_some(id.as_str())
    }

    /// An empty state with a fresh lineage, serial 0 (the first write makes it 1).
    pub fn new() -> State {
        State {
            version: STATE_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            chats: BTreeMap::new(),
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// A mutating API call roster is about to make or has made, journaled durably so that a crash
/// loses at most the calls in flight and a re-run never repeats or misreads its own work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JournalRecord {
    /// An apply run began on the state with this lineage and serial.
    Begin { lineage: String, serial: u64 },
    /// Written (and synced) before the call goes out.
    Intent {
        id: u64,
        chat: String,
        op: Op,
        handle: Handle,
    },
    /// The API accepted the call (202), or a read showed that it took effect.
    Accepted {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_id: Option<String>,
        /// When it was accepted; absent in journals written before the time was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
    },
    /// The call certainly did not take effect.
    Failed { id: u64 },
    /// Written (and synced) before `POST /v3/chats` goes out: roster is about to create the
    /// chat of `key`. Everything settling needs to find the chat, should the answer be lost, is
    /// here (see [`create`]).
    #[serde(rename = "create")]
    CreateIntent(CreateIntent),
    /// The chat a create made: its answer named it, or settling found it. Its outcome, where an
    /// intent's other outcome is [`JournalRecord::Failed`].
    Created {
        id: u64,
        chat: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
        /// The display name Linq gave the new chat (by default, its recipients' handles): the
        /// state reads it here, so that the next plan sets the config's name over it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Linq set a chat's display name and/or icon (`PUT /v3/chats/{id}` answered `200`).
    /// Written after the answer: setting a value is idempotent, so a run cut short before it
    /// leaves the step for the next plan, which sets it again.
    Looks {
        chat: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
    },
}

/// Who holds the lock, written into the lock so a waiting run can name the holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random id; `roster force-unlock ID` takes it.
    pub id: String,
    /// The operation holding the lock, e.g. `apply`.
    pub operation: String,
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// RFC 3339 time the lock was taken.
    pub since: String,
}

/// One kept version of the state, as `roster state history` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    pub serial: u64,
    pub lineage: String,
    /// When it was written, RFC 3339 in UTC.
    pub written_at: Option<String>,
    /// Who wrote it, from which host, in which operation; unknown for a file.
    pub who: Option<String>,
    pub host: Option<String>,
    pub operation: Option<String>,
    /// The version a plan starts from now.
    pub current: bool,
}

/// `` `apply` (who@host, pid 42, since 2026-…) ``: the holder as messages name it. Every field
/// is shown escaped: a lock file is plain JSON that anything with access to the folder can
/// write, and its text must not reach a terminal as control sequences.
impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ({}@{}, pid {}, since {})",
            Escaped(&self.operation),
            Escaped(&self.who),
            Escaped(&self.host),
            self.pid,
            Escaped(&self.since)
        )
    }
}

/// Where the state lives: a local file, or a database shared by a team. Every method fails
/// with a [`StateError`], which says what went wrong where and what to do about it.
pub trait StateStore: Send + Sync {
    /// A human name for messages, e.g. the file path; never a password.
    fn describe(&self) -> String;
    /// Reads the state; `None` when none exists yet. A corrupt or newer state is an error.
    fn load(&self) -> Result<Option<State>, StateError>;
    /// The one way the state is written: `state` replaces the stored one exactly as it is (its
    /// serial included), durably and atomically, where `read` is the serial this run read
    /// (`None`: there was no state). [`StateStore::save`] and `roster state push` (after
    /// [`check_push`]) both write through it; the caller holds the lock.
    fn replace(&self, state: &State, read: Option<u64>) -> Result<(), StateError>;
    /// Writes `state` after bumping its serial by one (put back when the write fails).
    fn save(&self, state: &mut State) -> Result<(), StateError> {
        let read = state.serial;
        state.serial += 1;
        let written = self.replace(state, (read > 0).then_some(read));
        if written.is_err() {
            state.serial = read;
        }
        written
    }
    /// Takes the exclusive lock, waiting as `wait` says; the lock is released on drop. A lock
    /// whose holder is known to be gone (see the backend) is broken and replaced.
    fn lock(&self, info: LockInfo, wait: &LockWait<'_>) -> Result<Box<dyn LockGuard>, StateError>;
    /// Clears a lock by its id (left by a killed run).
    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError>;
    /// Appends records to the journal; durable when this returns.
    fn append_journal(&self, records: &[JournalRecord]) -> Result<(), StateError>;
    /// Every complete record in the journal (a torn last record is ignored).
    fn read_journal(&self) -> Result<Vec<JournalRecord>, StateError>;
    /// Empties the journal once its records are folded into a saved state.
    fn clear_journal(&self) -> Result<(), StateError>;
    /// Replaces the journal by `records` at once, so that no crash leaves it empty of what
    /// must stay open (creates and calls not settled, once the state is written without them):
    /// the journal is the old one or the new one, never none. Empty `records` clear it.
    fn replace_journal(&self, records: &[JournalRecord]) -> Result<(), StateError> {
        self.clear_journal()?;
        match records.is_empty() {
            true => Ok(()),
            false => self.append_journal(records),
        }
    }
    /// The versions kept, newest first.
    fn history(&self) -> Result<Vec<Version>, StateError>;
    /// A kept version by its serial; `None` when it is not kept.
    fn version(&self, serial: u64) -> Result<Option<State>, StateError>;
    /// A human name for the journal, e.g. its path.
    fn describe_journal(&self) -> String {
        format!("the journal of `{}`", self.describe())
    }

    /// Reads the state (empty when none exists yet) with the journal of an interrupted run
    /// folded in, in memory: every call Linq accepted is in it, and the calls whose outcome is
    /// unknown are listed. Nothing is written; the journal stays until a run settles it.
    fn load_with_journal(&self) -> Result<Loaded, StateError> {
        let saved = self.load()?;
        let records = self.read_journal()?;
        let existed = saved.is_some();
        let mut state = saved.unwrap_or_default();
        let journal = journal::Folded::fold(&mut state, &records);
        Ok(Loaded {
            state,
            existed,
            journal,
        })
    }
}

/// The state as the last run left it: the saved document with the journal of an interrupted run
/// folded in (see [`journal`]).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The state, with every call Linq accepted in it; empty, with a fresh lineage, when none
    /// was saved yet.
    pub state: State,
    /// False when no state was saved yet.
    pub existed: bool,
    /// What the journal held.
    pub journal: journal::Folded,
}

/// Holds the lock while alive.
pub trait LockGuard: Send {
    fn info(&self) -> &LockInfo;
    /// The lock of a run that was gone, which taking this one broke; the caller names it.
    fn broke(&self) -> Option<&LockInfo> {
        None
    }
    /// Why [`LockGuard::broke`]'s lock counted as gone.
    fn broke_because(&self) -> &'static str {
        "its process no longer runs"
    }
    /// True once the lock is known to be lost while held (a lease that could not be renewed),
    /// so that a holder that leads others can step down. A file lock is never lost.
    fn lost(&self) -> bool {
        false
    }
}

/// How [`StateStore::lock`] waits for a lock another run holds.
pub struct LockWait<'a> {
    /// How long to wait before failing with the holder's name (`--lock-timeout`).
    pub timeout: std::time::Duration,
    /// Asked while waiting: once stopped, the wait ends with [`StateError::LockWaitStopped`] (a signal
    /// arrived).
    pub stop: Option<&'a Stop>,
}

impl LockWait<'_> {
    /// Wait up to `timeout`, never stopped early.
    pub fn timeout(timeout: std::time::Duration) -> LockWait<'static> {
        LockWait { timeout, stop: None }
    }

    /// True once the wait should end early.
    pub fn stopped(&self) -> bool {
        self.stop.is_some_and(Stop::is_stopped)
    }
}
