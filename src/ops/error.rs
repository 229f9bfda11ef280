//! How a workflow fails: [`Error`], each variant with its message and hint as data.

use std::fmt;

use crate::escape::Escaped;
use crate::hint::Hint;
use crate::linq::LinqError;
use crate::state::StateError;
use crate::stop::Signal;
use crate::sync::{Conflict, Unread};

/// Where a workflow was when a signal stopped it; nothing was written after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Settling the journal of an interrupted run: the journal is kept for the next run.
    Settling,
    /// Reading chats, or about to write what they showed.
    Reading,
}

/// Why a workflow failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A signal stopped it at `stage`; nothing was written. Not an error to the user: the
    /// command says what was done and exits with the signal's code.
    #[error("stopped by {} while {}", .signal.name(), match .stage { Stage::Settling => "settling", Stage::Reading => "reading" })]
    Stopped { signal: Signal, stage: Stage },
    #[error(transparent)]
    State(#[from] StateError),
    /// A read of the journal's chats failed: the journal is kept.
    #[error("failed to settle the calls of an interrupted run; the journal is kept for the next attempt: {0}")]
    Settle(LinqError),
    /// A read failed otherwise than with an answer about its chat.
    #[error("failed to read chat `{}` from Linq (nothing was written): {error}", Escaped(.chat))]
    Read { chat: String, error: Box<LinqError> },
    #[error("failed to list the chats on Linq (nothing was written): {0}")]
    List(LinqError),
    /// Chats named to `import` that cannot be imported, all of them.
    #[error("{}", not_importable(.0))]
    NotImportable(Vec<Unimportable>),
    /// Chats `import` found in the state with other members (without `force`).
    #[error("{}", import_conflicts(.0))]
    ImportConflicts(Vec<Conflict>),
    /// A target of `refresh` that names no chat of the state: the chat, or the chats a name or
    /// a file selected.
    #[error("{}", not_managed(given, chats))]
    NotManaged { given: String, chats: Vec<String> },
}

impl From<Unread> for Error {
    fn from(unread: Unread) -> Error {
        Error::Read {
            chat: unread.chat,
            error: Box::new(unread.error),
        }
    }
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::State(error) => error.hint(),
            Error::ImportConflicts(_) => Some(
                "`roster refresh` records changes made outside roster as drift; `--force` overwrites the state with what Linq has"
                    .to_owned(),
            ),
            Error::NotManaged { chats, .. } => {
                let ids: Vec<String> = chats.iter().map(|id| Escaped(id).to_string()).collect();
                let them = if chats.len() == 1 { "it" } else { "them" };
                Some(format!("`roster import {}` adopts {them}", ids.join(" ")))
            }
            Error::Stopped { .. }
            | Error::Settle(_)
            | Error::Read { .. }
            | Error::List(_)
            | Error::NotImportable(_) => None,
        }
    }
}

/// Why a chat named to `roster import` cannot be imported.
#[derive(Debug)]
pub enum Unimportable {
    DirectMessage(String),
    NotFound(String, LinqError),
    Unavailable(String, LinqError),
}

impl fmt::Display for Unimportable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unimportable::DirectMessage(id) => write!(
                f,
                "chat `{}` is a direct-message chat: Linq cannot change its members, so roster cannot manage it",
                Escaped(id)
            ),
            Unimportable::NotFound(id, error) => write!(f, "chat `{}` was not found: {error}", Escaped(id)),
            Unimportable::Unavailable(id, error) => write!(f, "chat `{}` is unavailable: {error}", Escaped(id)),
        }
    }
}

fn not_managed(given: &str, chats: &[String]) -> String {
    match chats {
        [id] if id == given => format!(
            "chat `{}` is not in the state, so roster does not manage it yet",
            Escaped(id)
        ),
        [_] => format!(
            "target `{}` names 1 chat of the config that is not in the state, so roster does not manage it yet",
            Escaped(given)
        ),
        _ => format!(
            "target `{}` names {} chats of the config, none in the state, so roster manages none of them yet",
            Escaped(given),
            chats.len()
        ),
    }
}

/// One problem on the error line; more, counted there and listed below it.
fn not_importable(problems: &[Unimportable]) -> String {
    match problems {
        [one] => format!("{one}; nothing was imported"),
        many => format!(
            "{} chats cannot be imported; nothing was imported\n{}",
            many.len(),
            indented(many)
        ),
    }
}

fn import_conflicts(conflicts: &[Conflict]) -> String {
    format!(
        "{} already in the state with other members; nothing was written\n{}",
        match conflicts.len() {
            1 => "1 chat is".to_owned(),
            n => format!("{n} chats are"),
        },
        indented(conflicts)
    )
}

/// One item a line, indented below an error line.
fn indented(items: &[impl fmt::Display]) -> String {
    items
        .iter()
        .map(|item| format!("  {item}"))
        .collect::<Vec<_>>()
        .join("\n")
}
