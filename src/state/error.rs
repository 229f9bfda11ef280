//! What goes wrong with the state in either backend, each error with its next step.

use std::path::PathBuf;

use super::LockInfo;
use crate::escape::Escaped;

/// A state or journal file roster will not use as it is; each says how to mend it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The state path is a symbolic link that leads nowhere, or never ends.
    #[error("state file {0}; nothing was changed")]
    BrokenLink(String),
    /// A line of the journal that is not its last is not a record.
    #[error("journal `{}` line {line} is corrupt at column {column}: {reason}; nothing was changed", path.display())]
    CorruptJournal {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    /// The state document does not parse, or has another format version.
    #[error("{0}")]
    Unreadable(String),
}

impl StoreError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            StoreError::BrokenLink(_) => "fix the link, or remove it to start a new state in its place".to_owned(),
            StoreError::CorruptJournal { line, .. } => format!(
                "the journal lists the calls of an interrupted apply, one JSON record a line: repair or delete line {line}, or move the journal aside and run `roster refresh` to record what Linq shows"
            ),
            StoreError::Unreadable(_) => {
                "restore it from its `.backup` or from version control, or fix it by hand".to_owned()
            }
        }
    }
}

/// The lock could not be taken: someone else holds it. Shown whole, it ends with its hint, so
/// that it says what to do wherever it is printed.
#[derive(Debug, thiserror::Error)]
#[error("{}\nhint: {}", self.message(), self.hint())]
pub struct LockedError {
    pub path: PathBuf,
    pub holder: LockInfo,
}

impl LockedError {
    /// Who holds the lock, and since when.
    pub fn message(&self) -> String {
        format!("state is locked by {} via `{}`", self.holder, self.path.display())
    }

    /// How to clear a lock its run left behind.
    pub fn hint(&self) -> String {
        format!(
            "if that run was killed, clear the lock with `roster force-unlock {}`",
            Escaped(&self.holder.id)
        )
    }
}

/// The wait for the lock was stopped before the lock was taken; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("stopped waiting for the state lock `{}`", path.display())]
pub struct LockWaitStopped {
    pub path: std::path::PathBuf,
}
