//! Settling the journal an interrupted run left, before anything else writes the state.

use std::collections::BTreeSet;

use super::confirm::confirm;
use super::{unless_stopped, Error, Event, Stage};
use crate::linq::Client;
use crate::state::{Loaded, StateStore};
use crate::stop::Stop;
use crate::sync::{self, SettleOptions};

/// What settling a journal found of its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSettled {
    /// Calls that landed: those Linq accepted (in the state already), and those of unknown
    /// outcome that a read showed.
    pub landed: usize,
    /// Calls of unknown outcome that no read showed: taken as not made.
    pub not_made: usize,
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
    let done = JournalSettled {
        landed: loaded.journal.accepted + settled.landed.len(),
        not_made: settled.not_landed.len(),
    };
    progress(Event::Settled(done));
    store.save(&mut loaded.state)?;
    store.clear_journal()?;
    loaded.journal = Default::default();
    Ok(Some(done))
}
