//! Folding the journal into the state, and finding the calls whose outcome it does not know.
//!
//! Apply writes an `Intent` before each add or remove goes out and an `Accepted` (or `Failed`)
//! once its outcome is known; a crash leaves a journal that says what roster did. The rules:
//!
//! 1. Records are read in order. A `Begin` starts a run; intent ids are unique within a run.
//! 2. An intent with an `Accepted` outcome changes the state: an add puts the handle in the
//!    chat's members (and out of `left`), a remove takes it out, and the change is marked
//!    pending, with the time the outcome records (unknown in older journals), until a read
//!    shows it landed (see [`super::pending`]). Changes are applied in the order they were
//!    accepted. A chat that is not in the state is left alone.
//! 3. An intent with a `Failed` outcome changes nothing: the call surely did not take effect.
//! 4. An intent with no outcome is *unsettled*: the call may or may not have gone out, or have
//!    taken effect. [`fold`] returns these; [`crate::sync::settle`] reads their chats and
//!    applies the ones whose effect shows, so a change roster made is never mistaken for drift.
//! 5. An unsettled change whose effect does not show within the grace period counts as not
//!    made: the next plan proposes it again. (Linq queues changes; if it lands later after
//!    all, the next apply sees the chat differ from the state and skips it as drift, and
//!    `roster refresh` records it.)
//!
//! Creates follow the same pattern, with rules of their own in [`super::create`]: an intent
//! with a `Created` outcome records the chat, one with none is an open create, returned in
//! [`Folded::creates`].
//!
//! Applying a change is idempotent (set insert and remove), so folding a journal whose changes
//! are already in a saved state (a crash between saving the state and clearing the journal)
//! does no harm.

use std::collections::HashMap;

use serde::Serialize;

use super::create::{record_created, CreateIntent};
use super::{JournalRecord, State};
use crate::clock::Timestamp;
use crate::handle::Handle;
use crate::op::Op;

/// A change whose intent is journaled but whose outcome is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsettled {
    pub chat: String,
    pub op: Op,
    pub handle: Handle,
}

/// What the journal of an interrupted run held, once folded into the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// Records in the journal; none when the last run ended cleanly.
    pub records: usize,
    /// `Accepted` records: calls Linq took, now in the state as pending changes.
    pub accepted: usize,
    /// `Created` records: chats a create made, now in the state.
    pub created: usize,
    /// Calls whose outcome the journal does not know (rule 4), in journal order.
    pub unsettled: Vec<Unsettled>,
    /// Creates whose outcome the journal does not know (rule 4 of [`super::create`]).
    pub creates: Vec<CreateIntent>,
}

impl Folded {
    /// Folds `records` into `state` ([`fold`]) and says what they held.
    pub fn fold(state: &mut State, records: &[JournalRecord]) -> Folded {
        let (unsettled, creates) = fold_all(state, records);
        Folded {
            records: records.len(),
            accepted: records
                .iter()
                .filter(|r| matches!(r, JournalRecord::Accepted { .. }))
                .count(),
            created: records
                .iter()
                .filter(|r| matches!(r, JournalRecord::Created { .. }))
                .count(),
            unsettled,
            creates,
        }
    }

