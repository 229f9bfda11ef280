//! Adopting and watching chats: `import`, `refresh` and `plan --refresh`.
//!
//! Each is one workflow of [`crate::ops`], its options from the flags, its progress and outcome
//! shown here. `import` records chats roster does not manage yet and prints their config;
//! `refresh` records what changed outside roster (drift); `plan --refresh` makes the same reads
//! in memory only, so the plan is made against the live membership while nothing is written.

use std::collections::BTreeMap;
use std::io::Write;

use super::super::{real_path, seconds, select, Context, Error, ErrorContext as _, Exit};
use super::{op_error, settle_options, Online, Session, Shown};
use crate::cli::{ImportArgs, ImportKeys, PlanArgs, RefreshArgs};
use crate::config::{Desired, DEFAULT_MIN_MEMBERS};
use crate::handle::Handle;
use crate::linq::Client;
use crate::ops::{self, Adoption, Chats, ImportOptions, LiveOptions, RefreshOptions, Refreshed};
use crate::plan::{needs_config, Selection};
use crate::render::{self, Format};
use crate::state::{write_atomic, write_new, State};
use crate::sync;

/// What import, refresh and plan say when a signal stops their reads.
const IMPORT_STOPPED: &str = "Import stopped; nothing was written.";
const REFRESH_STOPPED: &str = "Refresh stopped; nothing was written.";
const PLAN_STOPPED: &str = "Plan stopped while reading the chats from Linq; no plan was made.";

/// `roster import CHAT...` / `roster import --all`: reads the chats and records them in the
/// state in one write ([`ops::import`]), and prints (or writes) their config.
pub fn import(cx: &mut Context, args: &ImportArgs) -> Result<Exit, Error> {
    let online = Online::start(cx)?;
    if let Some(path) = &args.write {
        // Checked before any call: a config people wrote by hand is not replaced unasked.
        if !args.force && std::fs::symlink_metadata(path).is_ok() {
            return Err(Error::ConfigExists(path.clone()));
        }
    }
    let from = args.from.as_deref().map(own_line).transpose()?;
    let store = cx.store()?;
    let session = online.connect(cx, "import", store, None)?;
    let options = ImportOptions {
        chats: match args.all {
            true => Chats::All { from: from.as_deref() },
            false => Chats::Named(&args.chats),
        },
        force: args.force,
        read_parallelism: args.api.read_parallelism,
        settle: settle_options(&args.api),
    };
    let mut loaded = session.store.load_with_journal()?;
    let stop = online.signals.stop();
    let mut shown = Shown::new(&mut cx.ui);
    let adoption = online
        .block_on(ops::import(
            session.store.as_ref(),
            &mut loaded,
            &session.client,
            &stop,
            &options,
            &mut |event| shown.show(event),
        ))
        .map_err(op_error(IMPORT_STOPPED))?;
    let mut state = loaded.state;
    warn_below_the_floor(cx, &adoption, &state);
    // With `--keys names`, the state records each chat under the key the config gets.
    let keys = match args.keys {
        ImportKeys::Ids => BTreeMap::new(),
        ImportKeys::Names => render::keys_from_names(&adoption.chats, &state),
    };
    let mut rekeyed = false;
    for (id, key) in &keys {
        if let Some(known) = state.chats.get_mut(id) {
            rekeyed |= known.key.as_ref() != Some(key);
            known.key = Some(key.clone());
        }
    }
    let yaml = render::imported_config_keyed(&adoption.chats, &state, &keys)?;

    // Past this point the writes are quick and go to the end: a signal now changes nothing.
    online.signals.check(IMPORT_STOPPED)?;
    if let Some(path) = &args.write {
        write_config(path, &yaml, args.force)?;
    }
    adoption
        .record(session.store.as_ref(), &mut state, rekeyed)
        .map_err(op_error(IMPORT_STOPPED))?;
    if args.write.is_none() {
        cx.ui.out.write_all(yaml.as_bytes())?;
        cx.ui.out.flush()?;
    }
    report_imported(cx, &session, &state, &adoption, args);
    Ok(Exit::Success)
}

/// Says how many chats were imported, into which state, and where their config went.
fn report_imported(cx: &mut Context, session: &Session, state: &State, adoption: &Adoption, args: &ImportArgs) {
    cx.ui.status(format!(
        "Imported {} into `{}` (serial {}){}.",
        render::count(adoption.chats.len(), "chat", "chats"),
        session.store.describe(),
        state.serial,
        if adoption.overwritten > 0 {
            format!(
                ", overwriting the recorded members of {} (`--force`)",
                render::count(adoption.overwritten, "chat", "chats")
            )
        } else {
            String::new()
        }
    ));
    if let Some(path) = &args.write {
        cx.ui.status(format!(
            "Wrote their config to `{}`; check it with `roster validate`.",
            path.display()
        ));
    }
}

/// `--from LINE` as the canonical handle of your own line.
fn own_line(line: &str) -> Result<String, Error> {
    Handle::parse(line)
        .map(|handle| handle.to_string())
        .map_err(|error| Error::NotALine {
            line: line.to_owned(),
            error,
        })
}

