//! Stored versus live: every comparison of the state with what Linq shows, in one place.
//!
//! The state records what roster last knew of each chat, with the changes Linq accepted that
//! were not seen to land; a read of the chat says what is. Here the two are held side by side:
//!
//! - `drift.rs`: is this chat drifted? Decided before apply changes a chat
//!   ([`before_change`]), when refresh records a read ([`observe`]) and when import adopts a
//!   chat already in the state ([`conflict`]); the models they fill ([`DriftReport`],
//!   [`Drift`], [`Conflict`]).
//! - `landing.rs`: did this change land? One decision, [`landing`], from what roster knew of a
//!   change ([`Known`]) and what a read of its chat found ([`Seen`]), its rules numbered in the
//!   module doc; [`resolve`] settles Linq's answer to an add or a remove by reading the chat
//!   when the answer leaves it open, and [`never_landed`] finds the overdue changes a chat does
//!   not show (rule 4 of [`crate::state::pending`]).
//! - `poll.rs`: waiting for changes to show: the one loop ([`poll`]) behind apply's `wait`
//!   steps and settling.
//! - `settle.rs`: the calls an interrupted run left unsettled in the journal, settled by
//!   reading their chats ([`settle`]).
//! - `create.rs`: did this create make its chat? A create whose answer was lost, settled by
//!   looking for the chat ([`find_created`]; the pure [`search`] and [`settle_create`], rules
//!   numbered in the module doc).
//! - `read.rs`: reading many chats at once, where a chat Linq will not show is an answer about
//!   it ([`read_chats`]).
//!
//! Whether one change shows in a live chat is [`crate::linq::Chat::shows`], from the meaning of
//! [`crate::op::Op`]; what that says about the change is [`landing`]'s.

mod create;
mod drift;
mod landing;
mod poll;
mod read;
mod settle;

pub use create::{find_created, search, settle_create, CreateLanding, NotSettled, Search, CLOCK_ALLOWANCE};
pub use drift::{
    adopt, before_change, conflict, label, observe, observe_all, Adopted, Before, ChatDrift, Conflict, Drift,
    DriftReport, DriftStatus, DriftSummary, Observation, Observed, ReadFailure, Recorded, DRIFT_FORMAT_VERSION,
};
pub use landing::{landing, never_landed, resolve, Known, Landing, Seen};
pub use poll::{poll, PollEnd, Schedule};
pub use read::{read_chats, Read, Unread};
pub use settle::{settle, SettleOptions, Settled};
