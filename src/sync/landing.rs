//! Did roster's own changes land? Pending changes held against a read of their chat (the rules
//! of [`crate::state::pending`]).

use std::collections::BTreeSet;

use crate::handle::Handle;
use crate::state::{PendingChange, PendingChanges, PendingTimeout};

/// The overdue changes of `pending` that a chat with live `members` does not show: accepted by
/// Linq but never landed (rule 4).
pub fn never_landed(
    pending: &PendingChanges,
    members: &BTreeSet<Handle>,
    timeout: &PendingTimeout,
) -> Vec<PendingChange> {
    pending
        .list(timeout)
        .into_iter()
        .filter(|change| change.overdue && !change.op.shows_in(members, &change.handle))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::Timestamp;
    use crate::op::Op;
    use crate::state::ChatState;

    fn h(text: &str) -> Handle {
        Handle::parse(text).unwrap()
    }

    fn at(seconds: u64) -> Option<Timestamp> {
        Some(Timestamp::from_unix(seconds))
    }

    #[test]
    fn only_overdue_changes_the_chat_does_not_show_never_landed_and_dropping_undoes_them() {
        let timeout = PendingTimeout {
            now: Timestamp::from_unix(10_000),
            timeout: Duration::from_secs(60),
        };
        let mut chat = ChatState {
            members: [
                h("+15550000001"),
                h("+15550000002"),
                h("+15550000003"),
                h("+15550000004"),
            ]
            .into(),
            ..ChatState::default()
        };
        // Overdue and not shown: never landed. Overdue and shown: landed. Recent: still pending.
        chat.pending.record(Op::Add, &h("+15550000003"), at(100));
        chat.pending.record(Op::Add, &h("+15550000004"), None);
        chat.pending.record(Op::Remove, &h("+15550000009"), at(100));
        chat.pending.record(Op::Add, &h("+15550000002"), at(9_990));
        let live: BTreeSet<Handle> = [h("+15550000001"), h("+15550000004"), h("+15550000009")].into();
        let never = never_landed(&chat.pending, &live, &timeout);
        let listed: Vec<(Op, String)> = never.iter().map(|c| (c.op, c.handle.to_string())).collect();
        assert_eq!(
            listed,
            [
                (Op::Add, "+15550000003".to_owned()),
                (Op::Remove, "+15550000009".to_owned())
            ]
        );
        chat.drop_never_landed(&never);
        let members: Vec<String> = chat.members.iter().map(Handle::to_string).collect();
        assert_eq!(
            members,
            ["+15550000001", "+15550000002", "+15550000004", "+15550000009"]
        );
        assert_eq!(
            chat.pending.len(),
            2,
            "the landed and the recent change stay until a read ends them"
        );
    }
}
