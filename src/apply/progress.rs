//! Progress while apply runs: a bar on a terminal, one plain line per chat in CI, or nothing;
//! with `-v` the limit on requests in flight as it changes, with `--timings` every decision of
//! the limiter.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use super::report::{ChatReport, ChatStatus};
use crate::escape::{code_list, Escaped};
use crate::linq::{Cause, Snapshot};
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
    /// The limit on requests in flight changed (told at most about once a second, the latest).
    fn concurrency(&self, _change: &ConcurrencyChange) {}
    /// The limiter decided (a window of answers ended, or a request was rejected), whether or
    /// not the limit changed.
    fn concurrency_sample(&self, _at: Duration, _now: &Snapshot) {}
}

/// The limit on requests in flight, from what it was last shown as to what it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConcurrencyChange {
    /// Since apply began.
    pub at: Duration,
    pub from: usize,
    pub now: Snapshot,
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
/// a line above it, and so do changes of concurrency when verbose.
#[derive(Debug)]
pub struct BarProgress {
    bar: indicatif::ProgressBar,
    verbose: bool,
}

impl BarProgress {
    pub fn new() -> BarProgress {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} applying [{bar:30}] {pos}/{len} calls {msg}")
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        BarProgress { bar, verbose: false }
    }

    /// Shows changes of the limit on requests in flight too (`-v`).
    pub fn verbose(mut self, verbose: bool) -> BarProgress {
        self.verbose = verbose;
        self
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
        self.bar.set_message(bar_message(chats));
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

    fn concurrency(&self, change: &ConcurrencyChange) {
        if self.verbose {
            self.bar.println(describe_concurrency(change));
        }
    }
}

/// What the bar says after its count of calls: `in 1 chat`, `in 3 chats`.
fn bar_message(chats: usize) -> String {
    format!("in {chats} {}", if chats == 1 { "chat" } else { "chats" })
}

/// One plain line per chat as it ends, for CI logs; when verbose, one per change of the limit
/// on requests in flight.
#[derive(Debug)]
pub struct LineProgress<W> {
    out: Mutex<W>,
    verbose: bool,
}

impl<W: Write + Send> LineProgress<W> {
    pub fn new(out: W) -> LineProgress<W> {
        LineProgress {
            out: Mutex::new(out),
            verbose: false,
        }
    }

    /// Shows changes of the limit on requests in flight too (`-v`).
    pub fn verbose(mut self, verbose: bool) -> LineProgress<W> {
        self.verbose = verbose;
        self
    }

    fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Progress is best effort: a closed stderr must not stop the run.
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
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
        self.line(&describe(report));
    }

    fn finish(&self) {}

    fn concurrency(&self, change: &ConcurrencyChange) {
        if self.verbose {
            self.line(&describe_concurrency(change));
        }
    }
}

/// Another progress, plus a `timings: concurrency` line on stderr for every decision of the
/// limiter (`--timings`, for benchmarks): seconds since apply began, limit, requests in flight,
/// latency and base latency in milliseconds.
pub struct TimingsProgress<P, W> {
    inner: P,
    out: Mutex<W>,
}

impl<P: Progress, W: Write + Send> TimingsProgress<P, W> {
    pub fn new(inner: P, out: W) -> TimingsProgress<P, W> {
        TimingsProgress {
            inner,
            out: Mutex::new(out),
        }
    }
}

impl<P: Progress, W: Write + Send> Progress for TimingsProgress<P, W> {
    fn start(&self, chats: usize, calls: usize) {
        self.inner.start(chats, calls);
    }

    fn call(&self, chat: &str, step: &Step) {
        self.inner.call(chat, step);
    }

    fn chat(&self, report: &ChatReport) {
        self.inner.chat(report);
    }

    fn finish(&self) {
        self.inner.finish();
    }

    fn concurrency(&self, change: &ConcurrencyChange) {
        self.inner.concurrency(change);
    }

    fn concurrency_sample(&self, at: Duration, now: &Snapshot) {
        let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        let mut out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(
            out,
            "timings: concurrency: {:.3} s: limit {}, in flight {}, latency {:.1} ms, base {:.1} ms",
            at.as_secs_f64(),
            now.limit,
            now.in_flight,
            ms(now.latency),
            ms(now.base)
        );
        self.inner.concurrency_sample(at, now);
    }
}

/// One line saying how the limit on requests in flight changed, and why.
pub fn describe_concurrency(change: &ConcurrencyChange) -> String {
    let now = &change.now;
    let ms = |d: Option<Duration>| d.map_or_else(|| "?".to_owned(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3));
    let why = match now.cause {
        Cause::Growth => format!("latency holds at {}", ms(now.latency)),
        Cause::Latency => format!("latency grew to {} from {}", ms(now.latency), ms(now.base)),
        Cause::Rejected => "Linq refused requests or did not answer in time".to_owned(),
        Cause::Drift => format!("latency stayed at {} with fewer in flight: Linq's own", ms(now.latency)),
        Cause::Start => "new ceiling".to_owned(),
    };
    format!(
        "concurrency: {} → {} requests in flight at {:.1} s ({why})",
        change.from,
        now.limit,
        change.at.as_secs_f64()
    )
}

