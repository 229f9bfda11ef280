//! The planner: pure functions from (Desired, State) to a [`Plan`]. No I/O.
//!
//! For every chat it computes `adds = desired - current` and `removes = current - desired`
//! and orders them so that the floor and the cap hold at every step, counting confirmed members
//! for the floor and confirmed + queued members for the cap, with `wait` steps only where a
//! later step needs earlier ones to have landed.

use serde::{Deserialize, Serialize};

use crate::config::Service;
use crate::handle::Handle;
use crate::members::Members;
use crate::op::Op;
use crate::state::{PendingChange, PendingTimeout};

mod bind;
mod error;
mod glob;
mod order;
mod planner;
#[cfg(test)]
mod proptests;
mod saved;
mod select;
#[cfg(test)]
mod tests;

pub use bind::{bind, check_bindings, Binding, Bindings};
pub use error::{Blocked, ChatRef, PlanError, PlanErrors};
pub use order::{schedule, Limits, Round, MIN_MEMBERS_TO_ADD};
pub use planner::{plan, MASS_REMOVAL_MIN_MEMBERSHIPS};
pub use saved::{SavedPlan, SavedPlanError};
pub use select::{needs_config, select, Flag, SelectError, SelectErrors, Selected, Selection, Unmatched, NAME_PREFIX};

/// Version of the JSON plan format; fields are only ever added within one version.
pub const FORMAT_VERSION: &str = "1";

/// What the planner is asked to do besides diffing.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// The chats in scope (`--target`, `--exclude`), already resolved; by default every chat.
    pub selection: Selection,
    /// Let a plan remove more than the removal guards allow (`max_removal_ratio`,
    /// `max_removals`).
    pub allow_mass_removal: bool,
    /// Which pending changes the plan marks overdue (the planner reads no clock).
    pub pending: PendingTimeout,
    /// Let a plan create more chats than `settings.max_creates`.
    pub allow_mass_create: bool,
}

/// A complete plan, as shown, saved and applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    /// The state the plan was made from.
    pub state: StateRef,
    /// What the plan was limited to (`--target`, `--exclude`); absent when it covers every chat.
    #[serde(default, skip_serializing_if = "Selection::is_everything")]
    pub selection: Selection,
    /// Chats with something to do, sorted by id.
    pub chats: Vec<ChatPlan>,
    /// Changes Linq accepted that were not seen to land yet, per chat in scope, sorted by id.
    /// They are already counted as made; listed so that nobody mistakes them for done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingChat>,
    pub summary: Summary,
}

/// One chat's pending changes (see [`crate::state::pending`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChat {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub changes: Vec<PendingChange>,
}

impl PendingChat {
    /// How many changes `chats` hold in all.
    pub fn count(chats: &[PendingChat]) -> usize {
        chats.iter().map(|chat| chat.changes.len()).sum()
    }
}

/// Lineage and serial of the state a plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRef {
    pub lineage: String,
    pub serial: u64,
}

/// What happens to one chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatPlan {
    /// The Linq chat id; empty (and left out of the JSON) for a chat to create, which has none
    /// yet.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The chat's key in the config (for a chat only in the state, the key it was recorded
    /// under): how plans, targets and reports name it. The id, for chats keyed by their id.
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: Action,
    /// How the chat is created (`action: create` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreatePlan>,
    /// The key the state knew this chat under, when it now stands for `key` (a `previously:`
    /// rename or an `id:` binding): apply records the new key, with no call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey: Option<String>,
    /// For a create: a key that vanished from the config while this one appeared with the
    /// same members; likely one chat renamed, which needs `previously:` or a second chat is
    /// made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likely_rename_of: Option<String>,
    /// Members before (from the state); absent for `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Members>,
    /// Members after; absent for `forget` and `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Members>,
    /// Members who left on their own and are not re-added (see `settings.readd_left`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<Handle>,
    pub steps: Vec<Step>,
}

/// Why a chat is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// In config and state: the steps change its membership.
    Update,
    /// In state but no longer in config: dropped from the state, no API call.
    Forget,
    /// In config but not in state: membership unknown until `roster import` or `--refresh`.
    Unknown,
    /// In config with `create`, and no chat for its key in the state: roster creates it (its
    /// first step), then sets its name and icon.
    Create,
}

