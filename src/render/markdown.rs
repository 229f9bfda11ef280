//! The plan as markdown for a pull-request comment, kept under the size forges accept.
//!
//! Names and ids come from a config (a fork's pull request, even) or from Linq, where any
//! member of a group can rename it. Each is shown in a code span, where no markdown works: it
//! cannot become a mention (`@org/team`), a link, an image, HTML or an autolinked URL, and its
//! pipes are escaped so it cannot break a table.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::summary_line;
use crate::escape::escape;
use crate::op::Op;
use crate::plan::{Action, ChatPlan, PendingChat, Plan, Selected, Selection, Step};

/// Forges reject comments above 65,536 characters; stay safely below.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// Writes the plan as markdown: a summary, then a section per chat with a table of its steps,
/// then the changes still pending. Past [`MARKDOWN_LIMIT`] the remaining chats are counted, not
/// shown.
pub fn plan_markdown(plan: &Plan, w: &mut dyn Write) -> io::Result<()> {
    let mut out = String::from("### roster plan\n\n");
    out.push_str(&selection_markdown(&plan.selection));
    let pending = pending_markdown(&plan.pending);
    if !plan.has_changes() {
        out.push_str("No changes.\n");
        // Chats listed only for members who left on their own.
        for chat in &plan.chats {
            out.push('\n');
            out.push_str(&chat_markdown(chat));
        }
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

/// One line on what the plan was limited to, each selector with its count of chats; empty when
/// it covers every chat.
fn selection_markdown(selection: &Selection) -> String {
    let part = |flag: &str, list: &[Selected]| -> Option<String> {
        let items: Vec<String> = (list.iter())
            .map(|selected| {
                let n = selected.chats.len();
                format!(
                    "{} ({n} {})",
                    code(&selected.given, false),
                    if n == 1 { "chat" } else { "chats" }
                )
            })
            .collect();
        (!items.is_empty()).then(|| format!("{flag} {}", items.join(", ")))
    };
    let parts: Vec<String> = [
        part("Limited to", &selection.targets),
        part("excluding", &selection.excludes),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        return String::new();
    }
    let mut line = parts.join(", ");
    if let Some(first) = line.get(..1) {
        line.replace_range(..1, &first.to_uppercase());
    }
    format!("_{line}._\n\n")
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
            Some(name) => format!("{} ({})", code(name, true), code(&chat.id, true)),
            None => code(&chat.id, true),
        };
        let op = op_cell(change.op);
        let at = change
            .accepted_at
            .map_or_else(|| "unknown".to_owned(), |at| at.to_string());
        let overdue = if change.overdue { " ⚠️ overdue" } else { "" };
        let handle = code(change.handle.as_str(), true);
        let _ = writeln!(out, "| {title} | {op} | {handle} | {at}{overdue} |");
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
        Some(name) => format!("{} ({})", code(name, false), code(&chat.key, false)),
        None => code(&chat.key, false),
    };
    let before = chat.before.as_ref().map_or(0, |members| members.len());
    match chat.action {
        Action::Update if chat.steps.is_empty() => {
            let _ = writeln!(out, "#### {title}: no change ({before} members)");
        }
        Action::Update => {
            let after = chat.after.as_ref().map_or(0, |members| members.len());
            let _ = writeln!(out, "#### {title}: {before} → {after} members\n");
            out.push_str("| # | step | handle | person |\n|---:|---|---|---|\n");
            for (i, step) in chat.steps.iter().enumerate() {
                let _ = match step.change() {
                    Some((op, handle)) => writeln!(
                        out,
                        "| {} | {} | {} | {} |",
                        i + 1,
                        op_cell(op),
                        code(handle.as_str(), true),
                        step.person().map(|p| code(p, true)).unwrap_or_default()
                    ),
                    None => writeln!(out, "{}", other_row(i + 1, step)),
                };
            }
        }
        Action::Forget => {
            let _ = writeln!(out, "#### {title}: forget\n\nNo longer in the config: dropped from the state ({before} members), no API call.");
        }
        Action::Unknown => {
            let _ = writeln!(
                out,
                "#### {title}: membership unknown\n\nNot in the state yet: run {} to adopt it.",
                code(&format!("roster import {}", chat.id), false)
            );
        }
        Action::Create => create_markdown(chat, &title, &mut out),
    }
    if !chat.left.is_empty() {
        let handles: Vec<String> = chat.left.iter().map(|h| code(h.as_str(), false)).collect();
        let _ = writeln!(out, "\nLeft on their own, not re-added: {}.", handles.join(", "));
    }
    out.push('\n');
    out
}

