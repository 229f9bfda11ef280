//! One chat of a run: checked against the plan's picture of it, its calls made in order, and
//! read back (steps 1 to 4 of the module doc).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::report::{ChatReport, ChatStatus, Failure};
use super::{Engine, FIRST_POLL_INTERVAL, POLL_BACKOFF, RETRY_POLL_INTERVAL};
use crate::escape::code_list;
use crate::handle::Handle;
use crate::linq::LinqError;
use crate::members::Members;
use crate::op::Op;
use crate::plan::{Action, ChatPlan, Step};
use crate::state::{JournalRecord, PendingChanges, PendingTimeout};
use crate::sync::{before_change, landing, poll, resolve, Before, Known, Landing, PollEnd, Schedule, Seen};

/// What a chat's steps made: the calls Linq accepted, and those whose outcome is unknown (with
/// their intent's id), to read back.
#[derive(Default)]
pub(super) struct Made {
    pub(super) accepted: Vec<(Op, Handle)>,
    unknown: Vec<(u64, Op, Handle)>,
    /// When the latest accepted change was answered: a wait counts from there.
    answered: Option<Instant>,
}

/// Why a chat's steps ended before the last.
struct Ended {
    status: ChatStatus,
    /// The step that ended them was carried out all the same.
    carried_out: bool,
    failure: Option<Failure>,
}

impl Ended {
    fn stopped() -> Ended {
        Ended {
            status: ChatStatus::Stopped,
            carried_out: false,
            failure: None,
        }
    }

    fn failed(failure: Failure) -> Ended {
        Ended {
            status: ChatStatus::Failed,
            carried_out: false,
            failure: Some(failure),
        }
    }
}

/// How a wait ended early.
enum WaitEnd {
    Stopped,
    Failed(Failure),
}