/// `create` of a chat to create, as the plan shows it: the line, the first message, and the
/// service asked for (its members are the plan's `after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePlan {
    pub from: Handle,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

/// Everything one `POST /v3/chats` needs, taken from a `create` chat of a plan
/// ([`ChatPlan::create_request`]): the input of the create call and of its journaled intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// The config key the new chat will stand for (with the state's lineage, the source of
    /// the idempotency key).
    pub key: String,
    /// The partner's line that creates the chat and sends the message.
    pub from: Handle,
    /// The `to` list: the members, sorted, your own line excluded.
    pub members: Vec<Handle>,
    /// The first message, exactly as the config wrote it.
    pub message: String,
    /// The message's `preferred_service`.
    pub service: Option<Service>,
}

impl ChatPlan {
    /// A chat plan with `action` and nothing else: no name, members or steps; its key is `id`.
    pub fn new(id: &str, action: Action) -> ChatPlan {
        ChatPlan {
            id: id.to_owned(),
            key: id.to_owned(),
            name: None,
            action,
            create: None,
            rekey: None,
            likely_rename_of: None,
            before: None,
            after: None,
            left: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// The create this chat's plan makes; `None` unless its action is `create`.
    pub fn create_request(&self) -> Option<CreateRequest> {
        let create = self.create.as_ref().filter(|_| self.action == Action::Create)?;
        Some(CreateRequest {
            key: self.key.clone(),
            from: create.from.clone(),
            members: self.after.as_deref().unwrap_or_default().to_vec(),
            message: create.message.clone(),
            service: create.service,
        })
    }

    /// The chat as messages name it: its key, and its name when it has one.
    pub fn shown(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({})", self.key, crate::escape::Escaped(name)),
            None => self.key.clone(),
        }
    }
}

/// One step of a chat's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Step {
    Add {
        handle: Handle,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person: Option<String>,
    },
    Remove {
        handle: Handle,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person: Option<String>,
    },
    /// Wait until every earlier step of this chat has landed.
    Wait,
    /// Create the chat (`POST /v3/chats`): the first step of a `create` chat, always alone.
    Create,
    /// Set the chat's display name (`PUT /v3/chats/{id}`), after its membership steps.
    Name { value: String },
    /// Set the chat's icon (`PUT /v3/chats/{id}`), after its membership steps.
    Icon { value: String },
}

impl Step {
    /// The call this step makes; `None` for a wait.
    pub fn change(&self) -> Option<(Op, &Handle)> {
        match self {
            Step::Add { handle, .. } => Some((Op::Add, handle)),
            Step::Remove { handle, .. } => Some((Op::Remove, handle)),
            Step::Wait | Step::Create | Step::Name { .. } | Step::Icon { .. } => None,
        }
    }

    /// The person the config names for the step's handle, if any.
    pub fn person(&self) -> Option<&str> {
        match self {
            Step::Add { person, .. } | Step::Remove { person, .. } => person.as_deref(),
            Step::Wait | Step::Create | Step::Name { .. } | Step::Icon { .. } => None,
        }
    }
}

/// Counts over the whole plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub remove: usize,
    pub wait: usize,
    pub chats_changed: usize,
    pub forget: usize,
    pub unknown: usize,
    /// Chats to create; left out of the JSON when none (as are the counts below).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub create: usize,
    /// Display names to set.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub name: usize,
    /// Icons to set.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub icon: usize,
    /// Chats whose key changes in the state, with no call (`previously:`, `id:`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rekey: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl Plan {
    /// True when there is nothing to show: no chat to change, forget, import or report.
    pub fn is_empty(&self) -> bool {
        self.chats.is_empty()
    }

    /// True when something is pending: a change, a forget, or an unknown chat. A chat listed
    /// only for members who left on their own is not pending: nothing would be done to it.
    pub fn has_changes(&self) -> bool {
        self.chats
            .iter()
            .any(|chat| chat.action != Action::Update || !chat.steps.is_empty() || chat.rekey.is_some())
    }

    /// True when Linq accepted changes that were not seen to land yet.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}