/// Warns of each imported chat too small for the default floor: its config will not validate.
fn warn_below_the_floor(cx: &mut Context, adoption: &Adoption, state: &State) {
    for (chat, members) in adoption.below_the_floor(state) {
        cx.ui.warn(&format!(
            "chat {} has {}, fewer than the default floor of {DEFAULT_MIN_MEMBERS}: its config will not validate until it has more or `settings.min_members` allows it",
            sync::label(&chat.id, chat.display_name.as_deref()),
            render::count(members, "member", "members"),
        ));
    }
}

/// Writes the imported config to `--write FILE`: a new file, or with `--force` in place of one.
fn write_config(path: &std::path::Path, yaml: &str, force: bool) -> Result<(), Error> {
    let written = if force {
        write_atomic(path, yaml.as_bytes())
    } else {
        write_new(path, yaml.as_bytes())
    };
    written.with_context(|| {
        format!(
            "failed to write the config to `{}`; nothing was recorded",
            path.display()
        )
    })
}

/// `roster refresh`: reads every managed chat in scope, records its live membership in the
/// state (one write, only when something changed; [`ops::refresh`]) and reports the drift.
pub fn refresh(cx: &mut Context, args: &RefreshArgs) -> Result<Exit, Error> {
    let online = Online::start(cx)?;
    let store = cx.store()?;
    let session = online.connect(cx, "refresh", store, None)?;
    let mut loaded = session.store.load_with_journal()?;
    if !loaded.existed {
        cx.ui.status(format!(
            "No state yet at `{}`, so no chat is managed: run `roster import` to adopt existing chats.",
            session.store.describe()
        ));
        return Ok(Exit::Success);
    }
    // The config is read only to resolve names and files: refresh works on the state.
    let scope = &args.scope;
    let desired = needs_config(scope.targets.iter().chain(&scope.excludes), &loaded.state, &real_path)
        .then(|| cx.load_desired())
        .transpose()?;
    let selection = select(scope, desired.as_ref(), &loaded.state)?;
    let options = RefreshOptions {
        selection: &selection,
        read_parallelism: args.api.read_parallelism,
        settle: settle_options(&args.api),
        pending_timeout: seconds(args.pending.pending_timeout),
        clock: cx.env.clock.clone(),
        allow_mass_gone: args.allow_mass_gone,
    };
    let stop = online.signals.stop();
    let mut shown = Shown::new(&mut cx.ui);
    let refreshed = online
        .block_on(ops::refresh(
            session.store.as_ref(),
            &mut loaded,
            &session.client,
            &stop,
            &options,
            &mut |event| shown.show(event),
        ))
        .map_err(op_error(REFRESH_STOPPED))?;

    let report = &refreshed.report;
    cx.write(report, args.format)?;
    cx.ui.out.flush()?;
    report_recorded(cx, &session, &refreshed, loaded.state.serial);
    if report.summary.drifted > 0 || report.summary.never_landed > 0 {
        cx.ui
            .status("Run `roster plan` to see the calls that bring the chats back to the config.");
    }
    Ok(Exit::Success)
}

/// Says what `refresh` recorded, if anything: the live membership of chats that drifted, or
/// else what changed without drift (roster's own changes that landed, names Linq shows).
fn report_recorded(cx: &mut Context, session: &Session, refreshed: &Refreshed, serial: u64) {
    let (changed, summary) = (refreshed.changed, &refreshed.report.summary);
    if changed == 0 {
        return;
    }
    let state = session.store.describe();
    let drift = summary.drifted + summary.never_landed > 0;
    cx.ui.status(if drift {
        format!(
            "Recorded the live membership of {} in `{state}` (serial {serial}).",
            render::count(changed, "chat", "chats"),
        )
    } else if refreshed.landed > 0 {
        format!(
            "Recorded in `{state}` (serial {serial}) that {} roster made landed.",
            render::count(refreshed.landed, "change", "changes"),
        )
    } else {
        format!(
            "Recorded the names and services Linq shows for {} in `{state}` (serial {serial}).",
            render::count(changed, "chat", "chats"),
        )
    });
}

/// `roster plan --refresh`: reads the live membership of the config's chats in `selection`
/// over `state`, in memory only (no lock, nothing written; [`ops::read_live`]), and says
/// whether any drift was found.
///
/// The drift is printed above the plan for text, and on stderr for JSON and markdown so that
/// stdout stays parseable.
pub fn refresh_in_memory(
    cx: &mut Context,
    online: &Online,
    client: &Client,
    desired: &Desired,
    selection: &Selection,
    state: &mut State,
    args: &PlanArgs,
) -> Result<bool, Error> {
    let options = LiveOptions {
        read_parallelism: args.api.read_parallelism,
        pending_timeout: seconds(args.pending.pending_timeout),
        clock: cx.env.clock.clone(),
        allow_mass_gone: args.allow_mass_gone,
    };
    let stop = online.signals.stop();
    let mut shown = Shown::new(&mut cx.ui);
    let live = online
        .block_on(ops::read_live(
            state,
            desired,
            selection,
            client,
            &stop,
            &options,
            &mut |event| shown.show(event),
        ))
        .map_err(op_error(PLAN_STOPPED))?;
    if args.out.is_some() && live.changed > 0 {
        return Err(Error::SavedPlanOverDrift);
    }
    if args.format == Format::Text {
        cx.write(&live.report, Format::Text)?;
        writeln!(cx.ui.out)?;
    } else if !cx.ui.quiet {
        cx.write_err(&live.report, Format::Text)?;
    }
    Ok(!live.report.is_empty())
}
