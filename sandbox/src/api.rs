//! One API request from arrival to answer: authentication, rate limit, faults, the endpoint
//! itself and the call log. Everything here runs under the one lock around [`Core`].

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::create::{CreateBody, CreateFault, Creates, Holds, UpdateBody};
use crate::faults::{Draw, Fault, Faults, Options, IN_FLIGHT_RETRY_AFTER};
use crate::handle::canonical_handle;
use crate::seed::{Seed, SeedError};
use crate::tamper::Tamper;
use crate::webhook::{Job, Outbox};
use crate::wire;
use crate::world::{ApiError, World};

/// Default and largest page size of `GET /v3/chats`.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// One request the API received, as the sandbox answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
    /// Below the base path, without the query: `/v3/chats/{id}/participants`.
    pub path: String,
    /// The chat addressed, if any; for a create, the chat it made or answered.
    pub chat: Option<String>,
    /// The `handle` of a participant call's body, as sent.
    pub handle: Option<String>,
    /// The HTTP status answered; for a [`Fault::Dropped`] call, the one the client never saw.
    pub status: u16,
    /// Linq's error code, for an error answer.
    pub code: Option<u32>,
    /// True when the call changed something, whatever the client saw: a participant change
    /// accepted into the queue, a create that sent its message (making the chat, unless it
    /// went to a direct chat there was), an update that set a name or icon.
    pub applied: bool,
    /// The fault injected into this call, if any.
    pub fault: Option<Fault>,
    pub trace_id: String,
    /// When the request arrived, since the sandbox started (before the injected latency).
    #[serde(rename = "arrived_at_ms", with = "crate::millis")]
    pub arrived: Duration,
    /// When the request was handled, since the sandbox started.
    #[serde(rename = "at_ms", with = "crate::millis")]
    pub at: Duration,
    /// API requests in flight at the sandbox when this one arrived, itself included.
    pub in_flight: usize,
}

/// An API request, parsed just enough to be logged.
#[derive(Debug)]
pub enum Endpoint {
    ListChats(Vec<(String, String)>),
    GetChat(String),
    ListLines,
    CreateChat(CreateBody),
    UpdateChat(String, UpdateBody),
    AddParticipant(String, Body),
    RemoveParticipant(String, Body),
    /// A request no route or method matches, or whose query string does not parse.
    Refused {
        method: String,
        path: String,
        error: ApiError,
    },
}

/// A participant call's body: the handle, or why there is none.
pub type Body = Result<String, ApiError>;

/// What to send back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Seconds, for the `Retry-After` header.
    pub retry_after: Option<u64>,
    /// Close the connection instead of answering.
    pub drop: bool,
    /// For the `Location` header of a redirect.
    pub location: Option<String>,
    /// Pad the body with whitespace to this many bytes, streamed (an oversized answer).
    pub pad_to: Option<u64>,
    /// The chat a create made: the answer waits while [`Holds`] holds creates.
    pub hold: Option<String>,
}

impl Reply {
    fn new(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            retry_after: None,
            drop: false,
            location: None,
            pad_to: None,
            hold: None,
        }
    }
}

/// The state a running server and every [`crate::Sandbox`] handle share.
#[derive(Debug)]
pub struct Shared {
    core: Mutex<Core>,
    /// Creates held before they answer; apart from the core, since they wait outside its lock.
    pub holds: Holds,
    /// Wakes the webhook deliverer: whoever unlocks the core while webhooks are on may have
    /// made events or queued a change.
    pub wake: tokio::sync::Notify,
    /// Signalled when webhook deliveries change, for [`Shared::wait_until`].
    changed: Condvar,
}

impl Shared {
    pub fn new(core: Core) -> Shared {
        Shared {
            core: Mutex::new(core),
            holds: Holds::default(),
            wake: tokio::sync::Notify::new(),
            changed: Condvar::new(),
        }
    }

