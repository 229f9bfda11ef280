//! Settling the calls an interrupted run left unsettled in the journal (rule 4 of
//! [`crate::state::journal`]), by reading their chats.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::poll::{poll, PollEnd, Schedule};
use crate::linq::{Client, LinqError};
use crate::state::journal::{apply_change, Unsettled};
use crate::state::State;

/// How long [`settle`] waits for a queued change to show.
#[derive(Debug, Clone)]
pub struct SettleOptions {
    /// Linq applies queued changes after a delay; a change not visible after this long counts
    /// as not made.
    pub grace: Duration,
    pub poll_interval: Duration,
}

impl Default for SettleOptions {
    fn default() -> Self {
        SettleOptions {
            grace: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// What [`settle`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Settled {
    /// Visible in Linq: applied to the state.
    pub landed: Vec<Unsettled>,
    /// Not visible within the grace period: taken as not made.
    pub not_landed: Vec<Unsettled>,
}

/// Reads the chats of `unsettled` changes and applies to `state` the ones whose effect shows
/// (rule 4 of the journal). A chat Linq no longer knows (`404`) settles its changes as not
/// made. Any other read failure is returned, and the caller should keep the journal for a later
/// attempt.
pub async fn settle(
    state: &mut State,
    unsettled: &[Unsettled],
    client: &Client,
    options: &SettleOptions,
) -> Result<Settled, LinqError> {
    let mut by_chat: BTreeMap<&str, Vec<&Unsettled>> = BTreeMap::new();
    for change in unsettled {
        by_chat.entry(change.chat.as_str()).or_default().push(change);
    }
    let schedule = Schedule {
        read_at_once: true,
        first: options.poll_interval,
        growth: 1.0,
        longest: options.poll_interval,
        timeout: options.grace,
    };
    let mut settled = Settled::default();
    for (chat, changes) in by_chat {
        // A change seen once has landed, whatever later reads show.
        let mut waiting = changes;
        let mut landed = Vec::new();
        // Nothing stops this poll but its timeout: the caller drops the whole settling on a
        // signal, and after a halt the reads fail.
        let polled = poll(client, chat, &schedule, None, |live| {
            waiting.retain(|change| {
                let shows = live.shows(change.op, &change.handle);
                if shows {
                    landed.push(*change);
                }
                !shows
            });
            waiting.is_empty()
        })
        .await;
        for change in landed {
            // Seen to land: no longer pending, so when it was accepted does not matter.
            apply_change(state, &change.chat, change.op, &change.handle, None);
            if let Some(known) = state.chats.get_mut(&change.chat) {
                known.pending.landed(change.op, &change.handle);
            }
            settled.landed.push(change.clone());
        }
        match polled {
            // Not seen within the grace period, or the chat is gone: not made.
            Ok(()) | Err(PollEnd::TimedOut | PollEnd::Stopped) => {}
            Err(PollEnd::Failed(e)) if e.status() == Some(404) => {}
            Err(PollEnd::Failed(e)) => return Err(e),
        }
        settled.not_landed.extend(waiting.into_iter().cloned());
    }
    Ok(settled)
}
