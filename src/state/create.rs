//! A chat roster creates, in the journal and the state: the intent journaled before the
//! `POST /v3/chats` goes out, the idempotency key every attempt at it sends, and the chat it
//! made recorded under its key.
//!
//! The rules, beside those of [`super::journal`]:
//!
//! 1. A create's intent ([`CreateIntent`]) is durable before its request goes out, and holds
//!    what finding its chat needs: the line, the members, when it was written.
//! 2. Its idempotency key is [`idempotency_key`] of the state's lineage and the chat's key:
//!    the same in every run and after any crash, so that a Linq that honours the key makes
//!    one chat and sends one message however often the create is sent.
//! 3. An intent with a `Created` outcome records the chat under its key, with the members
//!    as pending adds since the intent was written, until a read shows them ([`record_created`]).
//! 4. An intent with a `Failed` outcome made nothing. One with no outcome is an *open* create:
//!    whether it made its chat is settled by looking for the chat ([`crate::sync`]) before
//!    anything sends it again; until then it stays journaled.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::journal::Unsettled;
use super::{JournalRecord, State};
use crate::clock::Timestamp;
use crate::handle::Handle;
use crate::op::Op;

/// A create roster is about to make, as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateIntent {
    /// Unique within its run, as every intent's; its outcome names it.
    pub id: u64,
    /// The chat's key in the config.
    pub key: String,
    /// The line that creates the chat.
    pub from: Handle,
    /// The members, sorted: with the line, the created chat's participants.
    pub members: Vec<Handle>,
    /// See [`idempotency_key`].
    pub idempotency_key: String,
    /// When the intent was written: the chat, if made, was made after it.
    pub at: Timestamp,
}

/// The idempotency key of every create of `key` in the state of `lineage` (rule 2):
/// `roster-` and 40 hex digits of a SHA-256 over both (the lineage length-prefixed, so that no
/// two pairs make one input). A digest rather than the key itself, so that no key of a team's
/// reaches Linq's message records.
pub fn idempotency_key(lineage: &str, key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"roster create\0")
        .chain_update((lineage.len() as u64).to_le_bytes())
        .chain_update(lineage.as_bytes())
        .chain_update(key.as_bytes())
        .finalize();
    let hex: String = digest.iter().take(20).map(|byte| format!("{byte:02x}")).collect();
    format!("roster-{hex}")
}

/// Records `chat`, made for `intent`'s key (rule 3): its members are the intent's, each a
/// pending add since `at` (the intent's time when unknown) until a read shows it, and its
/// display name the one Linq gave it (`name`), as read.
pub fn record_created(state: &mut State, intent: &CreateIntent, chat: &str, at: Option<Timestamp>, name: Option<&str>) {
    let since = Some(at.unwrap_or(intent.at));
    let known = state.chats.entry(chat.to_owned()).or_default();
    if let Some(name) = name {
        known.display_name = Some(name.to_owned());
    }
    for member in &intent.members {
        if known.members.insert(member.clone()) {
            known.pending.record(Op::Add, member, since);
        }
    }
    bind(state, &intent.key, chat);
}

/// The journal that keeps calls and creates open once the state is written without them: a run
/// of their own, holding the intents of `changes` (numbered from 1) and `creates` (as they
/// were). The next run settles them.
pub fn reopened(state: &State, changes: &[Unsettled], creates: &[CreateIntent]) -> Vec<JournalRecord> {
    let mut records = vec![JournalRecord::Begin {
        lineage: state.lineage.clone(),
        serial: state.serial,
    }];
    records.extend(changes.iter().zip(1..).map(|(change, id)| JournalRecord::Intent {
        id,
        chat: change.chat.clone(),
        op: change.op,
        handle: change.handle.clone(),
    }));
    // Numbered past the changes: ids are unique within a run.
    let first = changes.len() as u64 + 1;
    records.extend(
        creates
            .iter()
            .zip(first..)
            .map(|(intent, id)| JournalRecord::CreateIntent(CreateIntent { id, ..intent.clone() })),
    );
    records
}

/// Binds `key` to `chat` in the state ([`ChatState::key`]: none when the key is the id).
fn bind(state: &mut State, key: &str, chat: &str) {
    if let Some(known) = state.chats.get_mut(chat) {
        known.key = (key != chat).then(|| key.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idempotency_key_is_stable_and_apart_per_lineage_and_key() {
        let key = idempotency_key("6f1c1b7e-0000-4000-8000-000000000001", "support-emea");
        assert_eq!(
            key,
            idempotency_key("6f1c1b7e-0000-4000-8000-000000000001", "support-emea")
        );
        assert_eq!(key.len(), "roster-".len() + 40);
        assert!(key.starts_with("roster-") && !key.contains("support"), "{key}");
        assert_ne!(
            key,
            idempotency_key("6f1c1b7e-0000-4000-8000-000000000002", "support-emea")
        );
        assert_ne!(
            key,
            idempotency_key("6f1c1b7e-0000-4000-8000-000000000001", "support-emea2")
        );
        // No two (lineage, key) pairs spell the same input.
        assert_ne!(idempotency_key("a", "b\0c"), idempotency_key("a\0b", "c"));
    }
}
