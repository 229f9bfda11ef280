//! The commands: checked arguments in, work done through the library, an exit code out.
//!
//! Everything that touches the outside world arrives here from `main` ([`Env`], [`Ui`]), so
//! the library below reads no environment variables and prints nothing on its own.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{Cli, Command, Format, GlobalArgs, PendingArgs, PlanArgs, PlanScope, ShowArgs};
use crate::clock::Clock;
use crate::config::{self, ConfigErrors, Desired};
use crate::escape::escape;
use crate::linq::Token;
use crate::plan::{self, Plan, PlanErrors, PlanOptions, SavedPlan};
use crate::render::{self, TextOptions};
use crate::state::{
    postgres, FileStore, JournalRecord, LockInfo, LockWait, LockWaitStopped, LockedError, PendingTimeout,
    PostgresStore, State, StateStore,
};

mod generate;
mod online;
mod signals;
mod state;

pub use signals::{HeldLock, Signal, Signals, Stopped};

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

    /// An error in the one style roster uses (`error: …`, `hint: …`).
    pub fn error(&mut self, message: &str) {
        let _ = render::error(&mut *self.err, self.err_color, message);
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
}

impl Context {
    /// The config paths given, or `roster.yaml`.
    pub fn config_paths(&self) -> Vec<PathBuf> {
        if self.global.config.is_empty() {
            vec![PathBuf::from("roster.yaml")]
        } else {
            self.global.config.clone()
        }
    }

    pub fn load_desired(&self) -> anyhow::Result<Desired> {
        Ok(config::load(&self.config_paths())?)
    }

    /// Where the state is: `--state`, else `ROSTER_STATE`, else `roster.state.json`.
    pub fn state_location(&self) -> PathBuf {
        (self.global.state.clone())
            .or_else(|| self.env.state.clone().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("roster.state.json"))
    }

    /// The store of the state: its file, or its database (connected, its schema up to date).
    pub fn store(&self) -> anyhow::Result<Box<dyn StateStore>> {
        self.store_opener()()
    }

    /// Opens the store when called, on any thread: `plan` connects to a database while it
    /// parses the config.
    pub fn store_opener(&self) -> impl Fn() -> anyhow::Result<Box<dyn StateStore>> + Send + Sync {
        let (location, user, passwords) = (self.state_location(), self.env.user.clone(), self.env.passwords.clone());
        move || match location.to_str().filter(|text| postgres::is_url(text)) {
            Some(url) => Ok(Box::new(PostgresStore::connect(url, &user, &passwords)?)),
            None => Ok(Box::new(FileStore::new(&location))),
        }
    }

    /// Where the state is, as a saved plan records it: a URL without its password.
    pub fn state_for_plan(&self) -> PathBuf {
        let location = self.state_location();
        match location.to_str().filter(|text| postgres::is_url(text)) {
            Some(url) => PathBuf::from(postgres::redact(url)),
            None => location,
        }
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
            timeout: online::seconds(args.pending_timeout),
        }
    }

    /// Takes the state lock for `operation`, waiting up to `--lock-timeout` unless a signal
    /// ends the wait, and hands it to `signals` so that a second signal can release it. A
    /// stale lock of this host that was broken to take it is named in a note.
    pub fn lock(&mut self, store: &dyn StateStore, operation: &str, signals: &Signals) -> anyhow::Result<HeldLock> {
        const STOPPED: &str = "Stopped before taking the state lock; nothing was changed.";
        signals.check(STOPPED)?;
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_owned(),
            who: self.env.user.clone(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let timeout = online::seconds(self.global.lock_timeout);
        let stop = || signals.received().is_some();
        // One look first, so that a run about to wait can say for whom.
        let guard = match store.lock(info.clone(), &LockWait::timeout(std::time::Duration::ZERO)) {
            Err(error) if !timeout.is_zero() && error.is::<LockedError>() => {
                if let Some(locked) = error.downcast_ref::<LockedError>() {
                    let holder = &locked.holder;
                    self.ui.status(format!(
                        "Waiting up to {}s for the state lock held by `{}` ({}@{}, pid {}, since {})...",
                        timeout.as_secs_f64(),
                        holder.operation,
                        holder.who,
                        holder.host,
                        holder.pid,
                        holder.since
                    ));
                }
                store.lock(info, &LockWait { timeout, stop: &stop })
            }
            taken => taken,
        }
        .map_err(
            |error| match (error.downcast_ref::<LockWaitStopped>(), signals.received()) {
                (Some(_), Some(signal)) => anyhow::Error::new(Stopped {
                    signal,
                    message: STOPPED.to_owned(),
                }),
                _ => error,
            },
        )?;
        if let Some(stale) = guard.broke() {
            self.ui.status(format!(
                "note: broke the stale lock `{}` of `{}` ({}@{}, pid {}, since {}): {}",
                stale.id,
                stale.operation,
                stale.who,
                stale.host,
                stale.pid,
                stale.since,
                guard.broke_because()
            ));
        }
        Ok(signals.hold(guard))
    }
}

