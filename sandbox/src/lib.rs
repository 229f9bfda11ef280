//! linq-sandbox: a local stand-in for the Linq Partner API v3 chat endpoints, strict about
//! Linq's membership rules, with queued changes and fault injection, so that roster's tests,
//! benchmarks and demo can prove that roster never breaks a group.
//!
//! # Layout
//!
//! Leaves first; no module imports one after it (a test in the workspace checks this):
//!
//! - `millis` and `handle`: durations as milliseconds; handles and services as Linq spells
//!   them ([`canonical_handle`]).
//! - [`seed`]: the token, the partner's lines and the chats a sandbox starts with, checked once
//!   into a [`seed::CheckedSeed`].
//! - [`world`]: lines, chats, landed participants, queued changes, names and icons, the
//!   messages sent, Linq's rules, violations and each chat's lowest and highest landed member
//!   count; public so that property tests can replay plans through the same rules on a clock
//!   of their own.
//! - `create`: the bodies of `POST /v3/chats` and `PUT /v3/chats/{id}` checked, the service a
//!   new chat goes by, idempotency keys honoured or ignored ([`Idempotency`]), the faults a
//!   create meets after making its chat ([`CreateFault`]), and creates held before answering.
//! - `subscription`: the webhook subscription ([`WebhookOptions`]): URL, signing secret, ids,
//!   Linq's retry schedule ([`RETRY_DELAYS`], scaled) and the delivery faults.
//! - [`faults`]: latency (fixed, stepping at a moment, jittering, or growing with the load
//!   through a few workers and a queue), a rate limit (token bucket, fixed or sliding
//!   window), a cap on requests in flight and failures, drawn from a seeded generator; among them participant calls answered `202 accepted` that never land (a
//!   share of calls, or every call for chosen handles), as a change Linq accepts and then
//!   loses; landing times scrambled so that a chat's changes land out of the order they were
//!   accepted in; and a token revoked after a number of requests.
//! - [`tamper`]: scripted breaches of the contract for one chat (fields dropped or broken,
//!   another chat's id, oversized answers, redirects, chosen errors such as 409 `2013`).
//! - `wire`: the JSON shapes of Linq's OpenAPI schemas.
//! - `webhook`: the world's events as Linq's webhook envelopes, their signature
//!   ([`sign_webhook`]), the faults drawn for each, and the log of events ([`WebhookEvent`])
//!   and attempts ([`Delivery`]).
//! - `api`: one request from arrival to answer, the call log, and the state every handle
//!   shares.
//! - `deliver`: the task beside the server that lands changes as they fall due and POSTs the
//!   webhooks, with Linq's retries.
//! - `http`: axum routes for the API (`/api/partner/v3/...`) and the control API
//!   (`/_sandbox/...`).
//!
//! # Endpoints
//!
//! Under `/api/partner`, with a bearer token, answered in Linq's schemas and error envelope:
//!
//! - `GET /v3/phone_numbers`: the partner's lines (`ListPhoneNumbersResultV2`): the seed's `me`,
//!   then each line a seeded chat names ([`SeedChat::line`]), then those added
//!   ([`Sandbox::add_line`]).
//! - `GET /v3/chats`: newest first by `created_at` (chats created through the API, the last
//!   first, then the seeded ones in the seed's order); `from` (a line, `+` optional) selects
//!   that line's chats, every line's without it; `to` a participant; `limit` 1..=100 (20) and
//!   an opaque `cursor`.
//! - `GET /v3/chats/{id}`: the `Chat`.
//! - `POST /v3/chats` (`CreateChatRequest` → `201 CreateChatResult`): `from` one of the lines;
//!   `to` 1 to 31 handles (E.164 or email), none twice and not `from`; one recipient makes a
//!   direct chat (or writes in the line's direct chat with that handle, if there is one), more
//!   make a group named by default after its recipients, comma-separated; `message.parts` one
//!   text part (the sandbox sends text only; Linq forbids two text parts in a row);
//!   `preferred_service`, `effect` and `idempotency_key` as Linq documents them, the key
//!   honoured or ignored as [`Options::idempotency`] says. Each first message is recorded
//!   ([`Sandbox::messages`]); a create can make its chat and then answer 500 or drop the
//!   connection ([`Options::create_error_rate`], [`Options::create_drop_rate`],
//!   [`Sandbox::fail_next_creates`]) or wait before answering ([`Sandbox::hold_creates`]).
//! - `PUT /v3/chats/{id}` (`UpdateChatRequest` → `200 Chat`): `display_name` and/or
//!   `group_chat_icon` of a group; the icon is kept ([`Sandbox::chat`]) but, as in Linq, never
//!   answered.
//! - `POST` and `DELETE /v3/chats/{id}/participants`: queued changes (`202`) that land after
//!   [`Options::land_delay`], under Linq's membership rules.
//!
//! # Webhooks
//!
//! With a subscription URL ([`WebhookOptions::url`], `--webhook-url`, `POST /_sandbox/webhook`)
//! the sandbox POSTs a webhook for every change as it happens: `participant.added` and
//! `participant.removed` when a queued change lands (the deliverer lands them when due, whether
//! or not anyone looks) and for outside adds, removals and leaves; `chat.group_name_updated` and
//! `chat.group_icon_updated` for updates through `PUT` (`changed_by_handle` the chat's own line)
//! and outside (`changed_by_handle` null); their `_failed` twins for an update a
//! [`Tamper::UpdateFails`] fails after its `200`; `chat.created` for each chat a create makes.
//! Each body is Linq's `WebhookEnvelopeBase` (`api_version` `v3`, `webhook_version`
//! `2026-02-03`, or `2025-01-01` when the URL asks `?version=2025-01-01`, a UUID `event_id`,
//! `trace_id`, `partner_id`) with the event's payload schema as `data`, sent with
//! `X-Webhook-Event`, `X-Webhook-Subscription-ID`, `X-Webhook-Timestamp` (unix seconds, plus
//! [`WebhookOptions::timestamp_offset`]) and `X-Webhook-Signature`, the hex HMAC-SHA256 of
//! `{timestamp}.{raw body}` under the signing secret. A delivery is attempted up to 6 times
//! (after 2, 4, 8, 16 and 30 s, times [`WebhookOptions::retry_scale`]) while it gets a 5xx, a
//! 429, a 3xx or no answer within [`WebhookOptions::timeout`]; a 2xx delivers it, another 4xx
//! fails it. First attempts go one after another in the order the changes happened; retries
//! run beside them. Seeded faults: a share delivered twice with the same `event_id`
//! ([`WebhookOptions::duplicate_rate`]), held back behind the next webhook
//! ([`WebhookOptions::reorder_rate`]) and never sent ([`WebhookOptions::drop_rate`]).
//! [`Sandbox::webhook_events`] and [`Sandbox::deliveries`] tell what was sent;
//! [`Sandbox::wait_for_webhooks`] waits until every webhook so far is settled.
//!
//! # Use
//!
//! In tests, [`Sandbox::start`] (async, on a listener you bound) or [`Sandbox::spawn`] (its own
//! thread) serve a [`Seed`] with [`Options`]; point the client at [`Sandbox::base_url`] with the
//! seed's token, then ask the handle what happened: [`Sandbox::members`], [`Sandbox::calls`],
//! [`Sandbox::violations`], [`Sandbox::member_range`], [`Sandbox::messages`],
//! [`Sandbox::chat`]. As a process (`linq-sandbox --seed FILE`), the same is served with a
//! control API beside it, without auth:
//!
//! - `GET /_sandbox/calls`: the call log, as [`CallRecord`]s (`arrived_at_ms` and `at_ms` since
//!   start, and the requests `in_flight` when each arrived).
//! - `GET /_sandbox/violations`: [`Violation`]s.
//! - `GET /_sandbox/chats`: chat id → landed active members, the chat's own line excluded.
//! - `GET /_sandbox/chats/{id}`: [`ChatDetails`]: `{"id", "line", "display_name", "icon",
//!   "service", "is_group", "members", "pending"}` (404 for an unknown chat).
//! - `GET /_sandbox/messages`: every message sent, as [`Message`]s: `{"id", "chat_id", "from",
//!   "to", "service", "parts": ["text"], "preferred_service", "idempotency_key", "effect",
//!   "at_ms"}`.
//! - `GET /_sandbox/member-ranges`: chat id → [`MemberRange`], the lowest and highest landed
//!   member count over the chat's life, to check against a configured floor and cap.
//! - `POST /_sandbox/chats/{id}/outside-add|outside-remove|leave` with `{"handle": ...}`:
//!   drift, applied at once (204; 400 or 404 with `{"error": ...}`).
//! - `POST /_sandbox/chats/{id}/outside-rename` with `{"display_name": "..."}` (or `null`) and
//!   `POST /_sandbox/chats/{id}/outside-icon` with `{"icon": "https://..."}` (or `null`): a
//!   group's name or icon changed outside the API (204; 400 for a direct chat, 404).
//! - `POST /_sandbox/chats/{id}/land-ahead` with `{"handle": ...}`: land that handle's queued
//!   change now, ahead of changes accepted before it (204; 404 when none is queued).
//! - `POST /_sandbox/land`: land every queued change now.
//! - `POST /_sandbox/lines` with `{"phone_number": "+1..."}`: the partner gets another line
//!   (204; 400 for a number that is not E.164).
//! - `POST /_sandbox/create-faults` with `{"fault": "error" | "drop", "count": N}`: the next N
//!   creates that make a chat answer 500 or drop the connection (204; a count of 0 ends it).
//! - `POST /_sandbox/creates/hold`: from now on every create that made its chat waits before
//!   answering; `GET /_sandbox/creates/held` lists them (`{"held": [chat ids]}`);
//!   `POST /_sandbox/creates/release` lets them answer and holds no more (204 each).
//! - `POST /_sandbox/webhook` with `{"url": "http://..." | null, "secret": "..."}` (`secret`
//!   optional): where webhooks go from now on, `null` for nowhere (204; 400 for a bad URL).
//! - `GET /_sandbox/webhooks/events`: every webhook made, as [`WebhookEvent`]s: `{"event_id",
//!   "event_type", "chat_id", "fate": "pending" | "delivered" | "failed" | "dropped",
//!   "duplicate", "late", "at_ms"}`.
//! - `GET /_sandbox/webhooks/deliveries`: every attempt, as [`Delivery`]s: `{"event_id",
//!   "event_type", "chat_id", "attempt", "duplicate", "status" (null: no answer), "error",
//!   "at_ms"}`.
//! - `POST /_sandbox/chats/{id}/tamper` with a [`Tamper`] as JSON (e.g.
//!   `{"kind": "fail", "status": 409, "code": 2013, "message": "This chat is unavailable"}`,
//!   `{"kind": "edit", "edits": [{"op": "remove", "path": "/handles"}]}`,
//!   `{"kind": "redirect", "status": 307, "location": "http://…", "calls": "changes"}`,
//!   `{"kind": "oversize", "bytes": 100000000}`, `{"kind": "update_fails", "error_code": 4001}`):
//!   that chat's answers break the contract (204; 400 or 404 with `{"error": ...}`). `DELETE`
//!   on the same path ends it.
//!
//! # Codes the sandbox chooses where Linq documents none
//!
//! - 400 `1001`: a malformed body (no JSON `handle` string; a create or update that breaks its
//!   schema: `to` empty, over 31, repeating a handle or naming `from`; no `message`, no parts,
//!   an empty or over-long text, two text parts, a media part, an unknown `preferred_service`
//!   or effect; an update with neither field or an icon that is not an `http(s)` URL), query
//!   (`limit` outside 1..=100, a cursor it never issued) or a method a route does not serve
//!   (405).
//! - 400 `1002`: a handle that is neither E.164 nor an email, and a `from` that is not E.164.
//! - 403 `2005` (Linq's `Forbidden`): a create `from` a number that is not one of the lines.
//! - 422 `1003` (Linq's `UnprocessableEntity`): an honoured `idempotency_key` repeated with
//!   another request.
//! - 409 `2015` for a group too small to change: an add to a chat of fewer than 3 participants,
//!   or a removal that would leave fewer than 3 (the chat's own line counts; removals already
//!   queued are subtracted), as for adding an active or already-queued member or removing a
//!   non-member.
//! - 409 `2017` for a cross-service add (a handle whose service is known differs from the
//!   chat's), and for a create whose `preferred_service` is `iMessage` (which Linq enforces)
//!   to a recipient known to use another service. Without `preferred_service` a new chat takes
//!   the lowest service a recipient is known to use (iMessage → RCS → SMS); `RCS` falls back to
//!   SMS likewise.
//! - An empty `display_name` or `group_chat_icon` in an update clears it (the schema has no
//!   `null` for them); a repeat of an honoured key answers `201` with the chat and message the
//!   key made.
//! - injected server errors: 500 `3006` or 503 `3003`; rate limiting and requests past the cap
//!   on requests in flight: 429 `1007` (the cap's with `Retry-After: 1`).
//! - A failed update's webhook carries `error_code` 3007 unless the tamper names another (Linq
//!   names 3007 and 4001 without saying which means what). An update that changes nothing
//!   sends no webhook.
//! - Webhook retries: Linq's page says both "non-2xx is retried" and "4xx other than 429 is
//!   not"; the sandbox follows the second, and treats a redirect as a failure to retry.

