//! The commands: options in, one call into the library, a renderer out, and an exit code.
//!
//! Everything that touches the outside world arrives here from `main` ([`Env`], [`Ui`]), so
//! the library below reads no environment variables and prints nothing on its own. The
//! commands that talk to Linq share one prologue (`online::Online`); errors are printed in
//! one place (`error::report`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::apply::{BarProgress, LineProgress, NoProgress, Progress, TimingsProgress};
use crate::cli::{Cli, Command, GlobalArgs, PendingArgs, PlanArgs, PlanScope, ShowArgs};
use crate::clock::Clock;
use crate::config::{self, ConfigErrors, Desired};
use crate::escape::Escaped;
use crate::linq::Token;
use crate::plan::{self, PlanOptions, SavedPlan, SelectErrors, Selection};
use crate::render::{self, Document, Format, Paint, TextOptions};
use crate::state::{postgres, Loaded, PendingTimeout, State, StateError, StateLocation, StateStore};

mod error;
mod generate;
mod online;
mod signals;
mod state;
mod timings;

pub use error::{Error, ErrorContext, Unimportable};
pub use signals::{HeldLock, Signal, Signals, Stopped};

use timings::Timings;

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

/// Where output goes: results to `out`, progress and diagnostics to `err`.
pub struct Ui {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
    /// Colour on stdout (a terminal, and no `--no-color`/`NO_COLOR`).
    pub out_color: bool,
    /// Colour on stderr.
    pub err_color: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// Progress may redraw in place (stderr is a terminal).
    pub interactive: bool,
}

impl Ui {
    /// A status line on stderr, unless `--quiet`; control characters in it are shown escaped.
    pub fn status(&mut self, message: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(self.err, "{}", crate::escape::escape(&message.to_string()));
        }
    }

    /// A warning on stderr, shown even with `--quiet`: it is about the result.
    pub fn warn(&mut self, message: &str) {
        let paint = Paint::new(self.err_color);
        let _ = writeln!(self.err, "{} {}", paint.note("warning:"), Escaped(message));
    }

    /// An error in the one style roster uses (`error: …`, `hint: …`).
    pub fn error(&mut self, message: &str, hint: Option<&str>) {
        let _ = render::error(&mut *self.err, self.err_color, message, hint);
    }

    /// A progress bar on stderr counting to `len` (a spinner counting up without one), on a
    /// terminal only and not with `--quiet`.
    pub fn progress(&self, len: Option<usize>, message: &'static str) -> ProgressBar {
        if !self.interactive || self.quiet {
            return ProgressBar::hidden();
        }
        let (bar, template) = match len {
            Some(len) => (ProgressBar::new(len as u64), "{spinner} {msg} [{bar:30}] {pos}/{len}"),
            None => (ProgressBar::new_spinner(), "{spinner} {msg}: {pos}"),
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// How apply shows its progress: a bar on a terminal, a line per chat in CI, nothing with
    /// `--quiet`; with `--verbose` the limit on requests in flight as it changes, with `timings`
    /// every decision of the limiter (on stderr, even when quiet).
    pub fn apply_progress(&self, timings: bool) -> Box<dyn Progress> {
        let verbose = self.verbose;
        match (self.quiet, self.interactive, timings) {
            (true, _, false) => Box::new(NoProgress),
            (true, _, true) => Box::new(TimingsProgress::new(NoProgress, std::io::stderr())),
            (false, true, false) => Box::new(BarProgress::new().verbose(verbose)),
            (false, true, true) => Box::new(TimingsProgress::new(
                BarProgress::new().verbose(verbose),
                std::io::stderr(),
            )),
            (false, false, false) => Box::new(LineProgress::new(std::io::stderr()).verbose(verbose)),
            (false, false, true) => Box::new(TimingsProgress::new(
                LineProgress::new(std::io::stderr()).verbose(verbose),
                std::io::stderr(),
            )),
        }
    }

    /// Text options without a clock: pending changes show when, not how long ago.
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            color: self.out_color,
            verbose: self.verbose,
            now: None,
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
        Command::Validate => validate(&mut cx),
        Command::Plan(args) => plan_command(&mut cx, &args),
        Command::Show(args) => show(&mut cx, &args),
        Command::ForceUnlock(args) => force_unlock(&mut cx, &args.id),
        Command::State(command) => state::run(&mut cx, &command),
        Command::Apply(args) => online::apply(&mut cx, &args),
        Command::Import(args) => online::import(&mut cx, &args),
        Command::Refresh(args) => online::refresh(&mut cx, &args),
        Command::Completions(args) => generate::completions(&mut cx, &args),
        Command::Man(args) => generate::man(&mut cx, &args),
    };
    result.unwrap_or_else(|error| error::report(&mut cx.ui, &error))
}

