//! roster: declarative membership for Linq group chats.
//!
//! # Layout
//!
//! Data flows one way, leaves first: **config → state → plan → linq → sync → apply → ops →
//! render → run**. No module imports one after it (`tests/layers.rs` checks); ARCHITECTURE.md says
//! what each owns and which rules hold across them.
//!
//! - [`escape`], [`clock`], [`handle`], [`op`], [`chat_id`], [`stop`] and [`hint`], used
//!   throughout: text from Linq or a config shown as data, the injectable clock, canonical
//!   handles, the two changes and what each means, which text can name a chat, the one token a
//!   command stops by (a signal, or a halt) with its reason, and the next step an error suggests.
//! - [`config`]: YAML files → validated, canonical [`config::Desired`] (handles, people, errors
//!   with `file:line:column`).
//! - [`state`]: the last applied state; [`state::StateStore`], the interface its backends
//!   implement (load with the journal folded in, atomic save, lock, journal, kept versions); the
//!   file store, and PostgreSQL (every version kept, fenced writes, a leased lock row).
//! - [`plan`]: pure functions `(Desired, State) → Plan`: the chats in scope, diff, safe ordering,
//!   guards.
//! - [`linq`]: the HTTP client for the Linq Partner API v3: typed calls, error envelope, retries,
//!   the adaptive limit on requests in flight and the pace.
//! - [`sync`]: stored versus live: every comparison of the state with what Linq shows (is this
//!   chat drifted? did this change land?), settling and the poller.
//! - [`apply`]: runs a [`plan::Plan`] through the client and records progress in the state.
//! - [`ops`]: the workflows as library calls (settle the journal, refresh, read live, import),
//!   each taking the store, the client, the stop, options and a progress callback, and
//!   returning what it read, found and wrote.
//! - [`render`]: plans and reports → text, JSON, markdown, written to any `impl Write`.
//! - [`watch`]: `roster watch`: Linq's signed webhooks verified and queued, the chats they name
//!   read and recorded, a refresh on an interval, healing with a back-off, a leader elected.
//! - [`cli`] and [`run`]: raw arguments, and the commands: options in, one library call, a
//!   renderer out.

pub mod apply;
pub mod chat_id;
pub mod cli;
pub mod clock;
pub mod config;
pub mod escape;
pub mod handle;
pub mod hint;
pub mod linq;
pub mod members;
pub mod op;
pub mod ops;
pub mod plan;
pub mod render;
pub mod run;
pub mod state;
pub mod stop;
pub mod sync;
pub mod watch;
