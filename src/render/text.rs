//! The plan, the state and the short answers of `validate` and `force-unlock`, as text for
//! people in a terminal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use similar::{ChangeTag, TextDiff};

use super::{count, op_label, pending_lines, summary_line, Paint, TextOptions};
use crate::config::Desired;
use crate::escape::Escaped;
use crate::handle::Handle;
use crate::members::Members;
use crate::plan::{Action, ChatPlan, PendingChat, Plan, Selection, Step};
use crate::state::{LockInfo, State};

/// Writes the plan: what it was limited to, each chat with its name, member counts and numbered
/// steps, the changes still pending, then a summary.
pub fn plan_text(plan: &Plan, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
    let paint = Paint::new(options.color);
    if !plan.selection.is_everything() {
        selection_text(&plan.selection, paint, w)?;
        writeln!(w)?;
    }
    for chat in &plan.chats {
        chat_text(chat, options, paint, w)?;
        writeln!(w)?;
    }
    if plan.has_pending() {
        pending_text(&plan.pending, options, paint, w)?;
        writeln!(w)?;
    }
    let left: usize = plan.chats.iter().map(|chat| chat.left.len()).sum();
    if !plan.has_changes() && plan.has_pending() {
        writeln!(
            w,
            "No changes. The chats match the config once the pending changes land."
        )
    } else if !plan.has_changes() && left > 0 {
        writeln!(
            w,
            "No changes. The chats match the config but for {}, not re-added.",
            count(left, "member who left on their own", "members who left on their own")
        )
    } else if !plan.has_changes() {
        writeln!(w, "No changes. The chats match the config.")
    } else {
        writeln!(w, "{} {}.", paint.bold("Plan:"), summary_line(&plan.summary))
    }
}

/// The changes Linq accepted that were not seen to land, and what becomes of overdue ones.
fn pending_text(pending: &[PendingChat], options: TextOptions, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    let n = PendingChat::count(pending);
    writeln!(
        w,
        "{} Linq accepted {} not seen to land yet:",
        paint.bold("Pending:"),
        count(n, "change", "changes")
    )?;
    pending_lines(pending, options.now, true, paint, w)?;
    if pending
        .iter()
        .flat_map(|chat| &chat.changes)
        .any(|change| change.overdue)
    {
        writeln!(
            w,
            "    overdue: not seen within `--pending-timeout`; `roster refresh` drops it if it has not landed, and the next plan makes it again"
        )?;
    }
    Ok(())
}

/// How many chat ids a selector line lists before counting the rest.
const SELECTED_LISTED: usize = 5;

/// Each `--target` and `--exclude` as given, with the chats it resolved to (the first few ids,
/// and how many).
fn selection_text(selection: &Selection, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    for (heading, list) in [("Targeted:", &selection.targets), ("Excluded:", &selection.excludes)] {
        if list.is_empty() {
            continue;
        }
        writeln!(w, "{}", paint.bold(heading))?;
        for selected in list {
            if selected.chats == [selected.given.as_str()] {
                // A chat id: it names itself.
                writeln!(w, "    {}", Escaped(&selected.given))?;
                continue;
            }
            let mut ids: Vec<String> = (selected.chats.iter().take(SELECTED_LISTED))
                .map(|id| Escaped(id).to_string())
                .collect();
            let rest = selected.chats.len().saturating_sub(SELECTED_LISTED);
            if rest > 0 {
                ids.push(format!("and {rest} more"));
            }
            writeln!(
                w,
                "    {} → {}: {}",
                Escaped(&selected.given),
                count(selected.chats.len(), "chat", "chats"),
                ids.join(", ")
            )?;
        }
    }
    Ok(())
}

/// The chat's name and key, escaped: both come from a config or from Linq.
fn label(chat: &ChatPlan) -> String {
    match &chat.name {
        Some(name) => format!("{} ({})", Escaped(name), Escaped(&chat.key)),
        None => Escaped(&chat.key).to_string(),
    }
}

/// A step that is not an add or a remove: a wait, a create, a name or an icon.
fn other_step(step: &Step, paint: Paint) -> String {
    match step {
        Step::Create => format!("{} create the chat", paint.add("+")),
        Step::Name { value } => format!("{} set the name to \"{}\"", paint.note("~"), Escaped(value)),
        Step::Icon { value } => format!("{} set the icon to {}", paint.note("~"), Escaped(value)),
        Step::Wait | Step::Add { .. } | Step::Remove { .. } => {
            paint.note("… wait until the steps above have landed").to_string()
        }
    }
}

/// A chat to create, on one line with its line, its members and its whole first message (it
/// goes to real people), then the steps that follow the create.
fn create_text(chat: &ChatPlan, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    let members: Vec<String> = (chat.after.iter().flatten())
        .map(|handle| who(handle, None, paint))
        .collect();
    let (from, message) = chat.create.as_ref().map_or(("?".to_owned(), ""), |create| {
        (create.from.to_string(), create.message.as_str())
    });
    writeln!(
        w,
        "{} {}: create from {from} with {} ({}), first message \"{}\"",
        paint.add("+"),
        paint.bold(label(chat)),
        count(members.len(), "member", "members"),
        members.join(", "),
        Escaped(message)
    )?;
    for step in chat.steps.iter().filter(|step| **step != Step::Create) {
        writeln!(w, "    then {}", other_step(step, paint))?;
    }
    if let Some(old) = &chat.likely_rename_of {
        writeln!(
            w,
            "    {} `{}` left the config with the same members: if this chat is it renamed, add `previously: [{0}]` to `{}`, or roster creates a second chat",
            paint.note("note:"),
            Escaped(old),
            Escaped(&chat.key)
        )?;
    }
    Ok(())
}

