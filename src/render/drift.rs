//! Drift: how the chats Linq holds differ from what the state records, as text for people; the
//! report itself serializes to the JSON that `roster refresh --format json` prints.

use std::io::{self, Write};

use serde::Serialize;

use super::{count, pending_lines, Paint};
use crate::clock::Timestamp;
use crate::escape::Escaped;
use crate::handle::Handle;
use crate::plan::{PendingChat, StateRef};

/// Version of the JSON drift report; fields are only ever added within one version.
pub const DRIFT_FORMAT_VERSION: &str = "1";

/// What reading the chats from Linq found, compared with the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub format_version: String,
    /// How many chats were read.
    pub chats_read: usize,
    /// Chats with drift, or that could not be read (gone or unavailable), sorted by id.
    pub chats: Vec<ChatDrift>,
    pub summary: DriftSummary,
    /// Changes roster made that Linq accepted and has not applied yet, still within
    /// `--pending-timeout`: kept in the state. (`plan --refresh` lists them in its plan.)
    pub pending: Vec<PendingChat>,
    /// Changes Linq accepted that were not seen within `--pending-timeout`: accepted but never
    /// landed, so taken as not made (dropped from the recorded members by `roster refresh`);
    /// the next plan makes them again.
    pub never_landed: Vec<PendingChat>,
    /// The state once the live membership was recorded (`roster refresh`); absent when nothing
    /// is recorded (`roster plan --refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
    /// When the chats were read, to say how long ago pending changes were accepted.
    #[serde(skip)]
    pub read_at: Option<Timestamp>,
}

/// Where `roster refresh` left the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded {
    /// False when the state already matched Linq, so it was not rewritten.
    pub written: bool,
    pub state: StateRef,
}

/// One chat that differs from the state, or that Linq would not show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatDrift {
    pub id: String,
    /// The chat's display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub status: DriftStatus,
    /// Active now, not in the state: added outside roster.
    pub joined: Vec<Handle>,
    /// In the state, no longer active, and not by their own choice: removed outside roster.
    pub removed: Vec<Handle>,
    /// In the state, and left the chat on their own (`status: left`): not re-added by default.
    pub left: Vec<Handle>,
    /// Why the chat could not be read (`gone`, `unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReadFailure>,
}

/// The state of one chat in a drift report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftStatus {
    /// Its members changed outside roster.
    Drifted,
    /// Linq answered 404: the chat no longer exists (or this token cannot see it).
    Gone,
    /// Linq answered 409 with code 2013, "this chat is unavailable".
    Unavailable,
}

/// Linq's answer to a read that failed, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadFailure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// Counts over the whole report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DriftSummary {
    pub drifted: usize,
    pub joined: usize,
    pub removed: usize,
    pub left: usize,
    pub gone: usize,
    pub unavailable: usize,
    /// Changes still pending, over all chats.
    pub pending: usize,
    /// Changes that never landed, over all chats.
    pub never_landed: usize,
}

impl DriftReport {
    /// A report over `chats_read` chats; the summary is counted from `chats`.
    pub fn new(chats_read: usize, mut chats: Vec<ChatDrift>) -> DriftReport {
        chats.sort_by(|a, b| a.id.cmp(&b.id));
        let mut summary = DriftSummary::default();
        for chat in &chats {
            match chat.status {
                DriftStatus::Drifted => summary.drifted += 1,
                DriftStatus::Gone => summary.gone += 1,
                DriftStatus::Unavailable => summary.unavailable += 1,
            }
            summary.joined += chat.joined.len();
            summary.removed += chat.removed.len();
            summary.left += chat.left.len();
        }
        DriftReport {
            format_version: DRIFT_FORMAT_VERSION.to_owned(),
            chats_read,
            chats,
            summary,
            pending: Vec::new(),
            never_landed: Vec::new(),
            recorded: None,
            read_at: None,
        }
    }

    /// Adds the changes still pending and those that never landed, as of `read_at`.
    pub fn with_pending(
        mut self,
        mut pending: Vec<PendingChat>,
        mut never_landed: Vec<PendingChat>,
        read_at: Timestamp,
    ) -> DriftReport {
        pending.sort_by(|a, b| a.id.cmp(&b.id));
        never_landed.sort_by(|a, b| a.id.cmp(&b.id));
        self.summary.pending = PendingChat::count(&pending);
        self.summary.never_landed = PendingChat::count(&never_landed);
        self.pending = pending;
        self.never_landed = never_landed;
        self.read_at = Some(read_at);
        self
    }

    /// True when every chat read matches the state and no change is pending or lost.
    pub fn is_empty(&self) -> bool {
        self.chats.is_empty() && self.pending.is_empty() && self.never_landed.is_empty()
    }
}

impl ChatDrift {
    /// Name and id, escaped: the name is whatever a member of the group set.
    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({})", Escaped(name), Escaped(&self.id)),
            None => Escaped(&self.id).to_string(),
        }
    }
}

