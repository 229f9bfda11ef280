//! A chat's create step: the one call roster cannot take back, and it messages real people.
//!
//! 1. The intent ([`CreateIntent`]) is durable before the `POST /v3/chats` goes out (the
//!    client runs the journal write once the create has its turn, and sends nothing when it
//!    fails), with the key's idempotency key ([`idempotency_key`]).
//! 2. A `201` names the chat: its `Created` outcome is journaled before the chat's next step.
//! 3. A create whose answer was lost ([`CreateAnswer::Unanswered`]) is settled by looking for
//!    its chat ([`find_created`]): found, it is the chat made; the search conclusive and
//!    nothing found, it is sent again with the same idempotency key (at most
//!    [`MAX_SENDS`] sends in all); otherwise it is not settled: its intent stays open in the
//!    journal, the chat's other steps wait, and the run fails saying so.
//! 4. An intent an earlier run left open (see [`crate::ops::settle`]) is settled the same way
//!    before anything is sent, under a new intent of this run that keeps what it was (line,
//!    members, time); found to have made nothing, it is journaled `Failed`, and this run's
//!    create (of today's config) goes out under an intent of its own.
//! 5. A failure that surely made nothing (a `4xx`) journals `Failed`.

use std::sync::atomic::Ordering;

use super::report::{ChatReport, ChatStatus, Failure};
use super::Engine;
use crate::config::Service;
use crate::linq::{Chat, CreateAnswer, LinqError, NewChat};
use crate::op::Op;
use crate::plan::{ChatPlan, CreateRequest, Step};
use crate::state::{idempotency_key, CreateIntent, JournalRecord};
use crate::sync::{find_created, CreateLanding, NotSettled};

/// The most times one create is sent in a run: the first, and again only after a search
/// showed the one before made nothing.
pub const MAX_SENDS: usize = 3;

/// Why a create step ended without a chat; the chat's other steps wait.
pub(super) enum Unmade {
    /// Stopped before it was sent (a signal, a halt).
    Stopped,
    /// Refused (or failed) in a way that made nothing.
    Failed(Failure),
    /// Its chat may or may not exist: "create not settled".
    NotSettled(Failure),
}

