//! Typed failures of the Linq client: Linq's error envelope, transport failures (with whether
//! the request may have reached the server) and the verdicts of the retry policy.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::chat_id::ChatIdError;
use crate::escape::Escaped;

/// Linq code for "the chat is still being created": retried.
pub const CODE_CHAT_BEING_CREATED: i64 = 2009;
/// Linq code for "operation conflicts with current state" (e.g. a duplicate add).
pub const CODE_CONFLICT: i64 = 2015;
/// Linq code for "operation not supported on this chat's service type".
pub const CODE_UNSUPPORTED_SERVICE: i64 = 2017;

/// An error answer from Linq, parsed from its envelope
/// `{"success": false, "error": {"status", "code", "message", "retry_after"?}, "trace_id"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: u16,
    /// Linq's error code (e.g. `2015`), when the body carried one.
    pub code: Option<i64>,
    /// Linq's message, or the start of the body when it was not an envelope.
    pub message: String,
    /// Quote it to Linq support.
    pub trace_id: Option<String>,
    /// From the `Retry-After` header, else `error.retry_after`.
    pub retry_after: Option<Duration>,
    pub doc_url: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Linq answered {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, " (code {code})")?;
        }
        write!(f, ": {}", Escaped(&self.message))?;
        if let Some(trace_id) = &self.trace_id {
            write!(f, " (trace id `{}`)", Escaped(trace_id))?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
    #[serde(default)]
    trace_id: Option<String>,
}

#[derive(Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    retry_after: Option<f64>,
    #[serde(default)]
    doc_url: Option<String>,
}

impl ApiError {
    /// Builds the error from an answer's status, `Retry-After` header and body. A body that is
    /// not Linq's envelope still gives a readable message.
    pub fn from_answer(status: u16, retry_after_header: Option<&str>, body: &str) -> ApiError {
        let header = retry_after_header
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(seconds);
        match serde_json::from_str::<Envelope>(body) {
            Ok(envelope) => ApiError {
                status,
                code: envelope.error.code,
                message: envelope.error.message.unwrap_or_else(|| "no message".to_owned()),
                trace_id: envelope.trace_id,
                retry_after: header.or_else(|| envelope.error.retry_after.and_then(seconds)),
                doc_url: envelope.error.doc_url,
            },
            Err(_) => {
                let text: String = body.trim().chars().take(200).collect();
                ApiError {
                    status,
                    code: None,
                    message: if text.is_empty() {
                        "empty answer".to_owned()
                    } else {
                        text
                    },
                    trace_id: None,
                    retry_after: header,
                    doc_url: None,
                }
            }
        }
    }

    /// Worth retrying: rate limits, server errors, 3xxx codes, "chat still being created".
    pub fn is_transient(&self) -> bool {
        self.status == 429
            || self.status >= 500
            || self
                .code
                .is_some_and(|c| (3000..4000).contains(&c) || c == CODE_CHAT_BEING_CREATED)
    }

    /// A server-side failure after the request arrived: it may or may not have been applied.
    pub fn outcome_unknown(&self) -> bool {
        self.status >= 500 || self.code.is_some_and(|c| (3000..4000).contains(&c))
    }
}

/// The request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong, without the URL's query or any header.
    pub message: String,
    /// False only when the connection was never made; then the request surely did not arrive.
    pub maybe_sent: bool,
    pub timed_out: bool,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Escaped(&self.message))
    }
}

fn redirect_message(location: Option<&str>) -> String {
    format!(
        "a redirect to `{}`, which roster does not follow (the Linq API never redirects: check the base URL)",
        location.unwrap_or("nowhere: no `Location`")
    )
}

