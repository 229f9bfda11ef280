//! Adopting and watching chats: `import`, `refresh` and `plan --refresh`.
//!
//! All three read chats from Linq and hold them against the state ([`crate::sync`] decides
//! what differs). `import` records chats roster does not manage yet and prints their config;
//! `refresh` records what changed outside roster (drift); `plan --refresh` makes the same reads
//! in memory only, so the plan is made against the live membership while nothing is written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use super::super::{real_path, select, Context, Error, ErrorContext as _, Exit, Unimportable};
use super::{Online, Session};
use crate::cli::{ImportArgs, PlanArgs, RefreshArgs};
use crate::config::{Desired, DEFAULT_MIN_MEMBERS};
use crate::handle::Handle;
use crate::linq::{Chat, Client};
use crate::plan::{needs_config, Selection, StateRef};
use crate::render::{self, Format};
use crate::state::{write_atomic, write_new, State};
use crate::sync::{self, DriftStatus, Read, Recorded};

/// What import and refresh say when a signal stops their reads.
const IMPORT_STOPPED: &str = "Import stopped; nothing was written.";
const REFRESH_STOPPED: &str = "Refresh stopped; nothing was written.";

/// `roster import CHAT...` / `roster import --all`: reads the chats, records them in the state
/// in one write, and prints (or writes) their config.
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
    online.block_on(async {
        let mut loaded = session.store.load_with_journal()?;
        let created = !loaded.existed;
        online.settle(cx, &session, &mut loaded, &args.api).await?;
        let mut state = loaded.state;

        let reads = read_import(cx, &session.client, args, from.as_deref());
        let chats = online.signals.unless_stopped(IMPORT_STOPPED, reads).await??;
        let adopted = sync::adopt(&mut state, &chats, args.force).map_err(Error::ImportConflicts)?;
        warn_below_the_floor(cx, &chats, &state);
        let yaml = render::imported_config(&chats, &state)?;

        // Past this point the writes are quick and go to the end: a signal now changes nothing.
        online.signals.check(IMPORT_STOPPED)?;
        if let Some(path) = &args.write {
            write_config(path, &yaml, args.force)?;
        }
        if created || adopted.changed {
            session.store.save(&mut state)?;
        }
        if args.write.is_none() {
            cx.ui.out.write_all(yaml.as_bytes())?;
            cx.ui.out.flush()?;
        }

        cx.ui.status(format!(
            "Imported {} into `{}` (serial {}){}.",
            render::count(chats.len(), "chat", "chats"),
            session.store.describe(),
            state.serial,
            if adopted.overwritten > 0 {
                format!(
                    ", overwriting the recorded members of {} (`--force`)",
                    render::count(adopted.overwritten, "chat", "chats")
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
        Ok(Exit::Success)
    })
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

/// The chats `import` adopts: every group chat (of line `from`, when given) with `--all`, else
/// the ones named.
async fn read_import(
    cx: &mut Context,
    client: &Client,
    args: &ImportArgs,
    from: Option<&str>,
) -> Result<Vec<Chat>, Error> {
    if !args.all {
        return read_named(cx, client, &args.chats, args.api.read_parallelism).await;
    }
    let bar = cx.ui.progress(None, "listing chats");
    let listed = client
        .list_all_chats_with(from, |page| bar.inc(page.len() as u64))
        .await;
    bar.finish_and_clear();
    let listed = listed.context("failed to list the chats on Linq (nothing was written)")?;
    let (groups, direct): (Vec<Chat>, Vec<Chat>) = listed.into_iter().partition(|chat| chat.is_group);
    if !direct.is_empty() {
        cx.ui.status(format!(
            "Skipped {}: Linq cannot change their members.",
            render::count(direct.len(), "direct-message chat", "direct-message chats")
        ));
    }
    // One entry per id, sorted, whatever order the pages came in.
    let by_id: BTreeMap<String, Chat> = groups.into_iter().map(|chat| (chat.id.clone(), chat)).collect();
    Ok(by_id.into_values().collect())
}

/// Reads the chats named on the command line; any that cannot be imported (not found,
/// unavailable, a direct-message chat) fails the import, all of them named at once.
async fn read_named(cx: &Context, client: &Client, ids: &[String], parallelism: usize) -> Result<Vec<Chat>, Error> {
    let ids: Vec<String> = ids.iter().collect::<BTreeSet<_>>().into_iter().cloned().collect();
    let bar = cx.ui.progress(Some(ids.len()), "reading chats");
    let reads = sync::read_chats(client, ids, parallelism, &|| bar.inc(1)).await;
    bar.finish_and_clear();
    let mut chats = Vec::new();
    let mut problems = Vec::new();
    for (id, read) in reads? {
        match read {
            Read::Live(chat) if !chat.is_group => problems.push(Unimportable::DirectMessage(id)),
            Read::Live(chat) => chats.push(chat),
            Read::Missing(DriftStatus::Gone, error) => problems.push(Unimportable::NotFound(id, error)),
            Read::Missing(_, error) => problems.push(Unimportable::Unavailable(id, error)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::NotImportable(problems));
    }
    Ok(chats)
}

/// Warns of each imported chat too small for the default floor: its config will not validate.
fn warn_below_the_floor(cx: &mut Context, chats: &[Chat], state: &State) {
    for chat in chats {
        let members = state.chats[&chat.id].members.len();
        if members < DEFAULT_MIN_MEMBERS {
            cx.ui.warn(&format!(
                "chat {} has {}, fewer than the default floor of {DEFAULT_MIN_MEMBERS}: its config will not validate until it has more or `settings.min_members` allows it",
                sync::label(&chat.id, chat.display_name.as_deref()),
                render::count(members, "member", "members"),
            ));
        }
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

/// `roster refresh`: reads every managed chat, records its live membership in the state (one
/// write, only when something changed) and reports the drift.
pub fn refresh(cx: &mut Context, args: &RefreshArgs) -> Result<Exit, Error> {
    let online = Online::start(cx)?;
    let store = cx.store()?;
    let session = online.connect(cx, "refresh", store, None)?;
    online.block_on(async {
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
        let ids = managed_in_scope(&loaded.state, &selection)?;
        online.settle(cx, &session, &mut loaded, &args.api).await?;
        let mut state = loaded.state;

        let reads = online
            .read_chats(cx, &session.client, ids, args.api.read_parallelism, REFRESH_STOPPED)
            .await?;
        let timeout = cx.pending_timeout(&args.pending);
        let observed = sync::observe_all(&mut state, &reads, &timeout, |_| None);
        let changed = observed.changed;
        if changed > 0 {
            online.signals.check(REFRESH_STOPPED)?;
            session.store.save(&mut state)?;
        }
        let mut report = observed.report(reads.len(), timeout.now);
        report.recorded = Some(Recorded {
            written: changed > 0,
            state: StateRef {
                lineage: state.lineage.clone(),
                serial: state.serial,
            },
        });

        cx.write(&report, args.format)?;
        cx.ui.out.flush()?;
        report_recorded(cx, &session, &state, changed);
        if report.summary.drifted > 0 || report.summary.never_landed > 0 {
            cx.ui
                .status("Run `roster plan` to see the calls that bring the chats back to the config.");
        }
        Ok(Exit::Success)
    })
}

/// The managed chats in `selection`; a target that names no chat of the state is refused.
fn managed_in_scope(state: &State, selection: &Selection) -> Result<Vec<String>, Error> {
    let unmanaged =
        (selection.targets.iter()).find(|target| !target.chats.iter().any(|id| state.chats.contains_key(id)));
    if let Some(target) = unmanaged {
        return Err(Error::NotManaged {
            given: target.given.clone(),
            chats: target.chats.clone(),
        });
    }
    Ok((state.chats.keys())
        .filter(|id| selection.includes(id))
        .cloned()
        .collect())
}

/// Says where the live membership of `changed` chats was recorded, if any was.
fn report_recorded(cx: &mut Context, session: &Session, state: &State, changed: usize) {
    if changed > 0 {
        cx.ui.status(format!(
            "Recorded the live membership of {} in `{}` (serial {}).",
            render::count(changed, "chat", "chats"),
            session.store.describe(),
            state.serial
        ));
    }
}

/// `roster plan --refresh`: reads the live membership of the config's chats in `selection`
/// over `state`, in memory only (no lock, nothing written), and says whether any drift was
/// found.
///
/// Chats of the config missing from the state are read too, so they plan as updates rather
/// than as unknown. The drift is printed above the plan for text, and on stderr for JSON and
/// markdown so that stdout stays parseable.
pub fn refresh_in_memory(
    cx: &mut Context,
    online: &Online,
    client: &Client,
    desired: &Desired,
    selection: &Selection,
    state: &mut State,
    args: &PlanArgs,
) -> Result<bool, Error> {
    let timeout = cx.pending_timeout(&args.pending);
    // Chats only in the state are forgotten without a call: no need to read them.
    let ids: Vec<String> = (desired.chats.keys())
        .filter(|id| selection.includes(id))
        .cloned()
        .collect();
    let reads = online.block_on(online.read_chats(
        cx,
        client,
        ids,
        args.api.read_parallelism,
        "Plan stopped while reading the chats from Linq; no plan was made.",
    ))?;
    let mut observed = sync::observe_all(state, &reads, &timeout, |id| desired.chats[id].name.clone());
    if args.out.is_some() && observed.changed > 0 {
        return Err(Error::SavedPlanOverDrift);
    }
    // Changes still pending stay in the state, and the plan lists them.
    observed.pending.clear();
    let report = observed.report(reads.len(), timeout.now);
    if args.format == Format::Text {
        cx.write(&report, Format::Text)?;
        writeln!(cx.ui.out)?;
    } else if !cx.ui.quiet {
        cx.write_err(&report, Format::Text)?;
    }
    Ok(!report.is_empty())
}
