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
    /// When given, the first pause counts from this moment (the answer of the change waited
    /// for) instead of from the poll's start, and ends `ahead` sooner: the read then comes
    /// back about `first` after that answer rather than going out then.
    pub since: Option<Instant>,
    pub ahead: Duration,
    /// The pause after the first read; each later one is `growth` times the one before, up to
    /// `longest`.
    pub then: Duration,
    pub growth: f64,
    pub longest: Duration,
    /// Give up once the next read would come later than this after the poll began.
    pub timeout: Duration,
}

impl Schedule {
    /// When the first read goes out, for a poll that began at `began`: at once, or after the
    /// first pause, counted from `since` and `ahead` sooner, but never before `began`.
    pub fn first_read(&self, began: Instant) -> Instant {
        if self.read_at_once {
            return began;
        }
        let since = self.since.map_or(began, |since| since.min(began));
        (since + self.first)
            .checked_sub(self.ahead)
            .map_or(began, |at| at.max(began))
    }
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
    let began = Instant::now();
    let deadline = began + schedule.timeout;
    let mut wake = schedule.first_read(began);
    let mut pause = schedule.then;
    let mut pause_first = !schedule.read_at_once;
    let stopped = || stop.is_some_and(Stop::is_stopped);
    loop {
        if pause_first {
            if stopped() {
                return Err(PollEnd::Stopped);
            }
            match stop {
                Some(stop) => tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    () = stop.stopped() => return Err(PollEnd::Stopped),
                },
                None => tokio::time::sleep_until(wake).await,
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
        wake = Instant::now() + pause;
        pause = pause.mul_f64(schedule.growth).min(schedule.longest);
        if wake > deadline {
            return Err(PollEnd::TimedOut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn schedule(since: Option<Instant>, ahead: Duration) -> Schedule {
        Schedule {
            read_at_once: false,
            first: ms(100),
            since,
            ahead,
            then: ms(25),
            growth: 1.5,
            longest: ms(1000),
            timeout: ms(10_000),
        }
    }

    #[test]
    fn the_first_read_is_aimed_from_the_answer_waited_for() {
        let answer = Instant::now();
        let began = answer + ms(7);
        // Counted from the answer, not from when the poll began (after the answer's journal
        // record and the read's turn), and the read's own latency sooner.
        assert_eq!(schedule(Some(answer), ms(20)).first_read(began), answer + ms(80));
        assert_eq!(schedule(Some(answer), ms(0)).first_read(began), answer + ms(100));
        // Without an answer to count from: the whole pause from the poll's start.
        assert_eq!(schedule(None, ms(0)).first_read(began), began + ms(100));
    }

    #[test]
    fn the_first_read_never_goes_out_before_the_poll_began() {
        let answer = Instant::now();
        // The answer is long past (a wait after a slow journal write): read at once.
        let began = answer + ms(150);
        assert_eq!(schedule(Some(answer), ms(20)).first_read(began), began);
        // Asked to read before the pause even started.
        let early = schedule(Some(answer), ms(500));
        assert_eq!(early.first_read(answer), answer);
        let at_once = Schedule {
            read_at_once: true,
            ..schedule(Some(answer), ms(20))
        };
        assert_eq!(at_once.first_read(began), began);
    }
}