mod api;
mod create;
mod deliver;
pub mod faults;
mod handle;
mod http;
mod millis;
pub mod seed;
mod subscription;
pub mod tamper;
mod webhook;
mod wire;
pub mod world;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

pub use api::CallRecord;
pub use create::{CreateFault, Idempotency};
pub use faults::{Fault, LatencyStep, Options, RateLimitKind, IN_FLIGHT_RETRY_AFTER};
pub use handle::canonical_handle;
pub use http::BASE_PATH;
pub use seed::{Seed, SeedChat, SeedError};
pub use subscription::{WebhookOptions, MAX_ATTEMPTS, RETRY_DELAYS};
pub use tamper::{Calls, Edit, Tamper};
pub use webhook::{sign as sign_webhook, Delivery, Fate, WebhookEvent};
pub use world::{Cause, ChatDetails, Content, Effect, Line, MemberRange, Message, Violation, MIN_PARTICIPANTS};

use api::{Core, CoreGuard, Shared};
use world::{Outside, Update};

/// A running sandbox: its address and a window on its state.
///
/// Cheap to clone; the server stops once the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _stop: Arc<Stop>,
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Tells the server to stop when dropped.
#[derive(Debug)]
struct Stop(Option<oneshot::Sender<()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            // The server may be gone already; nothing to tell then.
            let _ = stop.send(());
        }
    }
}

