//! The commands: options in, one call into the library, a renderer out, and an exit code.
//!
//! Everything that touches the outside world arrives here from `main` ([`Env`], [`Ui`]), so
//! the library below reads no environment variables and prints nothing on its own; where the
//! state is is told once ([`Context::state`]). The commands: `planning` (`plan`, and what
//! `apply` shares with it), `online` (`apply`, `import`, `refresh`, and the prologue they
//! share, `online::Online`), `offline` (`validate`, `show`, `force-unlock`), `state` (`state
//! history|pull|push`) and `generate` (`completions`, `man`). Every one fails with one type,
//! [`Error`], printed in one place (`error::report`).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Cli, Command, GlobalArgs, PendingArgs};
use crate::clock::Clock;
use crate::config::{self, ConfigErrors, Desired};
use crate::linq::Token;
use crate::render::{self, Document, Format, TextOptions};
use crate::state::{postgres, PendingTimeout, StateError, StateLocation, StateStore};

mod error;
mod generate;
mod offline;
mod online;
mod planning;
mod signals;
mod state;
mod timings;
mod ui;
mod watch;

pub use ui::Ui;

pub use error::{Error, ErrorContext};
pub use planning::{plan_options, read_saved_plan, select};
pub use signals::{HeldLock, Signal, Signals, Stopped};

pub(crate) use planning::{check_keys, note_no_state, real_path};

/// How settling the journal waits, from a command's flags (for `watch`, outside `online`).
fn settle_options_of(api: &crate::cli::ApiArgs) -> crate::sync::SettleOptions {
    online::settle_options(api)
}

/// What `main` learned from the process environment, passed in so the library reads none.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `LINQ_API_V3_API_KEY`; a [`Token`] prints as `***`, so `{:?}` of an `Env` shows no secret.
    pub token: Option<Token>,
    /// `LINQ_API_V3_BASE_URL`.
    pub base_url: Option<String>,
    /// `NO_COLOR` is set (to anything non-empty).
    pub no_color: bool,
    /// The user running roster, recorded in the lock.
    pub user: String,
    pub stdin_terminal: bool,
    pub stdout_terminal: bool,
    pub stderr_terminal: bool,
    /// The wall clock: when Linq accepted a change, and how long ago.
    pub clock: Clock,
    /// `ROSTER_STATE`: where the state is when `--state` is not given.
    pub state: Option<String>,
    /// `PGPASSWORD` and the password file, for a PostgreSQL state.
    pub passwords: postgres::PasswordSources,
    /// `LINQ_WEBHOOK_SECRET`, the signing secret of the webhook subscription (`roster watch`);
    /// shows as `***`.
    pub webhook_secret: Option<crate::watch::Secret>,
}

/// How roster ends; see the exit codes in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success (and, with `--detailed-exitcode`, nothing pending).
    Success,
    /// 1: an error; nothing or part applied, the output says which.
    Error,
    /// 2: `plan --detailed-exitcode` only: success with changes or drift pending.
    Pending,
    /// 128 + the signal's number: stopped by a signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
    Interrupted(Signal),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Pending => 2,
            Exit::Interrupted(signal) => signal.exit_code(),
        }
    }
}

/// Everything a command needs: the global flags, the environment and the output.
pub struct Context {
    pub global: GlobalArgs,
    pub env: Env,
    pub ui: Ui,
    /// Where the state is: `--state`, else `ROSTER_STATE`, else `roster.state.json`; told
    /// apart (file or PostgreSQL) once, here at the edge.
    pub state: StateLocation,
}

impl Context {
    /// The config paths given, or `roster.yaml`.
    pub fn config_paths(&self) -> Vec<PathBuf> {
        config_paths(&self.global.config)
    }

    pub fn load_desired(&self) -> Result<Desired, ConfigErrors> {
        config::load(&self.config_paths())
    }

    /// The state's store: its file, or its database (connected, its schema up to date).
    pub fn store(&self) -> Result<Box<dyn StateStore>, StateError> {
        self.store_at(&self.state)
    }

    /// The store of the state at `location`.
    pub fn store_at(&self, location: &StateLocation) -> Result<Box<dyn StateStore>, StateError> {
        location.open(&self.env.user, &self.env.passwords)
    }

    /// Opens the state's store when called, on any thread: `plan` connects to a database while
    /// it parses the config.
    pub fn store_opener(&self) -> impl Fn() -> Result<Box<dyn StateStore>, StateError> + Send + Sync {
        let (location, user, passwords) = (self.state.clone(), self.env.user.clone(), self.env.passwords.clone());
        move || location.open(&user, &passwords)
    }

    /// Text options, with the clock's now for how long ago pending changes were accepted.
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            now: Some(self.env.clock.now()),
            ..self.ui.text_options()
        }
    }

    /// When pending changes count as overdue, as of now.
    pub fn pending_timeout(&self, args: &PendingArgs) -> PendingTimeout {
        PendingTimeout {
            now: self.env.clock.now(),
            timeout: seconds(args.pending_timeout),
        }
    }

    /// Writes `document` to stdout in `format`.
    pub fn write(&mut self, document: &impl Document, format: Format) -> std::io::Result<()> {
        let options = self.text_options();
        render::write(document, format, options, &mut *self.ui.out)
    }

    /// Writes `document` to stderr in `format`, for people while stdout carries JSON.
    pub fn write_err(&mut self, document: &impl Document, format: Format) -> std::io::Result<()> {
        let options = TextOptions {
            color: self.ui.err_color,
            ..self.text_options()
        };
        render::write(document, format, options, &mut *self.ui.err)
    }
}

/// `paths`, or `roster.yaml` when there are none.
fn config_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("roster.yaml")]
    } else {
        paths.to_vec()
    }
}

/// A duration from a count of seconds that `cli::seconds` checked (finite, 0 to 30 days).
pub(crate) fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

/// Runs the command and returns how roster ends; errors are printed here, once.
pub fn execute(cli: Cli, env: Env, ui: Ui) -> Exit {
    let state = (cli.global.state.clone())
        .or_else(|| env.state.clone().map(PathBuf::from))
        .map_or_else(StateLocation::default, StateLocation::parse);
    let mut cx = Context {
        global: cli.global,
        env,
        ui,
        state,
    };
    let result = match cli.command {
        Command::Validate => offline::validate(&mut cx),
        Command::Plan(args) => planning::plan(&mut cx, &args),
        Command::Show(args) => offline::show(&mut cx, &args),
        Command::ForceUnlock(args) => offline::force_unlock(&mut cx, &args.id),
        Command::State(command) => state::run(&mut cx, &command),
        Command::Apply(args) => online::apply(&mut cx, &args),
        Command::Import(args) => online::import(&mut cx, &args),
        Command::Refresh(args) => online::refresh(&mut cx, &args),
        Command::Watch(args) => watch::watch(&mut cx, &args),
        Command::Completions(args) => generate::completions(&mut cx, &args),
        Command::Man(args) => generate::man(&mut cx, &args),
    };
    result.unwrap_or_else(|error| error::report(&mut cx.ui, &error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_never_shows_the_token() {
        let env = Env {
            token: Some(Token::new("sk-live-7f3a9c")),
            base_url: Some("https://api.linqapp.com/api/partner".into()),
            ..Env::default()
        };
        let shown = format!("{env:?} {env:#?}");
        assert!(!shown.contains("sk-live-7f3a9c"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
}
