//! What goes wrong with the state, in either backend: one type, [`StateError`], that every
//! [`super::StateStore`] method returns. Each variant knows its message (`Display`) and, where
//! there is an obvious next step, its hint ([`Hint`]); callers branch on the variants (a lock
//! held, a wait stopped) rather than on text.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::document::NotAState;
use super::LockInfo;
use crate::escape::Escaped;
use crate::hint::Hint;

/// Why the state could not be read, written or locked; nothing was changed unless it says so.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written: `context` says which and what was being done
    /// ("failed to write state file `roster.state.json`").
    #[error("{context}: {error}")]
    Io { context: String, error: io::Error },
    /// Something could not be serialized to be written.
    #[error("{context}: {error}")]
    Encode { context: String, error: serde_json::Error },
    /// The state path is a symbolic link that leads nowhere, or never ends.
    #[error("state file {0}; nothing was changed")]
    BrokenLink(String),
    /// A stored document is not a state this roster reads; `what` names it and says what was
    /// done ("state file `x` was refused and left untouched").
    #[error("{what}: {reason}")]
    Refused { what: String, reason: NotAState },
    /// A record of the journal that is not its last does not parse.
    #[error("{at} is corrupt at column {column}: {reason}; nothing was changed")]
    CorruptJournal {
        at: JournalPlace,
        column: usize,
        reason: String,
    },
    /// A failed append left part of a record that could not be cut off.
    #[error("journal `{}` ends in a record a failed write left half written; no record may follow it", .0.display())]
    TornJournal(PathBuf),

    /// Another run holds the lock; `lock` is where it is (the lock file, or the database).
    /// `running_here` when the holder is a process of this host that still runs.
    #[error("state is locked by {holder} via `{lock}`")]
    Locked {
        lock: String,
        holder: Box<LockInfo>,
        running_here: bool,
    },
    /// The wait for the lock was stopped (a signal came) before the lock was taken.
    #[error("stopped waiting for the state lock `{lock}`")]
    LockWaitStopped { lock: String },
    /// The lock was held at every try, and free when its holder was asked for.
    #[error("state lock `{lock}` was held and released while waiting; try again")]
    LockReleased { lock: String },
    /// The lock file does not name a holder.
    #[error("lock file `{}` is not readable; remove it by hand if no run is active: {error}", path.display())]
    LockUnreadable { path: PathBuf, error: serde_json::Error },
    /// `force-unlock` of a state nobody holds; `lock_file` is the file that is not there.
    #[error("state `{state}` is not locked{}", lock_file.as_ref().map_or(String::new(), |file| format!(" (no `{}`)", file.display())))]
    NotLocked { state: String, lock_file: Option<PathBuf> },
    /// `force-unlock` with an id that is not the holder's.
    #[error("lock id `{given}` does not match the lock on `{state}`, which has id `{held}`")]
    WrongLockId { given: String, state: String, held: String },

    /// The `postgres://` URL does not parse, or holds a parameter roster does not take.
    #[error("invalid PostgreSQL state URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// No connection to the database.
    #[error("cannot connect to the PostgreSQL state `{target}`: {reason}")]
    Connect {
        target: String,
        reason: String,
        cause: ConnectCause,
    },
    /// Creating the schema or its tables failed; `role` is set when for want of privilege.
    #[error("failed to set up the schema `roster` in `{target}`: {reason}")]
    Schema {
        target: String,
        reason: String,
        role: Option<String>,
    },
    #[error("the state database was migrated by a newer roster (schema version {found}; this one knows {known})")]
    Newer { found: i32, known: i32 },
    /// A query of the schema's version failed: the server's message.
    #[error("{0}")]
    Server(String),
    /// A query failed while `doing` something to the state `target`.
    #[error("{doing} in `{target}`: {reason}")]
    Database {
        doing: String,
        target: String,
        reason: String,
    },
    /// The connection was lost while `doing` something; the journal keeps what was done.
    #[error("{doing} in `{target}`: the connection to the database was lost ({why}); the journal holds every call made so far: once the database is reachable, run the command again, and it settles the calls in flight and converges")]
    ConnectionLost { doing: String, target: String, why: String },
    /// The thread the database is reached on ended.
    #[error("the database thread stopped")]
    DatabaseThread,
    /// A write without the lock.
    #[error("no state lock is held for `{target}`, so nothing was written")]
    NotHeld { target: String },
    /// A fenced write found the lock no longer this run's.
    #[error("this run no longer holds the state lock `{id}` on `{target}`: its lease expired, or `roster force-unlock` cleared it; nothing was written (another run may be working on the state: run the command again once it is done)")]
    LockLost { id: String, target: String },
    /// A fenced write found another serial stored than the one this run read.
    #[error(
        "the state `{target}` moved on while this run held it: it read {}, and the stored serial is now {}; nothing was written (another run wrote it: run the command again)",
        read.map_or("no state".to_owned(), |s| format!("serial {s}")),
        now.map_or("gone".to_owned(), |s| s.to_string())
    )]
    MovedOn {
        target: String,
        read: Option<u64>,
        now: Option<i64>,
    },
    /// The TLS set-up failed: the `sslrootcert` file, or the TLS library.
    #[error("{0}")]
    Tls(String),

    /// `state push` of a state that may not replace the stored one (see [`super::check_push`]).
    #[error("{reason}; nothing was written")]
    PushRefused { reason: String },
}

