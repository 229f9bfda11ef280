//! Is this chat drifted? Every answer roster gives, beside the model the answers fill:
//!
//! - [`before_change`]: apply reads a chat before changing it and holds its live members
//!   against the plan's `before`. Roster's own accepted changes still landing are waited for,
//!   not called drift; changes that never landed hold the chat back; anything else is drift,
//!   and the chat is skipped ([`Drift`] in the apply report).
//! - [`observe`] (over many reads, [`observe_all`]): `refresh` and `plan --refresh` record a
//!   read over the state. Overdue changes the chat does not show never landed and are dropped
//!   first; changes still pending stay; what differs then was done outside roster, as who
//!   joined, was removed or left on their own ([`ChatDrift`] in the [`DriftReport`]).
//! - [`conflict`] (in [`adopt`]): `import` finds a chat the state already holds with other
//!   members, and overwrites it only with `--force`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::escape::{code_list, Escaped};
use crate::handle::Handle;
use crate::linq::{Chat, LinqError};
use crate::members::Members;
use crate::op::Op;
use crate::plan::{PendingChat, StateRef};
use crate::state::{ChatState, PendingChange, PendingChanges, PendingTimeout, State};

use super::landing::never_landed;
use super::read::Read;

/// Version of the JSON drift report; fields are only ever added within one version.
pub const DRIFT_FORMAT_VERSION: &str = "1";

/// What reading the chats from Linq found, compared with the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub format_version: String,
    /// How many chats were read.
    pub chats_read: usize,
    /// Chats with drift, or that could not be read (gone or unavailable), sorted by id.
    pub chats: Vec<ChatDrift>,
    pub summary: DriftSummary,
    /// Changes roster made that Linq accepted and has not applied yet, still within
    /// `--pending-timeout`: kept in the state. (`plan --refresh` lists them in its plan.)
    pub pending: Vec<PendingChat>,
    /// Changes Linq accepted that were not seen within `--pending-timeout`: accepted but never
    /// landed, so taken as not made (dropped from the recorded members by `roster refresh`);
    /// the next plan makes them again.
    pub never_landed: Vec<PendingChat>,
    /// Chats read that the state does not hold yet (`roster plan --refresh` reads the config's
    /// chats): there was nothing to hold their members against. Sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecorded: Vec<String>,
    /// The state once the live membership was recorded (`roster refresh`); absent when nothing
    /// is recorded (`roster plan --refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
    /// When the chats were read, to say how long ago pending changes were accepted.
    #[serde(skip)]
    pub read_at: Option<Timestamp>,
}

/// Where `roster refresh` left the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded {
    /// False when the state already matched Linq, so it was not rewritten.
    pub written: bool,
    pub state: StateRef,
}

/// One chat that differs from the state, or that Linq would not show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatDrift {
    pub id: String,
    /// The chat's display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub status: DriftStatus,
    /// Active now, not in the state: added outside roster.
    pub joined: Vec<Handle>,
    /// In the state, no longer active, and not by their own choice: removed outside roster.
    pub removed: Vec<Handle>,
    /// In the state, and left the chat on their own (`status: left`): not re-added by default.
    pub left: Vec<Handle>,
    /// Why the chat could not be read (`gone`, `unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReadFailure>,
    /// The display name the state recorded, when Linq now shows another (renamed outside
    /// roster; `name` is the new one). The next apply sets the config's name again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}

/// The state of one chat in a drift report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftStatus {
    /// Its members changed outside roster.
    Drifted,
    /// Linq answered 404: the chat no longer exists (or this token cannot see it).
    Gone,
    /// Linq answered 409 with code 2013, "this chat is unavailable".
    Unavailable,
}

/// Linq's answer to a read that failed, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadFailure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// Counts over the whole report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DriftSummary {
    pub drifted: usize,
    pub joined: usize,
    pub removed: usize,
    pub left: usize,
    pub gone: usize,
    pub unavailable: usize,
    /// Changes still pending, over all chats.
    pub pending: usize,
    /// Changes that never landed, over all chats.
    pub never_landed: usize,
}

impl DriftReport {
    /// A report over `chats_read` chats; the summary is counted from `chats`.
    pub fn new(chats_read: usize, mut chats: Vec<ChatDrift>) -> DriftReport {
        chats.sort_by(|a, b| a.id.cmp(&b.id));
        let mut summary = DriftSummary::default();
        for chat in &chats {
            match chat.status {
                DriftStatus::Drifted => summary.drifted += 1,
                DriftStatus::Gone => summary.gone += 1,
                DriftStatus::Unavailable => summary.unavailable += 1,
            }
            summary.joined += chat.joined.len();
            summary.removed += chat.removed.len();
            summary.left += chat.left.len();
        }
        DriftReport {
            format_version: DRIFT_FORMAT_VERSION.to_owned(),
            chats_read,
            chats,
            summary,
            pending: Vec::new(),
            never_landed: Vec::new(),
            unrecorded: Vec::new(),
            recorded: None,
            read_at: None,
        }
    }

