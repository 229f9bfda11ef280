//! Why a plan is refused: typed errors, each a plain sentence naming the chat and the values.

use std::fmt;

use crate::handle::Handle;

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
    /// A `--target` names a chat that is neither in the config nor in the state.
    #[error("target `{0}` is not a chat in the config or the state")]
    UnknownTarget(String),
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
}

/// Every reason a plan is refused, in the order found.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

fn protected_label(handle: &Handle, person: Option<&str>) -> String {
    match person {
        Some(person) => format!("`{handle}` ({person})"),
        None => format!("`{handle}`"),
    }
}

fn mass_removal_message(removals: usize, memberships: usize, limit: f64, by_chat: &[(ChatRef, usize)]) -> String {
    let share = removals as f64 / memberships as f64;
    let mut message = format!(
        "the plan removes `{removals}` of `{memberships}` current memberships ({}), more than \
         the limit of {} (`max_removal_ratio`)",
        percent(share),
        percent(limit)
    );
    let listed: Vec<String> = by_chat
        .iter()
        .take(MASS_REMOVAL_LISTED)
        .map(|(chat, count)| format!("{chat}: {count}"))
        .collect();
    if !listed.is_empty() {
        message.push_str(&format!("; removals by chat: {}", listed.join(", ")));
        let rest = by_chat.len().saturating_sub(MASS_REMOVAL_LISTED);
        if rest > 0 {
            message.push_str(&format!(" and {rest} more"));
        }
    }
    message.push_str("; pass `--allow-mass-removal` if this is intended");
    message
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

    #[test]
    fn errors_print_one_a_line() {
        let errors = PlanErrors(vec![
            PlanError::UnknownTarget("x".into()),
            PlanError::UnknownTarget("y".into()),
        ]);
        assert_eq!(
            errors.to_string(),
            "target `x` is not a chat in the config or the state\n\
             target `y` is not a chat in the config or the state"
        );
    }
}
