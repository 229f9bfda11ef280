//! Waiting for changes to show: the one loop that reads a chat until what it shows is enough,
//! for apply's `wait` steps and for settling an interrupted run's calls.

use std::time::Duration;

use tokio::time::Instant;

use crate::linq::{Chat, Client, LinqError};
use crate::stop::Stop;

/// How a poll spaces its reads of the chat.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Read before the first pause. A change just made never shows at once, so a poll that
    /// follows a call pauses first.
    pub read_at_once: bool,
    /// The first pause.
    pub first: Duration,
    /// Each pause is this many times the one before, up to `longest`.
    pub growth: f64,
    pub longest: Duration,
    /// Give up once the next read would come later than this after the poll began.
    pub timeout: Duration,
}

/// Why a poll ended before the chat showed enough.
#[derive(Debug)]
pub enum PollEnd {
    /// The timeout passed.
    TimedOut,
    /// The run stopped (a signal or a halt).
    Stopped,
    /// A read failed.
    Failed(LinqError),
}

/// Reads `chat` until `enough` says what it shows is enough, pausing between reads as
/// `schedule` says. A `stop`, when given, ends the poll before a pause, during one (at once)
/// and after it; without one only the timeout ends it.
pub async fn poll(
    client: &Client,
    chat: &str,
    schedule: &Schedule,
    stop: Option<&Stop>,
    mut enough: impl FnMut(&Chat) -> bool,
) -> Result<(), PollEnd> {
    let deadline = Instant::now() + schedule.timeout;
    let mut pause = schedule.first;
    let mut pause_first = !schedule.read_at_once;
    let stopped = || stop.is_some_and(Stop::is_stopped);
    loop {
        if pause_first {
            if stopped() {
                return Err(PollEnd::Stopped);
            }
            match stop {
                Some(stop) => tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stop.stopped() => return Err(PollEnd::Stopped),
                },
                None => tokio::time::sleep(pause).await,
            }
            // The whole run may have stopped while this chat slept.
            if stopped() {
                return Err(PollEnd::Stopped);
            }
        }
        pause_first = true;
        let live = client.get_chat(chat).await.map_err(PollEnd::Failed)?;
        if enough(&live) {
            return Ok(());
        }
        pause = pause.mul_f64(schedule.growth).min(schedule.longest);
        if Instant::now() + pause > deadline {
            return Err(PollEnd::TimedOut);
        }
    }
}