    /// Adds the changes still pending and those that never landed, as of `read_at`.
    pub fn with_pending(
        mut self,
        mut pending: Vec<PendingChat>,
        mut never_landed: Vec<PendingChat>,
        read_at: Timestamp,
    ) -> DriftReport {
        pending.sort_by(|a, b| a.id.cmp(&b.id));
        never_landed.sort_by(|a, b| a.id.cmp(&b.id));
        self.summary.pending = PendingChat::count(&pending);
        self.summary.never_landed = PendingChat::count(&never_landed);
        self.pending = pending;
        self.never_landed = never_landed;
        self.read_at = Some(read_at);
        self
    }

    /// True when every chat read matches the state and no change is pending or lost.
    pub fn is_empty(&self) -> bool {
        self.chats.is_empty() && self.pending.is_empty() && self.never_landed.is_empty()
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

fn record_live(now: &mut ChatState, live: &Chat, members: Members) {
    now.left.extend(live.left());
    now.left.retain(|handle| !members.contains(handle));
    now.members = members;
    if live.service.is_some() {
        now.service.clone_from(&live.service);
    }
    now.display_name.clone_from(&live.display_name);
}

/// What a read of one managed chat found, held against the state.
pub struct Observed {
    /// The chat as the state now records it.
    pub now: ChatState,
    /// How its members differ from the state's: who joined, was removed, left on their own.
    pub drift: Option<ChatDrift>,
    /// Changes roster made that are still pending, within `--pending-timeout`.
    pub pending: Option<PendingChat>,
    /// Overdue changes the chat does not show: accepted but never landed, so dropped from the
    /// recorded members (see [`crate::state::pending`]).
    pub never_landed: Option<PendingChat>,
    /// Changes roster made that were pending and now show: they landed.
    pub landed: usize,
}

/// The chat recorded from what Linq shows: changes that never landed are dropped first, so they
/// are not mistaken for drift, and roster's own changes still pending are kept.
pub fn observe(id: &str, known: &ChatState, live: &Chat, timeout: &PendingTimeout) -> Observed {
    let never = never_landed(&known.pending, &live.members(), timeout);
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
    // A name the state knew that Linq now shows otherwise was changed outside roster.
    let renamed_from = (known.display_name.is_some() && known.display_name != now.display_name)
        .then(|| known.display_name.clone().unwrap_or_default());
    let drifted = !joined.is_empty() || !removed.is_empty() || !left.is_empty() || renamed_from.is_some();
    let drift = drifted.then(|| ChatDrift {
        id: id.to_owned(),
        name: name.clone(),
        status: DriftStatus::Drifted,
        joined,
        removed,
        left,
        error: None,
        renamed_from,
    });
    let listed = |changes: Vec<PendingChange>| {
        (!changes.is_empty()).then(|| PendingChat {
            id: id.to_owned(),
            name: name.clone(),
            changes,
        })
    };
    Observed {
        landed: base.pending.len().saturating_sub(now.pending.len()),
        pending: listed(now.pending.list(timeout)),
        never_landed: listed(never),
        drift,
        now,
    }
}

/// What reading chats found, held against the state: the drift, roster's own changes still
/// pending, and those that never landed.
#[derive(Debug, Default)]
pub struct Observation {
    pub drifts: Vec<ChatDrift>,
    pub pending: Vec<PendingChat>,
    pub never_landed: Vec<PendingChat>,
    /// How many chats the state now records otherwise.
    pub changed: usize,
    /// Changes roster made that were pending and now show, over all chats.
    pub landed: usize,
    /// The chats read that the state did not hold: nothing could be held against them.
    pub unrecorded: Vec<String>,
}

impl Observation {
    /// The drift report of `chats_read` chats, read at `read_at`.
    pub fn report(self, chats_read: usize, read_at: Timestamp) -> DriftReport {
        let mut report =
            DriftReport::new(chats_read, self.drifts).with_pending(self.pending, self.never_landed, read_at);
        report.unrecorded = self.unrecorded;
        report
    }
}

/// Records every read over `state`: [`observe`] for a chat the state holds, `recorded` for
/// one it does not yet (`plan --refresh` reads the config's chats). A chat Linq would not show
/// is reported and left as the state has it, named by the state or else by `name_of`.
pub fn observe_all(
    state: &mut State,
    reads: &BTreeMap<String, Read>,
    timeout: &PendingTimeout,
    name_of: impl Fn(&str) -> Option<String>,
) -> Observation {
    let mut seen = Observation::default();
    for (id, read) in reads {
        match read {
            Read::Live(chat) => {
                let now = match state.chats.get(id) {
                    Some(known) => {
                        let observed = observe(id, known, chat, timeout);
                        seen.drifts.extend(observed.drift);
                        seen.pending.extend(observed.pending);
                        seen.never_landed.extend(observed.never_landed);
                        seen.landed += observed.landed;
                        observed.now
                    }
                    None => {
                        seen.unrecorded.push(id.clone());
                        recorded(chat, None)
                    }
                };
                if state.chats.get(id) != Some(&now) {
                    seen.changed += 1;
                    state.chats.insert(id.clone(), now);
                }
            }
            Read::Missing(status, error) => {
                let known = state.chats.get(id).and_then(|known| known.display_name.clone());
                seen.drifts
                    .push(missing(id, known.or_else(|| name_of(id)), *status, error));
            }
        }
    }
    seen
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
        renamed_from: None,
    }
}

/// How a chat already in the state differs from what Linq shows: `import` overwrites it only
/// with `--force`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub id: String,
    /// The chat's name, from Linq or else the state.
    pub name: Option<String>,
    /// Members Linq has that the state lacks.
    pub only_live: Vec<Handle>,
    /// Members the state has that Linq lacks.
    pub only_state: Vec<Handle>,
}