/// Why a call to Linq failed. Never holds the token. Its text shows what Linq sent (messages,
/// trace ids) escaped; [`ApiError::message`] keeps it exact for the JSON reports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinqError {
    /// Linq answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// No answer: connection refused or dropped, or a timeout.
    #[error("no answer from Linq: {0}")]
    Transport(TransportError),
    /// An answer roster cannot read.
    #[error("unexpected answer from Linq ({status}): {}", Escaped(message))]
    Protocol { status: u16, message: String },
    /// A `3xx` answer. The Linq API never redirects, and roster follows no redirect: the token
    /// and the body would go wherever it points.
    #[error("unexpected answer from Linq ({status}): {}", redirect_message(location.as_deref()))]
    Redirect {
        status: u16,
        /// Where it pointed, shown safely (no user info, control characters escaped).
        location: Option<String>,
    },
    /// A chat id that cannot be a URL path segment: no request was made.
    #[error("{0}")]
    ChatId(ChatIdError),
    /// A mutating call may or may not have taken effect, and reading the chat did not tell.
    #[error("the outcome is unknown after retries ({last}); the next run settles it by reading the chat")]
    OutcomeUnknown { last: Box<LinqError> },
    /// The request waited for its turn while the run stopped or halted, and was not made.
    #[error("{0}")]
    NotSent(NotSent),
    /// An attempt failed with `last` after the run was asked to stop (a signal), and was not
    /// tried again: the call was cut short by the stop. Shows as `last`.
    #[error("{last}")]
    CutShort { last: Box<LinqError> },
}

/// Why a request was not made (see [`LinqError::NotSent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotSent {
    /// The run was asked to stop (a signal) before the add or remove started.
    #[error("not sent: the run was asked to stop before the call started")]
    Stopped,
    /// The run halted (its progress cannot be recorded, or the token was refused).
    #[error("not sent: the run halted before the call started")]
    Halted,
}

impl LinqError {
    /// 401: the token is wrong or revoked; the whole run stops.
    pub fn is_unauthorized(&self) -> bool {
        self.api().is_some_and(|e| e.status == 401)
    }

    /// The API error, looking through [`LinqError::OutcomeUnknown`] and
    /// [`LinqError::CutShort`].
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            LinqError::Api(e) => Some(e),
            LinqError::OutcomeUnknown { last } | LinqError::CutShort { last } => last.api(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            LinqError::Protocol { status, .. } | LinqError::Redirect { status, .. } => Some(*status),
            LinqError::CutShort { last } => last.status(),
            _ => self.api().map(|e| e.status),
        }
    }

    /// True when the call ended only because the run was asked to stop: its last attempt
    /// failed and was not tried again ([`LinqError::CutShort`]). Such a chat stopped rather
    /// than failed.
    pub fn is_cut_short(&self) -> bool {
        matches!(self, LinqError::CutShort { .. })
    }

    pub fn code(&self) -> Option<i64> {
        self.api().and_then(|e| e.code)
    }

    pub fn trace_id(&self) -> Option<&str> {
        self.api().and_then(|e| e.trace_id.as_deref())
    }

    /// The message without status or code, for reports that show those apart.
    pub fn message(&self) -> String {
        match self {
            LinqError::Api(e) => e.message.clone(),
            LinqError::Protocol { message, .. } => format!("unexpected answer from Linq: {}", Escaped(message)),
            LinqError::Redirect { location, .. } => {
                format!("unexpected answer from Linq: {}", redirect_message(location.as_deref()))
            }
            LinqError::CutShort { last } => last.message(),
            other => other.to_string(),
        }
    }

    /// True when a mutating call that failed this way may still have taken effect.
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            LinqError::Api(e) => e.outcome_unknown(),
            LinqError::Transport(t) => t.maybe_sent,
            LinqError::Protocol { .. } | LinqError::OutcomeUnknown { .. } => true,
            LinqError::CutShort { last } => last.may_have_taken_effect(),
            // Answered by whatever redirected: the API did not handle the request.
            LinqError::Redirect { .. } | LinqError::ChatId(_) | LinqError::NotSent(_) => false,
        }
    }

    pub(crate) fn is_transient(&self) -> bool {
        match self {
            LinqError::Api(e) => e.is_transient(),
            LinqError::Transport(_) => true,
            LinqError::Protocol { status, .. } => *status >= 500,
            // Not tried again, whatever it was: the run stops.
            LinqError::OutcomeUnknown { .. }
            | LinqError::CutShort { .. }
            | LinqError::Redirect { .. }
            | LinqError::ChatId(_)
            | LinqError::NotSent(_) => false,
        }
    }

    pub(crate) fn from_reqwest(error: reqwest::Error) -> LinqError {
        // reqwest's own message names the URL; keep a kind and the innermost cause instead,
        // neither of which holds a header (the token travels in a header only).
        let kind = if error.is_connect() {
            "cannot connect"
        } else if error.is_timeout() {
            "timed out"
        } else if error.is_body() || error.is_decode() {
            "the answer broke off"
        } else {
            "the connection failed"
        };
        let mut cause = None;
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            cause = Some(inner.to_string());
            source = inner.source();
        }
        let message = match cause {
            Some(cause) if cause != kind => format!("{kind}: {cause}"),
            _ => kind.to_owned(),
        };
        LinqError::Transport(TransportError {
            message,
            maybe_sent: !error.is_connect(),
            timed_out: error.is_timeout(),
        })
    }
}

