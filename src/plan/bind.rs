//! Which chat each config key stands for, where the config meets the state (SPEC section 7).
//!
//! A key stands for, in this order:
//! 1. the chat the config names: its `id:`, or the key itself when it is a UUID (known to the
//!    state, or `unknown` until imported);
//! 2. the chat the state recorded under the key;
//! 3. the chat the state recorded under one of its `previously:` keys (a rename, no call);
//! 4. a chat to create, with `create:`;
//! 5. nothing: a config error naming the three ways out ([`check_bindings`]).
//!
//! A chat of the state that no key stands for is forgotten. Two keys standing for one chat is
//! a config error too.

use std::collections::{BTreeMap, HashMap};

use crate::config::{ChatProblem, Desired, DesiredChat};
use crate::state::{ChatState, State};

/// What one config key stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binding<'a> {
    /// A chat the state knows, by its id; `rekey` is the key the state knew it under when that
    /// is not this key.
    Known {
        id: &'a str,
        chat: &'a ChatState,
        rekey: Option<&'a str>,
    },
    /// A chat the config names by id that the state does not know: membership unknown.
    Unknown { id: &'a str },
    /// No chat yet: roster creates it.
    Create,
    /// No chat, and no way to make one: a config error.
    Unbound,
}

/// Every config key's [`Binding`], by key, and the chats of the state no key stands for.
#[derive(Debug)]
pub struct Bindings<'a> {
    pub keys: BTreeMap<&'a str, Binding<'a>>,
    /// The state's chats no key stands for, by id: forgotten.
    pub unclaimed: Vec<(&'a str, &'a ChatState)>,
}

impl<'a> Bindings<'a> {
    /// The chat id `key` stands for, when there is one.
    pub fn id(&self, key: &str) -> Option<&'a str> {
        match self.keys.get(key)? {
            Binding::Known { id, .. } | Binding::Unknown { id } => Some(id),
            Binding::Create | Binding::Unbound => None,
        }
    }
}

/// Binds every key of `desired` to a chat of `state` (see the module doc). Linear in the
/// chats, with one hash lookup for each chat recorded under a key of the team's own.
pub fn bind<'a>(desired: &'a Desired, state: &'a State) -> Bindings<'a> {
    let own = state.own_keys();
    let mut claimed: HashMap<&str, ()> = HashMap::new();
    let mut keys = BTreeMap::new();
    for (key, chat) in &desired.chats {
        let binding = bind_one(key, chat, state, &own);
        if let Binding::Known { id, .. } = binding {
            claimed.insert(id, ());
        }
        keys.insert(key.as_str(), binding);
    }
    let unclaimed = (state.chats.iter())
        .filter(|(id, _)| !claimed.contains_key(id.as_str()))
        .map(|(id, chat)| (id.as_str(), chat))
        .collect();
    Bindings { keys, unclaimed }
}

fn bind_one<'a>(key: &'a str, chat: &'a DesiredChat, state: &'a State, own: &HashMap<&str, &'a str>) -> Binding<'a> {
    let known = |id: &'a str, was: &str| {
        let (id, known) = state.chats.get_key_value(id)?;
        let recorded = known.key_or(id);
        let rekey = (recorded != key).then_some(recorded);
        // A chat the state recorded under another key is taken over only by name: with
        // `previously`, or `id:`/the UUID key naming it.
        (recorded == was || was == id.as_str()).then_some(Binding::Known { id, chat: known, rekey })
    };
    if let Some(id) = chat.named_id(key) {
        return known(id, id).unwrap_or(Binding::Unknown { id });
    }
    if let Some(found) = state.chat_for(key, own).and_then(|id| known(id, key)) {
        return found;
    }
    for old in &chat.previously {
        if let Some(found) = state.chat_for(old, own).and_then(|id| known(id, old)) {
            return found;
        }
    }
    if chat.create.is_some() {
        Binding::Create
    } else {
        Binding::Unbound
    }
}

/// The problems only the state shows: keys that stand for no chat, and chats two keys stand
/// for. Empty when every key is bound.
pub fn check_bindings(desired: &Desired, bindings: &Bindings<'_>) -> Vec<ChatProblem> {
    let mut problems = Vec::new();
    let mut first_key: HashMap<&str, &str> = HashMap::new();
    for (&key, binding) in &bindings.keys {
        match binding {
            Binding::Unbound => problems.push(ChatProblem {
                key: key.to_owned(),
                field: None,
                message: format!(
                    "chat `{key}` stands for no chat: it is not a Linq chat id, and the state records no chat under it; give it `id: CHAT_ID` to manage an existing chat, `create: {{from, message}}` to let roster create it, or `previously: [OLD_KEY]` if it was renamed"
                ),
            }),
            Binding::Known { id, .. } => {
                if let Some(first) = first_key.insert(id, key) {
                    let field = desired.chats[key].id.as_ref().map(|_| "id");
                    problems.push(ChatProblem {
                        key: key.to_owned(),
                        field,
                        message: format!(
                            "chats `{first}` and `{key}` stand for one Linq chat (`{id}`); a chat has one key: remove one, or rename with `previously`"
                        ),
                    });
                }
            }
            Binding::Unknown { .. } | Binding::Create => {}
        }
    }
    problems
}
