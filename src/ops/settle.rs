//! Settling the journal an interrupted run left, before anything else writes the state.

use std::collections::BTreeSet;

use super::confirm::confirm;
use super::{unless_stopped, Error, Event, Stage};
use crate::linq::Client;
use crate::op::Op;
use crate::state::create::{record_created, reopened};
use crate::state::{CreateIntent, Loaded, State, StateStore};
use crate::stop::Stop;
use crate::sync::{self, CreateLanding, SettleOptions};

/// What settling a journal found of its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSettled {
    /// Calls that landed: those Linq accepted (in the state already), and those of unknown
    /// outcome that a read showed.
    pub landed: usize,
    /// Calls of unknown outcome that no read showed: taken as not made.
    pub not_made: usize,
    /// Creates whose chat is now bound to their keys: those the journal says made one, and
    /// those of unknown outcome whose chat the search found.
    pub created: usize,
    /// Creates of unknown outcome that the search showed made nothing: the next create of
    /// their keys sends them again, with the same idempotency key.
    pub create_again: usize,
    /// Creates the search could not settle: still journaled, and reported by the apply that
    /// meets their keys (see [`crate::sync::find_created`]).
    pub create_open: usize,
}

/// Settles the journal an interrupted run left in `loaded` (its accepted calls are in the
/// state already): calls of unknown outcome are settled by reading their chats, then the state
/// is saved through `store` (the caller holds the lock) and the journal cleared. `None` when
/// there was no journal; with one, the address is [`confirm`]ed first. A signal stops the reads: nothing is written and the journal stays.
pub async fn settle(
    store: &dyn StateStore,
    loaded: &mut Loaded,
    client: &Client,
    stop: &Stop,
    options: &SettleOptions,
    progress: &mut dyn FnMut(Event),
) -> Result<Option<JournalSettled>, Error> {
    if loaded.journal.is_empty() {
        return Ok(None);
    }
    confirm(client, stop).await?;
    let unsettled = std::mem::take(&mut loaded.journal.unsettled);
    if !loaded.journal.creates.is_empty() {
        progress(Event::SettlingCreates(loaded.journal.creates.len()));
    }
    if !unsettled.is_empty() {
        let chats: BTreeSet<&str> = unsettled.iter().map(|change| change.chat.as_str()).collect();
        progress(Event::Settling {
            calls: unsettled.len(),
            chats: chats.len(),
            grace: options.grace,
        });
    }
    let settled = unless_stopped(
        stop,
        Stage::Settling,
        sync::settle(&mut loaded.state, &unsettled, client, options),
    )
    .await?
    .map_err(Error::Settle)?;
    let creates = std::mem::take(&mut loaded.journal.creates);
    let mut done = JournalSettled {
        landed: loaded.journal.accepted + settled.landed.len(),
        not_made: settled.not_landed.len(),
        created: loaded.journal.created,
        create_again: 0,
        create_open: 0,
    };
    let open = unless_stopped(
        stop,
        Stage::Settling,
        settle_creates(&mut loaded.state, creates, client, &mut done),
    )
    .await?;
    progress(Event::Settled(done));
    store.save(&mut loaded.state)?;
    let kept = match open.is_empty() {
        true => Vec::new(),
        false => reopened(&loaded.state, &[], &open),
    };
    store.replace_journal(&kept)?;
    loaded.journal = Default::default();
    loaded.journal.creates = open;
    Ok(Some(done))
}

/// Looks for the chat of each create the journal left open ([`sync::find_created`]): a chat
/// found is recorded under its key; a create that made nothing is dropped (its key's next
/// create sends it again, with the same idempotency key); the rest are returned, still open.
async fn settle_creates(
    state: &mut State,
    creates: Vec<CreateIntent>,
    client: &Client,
    done: &mut JournalSettled,
) -> Vec<CreateIntent> {
    let mut open = Vec::new();
    for intent in creates {
        let known: BTreeSet<String> = state.chats.keys().cloned().collect();
        match sync::find_created(client, &intent, &known).await {
            CreateLanding::Made(chat) => {
                record_created(state, &intent, &chat.id, None, chat.display_name.as_deref());
                // The listing was a read of the chat: the members it shows have landed.
                if let Some(known) = state.chats.get_mut(&chat.id) {
                    for member in chat.members() {
                        known.pending.landed(Op::Add, &member);
                    }
                }
                done.created += 1;
            }
            CreateLanding::NotMade => done.create_again += 1,
            CreateLanding::NotSettled(_) => {
                done.create_open += 1;
                open.push(intent);
            }
        }
    }
    open
}