    /// The core, for as long as the guard lives; unlocking it wakes the webhook deliverer.
    pub fn lock(&self) -> CoreGuard<'_> {
        CoreGuard {
            guard: self.lock_quietly(),
            wake: Some(&self.wake),
        }
    }

    /// The core, without waking the deliverer (for the deliverer itself).
    pub fn lock_quietly(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells those waiting in [`Shared::wait_until`] to look again.
    pub fn notify_changed(&self) {
        self.changed.notify_all();
    }

    /// Waits until `done` holds of the core, for at most `timeout`; whether it does.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&Core) -> bool) -> bool {
        let core = self.lock_quietly();
        let (core, _) = self
            .changed
            .wait_timeout_while(core, timeout, |core| !done(core))
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        done(&core)
    }
}

/// The locked core; wakes the webhook deliverer when dropped, if webhooks are on.
pub struct CoreGuard<'a> {
    guard: MutexGuard<'a, Core>,
    wake: Option<&'a tokio::sync::Notify>,
}

impl Deref for CoreGuard<'_> {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.guard
    }
}

impl DerefMut for CoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.guard
    }
}

impl Drop for CoreGuard<'_> {
    fn drop(&mut self) {
        if self.guard.options.webhooks.url.is_some() {
            if let Some(wake) = self.wake.take() {
                wake.notify_one();
            }
        }
    }
}

/// Everything the sandbox knows, behind one lock.
#[derive(Debug)]
pub struct Core {
    pub token: String,
    pub options: Options,
    pub world: World,
    pub faults: Faults,
    /// Idempotency keys and the create faults to come.
    pub creates: Creates,
    /// The webhooks made, their fates and their delivery attempts.
    pub webhooks: Outbox,
    pub calls: Vec<CallRecord>,
    /// Scripted breaches of the contract, by chat id.
    pub tampers: HashMap<String, Tamper>,
    /// Bytes of oversized answers handed to the connection so far, shared with their bodies.
    pub oversize_sent: Arc<AtomicU64>,
    /// API requests arrived and not answered yet (those refused for the cap excluded).
    pub in_flight: usize,
    /// The most API requests ever in flight at once.
    pub peak_in_flight: usize,
    /// The workers of [`Options::workers`]: a request holds one from the end of its wait in
    /// line to its answer (fair: granted in arrival order).
    pub workers: Option<Arc<tokio::sync::Semaphore>>,
    traces: u64,
}

/// The workers `options` asks for.
fn workers(options: &Options) -> Option<Arc<tokio::sync::Semaphore>> {
    options.workers.map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1))))
}

impl Core {
    /// Checks `seed` (once: the world takes it as checked) and builds its world.
    pub fn new(seed: &Seed, options: Options) -> Result<Core, SeedError> {
        let seed = seed.validated()?;
        let now = Instant::now();
        let mut world = World::new(&seed, now, SystemTime::now());
        world.record_events(options.webhooks.url.is_some());
        Ok(Core {
            token: seed.token.clone(),
            faults: Faults::new(&options, now),
            workers: workers(&options),
            creates: Creates::new(options.seed),
            webhooks: Outbox::new(options.seed),
            options,
            world,
            calls: Vec::new(),
            tampers: HashMap::new(),
            oversize_sent: Arc::new(AtomicU64::new(0)),
            in_flight: 0,
            peak_in_flight: 0,
            traces: 0,
        })
    }

    /// Replaces the options; the fault generator restarts from the new seed.
    pub fn set_options(&mut self, options: Options) {
        self.faults = Faults::new(&options, Instant::now());
        self.workers = workers(&options);
        self.creates.reseed(options.seed);
        self.webhooks.reseed(options.seed);
        self.world.record_events(options.webhooks.url.is_some());
        self.options = options;
    }

    /// Sets the webhook subscription's URL (`None`: no more webhooks) and, if given, its
    /// signing secret.
    pub fn set_webhook(&mut self, url: Option<String>, secret: Option<String>) {
        self.world.record_events(url.is_some());
        self.options.webhooks.url = url;
        if let Some(secret) = secret {
            self.options.webhooks.secret = secret;
        }
    }

    /// Lands what is due by `now` and makes webhooks of the events recorded since the last
    /// call: the jobs to deliver.
    pub fn take_webhooks(&mut self, now: Instant) -> Vec<Job> {
        self.world.land_due(now);
        let since = self.world.since_start(now);
        self.webhooks.take(&mut self.world, &self.options.webhooks, since)
    }