    /// True when there was no journal to fold: the last run ended cleanly.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

/// Applies one change Linq accepted at `at` to the state and marks it pending until it is seen
/// to land; false when the chat is not in the state.
pub fn apply_change(state: &mut State, chat: &str, op: Op, handle: &Handle, at: Option<Timestamp>) -> bool {
    let Some(chat) = state.chats.get_mut(chat) else {
        return false;
    };
    chat.pending.record(op, handle, at);
    op.make(&mut chat.members, handle);
    if op == Op::Add {
        chat.left.remove(handle);
    }
    true
}

/// Applies the accepted changes of `records` to `state` and returns the unsettled ones, in
/// journal order, each change once. Creates are folded too, in the same pass (so that a change
/// to a chat the run created finds it in the state): see [`fold_all`].
pub fn fold(state: &mut State, records: &[JournalRecord]) -> Vec<Unsettled> {
    fold_all(state, records).0
}

/// [`fold`], and the creates the journal leaves open (rule 4 of [`super::create`]), in journal
/// order, the last intent of each key.
pub fn fold_all(state: &mut State, records: &[JournalRecord]) -> (Vec<Unsettled>, Vec<CreateIntent>) {
    let mut run = 0usize;
    // (run, id) -> the intent and whether an outcome was seen.
    let mut intents: HashMap<(usize, u64), (usize, bool)> = HashMap::new();
    let mut order: Vec<Unsettled> = Vec::new();
    let mut creates = Creates::default();
    for record in records {
        match record {
            JournalRecord::Begin { .. } => run += 1,
            JournalRecord::Intent { id, chat, op, handle } => {
                intents.insert((run, *id), (order.len(), false));
                order.push(Unsettled {
                    chat: chat.clone(),
                    op: *op,
                    handle: handle.clone(),
                });
            }
            JournalRecord::Accepted { id, at, .. } => {
                if let Some((index, settled)) = intents.get_mut(&(run, *id)) {
                    *settled = true;
                    let change = &order[*index];
                    apply_change(state, &change.chat, change.op, &change.handle, *at);
                }
            }
            JournalRecord::Failed { id } => {
                if let Some((_, settled)) = intents.get_mut(&(run, *id)) {
                    *settled = true;
                }
                creates.settled(run, *id);
            }
            JournalRecord::CreateIntent(intent) => creates.intent(run, intent),
            JournalRecord::Created { id, chat, at, name } => {
                if let Some(intent) = creates.settled(run, *id) {
                    record_created(state, intent, chat, *at, name.as_deref());
                }
            }
            JournalRecord::Looks { chat, name, icon } => {
                if let Some(chat) = state.chats.get_mut(chat) {
                    if let Some(name) = name {
                        chat.display_name = Some(name.clone());
                    }
                    if let Some(icon) = icon {
                        chat.icon = Some(icon.clone());
                    }
                }
            }
        }
    }
    let mut open: Vec<usize> = intents
        .values()
        .filter(|(_, settled)| !settled)
        .map(|(i, _)| *i)
        .collect();
    open.sort_unstable();
    let mut unsettled: Vec<Unsettled> = Vec::new();
    for index in open {
        let change = &order[index];
        if !unsettled.contains(change) {
            unsettled.push(change.clone());
        }
    }
    (unsettled, creates.open())
}

/// The creates of a journal as it is read: each intent, and whether an outcome was seen.
#[derive(Default)]
struct Creates {
    intents: Vec<(usize, CreateIntent, bool)>,
}

impl Creates {
    fn intent(&mut self, run: usize, intent: &CreateIntent) {
        self.intents.push((run, intent.clone(), false));
    }

    /// Marks the intent `id` of `run` settled; the intent, when it is a create's.
    fn settled(&mut self, run: usize, id: u64) -> Option<&CreateIntent> {
        let (_, intent, settled) = self
            .intents
            .iter_mut()
            .find(|(r, intent, _)| *r == run && intent.id == id)?;
        *settled = true;
        Some(intent)
    }

