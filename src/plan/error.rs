//! Why a plan is refused: typed errors, each a plain sentence naming the chat and the values.

use std::fmt;

use crate::escape::{or_list, Lines};
use crate::handle::Handle;
use crate::hint::Hint;

/// How many chats a mass-removal error lists by name before summing up the rest.
const MASS_REMOVAL_LISTED: usize = 5;

/// A chat as errors name it: its id, and its name when the config or the state knows one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRef {
    pub id: String,
    pub name: Option<String>,
}

impl fmt::Display for ChatRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "`{}` ({name})", self.id),
            None => write!(f, "`{}`", self.id),
        }
    }
}

/// Why no order of adds and removes keeps a chat within its floor and cap at every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The desired list is longer than the cap, so the last adds can never fit.
    OverCap { desired: usize, cap: usize },
    /// The desired list is shorter than the floor, so the last remove would break it.
    UnderFloor { desired: usize, floor: usize },
    /// Linq adds only to chats of 3+ participants, your own line included.
    TooSmallToAdd { members: usize },
    /// Adds are blocked by the cap and removes by the floor at the same count, so no member
    /// can be swapped for another.
    NoRoomToSwap { members: usize, floor: usize, cap: usize },
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Blocked::OverCap { desired, cap } => write!(
                f,
                "the config wants `{desired}` members but the cap is `{cap}` (`max_members`)"
            ),
            Blocked::UnderFloor { desired, floor } => write!(
                f,
                "the config wants `{desired}` members but the floor is `{floor}` (`min_members`), \
                 so the last remove would take the chat under it"
            ),
            Blocked::TooSmallToAdd { members } => write!(
                f,
                "the chat has `{members}` members besides your own line and Linq adds only to \
                 chats of 3 or more participants; add members in the Linq app first"
            ),
            Blocked::NoRoomToSwap { members, floor, cap } if floor == cap => write!(
                f,
                "the floor and the cap are both `{cap}`, so at `{members}` members no add fits \
                 under the cap and no remove keeps the floor; lower `min_members` or raise \
                 `max_members` to swap members"
            ),
            Blocked::NoRoomToSwap { members, floor, cap } => write!(
                f,
                "at `{members}` members the cap `{cap}` blocks every add and the floor `{floor}` \
                 blocks every remove; lower `min_members` or raise `max_members`"
            ),
        }
    }
}

/// One reason a plan is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// No order of this chat's adds and removes keeps the floor and the cap at every step.
    #[error("chat {chat} has no safe order of changes: {reason}")]
    NoValidOrder { chat: ChatRef, reason: Blocked },
    /// The plan would remove a protected handle.
    #[error("chat {chat} would remove protected {}", protected_label(handle, person.as_deref()))]
    ProtectedRemoval {
        chat: ChatRef,
        handle: Handle,
        person: Option<String>,
    },
    /// The plan removes more than `max_removal_ratio` of the current memberships in scope.
    #[error("{}", mass_removal_message(*removals, *memberships, *limit, by_chat))]
    MassRemoval {
        removals: usize,
        memberships: usize,
        /// `settings.max_removal_ratio`.
        limit: f64,
        /// Removals per chat, most first, for the message.
        by_chat: Vec<(ChatRef, usize)>,
    },
    /// The plan removes more members over all chats in scope than `settings.max_removals`.
    #[error(
        "the plan removes `{removals}` members, more than the `{limit}` that `settings.max_removals` allows{}",
        most_removals(by_chat)
    )]
    TooManyRemovals {
        removals: usize,
        /// `settings.max_removals`.
        limit: usize,
        /// Removals per chat, most first, for the message.
        by_chat: Vec<(ChatRef, usize)>,
    },
    /// The plan creates more chats than `settings.max_creates`: each create messages people.
    #[error(
        "the plan creates `{creates}` chats, more than the `{limit}` that `settings.max_creates` allows (each create sends its message to real people): {}",
        keys_list(keys)
    )]
    MassCreate {
        creates: usize,
        /// `settings.max_creates`.
        limit: usize,
        /// The keys of the chats to create, sorted.
        keys: Vec<String>,
    },
    /// The plan removes more members from one chat than the chat's `max_removals`.
    #[error("chat {chat} would lose `{removals}` members, more than the `{limit}` its `max_removals` allows")]
    ChatRemovals {
        chat: ChatRef,
        removals: usize,
        /// The chat's `max_removals`.
        limit: usize,
    },
}

impl PlanError {
    /// The setting to raise when this error is a removal guard; `None` for the others.
    fn guard(&self) -> Option<&'static str> {
        match self {
            PlanError::MassRemoval { .. } => Some("`settings.max_removal_ratio`"),
            PlanError::TooManyRemovals { .. } => Some("`settings.max_removals`"),
            PlanError::ChatRemovals { .. } => Some("the chat's `max_removals`"),
            PlanError::NoValidOrder { .. } | PlanError::ProtectedRemoval { .. } | PlanError::MassCreate { .. } => None,
        }
    }
}

/// Every reason a plan is refused, in the order found.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Lines(&self.0).fmt(f)
    }
}

impl std::error::Error for PlanErrors {}

