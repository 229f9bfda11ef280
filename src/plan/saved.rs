//! Saved plans (`roster plan --out FILE`): the plan plus what it was made from, sealed by a
//! checksum, so `roster apply FILE` applies exactly what was reviewed or refuses.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Plan, StateRef};

/// A plan as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    #[serde(flatten)]
    pub plan: Plan,
    /// The roster version that made it.
    pub roster_version: String,
    /// `Desired::digest` of the config it was made from.
    pub config_digest: String,
    /// The config paths it was made from, as given (relative to where `plan` ran).
    pub config_paths: Vec<PathBuf>,
    /// The state file it was made from.
    pub state_path: PathBuf,
    /// Hex SHA-256 of this document with an empty `checksum`; detects edits and corruption.
    pub checksum: String,
}

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SavedPlanError {
    #[error("plan file is not a roster plan: {0}")]
    Unreadable(String),
    #[error("plan file has been modified or damaged since it was saved (checksum mismatch)")]
    Checksum,
    #[error("plan format version `{0}` is not supported by this roster")]
    Version(String),
    #[error("plan is stale: re-run plan ({0})")]
    Stale(String),
}

impl SavedPlan {
    /// Seals `plan` with the config digest and paths it was made from.
    pub fn new(plan: Plan, config_digest: String, config_paths: Vec<PathBuf>, state_path: PathBuf) -> SavedPlan {
        let mut saved = SavedPlan {
            plan,
            roster_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_digest,
            config_paths,
            state_path,
            checksum: String::new(),
        };
        saved.checksum = saved.compute_checksum();
        saved
    }

    fn compute_checksum(&self) -> String {
        let unsealed = SavedPlan {
            checksum: String::new(),
            ..self.clone()
        };
        let bytes = serde_json::to_vec(&unsealed).expect("a plan always serializes");
        hex(&Sha256::digest(bytes))
    }

    /// The document as written to disk: pretty JSON, trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a plan always serializes");
        text.push('\n');
        text
    }

    /// Parses a saved plan and checks its checksum and format version.
    pub fn from_json(bytes: &[u8]) -> Result<SavedPlan, SavedPlanError> {
        let saved: SavedPlan = serde_json::from_slice(bytes).map_err(|e| SavedPlanError::Unreadable(e.to_string()))?;
        if saved.plan.format_version != super::FORMAT_VERSION {
            return Err(SavedPlanError::Version(saved.plan.format_version));
        }
        if saved.compute_checksum() != saved.checksum {
            return Err(SavedPlanError::Checksum);
        }
        Ok(saved)
    }

    /// Refuses the plan unless the config and the state are still what it was made from.
    pub fn check_fresh(&self, config_digest: &str, state: &StateRef) -> Result<(), SavedPlanError> {
        if self.plan.state.lineage != state.lineage {
            return Err(SavedPlanError::Stale(format!(
                "the state has lineage `{}`, the plan was made from `{}`",
                state.lineage, self.plan.state.lineage
            )));
        }
        if self.plan.state.serial != state.serial {
            return Err(SavedPlanError::Stale(format!(
                "the state is at serial {}, the plan was made at serial {}",
                state.serial, self.plan.state.serial
            )));
        }
        if self.config_digest != config_digest {
            return Err(SavedPlanError::Stale(
                "the config has changed since the plan was made".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