    fn next_trace(&mut self) -> String {
        self.traces += 1;
        format!("trace_{:016x}", self.traces)
    }

    /// Counts in a request arriving at `now`: `Ok` with the requests now in flight, itself
    /// included (the caller calls [`Core::leave`] once it is answered), or, past
    /// [`Options::max_in_flight`], the 429 to answer at once, logged.
    pub fn arrive(&mut self, endpoint: &Endpoint, now: Instant) -> Result<usize, Reply> {
        if self.options.max_in_flight.is_some_and(|cap| self.in_flight >= cap) {
            let mut call = self.record(endpoint, now, now, self.in_flight + 1);
            call.fault = Some(Fault::TooManyInFlight);
            let reply = fail(&mut call, ApiError::rate_limited(IN_FLIGHT_RETRY_AFTER));
            call.status = reply.status;
            self.calls.push(call);
            return Err(reply);
        }
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
        Ok(self.in_flight)
    }

    /// How a request counted in at `now` is served: its latency, and the workers it waits for
    /// first, if any.
    pub fn service(&mut self, now: Instant) -> (Duration, Option<Arc<tokio::sync::Semaphore>>) {
        (self.faults.latency(&self.options, now), self.workers.clone())
    }

    /// A request counted in by [`Core::arrive`] was answered (or its connection closed).
    pub fn leave(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Answers one API request that arrived at `arrived` with `in_flight` requests in flight,
    /// and is handled (after the injected latency) at `now`.
    pub fn serve(
        &mut self,
        endpoint: Endpoint,
        authorization: Option<&str>,
        arrived: Instant,
        in_flight: usize,
        now: Instant,
    ) -> Reply {
        self.world.land_due(now);
        let mut call = self.record(&endpoint, arrived, now, in_flight);
        let reply = self.answer(endpoint, authorization, now, &mut call);
        call.status = reply.status;
        self.calls.push(call);
        reply
    }

    /// A call log entry for `endpoint`, its answer still to fill in.
    fn record(&mut self, endpoint: &Endpoint, arrived: Instant, now: Instant, in_flight: usize) -> CallRecord {
        let trace_id = self.next_trace();
        let (method, path, chat, handle) = describe(endpoint);
        CallRecord {
            method: method.to_owned(),
            path,
            chat,
            handle,
            status: 0,
            code: None,
            applied: false,
            fault: None,
            trace_id,
            arrived: self.world.since_start(arrived),
            at: self.world.since_start(now),
            in_flight,
        }
    }

    fn answer(
        &mut self,
        endpoint: Endpoint,
        authorization: Option<&str>,
        now: Instant,
        call: &mut CallRecord,
    ) -> Reply {
        let draw = match self.admit(&endpoint, authorization, now, call) {
            Ok(draw) => draw,
            Err(reply) => return reply,
        };
        if self.loses(&endpoint, &draw) {
            return self.lose(endpoint, call);
        }
        let due = match &endpoint {
            Endpoint::AddParticipant(..) | Endpoint::RemoveParticipant(..) => {
                now + self.faults.landing_delay(&self.options)
            }
            _ => now,
        };
        let (status, body, made) = match self.served(endpoint, due, now, call) {
            Ok(served) => served,
            Err(error) => return fail(call, error),
        };
        call.applied =
            status == 202 || (status == 200 && call.method == "PUT" && call.fault.is_none()) || made.is_some();
        let reply = self.after(draw, made.is_some(), status, body, call);
        Reply { hold: made, ..reply }
    }

    /// The gate every call passes before it is served: the token, a refused request, a tamper,
    /// the rate limit and the fault drawn. `Err` is the answer of a call stopped at the gate.
    fn admit(
        &mut self,
        endpoint: &Endpoint,
        authorization: Option<&str>,
        now: Instant,
        call: &mut CallRecord,
    ) -> Result<Draw, Reply> {
        let authorized = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|token| token == self.token);
        let revoked = self
            .options
            .revoke_token_after
            .is_some_and(|answered| self.calls.len() >= answered);
        if !authorized || revoked {
            return Err(fail(call, ApiError::unauthorized()));
        }
        if let Endpoint::Refused { error, .. } = endpoint {
            return Err(fail(call, error.clone()));
        }
        if let Some(reply) = self.tampered(endpoint, call) {
            return Err(reply);
        }
        if let Err(error) = self.faults.admit(now) {
            call.fault = Some(Fault::RateLimited);
            return Err(fail(call, error));
        }
        match self.faults.draw(&self.options) {
            Draw::Fail(error) => {
                call.fault = Some(Fault::ServerError);
                Err(fail(call, error))
            }
            draw => Ok(draw),
        }
    }

