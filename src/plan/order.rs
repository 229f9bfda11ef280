//! The order of one chat's changes: how many adds and removes go out between two waits, so that
//! the floor and the cap hold at every step while Linq applies changes later than it accepts them.
//!
//! The counting model: `c` confirmed members, `qa` queued adds, `qr` queued removes.
//! - An add needs `c + qa + 1 <= cap` (a queued remove frees no room until it lands) and
//!   `c - qr >= 2` (Linq adds only to chats of 3+ participants, your own line included).
//! - A remove needs `c - qr - 1 >= floor` (a queued add does not count until it lands).
//! - A wait lands everything: `c += qa - qr`, `qa = qr = 0`.
//!
//! Each round sends as many adds as the cap allows, then as many removes as the floor allows.
//! Sending adds first never hurts a remove (removes ignore queued adds) and removes first would
//! hurt adds (they lower `c - qr`), and the most of each per round leaves the fewest for later.
//! The property tests check this against a breadth-first search over every order.

use super::error::Blocked;

/// Linq adds only to chats with this many members besides your own line (3+ participants).
pub const MIN_MEMBERS_TO_ADD: usize = 2;

/// The bounds one chat's member count must keep at every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `settings.min_members`.
    pub floor: usize,
    /// The chat's effective `max_members`.
    pub cap: usize,
}

/// One batch sent without waiting: `adds` adds, then `removes` removes. Rounds are separated by
/// a wait, so a plan of `n` rounds has `n - 1` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub adds: usize,
    pub removes: usize,
}

/// Splits `adds` adds and `removes` removes on a chat of `members` confirmed members into the
/// fewest rounds that keep `limits` at every step, or says why no order does.
pub fn schedule(members: usize, adds: usize, removes: usize, limits: Limits) -> Result<Vec<Round>, Blocked> {
    let Limits { floor, cap } = limits;
    let mut confirmed = members;
    let (mut adds_left, mut removes_left) = (adds, removes);
    let mut rounds = Vec::new();
    while adds_left + removes_left > 0 {
        let round_adds = if confirmed >= MIN_MEMBERS_TO_ADD {
            adds_left.min(cap.saturating_sub(confirmed))
        } else {
            0
        };
        let mut round_removes = removes_left.min(confirmed.saturating_sub(floor));
        if adds_left > round_adds {
            // Adds remain for later rounds: never shrink the chat below what Linq adds to.
            // Only a floor under 2 lets this bind.
            round_removes = round_removes.min((confirmed + round_adds).saturating_sub(MIN_MEMBERS_TO_ADD));
        }
        if round_adds == 0 && round_removes == 0 {
            return Err(blocked(confirmed, adds_left, removes_left, limits));
        }
        rounds.push(Round {
            adds: round_adds,
            removes: round_removes,
        });
        confirmed = confirmed + round_adds - round_removes;
        adds_left -= round_adds;
        removes_left -= round_removes;
    }
    Ok(rounds)
}

/// Names the reason a chat is stuck at `confirmed` members with work left.
fn blocked(confirmed: usize, adds_left: usize, removes_left: usize, limits: Limits) -> Blocked {
    // Every round lands, so the final count is the same from any point.
    let desired = confirmed + adds_left - removes_left;
    if adds_left > 0 && desired > limits.cap {
        // After the last add the count is at most the cap and removes only lower it.
        Blocked::OverCap {
            desired,
            cap: limits.cap,
        }
    } else if removes_left > 0 && desired < limits.floor {
        // After the last remove the count is at least the floor and adds only raise it.
        Blocked::UnderFloor {
            desired,
            floor: limits.floor,
        }
    } else if adds_left > 0 && confirmed < MIN_MEMBERS_TO_ADD {
        Blocked::TooSmallToAdd { members: confirmed }
    } else {
        Blocked::NoRoomToSwap {
            members: confirmed,
            floor: limits.floor,
            cap: limits.cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(list: &[(usize, usize)]) -> Vec<Round> {
        list.iter().map(|&(adds, removes)| Round { adds, removes }).collect()
    }

    const DEFAULT: Limits = Limits { floor: 3, cap: 31 };

    #[test]
    fn swap_at_the_floor_waits_for_the_add() {
        assert_eq!(schedule(3, 1, 1, DEFAULT), Ok(rounds(&[(1, 0), (0, 1)])));
    }

    #[test]
    fn swap_above_the_floor_needs_no_wait() {
        assert_eq!(schedule(5, 1, 1, DEFAULT), Ok(rounds(&[(1, 1)])));
    }

    #[test]
    fn swap_at_the_cap_removes_first() {
        let limits = Limits { floor: 3, cap: 5 };
        assert_eq!(schedule(5, 1, 1, limits), Ok(rounds(&[(0, 1), (1, 0)])));
    }

    #[test]
    fn big_reshuffle_alternates_as_room_allows() {
        // 4 members, cap 5, floor 3: each round has room for one add and one remove.
        let limits = Limits { floor: 3, cap: 5 };
        assert_eq!(schedule(4, 4, 4, limits), Ok(rounds(&[(1, 1), (1, 1), (1, 1), (1, 1)])));
        // With a wider band the same reshuffle takes two rounds.
        let limits = Limits { floor: 3, cap: 8 };
        assert_eq!(schedule(4, 4, 4, limits), Ok(rounds(&[(4, 1), (0, 3)])));
    }

    #[test]
    fn floor_equal_to_cap_cannot_swap() {
        let limits = Limits { floor: 3, cap: 3 };
        assert_eq!(
            schedule(3, 1, 1, limits),
            Err(Blocked::NoRoomToSwap {
                members: 3,
                floor: 3,
                cap: 3
            })
        );
    }

    #[test]
    fn too_small_chat_cannot_grow() {
        assert_eq!(schedule(1, 2, 0, DEFAULT), Err(Blocked::TooSmallToAdd { members: 1 }));
    }

    #[test]
    fn desired_over_cap_or_under_floor_is_named() {
        assert_eq!(
            schedule(4, 3, 0, Limits { floor: 3, cap: 6 }),
            Err(Blocked::OverCap { desired: 7, cap: 6 })
        );
        assert_eq!(
            schedule(4, 0, 2, DEFAULT),
            Err(Blocked::UnderFloor { desired: 2, floor: 3 })
        );
    }

    #[test]
    fn chat_over_the_cap_may_shrink() {
        let limits = Limits { floor: 3, cap: 4 };
        assert_eq!(schedule(6, 0, 2, limits), Ok(rounds(&[(0, 2)])));
        assert_eq!(schedule(6, 1, 3, limits), Ok(rounds(&[(0, 3), (1, 0)])));
    }

    #[test]
    fn chat_under_the_floor_may_grow() {
        assert_eq!(schedule(2, 2, 0, Limits { floor: 4, cap: 8 }), Ok(rounds(&[(2, 0)])));
    }

    #[test]
    fn low_floor_keeps_room_to_add() {
        // With a floor of 1 the removes stop at 2 members while adds remain.
        let limits = Limits { floor: 1, cap: 3 };
        assert_eq!(schedule(3, 1, 2, limits), Ok(rounds(&[(0, 1), (1, 1)])));
    }
}
