//! The plan as markdown for a pull-request comment, kept under the size forges accept.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::summary_line;
use crate::plan::{Action, ChatPlan, PendingChat, Plan, Step};
use crate::state::Op;

/// Forges reject comments above 65,536 characters; stay safely below.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// Writes the plan as markdown: a summary, then a section per chat with a table of its steps,
/// then the changes still pending. Past [`MARKDOWN_LIMIT`] the remaining chats are counted, not
/// shown.
pub fn plan_markdown(plan: &Plan, w: &mut dyn Write) -> io::Result<()> {
    let mut out = String::from("### roster plan\n\n");
    let pending = pending_markdown(&plan.pending);
    if plan.is_empty() {
        out.push_str("No changes.\n");
        out.push_str(&pending);
        return w.write_all(out.as_bytes());
    }
    let _ = writeln!(out, "**{}.**\n", summary_line(&plan.summary));
    // Keep room for the pending changes and the closing note about chats left out.
    let budget = MARKDOWN_LIMIT - 200 - pending.len();
    for (shown, chat) in plan.chats.iter().enumerate() {
        let section = chat_markdown(chat);
        if out.len() + section.len() > budget {
            let _ = writeln!(
                out,
                "_…and {} more chats not shown: the plan is too long for a comment. Run `roster plan` to see it whole._",
                plan.chats.len() - shown
            );
            break;
        }
        out.push_str(&section);
    }
    out.push_str(&pending);
    w.write_all(out.as_bytes())
}

/// How many pending changes a comment lists before counting the rest.
const PENDING_LISTED: usize = 100;

/// The pending changes as a table, with when Linq accepted each (a comment is read later, so a
/// time rather than an age); empty when there are none.
fn pending_markdown(pending: &[PendingChat]) -> String {
    let total = PendingChat::count(pending);
    if total == 0 {
        return String::new();
    }
    let mut out = format!(
        "\n#### Pending: {total} {} accepted by Linq, not seen to land yet\n\n| chat | change | handle | accepted at |\n|---|---|---|---|\n",
        if total == 1 { "change" } else { "changes" }
    );
    let changes = pending
        .iter()
        .flat_map(|chat| chat.changes.iter().map(move |change| (chat, change)));
    for (chat, change) in changes.take(PENDING_LISTED) {
        let title = match &chat.name {
            Some(name) => format!("{} (`{}`)", escape(name), chat.id),
            None => format!("`{}`", chat.id),
        };
        let op = match change.op {
            Op::Add => "➕ add",
            Op::Remove => "➖ remove",
        };
        let at = change
            .accepted_at
            .map_or_else(|| "unknown".to_owned(), |at| at.to_string());
        let overdue = if change.overdue { " ⚠️ overdue" } else { "" };
        let _ = writeln!(out, "| {title} | {op} | `{}` | {at}{overdue} |", change.handle);
    }
    if total > PENDING_LISTED {
        let _ = writeln!(out, "\n_…and {} more._", total - PENDING_LISTED);
    }
    if pending
        .iter()
        .flat_map(|chat| &chat.changes)
        .any(|change| change.overdue)
    {
        out.push_str("\n_Overdue: not seen within `--pending-timeout`; `roster refresh` drops a change that has not landed, and the next plan makes it again._\n");
    }
    out
}

fn chat_markdown(chat: &ChatPlan) -> String {
    let mut out = String::new();
    let title = match &chat.name {
        Some(name) => format!("{} (`{}`)", escape(name), chat.id),
        None => format!("`{}`", chat.id),
    };
    let before = chat.before.as_ref().map_or(0, Vec::len);
    match chat.action {
        Action::Update => {
            let after = chat.after.as_ref().map_or(0, Vec::len);
            let _ = writeln!(out, "#### {title}: {before} → {after} members\n");
            out.push_str("| # | step | handle | person |\n|---:|---|---|---|\n");
            for (i, step) in chat.steps.iter().enumerate() {
                let _ = match step {
                    Step::Add { handle, person } => {
                        writeln!(
                            out,
                            "| {} | ➕ add | `{handle}` | {} |",
                            i + 1,
                            escape(person.as_deref().unwrap_or(""))
                        )
                    }
                    Step::Remove { handle, person } => {
                        writeln!(
                            out,
                            "| {} | ➖ remove | `{handle}` | {} |",
                            i + 1,
                            escape(person.as_deref().unwrap_or(""))
                        )
                    }
                    Step::Wait => writeln!(out, "| {} | ⏳ wait | _until the steps above have landed_ | |", i + 1),
                };
            }
        }
        Action::Forget => {
            let _ = writeln!(out, "#### {title}: forget\n\nNo longer in the config: dropped from the state ({before} members), no API call.");
        }
        Action::Unknown => {
            let _ = writeln!(
                out,
                "#### {title}: membership unknown\n\nNot in the state yet: run `roster import {}` to adopt it.",
                chat.id
            );
        }
    }
    if !chat.left.is_empty() {
        let handles: Vec<String> = chat.left.iter().map(|h| format!("`{h}`")).collect();
        let _ = writeln!(out, "\nLeft on their own, not re-added: {}.", handles.join(", "));
    }
    out.push('\n');
    out
}

/// Escapes the characters that would break a table cell or start markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '|' | '*' | '_' | '`' | '<' | '>' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(if c == '\n' { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Handle;
    use crate::plan::{StateRef, Summary};

    fn big_plan(chats: usize) -> Plan {
        let chats: Vec<ChatPlan> = (0..chats)
            .map(|c| {
                let steps = (0..20)
                    .map(|m| Step::Add {
                        handle: Handle::parse(&format!("+1555{c:04}{m:04}")).unwrap(),
                        person: Some(format!("person-{m}")),
                    })
                    .collect();
                ChatPlan {
                    id: format!("chat-{c:05}"),
                    name: Some(format!("Chat | {c}")),
                    action: Action::Update,
                    before: Some(Vec::new()),
                    after: Some(Vec::new()),
                    left: Vec::new(),
                    steps,
                }
            })
            .collect();
        let summary = Summary {
            add: chats.len() * 20,
            chats_changed: chats.len(),
            ..Summary::default()
        };
        Plan {
            format_version: "1".into(),
            state: StateRef {
                lineage: "l".into(),
                serial: 1,
            },
            chats,
            pending: Vec::new(),
            summary,
        }
    }

    #[test]
    fn a_long_plan_stays_under_the_comment_limit_and_says_what_it_left_out() {
        let mut out = Vec::new();
        plan_markdown(&big_plan(2_000), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.chars().count() < MARKDOWN_LIMIT,
            "{} characters",
            text.chars().count()
        );
        assert!(text.contains("more chats not shown"), "{}", &text[text.len() - 300..]);
        assert!(text.contains("Chat \\| 0"), "table cells are escaped");
    }

    #[test]
    fn a_short_plan_is_shown_whole() {
        let mut out = Vec::new();
        plan_markdown(&big_plan(3), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("not shown"));
        assert_eq!(text.matches("➕ add").count(), 60);
    }
}
