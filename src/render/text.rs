//! The plan and the state as text for people in a terminal.

use std::io::{self, Write};

use similar::{ChangeTag, TextDiff};

use super::{count, summary_line, Paint, TextOptions};
use crate::escape::Escaped;
use crate::handle::Handle;
use crate::plan::{Action, ChatPlan, Plan, Step};
use crate::state::State;

/// Writes the plan: each chat with its name, member counts and numbered steps, then a summary.
pub fn plan_text(plan: &Plan, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
    let paint = Paint::new(options.color);
    if plan.is_empty() {
        return writeln!(w, "No changes. The chats match the config.");
    }
    for chat in &plan.chats {
        chat_text(chat, options, paint, w)?;
        writeln!(w)?;
    }
    writeln!(w, "{} {}.", paint.bold("Plan:"), summary_line(&plan.summary))
}

/// The chat's name and id, escaped: both come from a config or from Linq.
fn label(chat: &ChatPlan) -> String {
    match &chat.name {
        Some(name) => format!("{} ({})", Escaped(name), Escaped(&chat.id)),
        None => Escaped(&chat.id).to_string(),
    }
}

fn chat_text(chat: &ChatPlan, options: TextOptions, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    let before = chat.before.as_ref().map_or(0, Vec::len);
    match chat.action {
        Action::Update => {
            let after = chat.after.as_ref().map_or(0, Vec::len);
            writeln!(
                w,
                "{} {}: {before} → {}",
                paint.note("~"),
                paint.bold(label(chat)),
                count(after, "member", "members")
            )?;
            let width = chat.steps.len().to_string().len();
            for (i, step) in chat.steps.iter().enumerate() {
                let n = format!("{:>width$}.", i + 1);
                match step {
                    Step::Add { handle, person } => {
                        writeln!(w, "    {n} {} {}", paint.add("+ add   "), who(handle, person, paint))?
                    }
                    Step::Remove { handle, person } => {
                        writeln!(w, "    {n} {} {}", paint.remove("- remove"), who(handle, person, paint))?
                    }
                    Step::Wait => writeln!(w, "    {n} {}", paint.note("… wait until the steps above have landed"))?,
                }
            }
            if options.verbose {
                membership_diff(chat, paint, w)?;
            }
        }
        Action::Forget => writeln!(
            w,
            "{} {}: forget ({}, no longer in the config; no API call)",
            paint.remove("-"),
            paint.bold(label(chat)),
            count(before, "member", "members")
        )?,
        Action::Unknown => {
            writeln!(
                w,
                "{} {}: membership unknown, not in the state",
                paint.note("?"),
                paint.bold(label(chat))
            )?;
            writeln!(
                w,
                "    run `roster import {}` (or `roster plan --refresh`) to read it from Linq",
                Escaped(&chat.id)
            )?;
        }
    }
    if !chat.left.is_empty() {
        let handles: Vec<String> = chat.left.iter().map(Handle::to_string).collect();
        writeln!(
            w,
            "    {} {}",
            paint.note("left on their own, not re-added:"),
            handles.join(", ")
        )?;
        writeln!(w, "    remove them from the config, or set `settings.readd_left: true`")?;
    }
    Ok(())
}

fn who(handle: &Handle, person: &Option<String>, paint: Paint) -> String {
    match person {
        Some(person) => format!("{handle} {}", paint.dim(format!("({})", Escaped(person)))),
        None => handle.to_string(),
    }
}

/// The full membership before and after, as a line diff.
fn membership_diff(chat: &ChatPlan, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    let lines = |members: &Option<Vec<Handle>>| -> String {
        members.iter().flatten().map(|handle| format!("{handle}\n")).collect()
    };
    let (before, after) = (lines(&chat.before), lines(&chat.after));
    writeln!(w, "    {}", paint.dim("members:"))?;
    for change in TextDiff::from_lines(&before, &after).iter_all_changes() {
        let line = change.value().trim_end();
        match change.tag() {
            ChangeTag::Delete => writeln!(w, "      {}", paint.remove(format!("- {line}")))?,
            ChangeTag::Insert => writeln!(w, "      {}", paint.add(format!("+ {line}")))?,
            ChangeTag::Equal => writeln!(w, "        {line}")?,
        }
    }
    Ok(())
}

/// Writes the state: each chat with its member count, and with `verbose` its members.
pub fn state_text(state: &State, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
    let paint = Paint::new(options.color);
    writeln!(
        w,
        "{} lineage {}, serial {}, {}",
        paint.bold("State:"),
        state.lineage,
        state.serial,
        count(state.chats.len(), "chat", "chats")
    )?;
    for (id, chat) in &state.chats {
        let name = chat
            .display_name
            .as_deref()
            .map(|n| format!("{} ", Escaped(n)))
            .unwrap_or_default();
        writeln!(
            w,
            "  {name}{}: {}",
            Escaped(id),
            count(chat.members.len(), "member", "members")
        )?;
        if options.verbose {
            for member in &chat.members {
                writeln!(w, "      {member}")?;
            }
        }
        if !chat.left.is_empty() {
            let handles: Vec<String> = chat.left.iter().map(Handle::to_string).collect();
            writeln!(w, "      left on their own: {}", handles.join(", "))?;
        }
    }
    Ok(())
}