impl Engine<'_> {
    /// Carries out one chat; the flag says whether the chat passed its check against the state
    /// (so every change pending from earlier runs has landed).
    pub(super) async fn chat(&self, plan: &ChatPlan, queued: PendingChanges) -> (ChatReport, bool) {
        let mut out = ChatReport::untouched(plan);
        if plan.action == Action::Create {
            // A chat to create has nothing to check: its create comes first (`create.rs`).
            let created = self.create_chat(plan, &mut out).await;
            self.progress.chat(&out);
            return (out, created);
        }
        let checked = !self.stop.is_stopped() && self.check(plan, &queued, &mut out).await;
        if checked {
            let made = self.steps(plan, &mut out).await;
            self.finish(&plan.id, made, &mut out).await;
        }
        self.progress.chat(&out);
        (out, checked)
    }

    /// Reads the chat and holds it against the plan's `before` ([`before_change`]), waiting for
    /// roster's own earlier changes that are still landing: true to go ahead, or `out` says why
    /// not.
    async fn check(&self, plan: &ChatPlan, queued: &PendingChanges, out: &mut ChatReport) -> bool {
        let live = match self.client.get_chat(&plan.id).await {
            Ok(chat) => chat,
            // Cut short by a signal: the chat stopped, untouched.
            Err(e) if e.is_cut_short() => return false,
            Err(e) => {
                out.status = ChatStatus::Failed;
                out.failure = Some(Failure::from_error(None, &e));
                return false;
            }
        };
        let timeout = PendingTimeout {
            now: self.options.clock.now(),
            timeout: self.options.pending_timeout,
        };
        let before: Members = plan.before.iter().flatten().cloned().collect();
        let drift = match before_change(&before, queued, &live.members(), &timeout) {
            Before::AsPlanned => return true,
            Before::NeverLanded(never_landed) => {
                // The plan counted on them: not changed in this run; the next plan makes them again.
                out.status = ChatStatus::NeverLanded;
                out.never_landed = never_landed;
                return false;
            }
            Before::Landing { landing, drift } => match self.wait(&plan.id, &landing, None).await {
                Ok(()) => return true,
                Err(WaitEnd::Stopped) => return false,
                Err(WaitEnd::Failed(_)) => drift,
            },
            Before::Drifted(drift) => drift,
        };
        out.status = ChatStatus::Drift;
        out.drift = Some(drift);
        false
    }

    /// Carries out the steps in order, up to the first that fails or a stop.
    pub(super) async fn steps(&self, plan: &ChatPlan, out: &mut ChatReport) -> Made {
        let mut made = Made::default();
        out.status = ChatStatus::Done;
        out.steps_left = 0;
        for (index, step) in plan.steps.iter().enumerate() {
            let ended = if self.stop.is_stopped() {
                Err(Ended::stopped())
            } else {
                match step.change() {
                    None if *step != Step::Wait => self.looks(&plan.id, step, out).await,
                    None => (self.wait(&plan.id, &made.accepted, made.answered).await).map_err(|end| match end {
                        WaitEnd::Stopped => Ended::stopped(),
                        WaitEnd::Failed(failure) => Ended::failed(failure),
                    }),
                    Some((op, handle)) => self.call(&plan.id, step, op, handle, &mut made, out).await,
                }
            };
            if let Err(ended) = ended {
                out.status = ended.status;
                out.failure = ended.failure;
                out.steps_left = plan.steps.len() - index - usize::from(ended.carried_out);
                break;
            }
        }
        made
    }

    /// One add or remove: its intent journaled (durable before the call goes out), the call,
    /// and its outcome journaled (durable before the chat's next step).
    async fn call(
        &self,
        chat: &str,
        step: &Step,
        op: Op,
        handle: &Handle,
        made: &mut Made,
        out: &mut ChatReport,
    ) -> Result<(), Ended> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let intent = JournalRecord::Intent {
            id,
            chat: chat.to_owned(),
            op,
            handle: handle.clone(),
        };
        // Journaled once the call has its turn, just before it goes out: a journal that cannot
        // be written then halts the run before any call waiting for its turn is made.
        let announce = self.record(intent);
        let answer = self.client.change_announced(op, chat, handle, announce).await;
        let answered = Instant::now();
        match resolve(self.client, op, chat, handle, answer).await {
            Ok(answer) => {
                let record = JournalRecord::Accepted {
                    id,
                    trace_id: answer.trace_id,
                    at: Some(self.options.clock.now()),
                };
                let durable = self.record(record).await;
                made.accepted.push((op, handle.clone()));
                made.answered = Some(answered);
                out.calls.count(op);
                self.progress.call(chat, step);
                if !durable {
                    return Err(Ended {
                        carried_out: true,
                        ..Ended::stopped()
                    });
                }
                Ok(())
            }
            Err(LinqError::NotSent(_)) => {
                // Not made: its intent was never journaled, or it may be on disk even so.
                self.recorder.note(JournalRecord::Failed { id });
                Err(Ended::stopped())
            }
            Err(e) => {
                if e.may_have_taken_effect() {
                    made.unknown.push((id, op, handle.clone()));
                } else {
                    self.record(JournalRecord::Failed { id }).await;
                }
                if e.is_cut_short() {
                    return Err(Ended::stopped());
                }
                Err(Ended::failed(Failure::from_error(Some(step.clone()), &e)))
            }
        }
    }

    /// A name or an icon set (`PUT /v3/chats/{id}`), and journaled once Linq answered, before
    /// the chat's next step; a create is not carried out by this engine.
    async fn looks(&self, chat: &str, step: &Step, out: &mut ChatReport) -> Result<(), Ended> {
        let (name, icon) = match step {
            Step::Name { value } => (Some(value.as_str()), None),
            Step::Icon { value } => (None, Some(value.as_str())),
            _ => {
                return Err(Ended::failed(Failure {
                    step: Some(step.clone()),
                    status: None,
                    code: None,
                    message: "this roster does not create chats yet; nothing was sent".to_owned(),
                    trace_id: None,
                }))
            }
        };
        match self.client.update_chat(chat, name, icon).await {
            Ok(_) => {
                let record = JournalRecord::Looks {
                    chat: chat.to_owned(),
                    name: name.map(str::to_owned),
                    icon: icon.map(str::to_owned),
                };
                let durable = self.record(record).await;
                self.progress.call(chat, step);
                out.calls.looks += 1;
                match durable {
                    true => Ok(()),
                    false => Err(Ended {
                        carried_out: true,
                        ..Ended::stopped()
                    }),
                }
            }
            Err(e) if e.is_cut_short() || matches!(e, LinqError::NotSent(_)) => Err(Ended::stopped()),
            Err(e) => Err(Ended::failed(Failure::from_error(Some(step.clone()), &e))),
        }
    }

    /// Polls the chat until every accepted change of it shows. With `since`, the answer of the
    /// latest of them, the first read is aimed to come back [`FIRST_POLL_INTERVAL`] after it:
    /// it goes out that long after the answer less the latency the limiter measures (half the
    /// pause at most), so the read's own round trip overlaps the change's landing.
    async fn wait(&self, chat: &str, accepted: &[(Op, Handle)], since: Option<Instant>) -> Result<(), WaitEnd> {
        // Linq queues changes, so they never show at once (and the chat was just read or
        // changed): pause before each read rather than after.
        let first = FIRST_POLL_INTERVAL.min(self.options.poll_interval);
        let latency = self.client.limiter().expected_latency().unwrap_or_default();
        let schedule = Schedule {
            read_at_once: false,
            first,
            since,
            ahead: since.map_or(Duration::ZERO, |_| latency.min(first / 2)),
            then: RETRY_POLL_INTERVAL.min(self.options.poll_interval),
            growth: POLL_BACKOFF,
            longest: self.options.poll_interval,
            timeout: self.options.wait_timeout,
        };
        let mut waiting: Vec<&Handle> = Vec::new();
        let polled = poll(self.client, chat, &schedule, Some(self.stop), |live| {
            waiting = accepted
                .iter()
                .filter(|(op, handle)| !live.shows(*op, handle))
                .map(|(_, h)| h)
                .collect();
            waiting.is_empty()
        })
        .await;
        match polled {
            Ok(()) => Ok(()),
            Err(PollEnd::Stopped) => Err(WaitEnd::Stopped),
            Err(PollEnd::Failed(e)) if e.is_cut_short() => Err(WaitEnd::Stopped),
            Err(PollEnd::Failed(e)) => Err(WaitEnd::Failed(Failure::from_error(Some(Step::Wait), &e))),
            Err(PollEnd::TimedOut) => Err(WaitEnd::Failed(Failure {
                step: Some(Step::Wait),
                status: None,
                code: None,
                message: format!(
                    "timed out after {}s waiting for the change of {} to land",
                    self.options.wait_timeout.as_secs_f64(),
                    code_list(&waiting)
                ),
                trace_id: None,
            })),
        }
    }

    /// After the steps, what was made is read back, and [`landing`] decides (rules 1 to 3):
    /// accepted changes the chat does not show yet are pending, and calls of unknown outcome
    /// whose effect shows are accepted after all. Once the whole run has halted no call starts,
    /// not even a read: the chat counts as unread, so what was accepted is pending and calls of
    /// unknown outcome are journaled again for the next run to settle.
    pub(super) async fn finish(&self, chat: &str, made: Made, out: &mut ChatReport) {
        if made.accepted.is_empty() && made.unknown.is_empty() {
            return;
        }
        let read = match self.stop.is_halted() {
            true => None,
            false => Some(self.client.get_chat(chat).await),
        };
        let seen = |op, handle: &Handle| {
            read.as_ref()
                .map_or(Seen::Unread, |read| Seen::of_read(read, op, handle))
        };
        for (op, handle) in &made.accepted {
            if landing(Known::Accepted { overdue: false }, seen(*op, handle)) == Landing::Pending {
                out.pending.push(*op, handle);
            }
        }
        for (id, op, handle) in made.unknown {
            if landing(Known::Unknown, seen(op, &handle)) == Landing::Landed {
                let record = JournalRecord::Accepted {
                    id,
                    trace_id: None,
                    at: Some(self.options.clock.now()),
                };
                self.record(record).await;
                out.calls.count(op);
            }
        }
    }
}
