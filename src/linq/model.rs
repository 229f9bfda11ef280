//! The shapes of Linq's answers that roster reads: `Chat`, `ChatHandle`, a page of chats and the
//! `202 accepted` body. Unknown fields are ignored so newer API versions keep parsing.
//!
//! A chat answer is checked against what roster relies on from Linq's schema before anything
//! uses it: `id` (one URL path segment), `handles` (an array), `is_group`, and `display_name`
//! (required, may be null) must be there with their types; each participant's `handle` must be
//! a phone number or an email address, and its `status` `active`, `left`, `removed` or null
//! (active). `is_me` null or missing means "not your line", and a chat in which no participant
//! is your line is refused: roster could not tell your line from the members, and would plan to
//! remove it. Guessing instead (an absent `handles` read as an empty chat) would record every
//! member as removed outside roster.

use serde::{Deserialize, Deserializer, Serialize};

use super::LinqError;
use crate::chat_id::check_chat_id;
use crate::clock::Timestamp;
use crate::escape::Escaped;
use crate::handle::Handle;
use crate::members::Members;
use crate::op::Op;

/// A chat as `GET /v3/chats/{id}` returns it (the fields roster uses), checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    pub id: String,
    pub display_name: Option<String>,
    /// `iMessage`, `SMS` or `RCS`; null when Linq does not say.
    pub service: Option<String>,
    /// Every participant, your own line included (`is_me: true`).
    pub handles: Vec<ChatHandle>,
    pub is_group: bool,
    pub is_archived: bool,
    /// When Linq made the chat, when its answer says so readably. Only the search for a chat
    /// roster created relies on it (a chat made after the create's intent may be that chat), and
    /// fails without it; every other use of a chat reads on without.
    pub created_at: Option<Timestamp>,
}

/// One participant of a chat.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatHandle {
    pub id: Option<String>,
    /// Canonical, whatever spelling Linq used.
    pub handle: Handle,
    pub service: Option<String>,
    pub status: ParticipantStatus,
    /// True for your own line, which roster never adds or removes.
    pub is_me: bool,
}

/// A participant's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantStatus {
    /// `active`, or null.
    Active,
    /// Left the chat on their own.
    Left,
    /// Taken out of the chat.
    Removed,
}

/// One page of `GET /v3/chats`, every chat on it checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPage {
    pub chats: Vec<Chat>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `Chat` as it crosses the wire: required fields are required, types are checked.