impl Hint for PlanErrors {
    /// How to proceed when a removal guard stopped the plan: raise the settings that tripped,
    /// narrow the run, or allow it once.
    fn hint(&self) -> Option<String> {
        let mut settings: Vec<&str> = Vec::new();
        for setting in self.0.iter().filter_map(PlanError::guard) {
            if !settings.contains(&setting) {
                settings.push(setting);
            }
        }
        let creates = self.0.iter().any(|error| matches!(error, PlanError::MassCreate { .. }));
        let create_hint = "if the creates are intended, raise `settings.max_creates` in the config, narrow the run with `--target`, or pass `--allow-mass-create` for this run";
        if settings.is_empty() {
            return creates.then(|| create_hint.to_owned());
        }
        let settings = or_list(&settings);
        Some(format!(
            "if the removals are intended, raise {settings} in the config, narrow the run with \
             `--target` or `--exclude`, or pass `--allow-mass-removal` for this run"
        ))
    }
}

/// `` `a`, `b` and 3 more ``: the first keys of a list.
fn keys_list(keys: &[String]) -> String {
    let listed: Vec<String> = keys
        .iter()
        .take(MASS_REMOVAL_LISTED)
        .map(|key| format!("`{key}`"))
        .collect();
    match keys.len().saturating_sub(MASS_REMOVAL_LISTED) {
        0 => listed.join(", "),
        rest => format!("{} and {rest} more", listed.join(", ")),
    }
}

fn protected_label(handle: &Handle, person: Option<&str>) -> String {
    match person {
        Some(person) => format!("`{handle}` ({person})"),
        None => format!("`{handle}`"),
    }
}

fn mass_removal_message(removals: usize, memberships: usize, limit: f64, by_chat: &[(ChatRef, usize)]) -> String {
    let share = removals as f64 / memberships as f64;
    format!(
        "the plan removes `{removals}` of `{memberships}` current memberships ({}), more than the {} \
         that `settings.max_removal_ratio` allows{}",
        percent(share),
        percent(limit),
        most_removals(by_chat)
    )
}

/// `; most removals: `a` (Sales): 4, `b`: 2 and 3 more chats`: the chats that weigh most.
fn most_removals(by_chat: &[(ChatRef, usize)]) -> String {
    let listed: Vec<String> = by_chat
        .iter()
        .take(MASS_REMOVAL_LISTED)
        .map(|(chat, count)| format!("{chat}: {count}"))
        .collect();
    if listed.is_empty() {
        return String::new();
    }
    let mut text = format!("; most removals: {}", listed.join(", "));
    match by_chat.len().saturating_sub(MASS_REMOVAL_LISTED) {
        0 => {}
        1 => text.push_str(" and 1 more chat"),
        rest => text.push_str(&format!(" and {rest} more chats")),
    }
    text
}

/// `0.25` -> `25%`, `5/12` -> `41.7%`: one decimal at most.
fn percent(ratio: f64) -> String {
    let text = format!("{:.1}", ratio * 100.0);
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_keeps_one_decimal_at_most() {
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(5.0 / 12.0), "41.7%");
        assert_eq!(percent(1.0), "100%");
    }

    fn chat(id: &str) -> ChatRef {
        ChatRef {
            id: id.into(),
            name: None,
        }
    }

    #[test]
    fn errors_print_one_a_line() {
        let errors = PlanErrors(vec![
            PlanError::ChatRemovals {
                chat: chat("x"),
                removals: 3,
                limit: 2,
            },
            PlanError::ChatRemovals {
                chat: chat("y"),
                removals: 4,
                limit: 1,
            },
        ]);
        assert_eq!(
            errors.to_string(),
            "chat `x` would lose `3` members, more than the `2` its `max_removals` allows\n\
             chat `y` would lose `4` members, more than the `1` its `max_removals` allows"
        );
    }

    #[test]
    fn the_heaviest_chats_are_listed_and_the_rest_counted() {
        let by_chat: Vec<(ChatRef, usize)> = (1..=7).rev().map(|n| (chat(&format!("c{n}")), n)).collect();
        assert_eq!(
            most_removals(&by_chat),
            "; most removals: `c7`: 7, `c6`: 6, `c5`: 5, `c4`: 4, `c3`: 3 and 2 more chats"
        );
        assert_eq!(
            most_removals(&by_chat[..6]),
            "; most removals: `c7`: 7, `c6`: 6, `c5`: 5, `c4`: 4, `c3`: 3 and 1 more chat"
        );
        assert_eq!(most_removals(&[]), "");
    }

    #[test]
    fn the_hint_names_each_guard_that_tripped_once_and_only_for_guards() {
        let ratio = PlanError::MassRemoval {
            removals: 4,
            memberships: 12,
            limit: 0.25,
            by_chat: Vec::new(),
        };
        let per_chat = |id| PlanError::ChatRemovals {
            chat: chat(id),
            removals: 3,
            limit: 2,
        };
        let hint = PlanErrors(vec![per_chat("a"), per_chat("b"), ratio]).hint().unwrap();
        assert!(
            hint.starts_with("if the removals are intended, raise the chat's `max_removals` or `settings.max_removal_ratio` in the config"),
            "{hint}"
        );
        let order = PlanError::NoValidOrder {
            chat: chat("a"),
            reason: Blocked::TooSmallToAdd { members: 1 },
        };
        assert_eq!(PlanErrors(vec![order]).hint(), None);
    }
}
