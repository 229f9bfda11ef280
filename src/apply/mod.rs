//! The apply engine: carries out a [`Plan`] through the Linq client and records every accepted
//! change durably, so that a crash loses at most the calls in flight and a re-run converges.
//!
//! Chats run concurrently, the steps of one chat strictly in order. Requests, not chats, are
//! what is limited: the client's limiter keeps at most its adaptive limit in flight (under the
//! `--parallelism` ceiling), and a chat starts whenever fewer chats want to send than that
//! limit allows, so a chat waiting for its changes to land holds no capacity. Each chat:
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
mod create;
mod progress;
mod recorder;
mod report;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

pub use crate::sync::Drift;
pub use progress::{
    describe, describe_concurrency, BarProgress, ConcurrencyChange, LineProgress, NoProgress, Progress, TimingsProgress,
};
pub use report::{
    ApplyReport, CallCounts, ChatReport, ChatStatus, ConcurrencyReport, Failure, Pending, REPORT_FORMAT_VERSION,
};

use crate::clock::Clock;
use crate::handle::Handle;
use crate::linq::{Client, Limiter, DEFAULT_PARALLELISM};
use crate::op::Op;
use crate::plan::{Action, ChatPlan, Plan, Step};
use crate::state::create::reopened;
use crate::state::journal::{fold_all, Unsettled};
use crate::state::{CreateIntent, JournalRecord, PendingChanges, State, StateStore, DEFAULT_PENDING_TIMEOUT};
use crate::stop::{Halt, Stop};
use recorder::Recorder;

/// How apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The most requests in flight at once (`--parallelism`): the ceiling of the adaptive limit,
    /// or the limit itself when not `adaptive`.
    pub parallelism: usize,
    /// Whether the limit on requests in flight adapts to the server (the default) or stays at
    /// `parallelism`.
    pub adaptive: bool,
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
    /// Creates an earlier run left open that settling could not settle (see
    /// [`crate::ops::settle`]): the create of such a key looks for its chat again before
    /// anything is sent, and they stay journaled until settled.
    pub open_creates: Vec<CreateIntent>,
}

/// The first pause between two reads of a waiting chat. Changes usually land within a fraction
/// of a second: polling at once at the longest interval would keep most waits about that long.
pub const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The pause after a read that did not show the change yet: it is usually about to land, and
/// a read aimed at its landing that came a little early should not cost another whole interval.
pub const RETRY_POLL_INTERVAL: Duration = Duration::from_millis(25);

/// How much longer each pause gets while a change has not landed.
const POLL_BACKOFF: f64 = 1.5;

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: DEFAULT_PARALLELISM,
            adaptive: true,
            rate: None,
            wait_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            pending_timeout: DEFAULT_PENDING_TIMEOUT,
            clock: Clock::system(),
            open_creates: Vec::new(),
        }
    }
}

