//! The worker of `roster watch`: it turns hints (webhooks, the interval, a changed config) into
//! reads of the chats they name and records what the reads show, as `roster refresh` does.
//!
//! The state's lock is taken only to write, so that a scheduled `apply` interleaves:
//!
//! 1. The state is loaded without the lock and the chats are read.
//! 2. The lock is taken (waiting up to the lock wait) and the state loaded again. If its serial
//!    is the one read in 1 and no journal is open, the reads are recorded over it: nothing
//!    wrote in between, so they are as new as the state. Otherwise (an apply ran between 1 and
//!    2, or left a journal) the reads may predate its changes, and the chats are refreshed
//!    again under the lock by `ops::refresh`, which settles the journal first.
//! 3. The state is written only when it changed, and the lock released.
//!
//! Webhooks waiting in the queue are taken together: one read per chat and one write for them
//! all, however many arrived.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::Watched;
use super::event::{Envelope, Kind};
use super::finding::{Finding, Findings};
use super::heal::Healer;
use super::metrics::Metrics;
use super::Options;
use crate::linq::Client;
use crate::ops::{self, RefreshOptions};
use crate::plan::{Selected, Selection};
use crate::state::{Loaded, LockGuard, LockInfo, LockWait, PendingTimeout, State, StateError, StateStore};
use crate::stop::Stop;
use crate::sync::{self, DriftReport, DriftStatus};

/// The worker's parts: what it reads and writes, and what it shares with the receiver.
pub struct Worker<'a> {
    pub store: &'a dyn StateStore,
    pub client: &'a Client,
    pub stop: &'a Stop,
    pub options: &'a Options,
    pub config: Watched,
    pub managed: Arc<RwLock<BTreeSet<String>>>,
    pub metrics: Arc<Metrics>,
    pub findings: Findings,
    pub healer: Option<Healer>,
    /// Linq confirmed the address and the token (once per run).
    confirmed: bool,
    /// Icons webhooks told of, to record at the next write (Linq returns no icon, so a
    /// webhook is the only word of one changed outside roster), by chat.
    icons: BTreeMap<String, Option<String>>,
    /// The `updated_at` of the latest icon update taken, by chat: an older one arriving late
    /// is not recorded over it.
    icons_at: BTreeMap<String, String>,
}

/// Why [`Worker::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Stopped,
    /// The lease that made this process the leader could not be renewed: another may lead.
    LostLead,
}

/// Which chats a refresh reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every managed chat (the interval).
    All,
    /// These chats, those the state manages (webhooks).
    Chats(BTreeSet<String>),
}

/// Why a refresh was not done; reported as a finding, and tried again at the next hint.
#[derive(Debug, thiserror::Error)]
pub enum Skipped {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ops(#[from] ops::Error),
    #[error("reading chat `{chat}` failed: {error}")]
    Unread {
        chat: String,
        error: Box<crate::linq::LinqError>,
    },
    /// A signal came: not reported.
    #[error("stopped")]
    Stopped,
}

impl<'a> Worker<'a> {
    pub fn new(
        store: &'a dyn StateStore,
        client: &'a Client,
        stop: &'a Stop,
        options: &'a Options,
        config: Watched,
        metrics: Arc<Metrics>,
        findings: Findings,
    ) -> Worker<'a> {
        Worker {
            store,
            client,
            stop,
            options,
            config,
            managed: Arc::new(RwLock::new(BTreeSet::new())),
            metrics,
            findings,
            healer: options.heal.clone().map(Healer::new),
            confirmed: false,
            icons: BTreeMap::new(),
            icons_at: BTreeMap::new(),
        }
    }

