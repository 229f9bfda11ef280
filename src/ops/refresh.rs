//! Reading the managed chats and holding them against the state: [`refresh`] records what they
//! show (drift, changes that landed or never did), [`read_live`] does it in memory only, for a
//! plan made against the live membership.

use std::time::Duration;

use std::collections::BTreeMap;

use super::confirm::confirm;
use super::settle::settle;
use super::{check, read, Error, Event, JournalSettled, Stage};
use crate::clock::Clock;
use crate::config::Desired;
use crate::linq::Client;
use crate::plan::{Selection, StateRef};
use crate::state::{Loaded, PendingTimeout, State, StateStore};
use crate::stop::Stop;
use crate::sync::{self, DriftReport, DriftStatus, Read, Recorded, SettleOptions};

/// The guard against most chats gone at once applies from this many chats read on, so that a
/// small setup can still lose a chat or two.
pub const MASS_GONE_MIN_CHATS: usize = 3;

/// How [`refresh`] runs.
#[derive(Debug, Clone)]
pub struct RefreshOptions<'a> {
    /// The chats in scope: every managed chat it includes is read (one chat, for a target of
    /// one id). A target that names no managed chat is refused.
    pub selection: &'a Selection,
    /// The most chats read at once.
    pub read_parallelism: usize,
    /// How settling the journal of an interrupted run waits.
    pub settle: SettleOptions,
    /// How long an accepted change may go unseen before it counts as never landed, as of the
    /// clock's now once the chats are read.
    pub pending_timeout: Duration,
    pub clock: Clock,
    /// Report the chats Linq does not know as gone even when most of those read are
    /// (`--allow-mass-gone`); otherwise that refuses the refresh ([`Error::MostGone`]).
    pub allow_mass_gone: bool,
}

/// What [`refresh`] found and wrote.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The journal of an interrupted run, settled first.
    pub settled: Option<JournalSettled>,
    /// The drift, the changes still pending and those that never landed, and where the state
    /// was left ([`DriftReport::recorded`]).
    pub report: DriftReport,
    /// How many chats the state now records otherwise: written when any.
    pub changed: usize,
    /// Changes roster made that were pending and now show: recorded as landed.
    pub landed: usize,
}

/// `roster refresh`: settles the journal, reads every managed chat in scope and records its
/// live membership over `loaded` (one write through `store`, only when something changed; the
/// caller holds the lock), reporting the drift.
pub async fn refresh(
    store: &dyn StateStore,
    loaded: &mut Loaded,
    client: &Client,
    stop: &Stop,
    options: &RefreshOptions<'_>,
    progress: &mut dyn FnMut(Event),
) -> Result<Refreshed, Error> {
    let ids = managed_in_scope(&loaded.state, options.selection)?;
    confirm(client, stop).await?;
    let settled = settle(store, loaded, client, stop, &options.settle, progress).await?;
    let reads = read(client, ids, options.read_parallelism, stop, progress).await?;
    guard_gone(&reads, options.allow_mass_gone)?;
    let timeout = PendingTimeout {
        now: options.clock.now(),
        timeout: options.pending_timeout,
    };
    let state = &mut loaded.state;
    let observed = sync::observe_all(state, &reads, &timeout, |_| None);
    let (changed, landed) = (observed.changed, observed.landed);
    if changed > 0 {
        check(stop, Stage::Reading)?;
        store.save(state)?;
    }
    let mut report = observed.report(reads.len(), timeout.now);
    report.recorded = Some(Recorded {
        written: changed > 0,
        state: StateRef {
            lineage: state.lineage.clone(),
            serial: state.serial,
        },
    });
    Ok(Refreshed {
        settled,
        report,
        changed,
        landed,
    })
}

/// The managed chats in `selection`; a target that names no chat of the state is refused.
fn managed_in_scope(state: &State, selection: &Selection) -> Result<Vec<String>, Error> {
    let own = state.own_keys();
    let unmanaged =
        (selection.targets.iter()).find(|target| !target.chats.iter().any(|key| state.chat_for(key, &own).is_some()));
    if let Some(target) = unmanaged {
        return Err(Error::NotManaged {
            given: target.given.clone(),
            chats: target.chats.clone(),
        });
    }
    Ok((state.chats.iter())
        .filter(|(id, chat)| selection.includes(chat.key_or(id)))
        .map(|(id, _)| id.clone())
        .collect())
}

/// Refuses reads that found more than half of at least [`MASS_GONE_MIN_CHATS`] chats gone
/// (`404`) at once, unless `allowed`: more likely a token of another account than chats
/// deleted.
fn guard_gone(reads: &BTreeMap<String, Read>, allowed: bool) -> Result<(), Error> {
    let gone: Vec<String> = (reads.iter())
        .filter(|(_, read)| matches!(read, Read::Missing(DriftStatus::Gone, _)))
        .map(|(id, _)| id.clone())
        .collect();
    if allowed || reads.len() < MASS_GONE_MIN_CHATS || gone.len() * 2 <= reads.len() {
        return Ok(());
    }
    Err(Error::MostGone {
        read: reads.len(),
        gone,
    })
}

/// How [`read_live`] runs.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub read_parallelism: usize,
    /// When a pending change counts as overdue, as of the clock's now before the reads.
    pub pending_timeout: Duration,
    pub clock: Clock,
    /// See [`RefreshOptions::allow_mass_gone`].
    pub allow_mass_gone: bool,
}

/// What [`read_live`] found.
#[derive(Debug, Clone)]
pub struct Live {
    /// The drift and the changes that never landed; the changes still pending are left out,
    /// as they stay in the state and the plan lists them.
    pub report: DriftReport,
    /// How many chats the state now records otherwise (in memory).
    pub changed: usize,
}

/// `roster plan --refresh`: reads the config's chats in `selection` and records what they
/// show over `state`, in memory only (no lock, nothing written), so that a plan is made
/// against the live membership. Chats of the config missing from the state are read too, so
/// they plan as updates rather than as unknown; chats only in the state are forgotten without
/// a call, so they are not read.
pub async fn read_live(
    state: &mut State,
    desired: &Desired,
    selection: &Selection,
    client: &Client,
    stop: &Stop,
    options: &LiveOptions,
    progress: &mut dyn FnMut(Event),
) -> Result<Live, Error> {
    let timeout = PendingTimeout {
        now: options.clock.now(),
        timeout: options.pending_timeout,
    };
    // The chat each key in scope stands for; a chat still to create has none to read.
    let names: BTreeMap<String, Option<String>> = {
        let bindings = crate::plan::bind(desired, state);
        (desired.chats.iter())
            .filter(|(key, _)| selection.includes(key))
            .filter_map(|(key, chat)| Some((bindings.id(key)?.to_owned(), chat.name.clone())))
            .collect()
    };
    let ids: Vec<String> = names.keys().cloned().collect();
    confirm(client, stop).await?;
    let reads = read(client, ids, options.read_parallelism, stop, progress).await?;
    guard_gone(&reads, options.allow_mass_gone)?;
    let mut observed = sync::observe_all(state, &reads, &timeout, |id| names.get(id).cloned().flatten());
    let changed = observed.changed;
    // Changes still pending stay in the state, and the plan lists them.
    observed.pending.clear();
    Ok(Live {
        report: observed.report(reads.len(), timeout.now),
        changed,
    })
}