/// Runs the command and returns how roster ends; errors are printed here, once.
pub fn run(cli: Cli, env: Env, ui: Ui) -> Exit {
    let mut cx = Context {
        global: cli.global,
        env,
        ui,
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
    match result {
        Ok(exit) => exit,
        Err(error) => match error.downcast_ref::<Stopped>() {
            // Not an error: what was done and what was not, shown even with `--quiet`.
            Some(stopped) => {
                let _ = cx.ui.out.flush();
                let _ = writeln!(cx.ui.err, "{stopped}");
                Exit::Interrupted(stopped.signal)
            }
            None => {
                report_error(&mut cx.ui, &error);
                Exit::Error
            }
        },
    }
}

/// Prints an error; config and plan errors are lists, one `error:` line each.
pub fn report_error(ui: &mut Ui, error: &anyhow::Error) {
    // Config and plan errors are one line each, quoting names and ids from the config: a
    // newline in one is shown escaped rather than starting a line of its own.
    if let Some(errors) = error.downcast_ref::<ConfigErrors>() {
        for e in &errors.0 {
            ui.error(&escape(&e.to_string()));
        }
        let n = errors.0.len();
        ui.error(&format!(
            "the config has {n} {}; nothing was planned or written",
            if n == 1 { "error" } else { "errors" }
        ));
    } else if let Some(errors) = error.downcast_ref::<PlanErrors>() {
        for e in &errors.0 {
            ui.error(&escape(&e.to_string()));
        }
        ui.error("no plan was made; nothing was written");
    } else {
        ui.error(&format!("{error:#}"));
    }
}

fn validate(cx: &mut Context) -> anyhow::Result<Exit> {
    let desired = cx.load_desired()?;
    let memberships: usize = desired.chats.values().map(|chat| chat.members.len()).sum();
    let people: std::collections::BTreeSet<&String> = desired.names.values().collect();
    let _ = writeln!(
        cx.ui.out,
        "The config is valid: {} with {} in {}, {} named.",
        render::count(desired.chats.len(), "chat", "chats"),
        render::count(memberships, "membership", "memberships"),
        render::count(desired.files.len(), "file", "files"),
        render::count(people.len(), "person", "people"),
    );
    Ok(Exit::Success)
}

/// Loads the state (empty when there is none yet) with the journal of an interrupted run folded
/// in, in memory: the plan then reflects every call Linq accepted.
pub fn load_state(cx: &mut Context, store: &dyn StateStore) -> anyhow::Result<State> {
    let (state, records) = read_state(store)?;
    Ok(fold_journal(cx, state, &records))
}

/// Reads the state (empty when there is none yet) and the journal, without folding them.
fn read_state(store: &dyn StateStore) -> anyhow::Result<(State, Vec<JournalRecord>)> {
    let state = store.load()?.unwrap_or_default();
    let records = store.read_journal()?;
    Ok((state, records))
}

/// Folds the journal of an interrupted run into `state`, in memory, noting unsettled calls.
fn fold_journal(cx: &mut Context, mut state: State, records: &[JournalRecord]) -> State {
    if !records.is_empty() {
        let unsettled = crate::state::journal::fold(&mut state, records);
        if !unsettled.is_empty() {
            cx.ui.status(format!(
                "note: {} from an interrupted apply may or may not have taken effect; the next `roster apply` settles them",
                render::count(unsettled.len(), "call", "calls")
            ));
        }
    }
    state
}

/// The planner's options for `scope`, marking pending changes overdue per `pending`.
pub fn plan_options(scope: &PlanScope, pending: PendingTimeout) -> PlanOptions {
    PlanOptions {
        targets: scope.targets.iter().cloned().collect(),
        allow_mass_removal: scope.allow_mass_removal,
        pending,
    }
}

fn plan_command(cx: &mut Context, args: &PlanArgs) -> anyhow::Result<Exit> {
    // `--refresh` talks to Linq: watch for signals from the start, as the other such commands.
    let online = if args.refresh {
        let runtime = online::runtime()?;
        let signals = Signals::watch(&runtime, cx.ui.quiet)?;
        Some((runtime, signals))
    } else {
        None
    };
    let mut timings = Timings::new(cx.global.timings);
    let mut load = config::LoadTimings::default();
    let open_store = cx.store_opener();
    let paths = cx.config_paths();
    // The state does not depend on the config, and for a large setup both are big parses: read
    // the state (connecting to its database, if any) on another thread meanwhile. Config errors
    // still come first, as before.
    let (desired, stored, waited) = std::thread::scope(|scope| {
        let stored = (!args.refresh).then(|| {
            scope.spawn(|| {
                let start = std::time::Instant::now();
                (open_store().and_then(|store| read_state(&*store)), start.elapsed())
            })
        });
        let desired = config::load_timed(&paths, &mut load);
        let loaded = std::time::Instant::now();
        let stored = stored.map(|reader| reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        (desired, stored, loaded.elapsed())
    });
    let desired = desired?;
    timings.add("read config", load.read);
    timings.add("parse config", load.parse);
    timings.add("validate config", load.check);
    if let Some((_, took)) = &stored {
        timings.add("load state (beside the config)", *took);
        timings.add("wait for state", waited);
    }
    timings.lap(None);
    let stored = stored.map(|(result, _)| result);
    let (state, drift) = match stored {
        None => {
            let (runtime, signals) = online.as_ref().expect("`--refresh` watches for signals");
            let store = open_store()?;
            online::refreshed_state(cx, &desired, &*store, args, runtime, signals)?
        }
        Some(stored) => {
            let (state, records) = stored?;
            (fold_journal(cx, state, &records), false)
        }
    };
    timings.lap(Some("fold state"));
    let options = plan_options(&args.scope, cx.pending_timeout(&args.pending));
    let plan = plan::plan(&desired, &state, &options)?;
    timings.lap(Some("plan"));
    write_plan(cx, &plan, args.format)?;
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
            cx.state_for_plan(),
        );
        crate::state::write_atomic(out, saved.to_json().as_bytes())
            .with_context(|| format!("failed to write plan file `{}`", out.display()))?;
        cx.ui.status(format!(
            "Saved the plan to `{0}`; apply exactly it with `roster apply {0}`.",
            out.display()
        ));
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

/// Phase durations for the hidden `--timings` flag, printed to stderr one `timings:` line each,
/// so benchmarks can break a run's wall time down without a profiler.
struct Timings {
    enabled: bool,
    clock: std::time::Instant,
    phases: Vec<(&'static str, std::time::Duration)>,
}

impl Timings {
    fn new(enabled: bool) -> Timings {
        Timings {
            enabled,
            clock: std::time::Instant::now(),
            phases: Vec::new(),
        }
    }

    /// Records a phase measured elsewhere.
    fn add(&mut self, phase: &'static str, duration: std::time::Duration) {
        self.phases.push((phase, duration));
    }

    /// Ends the current phase: records it under `phase`, or only restarts the clock on `None`.
    fn lap(&mut self, phase: Option<&'static str>) {
        let now = std::time::Instant::now();
        if let Some(phase) = phase {
            self.phases.push((phase, now - self.clock));
        }
        self.clock = now;
    }

    fn report(&self, err: &mut dyn Write) {
        if !self.enabled {
            return;
        }
        for (phase, duration) in &self.phases {
            let _ = writeln!(err, "timings: {phase}: {:.3} ms", duration.as_secs_f64() * 1e3);
        }
    }
}

/// Writes a plan to stdout in `format`.
pub fn write_plan(cx: &mut Context, plan: &Plan, format: Format) -> anyhow::Result<()> {
    let options = cx.text_options();
    let out = &mut *cx.ui.out;
    match format {
        Format::Text => render::plan_text(plan, options, out),
        Format::Markdown => render::plan_markdown(plan, out),
        Format::Json => render::write_json(out, plan),
    }
    .context("failed to write the plan to stdout")
}

/// Reads a saved plan file and checks its seal.
pub fn read_saved_plan(path: &std::path::Path) -> anyhow::Result<SavedPlan> {
    let bytes = std::fs::read(path).with_context(|| format!("failed to read plan file `{}`", path.display()))?;
    SavedPlan::from_json(&bytes).with_context(|| format!("plan file `{}` was refused", path.display()))
}

fn show(cx: &mut Context, args: &ShowArgs) -> anyhow::Result<Exit> {
    if let Some(path) = &args.plan_file {
        let saved = read_saved_plan(path)?;
        write_plan(cx, &saved.plan, args.format)?;
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
    let options = cx.text_options();
    let out = &mut *cx.ui.out;
    match args.format {
        Format::Json => render::write_json(out, &state),
        Format::Text | Format::Markdown => render::state_text(&state, options, out),
    }
    .context("failed to write the state to stdout")?;
    Ok(Exit::Success)
}

fn force_unlock(cx: &mut Context, id: &str) -> anyhow::Result<Exit> {
    let holder = cx.store()?.force_unlock(id)?;
    let _ = writeln!(
        cx.ui.out,
        "Removed lock `{}` held by `{}` ({}@{}, pid {}, since {}).",
        holder.id, holder.operation, holder.who, holder.host, holder.pid, holder.since
    );
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
