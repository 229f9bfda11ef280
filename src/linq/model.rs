//! The shapes of Linq's answers that roster reads: `Chat`, `ChatHandle`, a page of chats and the
//! `202 accepted` body. Unknown fields are ignored so newer API versions keep parsing.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::handle::Handle;

/// A chat as `GET /v3/chats/{id}` returns it (the fields roster uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `iMessage`, `SMS` or `RCS`; null when Linq does not say.
    #[serde(default)]
    pub service: Option<String>,
    /// Every participant, your own line included (`is_me: true`).
    #[serde(default)]
    pub handles: Vec<ChatHandle>,
    #[serde(default)]
    pub is_group: bool,
    #[serde(default)]
    pub is_archived: bool,
}

/// One participant of a chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatHandle {
    #[serde(default)]
    pub id: Option<String>,
    /// As Linq spells it; canonicalized by [`ChatHandle::canonical`].
    pub handle: String,
    #[serde(default)]
    pub service: Option<String>,
    /// `active`, `left` or `removed`; null means active.
    #[serde(default)]
    pub status: Option<String>,
    /// True for your own line, which roster never adds or removes.
    #[serde(default)]
    pub is_me: Option<bool>,
}

/// One page of `GET /v3/chats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatPage {
    pub chats: Vec<Chat>,
    /// Pass back as `cursor` for the next page; null on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Linq queued an add or a remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// Linq's trace id of the accepting answer; absent when the outcome was learnt by reading
    /// the chat rather than from a `202`.
    pub trace_id: Option<String>,
    /// How roster knows the change was accepted.
    pub via: AcceptedVia,
}

/// How an add or a remove came to count as accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptedVia {
    /// A `202 accepted` answer.
    Answer,
    /// The chat already shows the change (e.g. a `409 2015` because it is already so).
    AlreadySo,
    /// An earlier attempt whose answer was lost queued it: a retry was refused as a duplicate.
    EarlierAttempt,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AcceptedBody {
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl ChatHandle {
    /// True when the participant is in the chat now (`status` null or `active`).
    pub fn is_active(&self) -> bool {
        matches!(self.status.as_deref(), None | Some("active"))
    }

    /// True for your own line.
    pub fn is_me(&self) -> bool {
        self.is_me == Some(true)
    }

    /// The canonical handle, or `None` when Linq sent something that is not a handle.
    pub fn canonical(&self) -> Option<Handle> {
        Handle::parse(&self.handle).ok()
    }
}

impl Chat {
    /// Active participants other than your own line: what roster calls the chat's members.
    pub fn members(&self) -> BTreeSet<Handle> {
        self.handles
            .iter()
            .filter(|h| h.is_active() && !h.is_me())
            .filter_map(ChatHandle::canonical)
            .collect()
    }

    /// Participants who left on their own (`status: left`), your own line excluded. Someone who
    /// left and came back may be listed twice, once as left and once as active: a member now,
    /// they have not left.
    pub fn left(&self) -> BTreeSet<Handle> {
        let members = self.members();
        self.handles
            .iter()
            .filter(|h| h.status.as_deref() == Some("left") && !h.is_me())
            .filter_map(ChatHandle::canonical)
            .filter(|handle| !members.contains(handle))
            .collect()
    }

    /// True when `handle` is an active participant.
    pub fn has_member(&self, handle: &Handle) -> bool {
        self.handles
            .iter()
            .any(|h| h.is_active() && h.canonical().as_ref() == Some(handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_exclude_me_and_inactive_and_canonicalize() {
        let chat: Chat = serde_json::from_value(serde_json::json!({
            "id": "c1", "display_name": null, "service": "iMessage", "is_group": true,
            "is_archived": false, "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z", "health_status": {"status": "ok"},
            "handles": [
                {"id": "h0", "handle": "+15550000000", "service": "iMessage", "is_me": true,
                 "joined_at": "2025-01-01T00:00:00Z"},
                {"id": "h1", "handle": "+15550000001", "service": "iMessage", "status": null,
                 "joined_at": "2025-01-01T00:00:00Z", "line_type": "mobile"},
                {"id": "h2", "handle": "Bob@Example.com", "service": "iMessage",
                 "status": "active", "joined_at": "2025-01-01T00:00:00Z", "is_me": false},
                {"id": "h3", "handle": "+15550000003", "service": "iMessage", "status": "left",
                 "joined_at": "2025-01-01T00:00:00Z"},
                {"id": "h4", "handle": "+15550000004", "service": "iMessage", "status": "removed",
                 "joined_at": "2025-01-01T00:00:00Z"}
            ]
        }))
        .unwrap();
        let members: Vec<String> = chat.members().iter().map(|h| h.to_string()).collect();
        assert_eq!(members, ["+15550000001", "bob@example.com"]);
        let left: Vec<String> = chat.left().iter().map(|h| h.to_string()).collect();
        assert_eq!(left, ["+15550000003"]);
        assert!(chat.has_member(&Handle::parse("bob@example.com").unwrap()));
        assert!(!chat.has_member(&Handle::parse("+15550000004").unwrap()));
    }

    /// Found by the `linq_answer` fuzz target: a handle listed as left and again as active (left,
    /// then came back) was both a member and one who left, so a later plan would have taken them
    /// for someone who left on their own.
    #[test]
    fn someone_listed_as_left_and_as_active_is_a_member_only() {
        let chat: Chat = serde_json::from_value(serde_json::json!({
            "id": "c1", "is_group": true,
            "handles": [
                {"handle": "+15550000001", "status": "left"},
                {"handle": "+1 555 000 0001", "status": "active"},
                {"handle": "+15550000002", "status": "left"}
            ]
        }))
        .unwrap();
        let members: Vec<String> = chat.members().iter().map(|h| h.to_string()).collect();
        let left: Vec<String> = chat.left().iter().map(|h| h.to_string()).collect();
        assert_eq!(members, ["+15550000001"]);
        assert_eq!(left, ["+15550000002"]);
    }
}
