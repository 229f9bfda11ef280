//! The last applied state: what roster believes each managed chat holds.
//!
//! [`State`] is the versioned document; [`StateStore`] is the small interface behind which the
//! file store (atomic writes, backup, lock, journal) lives, so a shared backend can come later.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::handle::Handle;

/// The state format this build reads and writes; a newer one is refused.
pub const STATE_VERSION: u32 = 1;

/// The state document (`roster.state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Fixed when the state is created; a saved plan made from another lineage is refused.
    pub lineage: String,
    /// Grows by one with every write; a saved plan made at another serial is stale.
    pub serial: u64,
    pub chats: BTreeMap<String, ChatState>,
}

/// What roster last knew of one chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatState {
    /// Canonical members, your own line excluded; serialized sorted.
    pub members: BTreeSet<Handle>,
    /// Members who left the chat on their own (`status: left`); not re-added by default.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub left: BTreeSet<Handle>,
    /// The chat's service as Linq reported it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The chat's display name as Linq reported it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

impl State {
    /// An empty state with a fresh lineage, serial 0 (the first write makes it 1).
    pub fn new() -> State {
        State {
            version: STATE_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            chats: BTreeMap::new(),
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}
