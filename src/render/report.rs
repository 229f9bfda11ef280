//! The summary at the end of an apply: calls made, chats done, failed, skipped and pending.

use std::io::{self, Write};

use super::{count, Paint, TextOptions};
use crate::apply::{describe, ApplyReport, ChatStatus};
use crate::escape::Escaped;

/// Writes the apply summary for people. Each failure carries the API's code, message and trace id;
/// the last line says how many requests were in flight at once.
/// Chats with changes still landing are counted; `options.verbose` lists their changes.
pub fn apply_report_text(report: &ApplyReport, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
    let paint = Paint::new(options.color);
    chat_lines(report, &paint, w)?;
    if options.verbose {
        pending_lines(report, &paint, w)?;
    }
    let created = match report.calls.create {
        0 => String::new(),
        n => format!(", {} created", count(n, "chat", "chats")),
    };
    let looks = match report.calls.looks {
        0 => String::new(),
        n => format!(", {} set", count(n, "name or icon", "names or icons")),
    };
    write!(
        w,
        "{} Calls made: {} added, {} removed{created}{looks}. Chats: {}",
        headline(report, &paint),
        report.calls.add,
        report.calls.remove,
        chat_counts(report)
    )?;
    if !report.forgotten.is_empty() {
        write!(w, "; {} forgotten", count(report.forgotten.len(), "chat", "chats"))?;
    }
    writeln!(w, ".")?;
    concurrency_line(report, w)
}

/// A line for each chat that did not simply finish: failed, never landed, drifted, stopped.
fn chat_lines(report: &ApplyReport, paint: &Paint, w: &mut dyn Write) -> io::Result<()> {
    let listed = [
        ChatStatus::CreateNotSettled,
        ChatStatus::Failed,
        ChatStatus::NeverLanded,
        ChatStatus::Drift,
        ChatStatus::Stopped,
    ];
    for status in listed {
        for chat in report.with_status(status) {
            let line = describe(chat);
            let line = if matches!(status, ChatStatus::Failed | ChatStatus::CreateNotSettled) {
                paint.remove(line)
            } else {
                paint.note(line)
            };
            writeln!(w, "{line}")?;
        }
    }
    Ok(())
}

/// A line for each chat with changes Linq accepted and has not applied yet, naming them.
fn pending_lines(report: &ApplyReport, paint: &Paint, w: &mut dyn Write) -> io::Result<()> {
    for chat in report.pending() {
        let handles: Vec<String> = (chat.pending.add.iter().map(|h| format!("add `{h}`")))
            .chain(chat.pending.remove.iter().map(|h| format!("remove `{h}`")))
            .collect();
        writeln!(
            w,
            "{}",
            paint.note(format!(
                "chat `{}`: accepted, not landed yet: {}",
                Escaped(&chat.id),
                handles.join(", ")
            ))
        )?;
    }
    Ok(())
}

/// How the run ended: stopped by an error, interrupted, complete, or with problems.
fn headline(report: &ApplyReport, paint: &Paint) -> String {
    if let Some(error) = &report.error {
        paint.error(format!("Apply stopped: {}.", Escaped(error)))
    } else if report.interrupted {
        paint.note("Apply interrupted: steps not begun are left for the next run.")
    } else if report.is_success() {
        paint.add("Apply complete.")
    } else {
        paint.remove("Apply finished with problems.")
    }
}

/// `3 done, 1 failed, …`: the chats by how they ended, those of no chat left out.
fn chat_counts(report: &ApplyReport) -> String {
    let chats = |status| report.with_status(status).count();
    let mut parts = vec![format!("{} done", chats(ChatStatus::Done))];
    let counts = [
        (chats(ChatStatus::CreateNotSettled), "create not settled"),
        (chats(ChatStatus::Failed), "failed"),
        (
            chats(ChatStatus::NeverLanded),
            "not changed as earlier changes never landed",
        ),
        (chats(ChatStatus::Drift), "skipped for drift"),
        (chats(ChatStatus::Stopped), "stopped"),
    ];
    for (n, what) in counts {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if !report.unknown.is_empty() {
        parts.push(format!("{} unknown (not in the state)", report.unknown.len()));
    }
    let pending = report.pending().count();
    if pending > 0 {
        parts.push(format!("{pending} with accepted changes Linq has not applied yet"));
    }
    parts.join(", ")
}

/// The limit on requests in flight over the run, once it made an add or a remove: how high it
/// went and where it ended, adapting under `--parallelism`, or that it was fixed.
fn concurrency_line(report: &ApplyReport, w: &mut dyn Write) -> io::Result<()> {
    if report.calls.add + report.calls.remove == 0 {
        return Ok(());
    }
    match report.concurrency {
        Some(c) if c.adaptive => writeln!(
            w,
            "Concurrency: the limit on requests in flight peaked at {} and ended at {} (ceiling {}).",
            c.peak, c.last, c.ceiling
        ),
        Some(c) => writeln!(w, "Concurrency: a fixed limit of {} requests in flight.", c.ceiling),
        None => Ok(()),
    }
}