/// A number of seconds from an answer as a duration: `None` when negative or not finite, the
/// longest duration when too long for one (the pacer caps any pause).
fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0).then(|| Duration::try_from_secs_f64(value).unwrap_or(Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `linq_answer` fuzz target: `Retry-After: 777777777777777777777777.` (or as
    /// large an `error.retry_after`) panicked converting the seconds to a duration.
    #[test]
    fn a_retry_after_too_long_for_a_duration_is_the_longest_one() {
        let e = ApiError::from_answer(429, Some("777777777777777777777777."), "");
        assert_eq!(e.retry_after, Some(Duration::MAX));
        let body = r#"{"success":false,"error":{"status":429,"code":1007,"retry_after":1e300}}"#;
        assert_eq!(ApiError::from_answer(429, None, body).retry_after, Some(Duration::MAX));
        for bad in ["-1", "NaN", "inf", "-inf", "soon"] {
            let e = ApiError::from_answer(429, Some(bad), "");
            assert_eq!(e.retry_after, None, "{bad}");
        }
    }

    #[test]
    fn envelope_is_parsed_with_header_retry_after_first() {
        let body = r#"{"success":false,"error":{"status":429,"code":1007,"message":"Too many requests","retry_after":7},"trace_id":"t-1"}"#;
        let e = ApiError::from_answer(429, Some("2"), body);
        assert_eq!(e.status, 429);
        assert_eq!(e.code, Some(1007));
        assert_eq!(e.message, "Too many requests");
        assert_eq!(e.trace_id.as_deref(), Some("t-1"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        let e = ApiError::from_answer(429, None, body);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert!(e.is_transient());
    }

    #[test]
    fn non_envelope_body_keeps_a_readable_message() {
        let e = ApiError::from_answer(502, None, "<html>Bad gateway</html>");
        assert_eq!(e.code, None);
        assert_eq!(e.message, "<html>Bad gateway</html>");
        assert!(e.is_transient() && e.outcome_unknown());
        assert_eq!(ApiError::from_answer(500, None, "").message, "empty answer");
    }

    #[test]
    fn classification_follows_the_retry_rules() {
        let make = |status, code| ApiError {
            status,
            code,
            message: String::new(),
            trace_id: None,
            retry_after: None,
            doc_url: None,
        };
        assert!(make(409, Some(2009)).is_transient());
        assert!(make(409, Some(3001)).is_transient());
        assert!(!make(400, Some(1002)).is_transient());
        assert!(!make(409, Some(2015)).is_transient());
        assert!(!make(401, Some(2004)).is_transient());
        assert!(LinqError::Api(make(401, Some(2004))).is_unauthorized());
        let display = make(409, Some(2017)).to_string();
        assert_eq!(display, "Linq answered 409 (code 2017): ");
    }
}