#[derive(Debug, Deserialize)]
struct WireChat {
    id: String,
    #[serde(deserialize_with = "nullable")]
    display_name: Option<String>,
    #[serde(default)]
    service: Option<String>,
    handles: Vec<WireHandle>,
    is_group: bool,
    #[serde(default)]
    is_archived: bool,
    #[serde(default)]
    created_at: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct WireHandle {
    #[serde(default)]
    id: Option<String>,
    handle: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    is_me: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct WirePage {
    chats: Vec<WireChat>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// A field that must be present but may be null (serde makes a plain `Option` field optional).
fn nullable<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::deserialize(deserializer)
}

impl Chat {
    /// Reads and checks the body of `GET /v3/chats/{id}`. The error says what is wrong; the
    /// caller names the chat.
    pub fn parse(body: &[u8]) -> Result<Chat, String> {
        let wire: WireChat =
            serde_json::from_slice(body).map_err(|e| format!("the answer breaks Linq's schema: {e}"))?;
        Chat::checked(wire)
    }

    fn checked(wire: WireChat) -> Result<Chat, String> {
        let mut handles = Vec::with_capacity(wire.handles.len());
        for participant in wire.handles {
            let handle =
                Handle::parse(&participant.handle).map_err(|e| format!("a participant is not a handle: {e}"))?;
            let status = match participant.status.as_deref() {
                None | Some("active") => ParticipantStatus::Active,
                Some("left") => ParticipantStatus::Left,
                Some("removed") => ParticipantStatus::Removed,
                Some(other) => {
                    return Err(format!(
                        "participant `{handle}` has status `{}`, and Linq documents only `active`, `left`, `removed` or null",
                        Escaped(other)
                    ))
                }
            };
            handles.push(ChatHandle {
                id: participant.id,
                handle,
                service: participant.service,
                status,
                is_me: participant.is_me == Some(true),
            });
        }
        if !handles.iter().any(|h| h.is_me) {
            return Err(
                "no participant is marked `is_me: true`, so roster cannot tell your own line from the members"
                    .to_owned(),
            );
        }
        Ok(Chat {
            id: wire.id,
            display_name: wire.display_name,
            service: wire.service,
            handles,
            is_group: wire.is_group,
            is_archived: wire.is_archived,
            created_at: wire.created_at.as_ref().and_then(created_at),
        })
    }
}

/// A `created_at` roster can compare: RFC 3339 in UTC, as Linq writes it. Anything else is no
/// time at all (and a search that needs it fails rather than guess).
fn created_at(value: &serde_json::Value) -> Option<Timestamp> {
    serde_json::from_value::<Timestamp>(value.clone()).ok()
}

impl Chat {
    /// Reads and checks the body of a `201` to `POST /v3/chats` (`CreateChatResult`): the chat
    /// is under `chat`, with the fields of a `Chat` roster relies on.
    pub fn parse_created(body: &[u8]) -> Result<Chat, String> {
        #[derive(Deserialize)]
        struct Created {
            chat: WireChat,
        }
        let wire: Created =
            serde_json::from_slice(body).map_err(|e| format!("the answer breaks Linq's schema: {e}"))?;
        check_chat_id(&wire.chat.id).map_err(|e| format!("Linq made a chat roster cannot address: {e}"))?;
        Chat::checked(wire.chat)
    }
}

impl ChatPage {
    /// Reads and checks a page of `GET /v3/chats`; the error names the chat at fault.
    pub fn parse(body: &[u8]) -> Result<ChatPage, String> {
        let wire: WirePage =
            serde_json::from_slice(body).map_err(|e| format!("a page of chats breaks Linq's schema: {e}"))?;
        let chats = wire
            .chats
            .into_iter()
            .map(|chat| {
                let id = chat.id.clone();
                check_chat_id(&id).map_err(|e| format!("Linq listed a chat roster cannot address: {e}"))?;
                Chat::checked(chat).map_err(|e| format!("listed chat `{id}`: {e}"))
            })
            .collect::<Result<_, String>>()?;
        Ok(ChatPage {
            chats,
            next_cursor: wire.next_cursor,
        })
    }
}

/// One of the partner's lines, as `GET /v3/phone_numbers` lists it (`PhoneNumberInfoV2`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PhoneNumber {
    pub id: String,
    /// E.164, as Linq spells it.
    pub phone_number: String,
}

#[derive(Deserialize)]
struct WirePhoneNumbers {
    phone_numbers: Vec<PhoneNumber>,
}

impl PhoneNumber {
    /// Reads the list `GET /v3/phone_numbers` answers (`ListPhoneNumbersResultV2`); anything
    /// else is not Linq's answer.
    pub fn parse_list(body: &[u8]) -> Result<Vec<PhoneNumber>, String> {
        let wire: WirePhoneNumbers =
            serde_json::from_slice(body).map_err(|e| format!("the list of phone numbers breaks Linq's schema: {e}"))?;
        Ok(wire.phone_numbers)
    }
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

/// What Linq's answers said of an add or a remove, before anything read the chat. Whether the
/// change landed when they leave it open is decided in [`crate::sync`] (`sync/landing.rs`).
/// A call that surely failed is an error instead.
#[derive(Debug, Clone)]
pub enum ChangeAnswer {
    /// `202 accepted`: Linq queued it.
    Accepted { trace_id: Option<String> },
    /// `409 2015` ("conflicts with current state"): the chat may show the change already, or,
    /// when an attempt before it failed in a way that may have taken effect (`after_unknown`),
    /// that attempt may have queued it.
    Conflict { error: LinqError, after_unknown: bool },
    /// Attempts failed in ways that may have taken effect (answers lost, server faults), and no
    /// more were made (the retries were used up, or the run was asked to stop); `last` is the
    /// last failure.
    Unknown { last: LinqError },
}

#[derive(Debug, Deserialize)]
pub(crate) struct AcceptedBody {
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl ChatHandle {
    /// True when the participant is in the chat now (`status` null or `active`).
    pub fn is_active(&self) -> bool {
        self.status == ParticipantStatus::Active
    }
}

impl Chat {
    /// Active participants other than your own line: what roster calls the chat's members.
    pub fn members(&self) -> Members {
        self.handles
            .iter()
            .filter(|h| h.is_active() && !h.is_me)
            .map(|h| h.handle.clone())
            .collect()
    }

