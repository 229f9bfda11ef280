//! Adopting and watching chats: `import`, `refresh` and `plan --refresh`.
//!
//! All three read chats from Linq and hold them against the state. `import` records chats
//! roster does not manage yet and prints their config; `refresh` records what changed outside
//! roster (drift); `plan --refresh` makes the same reads in memory only, so the plan is made
//! against the live membership while nothing is written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::super::{load_state, Context, Exit, Signals};
use super::{client, runtime, settle_journal};
use crate::cli::{Format, ImportArgs, PlanArgs, RefreshArgs};
use crate::config::{Desired, Service, DEFAULT_MIN_MEMBERS};
use crate::escape::{is_hidden, Escaped};
use crate::handle::Handle;
use crate::linq::{Chat, Client, LinqError};
use crate::plan::{PendingChat, StateRef};
use crate::render::{self, ChatDrift, DriftReport, DriftStatus, Paint, ReadFailure, Recorded};
use crate::state::{
    write_atomic, write_new, ChatState, PendingChange, PendingChanges, PendingTimeout, State, StateStore,
};

/// Linq's code for "this chat is unavailable": reported, and the chat kept as the state has it.
const CODE_CHAT_UNAVAILABLE: i64 = 2013;
/// Chats per page when listing; Linq's maximum.
const PAGE_SIZE: u32 = 100;

/// What import and refresh say when a signal stops their reads.
const IMPORT_STOPPED: &str = "Import stopped; nothing was written.";
const REFRESH_STOPPED: &str = "Refresh stopped; nothing was written.";