/// How a chat already in the state differs from Linq, or `None` when its members agree.
pub fn conflict(live: &Chat, known: &ChatState) -> Option<Conflict> {
    let members = live.members();
    (members != known.members).then(|| Conflict {
        id: live.id.clone(),
        name: live.display_name.clone().or_else(|| known.display_name.clone()),
        only_live: members.difference(&known.members).cloned().collect(),
        only_state: known.members.difference(&members).cloned().collect(),
    })
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |handles: &[Handle]| code_list(handles);
        let mut parts = Vec::new();
        if !self.only_live.is_empty() {
            parts.push(format!("Linq has {} that the state lacks", list(&self.only_live)));
        }
        if !self.only_state.is_empty() {
            parts.push(format!("the state has {} that Linq lacks", list(&self.only_state)));
        }
        write!(
            f,
            "chat {}: {}",
            label(&self.id, self.name.as_deref()),
            parts.join("; ")
        )
    }
}

/// What [`adopt`] did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adopted {
    /// Chats whose recorded members were replaced (`--force`).
    pub overwritten: usize,
    /// Whether the state records anything otherwise.
    pub changed: bool,
}

/// Records `chats`, as Linq shows them, in `state` (`roster import`). A chat the state already
/// holds with other members is a [`Conflict`]; with any, nothing is recorded unless `force`.
pub fn adopt(state: &mut State, chats: &[Chat], force: bool) -> Result<Adopted, Vec<Conflict>> {
    let conflicts: Vec<Conflict> = chats
        .iter()
        .filter_map(|chat| conflict(chat, state.chats.get(&chat.id)?))
        .collect();
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let before = state.chats.clone();
    for chat in chats {
        let now = recorded(chat, state.chats.get(&chat.id));
        state.chats.insert(chat.id.clone(), now);
    }
    Ok(Adopted {
        overwritten: conflicts.len(),
        changed: state.chats != before,
    })
}

/// `` `id` ``, or `` `name` (`id`) `` when the chat has a name; both escaped.
pub fn label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("`{}` (`{}`)", Escaped(name), Escaped(id)),
        None => format!("`{}`", Escaped(id)),
    }
}

/// How a chat's live members differ from the state the plan was made from, as apply reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// In the state but not in the chat.
    pub missing: Vec<Handle>,
    /// In the chat but not in the state.
    pub unexpected: Vec<Handle>,
}

/// How a chat that apply reads before changing it stands against the plan's picture of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// As the plan's `before` says: go ahead.
    AsPlanned,
    /// Changes of earlier runs that the plan counts on were accepted by Linq but never landed:
    /// leave the chat alone, and drop them from the state so that the next plan makes them
    /// again.
    NeverLanded(Vec<PendingChange>),
    /// The difference is only roster's own accepted changes, still landing: wait for them (as a
    /// `wait` step would), then go ahead. If they do not land, the chat is `drift`.
    Landing { landing: Vec<(Op, Handle)>, drift: Drift },
    /// Changed outside roster: skip the chat rather than act on a stale picture.
    Drifted(Drift),
}

/// Holds a chat's live `members`, read before apply changes it, against the plan's `before`
/// and the changes earlier runs made that Linq had not applied yet (`queued`).
pub fn before_change(before: &Members, queued: &PendingChanges, members: &Members, timeout: &PendingTimeout) -> Before {
    let never = never_landed(queued, members, timeout);
    if !never.is_empty() {
        return Before::NeverLanded(never);
    }
    if members == before {
        return Before::AsPlanned;
    }
    let missing: Vec<Handle> = before.difference(members).cloned().collect();
    let unexpected: Vec<Handle> = members.difference(before).cloned().collect();
    let own = missing.iter().all(|h| queued.contains(Op::Add, h))
        && unexpected.iter().all(|h| queued.contains(Op::Remove, h));
    let landing: Vec<(Op, Handle)> = (missing.iter().map(|h| (Op::Add, h.clone())))
        .chain(unexpected.iter().map(|h| (Op::Remove, h.clone())))
        .collect();
    let drift = Drift { missing, unexpected };
    if own {
        Before::Landing { landing, drift }
    } else {
        Before::Drifted(drift)
    }
}
