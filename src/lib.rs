//! roster: declarative membership for Linq group chats.
//!
//! # Layout
//!
//! Data flows one way: **config → state → plan → apply → render**.
//!
//! - [`config`]: YAML files → validated, canonical [`config::Desired`] (handles, people, errors
//!   with `file:line:column`).
//! - [`state`]: the last applied state behind a small store interface: an atomic file with its
//!   lock and journal, or PostgreSQL (kept versions, fenced writes, a leased lock row).
//! - [`plan`]: pure functions `(Desired, State) → Plan`: diff, safe ordering, guards.
//! - [`linq`]: the HTTP client for the Linq Partner API v3: typed calls, error envelope, retries.
//! - [`apply`]: runs a [`plan::Plan`] through the client and records progress in the state.
//! - [`render`]: plans and reports → text, JSON, markdown, written to any `impl Write`.
//! - [`cli`] and [`run`]: raw arguments, and the commands that wire the parts together.
//! - [`clock`]: the wall clock, in one injectable place, and the times roster records.
//! - [`handle`] and [`escape`], used throughout: canonical handles, and text from Linq or a
//!   config shown as data (control and bidi characters escaped).

pub mod apply;
pub mod cli;
pub mod clock;
pub mod config;
pub mod escape;
pub mod handle;
pub mod linq;
pub mod plan;
pub mod render;
pub mod run;
pub mod state;
