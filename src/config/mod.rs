//! The desired state: YAML files -> validated, canonical [`Desired`].
//!
//! Loading reads every file, parses it with `serde_yaml` into the types in `raw` (the same types
//! the JSON Schema is generated from), then resolves people, canonicalizes handles and checks
//! the rules of SPEC section 1, collecting every error with its `file:line:column`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::escape::Lines;
use crate::handle::Handle;
use crate::members::Members;

mod load;
mod locate;
mod messages;
mod nesting;
mod raw;
mod unknown;

pub use load::{load, load_from_memory, load_sharing, load_timed, ChatProblem, LoadTimings};

/// Default floor: Linq needs 3 participants, and members exclude your own line.
pub const DEFAULT_MIN_MEMBERS: usize = 3;
/// Default cap: Linq's recipient limit.
pub const DEFAULT_MAX_MEMBERS: usize = 31;
/// Default share of all managed memberships a plan may remove without `--allow-mass-removal`.
pub const DEFAULT_MAX_REMOVAL_RATIO: f64 = 0.25;
/// Default for `settings.max_creates`: the most chats one plan may create without
/// `--allow-mass-create` (each create messages real people).
pub const DEFAULT_MAX_CREATES: usize = 10;

/// The validated desired state of every managed chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub settings: Settings,
    /// Chat key (a Linq chat id, or a key of the team's own) -> desired chat, sorted by key so
    /// plans are stable.
    pub chats: BTreeMap<String, DesiredChat>,
    /// Handle -> the person's name from `people`, shown beside handles in plans.
    pub names: BTreeMap<Handle, String>,
    /// Hex SHA-256 over every file's path and bytes in load order; a saved plan records it.
    pub digest: String,
    /// The files read, in load order.
    pub files: Vec<PathBuf>,
}

/// `settings`, with defaults filled in and protected entries resolved to handles.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub min_members: usize,
    pub max_members: usize,
    pub max_removal_ratio: f64,
    /// The most members one plan may remove over all chats in scope; `None`: no such limit.
    pub max_removals: Option<usize>,
    pub protected: Members,
    /// Re-add members who left a chat on their own (default: leave them out, suggest a fix).
    pub readd_left: bool,
    /// Roster sets display names (`name`); false: `name` is a label only.
    pub manage_names: bool,
    /// The most chats one plan may create without `--allow-mass-create`.
    pub max_creates: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_members: DEFAULT_MIN_MEMBERS,
            max_members: DEFAULT_MAX_MEMBERS,
            max_removal_ratio: DEFAULT_MAX_REMOVAL_RATIO,
            max_removals: None,
            protected: Members::new(),
            readd_left: false,
            manage_names: true,
            max_creates: DEFAULT_MAX_CREATES,
        }
    }
}

/// One chat's desired membership and the limits that apply to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredChat {
    pub name: Option<String>,
    pub service: Option<Service>,
    /// Effective cap: the chat's `max_members`, else `settings.max_members`.
    pub max_members: usize,
    /// Effective protected handles: `settings.protected` plus the chat's own.
    pub protected: Members,
    /// Canonical members (your own line excluded).
    pub members: Members,
    /// The most members one plan may remove from this chat; `None`: no such limit.
    pub max_removals: Option<usize>,
    /// The file that defines it: an index into [`Desired::files`] (`--target FILE` selects by it).
    pub file: usize,
    /// Its entry in that file's `chats` (0-based), to locate problems found only where the
    /// config meets the state ([`Desired::locate`]).
    pub entry: usize,
    /// The icon, an `https` URL.
    pub icon: Option<String>,
    /// The Linq chat id bound by `id:`; `None` when the key is the id, or names no chat yet.
    pub id: Option<String>,
    /// Keys the state may know this chat under (`previously:`), in the config's order.
    pub previously: Vec<String>,
    /// How to create the chat when the state knows none for its key.
    pub create: Option<Create>,
}

impl DesiredChat {
    /// The Linq chat id the config itself names for `key`: its `id:`, or the key when it is a
    /// UUID; `None` for a key of the team's own without `id:` (the state may know one).
    pub fn named_id<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.id.as_deref().or(crate::chat_id::is_uuid(key).then_some(key))
    }
}

/// `create: {from, message}`, checked: what roster needs to create a chat (its members and
/// service are the chat's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    /// The partner's line that creates the chat and sends the message (E.164).
    pub from: Handle,
    /// The first message, non-empty, exactly as written.
    pub message: String,
}

/// The messaging service of a chat; additions across services are refused by Linq.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub enum Service {
    #[serde(rename = "iMessage")]
    IMessage,
    #[serde(rename = "RCS")]
    Rcs,
    #[serde(rename = "SMS")]
    Sms,
}

impl Service {
    /// The service Linq calls `name` (`iMessage`, `RCS`, `SMS`, in any case); `None` for one the
    /// config does not know.
    pub fn from_linq(name: &str) -> Option<Service> {
        match name.to_ascii_lowercase().as_str() {
            "imessage" => Some(Service::IMessage),
            "rcs" => Some(Service::Rcs),
            "sms" => Some(Service::Sms),
            _ => None,
        }
    }
}

/// One problem in the config, at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column; `None` when the problem is the file as a whole.
    pub position: Option<(usize, usize)>,
    /// A plain sentence, values in backticks.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in one load, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Lines(&self.0).fmt(f)
    }
}

impl std::error::Error for ConfigErrors {}

impl crate::hint::Hint for ConfigErrors {
    /// Each error says its own next step (a "did you mean"); the list has none of its own.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// The JSON Schema of the config format, generated from the serde types that parse it, so that
/// editors validate configs as people type (pretty JSON with a trailing newline).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(raw::RawFile);
    let mut json = serde_json::to_string_pretty(&schema).expect("a JSON Schema always serializes");
    json.push('\n');
    json
}

#[cfg(test)]
mod tests;
