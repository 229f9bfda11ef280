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
//! - [`seed`]: the token, your own line and the chats a sandbox starts with, checked once into
//!   a [`seed::CheckedSeed`].
//! - [`world`]: chats, landed participants, queued changes, Linq's rules, violations and each
//!   chat's lowest and highest landed member count; public so that property tests can replay
//!   plans through the same rules on a clock of their own.
//! - [`faults`]: latency, a rate limit, a cap on requests in flight and failures, drawn from a
//!   seeded generator; among them participant calls answered `202 accepted` that never land (a
//!   share of calls, or every call for chosen handles), as a change Linq accepts and then
//!   loses; landing times scrambled so that a chat's changes land out of the order they were
//!   accepted in; and a token revoked after a number of requests.
//! - [`tamper`]: scripted breaches of the contract for one chat (fields dropped or broken,
//!   another chat's id, oversized answers, redirects, chosen errors such as 409 `2013`).
//! - `api`: one request from arrival to answer, the call log, and the state every handle
//!   shares.
//! - `wire`: the JSON shapes of Linq's OpenAPI schemas.
//! - `http`: axum routes for the API (`/api/partner/v3/...`) and the control API
//!   (`/_sandbox/...`).
//!
//! # Use
//!
//! In tests, [`Sandbox::start`] (async, on a listener you bound) or [`Sandbox::spawn`] (its own
//! thread) serve a [`Seed`] with [`Options`]; point the client at [`Sandbox::base_url`] with the
//! seed's token, then ask the handle what happened: [`Sandbox::members`], [`Sandbox::calls`],
//! [`Sandbox::violations`], [`Sandbox::member_range`]. As a process (`linq-sandbox --seed FILE`),
//! the same is served with a control API beside it, without auth:
//!
//! - `GET /_sandbox/calls`: the call log, as [`CallRecord`]s (`arrived_at_ms` and `at_ms` since
//!   start, and the requests `in_flight` when each arrived).
//! - `GET /_sandbox/violations`: [`Violation`]s.
//! - `GET /_sandbox/chats`: chat id → landed active members, your own line excluded.
//! - `GET /_sandbox/member-ranges`: chat id → [`MemberRange`], the lowest and highest landed
//!   member count over the chat's life, to check against a configured floor and cap.
//! - `POST /_sandbox/chats/{id}/outside-add|outside-remove|leave` with `{"handle": ...}`:
//!   drift, applied at once (204; 400 or 404 with `{"error": ...}`).
//! - `POST /_sandbox/chats/{id}/land-ahead` with `{"handle": ...}`: land that handle's queued
//!   change now, ahead of changes accepted before it (204; 404 when none is queued).
//! - `POST /_sandbox/land`: land every queued change now.
//! - `POST /_sandbox/chats/{id}/tamper` with a [`Tamper`] as JSON (e.g.
//!   `{"kind": "fail", "status": 409, "code": 2013, "message": "This chat is unavailable"}`,
//!   `{"kind": "edit", "edits": [{"op": "remove", "path": "/handles"}]}`,
//!   `{"kind": "redirect", "status": 307, "location": "http://…", "calls": "changes"}`,
//!   `{"kind": "oversize", "bytes": 100000000}`): that chat's answers break the contract
//!   (204; 400 or 404 with `{"error": ...}`). `DELETE` on the same path ends it.
//!
//! # Codes the sandbox chooses where Linq documents none
//!
//! - 400 `1001`: a malformed body (no JSON `handle` string), query (`limit` outside 1..=100, a
//!   cursor it never issued) or a method a route does not serve (405).
//! - 409 `2015` for a group too small to change: an add to a chat of fewer than 3 participants,
//!   or a removal that would leave fewer than 3 (your own line counts; removals already queued
//!   are subtracted), as for adding an active or already-queued member or removing a non-member.
//! - 409 `2017` for a cross-service add (a handle whose service is known differs from the chat's).
//! - injected server errors: 500 `3006` or 503 `3003`; rate limiting and requests past the cap
//!   on requests in flight: 429 `1007` (the cap's with `Retry-After: 1`).

mod api;
pub mod faults;
mod handle;
mod http;
mod millis;
pub mod seed;
pub mod tamper;
mod wire;
pub mod world;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::oneshot;

pub use api::CallRecord;
pub use faults::{Fault, Options, IN_FLIGHT_RETRY_AFTER};
pub use handle::canonical_handle;
pub use http::BASE_PATH;
pub use seed::{Seed, SeedChat, SeedError};
pub use tamper::{Calls, Edit, Tamper};
pub use world::{Cause, MemberRange, Violation, MIN_PARTICIPANTS};

use api::{Core, Shared};
use world::Outside;

/// A running sandbox: its address and a window on its state.
///
/// Cheap to clone; the server stops once the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _stop: Arc<Stop>,
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
            shared: Arc::new(Shared(Mutex::new(core))),
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

    fn landed(&self) -> MutexGuard<'_, Core> {
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

    fn outside(&self, chat: &str, handle: &str, change: Outside) {
        let now = Instant::now();
        let mut core = self.landed();
        if let Err(message) = core.world.outside(chat, handle, change, now) {
            panic!("sandbox: {message}");
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, stop: oneshot::Receiver<()>) {
    let app = http::router(shared);
    let shutdown = async {
        // A dropped sender means the last handle is gone: stop as well.
        let _ = stop.await;
    };
    // Accept errors are retried inside; the only way out is the shutdown, so nothing to report.
    let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
}
