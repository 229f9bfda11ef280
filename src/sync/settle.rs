//! Settling the calls an interrupted run left unsettled in the journal (rule 4 of
//! [`crate::state::journal`]), by reading their chats.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::handle::Handle;
use crate::linq::{Chat, Client, LinqError};
use crate::op::Op;
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
/// (rule 4 of the journal). A chat Linq no longer knows (`404`) settles its changes as not made. Any other
/// read failure is returned, and the caller should keep the journal for a later attempt.
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
    let mut settled = Settled::default();
    for (chat_id, changes) in by_chat {
        let deadline = tokio::time::Instant::now() + options.grace;
        let mut waiting = changes;
        loop {
            let chat = match client.get_chat(chat_id).await {
                Ok(chat) => chat,
                Err(e) if e.status() == Some(404) => {
                    settled.not_landed.extend(waiting.into_iter().cloned());
                    break;
                }
                Err(e) => return Err(e),
            };
            let (shown, hidden): (Vec<&Unsettled>, Vec<&Unsettled>) = waiting
                .into_iter()
                .partition(|change| visible(&chat, change.op, &change.handle));
            for change in shown {
                // Seen to land: no longer pending, so when it was accepted does not matter.
                apply_change(state, &change.chat, change.op, &change.handle, None);
                if let Some(known) = state.chats.get_mut(&change.chat) {
                    known.pending.landed(change.op, &change.handle);
                }
                settled.landed.push(change.clone());
            }
            waiting = hidden;
            if waiting.is_empty() || tokio::time::Instant::now() + options.poll_interval > deadline {
                settled.not_landed.extend(waiting.into_iter().cloned());
                break;
            }
            tokio::time::sleep(options.poll_interval).await;
        }
    }
    Ok(settled)
}

/// True when `chat` shows the effect of `op` on `handle`.
pub fn visible(chat: &Chat, op: Op, handle: &Handle) -> bool {
    chat.shows(op, handle)
}
