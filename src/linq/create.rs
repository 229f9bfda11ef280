//! Creating a chat (`POST /v3/chats`), and listing the chats a line made since a moment
//! (`GET /v3/chats?from=LINE`, newest first), where a create whose answer was lost looks for
//! the chat it may have made.
//!
//! A create is the one call roster cannot take back, and it sends a first message to real
//! people, so it is never tried again blindly: only a failure that surely left Linq untouched
//! (the connection was never made, a `429`) is retried. Once the request may have reached Linq
//! (a `5xx`, a timeout, a dropped connection, an answer roster cannot read) the create is
//! [`CreateAnswer::Unanswered`]: whether it made the chat is for [`crate::sync`] to settle, by
//! looking for the chat, before anything sends it again.

use reqwest::Method;

use super::client::{Again, Announce, Retries};
use super::{Chat, Client, LinqError};
use crate::clock::Timestamp;
use crate::escape::Escaped;
use crate::handle::Handle;

/// The most pages of 100 chats a search reads before it gives up: ten thousand chats made by
/// one line since a create's intent is not a run's few minutes, so a listing that long is
/// not Linq's newest-first order, and the search says it could not tell.
pub const MAX_SEARCH_PAGES: usize = 100;

/// A chat to create, as `POST /v3/chats` takes it (`CreateChatRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChat {
    /// The partner's line that creates the chat and sends the first message.
    pub from: Handle,
    /// The members (`to`), the line not among them.
    pub to: Vec<Handle>,
    /// The first message's one text part: Linq makes no chat without one.
    pub message: String,
    /// `preferred_service`: `iMessage`, `RCS` or `SMS`; Linq's fallback chain when `None`.
    pub service: Option<String>,
    /// The message's `idempotency_key`: the same for every attempt at this create, whatever
    /// run makes it, so that a Linq that honours it sends one message however often it is sent.
    pub idempotency_key: String,
}

impl NewChat {
    /// The request body.
    fn body(&self) -> serde_json::Value {
        let mut message = serde_json::json!({
            "parts": [{ "type": "text", "value": self.message }],
            "idempotency_key": self.idempotency_key,
        });
        if let Some(service) = &self.service {
            message["preferred_service"] = serde_json::Value::from(service.as_str());
        }
        serde_json::json!({
            "from": self.from.as_str(),
            "to": self.to.iter().map(Handle::as_str).collect::<Vec<_>>(),
            "message": message,
        })
    }
}

/// What Linq's answers said of a create.
#[derive(Debug, Clone)]
pub enum CreateAnswer {
    /// `201`: the chat Linq made (or, for a repeated idempotency key Linq honours, the chat the
    /// key made first).
    Created { chat: Chat },
    /// The request may have reached Linq and no answer said what became of it: a `5xx`, a
    /// timeout, a dropped connection, or a `201` whose body roster cannot read. `last` is why.
    Unanswered { last: LinqError },
}

impl Client {
    /// `POST /v3/chats`. Retried only while no attempt can have reached Linq; see the module
    /// doc. A failure that surely made nothing (a `4xx`, the run stopped) is the error.
    pub async fn create_chat(&self, chat: &NewChat) -> Result<CreateAnswer, LinqError> {
        self.create(chat, None).await
    }

    /// [`Client::create_chat`], running `announce` once the create has its turn, just before
    /// it first goes out, and sending it only when `announce` says true: apply journals the
    /// create's intent there, so that no create goes out unjournaled.
    pub async fn create_chat_announced(
        &self,
        chat: &NewChat,
        announce: impl std::future::Future<Output = bool> + Send,
    ) -> Result<CreateAnswer, LinqError> {
        self.create(chat, Some(Box::pin(announce))).await
    }

    async fn create(&self, chat: &NewChat, mut announce: Option<Announce<'_>>) -> Result<CreateAnswer, LinqError> {
        let url = self.url(&["v3", "chats"]);
        let body = chat.body();
        let mut retries = Retries::default();
        loop {
            let attempt = self.attempt(Method::POST, url.clone(), Some(&body), announce.take());
            let error = match attempt.await {
                Ok(answer) => {
                    return Ok(match Chat::parse_created(&answer.body) {
                        Ok(chat) => CreateAnswer::Created { chat },
                        Err(message) => CreateAnswer::Unanswered {
                            last: LinqError::Protocol {
                                status: answer.status.as_u16(),
                                message: format!("the answer to the create: {message}"),
                            },
                        },
                    })
                }
                Err(error) => error,
            };
            // Never sent twice on a doubt: whether this one made the chat is settled first.
            if error.may_have_taken_effect() {
                return Ok(CreateAnswer::Unanswered { last: error });
            }
            if !error.is_transient() {
                return Err(error);
            }
            match self.backoff(&mut retries, &error).await {
                Again::Retry => {}
                Again::GiveUp => return Err(error),
                Again::Stopped => return Err(LinqError::CutShort { last: Box::new(error) }),
            }
        }
    }