    /// Whether a participant call is answered but never queued: the fault drawn, or a handle the
    /// options always lose.
    fn loses(&self, endpoint: &Endpoint, draw: &Draw) -> bool {
        match endpoint {
            Endpoint::AddParticipant(_, Ok(handle)) | Endpoint::RemoveParticipant(_, Ok(handle)) => {
                *draw == Draw::Lose
                    || canonical_handle(handle).is_some_and(|handle| self.options.lost_handles.contains(&handle))
            }
            _ => false,
        }
    }

    /// Serves a call that passed the gate: its status, its body and the chat a create made.
    fn served(
        &mut self,
        endpoint: Endpoint,
        due: Instant,
        now: Instant,
        call: &mut CallRecord,
    ) -> Result<(u16, Vec<u8>, Option<String>), ApiError> {
        let mut made = None;
        let (status, body) = match endpoint {
            Endpoint::ListChats(query) => self.list_chats(&query).map(|body| (200, body))?,
            Endpoint::GetChat(id) => match self.world.chat(&id) {
                Some(chat) => (200, self.chat_json(chat)),
                None => return Err(ApiError::chat_not_found(&id)),
            },
            Endpoint::ListLines => (
                200,
                json(&wire::ListPhoneNumbersResult {
                    phone_numbers: self.world.lines(),
                }),
            ),
            Endpoint::CreateChat(body) => {
                let created = self
                    .creates
                    .create(&mut self.world, self.options.idempotency, body?, now)?;
                call.chat = Some(created.chat.clone());
                let chat = self.world.chat(&created.chat).expect("a create answers a chat");
                let message = self
                    .world
                    .message(&created.message)
                    .expect("a create answers a message");
                let body = json(&wire::CreateChatResult::new(chat, message));
                if created.sent {
                    made = Some(created.chat);
                }
                (201, body)
            }
            Endpoint::UpdateChat(id, body) => self.update(&id, body, now, call)?,
            Endpoint::AddParticipant(id, body) => {
                self.world.add(&id, &body?, due)?;
                (202, accepted("Participant addition queued", &call.trace_id))
            }
            Endpoint::RemoveParticipant(id, body) => {
                self.world.remove(&id, &body?, due)?;
                (202, accepted("Participant removal queued", &call.trace_id))
            }
            Endpoint::Refused { .. } => unreachable!("answered at the gate"),
        };
        Ok((status, body, made))
    }

    /// `PUT /v3/chats/{id}`: the update, or the tamper that answers 200 and changes nothing.
    fn update(
        &mut self,
        id: &str,
        body: UpdateBody,
        now: Instant,
        call: &mut CallRecord,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        if let Some(Tamper::UpdateFails { error_code }) = self.tampers.get(id) {
            let error_code = *error_code;
            let answered = self.world.update_fails(id, &body?, error_code, now)?;
            call.fault = Some(Fault::Tampered);
            return Ok((200, json(&wire::Chat::new(&answered))));
        }
        self.world.update(id, &body?, now)?;
        let chat = self.world.chat(id).expect("an updated chat exists");
        Ok((200, self.chat_json(chat)))
    }

    /// The answer of a served call, after the faults that strike once it is served: a `500`
    /// or a dropped connection after the change was made.
    fn after(&mut self, draw: Draw, made: bool, status: u16, body: Vec<u8>, call: &mut CallRecord) -> Reply {
        let create_fault = match (made, &draw) {
            // `Lose` is for participant calls: to a create it is as clean.
            (true, Draw::Clean | Draw::Lose) => self
                .creates
                .fault(self.options.create_error_rate, self.options.create_drop_rate),
            _ => None,
        };
        match (draw, create_fault) {
            (Draw::ApplyThenFail, _) if call.applied => {
                call.fault = Some(Fault::AppliedServerError);
                fail(call, ApiError::internal())
            }
            (_, Some(CreateFault::Error)) => {
                call.fault = Some(Fault::AppliedServerError);
                fail(call, ApiError::internal())
            }
            (Draw::ApplyThenDrop, _) | (_, Some(CreateFault::Drop)) => {
                call.fault = Some(Fault::Dropped);
                Reply {
                    drop: true,
                    ..Reply::new(status, Vec::new())
                }
            }
            _ => Reply::new(status, body),
        }
    }

