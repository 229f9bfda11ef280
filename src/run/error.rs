//! How a command fails: [`Error`], the one error type every command returns: what the command
//! refuses, each layer's typed error, and the context of I/O at the edge. Each variant knows
//! its message and its hint ([`Hint`]); `report` is the one place errors are printed.

use std::fmt;
use std::io::{self, Write as _};
use std::path::PathBuf;

use super::{Exit, Stopped, Ui};
use crate::config::ConfigErrors;
use crate::escape::{escape, Escaped};
use crate::handle::HandleError;
use crate::hint::Hint;
use crate::linq::{ClientConfigError, LinqError};
use crate::ops;
use crate::plan::{PlanErrors, SavedPlanError, SelectErrors};
use crate::render::count;
use crate::state::StateError;

/// Why a command failed. Each variant knows its message and, where there is an obvious next
/// step, its hint ([`Hint::hint`]); `report` prints both.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no Linq API token: set `LINQ_API_V3_API_KEY`")]
    NoToken,
    #[error("no webhook signing secret: set `LINQ_WEBHOOK_SECRET`")]
    NoWebhookSecret,
    /// `roster watch` could not start.
    #[error(transparent)]
    Watch(#[from] crate::watch::Error),
    #[error("refusing to apply without approval: not on a terminal")]
    NotApproved,
    #[error(
        "a saved plan is applied exactly as made: `--config`, `--target` and `--exclude` cannot be given with PLANFILE"
    )]
    SavedPlanScoped,
    #[error("plan is stale: an interrupted apply left calls to settle in `{journal}`; nothing was sent")]
    SavedPlanUnsettled { journal: String },
    #[error("the chats on Linq differ from the state, and a saved plan is checked against the state: apply would skip the chats that differ")]
    SavedPlanOverDrift,
    #[error("`{}` already exists; nothing was read or written", .0.display())]
    ConfigExists(PathBuf),
    #[error("`--from` takes your own Linq line, and `{line}` is not a handle: {error}")]
    NotALine { line: String, error: HandleError },
    #[error("cannot write man pages to `{}`: it is not a folder", .0.display())]
    ManDirIsAFile(PathBuf),
    #[error("no state yet at `{0}`")]
    NoState(String),
    #[error("serial {serial} is not kept in `{state}`{}", kept_list(.kept))]
    NotKept { serial: u64, state: String, kept: Vec<u64> },
    #[error("an interrupted apply left calls to settle in `{journal}`; nothing was written")]
    PushUnsettled { journal: String },
    /// Apply left chats in scope untouched: the state does not hold them.
    #[error("{} in scope {} left untouched: the state does not hold {}, so {} members are unknown", count(.0.len(), "chat", "chats"), if .0.len() == 1 { "was" } else { "were" }, if .0.len() == 1 { "it" } else { "them" }, if .0.len() == 1 { "its" } else { "their" })]
    UnknownChats(Vec<String>),

    /// The config does not load: every error, one a line.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// No plan can be made: every reason, one a line.
    #[error(transparent)]
    Plan(#[from] PlanErrors),
    /// `--target` and `--exclude` do not resolve: every reason, one a line.
    #[error(transparent)]
    Select(#[from] SelectErrors),
    #[error(transparent)]
    SavedPlan(#[from] SavedPlanError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Linq(#[from] LinqError),
    /// A workflow failed (settling, reading, importing); a signal's stop is
    /// [`Error::Stopped`] instead, with the command's own words.
    #[error(transparent)]
    Ops(ops::Error),
    #[error(transparent)]
    Client(#[from] ClientConfigError),
    /// A signal stopped the command: not an error; `report` says what was done and what was
    /// not, and roster exits with the signal's code.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// Output that could not be written, and other I/O without more to say.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// What the command was doing when `error` happened ("failed to write plan file `x`"); the
    /// hint is `error`'s.
    #[error("{context}: {error}")]
    Context { context: String, error: Box<Error> },
    /// An error of a library call that has no type of its own (reading chats, the imported
    /// config, the signal watch), shown with its causes.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Adds what the command was doing to an error of any layer, as `anyhow`'s `context` does, but
/// keeping the error's type (and so its hint).
pub trait ErrorContext<T> {
    fn context(self, context: &str) -> Result<T, Error>;
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T, E: Into<Error>> ErrorContext<T> for Result<T, E> {
    fn context(self, context: &str) -> Result<T, Error> {
        self.with_context(|| context.to_owned())
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|error| Error::Context {
            context: context(),
            error: Box::new(error.into()),
        })
    }
}

/// ` (kept: 6, 5)`, or nothing when none is.
fn kept_list(kept: &[u64]) -> String {
    if kept.is_empty() {
        return String::new();
    }
    let kept: Vec<String> = kept.iter().map(u64::to_string).collect();
    format!(" (kept: {})", kept.join(", "))
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            Error::NoToken => "`roster plan` works offline and needs no token",
            Error::NoWebhookSecret => {
                "Linq returns the secret once, when the subscription is made (`POST /v3/webhook-subscriptions`); roster verifies every webhook with it"
            }
            Error::Watch(error) => return error.hint(),
            Error::NotApproved => {
                "review the plan and pass `--auto-approve`, or apply a saved plan with `roster apply PLANFILE`"
            }
            Error::SavedPlanUnsettled { .. } => {
                "run `roster refresh` to settle them (it applies nothing), then `roster plan --out FILE` again"
            }
            Error::SavedPlanOverDrift => {
                "record them first with `roster refresh` (and `roster import` for chats not in the state), then run `roster plan --out FILE`"
            }
            Error::ConfigExists(_) => "write the config to a new file, or pass `--force` to replace it",
            Error::ManDirIsAFile(_) => "`--dir` takes a folder, and creates it when missing",
            Error::NoState(_) => "`roster import` adopts existing chats",
            Error::NotKept { .. } => "`roster state history` lists the kept versions",
            Error::PushUnsettled { .. } => "run `roster refresh` to settle them first (it applies nothing)",
            Error::UnknownChats(ids) => {
                let ids: Vec<String> = ids.iter().map(|id| Escaped(id).to_string()).collect();
                let them = if ids.len() == 1 { "it" } else { "them" };
                return Some(format!(
                    "`roster import {}` reads {them} from Linq and records {them}; then run `roster apply` again",
                    ids.join(" ")
                ));
            }
            Error::Config(errors) => return errors.hint(),
            Error::Plan(errors) => return errors.hint(),
            Error::Select(errors) => return errors.hint(),
            Error::SavedPlan(error) => return error.hint(),
            Error::State(error) => return error.hint(),
            Error::Ops(error) => return error.hint(),
            Error::Context { error, .. } => return error.hint(),
            Error::SavedPlanScoped
            | Error::NotALine { .. }
            | Error::Linq(_)
            | Error::Client(_)
            | Error::Stopped(_)
            | Error::Io(_)
            | Error::Other(_) => return None,
        };
        Some(hint.to_owned())
    }
}

/// How a command that failed ends: a signal's stop is not an error, and says what was done and
/// what was not; every error is printed here, once, as `error: …` and `hint: …`.
pub fn report(ui: &mut Ui, error: &Error) -> Exit {
    // Config, selection and plan errors are lists, one line each, quoting names and ids from
    // the config: a newline in one is shown escaped rather than starting a line of its own.
    match error {
        Error::Stopped(stopped) => {
            // Shown even with `--quiet`.
            let _ = ui.out.flush();
            let _ = writeln!(ui.err, "{stopped}");
            return Exit::Interrupted(stopped.signal);
        }
        Error::Config(errors) => {
            let n = errors.0.len();
            let summary = format!(
                "the config has {n} {}; nothing was planned or written",
                if n == 1 { "error" } else { "errors" }
            );
            listed(ui, &errors.0, &summary, errors.hint());
        }
        Error::Plan(errors) => listed(ui, &errors.0, "no plan was made; nothing was written", errors.hint()),
        Error::Select(errors) => listed(
            ui,
            &errors.0,
            "no chat was read or planned; nothing was written",
            errors.hint(),
        ),
        error => ui.error(&error.to_string(), error.hint().as_deref()),
    }
    Exit::Error
}

/// Each of `errors` on an `error:` line of its own, then `summary` with the hint.
fn listed(ui: &mut Ui, errors: &[impl fmt::Display], summary: &str, hint: Option<String>) {
    for e in errors {
        ui.error(&escape(&e.to_string()), None);
    }
    ui.error(summary, hint.as_deref());
}
