//! The apply engine: carries out a [`Plan`] through the Linq client and records every accepted
//! change durably, so that a crash loses at most the calls in flight and a re-run converges.
//!
//! Chats run concurrently, the steps of one chat strictly in order. Requests, not chats, are
//! what is limited: the client's limiter keeps at most its adaptive limit in flight (under the
//! `--parallelism` ceiling), and a chat starts whenever fewer chats want to send than that
//! limit allows, so a chat waiting for its changes to land holds no capacity. Each chat:
//!
//! 1. Read the chat. Changes accepted by earlier runs that are overdue and do not show never
//!    landed (see [`crate::state::pending`]): the chat is not changed, they are dropped from the
//!    state, and the next plan makes them again. Changes still within `--pending-timeout` are
//!    waited for. If the members then differ from the plan's `before`, skip the chat as drift:
//!    roster does not act on a stale picture.
//! 2. For each add or remove: journal an `Intent` (durable before the call goes out), make the
//!    call, journal its outcome (durable before the chat's next step). A `wait` step polls the
//!    chat until every earlier change of this chat shows.
//! 3. A failure stops that chat's remaining steps (a remove must never run when an add it relied
//!    on failed); other chats go on. A `401` stops the whole run.
//! 4. Read each changed chat back: accepted changes not visible yet are reported as pending.
//!
//! At the end the accepted changes are folded into the state (see [`crate::state::journal`]),
//! the state is saved and the journal cleared; calls whose outcome stayed unknown are journaled
//! again so the next run settles them by reading the chat.

mod progress;
mod report;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

pub use progress::{
    describe, describe_concurrency, BarProgress, ConcurrencyChange, LineProgress, NoProgress, Progress, TimingsProgress,
};
pub use report::{
    ApplyReport, CallCounts, ChatReport, ChatStatus, ConcurrencyReport, Drift, Failure, Pending, REPORT_FORMAT_VERSION,
};

use crate::clock::Clock;
use crate::handle::Handle;
use crate::linq::{Client, Limiter, LinqError, DEFAULT_PARALLELISM};
use crate::plan::{Action, ChatPlan, Plan, Step};
use crate::state::journal::{fold, visible};
use crate::state::{JournalRecord, Op, PendingChanges, PendingTimeout, State, StateStore, DEFAULT_PENDING_TIMEOUT};

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
}

