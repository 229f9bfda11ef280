//! The planner: pure functions from (Desired, State) to a [`Plan`]. No I/O.
//!
//! For every chat it computes `adds = desired - current` and `removes = current - desired`
//! and orders them so that the floor and the cap hold at every step, counting confirmed members
//! for the floor and confirmed + queued members for the cap, with `wait` steps only where a
//! later step needs earlier ones to have landed.

use serde::{Deserialize, Serialize};

use crate::handle::Handle;
use crate::op::Op;
use crate::state::{PendingChange, PendingTimeout};

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
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: Action,
    /// Members before (from the state); absent for `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Vec<Handle>>,
    /// Members after; absent for `forget` and `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<Handle>>,
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
}

impl Step {
    /// The call this step makes; `None` for a wait.
    pub fn change(&self) -> Option<(Op, &Handle)> {
        match self {
            Step::Add { handle, .. } => Some((Op::Add, handle)),
            Step::Remove { handle, .. } => Some((Op::Remove, handle)),
            Step::Wait => None,
        }
    }

    /// The person the config names for the step's handle, if any.
    pub fn person(&self) -> Option<&str> {
        match self {
            Step::Add { person, .. } | Step::Remove { person, .. } => person.as_deref(),
            Step::Wait => None,
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
            .any(|chat| chat.action != Action::Update || !chat.steps.is_empty())
    }

    /// True when Linq accepted changes that were not seen to land yet.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}