fn chat_text(chat: &ChatPlan, options: TextOptions, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    let before = chat.before.as_ref().map_or(0, |members| members.len());
    match chat.action {
        // Listed only for members who left on their own: nothing is done to it.
        Action::Update if chat.steps.is_empty() && chat.rekey.is_some() => writeln!(
            w,
            "{} {}: recorded under `{}` until now; the state takes the new key (no API call)",
            paint.note("~"),
            paint.bold(label(chat)),
            Escaped(chat.rekey.as_deref().unwrap_or_default())
        )?,
        Action::Update if chat.steps.is_empty() => writeln!(
            w,
            "{} {}: no change ({})",
            paint.dim("="),
            paint.bold(label(chat)),
            count(before, "member", "members")
        )?,
        Action::Update => {
            let after = chat.after.as_ref().map_or(0, |members| members.len());
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
                match step.change() {
                    Some((op, handle)) => writeln!(
                        w,
                        "    {n} {} {}",
                        op_label(op, paint),
                        who(handle, step.person(), paint)
                    )?,
                    None => writeln!(w, "    {n} {}", other_step(step, paint))?,
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
        Action::Create => create_text(chat, paint, w)?,
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

fn who(handle: &Handle, person: Option<&str>, paint: Paint) -> String {
    match person {
        Some(person) => format!("{handle} {}", paint.dim(format!("({})", Escaped(person)))),
        None => handle.to_string(),
    }
}

/// The full membership before and after, as a line diff.
fn membership_diff(chat: &ChatPlan, paint: Paint, w: &mut dyn Write) -> io::Result<()> {
    let lines = |members: &Option<Members>| -> String {
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

/// The one line `roster validate` prints for a valid config.
pub fn validated(desired: &Desired, w: &mut dyn Write) -> io::Result<()> {
    let memberships: usize = desired.chats.values().map(|chat| chat.members.len()).sum();
    let people: BTreeSet<&String> = desired.names.values().collect();
    writeln!(
        w,
        "The config is valid: {} with {} in {}, {} named.",
        count(desired.chats.len(), "chat", "chats"),
        count(memberships, "membership", "memberships"),
        count(desired.files.len(), "file", "files"),
        count(people.len(), "person", "people"),
    )
}

/// The one line `roster force-unlock` prints for the lock it removed.
pub fn unlocked(holder: &LockInfo, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "Removed lock `{}` held by {holder}.", Escaped(&holder.id))
}

/// Writes the state: each chat with its name and member count, and with `verbose` its members.
pub fn state_text(state: &State, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
    named_state_text(state, &BTreeMap::new(), options, w)
}

/// [`state_text`], naming a chat Linq gives no name by the config's name in `names`.
pub fn named_state_text(
    state: &State,
    names: &BTreeMap<String, String>,
    options: TextOptions,
    w: &mut dyn Write,
) -> io::Result<()> {
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
        let name = (chat.display_name.as_deref())
            .or_else(|| names.get(id).map(String::as_str))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::op::Op;
    use crate::plan::{StateRef, Summary};
    use crate::state::PendingChange;

    fn change(op: Op, handle: &str, accepted_at: Option<Timestamp>, overdue: bool) -> PendingChange {
        PendingChange {
            op,
            handle: Handle::parse(handle).unwrap(),
            accepted_at,
            overdue,
        }
    }

    #[test]
    fn pending_changes_show_how_long_ago_they_were_accepted_and_which_are_overdue() {
        let now = Timestamp::from_unix(1_767_605_400);
        let plan = Plan {
            format_version: "1".into(),
            state: StateRef {
                lineage: "l".into(),
                serial: 1,
            },
            selection: Default::default(),
            chats: Vec::new(),
            pending: vec![PendingChat {
                id: "c1".into(),
                name: Some("Sales".into()),
                changes: vec![
                    change(
                        Op::Add,
                        "+15550000001",
                        Some(Timestamp::from_unix(1_767_605_400 - 42)),
                        false,
                    ),
                    change(
                        Op::Remove,
                        "+15550000002",
                        Some(Timestamp::from_unix(1_767_605_400 - 7500)),
                        true,
                    ),
                    change(Op::Remove, "+15550000003", None, true),
                ],
            }],
            summary: Summary::default(),
        };
        let render = |now| {
            let mut out = Vec::new();
            let options = TextOptions {
                now,
                ..TextOptions::default()
            };
            plan_text(&plan, options, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            render(Some(now)),
            "\
Pending: Linq accepted 3 changes not seen to land yet:
    Sales (c1): + add    +15550000001, accepted 42s ago
    Sales (c1): - remove +15550000002, accepted 2h 5m ago, overdue
    Sales (c1): - remove +15550000003, accepted at an unknown time, overdue
    overdue: not seen within `--pending-timeout`; `roster refresh` drops it if it has not landed, and the next plan makes it again

No changes. The chats match the config once the pending changes land.
"
        );
        assert!(
            render(None).contains("+15550000001, accepted at 2026-01-05T09:29:18Z\n"),
            "without a clock, the time"
        );
    }
}
