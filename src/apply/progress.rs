//! Progress while apply runs: a bar on a terminal, one plain line per chat in CI, or nothing.

use std::io::Write;
use std::sync::Mutex;

use super::report::{ChatReport, ChatStatus};
use crate::escape::Escaped;
use crate::plan::Step;

/// Told about each call and each chat as the run goes. Called from concurrent chats.
pub trait Progress: Sync {
    /// The run begins: `chats` chats with `calls` add/remove steps between them.
    fn start(&self, chats: usize, calls: usize);
    /// Linq accepted an add or a remove.
    fn call(&self, chat: &str, step: &Step);
    /// A chat ended (done, drift, failed or stopped).
    fn chat(&self, report: &ChatReport);
    /// The run ended.
    fn finish(&self);
}

/// Reports nothing (`--quiet`, tests).
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _chats: usize, _calls: usize) {}
    fn call(&self, _chat: &str, _step: &Step) {}
    fn chat(&self, _report: &ChatReport) {}
    fn finish(&self) {}
}

/// A progress bar on a terminal (stderr) counting calls; chats that did not finish cleanly get
/// a line above it.
#[derive(Debug)]
pub struct BarProgress {
    bar: indicatif::ProgressBar,
}

impl BarProgress {
    pub fn new() -> BarProgress {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} applying [{bar:30}] {pos}/{len} calls {msg}")
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        BarProgress { bar }
    }
}

impl Default for BarProgress {
    fn default() -> Self {
        BarProgress::new()
    }
}

impl Progress for BarProgress {
    fn start(&self, chats: usize, calls: usize) {
        self.bar.set_length(calls as u64);
        self.bar.set_message(format!("in {chats} chats"));
    }

    fn call(&self, _chat: &str, _step: &Step) {
        self.bar.inc(1);
    }

    fn chat(&self, report: &ChatReport) {
        if report.status != ChatStatus::Done {
            self.bar.println(describe(report));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// One plain line per chat as it ends, for CI logs.
#[derive(Debug)]
pub struct LineProgress<W> {
    out: Mutex<W>,
}

impl<W: Write + Send> LineProgress<W> {
    pub fn new(out: W) -> LineProgress<W> {
        LineProgress { out: Mutex::new(out) }
    }

    /// The writer back, e.g. to inspect in a test.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<W: Write + Send> Progress for LineProgress<W> {
    fn start(&self, _chats: usize, _calls: usize) {}

    fn call(&self, _chat: &str, _step: &Step) {}

    fn chat(&self, report: &ChatReport) {
        let mut out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Progress is best effort: a closed stderr must not stop the run.
        let _ = writeln!(out, "{}", describe(report));
        let _ = out.flush();
    }

    fn finish(&self) {}
}

/// One line saying how a chat ended. Names, ids and Linq's messages are shown escaped.
pub fn describe(report: &ChatReport) -> String {
    let name = match &report.name {
        Some(name) => format!("chat `{}` ({})", Escaped(&report.id), Escaped(name)),
        None => format!("chat `{}`", Escaped(&report.id)),
    };
    let calls = format!("{} added, {} removed", report.calls.add, report.calls.remove);
    let pending = if report.pending.is_empty() {
        String::new()
    } else {
        format!(
            "; {} not landed yet",
            report.pending.add.len() + report.pending.remove.len()
        )
    };
    match report.status {
        ChatStatus::Done => format!("{name}: done, {calls}{pending}"),
        ChatStatus::Drift => {
            let drift = report.drift.as_ref();
            let list = |handles: Option<&Vec<crate::handle::Handle>>| {
                handles
                    .map(|h| h.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            };
            let mut parts = Vec::new();
            let missing = list(drift.map(|d| &d.missing));
            if !missing.is_empty() {
                parts.push(format!("gone: {missing}"));
            }
            let unexpected = list(drift.map(|d| &d.unexpected));
            if !unexpected.is_empty() {
                parts.push(format!("new: {unexpected}"));
            }
            format!("{name}: skipped, it changed outside roster ({})", parts.join("; "))
        }
        ChatStatus::Failed => {
            let failure = report.failure.as_ref();
            let step = match failure.and_then(|f| f.step.as_ref()) {
                Some(Step::Add { handle, .. }) => format!("adding `{handle}`"),
                Some(Step::Remove { handle, .. }) => format!("removing `{handle}`"),
                Some(Step::Wait) => "waiting for earlier changes to land".to_owned(),
                None => "reading the chat".to_owned(),
            };
            let mut reason = String::new();
            if let Some(f) = failure {
                if let Some(status) = f.status {
                    reason.push_str(&format!("{status} "));
                }
                if let Some(code) = f.code {
                    reason.push_str(&format!("(code {code}) "));
                }
                reason.push_str(&Escaped(&f.message).to_string());
                if let Some(trace) = &f.trace_id {
                    reason.push_str(&format!(" [trace id `{}`]", Escaped(trace)));
                }
            }
            format!(
                "{name}: failed {step}: {reason}; {calls}, {} steps skipped{pending}",
                report.steps_left
            )
        }
        ChatStatus::Stopped => format!("{name}: stopped, {calls}, {} steps left{pending}", report.steps_left),
        ChatStatus::NeverLanded => {
            let changes: Vec<String> = report
                .never_landed
                .iter()
                .map(|change| format!("{} `{}`", change.op.verb(), change.handle))
                .collect();
            format!(
                "{name}: not changed: Linq accepted {} from an earlier run but never applied {}; dropped from the state, the next plan makes {} again",
                changes.join(", "),
                if changes.len() == 1 { "it" } else { "them" },
                if changes.len() == 1 { "it" } else { "them" },
            )
        }
    }
}
