//! `roster state push`: when a state may replace the stored one, and with which serial.
//!
//! 1. Into a store with no state, the pushed state goes as it is: lineage and serial kept, so
//!    a plan saved against the old backend still applies against the new one.
//! 2. Of the same lineage and a newer serial, it goes as it is.
//! 3. Of the same lineage and serial, it is the same state (nothing to write) or a conflict.
//! 4. Of another lineage, or an older serial, or a conflict of rule 3, it is refused unless
//!    forced. Forced, it takes the next serial after the stored one, so the serial still grows
//!    with every write and every saved plan made before it becomes stale.

use super::{State, StateError};

/// What a push writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// Write this state, with this serial.
    Write(State),
    /// The store holds this very state already.
    Unchanged,
}

/// Decides a push of `pushed` over `current` (the rules of the module doc); a push refused is
/// [`StateError::PushRefused`]: another lineage, an older serial, or other contents at the
/// same serial.
pub fn check_push(current: Option<&State>, mut pushed: State, force: bool) -> Result<Push, StateError> {
    let Some(current) = current else {
        // A state never written has serial 0; stored, it is the first write.
        pushed.serial = pushed.serial.max(1);
        return Ok(Push::Write(pushed));
    };
    let refused = if pushed.lineage != current.lineage {
        Some(format!(
            "the pushed state has lineage `{}`, and the stored one `{}`: it is another state",
            pushed.lineage, current.lineage
        ))
    } else if pushed.serial < current.serial {
        Some(format!(
            "the pushed state has serial {}, older than the stored serial {}",
            pushed.serial, current.serial
        ))
    } else if pushed.serial == current.serial {
        if pushed == *current {
            return Ok(Push::Unchanged);
        }
        Some(format!(
            "the pushed state has the stored serial {} but other contents",
            pushed.serial
        ))
    } else {
        None
    };
    match refused {
        Some(reason) if !force => Err(StateError::PushRefused { reason }),
        Some(_) => {
            pushed.serial = current.serial + 1;
            Ok(Push::Write(pushed))
        }
        None => Ok(Push::Write(pushed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ChatState;

    fn state(lineage: &str, serial: u64, chats: &[&str]) -> State {
        State {
            lineage: lineage.into(),
            serial,
            chats: chats.iter().map(|c| (c.to_string(), ChatState::default())).collect(),
            ..State::new()
        }
    }

    #[test]
    fn a_push_into_an_empty_store_or_of_a_newer_serial_keeps_lineage_and_serial() {
        assert_eq!(
            check_push(None, state("a", 12, &[]), false).unwrap(),
            Push::Write(state("a", 12, &[]))
        );
        assert_eq!(
            check_push(None, state("a", 0, &[]), false).unwrap(),
            Push::Write(state("a", 1, &[]))
        );
        let stored = state("a", 3, &["x"]);
        assert_eq!(
            check_push(Some(&stored), state("a", 7, &[]), false).unwrap(),
            Push::Write(state("a", 7, &[]))
        );
        assert_eq!(
            check_push(Some(&stored), stored.clone(), false).unwrap(),
            Push::Unchanged
        );
    }

    #[test]
    fn another_lineage_an_older_serial_or_a_conflict_needs_force_and_then_takes_the_next_serial() {
        let stored = state("a", 5, &["x"]);
        for (pushed, reason) in [
            (state("b", 9, &[]), "lineage `b`, and the stored one `a`"),
            (state("a", 4, &[]), "serial 4, older than the stored serial 5"),
            (state("a", 5, &["y"]), "the stored serial 5 but other contents"),
        ] {
            let error = check_push(Some(&stored), pushed.clone(), false)
                .unwrap_err()
                .to_string();
            assert!(error.contains(reason), "{error}");
            assert!(error.ends_with("; nothing was written"), "{error}");
            let forced = check_push(Some(&stored), pushed.clone(), true).unwrap();
            assert_eq!(forced, Push::Write(State { serial: 6, ..pushed }));
        }
    }
}