/// `text` as a code span: control characters shown escaped, fenced by more backticks than any
/// run inside it (padded with spaces when it starts or ends with one, as CommonMark asks), and
/// in a table cell, pipes escaped (GitHub splits cells on them even inside code).
/// A table row for a step that is not an add or a remove.
fn other_row(n: usize, step: &Step) -> String {
    match step {
        Step::Create => format!("| {n} | ➕ create | _the chat, sending its first message_ | |"),
        Step::Name { value } => format!("| {n} | 🏷️ name | {} | |", code(value, true)),
        Step::Icon { value } => format!("| {n} | 🖼️ icon | {} | |", code(value, true)),
        Step::Wait | Step::Add { .. } | Step::Remove { .. } => {
            format!("| {n} | ⏳ wait | _until the steps above have landed_ | |")
        }
    }
}

/// A chat to create: its line and members, then its whole first message in a code block no
/// text of the message can close (the fence is longer than any run of backticks in it).
fn create_markdown(chat: &ChatPlan, title: &str, out: &mut String) {
    let members: Vec<String> = chat.after.iter().flatten().map(|h| code(h.as_str(), false)).collect();
    let Some(create) = &chat.create else { return };
    let _ = writeln!(
        out,
        "#### {title}: create\n\nCreated from {} with {} members: {}. First message, sent to every member:\n",
        code(create.from.as_str(), false),
        members.len(),
        members.join(", ")
    );
    let _ = writeln!(out, "{}", code_block(&create.message));
    let then: Vec<String> = (chat.steps.iter())
        .filter(|step| **step != Step::Create)
        .map(|step| match step {
            Step::Name { value } => format!("name {}", code(value, false)),
            Step::Icon { value } => format!("icon {}", code(value, false)),
            _ => "wait".to_owned(),
        })
        .collect();
    if !then.is_empty() {
        let _ = writeln!(out, "\nThen set its {}.", then.join(" and "));
    }
    if let Some(old) = &chat.likely_rename_of {
        let _ = writeln!(
            out,
            "\n> **Likely a rename:** {} left the config with the same members. If this chat is it, add {} to {}, or a second chat is created.",
            code(old, false),
            code(&format!("previously: [{old}]"), false),
            code(&chat.key, false)
        );
    }
}

/// `text` in a fenced block: each line escaped (no control character reaches the page), the
/// fence one backtick longer than the longest run of backticks inside, and at least three.
fn code_block(text: &str) -> String {
    let body: Vec<String> = text.split('\n').map(|line| escape(line).into_owned()).collect();
    let body = body.join("\n");
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}text\n{}\n{fence}", body.trim_end_matches('\n'))
}

fn code(text: &str, in_table: bool) -> String {
    if text.is_empty() {
        return String::new();
    }
    let text = escape(text);
    let text = if in_table {
        text.replace('|', "\\|")
    } else {
        text.into_owned()
    };
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// An add or a remove in a table cell.
fn op_cell(op: Op) -> &'static str {
    match op {
        Op::Add => "➕ add",
        Op::Remove => "➖ remove",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Handle;
    use crate::plan::{StateRef, Step, Summary};

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
                    key: format!("chat-{c:05}"),
                    create: None,
                    rekey: None,
                    likely_rename_of: None,
                    name: Some(format!("Chat | {c}")),
                    action: Action::Update,
                    before: Some(Default::default()),
                    after: Some(Default::default()),
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
            selection: Selection::default(),
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
        assert!(text.contains("`Chat | 0`"), "names are code spans");
    }

    #[test]
    fn names_become_neither_markup_nor_table_cells() {
        assert_eq!(code("@org/team", false), "`@org/team`");
        assert_eq!(
            code("[x](http://evil.example) <img src=x>", false),
            "`[x](http://evil.example) <img src=x>`"
        );
        assert_eq!(code("a|b", true), "`a\\|b`");
        assert_eq!(code("a|b", false), "`a|b`");
        assert_eq!(code("it`s", false), "``it`s``");
        assert_eq!(code("``x", false), "``` ``x ```");
        assert_eq!(code("\u{1b}[2J\u{202e}\nx", false), "`\\x1b[2J\\u{202e}\\nx`");
        assert_eq!(code("", true), "");
    }

    #[test]
    fn a_hostile_plan_renders_as_text_in_a_pull_request() {
        let mut plan = big_plan(1);
        plan.chats[0].name =
            Some("@org/team [x](http://a.example) ![i](x.png) <img src=x> https://evil.example `|".into());
        plan.chats[0].steps.truncate(1);
        if let Step::Add { person, .. } = &mut plan.chats[0].steps[0] {
            *person = Some("@everyone | <b>".into());
        }
        let mut out = Vec::new();
        plan_markdown(&plan, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "#### ``@org/team [x](http://a.example) ![i](x.png) <img src=x> https://evil.example `|`` (`chat-00000`): 0 → 0 members"
            ),
            "{text}"
        );
        assert!(
            text.contains("| 1 | ➕ add | `+155500000000` | `@everyone \\| <b>` |"),
            "{text}"
        );
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
