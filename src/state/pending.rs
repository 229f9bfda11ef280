//! Changes Linq accepted that roster has not seen land yet, when Linq accepted each, and when
//! one counts as never landed.
//!
//! The rules:
//!
//! 1. An accepted add puts the handle in the chat's recorded members at once and an accepted
//!    remove takes it out (see [`super::journal`]); the change stays *pending*, with the time
//!    Linq accepted it, until a read of the chat shows it.
//! 2. A pending change is *overdue* once `--pending-timeout` has passed since Linq accepted it.
//!    One accepted at an unknown time (recorded by an older roster) counts as older than any
//!    timeout.
//! 3. A read of the chat that shows a pending change ends it: it landed.
//! 4. A read that does not show an overdue change drops it: accepted by Linq but never landed
//!    (see [`crate::sync::never_landed`]). It is undone in the recorded members (an add taken
//!    out, a remove put back), so the next plan makes the call again instead of calling the chat
//!    drifted.
//! 5. A read that does not show a change still within the timeout keeps it pending and in the
//!    members: roster's own queued work is neither drift nor lost.
//!
//! Offline, nothing shows whether a change landed: plans list the pending changes, mark the
//! overdue ones, and `plan --detailed-exitcode` exits 2 while any is pending.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ChatState;
use crate::clock::Timestamp;
use crate::handle::Handle;
use crate::op::Op;

/// How long a pending change may go unseen by default (`--pending-timeout`).
pub const DEFAULT_PENDING_TIMEOUT: Duration = Duration::from_secs(3600);

/// Accepted, not yet landed changes of one chat, each with when Linq accepted it.
///
/// Serialized as `{"add": [{"handle": …, "accepted_at": …}], "remove": […]}`; a bare handle (as
/// states written before acceptance times were kept hold them) reads as accepted at an unknown
/// time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChanges {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "entries")]
    pub add: BTreeMap<Handle, Option<Timestamp>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "entries")]
    pub remove: BTreeMap<Handle, Option<Timestamp>>,
}

/// One pending change, as plans and reports list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    pub op: Op,
    pub handle: Handle,
    /// When Linq accepted it; null when unknown (recorded by an older roster).
    pub accepted_at: Option<Timestamp>,
    /// Not seen within `--pending-timeout` of being accepted: the next read that does not show
    /// it drops it (rule 4).
    #[serde(default)]
    pub overdue: bool,
}

/// When a pending change counts as overdue: `timeout` after Linq accepted it, as of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingTimeout {
    pub now: Timestamp,
    pub timeout: Duration,
}

/// As of 1970: only changes accepted at an unknown time are overdue. For tests and callers that
/// do not mark overdue changes.
impl Default for PendingTimeout {
    fn default() -> PendingTimeout {
        PendingTimeout {
            now: Timestamp::from_unix(0),
            timeout: DEFAULT_PENDING_TIMEOUT,
        }
    }
}

impl PendingTimeout {
    /// Rule 2: overdue once `timeout` has passed, and always when the time is unknown.
    pub fn is_overdue(&self, accepted_at: Option<Timestamp>) -> bool {
        accepted_at.is_none_or(|at| at.age(self.now) >= self.timeout)
    }
}

impl PendingChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    pub fn len(&self) -> usize {
        self.add.len() + self.remove.len()
    }

    fn side(&self, op: Op) -> &BTreeMap<Handle, Option<Timestamp>> {
        match op {
            Op::Add => &self.add,
            Op::Remove => &self.remove,
        }
    }

    fn side_mut(&mut self, op: Op) -> &mut BTreeMap<Handle, Option<Timestamp>> {
        match op {
            Op::Add => &mut self.add,
            Op::Remove => &mut self.remove,
        }
    }

    /// True when `op` on `handle` is pending.
    pub fn contains(&self, op: Op, handle: &Handle) -> bool {
        self.side(op).contains_key(handle)
    }

    /// Records a change as accepted at `at` and not yet seen (a later change of the same handle
    /// replaces an earlier one).
    pub fn record(&mut self, op: Op, handle: &Handle, at: Option<Timestamp>) {
        self.side_mut(op.opposite()).remove(handle);
        self.side_mut(op).insert(handle.clone(), at);
    }

    /// Forgets a change that was seen to land (rule 3).
    pub fn landed(&mut self, op: Op, handle: &Handle) {
        self.side_mut(op).remove(handle);
    }

    /// Every pending change, adds first, each side sorted by handle, marked overdue per `timeout`.
    pub fn list(&self, timeout: &PendingTimeout) -> Vec<PendingChange> {
        [Op::Add, Op::Remove]
            .into_iter()
            .flat_map(|op| {
                self.side(op).iter().map(move |(handle, &accepted_at)| PendingChange {
                    op,
                    handle: handle.clone(),
                    accepted_at,
                    overdue: timeout.is_overdue(accepted_at),
                })
            })
            .collect()
    }
}