/// `roster import CHAT...` / `roster import --all`: reads the chats, records them in the state
/// in one write, and prints (or writes) their config.
pub fn import(cx: &mut Context, args: &ImportArgs) -> anyhow::Result<Exit> {
    let runtime = runtime()?;
    let signals = Signals::watch(&runtime, cx.ui.quiet)?;
    if let Some(path) = &args.write {
        // Checked before any call: a config people wrote by hand is not replaced unasked.
        if !args.force && std::fs::symlink_metadata(path).is_ok() {
            bail!(
                "`{}` already exists; nothing was read or written\nhint: write the config to a new file, or pass `--force` to replace it",
                path.display()
            );
        }
    }
    let from = args
        .from
        .as_deref()
        .map(|line| {
            Handle::parse(line)
                .map(|handle| handle.to_string())
                .with_context(|| format!("`--from` takes your own Linq line, and `{line}` is not a handle"))
        })
        .transpose()?;
    let client = client(cx, None)?;
    let store = cx.store()?;
    let store = &*store;
    let _lock = cx.lock(store, "import", &signals)?;
    runtime.block_on(async {
        let existing = store.load()?;
        let created = existing.is_none();
        let mut state = existing.unwrap_or_default();
        settle_journal(cx, store, &mut state, &client, &args.api, &signals).await?;

        let reads = read_import(cx, &client, args, from.as_deref());
        let chats = signals.unless_stopped(IMPORT_STOPPED, reads).await??;

        let conflicts: Vec<String> = chats
            .iter()
            .filter_map(|chat| {
                let known = state.chats.get(&chat.id)?;
                conflict(chat, known)
            })
            .collect();
        if !conflicts.is_empty() && !args.force {
            bail!(
                "{} already in the state with other members; nothing was written\n{}\nhint: `roster refresh` records changes made outside roster as drift; `--force` overwrites the state with what Linq has",
                match conflicts.len() {
                    1 => "1 chat is".to_owned(),
                    n => format!("{n} chats are"),
                },
                conflicts.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
            );
        }

        let before = state.chats.clone();
        for chat in &chats {
            let now = recorded(chat, state.chats.get(&chat.id));
            state.chats.insert(chat.id.clone(), now);
        }
        for chat in &chats {
            let members = state.chats[&chat.id].members.len();
            if members < DEFAULT_MIN_MEMBERS {
                warn(
                    cx,
                    &format!(
                        "chat {} has {}, fewer than the default floor of {DEFAULT_MIN_MEMBERS}: its config will not validate until it has more or `settings.min_members` allows it",
                        label(&chat.id, chat.display_name.as_deref()),
                        render::count(members, "member", "members"),
                    ),
                );
            }
        }

        let yaml = config_yaml(&chats, &state)?;
        // Past this point the writes are quick and go to the end: a signal now changes nothing.
        signals.check(IMPORT_STOPPED)?;
        if let Some(path) = &args.write {
            let written = if args.force {
                write_atomic(path, yaml.as_bytes())
            } else {
                write_new(path, yaml.as_bytes()).map_err(anyhow::Error::from)
            };
            written.with_context(|| format!("failed to write the config to `{}`; nothing was recorded", path.display()))?;
        }
        if created || state.chats != before {
            store.save(&mut state)?;
        }
        if args.write.is_none() {
            cx.ui.out.write_all(yaml.as_bytes())?;
            cx.ui.out.flush()?;
        }

        let overwritten = if args.force { conflicts.len() } else { 0 };
        cx.ui.status(format!(
            "Imported {} into `{}` (serial {}){}.",
            render::count(chats.len(), "chat", "chats"),
            store.describe(),
            state.serial,
            if overwritten > 0 {
                format!(
                    ", overwriting the recorded members of {} (`--force`)",
                    render::count(overwritten, "chat", "chats")
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

/// The chats `import` adopts: every group chat (of line `from`, when given) with `--all`, else
/// the ones named.
async fn read_import(
    cx: &mut Context,
    client: &Client,
    args: &ImportArgs,
    from: Option<&str>,
) -> anyhow::Result<Vec<Chat>> {
    if !args.all {
        return read_named(cx, client, &args.chats, args.api.read_parallelism).await;
    }
    let bar = progress(cx, None, "listing chats");
    let listed = list_chats(client, from, &bar).await;
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

/// `roster refresh`: reads every managed chat, records its live membership in the state (one
/// write, only when something changed) and reports the drift.
pub fn refresh(cx: &mut Context, args: &RefreshArgs) -> anyhow::Result<Exit> {
    let runtime = runtime()?;
    let signals = Signals::watch(&runtime, cx.ui.quiet)?;
    let client = client(cx, None)?;
    let store = cx.store()?;
    let store = &*store;
    let _lock = cx.lock(store, "refresh", &signals)?;
    runtime.block_on(async {
        let Some(mut state) = store.load()? else {
            cx.ui.status(format!(
                "No state yet at `{}`, so no chat is managed: run `roster import` to adopt existing chats.",
                store.describe()
            ));
            return Ok(Exit::Success);
        };
        settle_journal(cx, store, &mut state, &client, &args.api, &signals).await?;

        let targets = &args.scope.targets;
        let unknown: Vec<&String> = targets.iter().filter(|t| !state.chats.contains_key(*t)).collect();
        if let Some(target) = unknown.first() {
            let target = Escaped(target);
            bail!("chat `{target}` is not in the state, so roster does not manage it yet\nhint: `roster import {target}` adopts it");
        }
        let ids: Vec<String> = state
            .chats
            .keys()
            .filter(|id| targets.is_empty() || targets.contains(id))
            .cloned()
            .collect();
        let bar = progress(cx, Some(ids.len()), "reading chats");
        let reads = signals
            .unless_stopped(REFRESH_STOPPED, read_chats(&client, ids, args.api.read_parallelism, &bar))
            .await;
        bar.finish_and_clear();
        let reads = reads??;

        let timeout = cx.pending_timeout(&args.pending);
        let (mut drifts, mut pending, mut never_landed) = (Vec::new(), Vec::new(), Vec::new());
        let mut changed = 0;
        for (id, read) in &reads {
            let known = state.chats[id].clone();
            match read {
                Read::Live(chat) => {
                    let observed = observe(id, &known, chat, &timeout);
                    drifts.extend(observed.drift);
                    pending.extend(observed.pending);
                    never_landed.extend(observed.never_landed);
                    if observed.now != known {
                        changed += 1;
                        state.chats.insert(id.clone(), observed.now);
                    }
                }
                Read::Missing(status, error) => drifts.push(missing(id, known.display_name, *status, error)),
            }
        }
        if changed > 0 {
            signals.check(REFRESH_STOPPED)?;
            store.save(&mut state)?;
        }
        let mut report = DriftReport::new(reads.len(), drifts).with_pending(pending, never_landed, timeout.now);
        report.recorded = Some(Recorded {
            written: changed > 0,
            state: StateRef {
                lineage: state.lineage.clone(),
                serial: state.serial,
            },
        });

        match args.format {
            Format::Json => render::write_json(&mut cx.ui.out, &report)?,
            Format::Text | Format::Markdown => render::drift_text(&report, cx.ui.out_color, &mut cx.ui.out)?,
        }
        cx.ui.out.flush()?;
        if changed > 0 {
            cx.ui.status(format!(
                "Recorded the live membership of {} in `{}` (serial {}).",
                render::count(changed, "chat", "chats"),
                store.describe(),
                state.serial
            ));
        }
        if report.summary.drifted > 0 || report.summary.never_landed > 0 {
            cx.ui
                .status("Run `roster plan` to see the calls that bring the chats back to the config.");
        }
        Ok(Exit::Success)
    })
}

/// `roster plan --refresh`: the state with the live membership of the config's chats in scope
/// read over it, in memory only (no lock, nothing written), and whether any drift was found.
///
/// Chats of the config missing from the state are read too, so they plan as updates rather
/// than as unknown. The drift is printed above the plan for text, and on stderr for JSON and
/// markdown so that stdout stays parseable.
pub fn refreshed_state(
    cx: &mut Context,
    desired: &Desired,
    store: &dyn StateStore,
    args: &PlanArgs,
    runtime: &tokio::runtime::Runtime,
    signals: &Signals,
) -> anyhow::Result<(State, bool)> {
    let client = client(cx, None)?;
    let mut state = load_state(cx, store)?;
    let stored = state.chats.clone();
    let timeout = cx.pending_timeout(&args.pending);
    let targets = &args.scope.targets;
    // Chats only in the state are forgotten without a call: no need to read them.
    let ids: Vec<String> = desired
        .chats
        .keys()
        .filter(|id| targets.is_empty() || targets.contains(*id))
        .cloned()
        .collect();
    let bar = progress(cx, Some(ids.len()), "reading chats");
    let reads = runtime.block_on(signals.unless_stopped(
        "Plan stopped while reading the chats from Linq; no plan was made.",
        read_chats(&client, ids, args.api.read_parallelism, &bar),
    ));
    bar.finish_and_clear();
    let reads = reads??;

    let (mut drifts, mut never_landed) = (Vec::new(), Vec::new());
    for (id, read) in &reads {
        let known = state.chats.get(id);
        match read {
            Read::Live(chat) => {
                let now = match known {
                    Some(known) => {
                        // Changes still pending stay in the state, and the plan lists them.
                        let observed = observe(id, known, chat, &timeout);
                        drifts.extend(observed.drift);
                        never_landed.extend(observed.never_landed);
                        observed.now
                    }
                    None => recorded(chat, None),
                };
                state.chats.insert(id.clone(), now);
            }
            Read::Missing(status, error) => {
                let name = known
                    .and_then(|k| k.display_name.clone())
                    .or_else(|| desired.chats[id].name.clone());
                drifts.push(missing(id, name, *status, error));
            }
        }
    }
    if args.out.is_some() && state.chats != stored {
        bail!("the chats on Linq differ from the state, and a saved plan is checked against the state: apply would skip the chats that differ\nhint: record them first with `roster refresh` (and `roster import` for chats not in the state), then run `roster plan --out FILE`");
    }

    let report = DriftReport::new(reads.len(), drifts).with_pending(Vec::new(), never_landed, timeout.now);
    if args.format == Format::Text {
        render::drift_text(&report, cx.ui.out_color, &mut cx.ui.out)?;
        writeln!(cx.ui.out)?;
    } else if !cx.ui.quiet {
        render::drift_text(&report, cx.ui.err_color, &mut cx.ui.err)?;
    }
    Ok((state, !report.is_empty()))
}

/// One chat as a read found it.
enum Read {
    Live(Chat),
    /// Linq would not show the chat (404, or 409 code 2013): reported, the chat left alone.
    Missing(DriftStatus, LinqError),
}

/// Reads the chats `ids`, at most `parallelism` at once (the client retries on its own). A 404
/// or a 409 2013 is an answer about the chat; any other failure stops the command.
async fn read_chats(
    client: &Client,
    ids: Vec<String>,
    parallelism: usize,
    bar: &ProgressBar,
) -> anyhow::Result<BTreeMap<String, Read>> {
    let mut reads = stream::iter(ids)
        .map(|id| async move {
            let result = client.get_chat(&id).await;
            (id, result)
        })
        .buffer_unordered(parallelism.max(1));
    let mut found = BTreeMap::new();
    while let Some((id, result)) = reads.next().await {
        bar.inc(1);
        let read = match result {
            Ok(chat) => Read::Live(chat),
            Err(error) if error.status() == Some(404) => Read::Missing(DriftStatus::Gone, error),
            Err(error) if error.code() == Some(CODE_CHAT_UNAVAILABLE) => Read::Missing(DriftStatus::Unavailable, error),
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!(
                    "failed to read chat `{}` from Linq (nothing was written)",
                    Escaped(&id)
                )))
            }
        };
        found.insert(id, read);
    }
    Ok(found)
}

/// Every chat on Linq (of line `from`, when given), page after page.
async fn list_chats(client: &Client, from: Option<&str>, bar: &ProgressBar) -> Result<Vec<Chat>, LinqError> {
    let mut chats = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client.list_chats(cursor.as_deref(), Some(PAGE_SIZE), from).await?;
        bar.inc(page.chats.len() as u64);
        chats.extend(page.chats);
        match page.next_cursor {
            Some(next) if cursor.as_ref() != Some(&next) => cursor = Some(next),
            Some(_) => {
                return Err(LinqError::Protocol {
                    status: 200,
                    message: "`next_cursor` repeated the cursor it answered".to_owned(),
                })
            }
            None => return Ok(chats),
        }
    }
}

/// Reads the chats named on the command line; any that cannot be imported (not found,
/// unavailable, a direct-message chat) fails the import, all of them named at once.
async fn read_named(cx: &Context, client: &Client, ids: &[String], parallelism: usize) -> anyhow::Result<Vec<Chat>> {
    let ids: Vec<String> = ids.iter().collect::<BTreeSet<_>>().into_iter().cloned().collect();
    let bar = progress(cx, Some(ids.len()), "reading chats");
    let reads = read_chats(client, ids, parallelism, &bar).await;
    bar.finish_and_clear();
    let mut chats = Vec::new();
    let mut problems = Vec::new();
    for (id, read) in reads? {
        let id = Escaped(&id);
        match read {
            Read::Live(chat) if !chat.is_group => problems.push(format!(
                "chat `{id}` is a direct-message chat: Linq cannot change its members, so roster cannot manage it"
            )),
            Read::Live(chat) => chats.push(chat),
            Read::Missing(DriftStatus::Gone, error) => problems.push(format!("chat `{id}` was not found: {error}")),
            Read::Missing(_, error) => problems.push(format!("chat `{id}` is unavailable: {error}")),
        }
    }
    match problems.len() {
        0 => Ok(chats),
        1 => bail!("{}; nothing was imported", problems[0]),
        n => bail!(
            "{n} chats cannot be imported; nothing was imported\n{}",
            problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
        ),
    }
}

/// What the state records of a chat Linq showed: its active members, who left on their own
/// (remembered until they are active again, even once Linq stops listing them), its service
/// and display name. Fields the state holds beyond these are kept. Import takes Linq's word
/// for everything and forgets pending changes.
fn recorded(live: &Chat, known: Option<&ChatState>) -> ChatState {
    let mut now = known.cloned().unwrap_or_default();
    now.pending = PendingChanges::default();
    record_live(&mut now, live, live.members());
    now
}

/// As [`recorded`], for refresh: changes roster itself made that Linq accepted but has not
/// applied yet stay pending and stay in the members, so roster's own queued work is not
/// reported as drift; the ones that show now have landed.
fn refreshed(live: &Chat, known: &ChatState) -> ChatState {
    let mut now = known.clone();
    let mut members = live.members();
    now.pending.add.retain(|handle, _| !members.contains(handle));
    now.pending.remove.retain(|handle, _| members.contains(handle));
    members.extend(now.pending.add.keys().cloned());
    members.retain(|handle| !now.pending.remove.contains_key(handle));
    record_live(&mut now, live, members);
    now
}

fn record_live(now: &mut ChatState, live: &Chat, members: BTreeSet<Handle>) {
    now.left.extend(live.left());
    now.left.retain(|handle| !members.contains(handle));
    now.members = members;
    if live.service.is_some() {
        now.service.clone_from(&live.service);
    }
    now.display_name.clone_from(&live.display_name);
}

/// What a read of one managed chat found, held against the state.
struct Observed {
    /// The chat as the state now records it.
    now: ChatState,
    /// How its members differ from the state's: who joined, was removed, left on their own.
    drift: Option<ChatDrift>,
    /// Changes roster made that are still pending, within `--pending-timeout`.
    pending: Option<PendingChat>,
    /// Overdue changes the chat does not show: accepted but never landed, so dropped from the
    /// recorded members (see [`crate::state::pending`]).
    never_landed: Option<PendingChat>,
}

/// The chat recorded from what Linq shows: changes that never landed are dropped first, so they
/// are not mistaken for drift, and roster's own changes still pending are kept.
fn observe(id: &str, known: &ChatState, live: &Chat, timeout: &PendingTimeout) -> Observed {
    let never = known.pending.never_landed(&live.members(), timeout);
    let mut base = known.clone();
    base.drop_never_landed(&never);
    let now = refreshed(live, &base);
    let live_left = live.left();
    let (left, removed): (Vec<Handle>, Vec<Handle>) = base
        .members
        .difference(&now.members)
        .cloned()
        .partition(|handle| live_left.contains(handle));
    let joined: Vec<Handle> = now.members.difference(&base.members).cloned().collect();
    let name = now.display_name.clone().or_else(|| known.display_name.clone());
    let drift = (!joined.is_empty() || !removed.is_empty() || !left.is_empty()).then(|| ChatDrift {
        id: id.to_owned(),
        name: name.clone(),
        status: DriftStatus::Drifted,
        joined,
        removed,
        left,
        error: None,
    });
    let listed = |changes: Vec<PendingChange>| {
        (!changes.is_empty()).then(|| PendingChat {
            id: id.to_owned(),
            name: name.clone(),
            changes,
        })
    };
    Observed {
        pending: listed(now.pending.list(timeout)),
        never_landed: listed(never),
        drift,
        now,
    }
}

/// The report entry of a chat Linq would not show.
fn missing(id: &str, name: Option<String>, status: DriftStatus, error: &LinqError) -> ChatDrift {
    ChatDrift {
        id: id.to_owned(),
        name,
        status,
        joined: Vec::new(),
        removed: Vec::new(),
        left: Vec::new(),
        error: Some(ReadFailure {
            status: error.status(),
            code: error.code(),
            message: error.message(),
            trace_id: error.trace_id().map(str::to_owned),
        }),
    }
}

/// How a chat already in the state differs from Linq, or `None` when its members agree.
fn conflict(live: &Chat, known: &ChatState) -> Option<String> {
    let members = live.members();
    if members == known.members {
        return None;
    }
    let list = |handles: Vec<&Handle>| {
        handles
            .iter()
            .map(|handle| format!("`{handle}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    let only_live: Vec<&Handle> = members.difference(&known.members).collect();
    if !only_live.is_empty() {
        parts.push(format!("Linq has {} that the state lacks", list(only_live)));
    }
    let only_state: Vec<&Handle> = known.members.difference(&members).collect();
    if !only_state.is_empty() {
        parts.push(format!("the state has {} that Linq lacks", list(only_state)));
    }
    Some(format!(
        "chat {}: {}",
        label(&live.id, live.display_name.as_deref().or(known.display_name.as_deref())),
        parts.join("; ")
    ))
}

/// `` `id` ``, or `` `name` (`id`) `` when the chat has a name; both escaped.
fn label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("`{}` (`{}`)", Escaped(name), Escaped(id)),
        None => format!("`{}`", Escaped(id)),
    }
}

/// The config file `import` prints, in the shape `roster validate` reads.
#[derive(Serialize)]
struct ConfigFile {
    version: u32,
    chats: BTreeMap<String, ConfigChat>,
}

#[derive(Serialize)]
struct ConfigChat {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Service>,
    members: Vec<String>,
}

/// The config of the imported chats as YAML, serialized by `serde_yaml`, so any name or handle
/// is quoted and escaped as YAML needs; members are the canonical handles the state records.
///
/// `serde_yaml` escapes C0 and C1 controls but writes bidi overrides and zero-width characters
/// raw (YAML counts them printable), even in plain scalars. A name holding any
/// [hidden](is_hidden) character is therefore serialized as a unique placeholder, replaced
/// afterwards by a double-quoted scalar that escapes it: the file reads back to the exact name,
/// and printed, it cannot act on the terminal.
fn config_yaml(chats: &[Chat], state: &State) -> anyhow::Result<String> {
    let nonce = fastrand::u64(..);
    let mut hidden: Vec<(String, String)> = Vec::new();
    let mut name_of = |chat: &Chat| {
        let name = chat.display_name.clone().filter(|name| !name.trim().is_empty())?;
        if !name.chars().any(is_hidden) {
            return Some(name);
        }
        let placeholder = format!("roster-escaped-name-{nonce:016x}-{}", hidden.len());
        hidden.push((placeholder.clone(), name));
        Some(placeholder)
    };
    let config = ConfigFile {
        version: 1,
        chats: chats
            .iter()
            .map(|chat| {
                let members = state.chats[&chat.id].members.iter().map(Handle::to_string).collect();
                let entry = ConfigChat {
                    name: name_of(chat),
                    service: chat.service.as_deref().and_then(service),
                    members,
                };
                (chat.id.clone(), entry)
            })
            .collect(),
    };
    let mut yaml = serde_yaml::to_string(&config).context("failed to write the imported chats as YAML")?;
    for (placeholder, name) in hidden {
        if yaml.matches(&placeholder).count() != 1 {
            bail!("failed to write the imported chats as YAML: a chat name could not be escaped");
        }
        yaml = yaml.replacen(&placeholder, &yaml_quoted(&name), 1);
    }
    Ok(format!(
        "# Imported from Linq by `roster import`. Members are the participants other than your own line.\n{yaml}"
    ))
}

/// `text` as a YAML double-quoted scalar, every [hidden](is_hidden) character escaped
/// (`\x1b`, `\u202E`, `\U000E0041`) and nothing else.
fn yaml_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_hidden(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if is_hidden(c) && (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if is_hidden(c) => out.push_str(&format!("\\U{:08X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The config's service for Linq's name of it; `None` for one the config does not know.
fn service(name: &str) -> Option<Service> {
    match name.to_ascii_lowercase().as_str() {
        "imessage" => Some(Service::IMessage),
        "rcs" => Some(Service::Rcs),
        "sms" => Some(Service::Sms),
        _ => None,
    }
}

/// A warning on stderr, shown even with `--quiet`: it is about the result.
fn warn(cx: &mut Context, message: &str) {
    let paint = Paint::new(cx.ui.err_color);
    let _ = writeln!(cx.ui.err, "{} {}", paint.note("warning:"), Escaped(message));
}

/// A progress bar on stderr while reading many chats, on a terminal only (and not `--quiet`).
fn progress(cx: &Context, len: Option<usize>, message: &'static str) -> ProgressBar {
    if !cx.ui.interactive || cx.ui.quiet {
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
