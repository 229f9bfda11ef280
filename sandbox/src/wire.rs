//! The JSON the API answers with, shaped as Linq's OpenAPI schemas `Chat`, `ChatHandle`,
//! `ListChatsResult`, `CreateChatResult` (with its `SentMessage`), `ListPhoneNumbersResultV2`
//! and `ErrorResponse` define them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::world::{ApiError, ChatRecord, Effect, Line, Message, Participant};

/// `Chat`.
#[derive(Debug, Serialize)]
pub struct Chat<'a> {
    id: &'a str,
    display_name: Option<&'a str>,
    service: &'static str,
    handles: Vec<ChatHandle<'a>>,
    is_archived: bool,
    is_group: bool,
    created_at: String,
    updated_at: String,
}

/// `ChatHandle`.
#[derive(Debug, Serialize)]
pub struct ChatHandle<'a> {
    id: &'a str,
    handle: &'a str,
    service: &'static str,
    status: &'static str,
    joined_at: String,
    left_at: Option<String>,
    is_me: bool,
}

/// `ListChatsResult`, of [`Chat`]s (or of their JSON, when some are tampered with).
#[derive(Debug, Serialize)]
pub struct ListChatsResult<T> {
    pub chats: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `ListPhoneNumbersResultV2`.
#[derive(Debug, Serialize)]
pub struct ListPhoneNumbersResult<'a> {
    pub phone_numbers: &'a [Line],
}

/// `CreateChatResult`.
#[derive(Debug, Serialize)]
pub struct CreateChatResult<'a> {
    chat: CreatedChat<'a>,
}

/// `CreateChatResult.chat`: the chat without its times, with the message sent.
#[derive(Debug, Serialize)]
struct CreatedChat<'a> {
    id: &'a str,
    display_name: Option<&'a str>,
    service: &'static str,
    is_group: bool,
    handles: Vec<ChatHandle<'a>>,
    message: SentMessage<'a>,
}

/// `SentMessage`.
#[derive(Debug, Serialize)]
struct SentMessage<'a> {
    id: &'a str,
    service: &'a str,
    preferred_service: Option<&'a str>,
    parts: Vec<TextPartResponse<'a>>,
    sent_at: String,
    delivered_at: Option<String>,
    delivery_status: &'static str,
    is_read: bool,
    effect: Option<&'a Effect>,
    from_handle: Option<ChatHandle<'a>>,
    reply_to: Option<()>,
}

/// `TextPartResponse`.
#[derive(Debug, Serialize)]
struct TextPartResponse<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a str,
    reactions: Option<Vec<()>>,
}

impl<'a> CreateChatResult<'a> {
    pub fn new(chat: &'a ChatRecord, message: &'a Message) -> CreateChatResult<'a> {
        let from_handle = (chat.participants.iter()).find(|p| p.is_me).map(ChatHandle::new);
        CreateChatResult {
            chat: CreatedChat {
                id: &chat.id,
                display_name: chat.display_name.as_deref(),
                service: chat.service.as_str(),
                is_group: chat.is_group,
                handles: chat.participants.iter().map(ChatHandle::new).collect(),
                message: SentMessage {
                    id: &message.id,
                    service: &message.service,
                    preferred_service: message.content.preferred_service.as_deref(),
                    parts: (message.content.parts.iter())
                        .map(|value| TextPartResponse {
                            kind: "text",
                            value,
                            reactions: None,
                        })
                        .collect(),
                    sent_at: timestamp(message.sent_at),
                    delivered_at: None,
                    delivery_status: "sent",
                    is_read: false,
                    effect: message.content.effect.as_ref(),
                    from_handle,
                    reply_to: None,
                },
            },
        }
    }
}

/// The 202 answer to a participant call.
#[derive(Debug, Serialize)]
pub struct Accepted<'a> {
    pub message: &'static str,
    pub status: &'static str,
    pub trace_id: &'a str,
}

/// `ErrorResponse`, with the newer SDKs' `retry_after`.
#[derive(Debug, Serialize)]
pub struct ErrorResponse<'a> {
    success: bool,
    error: ErrorDetail<'a>,
    trace_id: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    status: u16,
    code: u32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

impl<'a> Chat<'a> {
    pub fn new(chat: &'a ChatRecord) -> Chat<'a> {
        Chat {
            id: &chat.id,
            display_name: chat.display_name.as_deref(),
            service: chat.service.as_str(),
            handles: chat.participants.iter().map(ChatHandle::new).collect(),
            is_archived: false,
            is_group: chat.is_group,
            created_at: timestamp(chat.created_at),
            updated_at: timestamp(chat.updated_at),
        }
    }
}

impl<'a> ChatHandle<'a> {
    pub fn new(p: &'a Participant) -> ChatHandle<'a> {
        ChatHandle {
            id: &p.id,
            handle: &p.handle,
            service: p.service.as_str(),
            status: p.status.as_str(),
            joined_at: timestamp(p.joined_at),
            left_at: p.left_at.map(timestamp),
            is_me: p.is_me,
        }
    }
}

impl<'a> ErrorResponse<'a> {
    pub fn new(error: &'a ApiError, trace_id: &'a str) -> ErrorResponse<'a> {
        ErrorResponse {
            success: false,
            error: ErrorDetail {
                status: error.status,
                code: error.code,
                message: &error.message,
                retry_after: error.retry_after,
            },
            trace_id,
        }
    }
}

/// RFC 3339 in UTC with milliseconds, as Linq writes them: `2025-05-21T15:30:00.000Z`.
pub fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |secs, millis| UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        assert_eq!(timestamp(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(at(1_736_154_000, 0)), "2025-01-06T09:00:00.000Z");
        assert_eq!(timestamp(at(951_825_599, 7)), "2000-02-29T11:59:59.007Z");
        assert_eq!(timestamp(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000Z");
    }
}
