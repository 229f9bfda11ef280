//! The client proper: one method per Linq call roster makes, each paced, retried per the
//! [`RetryPolicy`], and for adds and removes, resolved by reading the chat when the answer
//! leaves the outcome unknown.

use std::sync::Arc;

use reqwest::header::{HeaderValue, AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::error::{ApiError, LinqError, CODE_CONFLICT};
use super::model::{Accepted, AcceptedBody, AcceptedVia, Chat, ChatPage};
use super::pacer::Pacer;
use super::retry::{Backoff, RetryPolicy};
use super::{ClientConfig, ClientConfigError};
use crate::handle::Handle;
use crate::state::Op;

/// The Linq Partner API v3 client. Cheap to clone; clones share the connection pool and pacer.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
    retry: RetryPolicy,
    backoff: Backoff,
    pacer: Pacer,
}

/// What one attempt got back: a success status and its body.
struct Answer {
    status: StatusCode,
    body: String,
}

impl Client {
    /// Builds a client; refuses a base URL that is not `https://` (or `http://` on loopback).
    pub fn new(config: ClientConfig) -> Result<Client, ClientConfigError> {
        let base = super::check_base_url(&config.base_url)?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| ClientConfigError::InvalidToken)?;
        authorization.set_sensitive(true);
        let mut http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // The Linq API does not redirect, and following one would re-send the token and a
            // body of members' phone numbers wherever it points, plain `http` included.
            .redirect(reqwest::redirect::Policy::none());
        if base.scheme() == "http" {
            // Plain `http` is allowed to loopback only, and only directly: through a proxy
            // (`HTTP_PROXY`, `http_proxy`, `ALL_PROXY`) the token would cross the network in
            // clear. `https` keeps the environment's proxies, tunnelled with `CONNECT`.
            http = http.no_proxy();
        }
        let http = http
            .build()
            .map_err(|e| ClientConfigError::Build(e.without_url().to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                retry: config.retry,
                backoff: Backoff::new(config.jitter_seed),
                pacer: Pacer::new(config.rate),
            }),
        })
    }

    /// The pace shared by every call of this client (and its clones).
    pub fn pacer(&self) -> &Pacer {
        &self.inner.pacer
    }

    /// `GET /v3/chats/{id}`.
    pub async fn get_chat(&self, id: &str) -> Result<Chat, LinqError> {
        let url = self.chat_url(id, None)?;
        self.read(url).await
    }

    /// `GET /v3/chats`: one page. `from` limits it to chats of one of your lines.
    pub async fn list_chats(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
        from: Option<&str>,
    ) -> Result<ChatPage, LinqError> {
        let mut url = self.url(&["v3", "chats"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(from) = from {
                query.append_pair("from", from);
            }
            if let Some(limit) = limit {
                query.append_pair("limit", &limit.clamp(1, 100).to_string());
            }
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.read(url).await
    }

    /// Every chat, following `next_cursor` until Linq says there is no more.
    pub async fn list_all_chats(&self, from: Option<&str>) -> Result<Vec<Chat>, LinqError> {
        let mut chats = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_chats(cursor.as_deref(), Some(100), from).await?;
            chats.extend(page.chats);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => {
                    return Err(LinqError::Protocol {
                        status: 200,
                        message: "`next_cursor` repeated the cursor it answered".to_owned(),
                    })
                }
                None => return Ok(chats),
            }
        }
    }

    /// `POST /v3/chats/{chat}/participants`: queues an add.
    pub async fn add_participant(&self, chat: &str, handle: &Handle) -> Result<Accepted, LinqError> {
        self.mutate(Op::Add, chat, handle).await
    }

    /// `DELETE /v3/chats/{chat}/participants` (JSON body): queues a remove.
    pub async fn remove_participant(&self, chat: &str, handle: &Handle) -> Result<Accepted, LinqError> {
        self.mutate(Op::Remove, chat, handle).await
    }

    /// Adds or removes per `op`.
    pub async fn change(&self, op: Op, chat: &str, handle: &Handle) -> Result<Accepted, LinqError> {
        self.mutate(op, chat, handle).await
    }

    /// `…/v3/chats/{chat}` or `…/v3/chats/{chat}/{below}`; refuses an id that is not one path
    /// segment (the config refuses those already: this is the last line of defence).
    fn chat_url(&self, chat: &str, below: Option<&str>) -> Result<Url, LinqError> {
        super::check_chat_id(chat).map_err(LinqError::ChatId)?;
        Ok(match below {
            Some(below) => self.url(&["v3", "chats", chat, below]),
            None => self.url(&["v3", "chats", chat]),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .expect("base URL checked to be hierarchical")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// A read, retried while the failure is transient.
    async fn read<T: DeserializeOwned>(&self, url: Url) -> Result<T, LinqError> {
        let mut retries = Retries::default();
        loop {
            match self.attempt(Method::GET, url.clone(), None).await {
                Ok(answer) => {
                    return serde_json::from_str(&answer.body).map_err(|e| LinqError::Protocol {
                        status: answer.status.as_u16(),
                        message: format!("the body is not what the API documents: {e}"),
                    })
                }
                Err(e) if e.is_transient() => {
                    if !self.backoff(&mut retries, &e).await {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// An add or a remove. A failure that may have taken effect makes the outcome unknown; it is
    /// retried, and a retry refused with `409 2015` ("conflicts with current state") is then
    /// read as the earlier attempt's success. Any other doubt is settled by reading the chat.
    async fn mutate(&self, op: Op, chat: &str, handle: &Handle) -> Result<Accepted, LinqError> {
        let url = self.chat_url(chat, Some("participants"))?;
        let method = match op {
            Op::Add => Method::POST,
            Op::Remove => Method::DELETE,
        };
        let body = serde_json::json!({ "handle": handle.as_str() });
        let mut retries = Retries::default();
        let mut unknown = false;
        loop {
            let error = match self.attempt(method.clone(), url.clone(), Some(&body)).await {
                Ok(answer) => {
                    let trace_id = serde_json::from_str::<AcceptedBody>(&answer.body)
                        .ok()
                        .and_then(|b| b.trace_id);
                    return Ok(Accepted {
                        trace_id,
                        via: AcceptedVia::Answer,
                    });
                }
                Err(e) => e,
            };
            if error.code() == Some(CODE_CONFLICT) {
                return match self.effect_visible(op, chat, handle).await {
                    Ok(true) => Ok(Accepted {
                        trace_id: None,
                        via: AcceptedVia::AlreadySo,
                    }),
                    Ok(false) if unknown => Ok(Accepted {
                        trace_id: None,
                        via: AcceptedVia::EarlierAttempt,
                    }),
                    Ok(false) => Err(error),
                    Err(read) => Err(unknown_or(unknown, error, read)),
                };
            }
            unknown |= error.is_transient() && error.may_have_taken_effect();
            if error.is_transient() && self.backoff(&mut retries, &error).await {
                continue;
            }
            if !unknown {
                return Err(error);
            }
            return match self.effect_visible(op, chat, handle).await {
                Ok(true) => Ok(Accepted {
                    trace_id: None,
                    via: AcceptedVia::AlreadySo,
                }),
                Ok(false) => Err(LinqError::OutcomeUnknown { last: Box::new(error) }),
                Err(read) => Err(unknown_or(true, error, read)),
            };
        }
    }

    async fn effect_visible(&self, op: Op, chat: &str, handle: &Handle) -> Result<bool, LinqError> {
        let live = self.get_chat(chat).await?;
        Ok(match op {
            Op::Add => live.has_member(handle),
            Op::Remove => !live.has_member(handle),
        })
    }

    /// Sleeps before the next attempt; false when the attempts are used up. A `429` waits in
    /// the pacer (its `Retry-After` holds back every task), so no extra sleep here.
    async fn backoff(&self, retries: &mut Retries, error: &LinqError) -> bool {
        let policy = &self.inner.retry;
        if error.status() == Some(429) {
            retries.rate_limited += 1;
            return retries.rate_limited < policy.max_rate_limited;
        }
        retries.failed += 1;
        if retries.failed >= policy.max_attempts {
            return false;
        }
        tokio::time::sleep(self.inner.backoff.delay(policy, retries.failed)).await;
        true
    }

    /// One request, paced; an error status becomes an [`ApiError`].
    async fn attempt(&self, method: Method, url: Url, body: Option<&serde_json::Value>) -> Result<Answer, LinqError> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, inner.authorization.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        let sent = inner.pacer.acquire().await;
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Err(LinqError::from_reqwest(e)),
        };
        let status = response.status();
        if status.is_redirection() {
            inner.pacer.answered(sent);
            let location = response
                .headers()
                .get(LOCATION)
                .map(|value| shown_location(&url, value));
            return Err(LinqError::Redirect {
                status: status.as_u16(),
                location,
            });
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let error = ApiError::from_answer(429, retry_after.as_deref(), text.as_deref().unwrap_or(""));
            inner.pacer.rate_limited(sent, error.retry_after);
            return Err(LinqError::Api(error));
        }
        inner.pacer.answered(sent);
        match text {
            Ok(body) if status.is_success() => Ok(Answer { status, body }),
            Ok(body) => Err(LinqError::Api(ApiError::from_answer(
                status.as_u16(),
                retry_after.as_deref(),
                &body,
            ))),
            // The status line arrived, then the connection broke. A mutating call answered
            // `202` was accepted all the same; a read must be retried.
            Err(_) if status == StatusCode::ACCEPTED && method != Method::GET => Ok(Answer {
                status,
                body: String::new(),
            }),
            Err(e) => Err(LinqError::from_reqwest(e)),
        }
    }
}

#[derive(Default)]
struct Retries {
    failed: u32,
    rate_limited: u32,
}

/// A redirect's target as an error may show it: resolved against the request, without user
/// info, at most 300 characters, control characters escaped.
fn shown_location(request: &Url, value: &HeaderValue) -> String {
    const LONGEST: usize = 300;
    let text = String::from_utf8_lossy(value.as_bytes());
    let text = match request.join(text.trim()) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => text.into_owned(),
    };
    let mut shown: String = crate::escape::escape(&text).chars().take(LONGEST).collect();
    if shown.len() < text.len() && shown.chars().count() == LONGEST {
        shown.push('…');
    }
    shown
}

/// The error to report when a read meant to settle a doubtful call failed too.
fn unknown_or(unknown: bool, call: LinqError, read: LinqError) -> LinqError {
    let last = if read.is_unauthorized() { read } else { call };
    if unknown {
        LinqError::OutcomeUnknown { last: Box::new(last) }
    } else {
        last
    }
}
