//! Renderers: plans, states and reports to text (people), JSON (scripts) and markdown (pull
//! requests), each written to any `impl Write` so tests snapshot them directly.

use std::fmt::Display;

use anstyle::{AnsiColor, Style};

use crate::escape::escape;

mod drift;
mod json;
mod markdown;
mod report;
mod text;

pub use drift::{
    drift_text, ChatDrift, DriftReport, DriftStatus, DriftSummary, ReadFailure, Recorded, DRIFT_FORMAT_VERSION,
};
pub use json::write_json;
pub use markdown::{plan_markdown, MARKDOWN_LIMIT};
pub use report::apply_report_text;
pub use text::{plan_text, state_text};

/// How text output looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// Colour with ANSI escapes (only on a terminal, never with `NO_COLOR`).
    pub color: bool,
    /// Show each changed chat's full membership before and after as a diff.
    pub verbose: bool,
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
    parts.join("; ")
}

/// Prints an error the one way roster prints errors: `error: ` + message, `hint:` lines apart.
/// Control characters within a line are shown escaped, whatever put them there.
pub fn error(w: &mut dyn std::io::Write, color: bool, message: &str) -> std::io::Result<()> {
    let paint = Paint::new(color);
    let mut first = true;
    for line in message.lines() {
        let line = &*escape(line);
        if let Some(hint) = line.strip_prefix("hint: ") {
            writeln!(w, "{} {hint}", paint.hint("hint:"))?;
        } else if first {
            writeln!(w, "{} {line}", paint.error("error:"))?;
            first = false;
        } else {
            writeln!(w, "{line}")?;
        }
    }
    Ok(())
}
