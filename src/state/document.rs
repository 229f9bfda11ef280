//! Reading a state document, as both backends and `state push` do: a state of another format
//! version is refused with a reason that says which, and what to do.

use super::{State, STATE_VERSION};

/// Why bytes are not a state this roster reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAState(pub String);

/// Parses a state document, refusing newer versions with a message that says so.
pub fn parse_state(bytes: &[u8]) -> Result<State, NotAState> {
    #[derive(serde::Deserialize)]
    struct Probe {
        version: serde_json::Value,
    }
    match serde_json::from_slice::<State>(bytes) {
        Ok(state) if state.version == STATE_VERSION => Ok(state),
        Ok(state) => Err(version_error(state.version)),
        Err(error) => match serde_json::from_slice::<Probe>(bytes) {
            Ok(Probe {
                version: serde_json::Value::Number(n),
            }) if n.as_u64().is_some_and(|v| v != u64::from(STATE_VERSION)) => {
                Err(version_error(n.as_u64().unwrap_or_default() as u32))
            }
            _ if bytes.is_empty() => Err("the file is empty".to_owned()),
            _ => Err(format!("not a valid roster state ({error})")),
        },
    }
    .map_err(NotAState)
}

fn version_error(version: u32) -> String {
    if version > STATE_VERSION {
        format!("its format version {version} is newer than this roster understands ({STATE_VERSION}); upgrade roster")
    } else {
        format!("its format version {version} is not supported (expected {STATE_VERSION})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state written before keys of the team's own loads unchanged: each chat keeps its id
    /// as its key, and writing it back adds nothing.
    #[test]
    fn a_state_from_before_keys_loads_unchanged_and_new_fields_round_trip() {
        let old = r#"{"version":1,"lineage":"l","serial":3,"chats":{"550e8400-e29b-41d4-a716-446655440000":{"members":["+12055550101"],"display_name":"Sales"}}}"#;
        let state = parse_state(old.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(&state).unwrap(), old);
        let own = state.own_keys();
        let id = "550e8400-e29b-41d4-a716-446655440000";
        assert_eq!(state.chat_for(id, &own), Some(id));
        assert_eq!(state.chats[id].key_or(id), id);

        let new = r#"{"version":1,"lineage":"l","serial":3,"chats":{"550e8400-e29b-41d4-a716-446655440000":{"key":"sales","members":["+12055550101"],"display_name":"Sales","icon":"https://example.com/s.png"}}}"#;
        let state = parse_state(new.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(&state).unwrap(), new);
        let own = state.own_keys();
        assert_eq!(state.chat_for("sales", &own), Some(id));
        assert_eq!(state.chat_for(id, &own), None, "the id no longer stands for itself");
        assert_eq!(state.chats[id].icon.as_deref(), Some("https://example.com/s.png"));
    }
}