    /// A participant call the fault loses: checked and answered as usual (`202` when it passes),
    /// but never queued, so it never lands.
    fn lose(&mut self, endpoint: Endpoint, call: &mut CallRecord) -> Reply {
        let checked = match endpoint {
            Endpoint::AddParticipant(id, body) => body
                .and_then(|handle| self.world.check_add(&id, &handle))
                .map(|_| "Participant addition queued"),
            Endpoint::RemoveParticipant(id, body) => body
                .and_then(|handle| self.world.check_remove(&id, &handle))
                .map(|_| "Participant removal queued"),
            _ => unreachable!("only participant calls are lost"),
        };
        match checked {
            Ok(message) => {
                call.fault = Some(Fault::Lost);
                Reply::new(202, accepted(message, &call.trace_id))
            }
            Err(error) => fail(call, error),
        }
    }

    /// The answer a [`Tamper`] scripts for this request, if any; it applies nothing.
    fn tampered(&self, endpoint: &Endpoint, call: &mut CallRecord) -> Option<Reply> {
        let (chat, read) = match endpoint {
            Endpoint::GetChat(id) => (id, true),
            Endpoint::AddParticipant(id, _) | Endpoint::RemoveParticipant(id, _) | Endpoint::UpdateChat(id, _) => {
                (id, false)
            }
            Endpoint::ListChats(_) | Endpoint::ListLines | Endpoint::CreateChat(_) | Endpoint::Refused { .. } => {
                return None
            }
        };
        let tamper = self.tampers.get(chat).filter(|t| t.answers(read))?;
        let reply = match tamper {
            Tamper::Fail {
                status, code, message, ..
            } => fail(
                call,
                ApiError {
                    status: *status,
                    code: *code,
                    message: message.clone(),
                    retry_after: None,
                },
            ),
            Tamper::Redirect { status, location, .. } => Reply {
                location: Some(location.clone()),
                ..Reply::new(*status, Vec::new())
            },
            Tamper::Oversize { bytes } => Reply {
                pad_to: Some(*bytes),
                ..Reply::new(200, json(&wire::Chat::new(self.world.chat(chat)?)))
            },
            Tamper::Edit { .. } | Tamper::UpdateFails { .. } => return None,
        };
        call.fault = Some(Fault::Tampered);
        Some(reply)
    }

    /// A chat as `GET /v3/chats/{id}` answers it, edits of its [`Tamper`] applied.
    fn chat_json(&self, chat: &crate::world::ChatRecord) -> Vec<u8> {
        match self.tampers.get(&chat.id) {
            Some(tamper @ Tamper::Edit { .. }) => json(&self.edited(chat, tamper)),
            _ => json(&wire::Chat::new(chat)),
        }
    }

    fn edited(&self, chat: &crate::world::ChatRecord, tamper: &Tamper) -> serde_json::Value {
        let mut value = serde_json::to_value(wire::Chat::new(chat)).expect("API answers serialize");
        tamper.edit(&mut value);
        value
    }

