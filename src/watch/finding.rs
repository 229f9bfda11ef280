//! What `roster watch` reports: one [`Finding`] a line on stdout (text for people, or a JSON
//! object a line with `--format json`), each also POSTed as JSON with `--notify URL`.
//!
//! A finding says only what was confirmed: drift and landings from a read of the chat,
//! `recorded` once the state was written, a heal from the apply report.

use std::io::Write;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::escape::Escaped;
use crate::handle::Handle;
use crate::render::{count, Format};

/// Version of the JSON findings; fields are only ever added within one version.
pub const FINDINGS_FORMAT_VERSION: &str = "1";

/// One thing the watch found or did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// Serving webhooks at `address`.
    Listening { address: String },
    /// Members changed outside roster, as a read showed.
    Drift {
        chat: String,
        name: Option<String>,
        joined: Vec<Handle>,
        removed: Vec<Handle>,
        left: Vec<Handle>,
    },
    /// Linq would not show the chat (`gone`: 404, `unavailable`: 409 2013).
    Missing {
        chat: String,
        name: Option<String>,
        status: String,
    },
    /// Changes roster made, pending until now, that a read showed.
    Landed {
        chat: String,
        name: Option<String>,
        changes: usize,
    },
    /// Changes Linq accepted that were never seen within `--pending-timeout`: dropped.
    NeverLanded {
        chat: String,
        name: Option<String>,
        changes: usize,
    },
    /// The chat's display name differs from what the state recorded.
    Renamed {
        chat: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The chat's icon changed (only a webhook tells: Linq does not return icons).
    IconChanged {
        chat: String,
        old: Option<String>,
        new: Option<String>,
        outside: bool,
    },
    /// Linq failed a name or icon update it had accepted.
    UpdateFailed {
        chat: String,
        what: String,
        error_code: Option<i64>,
    },
    /// The state was written with what the reads showed.
    Recorded { chats: Vec<String>, serial: u64 },
    /// Every managed chat was read (`--interval`).
    Refreshed {
        chats_read: usize,
        written: bool,
        serial: u64,
    },
    /// The config changed on disk and was loaded again.
    ConfigReloaded { chats: usize },
    /// The config changed on disk and does not load: the last good one stays in use.
    ConfigInvalid { errors: Vec<String> },
    /// A refresh or a heal could not be done now; it is tried again later.
    Failed { doing: String, error: String },
    /// `--heal` applied the plan of a chat.
    Healed {
        chat: String,
        name: Option<String>,
        calls: usize,
        ok: bool,
    },
    /// `--heal` will not set the chat back again: it drifted back this many times in a row.
    GaveUp {
        chat: String,
        name: Option<String>,
        times: u32,
    },
    /// Another process leads (PostgreSQL state): this one stands by.
    Standby { holder: String },
    /// This process leads now.
    Leading,
}

/// `Sales West (550e…)`, or the id alone.
fn chat_label(chat: &str, name: &Option<String>) -> String {
    match name {
        Some(name) => format!("{} ({})", Escaped(name), Escaped(chat)),
        None => Escaped(chat).to_string(),
    }
}

fn handles(what: &str, list: &[Handle]) -> Option<String> {
    (!list.is_empty()).then(|| {
        let shown: Vec<String> = list.iter().map(Handle::to_string).collect();
        format!("{what} {}", shown.join(", "))
    })
}

fn or_none(value: &Option<String>) -> String {
    value
        .as_deref()
        .map_or_else(|| "(none)".to_owned(), |v| format!("`{}`", Escaped(v)))
}