    /// Participants who left on their own (`status: left`), your own line excluded. Someone who
    /// left and came back may be listed twice, once as left and once as active: a member now,
    /// they have not left.
    pub fn left(&self) -> Members {
        let members = self.members();
        self.handles
            .iter()
            .filter(|h| h.status == ParticipantStatus::Left && !h.is_me)
            .map(|h| h.handle.clone())
            .filter(|handle| !members.contains(handle))
            .collect()
    }

    /// True when `handle` is an active participant.
    pub fn has_member(&self, handle: &Handle) -> bool {
        self.handles.iter().any(|h| h.is_active() && &h.handle == handle)
    }

    /// True when the chat shows the effect of `op` on `handle`: Linq has applied it.
    pub fn shows(&self, op: Op, handle: &Handle) -> bool {
        op.shown_by(self.has_member(handle))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// A chat answer as Linq documents it: your line and two members.
    fn answer() -> Value {
        json!({
            "id": "c1", "display_name": "Sales", "service": "iMessage", "is_group": true,
            "is_archived": false, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
            "handles": [
                {"id": "h0", "handle": "+15550000000", "service": "iMessage", "status": "active",
                 "joined_at": "2025-01-01T00:00:00Z", "is_me": true},
                {"id": "h1", "handle": "+15550000001", "service": "iMessage", "status": "active",
                 "joined_at": "2025-01-01T00:00:00Z", "is_me": false},
                {"id": "h2", "handle": "+15550000002", "service": "iMessage", "status": "active",
                 "joined_at": "2025-01-01T00:00:00Z", "is_me": false}
            ]
        })
    }

    fn parse(value: &Value) -> Result<Chat, String> {
        Chat::parse(&serde_json::to_vec(value).unwrap())
    }

    /// The answer with `edit` applied, refused with a message containing `expected`.
    fn refused(edit: impl FnOnce(&mut Value), expected: &str) {
        let mut value = answer();
        edit(&mut value);
        let err = parse(&value).expect_err(expected);
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn a_chat_missing_or_mistyping_a_required_field_is_refused() {
        assert!(parse(&answer()).is_ok());
        for field in ["id", "handles", "is_group", "display_name"] {
            refused(
                |v| drop(v.as_object_mut().unwrap().remove(field)),
                &format!("missing field `{field}`"),
            );
        }
        refused(
            |v| v["handles"] = json!({"0": {}}),
            "invalid type: map, expected a sequence",
        );
        refused(
            |v| v["handles"] = Value::Null,
            "invalid type: null, expected a sequence",
        );
        refused(|v| v["is_group"] = json!("yes"), "expected a boolean");
        refused(|v| v["id"] = json!(7), "expected a string");
        refused(
            |v| drop(v["handles"][1].as_object_mut().unwrap().remove("handle")),
            "missing field `handle`",
        );
        refused(|v| v["handles"][1]["is_me"] = json!("no"), "expected a boolean");
        // Null is allowed where Linq documents it.
        let mut value = answer();
        value["display_name"] = Value::Null;
        value["service"] = Value::Null;
        value["handles"][1]["status"] = Value::Null;
        let chat = parse(&value).unwrap();
        assert_eq!(chat.display_name, None);
        assert_eq!(chat.members().len(), 2);
    }

    #[test]
    fn a_participant_roster_cannot_read_is_refused() {
        refused(
            |v| v["handles"][1]["handle"] = json!("not a handle"),
            "a participant is not a handle: `not a handle`",
        );
        refused(
            |v| v["handles"][1]["handle"] = json!("+1 555 000 0001\u{1b}"),
            "a participant is not a handle",
        );
        refused(
            |v| v["handles"][2]["handle"] = json!("ann@exa\u{202e}mple.com"),
            "`ann@exa\\u{202e}mple.com`",
        );
        refused(
            |v| v["handles"][1]["status"] = json!("banned"),
            "participant `+15550000001` has status `banned`, and Linq documents only",
        );
    }

    #[test]
    fn a_chat_without_your_own_line_is_refused_whether_is_me_is_missing_null_or_false() {
        let expected = "no participant is marked `is_me: true`";
        refused(
            |v| drop(v["handles"][0].as_object_mut().unwrap().remove("is_me")),
            expected,
        );
        refused(|v| v["handles"][0]["is_me"] = Value::Null, expected);
        refused(|v| v["handles"][0]["is_me"] = json!(false), expected);
        // A member's `is_me` missing or null means "not your line".
        let mut value = answer();
        value["handles"][1]["is_me"] = Value::Null;
        value["handles"][2].as_object_mut().unwrap().remove("is_me");
        assert_eq!(parse(&value).unwrap().members().len(), 2);
    }

    #[test]
    fn a_page_names_the_listed_chat_at_fault_and_refuses_ids_that_are_not_one_path_segment() {
        let page = |chats: Vec<Value>| {
            ChatPage::parse(&serde_json::to_vec(&json!({"chats": chats, "next_cursor": null})).unwrap())
        };
        assert_eq!(page(vec![answer(), answer()]).unwrap().chats.len(), 2);
        let mut broken = answer();
        broken["id"] = json!("c2");
        broken["handles"][0]["is_me"] = json!(false);
        let err = page(vec![answer(), broken]).unwrap_err();
        assert!(err.starts_with("listed chat `c2`: no participant is marked"), "{err}");
        for id in ["..", "a\tb", ""] {
            let mut odd = answer();
            odd["id"] = json!(id);
            let err = page(vec![odd]).unwrap_err();
            assert!(err.starts_with("Linq listed a chat roster cannot address"), "{err}");
        }
        let err = ChatPage::parse(br#"{"next_cursor": null}"#).unwrap_err();
        assert!(err.contains("missing field `chats`"), "{err}");
    }

    #[test]
    fn members_exclude_me_and_inactive_and_canonicalize() {
        let chat = Chat::parse(
            &serde_json::to_vec(&serde_json::json!({
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
            .unwrap(),
        )
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
        let body = serde_json::json!({
            "id": "c1", "display_name": null, "is_group": true,
            "handles": [
                {"handle": "+15550000099", "is_me": true},
                {"handle": "+15550000001", "status": "left"},
                {"handle": "+1 555 000 0001", "status": "active"},
                {"handle": "+15550000002", "status": "left"}
            ]
        });
        let chat = Chat::parse(body.to_string().as_bytes()).unwrap();
        let members: Vec<String> = chat.members().iter().map(|h| h.to_string()).collect();
        let left: Vec<String> = chat.left().iter().map(|h| h.to_string()).collect();
        assert_eq!(members, ["+15550000001"]);
        assert_eq!(left, ["+15550000002"]);
    }

    #[test]
    fn the_list_of_phone_numbers_is_linq_s_shape_or_refused() {
        let body = br#"{"phone_numbers": [{"id": "550e8400-e29b-41d4-a716-446655440000", "phone_number": "+12025551234", "extra": 1}]}"#;
        let lines = PhoneNumber::parse_list(body).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].phone_number, "+12025551234");
        for other in [
            &b"<html>Not Found</html>"[..],
            br#"{"chats": []}"#,
            br#"{"phone_numbers": [{"id": 7}]}"#,
        ] {
            let error = PhoneNumber::parse_list(other).unwrap_err();
            assert!(
                error.starts_with("the list of phone numbers breaks Linq's schema"),
                "{error}"
            );
        }
    }
}
