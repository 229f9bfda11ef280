//! Settling the calls an interrupted run left unsettled in the journal (rule 4 of
//! [`crate::state::journal`]), by reading their chats.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::landing::{landing, Known, Landing, Seen};
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
/// (rule 4 of the journal). Whether each landed is [`landing`]'s (rules 1 and 6 of
/// [`super::landing`]): one that a read showed landed; one not shown within the grace period,
/// or whose chat Linq no longer knows (`404`), was not made. Any other read failure is
/// returned, and the caller should keep the journal for a later attempt.
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
        since: None,
        ahead: Duration::ZERO,
        then: options.poll_interval,
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
                let seen = Seen::in_chat(live, change.op, &change.handle);
                let shows = landing(Known::Unsettled, seen) == Landing::Landed;
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
        // What the last read found of the changes still waiting (none are when the poll ended
        // in success). A poll with no stop is never stopped.
        let (seen, failure) = match polled {
            Ok(()) | Err(PollEnd::TimedOut | PollEnd::Stopped) => (Seen::NotShown, None),
            Err(PollEnd::Failed(e)) => (Seen::of_failure(&e), Some(e)),
        };
        if let (Landing::Unknown, Some(e)) = (landing(Known::Unsettled, seen), failure) {
            return Err(e);
        }
        settled.not_landed.extend(waiting.into_iter().cloned());
    }
    Ok(settled)
}