    /// Runs until a signal ([`Ended::Stopped`]) or until `leadership` is lost
    /// ([`Ended::LostLead`]): the first full refresh at once, then hints as they come.
    pub async fn run(&mut self, queue: &mut mpsc::Receiver<Envelope>, leadership: Option<&dyn LockGuard>) -> Ended {
        let mut next_full = Instant::now();
        let mut config_poll = tokio::time::interval(self.options.config_poll);
        config_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let heal_due = self.healer.as_ref().and_then(Healer::next_due);
            if leadership.is_some_and(|lead| lead.lost()) {
                return Ended::LostLead;
            }
            tokio::select! {
                _ = self.stop.first_signal() => return Ended::Stopped,
                envelope = queue.recv() => {
                    let Some(first) = envelope else { return Ended::Stopped };
                    let mut batch = vec![first];
                    while let Ok(more) = queue.try_recv() {
                        batch.push(more);
                    }
                    self.on_events(batch).await;
                }
                _ = tokio::time::sleep_until(next_full) => {
                    self.refresh(Scope::All).await;
                    next_full = Instant::now() + jittered(self.options.interval);
                }
                _ = config_poll.tick() => self.poll_config().await,
                _ = sleep_until_some(heal_due) => self.heal(None).await,
            }
        }
    }

    /// Webhooks: what they say that a read cannot (icons, failed updates), then one refresh
    /// of the chats they name.
    async fn on_events(&mut self, batch: Vec<Envelope>) {
        let mut chats = BTreeSet::new();
        for envelope in batch {
            let Some(chat) = envelope.chat_id.clone() else { continue };
            match envelope.kind {
                Kind::IconUpdated => self.icon_updated(&chat, envelope.updated_at, envelope.new_value),
                Kind::NameUpdateFailed | Kind::IconUpdateFailed => self.findings.report(Finding::UpdateFailed {
                    chat: chat.clone(),
                    what: if envelope.kind == Kind::NameUpdateFailed {
                        "name"
                    } else {
                        "icon"
                    }
                    .to_owned(),
                    error_code: envelope.error_code,
                }),
                _ => {}
            }
            chats.insert(chat);
        }
        self.refresh(Scope::Chats(chats)).await;
    }

    /// Keeps an icon update to record, unless a later one of the chat was taken already.
    fn icon_updated(&mut self, chat: &str, at: Option<String>, icon: Option<String>) {
        let at = at.unwrap_or_default();
        if self.icons_at.get(chat).is_some_and(|taken| *taken > at) {
            return;
        }
        self.icons_at.insert(chat.to_owned(), at);
        self.icons.insert(chat.to_owned(), icon);
    }

    /// Records the icons webhooks told of in `state`: the chats whose icon changed, with the
    /// icon recorded before.
    fn record_icons(&mut self, state: &mut State) -> Vec<(String, Option<String>, Option<String>)> {
        let mut changed = Vec::new();
        for (id, icon) in std::mem::take(&mut self.icons) {
            if let Some(chat) = state.chats.get_mut(&id).filter(|chat| chat.icon != icon) {
                changed.push((id, chat.icon.clone(), icon.clone()));
                chat.icon = icon;
            }
        }
        changed
    }

    /// A changed config is loaded again; with `--heal`, the chats it changed are applied.
    async fn poll_config(&mut self) {
        match self.config.reload() {
            None => {}
            Some(Ok(chats)) => {
                self.findings.report(Finding::ConfigReloaded { chats });
                if let Some(healer) = &mut self.healer {
                    healer.config_changed();
                }
                self.heal(None).await;
            }
            Some(Err(errors)) => self.findings.report(Finding::ConfigInvalid { errors }),
        }
    }

    /// Refreshes `scope`, reporting what it found or why it could not.
    pub async fn refresh(&mut self, scope: Scope) {
        let full = scope == Scope::All;
        match self.try_refresh(&scope).await {
            Ok(Some(done)) => {
                let drifted: BTreeSet<String> = done.drifted();
                let read = done.ids.clone();
                // Counted before it is reported: whoever reads the finding and then the
                // metrics must find the refresh counted.
                if full {
                    self.metrics.refreshed_all(Instant::now());
                }
                self.report(done, full);
                if full {
                    if let Some(healer) = &mut self.healer {
                        healer.quiet(&read, &drifted);
                    }
                }
                self.heal(Some(drifted)).await;
            }
            Ok(None) => {
                if full {
                    self.metrics.refreshed_all(Instant::now());
                }
            }
            Err(Skipped::Stopped) => {}
            Err(error) => self.findings.report(Finding::Failed {
                doing: if full {
                    "refreshing every managed chat"
                } else {
                    "refreshing the chats webhooks named"
                }
                .to_owned(),
                error: error.to_string(),
            }),
        }
    }

    /// Steps 1 to 3 of the module doc; `None` when no managed chat is in scope.
    async fn try_refresh(&mut self, scope: &Scope) -> Result<Option<Done>, Skipped> {
        let before = self.store.load()?.unwrap_or_default();
        self.set_managed(&before);
        let ids: Vec<String> = (before.chats.keys())
            .filter(|id| match scope {
                Scope::All => true,
                Scope::Chats(chats) => chats.contains(*id),
            })
            .cloned()
            .collect();
        if ids.is_empty() {
            return Ok(None);
        }
        self.confirm().await?;
        let metrics = self.metrics.clone();
        let mut counted = || {
            metrics.api_calls.fetch_add(1, Relaxed);
        };
        let read = sync::read_chats(self.client, ids.clone(), self.options.read_parallelism, &mut counted);
        let reads = tokio::select! {
            reads = read => reads.map_err(|unread| Skipped::Unread { chat: unread.chat, error: Box::new(unread.error) })?,
            _ = self.stop.first_signal() => return Err(Skipped::Stopped),
        };
        if *scope == Scope::All {
            ops::guard_gone(&reads, false)?;
        }
        let _guard = self.lock()?;
        let mut loaded = self.store.load_with_journal()?;
        let prior = loaded.state.clone();
        let timeout = PendingTimeout {
            now: self.options.clock.now(),
            timeout: self.options.pending_timeout,
        };
        let fresh = loaded.journal.is_empty() && loaded.state.serial == before.serial;
        let (report, mut written) = if fresh {
            let observed = sync::observe_all(&mut loaded.state, &reads, &timeout, |_| None);
            let changed = observed.changed > 0;
            (observed.report(reads.len(), timeout.now), changed)
        } else {
            self.metrics.api_calls.fetch_add(ids.len() as u64, Relaxed);
            self.refresh_locked(&mut loaded, ids.clone()).await?
        };
        // One write for the reads and the icons, unless `ops::refresh` wrote the reads already.
        let icons = self.record_icons(&mut loaded.state);
        if (fresh && written) || !icons.is_empty() {
            self.store.save(&mut loaded.state)?;
            written = true;
        }
        self.set_managed(&loaded.state);
        self.metrics.pending.store(pending_count(&loaded.state), Relaxed);
        Ok(Some(Done {
            ids,
            prior,
            state: loaded.state,
            report,
            written,
            icons,
        }))
    }

    /// Step 2's other branch: `ops::refresh` of `ids` under the lock.
    async fn refresh_locked(&self, loaded: &mut Loaded, ids: Vec<String>) -> Result<(DriftReport, bool), Skipped> {
        let selection = Selection {
            targets: vec![Selected {
                given: "roster watch".into(),
                chats: ids,
            }],
            excludes: Vec::new(),
        };
        let options = RefreshOptions {
            selection: &selection,
            read_parallelism: self.options.read_parallelism,
            settle: self.options.settle.clone(),
            pending_timeout: self.options.pending_timeout,
            clock: self.options.clock.clone(),
            allow_mass_gone: false,
        };
        let refreshed = match ops::refresh(self.store, loaded, self.client, self.stop, &options, &mut |_| {}).await {
            Err(ops::Error::Stopped { .. }) => return Err(Skipped::Stopped),
            other => other?,
        };
        let written = refreshed.settled.is_some() || refreshed.changed > 0;
        Ok((refreshed.report, written))
    }

    /// Takes the state's lock for one write, waiting up to the lock wait; a signal ends it.
    pub fn lock(&self) -> Result<Box<dyn LockGuard>, Skipped> {
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            ..self.options.lock.clone()
        };
        let wait = LockWait {
            timeout: self.options.lock_wait,
            stop: Some(self.stop),
        };
        tokio::task::block_in_place(|| self.store.lock(info, &wait)).map_err(|error| match error {
            StateError::LockWaitStopped { .. } => Skipped::Stopped,
            error => Skipped::State(error),
        })
    }

    /// Once a run: Linq answers at the address and takes the token.
    async fn confirm(&mut self) -> Result<(), Skipped> {
        if !self.confirmed {
            self.metrics.api_calls.fetch_add(1, Relaxed);
            match ops::confirm(self.client, self.stop).await {
                Err(ops::Error::Stopped { .. }) => return Err(Skipped::Stopped),
                other => other?,
            };
            self.confirmed = true;
        }
        Ok(())
    }

    fn set_managed(&self, state: &State) {
        let ids: BTreeSet<String> = state.chats.keys().cloned().collect();
        *self.managed.write().unwrap_or_else(|e| e.into_inner()) = ids;
    }

    /// The findings of a refresh.
    fn report(&mut self, done: Done, full: bool) {
        let name = |id: &str| done.state.chats.get(id).and_then(|chat| chat.display_name.clone());
        for (chat, old, new) in &done.icons {
            self.findings.report(Finding::IconChanged {
                chat: chat.clone(),
                old: old.clone(),
                new: new.clone(),
                outside: true,
            });
        }
        for chat in &done.report.chats {
            self.metrics.drift.fetch_add(1, Relaxed);
            let members_changed = !(chat.joined.is_empty() && chat.removed.is_empty() && chat.left.is_empty());
            if chat.status == DriftStatus::Drifted && !members_changed {
                // A rename only: reported as `renamed` below.
                continue;
            }
            self.findings.report(match chat.status {
                DriftStatus::Drifted => Finding::Drift {
                    chat: chat.id.clone(),
                    name: chat.name.clone(),
                    joined: chat.joined.clone(),
                    removed: chat.removed.clone(),
                    left: chat.left.clone(),
                },
                status => Finding::Missing {
                    chat: chat.id.clone(),
                    name: chat.name.clone(),
                    status: format!("{status:?}").to_lowercase(),
                },
            });
        }
        let never: BTreeMap<&str, usize> = (done.report.never_landed.iter())
            .map(|chat| (chat.id.as_str(), chat.changes.len()))
            .collect();
        for id in &done.ids {
            let (Some(was), Some(now)) = (done.prior.chats.get(id), done.state.chats.get(id)) else {
                continue;
            };
            let lost = never.get(id.as_str()).copied().unwrap_or(0);
            let landed = was.pending.len().saturating_sub(now.pending.len() + lost);
            if landed > 0 {
                self.findings.report(Finding::Landed {
                    chat: id.clone(),
                    name: name(id),
                    changes: landed,
                });
            }
            if lost > 0 {
                self.findings.report(Finding::NeverLanded {
                    chat: id.clone(),
                    name: name(id),
                    changes: lost,
                });
            }
            // A name first learned is not a rename.
            if was.display_name.is_some() && was.display_name != now.display_name {
                self.findings.report(Finding::Renamed {
                    chat: id.clone(),
                    old: was.display_name.clone(),
                    new: now.display_name.clone(),
                });
            }
        }
        let serial = done.state.serial;
        if done.written && !full {
            let chats = (done.ids.iter())
                .filter(|id| done.prior.chats.get(*id) != done.state.chats.get(*id))
                .cloned()
                .collect();
            self.findings.report(Finding::Recorded { chats, serial });
        }
        if full {
            self.findings.report(Finding::Refreshed {
                chats_read: done.ids.len(),
                written: done.written,
                serial,
            });
        }
    }

    /// With `--heal`: applies the plan of the chats that need it (`drifted`: found drifted
    /// just now; `None`: any, after a config change or a back-off ended).
    async fn heal(&mut self, drifted: Option<BTreeSet<String>>) {
        let Some(mut healer) = self.healer.take() else { return };
        healer.run(self, drifted).await;
        self.healer = Some(healer);
    }
}

/// What a refresh read and recorded.
struct Done {
    ids: Vec<String>,
    prior: State,
    state: State,
    report: DriftReport,
    written: bool,
    /// Icons recorded from webhooks: chat, icon before, icon now.
    icons: Vec<(String, Option<String>, Option<String>)>,
}

impl Done {
    /// The chats whose members changed outside roster.
    fn drifted(&self) -> BTreeSet<String> {
        (self.report.chats.iter())
            .filter(|chat| chat.status == DriftStatus::Drifted)
            .map(|chat| chat.id.clone())
            .collect()
    }
}

/// Changes pending over every chat of `state`.
fn pending_count(state: &State) -> u64 {
    state.chats.values().map(|chat| chat.pending.len() as u64).sum()
}

/// `interval`, moved by up to a tenth either way, so that watches started together do not read
/// Linq in step.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + fastrand::f64() * 0.2)
}

/// Sleeps until `due`, or for ever without one.
async fn sleep_until_some(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