impl ChatState {
    /// Drops `changes` that never landed (rule 4): no longer pending, and undone in the members.
    pub fn drop_never_landed(&mut self, changes: &[PendingChange]) {
        for change in changes {
            self.pending.landed(change.op, &change.handle);
            change.op.opposite().make(&mut self.members, &change.handle);
        }
    }
}

/// The on-disk form of one side of [`PendingChanges`].
mod entries {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::clock::Timestamp;
    use crate::handle::Handle;

    #[derive(Serialize)]
    struct Out<'a> {
        handle: &'a Handle,
        #[serde(skip_serializing_if = "Option::is_none")]
        accepted_at: &'a Option<Timestamp>,
    }

    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "a pending change: a handle, or an object with a `handle` and an `accepted_at` time"
    )]
    enum In {
        /// As written before acceptance times were kept.
        Bare(Handle),
        Full {
            handle: Handle,
            #[serde(default)]
            accepted_at: Option<Timestamp>,
        },
    }

    pub fn serialize<S: Serializer>(
        side: &BTreeMap<Handle, Option<Timestamp>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(side.iter().map(|(handle, accepted_at)| Out { handle, accepted_at }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<Handle, Option<Timestamp>>, D::Error> {
        let entries = Vec::<In>::deserialize(deserializer)?;
        Ok(entries
            .into_iter()
            .map(|entry| match entry {
                In::Bare(handle) => (handle, None),
                In::Full { handle, accepted_at } => (handle, accepted_at),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str) -> Handle {
        Handle::parse(text).unwrap()
    }

    fn at(seconds: u64) -> Option<Timestamp> {
        Some(Timestamp::from_unix(seconds))
    }

    #[test]
    fn old_bare_handles_read_as_accepted_at_an_unknown_time_and_new_entries_keep_theirs() {
        let old: PendingChanges = serde_json::from_str(r#"{"add": ["+15550000001"], "remove": ["a@b.c"]}"#).unwrap();
        assert_eq!(old.add, BTreeMap::from([(h("+15550000001"), None)]));
        assert_eq!(old.remove, BTreeMap::from([(h("a@b.c"), None)]));

        let mut new = PendingChanges::default();
        new.record(Op::Add, &h("+15550000002"), at(1_767_605_400));
        new.record(Op::Remove, &h("+15550000003"), None);
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(
            json,
            r#"{"add":[{"handle":"+15550000002","accepted_at":"2026-01-05T09:30:00.000Z"}],"remove":[{"handle":"+15550000003"}]}"#
        );
        assert_eq!(serde_json::from_str::<PendingChanges>(&json).unwrap(), new);

        let error = serde_json::from_str::<PendingChanges>(r#"{"add": [7]}"#).unwrap_err();
        assert!(error.to_string().contains("a pending change"), "{error}");
    }

    #[test]
    fn a_change_is_overdue_after_the_timeout_and_always_when_its_time_is_unknown() {
        let timeout = PendingTimeout {
            now: Timestamp::from_unix(10_000),
            timeout: Duration::from_secs(3600),
        };
        assert!(!timeout.is_overdue(at(10_000 - 3599)));
        assert!(timeout.is_overdue(at(10_000 - 3600)));
        assert!(timeout.is_overdue(None));
        assert!(
            !timeout.is_overdue(at(20_000)),
            "a time ahead of the clock is not overdue"
        );
    }
}
