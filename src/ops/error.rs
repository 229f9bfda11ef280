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
    /// The base URL does not answer as the Linq API: a wrong address, not chats that are gone.
    #[error("`{url}` does not answer as the Linq API (`GET /v3/phone_numbers`: {error}); nothing was read or written")]
    NotLinq { url: String, error: Box<LinqError> },
    /// Nothing answered at the base URL.
    #[error("cannot reach the Linq API at `{url}`: {error}; nothing was read or written")]
    Unreachable { url: String, error: Box<LinqError> },
    /// Linq answered the first call with an error of its own.
    #[error("Linq at `{url}` did not list the phone numbers (`GET /v3/phone_numbers`: {error}); nothing was read or written")]
    Unconfirmed { url: String, error: Box<LinqError> },
    /// Linq refused the API token.
    #[error("Linq refused the API token: {0}; nothing was read or written")]
    TokenRefused(LinqError),
    /// A read of the journal's chats failed: the journal is kept.
    #[error("failed to settle the calls of an interrupted run; the journal is kept for the next attempt: {0}")]
    Settle(LinqError),
    /// More than half of the chats read are gone at once: more likely a token of another
    /// account than chats deleted.
    #[error("{}", most_gone(*read, gone))]
    MostGone { read: usize, gone: Vec<String> },
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

/// What to check when the base URL is not Linq's.
pub(crate) const BASE_URL_HINT: &str = "check `LINQ_API_V3_BASE_URL`: the address of the Linq Partner API, ending in `/api/partner` (`https://api.linqapp.com/api/partner` when unset)";

/// What to check when Linq refuses the token.
pub(crate) const TOKEN_HINT: &str = "check `LINQ_API_V3_API_KEY`: it holds the API token of your Linq partner account";

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
            Error::NotLinq { .. } | Error::Unreachable { .. } => Some(BASE_URL_HINT.to_owned()),
            Error::TokenRefused(_) => Some(TOKEN_HINT.to_owned()),
            Error::MostGone { .. } => Some(
                "check that `LINQ_API_V3_API_KEY` is the token of the account these chats belong to; if they were deleted, pass `--allow-mass-gone` to report them, then remove them from the config"
                    .to_owned(),
            ),
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
            | Error::Unconfirmed { .. }
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

/// How many chats the gone ones list by id before counting the rest.
const GONE_LISTED: usize = 5;

fn most_gone(read: usize, gone: &[String]) -> String {
    let mut ids: Vec<String> = (gone.iter().take(GONE_LISTED))
        .map(|id| format!("`{}`", Escaped(id)))
        .collect();
    if gone.len() > GONE_LISTED {
        ids.push(format!("and {} more", gone.len() - GONE_LISTED));
    }
    format!(
        "{} of the {read} chats read answered 404 (gone) at once: {}; more than half looks like a token of another account rather than chats deleted; nothing was written",
        gone.len(),
        ids.join(", ")
    )
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
