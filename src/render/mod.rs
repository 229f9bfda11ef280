//! Renderers: plans, states and reports to text (people), JSON (scripts) and markdown (pull
//! requests), each written to any `impl Write` so tests snapshot them directly. [`write()`] is
//! the one place a format is chosen.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::apply::ApplyReport;
use crate::clock::Timestamp;
use crate::escape::{escape, Escaped};
use crate::op::Op;
use crate::plan::Plan;
use crate::state::State;
use crate::sync::DriftReport;

mod config;
mod drift;
mod history;
mod json;
mod markdown;
mod report;
mod text;

pub use config::{imported_config, imported_config_keyed, keys_from_names};
pub use drift::drift_text;
pub use history::{History, HISTORY_FORMAT_VERSION};
pub use json::write_json;
pub use markdown::{plan_markdown, MARKDOWN_LIMIT};
pub use report::apply_report_text;
pub use text::{named_state_text, plan_text, state_text, unlocked, validated};

/// How a plan or report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// For people, in a terminal
    #[default]
    Text,
    /// For scripts: stable, versioned by `format_version`
    Json,
    /// For pull-request comments
    Markdown,
}

/// Something roster shows in every [`Format`]: text for people, its JSON for scripts, and
/// markdown for a pull-request comment.
pub trait Document: Serialize {
    fn text(&self, options: TextOptions, w: &mut dyn Write) -> io::Result<()>;

    /// Markdown of its own; the text where it has none.
    fn markdown(&self, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        self.text(options, w)
    }
}

/// Writes `document` in `format`.
pub fn write(document: &impl Document, format: Format, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => document.text(options, w),
        Format::Markdown => document.markdown(options, w),
        Format::Json => write_json(w, document),
    }
}

impl Document for Plan {
    fn text(&self, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        plan_text(self, options, w)
    }

    fn markdown(&self, _options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        plan_markdown(self, w)
    }
}

impl Document for State {
    fn text(&self, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        state_text(self, options, w)
    }
}

/// The state as `roster show` shows it: chats Linq gives no name are named by the config. Its
/// JSON is the state's own.
pub struct StateShown<'a> {
    pub state: &'a State,
    /// Chat names from the config, by id.
    pub names: BTreeMap<String, String>,
}

impl Serialize for StateShown<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.state.serialize(serializer)
    }
}

impl Document for StateShown<'_> {
    fn text(&self, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        named_state_text(self.state, &self.names, options, w)
    }
}

impl Document for ApplyReport {
    fn text(&self, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        apply_report_text(self, options, w)
    }
}

impl Document for DriftReport {
    fn text(&self, options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        drift_text(self, options.color, w)
    }
}

/// How text output looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// Colour with ANSI escapes (only on a terminal, never with `NO_COLOR`).
    pub color: bool,
    /// Show each changed chat's full membership before and after as a diff.
    pub verbose: bool,
    /// Now, to say how long ago pending changes were accepted; without it, when.
    pub now: Option<Timestamp>,
}

/// The few styles roster uses, applied only when colour is on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    color: bool,
}

impl Paint {
    pub(crate) fn new(color: bool) -> Paint {
        Paint { color }
    }

    fn paint(&self, style: Style, text: impl Display) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub(crate) fn add(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Green.on_default(), text)
    }

    pub(crate) fn remove(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Red.on_default(), text)
    }

    pub(crate) fn note(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Yellow.on_default(), text)
    }

    pub(crate) fn dim(&self, text: impl Display) -> String {
        self.paint(Style::new().dimmed(), text)
    }

    pub(crate) fn bold(&self, text: impl Display) -> String {
        self.paint(Style::new().bold(), text)
    }

    pub(crate) fn error(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Red.on_default().bold(), text)
    }

    pub(crate) fn hint(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Cyan.on_default().bold(), text)
    }
}

/// `1 chat`, `2 chats`.
pub(crate) fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Pending changes for people, one line each: `    Sales (id): + add +1…, accepted 12s ago`,
/// with `, overdue` where `mark_overdue`. Shared by plans and refresh.
pub(crate) fn pending_lines(
    chats: &[crate::plan::PendingChat],
    now: Option<Timestamp>,
    mark_overdue: bool,
    paint: Paint,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    for chat in chats {
        let label = match &chat.name {
            Some(name) => format!("{} ({})", Escaped(name), Escaped(&chat.id)),
            None => Escaped(&chat.id).to_string(),
        };
        for change in &chat.changes {
            let op = op_label(change.op, paint);
            let overdue = if mark_overdue && change.overdue {
                format!(", {}", paint.note("overdue"))
            } else {
                String::new()
            };
            writeln!(
                w,
                "    {label}: {op} {}, {}{overdue}",
                change.handle,
                accepted(change.accepted_at, now)
            )?;
        }
    }
    Ok(())
}

/// `+ add   ` or `- remove`, in green or red: one width, so handles line up after either.
pub(crate) fn op_label(op: Op, paint: Paint) -> String {
    match op {
        Op::Add => paint.add("+ add   "),
        Op::Remove => paint.remove("- remove"),
    }
}

/// `accepted 12s ago`, `accepted at 2026-01-05T09:30:00Z` without a clock, or at an unknown time.
pub(crate) fn accepted(at: Option<Timestamp>, now: Option<Timestamp>) -> String {
    match (at, now) {
        (None, _) => "accepted at an unknown time".to_owned(),
        (Some(at), Some(now)) => format!("accepted {} ago", crate::clock::approximate(at.age(now))),
        (Some(at), None) => format!("accepted at {at}"),
    }
}

/// The one-line summary of a plan, shared by text and markdown.
pub(crate) fn summary_line(summary: &crate::plan::Summary) -> String {
    let mut parts = vec![format!(
        "{} to add, {} to remove, {} in {}",
        summary.add,
        summary.remove,
        count(summary.wait, "wait", "waits"),
        count(summary.chats_changed, "chat", "chats")
    )];
    if summary.forget > 0 {
        parts.push(format!("{} to forget", count(summary.forget, "chat", "chats")));
    }
    if summary.unknown > 0 {
        parts.push(format!("{} unknown", count(summary.unknown, "chat", "chats")));
    }
    if summary.create > 0 {
        parts.push(format!("{} to create", count(summary.create, "chat", "chats")));
    }
    if summary.name + summary.icon > 0 {
        parts.push(format!(
            "{} and {} to set",
            count(summary.name, "name", "names"),
            count(summary.icon, "icon", "icons")
        ));
    }
    if summary.rekey > 0 {
        parts.push(format!(
            "{} to record under a new key",
            count(summary.rekey, "chat", "chats")
        ));
    }
    parts.join("; ")
}

/// Prints an error the one way roster prints errors: `error: ` + the message (its further lines
/// below it as they are), then `hint: ` + the next step, when there is one. Control characters
/// within a line are shown escaped, whatever put them there.
pub fn error(w: &mut dyn std::io::Write, color: bool, message: &str, hint: Option<&str>) -> std::io::Result<()> {
    let paint = Paint::new(color);
    for (index, line) in message.lines().enumerate() {
        let line = escape(line);
        if index == 0 {
            writeln!(w, "{} {line}", paint.error("error:"))?;
        } else {
            writeln!(w, "{line}")?;
        }
    }
    if let Some(hint) = hint {
        writeln!(w, "{} {}", paint.hint("hint:"), escape(hint))?;
    }
    Ok(())
}