/// Where a corrupt journal record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalPlace {
    /// A line of the journal file.
    Line { path: PathBuf, line: usize },
    /// A row of `roster.journal`, by its `seq`.
    Row { target: String, seq: i64 },
}

impl fmt::Display for JournalPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalPlace::Line { path, line } => write!(f, "journal `{}` line {line}", path.display()),
            JournalPlace::Row { target, seq } => write!(f, "journal record {seq} of `{target}`"),
        }
    }
}

/// Why a connection failed, for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectCause {
    /// The server refused the user or its password.
    Authentication,
    /// The server answered with another error (no such database, say).
    Refused,
    /// The TLS handshake failed (the certificate, most often).
    Tls,
    /// No server answered.
    Unreachable,
}

impl StateError {
    /// An I/O failure while doing what `context` says.
    pub fn io(context: impl Into<String>, error: io::Error) -> StateError {
        StateError::Io {
            context: context.into(),
            error,
        }
    }
}

impl Hint for StateError {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            StateError::BrokenLink(_) => "fix the link, or remove it to start a new state in its place".to_owned(),
            StateError::Refused { .. } => {
                "restore it from its `.backup` or from version control, or fix it by hand".to_owned()
            }
            StateError::CorruptJournal {
                at: JournalPlace::Line { line, .. },
                ..
            } => format!(
                "the journal lists the calls of an interrupted apply, one JSON record a line: repair or delete line {line}, or move the journal aside and run `roster refresh` to record what Linq shows"
            ),
            StateError::CorruptJournal {
                at: JournalPlace::Row { .. },
                ..
            } => "delete that row of `roster.journal` by hand, then run `roster refresh` to record what Linq shows"
                .to_owned(),
            StateError::Locked { running_here: true, .. } => {
                "that run is still going on this host: wait for it with `--lock-timeout SECONDS`, or run again once it ends"
                    .to_owned()
            }
            StateError::Locked { holder, .. } => format!(
                "if that run is still going, wait for it with `--lock-timeout SECONDS`; if it was killed, clear the lock with `roster force-unlock {}`",
                Escaped(&holder.id)
            ),
            StateError::Connect { cause, .. } => match cause {
                ConnectCause::Authentication => {
                    "check the user and password (from the URL, `PGPASSWORD` or `~/.pgpass`)".to_owned()
                }
                ConnectCause::Refused => "check the URL: host, port, database and user".to_owned(),
                ConnectCause::Tls => {
                    "check `sslmode` and `sslrootcert` (the authority that signed the server's certificate)".to_owned()
                }
                ConnectCause::Unreachable => {
                    "check that the server runs and the URL's host and port; nothing was changed".to_owned()
                }
            },
            StateError::Schema { role: Some(role), .. } => format!(
                "have an administrator create it for this role: `CREATE SCHEMA roster AUTHORIZATION {role};` (see \"Shared state\" in the README)"
            ),
            StateError::Newer { .. } => "upgrade roster".to_owned(),
            StateError::PushRefused { .. } => {
                "`roster state pull` shows the stored state; `--force` replaces it anyway".to_owned()
            }
            StateError::Io { .. }
            | StateError::Encode { .. }
            | StateError::TornJournal(_)
            | StateError::LockWaitStopped { .. }
            | StateError::LockReleased { .. }
            | StateError::LockUnreadable { .. }
            | StateError::NotLocked { .. }
            | StateError::WrongLockId { .. }
            | StateError::BadUrl { .. }
            | StateError::Schema { role: None, .. }
            | StateError::Server(_)
            | StateError::Database { .. }
            | StateError::ConnectionLost { .. }
            | StateError::DatabaseThread
            | StateError::NotHeld { .. }
            | StateError::LockLost { .. }
            | StateError::MovedOn { .. }
            | StateError::Tls(_) => return None,
        };
        Some(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(running_here: bool) -> StateError {
        StateError::Locked {
            lock: "roster.state.json.lock".to_owned(),
            holder: Box::new(LockInfo {
                id: "0f3c".to_owned(),
                operation: "apply".to_owned(),
                who: "ci".to_owned(),
                host: "runner".to_owned(),
                pid: 42,
                since: "2026-11-25T10:00:00Z".to_owned(),
            }),
            running_here,
        }
    }

    #[test]
    fn a_held_lock_suggests_waiting_and_force_unlock_only_when_its_holder_may_be_gone() {
        let live = locked(true).hint().unwrap();
        assert!(live.contains("`--lock-timeout SECONDS`"), "{live}");
        assert!(
            !live.contains("force-unlock"),
            "a running holder's lock is not to be broken: {live}"
        );
        let elsewhere = locked(false).hint().unwrap();
        assert!(elsewhere.contains("`--lock-timeout SECONDS`"), "{elsewhere}");
        assert!(elsewhere.contains("`roster force-unlock 0f3c`"), "{elsewhere}");
    }
}