    /// The chats `line` made at or after `since`, newest first: `GET /v3/chats?from=LINE`,
    /// page after page, stopping at the first chat made before `since`. It fails rather than
    /// answer a list it cannot vouch for: a listed chat without a readable `created_at`, a
    /// listing that is not newest first (a chat newer than the one before it), a cursor that
    /// repeats, or more than [`MAX_SEARCH_PAGES`] pages.
    pub async fn chats_created_since(&self, line: &Handle, since: Timestamp) -> Result<Vec<Chat>, LinqError> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        let mut previous: Option<Timestamp> = None;
        for _ in 0..MAX_SEARCH_PAGES {
            let page = self
                .list_chats(cursor.as_deref(), Some(100), Some(line.as_str()))
                .await?;
            for chat in page.chats {
                let at = listed_at(&chat, previous)?;
                previous = Some(at);
                if at < since {
                    return Ok(found);
                }
                found.push(chat);
            }
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => return Err(unlisted("`next_cursor` repeated the cursor it answered".to_owned())),
                None => return Ok(found),
            }
        }
        Err(unlisted(format!(
            "more than {MAX_SEARCH_PAGES} pages of chats of `{line}` made since {since}: that is not Linq's newest-first order"
        )))
    }
}

/// When a listed chat was made, checked to come no later than the chat listed before it.
fn listed_at(chat: &Chat, previous: Option<Timestamp>) -> Result<Timestamp, LinqError> {
    let id = Escaped(&chat.id);
    let at = chat
        .created_at
        .ok_or_else(|| unlisted(format!("listed chat `{id}` has no readable `created_at`")))?;
    match previous {
        Some(previous) if at > previous => Err(unlisted(format!(
            "listed chat `{id}` (made {at:?}) comes after an older one (made {previous:?}): the list is not newest first"
        ))),
        _ => Ok(at),
    }
}