/// The first pause between two reads of a waiting chat. Changes usually land within a fraction
/// of a second: polling at once at the longest interval would keep most waits about that long.
pub const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(100);

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
    let mut report = ApplyReport::new();
    if options.rate.is_some() {
        client.pacer().set_cap(options.rate);
    }
    let limiter = client.limiter();
    limiter.set_ceiling(options.parallelism, options.adaptive);
    let work: Vec<&ChatPlan> = plan
        .chats
        .iter()
        .filter(|c| c.action == Action::Update && !c.steps.is_empty())
        .collect();
    let calls = work
        .iter()
        .flat_map(|c| &c.steps)
        .filter(|s| !matches!(s, Step::Wait))
        .count();
    progress.start(work.len(), calls);

    // Changes earlier runs had accepted but not yet seen land, per chat.
    let known_pending: HashMap<&str, PendingChanges> = work
        .iter()
        .filter_map(|c| {
            state
                .chats
                .get(&c.id)
                .map(|known| (c.id.as_str(), known.pending.clone()))
        })
        .filter(|(_, pending)| !pending.is_empty())
        .collect();
    let (sender, receiver) = mpsc::unbounded_channel();
    let run = Run {
        client,
        options,
        progress,
        stop,
        halt: Mutex::new(None),
        next_id: AtomicU64::new(1),
        journal: sender,
        records: Mutex::new(Vec::new()),
    };
    let begin = JournalRecord::Begin {
        lineage: state.lineage.clone(),
        serial: state.serial,
    };
    let (finished, ended) = oneshot::channel::<()>();
    let chats = async {
        let run = run;
        if !work.is_empty() {
            if let Err(e) = run.append(begin).await {
                run.halt(e);
            }
        }
        // Futures are lazy: building them all up front starts nothing. (Mapping inside the
        // stream instead would keep a closure in the future and make it lose `Send`.)
        let pending: Vec<_> = (work.iter().enumerate())
            .map(|(index, c)| {
                let queued = known_pending.get(c.id.as_str()).cloned().unwrap_or_default();
                let chat = run.chat(c, queued);
                async move { (index, chat.await) }
            })
            .collect();
        // Chats end in any order; reports keep plan order.
        let mut chats = admit(pending, limiter, run.stop.clone(), || run.should_stop()).await;
        chats.sort_unstable_by_key(|(index, _)| *index);
        let chats: Vec<(ChatReport, bool)> = chats.into_iter().map(|(_, chat)| chat).collect();
        let records = run.records.into_inner().unwrap_or_else(|p| p.into_inner());
        let halt = run.halt.into_inner().unwrap_or_else(|p| p.into_inner());
        let interrupted = *run.stop.borrow();
        let _ = finished.send(());
        // `run` (and with it the journal sender) is dropped here, which ends the writer.
        (chats, records, halt, interrupted)
    };
    let ((), (chats, records, halt, interrupted), ()) = futures_util::future::join3(
        write_journal(store, receiver),
        chats,
        watch_concurrency(limiter, progress, ended),
    )
    .await;
    let concurrency = limiter.snapshot();
    report.concurrency = Some(ConcurrencyReport {
        peak: concurrency.peak,
        last: concurrency.limit,
        ceiling: concurrency.ceiling,
        adaptive: concurrency.adaptive,
    });

    let (chats, checked): (Vec<ChatReport>, Vec<bool>) = chats.into_iter().unzip();
    for chat in &chats {
        report.calls.add += chat.calls.add;
        report.calls.remove += chat.calls.remove;
    }
    report.interrupted = interrupted;
    report.error = halt;

    let original = state.clone();
    let unsettled = fold(state, &records);
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
    if *state != original {
        if let Err(e) = store.save(state) {
            report.error.get_or_insert_with(|| format!("{e:#}"));
            progress.finish();
            return report;
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
    progress.finish();
    report
}

/// Runs `chats`, starting them in order while fewer requests are held or asked for than the
/// limiter allows (so a chat waiting for its changes to land, or waiting out a `Retry-After`,
/// leaves room for another). A chat counts as asking once it has run up to its first request:
/// the next starts only after that. When `stopping`, the rest start at once (each ends at once,
/// reported as stopped). Results come in the order chats end.
async fn admit<T>(
    chats: Vec<impl std::future::Future<Output = T>>,
    limiter: &Limiter,
    mut stop: watch::Receiver<bool>,
    stopping: impl Fn() -> bool,
) -> Vec<T> {
    let started = Notify::new();
    let fresh = std::sync::atomic::AtomicBool::new(false);
    let mut queue = chats.into_iter();
    let mut next = queue.next();
    let mut running = FuturesUnordered::new();
    let mut done = Vec::new();
    loop {
        if next.is_some() && !fresh.load(Ordering::Acquire) && (running.is_empty() || stopping() || limiter.room() > 0)
        {
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
            Ok(()) = stop.changed(), if next.is_some() => {}
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

type JournalRequest = (JournalRecord, oneshot::Sender<Result<(), String>>);

/// Shared by the chats of one run.
struct Run<'a> {
    client: &'a Client,
    options: &'a ApplyOptions,
    progress: &'a dyn Progress,
    stop: watch::Receiver<bool>,
    /// Why the whole run stops (a `401`, a journal that cannot be written).
    halt: Mutex<Option<String>>,
    next_id: AtomicU64,
    journal: mpsc::UnboundedSender<JournalRequest>,
    /// Every record of this run, durable or not: what roster knows happened.
    records: Mutex<Vec<JournalRecord>>,
}

/// How a wait step ended early.
enum WaitEnd {
    Stopped,
    Failed(Failure),
}

impl Run<'_> {
    fn should_stop(&self) -> bool {
        *self.stop.borrow() || self.halt.lock().unwrap_or_else(|p| p.into_inner()).is_some()
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

    /// Journals `record`; returns once it is durable.
    async fn append(&self, record: JournalRecord) -> Result<(), String> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record.clone());
        let (reply, answer) = oneshot::channel();
        self.journal
            .send((record, reply))
            .map_err(|_| "the journal writer stopped".to_owned())?;
        answer.await.map_err(|_| "the journal writer stopped".to_owned())?
    }

    /// Carries out one chat's steps; the flag says whether the chat passed its check against
    /// the state (so every change pending from earlier runs has landed).
    async fn chat(&self, plan: &ChatPlan, queued: PendingChanges) -> (ChatReport, bool) {
        let mut out = ChatReport {
            id: plan.id.clone(),
            name: plan.name.clone(),
            status: ChatStatus::Stopped,
            calls: CallCounts::default(),
            drift: None,
            failure: None,
            pending: Pending::default(),
            never_landed: Vec::new(),
            steps_left: plan.steps.len(),
        };
        if self.should_stop() {
            self.progress.chat(&out);
            return (out, false);
        }
        let live = match self.client.get_chat(&plan.id).await {
            Ok(chat) => chat,
            Err(e) => {
                self.check_fatal(&e);
                out.status = ChatStatus::Failed;
                out.failure = Some(Failure::from_error(None, &e));
                self.progress.chat(&out);
                return (out, false);
            }
        };
        let members = live.members();
        let timeout = PendingTimeout {
            now: self.options.clock.now(),
            timeout: self.options.pending_timeout,
        };
        let never_landed = queued.never_landed(&members, &timeout);
        if !never_landed.is_empty() {
            // The plan counted on them: not changed in this run; the next plan makes them again.
            out.status = ChatStatus::NeverLanded;
            out.never_landed = never_landed;
            self.progress.chat(&out);
            return (out, false);
        }
        let before: BTreeSet<Handle> = plan.before.iter().flatten().cloned().collect();
        if members != before {
            let missing: Vec<Handle> = before.difference(&members).cloned().collect();
            let unexpected: Vec<Handle> = members.difference(&before).cloned().collect();
            // Only roster's own accepted changes still landing: wait for them, as a wait step
            // would. Anything else changed outside roster: skip the chat.
            let own = missing.iter().all(|h| queued.contains(Op::Add, h))
                && unexpected.iter().all(|h| queued.contains(Op::Remove, h));
            let landing: Vec<(Op, Handle)> = (missing.iter().map(|h| (Op::Add, h.clone())))
                .chain(unexpected.iter().map(|h| (Op::Remove, h.clone())))
                .collect();
            let landed = own
                && match self.wait(&plan.id, &landing).await {
                    Ok(()) => true,
                    Err(WaitEnd::Stopped) => {
                        self.progress.chat(&out);
                        return (out, false);
                    }
                    Err(WaitEnd::Failed(_)) => false,
                };
            if !landed {
                out.status = ChatStatus::Drift;
                out.drift = Some(Drift { missing, unexpected });
                self.progress.chat(&out);
                return (out, false);
            }
        }

        let mut accepted: Vec<(Op, Handle)> = Vec::new();
        let mut unknown: Vec<(u64, Op, Handle)> = Vec::new();
        out.status = ChatStatus::Done;
        out.steps_left = 0;
        for (index, step) in plan.steps.iter().enumerate() {
            let left = plan.steps.len() - index;
            if self.should_stop() {
                out.status = ChatStatus::Stopped;
                out.steps_left = left;
                break;
            }
            let (op, handle) = match step {
                Step::Add { handle, .. } => (Op::Add, handle),
                Step::Remove { handle, .. } => (Op::Remove, handle),
                Step::Wait => match self.wait(&plan.id, &accepted).await {
                    Ok(()) => continue,
                    Err(WaitEnd::Stopped) => {
                        out.status = ChatStatus::Stopped;
                        out.steps_left = left;
                        break;
                    }
                    Err(WaitEnd::Failed(failure)) => {
                        out.status = ChatStatus::Failed;
                        out.failure = Some(failure);
                        out.steps_left = left;
                        break;
                    }
                },
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let intent = JournalRecord::Intent {
                id,
                chat: plan.id.clone(),
                op,
                handle: handle.clone(),
            };
            if let Err(e) = self.append(intent).await {
                // The intent may be on disk even so; the call does not go out.
                self.halt(format!("cannot record progress, so no further calls are made: {e}"));
                self.note_outcome(JournalRecord::Failed { id });
                out.status = ChatStatus::Stopped;
                out.steps_left = left;
                break;
            }
            match self.client.change(op, &plan.id, handle).await {
                Ok(answer) => {
                    let record = JournalRecord::Accepted {
                        id,
                        trace_id: answer.trace_id,
                        at: Some(self.options.clock.now()),
                    };
                    let durable = self.append(record).await;
                    accepted.push((op, handle.clone()));
                    match op {
                        Op::Add => out.calls.add += 1,
                        Op::Remove => out.calls.remove += 1,
                    }
                    self.progress.call(&plan.id, step);
                    if let Err(e) = durable {
                        self.halt(format!("cannot record progress, so no further calls are made: {e}"));
                        out.status = ChatStatus::Stopped;
                        out.steps_left = left - 1;
                        break;
                    }
                }
                Err(e) => {
                    if e.may_have_taken_effect() {
                        unknown.push((id, op, handle.clone()));
                    } else if let Err(write) = self.append(JournalRecord::Failed { id }).await {
                        self.halt(format!("cannot record progress, so no further calls are made: {write}"));
                    }
                    self.check_fatal(&e);
                    out.status = ChatStatus::Failed;
                    out.failure = Some(Failure::from_error(Some(step.clone()), &e));
                    out.steps_left = left;
                    break;
                }
            }
        }

        if self.halted() {
            // No read back: what was accepted counts as pending, and calls of unknown outcome
            // are journaled again for the next run to settle.
            for (op, handle) in &accepted {
                pend(&mut out.pending, *op, handle);
            }
        } else if !accepted.is_empty() || !unknown.is_empty() {
            self.read_back(&plan.id, &accepted, unknown, &mut out).await;
        }
        self.progress.chat(&out);
        (out, true)
    }

    /// Records an outcome in memory only (the journal cannot be written).
    fn note_outcome(&self, record: JournalRecord) {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(record);
    }

    /// Polls the chat until every accepted change of it shows.
    async fn wait(&self, chat: &str, accepted: &[(Op, Handle)]) -> Result<(), WaitEnd> {
        let deadline = Instant::now() + self.options.wait_timeout;
        let mut stop = self.stop.clone();
        let mut pause = FIRST_POLL_INTERVAL.min(self.options.poll_interval);
        loop {
            if self.should_stop() {
                return Err(WaitEnd::Stopped);
            }
            // Linq queues changes, so they never show at once (and the chat was just read or
            // changed): pause before each read rather than after.
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return Err(WaitEnd::Stopped),
            }
            // The run may have been halted (a 401 elsewhere) while this chat slept.
            if self.should_stop() {
                return Err(WaitEnd::Stopped);
            }
            let live = self.client.get_chat(chat).await.map_err(|e| {
                self.check_fatal(&e);
                WaitEnd::Failed(Failure::from_error(Some(Step::Wait), &e))
            })?;
            let waiting: Vec<&Handle> = accepted
                .iter()
                .filter(|(op, handle)| !visible(&live, *op, handle))
                .map(|(_, h)| h)
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            pause = pause.mul_f64(POLL_BACKOFF).min(self.options.poll_interval);
            if Instant::now() + pause > deadline {
                let list: Vec<String> = waiting.iter().map(|h| format!("`{h}`")).collect();
                return Err(WaitEnd::Failed(Failure {
                    step: Some(Step::Wait),
                    status: None,
                    code: None,
                    message: format!(
                        "timed out after {}s waiting for the change of {} to land",
                        self.options.wait_timeout.as_secs_f64(),
                        list.join(", ")
                    ),
                    trace_id: None,
                }));
            }
        }
    }

    /// Reads the chat after its steps: accepted changes not visible are pending; calls whose
    /// outcome was unknown and whose effect shows are accepted after all.
    async fn read_back(
        &self,
        chat: &str,
        accepted: &[(Op, Handle)],
        unknown: Vec<(u64, Op, Handle)>,
        out: &mut ChatReport,
    ) {
        let live = match self.client.get_chat(chat).await {
            Ok(live) => live,
            Err(e) => {
                self.check_fatal(&e);
                for (op, handle) in accepted {
                    pend(&mut out.pending, *op, handle);
                }
                return;
            }
        };
        for (op, handle) in accepted {
            if !visible(&live, *op, handle) {
                pend(&mut out.pending, *op, handle);
            }
        }
        for (id, op, handle) in unknown {
            if visible(&live, op, &handle) {
                let record = JournalRecord::Accepted {
                    id,
                    trace_id: None,
                    at: Some(self.options.clock.now()),
                };
                if let Err(e) = self.append(record).await {
                    self.halt(format!("cannot record progress, so no further calls are made: {e}"));
                }
                match op {
                    Op::Add => out.calls.add += 1,
                    Op::Remove => out.calls.remove += 1,
                }
            }
        }
    }
}

fn pend(pending: &mut Pending, op: Op, handle: &Handle) {
    match op {
        Op::Add => pending.add.push(handle.clone()),
        Op::Remove => pending.remove.push(handle.clone()),
    }
}

/// Appends journal records as chats send them, batching whatever arrived meanwhile into one
/// write and one sync, so concurrent chats do not queue up behind each other's fsync.
async fn write_journal(store: &dyn StateStore, mut receiver: mpsc::UnboundedReceiver<JournalRequest>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let records: Vec<JournalRecord> = batch.iter().map(|(record, _)| record.clone()).collect();
        let result = blocking(|| store.append_journal(&records)).map_err(|e| format!("{e:#}"));
        for (_, reply) in batch {
            let _ = reply.send(result.clone());
        }
    }
}

/// Runs a blocking write without stalling the runtime's other tasks where the runtime allows.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}