impl Sandbox {
    /// Serves `seed` on `listener`, on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When the seed is invalid (see [`Seed::validated`]) or the listener has no address.
    pub async fn start(seed: Seed, options: Options, listener: tokio::net::TcpListener) -> Sandbox {
        let (sandbox, stop) = Sandbox::prepare(&seed, options, listener.local_addr().expect("listener address"));
        tokio::spawn(serve(listener, sandbox.shared.clone(), stop));
        sandbox
    }

    /// Serves `seed` on `127.0.0.1` and a free port, from a runtime on a thread of its own: for
    /// tests that are not async.
    ///
    /// # Panics
    ///
    /// When the seed is invalid or no loopback port can be bound.
    pub fn spawn(seed: Seed, options: Options) -> Sandbox {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("make the listener non-blocking");
        let (sandbox, stop) = Sandbox::prepare(&seed, options, listener.local_addr().expect("listener address"));
        let shared = sandbox.shared.clone();
        std::thread::Builder::new()
            .name("linq-sandbox".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build the sandbox runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("register the listener");
                    serve(listener, shared, stop).await;
                });
            })
            .expect("start the sandbox thread");
        sandbox
    }

    fn prepare(seed: &Seed, options: Options, addr: SocketAddr) -> (Sandbox, oneshot::Receiver<()>) {
        let core = Core::new(seed, options).unwrap_or_else(|e| panic!("{e}"));
        let (stop, stopped) = oneshot::channel();
        let sandbox = Sandbox {
            shared: Arc::new(Shared::new(core)),
            addr,
            _stop: Arc::new(Stop(Some(stop))),
        };
        (sandbox, stopped)
    }

    /// Reads a seed from a JSON file and checks it.
    pub fn load_seed(path: impl AsRef<Path>) -> anyhow::Result<Seed> {
        Seed::load(path)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL, like Linq's `https://api.linqapp.com/api/partner`.
    pub fn base_url(&self) -> String {
        format!("http://{}{BASE_PATH}", self.addr)
    }

    /// The token API requests must carry.
    pub fn token(&self) -> String {
        self.shared.lock().token.clone()
    }

    fn landed(&self) -> CoreGuard<'_> {
        let mut core = self.shared.lock();
        core.world.land_due(Instant::now());
        core
    }

    /// A chat's landed active members, your own line excluded; `None` for an unknown chat.
    pub fn members(&self, chat: &str) -> Option<BTreeSet<String>> {
        self.landed().world.members(chat)
    }

    /// How many accepted changes of a chat have not landed yet; `None` for an unknown chat.
    pub fn pending(&self, chat: &str) -> Option<usize> {
        self.landed().world.pending(chat)
    }

    /// Every API request received so far, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.lock().calls.clone()
    }

    /// The most API requests that were ever in flight at the sandbox at once (requests refused
    /// for [`Options::max_in_flight`] not counted).
    pub fn peak_in_flight(&self) -> usize {
        self.shared.lock().peak_in_flight
    }

    /// How many participant calls were accepted into the queue, whatever their clients saw.
    pub fn mutating_calls_applied(&self) -> usize {
        self.shared.lock().calls.iter().filter(|c| c.applied).count()
    }

    /// The lowest and highest landed member count of a chat so far (your own line excluded),
    /// to check against the floor and cap a config sets; `None` for an unknown chat.
    pub fn member_range(&self, chat: &str) -> Option<MemberRange> {
        self.landed().world.member_range(chat)
    }

    /// Starts every chat's member range afresh at its landed count (after drift made outside
    /// roster, say, so that the ranges then tell of roster's own calls).
    pub fn restart_member_ranges(&self) {
        self.landed().world.restart_member_ranges();
    }

    /// Lands the queued change of `handle` in `chat` now, ahead of changes accepted before it,
    /// as a queue that does not keep order could; false when none is queued.
    pub fn land_ahead(&self, chat: &str, handle: &str) -> bool {
        self.landed().world.land_ahead(chat, handle, Instant::now())
    }

    /// Every moment a group chat had fewer than 3 landed participants, your own line included.
    pub fn violations(&self) -> Vec<Violation> {
        self.landed().world.violations().to_vec()
    }

    /// The options in force.
    pub fn options(&self) -> Options {
        self.shared.lock().options.clone()
    }

    /// Changes the options; the fault generator restarts from `options.seed`. Changes already
    /// queued keep their landing time.
    pub fn set_options(&self, options: Options) {
        self.shared.lock().set_options(options);
    }

    /// Lands every queued change now, in order per chat.
    pub fn land_all(&self) {
        self.shared.lock().world.land_all(Instant::now());
    }

    /// From now on, `chat`'s answers break the contract as `tamper` scripts (replacing any
    /// earlier tamper of that chat).
    ///
    /// # Panics
    ///
    /// On an unknown chat or a tamper that cannot be served (a redirect status outside 3xx, an
    /// error status outside 4xx and 5xx, an edit path that is not a JSON pointer).
    pub fn tamper(&self, chat: &str, tamper: Tamper) {
        if let Err(message) = tamper.check() {
            panic!("sandbox: {message}");
        }
        let mut core = self.shared.lock();
        assert!(core.world.chat(chat).is_some(), "sandbox: no chat `{chat}`");
        core.tampers.insert(chat.to_owned(), tamper);
    }

    /// Ends the tamper of `chat`: it answers by the contract again.
    pub fn untamper(&self, chat: &str) {
        self.shared.lock().tampers.remove(chat);
    }

    /// Bytes of [oversized](Tamper::Oversize) answers handed to connections so far: a client
    /// that stops reading stops this count well short of the answers' size.
    pub fn oversize_bytes_sent(&self) -> u64 {
        self.shared
            .lock()
            .oversize_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds `handle` to `chat` at once, as someone outside roster would (drift).
    ///
    /// # Panics
    ///
    /// On an unknown chat, an invalid handle or your own line.
    pub fn add_outside(&self, chat: &str, handle: &str) {
        self.outside(chat, handle, Outside::Add);
    }

    /// Removes `handle` from `chat` at once (status `removed`), as someone outside roster would.
    ///
    /// # Panics
    ///
    /// On an unknown chat, an invalid handle, your own line or a handle that is not a member.
    pub fn remove_outside(&self, chat: &str, handle: &str) {
        self.outside(chat, handle, Outside::Remove);
    }

    /// `handle` leaves `chat` at once (status `left`).
    ///
    /// # Panics
    ///
    /// As [`Sandbox::remove_outside`].
    pub fn leave(&self, chat: &str, handle: &str) {
        self.outside(chat, handle, Outside::Leave);
    }

    /// The partner's lines, as `GET /v3/phone_numbers` lists them.
    pub fn lines(&self) -> Vec<Line> {
        self.shared.lock().world.lines().to_vec()
    }

    /// Gives the partner another line (E.164), as when Linq assigns one; false when it has it.
    ///
    /// # Panics
    ///
    /// On a number that is not E.164.
    pub fn add_line(&self, number: &str) -> bool {
        self.shared
            .lock()
            .world
            .add_line(number)
            .unwrap_or_else(|message| panic!("sandbox: {message}"))
    }

    /// Every chat's id, newest first (the order `GET /v3/chats` lists them in).
    pub fn chat_ids(&self) -> Vec<String> {
        self.shared.lock().world.newest_first().map(|c| c.id.clone()).collect()
    }

    /// What the sandbox holds of a chat: line, name, icon, service, landed members, queued
    /// changes; `None` for an unknown chat.
    pub fn chat(&self, chat: &str) -> Option<ChatDetails> {
        self.landed().world.details(chat)
    }

    /// Every message sent (the first messages of created chats), in order: what reached people.
    pub fn messages(&self) -> Vec<Message> {
        self.shared.lock().world.messages().to_vec()
    }

    /// Renames `chat` at once (`None` removes its name), as someone outside roster would.
    ///
    /// # Panics
    ///
    /// On an unknown chat or a direct chat.
    pub fn rename_outside(&self, chat: &str, display_name: Option<&str>) {
        self.update_outside(
            chat,
            Update {
                display_name: Some(display_name.map(str::to_owned)),
                icon: None,
            },
        );
    }

    /// Changes `chat`'s icon at once (`None` removes it), as someone outside roster would.
    ///
    /// # Panics
    ///
    /// On an unknown chat or a direct chat.
    pub fn set_icon_outside(&self, chat: &str, icon: Option<&str>) {
        self.update_outside(
            chat,
            Update {
                display_name: None,
                icon: Some(icon.map(str::to_owned)),
            },
        );
    }

    fn update_outside(&self, chat: &str, update: Update) {
        let mut core = self.landed();
        if let Err(message) = core.world.update_outside(chat, &update, Instant::now()) {
            panic!("sandbox: {message}");
        }
    }

    /// The next `count` creates that make a chat (and send its message) answer as `fault`
    /// says: 500, or a dropped connection. Replaces an earlier order; 0 ends it.
    pub fn fail_next_creates(&self, fault: CreateFault, count: usize) {
        self.shared.lock().creates.force(fault, count);
    }

    /// From now on, every create that made its chat and sent its message waits before
    /// answering, until [`Sandbox::release_creates`]: the instant a `kill -9` trial aims at.
    pub fn hold_creates(&self) {
        self.shared.holds.hold();
    }

    /// Lets every held create answer, and holds no more.
    pub fn release_creates(&self) {
        self.shared.holds.release();
    }

    /// The chats of the creates held now, oldest first.
    pub fn held_creates(&self) -> Vec<String> {
        self.shared.holds.held()
    }

    /// Blocks until `count` creates are held, for at most `timeout`; whether they are.
    pub fn wait_for_held_creates(&self, count: usize, timeout: std::time::Duration) -> bool {
        self.shared.holds.wait_for(count, timeout)
    }

    /// Points the webhook subscription at `url` (`None`: send no more webhooks, and record no
    /// events), keeping the secret and the other [`WebhookOptions`].
    pub fn set_webhook_url(&self, url: Option<&str>) {
        self.shared.lock().set_webhook(url.map(str::to_owned), None);
    }

    /// Every webhook made so far, oldest first, with its fate.
    pub fn webhook_events(&self) -> Vec<WebhookEvent> {
        self.shared.lock_quietly().webhooks.events().to_vec()
    }

    /// Every delivery attempt so far, in the order they ended, with the answer each got.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock_quietly().webhooks.deliveries().to_vec()
    }

    /// Blocks until every change made so far has its webhook settled (delivered, failed,
    /// dropped), for at most `timeout`; whether they are. Queued changes that have not landed
    /// are not waited for: their webhooks come when they land.
    pub fn wait_for_webhooks(&self, timeout: std::time::Duration) -> bool {
        self.shared.wake.notify_one();
        self.shared
            .wait_until(timeout, |core: &Core| !core.world.has_events() && core.webhooks.idle())
    }

    fn outside(&self, chat: &str, handle: &str, change: Outside) {
        let now = Instant::now();
        let mut core = self.landed();
        if let Err(message) = core.world.outside(chat, handle, change, now) {
            panic!("sandbox: {message}");
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, stop: oneshot::Receiver<()>) {
    let deliverer = tokio::spawn(deliver::run(shared.clone()));
    // Stops the deliverer and its deliveries however serving ends.
    let _deliverer = AbortOnDrop(deliverer);
    let app = http::router(shared.clone());
    let shutdown = async move {
        // A dropped sender means the last handle is gone: stop as well.
        let _ = stop.await;
        // Held creates would keep their connections, and the server, open.
        shared.holds.release();
    };
    // Accept errors are retried inside; the only way out is the shutdown, so nothing to report.
    let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
}
