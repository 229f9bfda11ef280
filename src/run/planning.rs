//! `roster plan`, and what it shares with `apply`: the chats in scope, the planner's options,
//! and saved plan files (written by `plan --out`, read by `apply PLANFILE` and `show`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::online;
use super::timings::Timings;
use super::{Context, Error, ErrorContext as _, Exit, Ui};
use crate::cli::{PlanArgs, PlanScope};
use crate::config::{self, ConfigErrors, Desired};
use crate::plan::{self, PlanOptions, SavedPlan, SelectErrors, Selection};
use crate::render;
use crate::state::{Loaded, PendingTimeout, State, StateError, StateStore};

/// Says that the state does not exist (a first run may mean it): the state is empty, and no
/// chat's membership is known.
pub(crate) fn note_no_state(ui: &mut Ui, state: &str) {
    ui.status(format!(
        "note: `{state}` does not exist, so the state is empty and no chat's membership is known (on a first run, `roster import` adopts existing chats)"
    ));
}

/// The state loaded, after a note on the calls an interrupted run left unsettled, or that there
/// is no state.
fn noted(cx: &mut Context, loaded: Loaded) -> State {
    if !loaded.existed {
        note_no_state(&mut cx.ui, &cx.state.to_string());
    }
    let unsettled = loaded.journal.unsettled.len();
    if unsettled > 0 {
        cx.ui.status(format!(
            "note: {} from an interrupted apply may or may not have taken effect; the next `roster apply` settles them",
            render::count(unsettled, "call", "calls")
        ));
    }
    for open in &loaded.journal.creates {
        cx.ui.status(format!(
            "note: the create of `{}` from an interrupted apply may or may not have made its chat (create not settled); the next `roster apply` looks for the chat before it sends anything",
            open.key
        ));
    }
    loaded.state
}

/// Refuses a config whose keys the state cannot bind: a key of the team's own that stands for
/// no chat, or two keys for one chat (config errors at their `file:line:column`).
pub(crate) fn check_keys(desired: &Desired, state: &State) -> Result<(), Error> {
    let problems = plan::check_bindings(desired, &plan::bind(desired, state));
    if problems.is_empty() {
        return Ok(());
    }
    Err(desired.locate(problems).into())
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
        allow_mass_create: scope.allow_mass_create,
        pending,
    }
}

/// `roster plan`: the config and the state (with `--refresh`, the chats read from Linq over
/// it), the plan made from them, shown, and saved with `--out`.
pub fn plan(cx: &mut Context, args: &PlanArgs) -> Result<Exit, Error> {
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
    check_keys(&desired, &state)?;
    let selection = select(&args.scope, Some(&desired), &state)?;
    let drift = match (&online, client) {
        (Some(online), Some(client)) => {
            online.block_on(online::refuse_foreign_lines(
                online, &client, &desired, &state, &selection,
            ))?;
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
    let (desired, stored) = std::thread::scope(|scope| {
        let stored = read_state.then(|| {
            scope.spawn(|| {
                let start = std::time::Instant::now();
                (
                    open_store().and_then(|store| store.load_with_journal()),
                    start.elapsed(),
                )
            })
        });
        // The config's chats share the member sets the state holds for them.
        let joined = || stored.map(|reader| reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        let recorded = |stored: &Option<(Result<Loaded, StateError>, _)>, id: &str| {
            let (Ok(loaded), _) = stored.as_ref()? else { return None };
            loaded.state.chats.get(id).map(|chat| chat.members.clone())
        };
        config::load_sharing(&paths, &mut load, joined, recorded)
    });
    timings.add("find config files", load.read);
    timings.add("read and parse config", load.parse);
    timings.add("validate config", load.check);
    if let Some((_, took)) = &stored {
        timings.add("load state (beside the config)", *took);
        timings.add("wait for state", load.wait);
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
