//! The client proper: one method per Linq call roster makes, each paced and retried per the
//! [`RetryPolicy`]. An add or a remove ends in what Linq's answers said of it
//! ([`ChangeAnswer`]); when they leave it open, whether it landed is [`crate::sync`]'s to
//! decide, by reading the chat.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use tokio::time::Instant;

use super::concurrency::{Limiter, Permit, Rejection, Verdict};
use super::error::{ApiError, LinqError, NotSent, CODE_CONFLICT};
use super::model::{AcceptedBody, ChangeAnswer, Chat, ChatPage, PhoneNumber};
use super::pacer::{Pacer, MAX_RETRY_AFTER};
use super::retry::{Backoff, RetryPolicy};
use super::{ClientConfig, ClientConfigError};
use crate::chat_id::check_chat_id;
use crate::escape::Escaped;
use crate::handle::Handle;
use crate::op::Op;
use crate::stop::{Halt, Reason, Request, Stop};

/// The Linq Partner API v3 client. Cheap to clone; clones share the connection pool, the limit
/// on requests in flight and the pacer.
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
    limiter: Limiter,
    pacer: Pacer,
    /// Linq's `401`, once it answered one: the answer every request that waited for its turn
    /// then gets (the run halts with it, in `stop`).
    refusal: OnceLock<ApiError>,
    /// See [`ClientConfig::stop`].
    stop: Stop,
    /// The partner's lines, once [`Client::lines`] read them.
    lines: tokio::sync::OnceCell<Vec<PhoneNumber>>,
}

/// See [`Client::change_announced`].
pub(super) type Announce<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// How long a `429` that names no `Retry-After` waits before its retry.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The most bytes of an answer roster reads.
///
/// Linq's largest answer to roster is a page of 100 chats (`GET /v3/chats?limit=100`). A chat
/// has at most 31 recipients besides your own line, so 32 participants. A participant is under
/// 450 bytes of JSON (ids, a handle of up to 254 characters for an email, service, status, two
/// timestamps, flags), and a chat is under 8 KB beside them (its display name defaults to the
/// list of its recipients' handles): a page of the largest possible chats is under
/// 100 × (32 × 450 + 8,000) ≈ 2.2 MB, a typical one under 1 MB. Participants who left stay
/// listed and Linq may add fields, so the cap leaves about four times that; no real answer
/// comes near it, and a server that sends more (by fault or hostility) cannot make roster
/// buffer gigabytes.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

/// What one attempt got back: a success status and its body.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

/// Why an answer's body was not read whole.
enum BodyError {
    /// Past [`MAX_ANSWER_BYTES`]: roster stopped reading.
    TooLarge,
    /// The connection broke off.
    Broken(reqwest::Error),
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
                limiter: Limiter::new(config.parallelism, config.adaptive),
                pacer: Pacer::new(config.rate),
                refusal: OnceLock::new(),
                stop: config.stop,
                lines: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The pace shared by every call of this client (and its clones).
    pub fn pacer(&self) -> &Pacer {
        &self.inner.pacer
    }

    /// The limit on requests in flight shared by every call of this client (and its clones).
    pub fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    /// The command's stop, shared by every call of this client (and its clones). Halting it
    /// sends nothing more: from then on every request, waiting for its turn or not yet made,
    /// fails with [`LinqError::NotSent`]; requests already sent finish.
    pub fn stop(&self) -> &Stop {
        &self.inner.stop
    }

    /// The base URL every call goes below, as people may see it: without user info, and
    /// without a trailing `/`.
    pub fn base_url(&self) -> String {
        super::shown_url(&self.inner.base)
    }

    /// The partner's lines: [`Client::phone_numbers`], asked once for this client and its
    /// clones (a failure is asked again).
    pub async fn lines(&self) -> Result<&[PhoneNumber], LinqError> {
        let lines = self.inner.lines.get_or_try_init(|| self.phone_numbers()).await?;
        Ok(lines)
    }

