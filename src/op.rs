//! The two changes roster makes to a chat's membership.

use serde::{Deserialize, Serialize};

/// A mutating call: add a handle to a chat, or remove one from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Remove,
}
