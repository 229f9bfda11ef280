//! `roster watch --heal`: the plan of chats that drifted or whose config changed, applied with
//! every guard of `roster apply` (the planner's floor, cap, protected members and removal
//! limits; the engine's read before each chat, journal and waits), without fighting another
//! writer for ever.
//!
//! The rules, per chat:
//!
//! 1. Only chats both in the config and in the state are healed: a chat whose members are not
//!    known is never planned against, and a chat dropped from the config is not forgotten by a
//!    watch (the next `apply` does that).
//! 2. A chat that drifts again after roster healed it has drifted back. Each time in a row, the
//!    next heal waits twice as long as the last (the back-off starts at `--heal-backoff`).
//! 3. After `give_up_after` drift-backs in a row the chat is given up: reported once, never
//!    healed again until the config changes or the watch restarts. Someone else is setting that
//!    chat, and two writers setting it back and forth help nobody.
//! 4. A full refresh that finds a healed chat as it was left ends its row.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

use super::finding::Finding;
use super::worker::{Skipped, Worker};
use crate::apply::{self, ApplyOptions, ApplyReport, ChatStatus, NoProgress};
use crate::ops;
use crate::plan::{self, PlanOptions, Selected, Selection};
use crate::state::PendingTimeout;

/// How `--heal` runs.
#[derive(Clone)]
pub struct HealOptions {
    pub apply: ApplyOptions,
    /// Drift-backs in a row before a chat is given up (rule 3).
    pub give_up_after: u32,
    /// The first back-off (rule 2).
    pub backoff: Duration,
}

/// Where each chat stands.
#[derive(Debug, Default, Clone)]
struct Healing {
    /// Roster healed it, and it has not drifted since.
    healed: bool,
    drifted_back: u32,
    not_before: Option<Instant>,
    gave_up: bool,
}

pub struct Healer {
    options: HealOptions,
    chats: BTreeMap<String, Healing>,
}

impl Healer {
    pub fn new(options: HealOptions) -> Healer {
        Healer {
            options,
            chats: BTreeMap::new(),
        }
    }

    /// When the next back-off ends, if one is running.
    pub fn next_due(&self) -> Option<Instant> {
        (self.chats.values())
            .filter(|c| !c.gave_up)
            .filter_map(|c| c.not_before)
            .min()
    }

    /// The config changed: every chat starts afresh (rule 3).
    pub fn config_changed(&mut self) {
        self.chats.clear();
    }

    /// A full refresh found these chats as they were left (rule 4).
    pub fn quiet(&mut self, read: &[String], drifted: &BTreeSet<String>) {
        for id in read.iter().filter(|id| !drifted.contains(*id)) {
            if let Some(chat) = self.chats.get_mut(id) {
                chat.drifted_back = 0;
            }
        }
    }

    /// Counts the drift-backs among `drifted`, then heals every chat due.
    pub async fn run(&mut self, worker: &mut Worker<'_>, drifted: Option<BTreeSet<String>>) {
        let now = Instant::now();
        for id in drifted.iter().flatten() {
            self.drifted(worker, id, now);
        }
        for chat in self
            .chats
            .values_mut()
            .filter(|c| c.not_before.is_some_and(|t| t <= now))
        {
            chat.not_before = None;
        }
        if let Err(error) = self.heal(worker, now).await {
            if !matches!(error, Skipped::Stopped) {
                worker.findings.report(Finding::Failed {
                    doing: "healing".into(),
                    error: error.to_string(),
                });
            }
        }
    }

    /// Rule 2 and 3 for a chat found drifted.
    fn drifted(&mut self, worker: &mut Worker<'_>, id: &str, now: Instant) {
        let chat = self.chats.entry(id.to_owned()).or_default();
        if !chat.healed || chat.gave_up {
            return;
        }
        chat.healed = false;
        chat.drifted_back += 1;
        if chat.drifted_back >= self.options.give_up_after {
            chat.gave_up = true;
            worker.metrics.gave_up.fetch_add(1, Relaxed);
            let name = worker.config.desired.chats.get(id).and_then(|c| c.name.clone());
            worker.findings.report(Finding::GaveUp {
                chat: id.to_owned(),
                name,
                times: chat.drifted_back,
            });
        } else {
            let backoff = self
                .options
                .backoff
                .saturating_mul(1 << (chat.drifted_back - 1).min(16));
            chat.not_before = Some(now + backoff);
        }
    }

    /// Plans the chats of the config that the state holds (rule 1) and that are not given up
    /// or backing off, and applies what has changes, under the lock.
    async fn heal(&mut self, worker: &mut Worker<'_>, now: Instant) -> Result<(), Skipped> {
        let unlocked = worker.store.load()?.unwrap_or_default();
        let own = unlocked.own_keys();
        let due: BTreeSet<String> = (worker.config.desired.chats.keys())
            .filter_map(|key| unlocked.chat_for(key, &own))
            .filter(|id| {
                let chat = self.chats.get(*id);
                !chat.is_some_and(|c| c.gave_up || c.not_before.is_some_and(|t| t > now))
            })
            .map(str::to_owned)
            .collect();
        let due: Vec<String> = due.into_iter().collect();
        let pending = PendingTimeout {
            now: worker.options.clock.now(),
            timeout: worker.options.pending_timeout,
        };
        let options = |chats: Vec<String>| PlanOptions {
            selection: Selection {
                targets: vec![Selected {
                    given: "roster watch --heal".into(),
                    chats,
                }],
                excludes: Vec::new(),
            },
            allow_mass_removal: false,
            allow_mass_create: false,
            pending,
        };
        // A look without the lock first: most of the time there is nothing to do.
        if due.is_empty()
            || !plan::plan(&worker.config.desired, &unlocked, &options(due.clone()))
                .map(|plan| plan.has_changes())
                .unwrap_or(true)
        {
            return Ok(());
        }
        let _guard = worker.lock()?;
        let mut loaded = worker.store.load_with_journal()?;
        ops::settle(
            worker.store,
            &mut loaded,
            worker.client,
            worker.stop,
            &worker.options.settle,
            &mut |_| {},
        )
        .await?;
        let plan = match plan::plan(&worker.config.desired, &loaded.state, &options(due)) {
            Ok(plan) => plan,
            Err(errors) => {
                let error = errors.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                worker.findings.report(Finding::Failed {
                    doing: "planning the heal".into(),
                    error,
                });
                return Ok(());
            }
        };
        if !plan.has_changes() {
            return Ok(());
        }
        let report = apply::apply(
            &plan,
            &mut loaded.state,
            worker.store,
            worker.client,
            &self.options.apply,
            &NoProgress,
        )
        .await;
        self.record(worker, report);
        Ok(())
    }

    /// What a heal's apply did, as findings; the chats it healed are marked (rule 2).
    fn record(&mut self, worker: &mut Worker<'_>, report: ApplyReport) {
        for chat in &report.chats {
            let calls = chat.calls.add + chat.calls.remove;
            worker.metrics.api_calls.fetch_add(calls as u64 + 1, Relaxed);
            let ok = chat.status == ChatStatus::Done;
            if ok {
                worker.metrics.healed.fetch_add(1, Relaxed);
                self.chats.entry(chat.id.clone()).or_default().healed = true;
            }
            worker.findings.report(Finding::Healed {
                chat: chat.id.clone(),
                name: chat.name.clone(),
                calls,
                ok,
            });
        }
        if let Some(error) = report.error {
            worker.findings.report(Finding::Failed {
                doing: "healing".into(),
                error,
            });
        }
    }
}
