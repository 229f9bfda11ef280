//! The apply engine: carries out a [`Plan`] through the Linq client and records every accepted
//! change durably, so that a crash loses at most the calls in flight and a re-run converges.
//!
//! Chats run concurrently (up to `parallelism`), the steps of one chat strictly in order:
//!
//! 1. Read the chat and hold it against the plan's picture ([`crate::sync::before_change`]).
//!    Changes accepted by earlier runs that are overdue and do not show never landed: the chat
//!    is not changed, they are dropped from the state, and the next plan makes them again.
//!    Changes still within `--pending-timeout` are waited for. If the members then differ from
//!    the plan's `before`, skip the chat as drift: roster does not act on a stale picture.
//! 2. For each add or remove: journal an `Intent` (durable before the call goes out), make the
//!    call, journal its outcome (durable before the chat's next step). A `wait` step polls the
//!    chat until every earlier change of this chat shows.
//! 3. A failure stops that chat's remaining steps (a remove must never run when an add it relied
//!    on failed); other chats go on. A `401`, or a journal that cannot be written, stops the
//!    whole run.
//! 4. Read each changed chat back: accepted changes not visible yet are reported as pending.
//!
//! At the end the accepted changes are folded into the state (see [`crate::state::journal`]),
//! the state is saved and the journal cleared; calls whose outcome stayed unknown are journaled
//! again so the next run settles them by reading the chat.
//!
//! The parts, in the order a run meets them: `Work` (the chats with steps), `run_chats` (the
//! chats at once, beside the journal writer in `recorder`), `chat` (steps 1 to 4 for one chat,
//! on the `Engine` the chats share), `record` (the outcome folded into the state) and `save`.

mod chat;
mod progress;
mod recorder;
mod report;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::sync::watch;

pub use crate::sync::Drift;
pub use progress::{describe, BarProgress, LineProgress, NoProgress, Progress};
pub use report::{ApplyReport, CallCounts, ChatReport, ChatStatus, Failure, Pending, REPORT_FORMAT_VERSION};

use crate::clock::Clock;
use crate::handle::Handle;
use crate::linq::{Client, LinqError};
use crate::op::Op;
use crate::plan::{Action, ChatPlan, Plan, Step};
use crate::state::journal::{fold, Unsettled};
use crate::state::{JournalRecord, PendingChanges, State, StateStore, DEFAULT_PENDING_TIMEOUT};
use recorder::Recorder;

/// How apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Chats changed at once.
    pub parallelism: usize,
    /// A cap in requests per second over all chats (`--rate`); applied to the client's pacer.
    pub rate: Option<f64>,
    /// How long a `wait` step polls before the chat counts as failed.
    pub wait_timeout: Duration,
    /// The longest time between two reads of a chat while waiting. Polls start at
    /// [`FIRST_POLL_INTERVAL`] (or this, when shorter) and back off towards it.
    pub poll_interval: Duration,
    /// How long a change accepted by an earlier run may go unseen before it counts as never
    /// landed (`--pending-timeout`).
    pub pending_timeout: Duration,
    /// Stamps accepted changes, and tells their age.
    pub clock: Clock,
}

/// The first pause between two reads of a waiting chat. Changes usually land within a fraction
/// of a second, and a chat that waits holds one of the `parallelism` slots: polling at once at
/// the longest interval would keep most waits about that long.
pub const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How much longer each pause gets while a change has not landed.
const POLL_BACKOFF: f64 = 1.5;

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 16,
            rate: None,
            wait_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            pending_timeout: DEFAULT_PENDING_TIMEOUT,
            clock: Clock::system(),
        }
    }
}

/// Carries out `plan`, which must have been made from `state`; folds the accepted changes into
/// `state` and saves it through `store` (the caller holds the lock). Never panics on API or
/// storage failures: everything that went wrong is in the report. When `stop` turns true, no new
/// step starts; steps in flight finish, and the state is saved.
pub async fn apply(
    plan: &Plan,
    state: &mut State,
    store: &dyn StateStore,
    client: &Client,
    options: &ApplyOptions,
    progress: &dyn Progress,
    stop: watch::Receiver<bool>,
) -> ApplyReport {
    if options.rate.is_some() {
        client.pacer().set_cap(options.rate);
    }
    let work = Work::of(plan, state);
    progress.start(work.chats.len(), work.calls);
    let ran = run_chats(&work, state, store, client, options, progress, stop).await;
    let mut report = ApplyReport::new();
    report.interrupted = ran.interrupted;
    report.error = ran.halt;
    let original = state.clone();
    let unsettled = record(state, plan, ran.chats, &ran.records, &mut report);
    save(state, &original, store, unsettled, &mut report);
    progress.finish();
    report
}

