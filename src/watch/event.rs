//! What a verified webhook says: its `event_id` (for handling it once), its type, and the chat
//! it names. Only these are read; the rest of the payload is a hint at most, since an event is
//! never taken as the truth about a chat: the chat is read again.

use serde_json::Value;

use crate::chat_id::check_chat_id;

/// The event types roster acts on (`X-Webhook-Event`, the envelope's `event_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    ParticipantAdded,
    ParticipantRemoved,
    NameUpdated,
    IconUpdated,
    NameUpdateFailed,
    IconUpdateFailed,
    ChatCreated,
    /// Any other type (messages, reactions, ...): answered `200` and ignored.
    Other,
}

impl Kind {
    fn of(event_type: &str) -> Kind {
        match event_type {
            "participant.added" => Kind::ParticipantAdded,
            "participant.removed" => Kind::ParticipantRemoved,
            "chat.group_name_updated" => Kind::NameUpdated,
            "chat.group_icon_updated" => Kind::IconUpdated,
            "chat.group_name_update_failed" => Kind::NameUpdateFailed,
            "chat.group_icon_update_failed" => Kind::IconUpdateFailed,
            "chat.created" => Kind::ChatCreated,
            _ => Kind::Other,
        }
    }
}

/// A webhook's envelope, as far as roster reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub event_id: String,
    /// As sent, for the metrics and the findings (escaped where shown).
    pub event_type: String,
    pub kind: Kind,
    /// The chat it names; `None` for an event of a type roster ignores.
    pub chat_id: Option<String>,
    /// `data.old_value` and `data.new_value` of a name or icon update.
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// `data.error_code` of a failed update.
    pub error_code: Option<i64>,
    /// `data.updated_at` of an update (RFC 3339): webhooks may come out of order, and only the
    /// latest update of a chat's icon counts.
    pub updated_at: Option<String>,
}

/// Why a signed body is not a webhook roster can read: answered `400`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the envelope has no string `{0}`")]
    Missing(&'static str),
    #[error("`data.chat_id` is not a chat id")]
    NotAChatId,
}

/// Reads the envelope of a verified webhook.
pub fn parse(body: &[u8]) -> Result<Envelope, Malformed> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Malformed::NotJson(e.to_string()))?;
    let text = |field: &'static str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .ok_or(Malformed::Missing(field))
    };
    let event_id = text("event_id")?.to_owned();
    let event_type = text("event_type")?.to_owned();
    let kind = Kind::of(&event_type);
    let data = value.get("data").filter(|data| data.is_object());
    let chat_id = match (&kind, data) {
        (Kind::Other, _) => None,
        (_, None) => return Err(Malformed::Missing("data")),
        // A created chat is the `Chat` itself.
        (Kind::ChatCreated, Some(data)) => Some(chat_id(data.get("id"))?),
        (_, Some(data)) => Some(chat_id(data.get("chat_id"))?),
    };
    let field = |name: &str| {
        data.and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(Envelope {
        event_id,
        event_type,
        chat_id,
        old_value: field("old_value"),
        new_value: field("new_value"),
        error_code: data.and_then(|d| d.get("error_code")).and_then(Value::as_i64),
        updated_at: field("updated_at"),
        kind,
    })
}

/// A chat id as Linq spells them (UUIDs): at most 100 letters, digits, `-`, `_` and `.`, and
/// one segment of a URL path. A webhook names no chat by anything else.
fn chat_id(value: Option<&Value>) -> Result<String, Malformed> {
    let id = value.and_then(Value::as_str).ok_or(Malformed::NotAChatId)?;
    let spelled = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.len() > 100 || !id.chars().all(spelled) || check_chat_id(id).is_err() {
        return Err(Malformed::NotAChatId);
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_name_their_chat_and_others_are_refused() {
        let added =
            br#"{"event_id":"e1","event_type":"participant.added","data":{"chat_id":"c-1","handle":"+12055550100"}}"#;
        let envelope = parse(added).unwrap();
        assert_eq!(
            (envelope.kind, envelope.chat_id.as_deref()),
            (Kind::ParticipantAdded, Some("c-1"))
        );
        let created = br#"{"event_id":"e2","event_type":"chat.created","data":{"id":"c-2"}}"#;
        assert_eq!(parse(created).unwrap().chat_id.as_deref(), Some("c-2"));
        let renamed = br#"{"event_id":"e3","event_type":"chat.group_name_updated","data":{"chat_id":"c","old_value":null,"new_value":"Ops"}}"#;
        let renamed = parse(renamed).unwrap();
        assert_eq!((renamed.old_value, renamed.new_value.as_deref()), (None, Some("Ops")));
        let other = br#"{"event_id":"e4","event_type":"message.received","data":{"chat":{}}}"#;
        assert_eq!(parse(other).unwrap().kind, Kind::Other);
        for (body, error) in [
            (&b"not json"[..], "not JSON"),
            (br#"{"event_type":"participant.added","data":{}}"#, "event_id"),
            (br#"{"event_id":"e","event_type":"participant.added"}"#, "data"),
            (
                br#"{"event_id":"e","event_type":"participant.added","data":{"chat_id":".."}}"#,
                "chat id",
            ),
            (
                br#"{"event_id":"e","event_type":"participant.added","data":{"chat_id":42}}"#,
                "chat id",
            ),
            (
                br#"{"event_id":"e","event_type":"participant.added","data":{"chat_id":"a b"}}"#,
                "chat id",
            ),
            (
                br#"{"event_id":"e","event_type":"participant.added","data":{"chat_id":"../phone_numbers"}}"#,
                "chat id",
            ),
        ] {
            let refused = parse(body).unwrap_err().to_string();
            assert!(refused.contains(error), "{refused}");
        }
    }
}