fn unlisted(message: String) -> LinqError {
    LinqError::Protocol { status: 200, message }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::super::http_tests::{chat, envelope, handle, Reply, Seen, Server};
    use super::*;

    fn new_chat() -> NewChat {
        NewChat {
            from: handle("+15550000000"),
            to: vec![handle("+15550000001"), handle("ann@example.com")],
            message: "Welcome \"team\"\n".to_owned(),
            service: Some("SMS".to_owned()),
            idempotency_key: "roster-k1".to_owned(),
        }
    }

    fn created(id: &str) -> Value {
        json!({ "chat": chat(id, &["+15550000001", "ann@example.com"]) })
    }

    /// A chat listed as made at `at` (RFC 3339).
    fn made(id: &str, at: &str) -> Value {
        let mut chat = chat(id, &["+15550000001"]);
        chat["created_at"] = json!(at);
        chat
    }

    #[tokio::test]
    async fn a_create_sends_linq_s_request_and_reads_the_chat_it_made() {
        let server = Server::start(|_| Reply::Json(201, created("c9"))).await;
        let answer = server.client().create_chat(&new_chat()).await.unwrap();
        let CreateAnswer::Created { chat } = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(chat.id, "c9");
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (seen[0].method.as_str(), seen[0].path_and_query.as_str()),
            ("POST", "/api/partner/v3/chats")
        );
        let body: Value = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(
            body,
            json!({"from": "+15550000000", "to": ["+15550000001", "ann@example.com"],
                   "message": {"parts": [{"type": "text", "value": "Welcome \"team\"\n"}],
                               "preferred_service": "SMS", "idempotency_key": "roster-k1"}})
        );
    }

    #[tokio::test]
    async fn a_create_that_may_have_reached_linq_is_unanswered_and_never_sent_again() {
        for reply in [
            || Reply::Json(500, envelope(500, 3006, "Internal error")),
            || Reply::Json(503, envelope(503, 3003, "Unavailable")),
            // A 201 whose chat roster cannot read: made, but which chat?
            || Reply::Json(201, json!({"chat": {"id": "c9"}})),
            || Reply::Json(201, json!({"id": "c9"})),
            // A chat id roster could never address (a terminal escape in it).
            || Reply::Json(201, created("c\u{1b}[2J9")),
        ] {
            let server = Server::start(move |_| reply()).await;
            let answer = server.client().create_chat(&new_chat()).await.unwrap();
            assert!(matches!(answer, CreateAnswer::Unanswered { .. }), "{answer:?}");
            assert_eq!(server.seen().len(), 1, "a doubtful create must not be retried");
        }
        // A 201 past the size cap: made, and unreadable.
        let huge = axum::body::Bytes::from(vec![b' '; crate::linq::client::MAX_ANSWER_BYTES + 1]);
        let server = Server::start(move |_| Reply::Raw(201, huge.clone())).await;
        let answer = server.client().create_chat(&new_chat()).await.unwrap();
        assert!(
            matches!(
                &answer,
                CreateAnswer::Unanswered {
                    last: LinqError::Protocol { .. }
                }
            ),
            "{answer:?}"
        );
        assert_eq!(server.seen().len(), 1);
        // No answer in time: the same.
        let server = Server::start(|_| Reply::Slow(Duration::from_secs(5), 201, created("c9"))).await;
        let client = server.client_with_timeout(Duration::from_millis(200));
        let answer = client.create_chat(&new_chat()).await.unwrap();
        let CreateAnswer::Unanswered { last } = answer else {
            panic!("{answer:?}")
        };
        assert!(matches!(&last, LinqError::Transport(t) if t.timed_out), "{last:?}");
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn a_create_refused_before_it_made_anything_fails_or_is_retried_when_rate_limited() {
        let server = Server::start(|_| Reply::Json(403, envelope(403, 2005, "Not your line"))).await;
        let error = server.client().create_chat(&new_chat()).await.unwrap_err();
        assert_eq!((error.status(), error.code()), (Some(403), Some(2005)));
        assert_eq!(server.seen().len(), 1);

        let calls = AtomicUsize::new(0);
        let server = Server::start(move |_| match calls.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::RateLimited(0.01),
            _ => Reply::Json(201, created("c9")),
        })
        .await;
        let answer = server.client().create_chat(&new_chat()).await.unwrap();
        assert!(matches!(answer, CreateAnswer::Created { .. }), "{answer:?}");
        assert_eq!(server.seen().len(), 2, "a 429 made nothing: tried again");
    }

    #[tokio::test]
    async fn a_create_never_leaves_unannounced_and_not_at_all_when_refused() {
        let server = Server::start(|_| Reply::Json(201, created("c9"))).await;
        let error = server
            .client()
            .create_chat_announced(&new_chat(), async { false })
            .await
            .unwrap_err();
        assert!(matches!(error, LinqError::NotSent(_)), "{error:?}");
        assert!(server.seen().is_empty());
    }

    #[tokio::test]
    async fn the_search_pages_newest_first_and_stops_at_the_first_older_chat() {
        let server = Server::start(|seen: &Seen| {
            Reply::Json(
                200,
                match seen.path_and_query.contains("cursor=p2") {
                    false => json!({"chats": [made("c3", "2026-01-05T09:31:00.000Z"),
                                              made("c2", "2026-01-05T09:30:00.000Z")], "next_cursor": "p2"}),
                    true => json!({"chats": [made("c1", "2026-01-05T09:29:59.000Z"),
                                             made("c0", "2025-01-01T00:00:00.000Z")], "next_cursor": "p3"}),
                },
            )
        })
        .await;
        let since = Timestamp::from_unix(1_767_605_400);
        let chats = server
            .client()
            .chats_created_since(&handle("+15550000000"), since)
            .await
            .unwrap();
        let ids: Vec<_> = chats.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c3", "c2"]);
        let queries: Vec<_> = server.seen().iter().map(|s| s.path_and_query.clone()).collect();
        assert_eq!(
            queries,
            [
                "/api/partner/v3/chats?from=%2B15550000000&limit=100",
                "/api/partner/v3/chats?from=%2B15550000000&limit=100&cursor=p2"
            ],
            "no page past the first older chat"
        );
    }

    #[tokio::test]
    async fn the_search_fails_on_a_listing_it_cannot_vouch_for() {
        let since = Timestamp::from_unix(1_767_605_400);
        /// A page to answer, and what the search's error says of it (empty: no error).
        type Case = (fn() -> Value, &'static str);
        let cases: [Case; 4] = [
            (
                || {
                    let mut chat = made("c2", "2026-01-05T09:31:00.000Z");
                    chat.as_object_mut().unwrap().remove("created_at");
                    json!({"chats": [chat], "next_cursor": null})
                },
                "listed chat `c2` has no readable `created_at`",
            ),
            (
                || json!({"chats": [made("c2", "yesterday")], "next_cursor": null}),
                "has no readable `created_at`",
            ),
            (
                || {
                    json!({"chats": [made("c2", "2026-01-05T09:31:00.000Z"), made("c3", "2026-01-05T09:32:00.000Z")],
                          "next_cursor": null})
                },
                "the list is not newest first",
            ),
            (
                || json!({"chats": [made("c2", "2026-01-05T09:31:00.000Z")], "next_cursor": null, "x": 1}),
                "",
            ),
        ];
        for (page, expected) in cases {
            let server = Server::start(move |_| Reply::Json(200, page())).await;
            let result = server
                .client()
                .chats_created_since(&handle("+15550000000"), since)
                .await;
            match expected {
                "" => assert_eq!(result.unwrap().len(), 1),
                expected => {
                    let error = result.unwrap_err().to_string();
                    assert!(error.contains(expected), "{error}");
                }
            }
        }
        // A listing that never ends is not Linq's either.
        let pages = AtomicUsize::new(0);
        let server = Server::start(move |_| {
            let page = pages.fetch_add(1, Ordering::SeqCst);
            Reply::Json(
                200,
                json!({"chats": [made("c", "2026-01-05T09:31:00.000Z")], "next_cursor": format!("p{page}")}),
            )
        })
        .await;
        let error = server
            .client()
            .chats_created_since(&handle("+15550000000"), since)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("not Linq's newest-first order"), "{error}");
        assert_eq!(server.seen().len(), MAX_SEARCH_PAGES);
    }
}