/// Writes the drift for people: each chat with who joined, was removed or left outside
/// roster, chats Linq would not show, then a summary line; then the changes that never landed
/// and those still pending. No drift and nothing pending is one line.
pub fn drift_text(report: &DriftReport, color: bool, w: &mut dyn Write) -> io::Result<()> {
    let paint = Paint::new(color);
    if report.is_empty() {
        let read = match report.chats_read {
            1 => "the chat read from Linq matches".to_owned(),
            n => format!("the {n} chats read from Linq match"),
        };
        return writeln!(w, "No drift: {read} the state.");
    }
    if report.chats.is_empty() {
        // Not "no drift", which reads as all done: something roster did has not landed.
        writeln!(
            w,
            "Nothing changed outside roster in {} read from Linq, but not every change roster made has landed.",
            match report.chats_read {
                1 => "the chat".to_owned(),
                n => format!("the {n} chats"),
            }
        )?;
    } else {
        chats_text(report, paint, w)?;
    }
    let n = report.summary.never_landed;
    if n > 0 {
        writeln!(w)?;
        writeln!(
            w,
            "{} Linq accepted {} that did not show within `--pending-timeout`: taken as not made, so the next plan makes {} again:",
            paint.bold("Never landed:"),
            count(n, "change", "changes"),
            if n == 1 { "it" } else { "them" }
        )?;
        pending_lines(&report.never_landed, report.read_at, false, paint, w)?;
    }
    let n = report.summary.pending;
    if n > 0 {
        writeln!(w)?;
        writeln!(
            w,
            "{} Linq accepted {} not seen to land yet; kept in the state until it shows or `--pending-timeout` passes:",
            paint.bold("Pending:"),
            count(n, "change", "changes")
        )?;
        pending_lines(&report.pending, report.read_at, false, paint, w)?;
    }
    Ok(())
}

/// The chats that drifted or could not be read, then a total line.
fn chats_text(report: &DriftReport, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{} {} of {} read from Linq differ from the state:",
        paint.bold("Drift:"),
        report.chats.len(),
        count(report.chats_read, "chat", "chats")
    )?;
    for chat in &report.chats {
        writeln!(w)?;
        match chat.status {
            DriftStatus::Drifted => {
                writeln!(w, "{} {}", paint.note("~"), paint.bold(chat.label()))?;
                let lines = [
                    (paint.add("+ joined outside roster "), &chat.joined),
                    (paint.remove("- removed outside roster"), &chat.removed),
                    (paint.note("← left on their own     "), &chat.left),
                ];
                for (what, handles) in lines {
                    for handle in handles {
                        writeln!(w, "    {what} {handle}")?;
                    }
                }
            }
            DriftStatus::Gone | DriftStatus::Unavailable => {
                let what = if chat.status == DriftStatus::Gone {
                    "gone"
                } else {
                    "unavailable"
                };
                writeln!(w, "{} {}: {what}", paint.remove("!"), paint.bold(chat.label()))?;
                if let Some(error) = &chat.error {
                    writeln!(w, "    {}", failure(error))?;
                }
                if chat.status == DriftStatus::Gone {
                    writeln!(w, "    remove it from the config to stop managing it")?;
                }
            }
        }
    }
    writeln!(w)?;
    let s = &report.summary;
    let mut parts = Vec::new();
    if s.drifted > 0 {
        parts.push(format!(
            "{} joined, {} removed, {} left on their own in {}",
            s.joined,
            s.removed,
            s.left,
            count(s.drifted, "chat", "chats")
        ));
    }
    if s.gone > 0 {
        parts.push(format!("{} gone", count(s.gone, "chat", "chats")));
    }
    if s.unavailable > 0 {
        parts.push(format!("{} unavailable", count(s.unavailable, "chat", "chats")));
    }
    writeln!(w, "{} {}.", paint.bold("Total:"), parts.join("; "))
}

fn failure(error: &ReadFailure) -> String {
    let mut text = String::from("Linq answered");
    if let Some(status) = error.status {
        text.push_str(&format!(" {status}"));
    }
    if let Some(code) = error.code {
        text.push_str(&format!(" (code {code})"));
    }
    text.push_str(&format!(": {}", Escaped(&error.message)));
    if let Some(trace_id) = &error.trace_id {
        text.push_str(&format!(" (trace id `{}`)", Escaped(trace_id)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handles(list: &[&str]) -> Vec<Handle> {
        list.iter().map(|h| Handle::parse(h).unwrap()).collect()
    }

    fn render(report: &DriftReport) -> String {
        let mut out = Vec::new();
        drift_text(report, false, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn no_drift_is_one_line() {
        assert_eq!(
            render(&DriftReport::new(3, Vec::new())),
            "No drift: the 3 chats read from Linq match the state.\n"
        );
        assert_eq!(
            render(&DriftReport::new(1, Vec::new())),
            "No drift: the chat read from Linq matches the state.\n"
        );
    }

    #[test]
    fn drift_lists_each_change_and_counts_them() {
        let report = DriftReport::new(
            4,
            vec![
                ChatDrift {
                    id: "b".into(),
                    name: None,
                    status: DriftStatus::Gone,
                    joined: Vec::new(),
                    removed: Vec::new(),
                    left: Vec::new(),
                    error: Some(ReadFailure {
                        status: Some(404),
                        code: Some(2001),
                        message: "Chat not found".into(),
                        trace_id: Some("t-1".into()),
                    }),
                },
                ChatDrift {
                    id: "a".into(),
                    name: Some("Sales".into()),
                    status: DriftStatus::Drifted,
                    joined: handles(&["+12055550777"]),
                    removed: handles(&["+12055550199", "bob@example.com"]),
                    left: handles(&["+12055550123"]),
                    error: None,
                },
            ],
        );
        assert_eq!(
            report.summary,
            DriftSummary {
                drifted: 1,
                joined: 1,
                removed: 2,
                left: 1,
                gone: 1,
                unavailable: 0,
                pending: 0,
                never_landed: 0,
            }
        );
        assert_eq!(
            render(&report),
            "\
Drift: 2 of 4 chats read from Linq differ from the state:

~ Sales (a)
    + joined outside roster  +12055550777
    - removed outside roster +12055550199
    - removed outside roster bob@example.com
    ← left on their own      +12055550123

! b: gone
    Linq answered 404 (code 2001): Chat not found (trace id `t-1`)
    remove it from the config to stop managing it

Total: 1 joined, 2 removed, 1 left on their own in 1 chat; 1 chat gone.
"
        );
    }
}
