//! Where a command's output goes ([`Ui`]): results to stdout, progress and diagnostics to
//! stderr, in the one style roster uses.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::apply::{BarProgress, LineProgress, NoProgress, Progress, TimingsProgress};
use crate::escape::Escaped;
use crate::render::{self, Paint, TextOptions};

/// Where output goes: results to `out`, progress and diagnostics to `err`.
pub struct Ui {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
    /// Colour on stdout (a terminal, and no `--no-color`/`NO_COLOR`).
    pub out_color: bool,
    /// Colour on stderr.
    pub err_color: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// Progress may redraw in place (stderr is a terminal).
    pub interactive: bool,
}

impl Ui {
    /// A status line on stderr, unless `--quiet`; control characters in it are shown escaped.
    pub fn status(&mut self, message: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(self.err, "{}", crate::escape::escape(&message.to_string()));
        }
    }

    /// A warning on stderr, shown even with `--quiet`: it is about the result.
    pub fn warn(&mut self, message: &str) {
        let paint = Paint::new(self.err_color);
        let _ = writeln!(self.err, "{} {}", paint.note("warning:"), Escaped(message));
    }

    /// An error in the one style roster uses (`error: …`, `hint: …`).
    pub fn error(&mut self, message: &str, hint: Option<&str>) {
        let _ = render::error(&mut *self.err, self.err_color, message, hint);
    }

    /// A progress bar on stderr counting to `len` (a spinner counting up without one), on a
    /// terminal only and not with `--quiet`.
    pub fn progress(&self, len: Option<usize>, message: &'static str) -> ProgressBar {
        if !self.interactive || self.quiet {
            return ProgressBar::hidden();
        }
        let (bar, template) = match len {
            Some(len) => (ProgressBar::new(len as u64), "{spinner} {msg} [{bar:30}] {pos}/{len}"),
            None => (ProgressBar::new_spinner(), "{spinner} {msg}: {pos}"),
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// How apply shows its progress: a bar on a terminal, a line per chat in CI, nothing with
    /// `--quiet`; with `--verbose` the limit on requests in flight as it changes, with `timings`
    /// every decision of the limiter (on stderr, even when quiet).
    pub fn apply_progress(&self, timings: bool) -> Box<dyn Progress> {
        let verbose = self.verbose;
        match (self.quiet, self.interactive, timings) {
            (true, _, false) => Box::new(NoProgress),
            (true, _, true) => Box::new(TimingsProgress::new(NoProgress, std::io::stderr())),
            (false, true, false) => Box::new(BarProgress::new().verbose(verbose)),
            (false, true, true) => Box::new(TimingsProgress::new(
                BarProgress::new().verbose(verbose),
                std::io::stderr(),
            )),
            (false, false, false) => Box::new(LineProgress::new(std::io::stderr()).verbose(verbose)),
            (false, false, true) => Box::new(TimingsProgress::new(
                LineProgress::new(std::io::stderr()).verbose(verbose),
                std::io::stderr(),
            )),
        }
    }

    /// Text options without a clock: pending changes show when, not how long ago.
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            color: self.out_color,
            verbose: self.verbose,
            now: None,
        }
    }
}