/// The chats a plan changes, and what they hold from earlier runs.
struct Work<'p> {
    /// Chats with steps, in plan order.
    chats: Vec<&'p ChatPlan>,
    /// Their adds and removes, in all.
    calls: usize,
    /// Changes earlier runs had accepted but not yet seen land, per chat.
    queued: HashMap<&'p str, PendingChanges>,
}

impl<'p> Work<'p> {
    fn of(plan: &'p Plan, state: &State) -> Work<'p> {
        let chats: Vec<&ChatPlan> = plan
            .chats
            .iter()
            .filter(|c| c.action == Action::Update && !c.steps.is_empty())
            .collect();
        let calls = chats
            .iter()
            .flat_map(|c| &c.steps)
            .filter(|s| !matches!(s, Step::Wait))
            .count();
        let queued = chats
            .iter()
            .filter_map(|c| {
                state
                    .chats
                    .get(&c.id)
                    .map(|known| (c.id.as_str(), known.pending.clone()))
            })
            .filter(|(_, pending)| !pending.is_empty())
            .collect();
        Work { chats, calls, queued }
    }
}

/// Shared by the chats of one run.
struct Engine<'a> {
    client: &'a Client,
    options: &'a ApplyOptions,
    progress: &'a dyn Progress,
    stop: watch::Receiver<bool>,
    /// Why the whole run stops (a `401`, a journal that cannot be written).
    halt: Mutex<Option<String>>,
    next_id: AtomicU64,
    recorder: Recorder,
}

/// What the chats of a run did.
struct Ran {
    /// Each chat's report, in plan order, and whether it passed its check.
    chats: Vec<(ChatReport, bool)>,
    /// Every journal record of the run.
    records: Vec<JournalRecord>,
    halt: Option<String>,
    interrupted: bool,
}

/// Runs the chats, up to `parallelism` at once, beside the journal writer.
async fn run_chats(
    work: &Work<'_>,
    state: &State,
    store: &dyn StateStore,
    client: &Client,
    options: &ApplyOptions,
    progress: &dyn Progress,
    stop: watch::Receiver<bool>,
) -> Ran {
    let (recorder, receiver) = Recorder::new();
    let engine = Engine {
        client,
        options,
        progress,
        stop,
        halt: Mutex::new(None),
        next_id: AtomicU64::new(1),
        recorder,
    };
    let begin = JournalRecord::Begin {
        lineage: state.lineage.clone(),
        serial: state.serial,
    };
    let chats = async {
        let engine = engine;
        if !work.chats.is_empty() {
            if let Err(e) = engine.recorder.append(begin).await {
                engine.halt(e);
            }
        }
        // Futures are lazy: building them all up front starts nothing. (Mapping inside the
        // stream instead would keep a closure in the future and make it lose `Send`.)
        let pending: Vec<_> = (work.chats.iter().enumerate())
            .map(|(index, c)| {
                let queued = work.queued.get(c.id.as_str()).cloned().unwrap_or_default();
                let chat = engine.chat(c, queued);
                async move { (index, chat.await) }
            })
            .collect();
        // Unordered: a slot freed by any chat starts the next one. (In order, a chat that waits
        // for its changes to land would hold back every chat after it.) Reports keep plan order.
        let mut chats: Vec<(usize, (ChatReport, bool))> = stream::iter(pending)
            .buffer_unordered(options.parallelism.max(1))
            .collect()
            .await;
        chats.sort_unstable_by_key(|(index, _)| *index);
        let interrupted = *engine.stop.borrow();
        // The recorder is dropped here, which ends the writer.
        Ran {
            chats: chats.into_iter().map(|(_, chat)| chat).collect(),
            halt: engine.halt.into_inner().unwrap_or_else(|p| p.into_inner()),
            records: engine.recorder.into_records(),
            interrupted,
        }
    };
    let ((), ran) = futures_util::future::join(recorder::write(store, receiver), chats).await;
    ran
}

