//! What an apply run did, chat by chat: the value behind the summary and `--format json`.

use serde::Serialize;

use crate::handle::Handle;
use crate::linq::LinqError;
use crate::op::Op;
use crate::plan::{ChatPlan, Step};
use crate::state::PendingChange;
use crate::sync::Drift;

/// Version of the JSON report; fields are only ever added within one version.
pub const REPORT_FORMAT_VERSION: &str = "1";

/// The outcome of one apply run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    pub format_version: String,
    /// Calls Linq accepted (each add and remove once, however many attempts it took).
    pub calls: CallCounts,
    /// Every chat of the plan that had steps, in plan order.
    pub chats: Vec<ChatReport>,
    /// Chats dropped from the state because they left the config (no call).
    pub forgotten: Vec<String>,
    /// Chats in scope left untouched because the state does not hold them, so their members
    /// are unknown (`roster import` reads them). Any fails the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// The run was asked to stop (Ctrl-C): steps not begun were left for the next run.
    pub interrupted: bool,
    /// A failure of the whole run: the token was refused (`401`), or the journal or the state
    /// could not be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many requests were in flight at once; absent when nothing ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyReport>,
}

/// The limit on requests in flight over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConcurrencyReport {
    /// The highest it reached.
    pub peak: usize,
    /// Where it ended.
    #[serde(rename = "final")]
    pub last: usize,
    /// `--parallelism`.
    pub ceiling: usize,
    /// False when it was fixed at the ceiling.
    pub adaptive: bool,
}

/// Accepted calls, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    pub add: usize,
    pub remove: usize,
    /// Chats created (each once, however many sends it took); left out of the JSON when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub create: usize,
    /// Names and icons set (`PUT /v3/chats/{id}`); left out of the JSON when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub looks: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// What happened to one chat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatReport {
    /// The Linq chat id; empty for a chat not created.
    pub id: String,
    /// The chat's key in the config, how reports name it.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub status: ChatStatus,
    /// Accepted calls in this chat.
    pub calls: CallCounts,
    /// Set when `status` is `drift`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// Set when `status` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Accepted changes the final read did not show yet (Linq applies them later).
    #[serde(skip_serializing_if = "Pending::is_empty")]
    pub pending: Pending,
    /// Set when `status` is `never_landed`: changes an earlier run made that Linq accepted but
    /// never applied within `--pending-timeout`. Dropped from the state; the next plan makes them
    /// again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub never_landed: Vec<PendingChange>,
    /// Steps not carried out (after a failure or a stop).
    pub steps_left: usize,
}

/// How a chat ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatStatus {
    /// Every step was carried out.
    Done,
    /// Skipped: its members differ from the state (changed outside roster).
    Drift,
    /// A step failed; the chat's remaining steps were skipped.
    Failed,
    /// Stopped (Ctrl-C or a run-level error) before or between steps.
    Stopped,
    /// Not changed: changes an earlier run made were accepted by Linq but never landed, and the
    /// plan counted on them. They are dropped from the state, and the next plan makes them again.
    NeverLanded,
    /// Its create was sent and nobody can tell yet whether it made the chat (its answer was
    /// lost and the search for the chat failed or was ambiguous): nothing more was sent, its
    /// other steps wait, and the next apply looks again (see [`crate::sync::find_created`]).
    CreateNotSettled,
}

/// Why a chat stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The step that failed; `None` for the read before the first step.
    pub step: Option<Step>,
    /// HTTP status, when Linq answered.
    pub status: Option<u16>,
    /// Linq's error code, when it gave one.
    pub code: Option<i64>,
    pub message: String,
    pub trace_id: Option<String>,
}

/// Accepted changes that have not landed yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub add: Vec<Handle>,
    pub remove: Vec<Handle>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Lists `op` on `handle` as not landed yet.
    pub(crate) fn push(&mut self, op: Op, handle: &Handle) {
        match op {
            Op::Add => self.add.push(handle.clone()),
            Op::Remove => self.remove.push(handle.clone()),
        }
    }
}

impl CallCounts {
    /// Counts one accepted `op`.
    pub(crate) fn count(&mut self, op: Op) {
        match op {
            Op::Add => self.add += 1,
            Op::Remove => self.remove += 1,
        }
    }
}

impl ChatReport {
    /// A chat of `plan` before anything was done to it: stopped, every step left.
    pub(crate) fn untouched(plan: &ChatPlan) -> ChatReport {
        ChatReport {
            id: plan.id.clone(),
            key: plan.key.clone(),
            name: plan.name.clone(),
            status: ChatStatus::Stopped,
            calls: CallCounts::default(),
            drift: None,
            failure: None,
            pending: Pending::default(),
            never_landed: Vec::new(),
            steps_left: plan.steps.len(),
        }
    }
}

impl Failure {
    pub(crate) fn from_error(step: Option<Step>, error: &LinqError) -> Failure {
        Failure {
            step,
            status: error.status(),
            code: error.code(),
            message: error.message(),
            trace_id: error.trace_id().map(str::to_owned),
        }
    }
}

impl ApplyReport {
    pub(crate) fn new() -> ApplyReport {
        ApplyReport {
            format_version: REPORT_FORMAT_VERSION.to_owned(),
            calls: CallCounts::default(),
            chats: Vec::new(),
            forgotten: Vec::new(),
            unknown: Vec::new(),
            interrupted: false,
            error: None,
            concurrency: None,
        }
    }

    /// Chats with the given status.
    pub fn with_status(&self, status: ChatStatus) -> impl Iterator<Item = &ChatReport> {
        self.chats.iter().filter(move |c| c.status == status)
    }

    /// Chats left unchanged because changes of earlier runs never landed.
    pub fn never_landed(&self) -> impl Iterator<Item = &ChatReport> {
        self.with_status(ChatStatus::NeverLanded)
    }

    /// Chats whose create is not settled.
    pub fn not_settled(&self) -> impl Iterator<Item = &ChatReport> {
        self.with_status(ChatStatus::CreateNotSettled)
    }

    /// Chats with accepted changes that have not landed yet.
    pub fn pending(&self) -> impl Iterator<Item = &ChatReport> {
        self.chats.iter().filter(|c| !c.pending.is_empty())
    }

    /// True when every chat was done and the state saved, and none in scope was left unknown:
    /// exit 0. Pending changes do not count against success (Linq applies them later).
    pub fn is_success(&self) -> bool {
        self.error.is_none()
            && !self.interrupted
            && self.unknown.is_empty()
            && self.chats.iter().all(|c| c.status == ChatStatus::Done)
    }
}