    /// `GET /v3/phone_numbers`: the partner's lines. Every partner has at least one, so a run
    /// asks this first to know it talks to Linq (a wrong base URL answers `404` for every chat,
    /// which would read as every chat gone).
    pub async fn phone_numbers(&self) -> Result<Vec<PhoneNumber>, LinqError> {
        let answer = self.read(self.url(&["v3", "phone_numbers"])).await?;
        PhoneNumber::parse_list(&answer.body).map_err(|message| LinqError::Protocol {
            status: answer.status.as_u16(),
            message,
        })
    }

    /// `GET /v3/chats/{id}`.
    /// The answer is checked (see [`Chat`]) and must be the chat asked for; anything else is
    /// a [`LinqError::Protocol`] naming the chat.
    pub async fn get_chat(&self, id: &str) -> Result<Chat, LinqError> {
        let url = self.chat_url(id, None)?;
        let answer = self.read(url).await?;
        let protocol = |message: String| LinqError::Protocol {
            status: answer.status.as_u16(),
            message: format!("chat `{}`: {message}", Escaped(id)),
        };
        let chat = Chat::parse(&answer.body).map_err(protocol)?;
        if chat.id != id {
            return Err(protocol(format!(
                "Linq answered with another chat, `{}`",
                Escaped(&chat.id)
            )));
        }
        Ok(chat)
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
        let answer = self.read(url).await?;
        ChatPage::parse(&answer.body).map_err(|message| LinqError::Protocol {
            status: answer.status.as_u16(),
            message,
        })
    }

    /// Every chat, following `next_cursor` until Linq says there is no more.
    pub async fn list_all_chats(&self, from: Option<&str>) -> Result<Vec<Chat>, LinqError> {
        self.list_all_chats_with(from, |_| {}).await
    }

