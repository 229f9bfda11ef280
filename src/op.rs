//! The two changes roster makes to a chat's membership, and what each means: which member set
//! shows it, how it is undone, what it is called.

use serde::{Deserialize, Serialize};

use crate::handle::Handle;
use crate::members::Members;

/// A mutating call: add a handle to a chat, or remove one from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Remove,
}

impl Op {
    /// The change that undoes this one.
    pub fn opposite(self) -> Op {
        match self {
            Op::Add => Op::Remove,
            Op::Remove => Op::Add,
        }
    }

    /// `add` or `remove`, as plans, reports and the journal spell it.
    pub fn verb(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
        }
    }

    /// True when a chat in which the handle is a member (`present`) or not shows this change
    /// of it: an add once the handle is a member, a remove once it is not.
    pub fn shown_by(self, present: bool) -> bool {
        match self {
            Op::Add => present,
            Op::Remove => !present,
        }
    }

    /// True when the member set `members` shows this change of `handle`.
    pub fn shows_in(self, members: &Members, handle: &Handle) -> bool {
        self.shown_by(members.contains(handle))
    }

    /// Makes this change of `handle` in `members`.
    pub fn make(self, members: &mut Members, handle: &Handle) {
        match self {
            Op::Add => {
                members.insert(handle.clone());
            }
            Op::Remove => {
                members.remove(handle);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_shows_where_it_was_made_and_its_opposite_undoes_it() {
        let handle = Handle::parse("+15550000001").unwrap();
        for op in [Op::Add, Op::Remove] {
            let mut members = crate::members::Members::from([Handle::parse("+15550000002").unwrap()]);
            if op == Op::Remove {
                members.insert(handle.clone());
            }
            let before = members.clone();
            assert!(!op.shows_in(&members, &handle), "{op:?} not made yet");
            op.make(&mut members, &handle);
            assert!(op.shows_in(&members, &handle), "{op:?} made");
            assert!(!op.opposite().shows_in(&members, &handle));
            op.opposite().make(&mut members, &handle);
            assert_eq!(members, before, "{op:?} undone");
        }
        assert_eq!(serde_json::to_string(&Op::Remove).unwrap(), "\"remove\"");
        assert_eq!(Op::Add.verb(), "add");
    }
}