fn validate(cx: &mut Context) -> Result<Exit, Error> {
    let desired = cx.load_desired()?;
    let _ = render::validated(&desired, &mut *cx.ui.out);
    Ok(Exit::Success)
}

/// The state loaded, after a note on the calls an interrupted run left unsettled.
fn noted(cx: &mut Context, loaded: Loaded) -> State {
    let unsettled = loaded.journal.unsettled.len();
    if unsettled > 0 {
        cx.ui.status(format!(
            "note: {} from an interrupted apply may or may not have taken effect; the next `roster apply` settles them",
            render::count(unsettled, "call", "calls")
        ));
    }
    loaded.state
}

/// The chats `scope`'s `--target`s and `--exclude`s select, resolved against the config (when
/// loaded) and the state.
pub fn select(scope: &PlanScope, desired: Option<&Desired>, state: &State) -> Result<Selection, SelectErrors> {
    plan::select(&scope.targets, &scope.excludes, desired, state, &real_path)
}

/// Where `path` really leads (links followed, `.` and `..` resolved), or `None` when nothing is
/// there: how a `--target` path is held against the config's files.
pub(crate) fn real_path(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// The planner's options for `scope`, limited to `selection`, marking pending changes overdue
/// per `pending`.
pub fn plan_options(scope: &PlanScope, selection: Selection, pending: PendingTimeout) -> PlanOptions {
    PlanOptions {
        selection,
        allow_mass_removal: scope.allow_mass_removal,
        pending,
    }
}

fn plan_command(cx: &mut Context, args: &PlanArgs) -> Result<Exit, Error> {
    // `--refresh` talks to Linq: watch for signals from the start, as the other such commands.
    let online = args.refresh.then(|| online::Online::start(cx)).transpose()?;
    let mut timings = Timings::new(cx.global.timings);
    let open_store = cx.store_opener();
    let (desired, stored) = config_and_state(cx, &open_store, !args.refresh, &mut timings);
    let desired = desired?;
    // With `--refresh`, a missing token is named before the state is read.
    let client = online.as_ref().map(|online| online.client(cx, None)).transpose()?;
    let stored = match stored {
        Some(stored) => stored?,
        None => open_store()?.load_with_journal()?,
    };
    let mut state = noted(cx, stored);
    let selection = select(&args.scope, Some(&desired), &state)?;
    let drift = match (&online, client) {
        (Some(online), Some(client)) => {
            online::refresh_in_memory(cx, online, &client, &desired, &selection, &mut state, args)?
        }
        _ => false,
    };
    timings.lap(Some("fold state"));
    let options = plan_options(&args.scope, selection, cx.pending_timeout(&args.pending));
    let plan = plan::plan(&desired, &state, &options)?;
    timings.lap(Some("plan"));
    cx.write(&plan, args.format)
        .context("failed to write the plan to stdout")?;
    if timings.enabled {
        // Count the bytes still buffered for stdout as rendering, not as exit.
        cx.ui.out.flush().context("failed to write the plan to stdout")?;
    }
    timings.lap(Some("render"));
    if let Some(out) = &args.out {
        let saved = SavedPlan::new(
            plan.clone(),
            &options,
            desired.digest.clone(),
            cx.config_paths(),
            cx.state.without_password(),
        );
        save_plan(cx, &saved, out)?;
    }
    let exit = if args.detailed_exitcode && (plan.has_changes() || plan.has_pending() || drift) {
        Exit::Pending
    } else {
        Exit::Success
    };
    // The process ends right after this: leave these to the operating system rather than free
    // their millions of small allocations one by one (tens of milliseconds at 10,000 chats).
    std::mem::forget((plan, state, desired));
    timings.lap(Some("free"));
    timings.report(&mut *cx.ui.err);
    Ok(exit)
}

/// Loads the config and, unless `read_state` is false, the state with its journal. The state
/// does not depend on the config, and for a large setup both are big parses: the state is read
/// on another thread meanwhile (its database connected there too). Config errors still come
/// first.
fn config_and_state(
    cx: &Context,
    open_store: &(dyn Fn() -> Result<Box<dyn StateStore>, StateError> + Sync),
    read_state: bool,
    timings: &mut Timings,
) -> (Result<Desired, ConfigErrors>, Option<Result<Loaded, StateError>>) {
    let mut load = config::LoadTimings::default();
    let paths = cx.config_paths();
    let (desired, stored, waited) = std::thread::scope(|scope| {
        let stored = read_state.then(|| {
            scope.spawn(|| {
                let start = std::time::Instant::now();
                (
                    open_store().and_then(|store| store.load_with_journal()),
                    start.elapsed(),
                )
            })
        });
        let desired = config::load_timed(&paths, &mut load);
        let loaded = std::time::Instant::now();
        let stored = stored.map(|reader| reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        (desired, stored, loaded.elapsed())
    });
    timings.add("read config", load.read);
    timings.add("parse config", load.parse);
    timings.add("validate config", load.check);
    if let Some((_, took)) = &stored {
        timings.add("load state (beside the config)", *took);
        timings.add("wait for state", waited);
    }
    timings.lap(None);
    (desired, stored.map(|(result, _)| result))
}

/// Writes a saved plan to `out`, for `roster apply`.
fn save_plan(cx: &mut Context, saved: &SavedPlan, out: &Path) -> Result<(), Error> {
    crate::state::write_atomic(out, saved.to_json().as_bytes())
        .with_context(|| format!("failed to write plan file `{}`", out.display()))?;
    cx.ui.status(format!(
        "Saved the plan to `{0}`; apply exactly it with `roster apply {0}`.",
        out.display()
    ));
    Ok(())
}

/// Reads a saved plan file and checks its seal.
pub fn read_saved_plan(path: &Path) -> Result<SavedPlan, Error> {
    let bytes = std::fs::read(path).with_context(|| format!("failed to read plan file `{}`", path.display()))?;
    SavedPlan::from_json(&bytes).with_context(|| format!("plan file `{}` was refused", path.display()))
}

fn show(cx: &mut Context, args: &ShowArgs) -> Result<Exit, Error> {
    if let Some(path) = &args.plan_file {
        let saved = read_saved_plan(path)?;
        cx.write(&saved.plan, args.format)
            .context("failed to write the plan to stdout")?;
        return Ok(Exit::Success);
    }
    let store = cx.store()?;
    let Some(state) = store.load()? else {
        cx.ui.status(format!(
            "No state yet at `{}`: run `roster import` to adopt existing chats.",
            store.describe()
        ));
        return Ok(Exit::Success);
    };
    cx.write(&state, args.format)
        .context("failed to write the state to stdout")?;
    Ok(Exit::Success)
}

fn force_unlock(cx: &mut Context, id: &str) -> Result<Exit, Error> {
    let holder = cx.store()?.force_unlock(id)?;
    let _ = render::unlocked(&holder, &mut *cx.ui.out);
    Ok(Exit::Success)
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