    /// [`Client::list_all_chats`], showing `on_page` each page's chats as it arrives (for a
    /// progress count). Pages are as long as Linq allows.
    pub async fn list_all_chats_with(
        &self,
        from: Option<&str>,
        mut on_page: impl FnMut(&[Chat]),
    ) -> Result<Vec<Chat>, LinqError> {
        let mut chats = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_chats(cursor.as_deref(), Some(100), from).await?;
            on_page(&page.chats);
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

    /// `PUT /v3/chats/{id}`: sets the display name and/or the icon (at least one is given);
    /// Linq answers `200` with the chat. Setting a value twice is harmless, so a transient
    /// failure is retried as a read is, and an answer lost for good leaves the step to the next
    /// plan, which sets it again.
    pub async fn update_chat(&self, id: &str, name: Option<&str>, icon: Option<&str>) -> Result<Chat, LinqError> {
        let url = self.chat_url(id, None)?;
        let mut body = serde_json::Map::new();
        if let Some(name) = name {
            body.insert("display_name".into(), name.into());
        }
        if let Some(icon) = icon {
            body.insert("group_chat_icon".into(), icon.into());
        }
        let body = serde_json::Value::Object(body);
        let mut retries = Retries::default();
        let answer = loop {
            match self.attempt(Method::PUT, url.clone(), Some(&body), None).await {
                Ok(answer) => break answer,
                Err(e) if e.is_transient() => match self.backoff(&mut retries, &e).await {
                    Again::Retry => {}
                    Again::GiveUp => return Err(e),
                    Again::Stopped => return Err(LinqError::CutShort { last: Box::new(e) }),
                },
                Err(e) => return Err(e),
            }
        };
        Chat::parse(&answer.body).map_err(|message| LinqError::Protocol {
            status: answer.status.as_u16(),
            message: format!("chat `{}`: {message}", Escaped(id)),
        })
    }

    /// `POST /v3/chats/{chat}/participants`: queues an add.
    pub async fn add_participant(&self, chat: &str, handle: &Handle) -> Result<ChangeAnswer, LinqError> {
        self.mutate(Op::Add, chat, handle, None).await
    }

    /// `DELETE /v3/chats/{chat}/participants` (JSON body): queues a remove.
    pub async fn remove_participant(&self, chat: &str, handle: &Handle) -> Result<ChangeAnswer, LinqError> {
        self.mutate(Op::Remove, chat, handle, None).await
    }

    /// Adds or removes per `op`.
    pub async fn change(&self, op: Op, chat: &str, handle: &Handle) -> Result<ChangeAnswer, LinqError> {
        self.mutate(op, chat, handle, None).await
    }

    /// Adds or removes per `op`, running `announce` once the call has its turn (within the
    /// limit on requests in flight and the pace), just before it first goes out: the call is
    /// made only when `announce` says true (apply journals its intent there). Holding the turn
    /// meanwhile means that once `announce` fails, no call that was waiting goes out either:
    /// only those already in flight finish. A call not made ends in [`LinqError::NotSent`].
    pub async fn change_announced(
        &self,
        op: Op,
        chat: &str,
        handle: &Handle,
        announce: impl Future<Output = bool> + Send,
    ) -> Result<ChangeAnswer, LinqError> {
        self.mutate(op, chat, handle, Some(Box::pin(announce))).await
    }

    /// `…/v3/chats/{chat}` or `…/v3/chats/{chat}/{below}`; refuses an id that is not one path
    /// segment (the config refuses those already: this is the last line of defence).
    fn chat_url(&self, chat: &str, below: Option<&str>) -> Result<Url, LinqError> {
        check_chat_id(chat).map_err(LinqError::ChatId)?;
        Ok(match below {
            Some(below) => self.url(&["v3", "chats", chat, below]),
            None => self.url(&["v3", "chats", chat]),
        })
    }

    pub(super) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .expect("base URL checked to be hierarchical")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// A read, retried while the failure is transient; the caller checks the body.
    async fn read(&self, url: Url) -> Result<Answer, LinqError> {
        let mut retries = Retries::default();
        loop {
            match self.attempt(Method::GET, url.clone(), None, None).await {
                Ok(answer) => return Ok(answer),
                Err(e) if e.is_transient() => match self.backoff(&mut retries, &e).await {
                    Again::Retry => {}
                    Again::GiveUp => return Err(e),
                    Again::Stopped => return Err(LinqError::CutShort { last: Box::new(e) }),
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// An add or a remove, retried while the failure is transient. A failure that may have
    /// taken effect makes the outcome unknown, and a retry refused with `409 2015` ("conflicts
    /// with current state") may then be the earlier attempt's doing: the answer says so, and
    /// whether the change landed is for [`crate::sync`] to decide by reading the chat.
    async fn mutate(
        &self,
        op: Op,
        chat: &str,
        handle: &Handle,
        mut announce: Option<Announce<'_>>,
    ) -> Result<ChangeAnswer, LinqError> {
        let url = self.chat_url(chat, Some("participants"))?;
        let method = match op {
            Op::Add => Method::POST,
            Op::Remove => Method::DELETE,
        };
        let body = serde_json::json!({ "handle": handle.as_str() });
        let mut retries = Retries::default();
        let mut unknown = false;
        loop {
            let attempt = self.attempt(method.clone(), url.clone(), Some(&body), announce.take());
            let error = match attempt.await {
                Ok(answer) => {
                    let trace_id = serde_json::from_slice::<AcceptedBody>(&answer.body)
                        .ok()
                        .and_then(|b| b.trace_id);
                    return Ok(ChangeAnswer::Accepted { trace_id });
                }
                Err(e) => e,
            };
            if error.code() == Some(CODE_CONFLICT) {
                return Ok(ChangeAnswer::Conflict {
                    error,
                    after_unknown: unknown,
                });
            }
            unknown |= error.is_transient() && error.may_have_taken_effect();
            let again = match error.is_transient() {
                true => self.backoff(&mut retries, &error).await,
                false => Again::GiveUp,
            };
            match again {
                Again::Retry => {}
                _ if unknown => return Ok(ChangeAnswer::Unknown { last: error }),
                Again::Stopped => return Err(LinqError::CutShort { last: Box::new(error) }),
                Again::GiveUp => return Err(error),
            }
        }
    }

    /// Sleeps before the next attempt, or says why there is none: the attempts are used up, or
    /// the run was asked to stop (then the attempt that failed is the last, whether or not its
    /// attempts were used up). A `429` waits its `Retry-After` (1 s when it names none).
    /// Whether the other tasks wait too is the limiter's verdict: not when fewer requests in
    /// flight is the cure, yes (in the pacer) for a rate limit; both waits end together.
    pub(super) async fn backoff(&self, retries: &mut Retries, error: &LinqError) -> Again {
        if self.inner.stop.signalled().is_some() {
            return Again::Stopped;
        }
        let policy = &self.inner.retry;
        if error.status() == Some(429) {
            retries.rate_limited += 1;
            if retries.rate_limited >= policy.max_rate_limited {
                return Again::GiveUp;
            }
            let wait = error.api().and_then(|e| e.retry_after).unwrap_or(DEFAULT_RETRY_AFTER);
            return self.pause(wait.min(MAX_RETRY_AFTER)).await;
        }
        retries.failed += 1;
        if retries.failed >= policy.max_attempts {
            return Again::GiveUp;
        }
        self.pause(self.inner.backoff.delay(policy, retries.failed)).await
    }

    /// Waits `wait` before another attempt; a stop ends the wait at once. After a signal the
    /// attempt that failed is the last; after a halt the next attempt is tried, and refused
    /// before it goes out (as [`LinqError::NotSent`], or Linq's `401` repeated).
    async fn pause(&self, wait: Duration) -> Again {
        let stop = &self.inner.stop;
        tokio::select! {
            () = tokio::time::sleep(wait) => Again::Retry,
            () = stop.stopped() => match stop.signalled() {
                Some(_) => Again::Stopped,
                None => Again::Retry,
            },
        }
    }

    /// Why a request of `method` that has its turn may not go out, if it may not: Linq
    /// refused the token (every request gets that answer), or the run stopped (see
    /// [`crate::stop`]: after a signal reads still go out, after a halt nothing does).
    fn forbidden(&self, method: &Method) -> Option<LinqError> {
        if let Some(refusal) = self.inner.refusal.get() {
            return Some(LinqError::Api(refusal.clone()));
        }
        let request = match *method {
            Method::GET => Request::Read,
            _ => Request::Change,
        };
        Some(LinqError::NotSent(match self.inner.stop.forbids(request)? {
            Reason::Halt(_) => NotSent::Halted,
            Reason::Signal(_) => NotSent::Stopped,
        }))
    }

    /// One request, within the limit on requests in flight and paced; an error status becomes
    /// an [`ApiError`]. Its parts: the turn ([`Client::take_turn`]), the request, and what the
    /// answer teaches the limiter and the pacer ([`Client::classify`]).
    pub(super) async fn attempt(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        announce: Option<Announce<'_>>,
    ) -> Result<Answer, LinqError> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, inner.authorization.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        let turn = self.take_turn(&method, announce).await?;
        let response = request.send().await;
        self.classify(turn, &method, &url, response).await
    }

    /// Waits for a permit of the limiter, then for a slot of the pace, then checks the request
    /// may still go out, and runs `announce` (which may refuse it). A refused request gives
    /// its permit back untaught.
    async fn take_turn(&self, method: &Method, announce: Option<Announce<'_>>) -> Result<Turn<'_>, LinqError> {
        let inner = &self.inner;
        let mut permit = inner.limiter.acquire().await;
        let paced = inner.pacer.acquire().await;
        // A task that waited here while another's request was refused `401` sends nothing (the
        // token is bad for every call), nor does one that waited while the run halted, nor an
        // add or a remove that waited while the run was asked to stop: its intent is journaled,
        // but it has not started, and no call starts after a stop.
        if let Some(refused) = self.forbidden(method) {
            return Err(refused);
        }
        match announce {
            Some(announce) => {
                if !announce.await {
                    return Err(LinqError::NotSent(NotSent::Halted));
                }
                // The latency the limiter learns from is the server's, not the announcement's.
                permit.sent(Instant::now());
            }
            None => permit.sent(paced),
        }
        Ok(Turn { permit, paced })
    }

    /// What one answer (or its absence) was: the result, with the limiter and the pacer taught
    /// once by how it ended (see [`super::concurrency`]).
    async fn classify(
        &self,
        turn: Turn<'_>,
        method: &Method,
        url: &Url,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<Answer, LinqError> {
        let Turn { permit, paced } = turn;
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                let error = LinqError::from_reqwest(e);
                if matches!(&error, LinqError::Transport(t) if t.timed_out) {
                    // No answer in time: as much a sign of overload as a refusal.
                    permit.rejected(Rejection::Overloaded, Instant::now());
                }
                return Err(error);
            }
        };
        let status = response.status();
        if status.is_redirection() {
            permit.answered(Instant::now());
            self.inner.pacer.answered(paced);
            let location = response.headers().get(LOCATION).map(|value| shown_location(url, value));
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
        let body = read_body(response).await;
        let text = || body.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let error = ApiError::from_answer(429, retry_after.as_deref(), &text());
            let rejection = Rejection::TooMany(error.retry_after);
            match permit.rejected(rejection, Instant::now()) {
                Verdict::RateLimit => self.inner.pacer.rate_limited(paced, error.retry_after),
                Verdict::Concurrency => self.inner.pacer.probe(paced),
            }
            return Err(LinqError::Api(error));
        }
        if status == StatusCode::UNAUTHORIZED {
            // Recorded before this permit frees a waiting task, which must see the refusal.
            self.record_refusal(ApiError::from_answer(401, retry_after.as_deref(), &text()));
        }
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                permit.rejected(Rejection::Overloaded, Instant::now());
            }
            // A server fault says nothing about load; the permit comes back untaught.
            _ if status.is_server_error() => drop(permit),
            _ if body.is_ok() => permit.answered(Instant::now()),
            _ => drop(permit),
        }
        self.inner.pacer.answered(paced);
        answer(status, method, retry_after.as_deref(), body)
    }

    /// Linq refused the token: every request that waits for its turn gets `refusal`, and the
    /// run halts. The refusal is kept first: a task that sees the halt must find it.
    fn record_refusal(&self, refusal: ApiError) {
        let halt = Halt::Unauthorized(refusal.to_string());
        let _ = self.inner.refusal.set(refusal);
        self.inner.stop.halt(halt);
    }
}

/// A request's turn: its permit of the limiter and the pace slot it was given.
struct Turn<'a> {
    permit: Permit<'a>,
    paced: Instant,
}

/// The result of an answer whose status line arrived, from its status and body.
fn answer(
    status: StatusCode,
    method: &Method,
    retry_after: Option<&str>,
    body: Result<Vec<u8>, BodyError>,
) -> Result<Answer, LinqError> {
    match body {
        Ok(body) if status.is_success() => Ok(Answer { status, body }),
        Ok(body) => Err(LinqError::Api(ApiError::from_answer(
            status.as_u16(),
            retry_after,
            &String::from_utf8_lossy(&body),
        ))),
        // The status line arrived, then the body broke off or ran past the cap. A mutating
        // call answered `202` was accepted all the same; a read must be retried.
        Err(_) if status == StatusCode::ACCEPTED && method != Method::GET => Ok(Answer {
            status,
            body: Vec::new(),
        }),
        Err(BodyError::TooLarge) => Err(LinqError::Protocol {
            status: status.as_u16(),
            message: format!(
                "the answer is larger than {} MiB, far beyond Linq's largest (a page of 100 chats); roster stopped reading it",
                MAX_ANSWER_BYTES >> 20
            ),
        }),
        Err(BodyError::Broken(e)) => Err(LinqError::from_reqwest(e)),
    }
}

/// Reads an answer's body chunk by chunk, stopping as soon as it would pass
/// [`MAX_ANSWER_BYTES`] (at once when `Content-Length` says it will): dropping the response
/// then closes the connection, so nothing more is read.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Broken)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether a failed attempt is tried again (see [`Client::backoff`]).
pub(super) enum Again {
    Retry,
    /// The attempts are used up.
    GiveUp,
    /// The run was asked to stop: the call is cut short ([`LinqError::CutShort`]).
    Stopped,
}

#[derive(Default)]
pub(super) struct Retries {
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
