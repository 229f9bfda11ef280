//! How a workflow's progress reaches the user ([`Shown`]): bars on a terminal, status lines
//! on stderr.

use indicatif::ProgressBar;

use super::Ui;
use crate::ops::{self, Event};
use crate::render;

/// What settling a journal found, in one line.
fn settled_line(settled: &ops::JournalSettled) -> String {
    let creates = settled.created + settled.create_again + settled.create_open;
    let mut parts = Vec::new();
    if settled.landed + settled.not_made > 0 || creates == 0 {
        parts.push(format!(
            "{} landed, {} not made",
            render::count(settled.landed, "call", "calls"),
            settled.not_made
        ));
    }
    if creates > 0 {
        parts.push(format!(
            "of {}, {} found, {} made nothing (sent again when applied), {} not settled",
            render::count(creates, "create", "creates"),
            settled.created,
            settled.create_again,
            settled.create_open
        ));
    }
    format!("Settled the journal of an interrupted run: {}.", parts.join("; "))
}

/// A workflow's progress as the user sees it: bars on a terminal, status lines on stderr.
pub(in crate::run) struct Shown<'a> {
    ui: &'a mut Ui,
    bar: Option<ProgressBar>,
}

impl<'a> Shown<'a> {
    pub fn new(ui: &'a mut Ui) -> Shown<'a> {
        Shown { ui, bar: None }
    }

    pub fn show(&mut self, event: Event) {
        match event {
            Event::Settling { calls, chats, grace } => self.ui.status(format!(
                "Settling the journal of an interrupted run: reading {} to learn whether {} of unknown outcome landed, waiting up to {}s a chat...",
                render::count(chats, "chat", "chats"),
                render::count(calls, "call", "calls"),
                grace.as_secs_f64()
            )),
            Event::SettlingCreates(creates) => self.ui.status(format!(
                "Settling the journal of an interrupted run: looking for the chats of {} of unknown outcome...",
                render::count(creates, "create", "creates"),
            )),
            Event::Settled(settled) => self.ui.status(settled_line(&settled)),
            Event::Listing => self.bar = Some(self.ui.progress(None, "listing chats")),
            Event::Reading(chats) => self.bar = Some(self.ui.progress(Some(chats), "reading chats")),
            Event::Listed(chats) => self.inc(chats),
            Event::Read => self.inc(1),
            Event::DoneReading => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            Event::SkippedDirect(chats) => self.ui.status(format!(
                "Skipped {}: Linq cannot change their members.",
                render::count(chats, "direct-message chat", "direct-message chats")
            )),
        }
    }

    fn inc(&self, by: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(by as u64);
        }
    }
}