/// `1 step`, `3 steps`.
fn steps(n: usize) -> String {
    format!("{n} {}", if n == 1 { "step" } else { "steps" })
}

/// One line saying how a chat ended. Names, ids and Linq's messages are shown escaped.
pub fn describe(report: &ChatReport) -> String {
    let name = match &report.name {
        Some(name) => format!("chat `{}` ({})", Escaped(&report.key), Escaped(name)),
        None => format!("chat `{}`", Escaped(&report.key)),
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
        ChatStatus::Done if report.calls.create > 0 => {
            format!("{name}: created as `{}`, {calls}{pending}", Escaped(&report.id))
        }
        ChatStatus::Done => format!("{name}: done, {calls}{pending}"),
        ChatStatus::Drift => format!("{name}: skipped, it changed outside roster ({})", drift_parts(report)),
        ChatStatus::Failed => format!(
            "{name}: failed {}: {}; {calls}, {} skipped{pending}",
            failed_step(report),
            failure_reason(report),
            steps(report.steps_left)
        ),
        ChatStatus::Stopped => format!("{name}: stopped, {calls}, {} left{pending}", steps(report.steps_left)),
        ChatStatus::CreateNotSettled => {
            let message = report.failure.as_ref().map(|f| Escaped(&f.message).to_string());
            format!(
                "{name}: {}; {} waiting",
                message.unwrap_or_else(|| "create not settled".to_owned()),
                steps(report.steps_left)
            )
        }
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

/// What changed outside roster in a chat skipped for drift: `gone: …; new: …`.
fn drift_parts(report: &ChatReport) -> String {
    let drift = report.drift.as_ref();
    let list = |handles: Option<&Vec<crate::handle::Handle>>| handles.map(code_list).unwrap_or_default();
    let mut parts = Vec::new();
    let missing = list(drift.map(|d| &d.missing));
    if !missing.is_empty() {
        parts.push(format!("gone: {missing}"));
    }
    let unexpected = list(drift.map(|d| &d.unexpected));
    if !unexpected.is_empty() {
        parts.push(format!("new: {unexpected}"));
    }
    parts.join("; ")
}

/// The step a failed chat failed at, in words.
fn failed_step(report: &ChatReport) -> String {
    match report.failure.as_ref().and_then(|f| f.step.as_ref()) {
        Some(Step::Add { handle, .. }) => format!("adding `{handle}`"),
        Some(Step::Remove { handle, .. }) => format!("removing `{handle}`"),
        Some(Step::Wait) => "waiting for earlier changes to land".to_owned(),
        Some(Step::Create) => "creating the chat".to_owned(),
        Some(Step::Name { .. }) => "setting the chat's name".to_owned(),
        Some(Step::Icon { .. }) => "setting the chat's icon".to_owned(),
        None => "reading the chat".to_owned(),
    }
}

/// Why a chat failed: Linq's status, code and message (escaped) and its trace id.
fn failure_reason(report: &ChatReport) -> String {
    let mut reason = String::new();
    if let Some(f) = &report.failure {
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
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{CallCounts, Failure, Pending};

    fn chat(status: ChatStatus, steps_left: usize) -> ChatReport {
        ChatReport {
            id: "c1".to_owned(),
            key: "c1".to_owned(),
            name: None,
            status,
            calls: CallCounts {
                add: 1,
                remove: 0,
                create: 0,
                looks: 0,
            },
            drift: None,
            failure: (status == ChatStatus::Failed).then(|| Failure {
                step: None,
                status: Some(500),
                code: None,
                message: "boom".to_owned(),
                trace_id: None,
            }),
            pending: Pending::default(),
            never_landed: Vec::new(),
            steps_left,
        }
    }

    #[test]
    fn one_step_and_one_chat_are_singular() {
        assert_eq!(
            describe(&chat(ChatStatus::Stopped, 1)),
            "chat `c1`: stopped, 1 added, 0 removed, 1 step left"
        );
        assert_eq!(
            describe(&chat(ChatStatus::Stopped, 2)),
            "chat `c1`: stopped, 1 added, 0 removed, 2 steps left"
        );
        assert_eq!(
            describe(&chat(ChatStatus::Failed, 1)),
            "chat `c1`: failed reading the chat: 500 boom; 1 added, 0 removed, 1 step skipped"
        );
        assert_eq!(bar_message(1), "in 1 chat");
        assert_eq!(bar_message(3), "in 3 chats");
    }
}