    /// `GET /v3/chats`, newest first: `from` (one of the lines, `+` optional; every line's chats
    /// without it), `to` (a participant), `limit`, `cursor`.
    fn list_chats(&self, query: &[(String, String)]) -> Result<Vec<u8>, ApiError> {
        let mut limit = DEFAULT_LIMIT;
        let mut offset = 0;
        let mut from = None;
        let mut to = None;
        for (key, value) in query {
            match key.as_str() {
                "limit" => {
                    limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid_request(format!(
                                "`limit` must be an integer from 1 to {MAX_LIMIT}, not `{value}`"
                            ))
                        })?;
                }
                "cursor" => {
                    offset = decode_cursor(value)
                        .filter(|&n| n <= self.world.chats().len())
                        .ok_or_else(|| {
                            ApiError::invalid_request(format!("`cursor` `{value}` was not issued by this API"))
                        })?;
                }
                "from" => {
                    let phone = if value.starts_with('+') {
                        value.clone()
                    } else {
                        format!("+{value}")
                    };
                    from = Some(
                        canonical_handle(&phone)
                            .filter(|h| h.starts_with('+'))
                            .ok_or_else(|| ApiError::invalid_handle(value))?,
                    );
                }
                "to" => to = Some(canonical_handle(value).ok_or_else(|| ApiError::invalid_handle(value))?),
                _ => {}
            }
        }
        let matching: Vec<_> = self
            .world
            .newest_first()
            .filter(|chat| from.as_ref().is_none_or(|from| *from == chat.line))
            .filter(|chat| {
                to.as_ref().is_none_or(|to| {
                    chat.participants
                        .iter()
                        .any(|p| &p.handle == to && p.status == crate::world::Status::Active)
                })
            })
            .collect();
        let end = (offset + limit).min(matching.len());
        let page = matching.get(offset..end).unwrap_or_default();
        let next_cursor = (end < matching.len()).then(|| encode_cursor(end));
        if self.tampers.is_empty() {
            return Ok(json(&wire::ListChatsResult {
                chats: page.iter().map(|chat| wire::Chat::new(chat)).collect(),
                next_cursor,
            }));
        }
        let chats = page
            .iter()
            .map(|chat| match self.tampers.get(&chat.id) {
                Some(tamper) => self.edited(chat, tamper),
                None => serde_json::to_value(wire::Chat::new(chat)).expect("API answers serialize"),
            })
            .collect();
        Ok(json(&wire::ListChatsResult { chats, next_cursor }))
    }
}

/// Method, path below the base, chat and handle of a request, for the log.
fn describe(endpoint: &Endpoint) -> (&str, String, Option<String>, Option<String>) {
    match endpoint {
        Endpoint::ListChats(_) => ("GET", "/v3/chats".to_owned(), None, None),
        Endpoint::GetChat(id) => ("GET", format!("/v3/chats/{id}"), Some(id.clone()), None),
        Endpoint::ListLines => ("GET", "/v3/phone_numbers".to_owned(), None, None),
        Endpoint::CreateChat(_) => ("POST", "/v3/chats".to_owned(), None, None),
        Endpoint::UpdateChat(id, _) => ("PUT", format!("/v3/chats/{id}"), Some(id.clone()), None),
        Endpoint::AddParticipant(id, body) | Endpoint::RemoveParticipant(id, body) => {
            let method = if matches!(endpoint, Endpoint::AddParticipant(..)) {
                "POST"
            } else {
                "DELETE"
            };
            (
                method,
                format!("/v3/chats/{id}/participants"),
                Some(id.clone()),
                body.as_ref().ok().cloned(),
            )
        }
        Endpoint::Refused { method, path, .. } => (method, path.clone(), None, None),
    }
}

fn fail(call: &mut CallRecord, error: ApiError) -> Reply {
    call.code = Some(error.code);
    let body = json(&wire::ErrorResponse::new(&error, &call.trace_id));
    Reply {
        retry_after: error.retry_after,
        ..Reply::new(error.status, body)
    }
}

fn accepted(message: &'static str, trace_id: &str) -> Vec<u8> {
    json(&wire::Accepted {
        message,
        status: "accepted",
        trace_id,
    })
}

fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("API answers serialize")
}

/// Cursors are opaque to clients; inside they are the offset of the next page.
fn encode_cursor(offset: usize) -> String {
    format!("c_{offset:x}")
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    usize::from_str_radix(cursor.strip_prefix("c_")?, 16).ok()
}

/// Parses a participant call's body: a JSON object with a `handle` string.
pub fn participant_body(bytes: &[u8]) -> Body {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::invalid_request(format!("the body is not JSON: {e}")))?;
    match value.get("handle") {
        Some(serde_json::Value::String(handle)) if value.is_object() => Ok(handle.clone()),
        _ => Err(ApiError::invalid_request(
            "the body must be a JSON object with a `handle` string",
        )),
    }
}