impl Finding {
    /// The line people read.
    pub fn text(&self) -> String {
        match self {
            Finding::Listening { address } => format!("listening on {address}"),
            Finding::Drift { chat, name, joined, removed, left } => {
                let parts: Vec<String> =
                    [handles("joined", joined), handles("removed", removed), handles("left", left)]
                        .into_iter()
                        .flatten()
                        .collect();
                format!("drift: {} changed outside roster: {}", chat_label(chat, name), parts.join("; "))
            }
            Finding::Missing { chat, name, status } => format!("drift: {} is {status} on Linq", chat_label(chat, name)),
            Finding::Landed { chat, name, changes } => {
                format!("landed: {} of {} now show", count(*changes, "change", "changes"), chat_label(chat, name))
            }
            Finding::NeverLanded { chat, name, changes } => format!(
                "never landed: {} of {} accepted by Linq but not seen in time; the next plan makes them again",
                count(*changes, "change", "changes"),
                chat_label(chat, name)
            ),
            Finding::Renamed { chat, old, new } => {
                format!("renamed: {} from {} to {}", Escaped(chat), or_none(old), or_none(new))
            }
            Finding::IconChanged { chat, old, new, outside } => format!(
                "icon: {} changed from {} to {}{}",
                Escaped(chat),
                or_none(old),
                or_none(new),
                if *outside { " outside roster" } else { "" }
            ),
            Finding::UpdateFailed { chat, what, error_code } => format!(
                "update failed: Linq did not set the {what} of {}{}",
                Escaped(chat),
                error_code.map(|code| format!(" (error {code})")).unwrap_or_default()
            ),
            Finding::Recorded { chats, serial } => {
                format!("recorded: {} in the state (serial {serial})", count(chats.len(), "chat", "chats"))
            }
            Finding::Refreshed { chats_read, written, serial } => format!(
                "refreshed: read {}; the state {} (serial {serial})",
                count(*chats_read, "chat", "chats"),
                if *written { "was written" } else { "already matched" }
            ),
            Finding::ConfigReloaded { chats } => format!("config: loaded again, {}", count(*chats, "chat", "chats")),
            Finding::ConfigInvalid { errors } => format!(
                "config: changed but does not load ({}), the last good one stays in use: {}",
                count(errors.len(), "error", "errors"),
                errors.first().map(String::as_str).unwrap_or_default()
            ),
            Finding::Failed { doing, error } => format!("failed: {doing}: {}; tried again later", Escaped(error)),
            Finding::Healed { chat, name, calls, ok } => format!(
                "healed: {} set back to the config with {}{}",
                chat_label(chat, name),
                count(*calls, "call", "calls"),
                if *ok { "" } else { ", not all of them done" }
            ),
            Finding::GaveUp { chat, name, times } => format!(
                "gave up: {} drifted back {times} times in a row after healing; it is no longer healed until the config changes or roster watch restarts",
                chat_label(chat, name)
            ),
            Finding::Standby { holder } => format!("standby: another roster watch leads ({holder}); taking over when it stops"),
            Finding::Leading => "leading: this roster watch now refreshes and records".to_owned(),
        }
    }

    /// The JSON object (one line), with the format version.
    pub fn json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("findings serialize");
        if let Some(object) = value.as_object_mut() {
            object.insert("format_version".into(), FINDINGS_FORMAT_VERSION.into());
        }
        value.to_string()
    }
}

/// Where findings go: stdout in the chosen format, and the notifier's queue.
pub struct Findings {
    pub out: Box<dyn Write + Send>,
    pub format: Format,
    pub notify: Option<mpsc::Sender<String>>,
    /// Findings given to the notifier were dropped because its queue was full.
    pub dropped: u64,
}

impl Findings {
    pub fn report(&mut self, finding: Finding) {
        let line = match self.format {
            Format::Json => finding.json(),
            Format::Text | Format::Markdown => finding.text(),
        };
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
        if let Some(notify) = &self.notify {
            if notify.try_send(finding.json()).is_err() {
                self.dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_read_as_lines_and_as_versioned_json() {
        let drift = Finding::Drift {
            chat: "c1".into(),
            name: Some("Sales\u{1b}[31m".into()),
            joined: vec![Handle::parse("+12055550100").unwrap()],
            removed: vec![],
            left: vec![],
        };
        assert_eq!(
            drift.text(),
            "drift: Sales\\x1b[31m (c1) changed outside roster: joined +12055550100"
        );
        let json: serde_json::Value = serde_json::from_str(&drift.json()).unwrap();
        assert_eq!(json["finding"], "drift");
        assert_eq!(json["format_version"], "1");
        assert_eq!(json["joined"][0], "+12055550100");
    }
}
