//! Adopting chats roster does not manage yet: [`import`] reads them and records them over the
//! state in memory; [`Adoption::record`] writes them, once the caller has written their config
//! (so that a config that cannot be written leaves nothing recorded).

use std::collections::{BTreeMap, BTreeSet};

use super::confirm::confirm;
use super::settle::settle;
use super::{unless_stopped, Error, Event, JournalSettled, Stage, Unimportable};
use crate::config::DEFAULT_MIN_MEMBERS;
use crate::linq::{Chat, Client};
use crate::state::{Loaded, State, StateStore};
use crate::stop::Stop;
use crate::sync::{self, DriftStatus, Read, SettleOptions};

/// Which chats [`import`] adopts.
#[derive(Debug, Clone, Copy)]
pub enum Chats<'a> {
    /// Every group chat, of your own line `from` when given (`--all`, `--from`).
    All { from: Option<&'a str> },
    /// The chats named: any that cannot be imported fails the import, all of them named.
    Named(&'a [String]),
}

/// How [`import`] runs.
#[derive(Debug, Clone)]
pub struct ImportOptions<'a> {
    pub chats: Chats<'a>,
    /// Overwrite the recorded members of chats the state holds with other members.
    pub force: bool,
    /// The most chats read at once.
    pub read_parallelism: usize,
    /// How settling the journal of an interrupted run waits.
    pub settle: SettleOptions,
}

/// What [`import`] read and recorded over the state, not yet written.
#[derive(Debug, Clone)]
pub struct Adoption {
    /// The journal of an interrupted run, settled first.
    pub settled: Option<JournalSettled>,
    /// The chats adopted, sorted by id.
    pub chats: Vec<Chat>,
    /// Chats whose recorded members were replaced (`force`).
    pub overwritten: usize,
    /// Whether [`Adoption::record`] writes: the state records anything otherwise, or there was
    /// no state yet.
    writes: bool,
}

/// `roster import`: settles the journal, reads the chats `options` names and records them as
/// Linq shows them over `loaded`'s state, in memory. A chat the state already holds with other
/// members is refused unless `force`, all of them named at once.
pub async fn import(
    store: &dyn StateStore,
    loaded: &mut Loaded,
    client: &Client,
    stop: &Stop,
    options: &ImportOptions<'_>,
    progress: &mut dyn FnMut(Event),
) -> Result<Adoption, Error> {
    let created = !loaded.existed;
    confirm(client, stop).await?;
    let settled = settle(store, loaded, client, stop, &options.settle, progress).await?;
    let reads = read_import(client, options, progress);
    let chats = unless_stopped(stop, Stage::Reading, reads).await??;
    let adopted = sync::adopt(&mut loaded.state, &chats, options.force).map_err(Error::ImportConflicts)?;
    Ok(Adoption {
        settled,
        chats,
        overwritten: adopted.overwritten,
        writes: created || adopted.changed,
    })
}

impl Adoption {
    /// The chats adopted that are too small for the default floor, with their members: their
    /// config does not validate until they have more or `settings.min_members` allows it.
    pub fn below_the_floor<'a>(&'a self, state: &State) -> Vec<(&'a Chat, usize)> {
        (self.chats.iter())
            .map(|chat| (chat, state.chats[&chat.id].members.len()))
            .filter(|(_, members)| *members < DEFAULT_MIN_MEMBERS)
            .collect()
    }

    /// Writes `state`, which holds the adoption, through `store` in one write, when it records
    /// anything new.
    /// `changed`: the caller changed `state` too (the keys of its chats), so it is written
    /// even when the adoption alone would not.
    pub fn record(&self, store: &dyn StateStore, state: &mut State, changed: bool) -> Result<(), Error> {
        if self.writes || changed {
            store.save(state)?;
        }
        Ok(())
    }
}

/// The chats `import` adopts: every group chat (of line `from`, when given) with `All`, else
/// the ones named.
async fn read_import(
    client: &Client,
    options: &ImportOptions<'_>,
    progress: &mut dyn FnMut(Event),
) -> Result<Vec<Chat>, Error> {
    let from = match options.chats {
        Chats::Named(ids) => return read_named(client, ids, options.read_parallelism, progress).await,
        Chats::All { from } => from,
    };
    progress(Event::Listing);
    let listed = client
        .list_all_chats_with(from, |page| progress(Event::Listed(page.len())))
        .await;
    progress(Event::DoneReading);
    let (groups, direct): (Vec<Chat>, Vec<Chat>) =
        listed.map_err(Error::List)?.into_iter().partition(|chat| chat.is_group);
    if !direct.is_empty() {
        progress(Event::SkippedDirect(direct.len()));
    }
    // One entry per id, sorted, whatever order the pages came in.
    let by_id: BTreeMap<String, Chat> = groups.into_iter().map(|chat| (chat.id.clone(), chat)).collect();
    Ok(by_id.into_values().collect())
}

/// Reads the chats named; any that cannot be imported (not found, unavailable, a
/// direct-message chat) fails the import, all of them named at once.
async fn read_named(
    client: &Client,
    ids: &[String],
    parallelism: usize,
    progress: &mut dyn FnMut(Event),
) -> Result<Vec<Chat>, Error> {
    let ids: Vec<String> = ids.iter().collect::<BTreeSet<_>>().into_iter().cloned().collect();
    progress(Event::Reading(ids.len()));
    let reads = sync::read_chats(client, ids, parallelism, &mut || progress(Event::Read)).await;
    progress(Event::DoneReading);
    let mut chats = Vec::new();
    let mut problems = Vec::new();
    for (id, read) in reads? {
        match read {
            Read::Live(chat) if !chat.is_group => problems.push(Unimportable::DirectMessage(id)),
            Read::Live(chat) => chats.push(chat),
            Read::Missing(DriftStatus::Gone, error) => problems.push(Unimportable::NotFound(id, error)),
            Read::Missing(_, error) => problems.push(Unimportable::Unavailable(id, error)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::NotImportable(problems));
    }
    Ok(chats)
}
