//! Stored versus live: every comparison of the state with what Linq shows, in one place.
//!
//! The state records what roster last knew of each chat; a read of the chat says what is. Here
//! the two are held side by side:
//!
//! - `drift`: is this chat drifted? The drift model ([`DriftReport`]) and [`observe`], which
//!   records a read over the state without mistaking roster's own queued changes for drift.
//! - `read`: reading many chats at once, where a chat Linq will not show is an answer about it.
//! - `settle`: the calls an interrupted run left unsettled, settled by reading their chats.

mod drift;
mod landing;
mod poll;
mod read;
mod settle;

pub use drift::{
    adopt, before_change, conflict, label, missing, observe, observe_all, recorded, Adopted, Before, ChatDrift,
    Conflict, Drift, DriftReport, DriftStatus, DriftSummary, Observation, Observed, ReadFailure, Recorded,
    DRIFT_FORMAT_VERSION,
};
pub use landing::never_landed;
pub use poll::{poll, PollEnd, Schedule, Stop};
pub use read::{read_chats, Read};
pub use settle::{settle, SettleOptions, Settled};
