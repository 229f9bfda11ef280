//! Drift as text for people: how the chats Linq holds differ from what the state records. The
//! report itself ([`crate::sync::DriftReport`]) serializes to the JSON that
//! `roster refresh --format json` prints.

use std::io::{self, Write};

use super::{count, pending_lines, Paint};
use crate::escape::Escaped;
use crate::sync::{ChatDrift, DriftReport, DriftStatus, ReadFailure};

/// Name and id, escaped: the name is whatever a member of the group set.
fn label(chat: &ChatDrift) -> String {
    match &chat.name {
        Some(name) => format!("{} ({})", Escaped(name), Escaped(&chat.id)),
        None => Escaped(&chat.id).to_string(),
    }
}

/// Writes the drift for people: each chat with who joined, was removed or left outside
/// roster, chats Linq would not show, then a summary line; then the changes that never landed
/// and those still pending. No drift and nothing pending is one line.
pub fn drift_text(report: &DriftReport, color: bool, w: &mut dyn Write) -> io::Result<()> {
    let paint = Paint::new(color);
    let unrecorded = report.unrecorded.len();
    if unrecorded > 0 {
        // Nothing to hold them against: never "no drift" for them.
        writeln!(
            w,
            "{} {} read from Linq; the plan uses {} live membership, and `roster import` records {}.",
            paint.bold("Not in the state yet:"),
            count(unrecorded, "chat", "chats"),
            if unrecorded == 1 { "its" } else { "their" },
            if unrecorded == 1 { "it" } else { "them" }
        )?;
    }
    if report.is_empty() {
        let other = if unrecorded > 0 { " other" } else { "" };
        let read = match report.chats_read - unrecorded {
            0 => return Ok(()),
            1 => format!("the{other} chat read from Linq matches"),
            n => format!("the {n}{other} chats read from Linq match"),
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
                writeln!(w, "{} {}", paint.note("~"), paint.bold(label(chat)))?;
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
                if let Some(was) = &chat.renamed_from {
                    writeln!(
                        w,
                        "    {} renamed outside roster from \"{}\"; the next apply sets the config's name again",
                        paint.note("~"),
                        Escaped(was)
                    )?;
                }
            }
            DriftStatus::Gone | DriftStatus::Unavailable => {
                let what = if chat.status == DriftStatus::Gone {
                    "gone"
                } else {
                    "unavailable"
                };
                writeln!(w, "{} {}: {what}", paint.remove("!"), paint.bold(label(chat)))?;
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
    use crate::handle::Handle;
    use crate::sync::DriftSummary;

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
                    renamed_from: None,
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
                    renamed_from: None,
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
