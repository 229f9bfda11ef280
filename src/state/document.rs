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