    /// The intents with no outcome, the last of each key, in journal order. A key settled after
    /// an open intent (a later run found or made its chat) is not open.
    fn open(self) -> Vec<CreateIntent> {
        let mut open: Vec<CreateIntent> = Vec::new();
        for (_, intent, settled) in self.intents {
            open.retain(|earlier| earlier.key != intent.key);
            if !settled {
                open.push(intent);
            }
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ChatState;

    fn h(text: &str) -> Handle {
        Handle::parse(text).unwrap()
    }

    fn state(members: &[&str]) -> State {
        let mut state = State::new();
        state.chats.insert(
            "c1".into(),
            ChatState {
                members: members.iter().map(|m| h(m)).collect(),
                ..ChatState::default()
            },
        );
        state
    }

    fn intent(id: u64, op: Op, handle: &str) -> JournalRecord {
        JournalRecord::Intent {
            id,
            chat: "c1".into(),
            op,
            handle: h(handle),
        }
    }

    fn begin() -> JournalRecord {
        JournalRecord::Begin {
            lineage: "l".into(),
            serial: 1,
        }
    }

    fn members(state: &State) -> Vec<String> {
        state.chats["c1"].members.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn accepted_changes_are_applied_failed_ones_are_not_open_ones_are_returned() {
        let mut s = state(&["+1555000001", "+1555000002", "+1555000003"]);
        s.chats.get_mut("c1").unwrap().left.insert(h("+1555000004"));
        let records = [
            begin(),
            intent(1, Op::Add, "+1555000004"),
            JournalRecord::Accepted {
                id: 1,
                trace_id: Some("t".into()),
                at: Some(Timestamp::from_unix(1_767_605_400)),
            },
            intent(2, Op::Remove, "+1555000001"),
            JournalRecord::Failed { id: 2 },
            intent(3, Op::Remove, "+1555000002"),
            JournalRecord::Accepted {
                id: 3,
                trace_id: None,
                at: None,
            },
            intent(4, Op::Remove, "+1555000003"),
        ];
        let open = fold(&mut s, &records);
        assert_eq!(members(&s), ["+1555000001", "+1555000003", "+1555000004"]);
        assert!(s.chats["c1"].left.is_empty(), "a re-added member is no longer `left`");
        let pending = &s.chats["c1"].pending;
        assert_eq!(
            pending.add[&h("+1555000004")],
            Some(Timestamp::from_unix(1_767_605_400)),
            "pending since Linq accepted it"
        );
        assert_eq!(pending.remove[&h("+1555000002")], None, "accepted at an unknown time");
        assert_eq!(
            open,
            [Unsettled {
                chat: "c1".into(),
                op: Op::Remove,
                handle: h("+1555000003")
            }]
        );
    }

    #[test]
    fn journals_written_before_acceptance_times_were_kept_still_fold() {
        let old = "{\"type\":\"begin\",\"lineage\":\"l\",\"serial\":1}\n\
                   {\"type\":\"intent\",\"id\":1,\"chat\":\"c1\",\"op\":\"add\",\"handle\":\"+1555000004\"}\n\
                   {\"type\":\"accepted\",\"id\":1,\"trace_id\":\"t\"}";
        let records: Vec<JournalRecord> = old.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let mut s = state(&["+1555000001", "+1555000002", "+1555000003"]);
        assert!(fold(&mut s, &records).is_empty());
        assert_eq!(s.chats["c1"].pending.add[&h("+1555000004")], None);
        let new = JournalRecord::Accepted {
            id: 2,
            trace_id: None,
            at: Some(Timestamp::from_unix(1_767_605_400)),
        };
        assert_eq!(
            serde_json::to_string(&new).unwrap(),
            r#"{"type":"accepted","id":2,"at":"2026-01-05T09:30:00.000Z"}"#
        );
    }

    #[test]
    fn ids_are_scoped_to_their_run_and_folding_twice_changes_nothing() {
        let mut s = state(&["+1555000001", "+1555000002", "+1555000003"]);
        let records = [
            begin(),
            intent(1, Op::Add, "+1555000009"),
            begin(),
            intent(1, Op::Add, "+1555000008"),
            JournalRecord::Accepted {
                id: 1,
                trace_id: None,
                at: None,
            },
        ];
        let open = fold(&mut s, &records);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].handle, h("+1555000009"));
        assert!(s.chats["c1"].members.contains(&h("+1555000008")));
        let once = s.clone();
        fold(&mut s, &records);
        assert_eq!(s, once);
    }

    #[test]
    fn changes_to_chats_not_in_the_state_are_ignored_and_repeats_reported_once() {
        let mut s = state(&["+1555000001"]);
        let records = [
            begin(),
            JournalRecord::Intent {
                id: 1,
                chat: "gone".into(),
                op: Op::Add,
                handle: h("+1555000009"),
            },
            JournalRecord::Accepted {
                id: 1,
                trace_id: None,
                at: None,
            },
            intent(2, Op::Add, "+1555000007"),
            begin(),
            intent(1, Op::Add, "+1555000007"),
            JournalRecord::Accepted {
                id: 9,
                trace_id: None,
                at: None,
            },
        ];
        let open = fold(&mut s, &records);
        assert!(!s.chats.contains_key("gone"));
        assert_eq!(open.len(), 1);
    }

    fn create(id: u64, key: &str) -> JournalRecord {
        JournalRecord::CreateIntent(CreateIntent {
            id,
            key: key.into(),
            from: h("+15550000000"),
            members: vec![h("+15550000001"), h("+15550000002")],
            idempotency_key: format!("roster-{key}"),
            at: Timestamp::from_unix(1_767_605_400),
        })
    }

    #[test]
    fn a_create_with_its_chat_is_recorded_one_without_an_outcome_is_open() {
        let mut s = State::new();
        let records = [
            begin(),
            create(1, "made"),
            JournalRecord::Created {
                id: 1,
                chat: "c9".into(),
                at: None,
                name: Some("+15550000001, +15550000002".into()),
            },
            intent(2, Op::Add, "+15550000003"),
            create(3, "failed"),
            JournalRecord::Failed { id: 3 },
            create(4, "open"),
        ];
        let mut c9 = records.to_vec();
        if let JournalRecord::Intent { chat, .. } = &mut c9[3] {
            *chat = "c9".into();
        }
        c9.push(JournalRecord::Accepted {
            id: 2,
            trace_id: None,
            at: None,
        });
        let folded = Folded::fold(&mut s, &c9);
        let chat = &s.chats["c9"];
        let members: Vec<String> = chat.members.iter().map(|m| m.to_string()).collect();
        assert_eq!(members, ["+15550000001", "+15550000002", "+15550000003"]);
        assert_eq!(
            chat.pending.add[&h("+15550000001")],
            Some(Timestamp::from_unix(1_767_605_400)),
            "pending since the intent"
        );
        assert_eq!(chat.key.as_deref(), Some("made"), "bound to its key");
        assert_eq!(
            chat.display_name.as_deref(),
            Some("+15550000001, +15550000002"),
            "named as Linq named it"
        );
        assert_eq!(s.chats.len(), 1, "a failed create made nothing");
        let open: Vec<&str> = folded.creates.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(open, ["open"]);
        assert_eq!((folded.accepted, folded.created), (1, 1));
    }

    #[test]
    fn a_create_settled_by_a_later_run_is_not_open_and_records_round_trip() {
        let mut s = State::new();
        let records = [
            begin(),
            create(1, "k"),
            begin(),
            create(1, "k"),
            JournalRecord::Created {
                id: 1,
                chat: "c9".into(),
                at: Some(Timestamp::from_unix(1_767_605_460)),
                name: None,
            },
        ];
        let folded = Folded::fold(&mut s, &records);
        assert!(folded.creates.is_empty(), "{:?}", folded.creates);
        assert!(s.chats.contains_key("c9"));
        let text = serde_json::to_string(&records[1]).unwrap();
        assert!(
            text.starts_with(r#"{"type":"create","id":1,"key":"k","from":"+15550000000""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<JournalRecord>(&text).unwrap(), records[1]);
        // Open in one run, open again in the next: the last intent stands for the key.
        let open = Folded::fold(&mut State::new(), &[begin(), create(1, "k"), begin(), create(7, "k")]);
        assert_eq!(open.creates.len(), 1);
        assert_eq!(open.creates[0].id, 7);
    }
}