/// Folds what the run did into `state` and `report`: the accepted changes (see
/// [`crate::state::journal`]), the changes still pending with when Linq accepted them, the
/// changes that never landed dropped, and forgotten chats removed. Returns the calls whose
/// outcome stayed unknown.
fn record(
    state: &mut State,
    plan: &Plan,
    chats: Vec<(ChatReport, bool)>,
    records: &[JournalRecord],
    report: &mut ApplyReport,
) -> Vec<Unsettled> {
    let (chats, checked): (Vec<ChatReport>, Vec<bool>) = chats.into_iter().unzip();
    for chat in &chats {
        report.calls.add += chat.calls.add;
        report.calls.remove += chat.calls.remove;
    }
    let unsettled = fold(state, records);
    // A chat that passed its check had every earlier pending change landed; what is pending
    // now is what its read-back did not show, since the time the journal says Linq accepted it.
    // A chat whose earlier changes never landed was not changed: they are dropped.
    for (chat, checked) in chats.iter().zip(checked) {
        let Some(known) = state.chats.get_mut(&chat.id) else {
            continue;
        };
        if checked {
            let accepted = std::mem::take(&mut known.pending);
            let since = |side: &BTreeMap<Handle, _>, handle: &Handle| side.get(handle).copied().flatten();
            for handle in &chat.pending.add {
                known.pending.record(Op::Add, handle, since(&accepted.add, handle));
            }
            for handle in &chat.pending.remove {
                known
                    .pending
                    .record(Op::Remove, handle, since(&accepted.remove, handle));
            }
        }
        known.drop_never_landed(&chat.never_landed);
    }
    report.chats = chats;
    for chat in plan.chats.iter().filter(|c| c.action == Action::Forget) {
        if state.chats.remove(&chat.id).is_some() {
            report.forgotten.push(chat.id.clone());
        }
    }
    unsettled
}

/// Saves `state` when the run changed it from `original`, then clears the journal, journaling
/// again the calls whose outcome stayed unknown so that the next run settles them. A failure is
/// the run's error.
fn save(
    state: &mut State,
    original: &State,
    store: &dyn StateStore,
    unsettled: Vec<Unsettled>,
    report: &mut ApplyReport,
) {
    if state != original {
        if let Err(e) = store.save(state) {
            report.error.get_or_insert_with(|| format!("{e:#}"));
            return;
        }
    }
    let cleared = store.clear_journal().and_then(|()| {
        if unsettled.is_empty() {
            return Ok(());
        }
        let mut again = vec![JournalRecord::Begin {
            lineage: state.lineage.clone(),
            serial: state.serial,
        }];
        again.extend(
            unsettled
                .into_iter()
                .zip(1..)
                .map(|(change, id)| JournalRecord::Intent {
                    id,
                    chat: change.chat,
                    op: change.op,
                    handle: change.handle,
                }),
        );
        store.append_journal(&again)
    });
    if let Err(e) = cleared {
        report.error.get_or_insert_with(|| format!("{e:#}"));
    }
}

impl Engine<'_> {
    fn should_stop(&self) -> bool {
        *self.stop.borrow() || self.halted()
    }

    /// True once the whole run stops (a `401`, a journal that cannot be written): from then on
    /// no call starts, not even a read.
    fn halted(&self) -> bool {
        self.halt.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn halt(&self, reason: String) {
        self.halt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(reason);
    }

    fn check_fatal(&self, error: &LinqError) {
        if error.is_unauthorized() {
            self.halt(format!("Linq refused the API token: {error}"));
        }
    }

    /// Journals `record`: true once it is durable. A journal that cannot be written halts the
    /// whole run, since progress past that point could not be recovered after a crash.
    async fn record(&self, record: JournalRecord) -> bool {
        match self.recorder.append(record).await {
            Ok(()) => true,
            Err(e) => {
                self.halt(format!("cannot record progress, so no further calls are made: {e}"));
                false
            }
        }
    }
}