impl Engine<'_> {
    /// Carries out a chat to create: its create, then (with the chat it made) its other steps,
    /// and the read back, where the members show. True once the chat exists; `out` says how
    /// it went.
    pub(super) async fn create_chat(&self, plan: &ChatPlan, out: &mut ChatReport) -> bool {
        let (Some(request), Some(step)) = (plan.create_request(), plan.steps.first()) else {
            // Not a plan roster makes (an edited plan is refused before this): nothing is sent.
            out.status = ChatStatus::Failed;
            out.failure = Some(Failure {
                step: Some(Step::Create),
                status: None,
                code: None,
                message: "the plan holds no create for this chat; nothing was sent".to_owned(),
                trace_id: None,
            });
            return false;
        };
        if self.stop.is_stopped() {
            return false;
        }
        let new = self.new_chat(request);
        let chat = match self.create(&plan.key, &new, step).await {
            Ok(chat) => chat,
            Err(unmade) => {
                out.unmade(unmade);
                return false;
            }
        };
        out.id = chat.clone();
        out.calls.create += 1;
        self.progress.call(&chat, step);
        let rest = ChatPlan {
            id: chat.clone(),
            steps: plan.steps[1..].to_vec(),
            ..plan.clone()
        };
        let mut made = self.steps(&rest, out).await;
        // The members came with the create: pending until the read back shows them.
        made.accepted
            .extend(new.to.iter().map(|member| (Op::Add, member.clone())));
        self.finish(&chat, made, out).await;
        true
    }

    /// The `POST /v3/chats` of `request`, with its key's idempotency key.
    fn new_chat(&self, request: CreateRequest) -> NewChat {
        NewChat {
            idempotency_key: idempotency_key(&self.lineage, &request.key),
            from: request.from,
            to: request.members,
            message: request.message,
            service: request.service.map(|service| linq_name(service).to_owned()),
        }
    }

    /// Carries out the create of `key` (`new`): the chat it made, or why none.
    pub(super) async fn create(&self, key: &str, new: &NewChat, step: &Step) -> Result<String, Unmade> {
        if let Some(open) = self.options.open_creates.iter().find(|intent| intent.key == key) {
            if let Some(chat) = self.settle_open(open, step).await? {
                return Ok(chat);
            }
        }
        let intent = CreateIntent {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            key: key.to_owned(),
            from: new.from.clone(),
            members: new.to.clone(),
            idempotency_key: new.idempotency_key.clone(),
            at: self.options.clock.now(),
        };
        for sent in 0..MAX_SENDS {
            let answer = match sent {
                0 => {
                    let announce = self.record(JournalRecord::CreateIntent(intent.clone()));
                    self.client.create_chat_announced(new, announce).await
                }
                _ => self.client.create_chat(new).await,
            };
            match answer {
                Ok(CreateAnswer::Created { chat }) => return self.created(&intent, chat).await,
                Ok(CreateAnswer::Unanswered { last }) => {
                    if let Some(chat) = self.settle_create(&intent, step, Some(&last)).await? {
                        return Ok(chat);
                    }
                }
                Err(error) => return Err(self.unmade(&intent, step, error).await),
            }
        }
        Err(Unmade::NotSettled(not_settled(
            step,
            &format!("it was sent {MAX_SENDS} times, each time without an answer, and each search found no chat"),
        )))
    }

    /// Settles a create an earlier run left open (rule 4), under an intent of this run that
    /// keeps what it was (line, members, time): `Some` chat it made; `None` when it made
    /// nothing, journaled `Failed` so that this run's create, of today's config, stands alone.
    async fn settle_open(&self, open: &CreateIntent, step: &Step) -> Result<Option<String>, Unmade> {
        let again = CreateIntent {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            ..open.clone()
        };
        if !self.record(JournalRecord::CreateIntent(again.clone())).await {
            return Err(Unmade::Stopped);
        }
        let found = self.settle_create(&again, step, None).await?;
        if found.is_none() && !self.record(JournalRecord::Failed { id: again.id }).await {
            return Err(Unmade::Stopped);
        }
        Ok(found)
    }

    /// Looks for the chat `intent` may have made ([`find_created`]): `Some` chat found, `None`
    /// when it made nothing (send it again), or not settled. `last` is why its answer was lost.
    async fn settle_create(
        &self,
        intent: &CreateIntent,
        step: &Step,
        last: Option<&LinqError>,
    ) -> Result<Option<String>, Unmade> {
        if self.stop.is_halted() {
            return Err(Unmade::NotSettled(not_settled(
                step,
                "the run halted before its chat was looked for",
            )));
        }
        match find_created(self.client, intent, &self.known).await {
            CreateLanding::Made(chat) => self.created(intent, *chat).await.map(Some),
            CreateLanding::NotMade => Ok(None),
            CreateLanding::NotSettled(why) => Err(Unmade::NotSettled(not_settled(step, &reason(&why, last)))),
        }
    }

    /// Journals that `intent` made `chat` (durable before the chat's next step), with the
    /// name Linq gave it.
    async fn created(&self, intent: &CreateIntent, chat: Chat) -> Result<String, Unmade> {
        let record = JournalRecord::Created {
            id: intent.id,
            chat: chat.id.clone(),
            at: Some(self.options.clock.now()),
            name: chat.display_name,
        };
        if !self.record(record).await {
            // Made, but not recorded: the next run finds it from the intent.
            return Err(Unmade::Stopped);
        }
        Ok(chat.id)
    }

    /// A create that failed before it made anything: `Failed` journaled (noted only, when it
    /// was never sent).
    async fn unmade(&self, intent: &CreateIntent, step: &Step, error: LinqError) -> Unmade {
        let failed = JournalRecord::Failed { id: intent.id };
        match error {
            LinqError::NotSent(_) => {
                self.recorder.note(failed);
                Unmade::Stopped
            }
            error if error.is_cut_short() => {
                self.record(failed).await;
                Unmade::Stopped
            }
            error => {
                self.record(failed).await;
                Unmade::Failed(Failure::from_error(Some(step.clone()), &error))
            }
        }
    }
}

/// A service as Linq spells it in `preferred_service`.
fn linq_name(service: Service) -> &'static str {
    match service {
        Service::IMessage => "iMessage",
        Service::Rcs => "RCS",
        Service::Sms => "SMS",
    }
}

/// Why a create is not settled, with why its answer was lost when it was.
fn reason(why: &NotSettled, last: Option<&LinqError>) -> String {
    match last {
        Some(last) => format!("its answer was lost ({last}), and {why}"),
        None => format!("an earlier run's create of it was never answered, and {why}"),
    }
}

/// "create not settled" for the chat's report.
fn not_settled(step: &Step, reason: &str) -> Failure {
    Failure {
        step: Some(step.clone()),
        status: None,
        code: None,
        message: format!(
            "create not settled: {reason}; nothing more was sent, and the chat's other steps wait; the next apply looks for the chat again (if it exists, `id:` binds the key to it)"
        ),
        trace_id: None,
    }
}

impl ChatReport {
    /// Records how a create step ended without a chat.
    pub(super) fn unmade(&mut self, unmade: Unmade) {
        let (status, failure) = match unmade {
            Unmade::Stopped => (ChatStatus::Stopped, None),
            Unmade::Failed(failure) => (ChatStatus::Failed, Some(failure)),
            Unmade::NotSettled(failure) => (ChatStatus::CreateNotSettled, Some(failure)),
        };
        self.status = status;
        self.failure = failure;
    }
}