/// Carries out `plan`, which must have been made from `state`; folds the accepted changes into
/// `state` and saves it through `store` (the caller holds the lock). Never panics on API or
/// storage failures: everything that went wrong is in the report. The run stops with the
/// client's [`Stop`]: after a signal no new step starts, steps in flight finish, and the state
/// is saved; a halt (a `401`, a journal that cannot be written) also ends the run, and is its
/// error.
pub async fn apply(
    plan: &Plan,
    state: &mut State,
    store: &dyn StateStore,
    client: &Client,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> ApplyReport {
    if options.rate.is_some() {
        client.pacer().set_cap(options.rate);
    }
    let limiter = client.limiter();
    limiter.set_ceiling(options.parallelism, options.adaptive);
    let work = Work::of(plan, state);
    progress.start(work.chats.len(), work.calls);
    let ran = run_chats(&work, state, store, client, options, progress).await;
    let mut report = ApplyReport::new();
    report.interrupted = ran.interrupted;
    report.error = ran.halt.map(|halt| halt.to_string());
    let concurrency = limiter.snapshot();
    report.concurrency = Some(ConcurrencyReport {
        peak: concurrency.peak,
        last: concurrency.limit,
        ceiling: concurrency.ceiling,
        adaptive: concurrency.adaptive,
    });
    let original = state.clone();
    // Creates an earlier run left open stay open unless this run settled them.
    let mut records = match options.open_creates.is_empty() {
        true => Vec::new(),
        false => reopened(state, &[], &options.open_creates),
    };
    records.extend(ran.records);
    let open = record(state, plan, ran.chats, &records, &mut report);
    save(state, &original, store, open, &mut report);
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
            .filter(|c| matches!(c.action, Action::Update | Action::Create) && !c.steps.is_empty())
            .collect();
        let calls = chats
            .iter()
            .flat_map(|c| &c.steps)
            .filter(|s| s.change().is_some() || matches!(s, Step::Name { .. } | Step::Icon { .. } | Step::Create))
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
    /// The client's: the engine halts it when the journal cannot be written, the client when
    /// Linq refuses the token.
    stop: &'a Stop,
    next_id: AtomicU64,
    recorder: Recorder,
    /// The chats the state holds: none of them is a chat a create made.
    known: BTreeSet<String>,
    /// The state's lineage: with a chat's key, the source of its creates' idempotency key.
    lineage: String,
}

/// What the chats of a run did.
struct Ran {
    /// Each chat's report, in plan order, and whether it passed its check.
    chats: Vec<(ChatReport, bool)>,
    /// Every journal record of the run.
    records: Vec<JournalRecord>,
    halt: Option<Halt>,
    interrupted: bool,
}

/// Runs the chats, as many at once as want fewer requests than the limiter allows (see
/// [`admit`]), beside the journal writer and the watch on the limiter.
async fn run_chats(
    work: &Work<'_>,
    state: &State,
    store: &dyn StateStore,
    client: &Client,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Ran {
    let (recorder, receiver) = Recorder::new();
    let engine = Engine {
        client,
        options,
        progress,
        stop: client.stop(),
        next_id: AtomicU64::new(1),
        recorder,
        known: state.chats.keys().cloned().collect(),
        lineage: state.lineage.clone(),
    };
    let begin = JournalRecord::Begin {
        lineage: state.lineage.clone(),
        serial: state.serial,
    };
    let (finished, ended) = oneshot::channel::<()>();
    let chats = async {
        let engine = engine;
        if !work.chats.is_empty() {
            if let Err(e) = engine.recorder.append(begin).await {
                engine.stop.halt(Halt::Unbegun(e));
            }
        }
        // Futures are lazy: building them all up front starts nothing. (Mapping inside the
        // stream instead would keep a closure in the future and make it lose `Send`.)
        let mut order: Vec<_> = work.chats.iter().enumerate().collect();
        order.sort_by_key(|(_, c)| std::cmp::Reverse(chain(c)));
        let pending: Vec<_> = (order.into_iter())
            .map(|(index, c)| {
                let queued = work.queued.get(c.id.as_str()).cloned().unwrap_or_default();
                let chat = engine.chat(c, queued);
                async move { (index, chat.await) }
            })
            .collect();
        // Chats end in any order; reports keep plan order.
        let mut chats = admit(pending, client.limiter(), engine.stop).await;
        chats.sort_unstable_by_key(|(index, _)| *index);
        let interrupted = engine.stop.signalled().is_some();
        let _ = finished.send(());
        // The recorder is dropped here, which ends the writer.
        Ran {
            chats: chats.into_iter().map(|(_, chat)| chat).collect(),
            halt: engine.stop.halted(),
            records: engine.recorder.into_records(),
            interrupted,
        }
    };
    let ((), ran, ()) = futures_util::future::join3(
        recorder::write(store, receiver),
        chats,
        watch_concurrency(client.limiter(), progress, ended),
    )
    .await;
    ran
}

/// Folds what the run did into `state` and `report`: the accepted changes (see
/// [`crate::state::journal`]), the changes still pending with when Linq accepted them, the
/// changes that never landed dropped, and forgotten chats removed. Returns the calls whose
/// outcome stayed unknown and the creates not settled.
fn record(
    state: &mut State,
    plan: &Plan,
    chats: Vec<(ChatReport, bool)>,
    records: &[JournalRecord],
    report: &mut ApplyReport,
) -> Open {
    let (chats, checked): (Vec<ChatReport>, Vec<bool>) = chats.into_iter().unzip();
    for chat in &chats {
        report.calls.add += chat.calls.add;
        report.calls.remove += chat.calls.remove;
        report.calls.create += chat.calls.create;
        report.calls.looks += chat.calls.looks;
    }
    let (changes, creates) = fold_all(state, records);
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
    // A chat that now stands for another key is recorded under it, with no call.
    for chat in plan.chats.iter().filter(|c| c.rekey.is_some()) {
        if let Some(known) = state.chats.get_mut(&chat.id) {
            known.key = (chat.key != chat.id).then(|| chat.key.clone());
        }
    }
    for chat in plan.chats.iter().filter(|c| c.action == Action::Forget) {
        if state.chats.remove(&chat.id).is_some() {
            report.forgotten.push(chat.id.clone());
        }
    }
    report.unknown = (plan.chats.iter())
        .filter(|c| c.action == Action::Unknown)
        .map(|c| c.id.clone())
        .collect();
    Open { changes, creates }
}

/// What a run leaves open for the next to settle.
struct Open {
    /// Calls whose outcome stayed unknown.
    changes: Vec<Unsettled>,
    /// Creates not settled.
    creates: Vec<CreateIntent>,
}

/// Saves `state` when the run changed it from `original`, then clears the journal, journaling
/// again the calls whose outcome stayed unknown and the creates not settled, so that the next
/// run settles them. A failure is the run's error.
fn save(state: &mut State, original: &State, store: &dyn StateStore, open: Open, report: &mut ApplyReport) {
    if state != original {
        if let Err(e) = store.save(state) {
            report.error.get_or_insert_with(|| format!("{e:#}"));
            return;
        }
    }
    let kept = match open.changes.is_empty() && open.creates.is_empty() {
        true => Vec::new(),
        false => reopened(state, &open.changes, &open.creates),
    };
    let cleared = store.replace_journal(&kept);
    if let Err(e) = cleared {
        report.error.get_or_insert_with(|| format!("{e:#}"));
    }
}

/// How long a chat's steps take one after another, longest first: its waits (each at least
/// Linq's landing delay), then its calls. Chats start longest first, so that the run is not
/// left waiting on a long chain started late.
fn chain(chat: &ChatPlan) -> (usize, usize) {
    let waits = chat.steps.iter().filter(|s| matches!(s, Step::Wait)).count();
    (waits, chat.steps.len())
}

/// Runs `chats`, starting them in order while fewer requests are held or asked for than the
/// limiter allows (so a chat waiting for its changes to land, or waiting out a `Retry-After`,
/// leaves room for another). A chat counts as asking once it has run up to its first request:
/// the next starts only after that. Once the run stops, the rest start at once (each ends at
/// once, reported as stopped). Results come in the order chats end.
async fn admit<T>(chats: Vec<impl std::future::Future<Output = T>>, limiter: &Limiter, stop: &Stop) -> Vec<T> {
    let started = Notify::new();
    let fresh = AtomicBool::new(false);
    let mut queue = chats.into_iter();
    let mut next = queue.next();
    let mut running = FuturesUnordered::new();
    let mut done = Vec::new();
    // Whether the stop has woken this loop: it does so once.
    let mut woken = false;
    loop {
        let stopping = stop.is_stopped();
        if next.is_some() && !fresh.load(Ordering::Acquire) && (running.is_empty() || stopping || limiter.room() > 0) {
            let chat = next.take().expect("checked");
            next = queue.next();
            fresh.store(true, Ordering::Release);
            let (fresh, started) = (&fresh, &started);
            running.push(async move {
                fresh.store(false, Ordering::Release);
                started.notify_one();
                chat.await
            });
        }
        if running.is_empty() {
            return done;
        }
        tokio::select! {
            Some(result) = running.next() => done.push(result),
            // The chat just started has asked for its first request (or ended).
            () = started.notified() => {}
            () = limiter.room_changed(), if next.is_some() => {}
            () = stop.stopped(), if next.is_some() && !woken => woken = true,
        }
    }
}

/// How often at most `-v` shows the limit on requests in flight changing.
const CONCURRENCY_LINES_EVERY: Duration = Duration::from_secs(1);

/// Tells `progress` about the limit on requests in flight until `ended` resolves: every decision
/// as a sample, and a change of the limit at most once every [`CONCURRENCY_LINES_EVERY`],
/// always the latest.
async fn watch_concurrency(limiter: &Limiter, progress: &dyn Progress, mut ended: oneshot::Receiver<()>) {
    let began = Instant::now();
    let mut changes = limiter.subscribe();
    let mut shown = changes.borrow_and_update().limit;
    let mut last_line: Option<Instant> = None;
    let mut unshown = false;
    loop {
        let due = last_line.map_or(began, |at| at + CONCURRENCY_LINES_EVERY);
        tokio::select! {
            _ = &mut ended => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *changes.borrow_and_update();
                progress.concurrency_sample(began.elapsed(), &now);
                unshown |= now.limit != shown;
            }
            () = tokio::time::sleep_until(due), if unshown => {}
        }
        if unshown && Instant::now() >= due {
            let now = *changes.borrow();
            if now.limit != shown {
                progress.concurrency(&ConcurrencyChange {
                    at: began.elapsed(),
                    from: shown,
                    now,
                });
                shown = now.limit;
                last_line = Some(Instant::now());
            }
            unshown = false;
        }
    }
}

impl Engine<'_> {
    /// Journals `record`: true once it is durable. A journal that cannot be written halts the
    /// whole run, since progress past that point could not be recovered after a crash: no
    /// request starts from then on, not even one already waiting for its turn.
    async fn record(&self, record: JournalRecord) -> bool {
        match self.recorder.append(record).await {
            Ok(()) => true,
            Err(e) => {
                self.stop.halt(Halt::Unrecorded(e));
                false
            }
        }
    }
}
