//! Stopping a command: one [`Stop`] token per command, and why it stops.
//!
//! A command stops for one of two kinds of reason, and they differ in what still goes out:
//!
//! 1. A [`Signal`] (SIGINT, SIGTERM, SIGHUP) asks the command to stop: no add or remove starts
//!    that had not started, the calls in flight finish, and reads still go out (they settle
//!    what was sent). A failed attempt is not tried again, and a pause before a retry or
//!    between two reads of a chat ends at once. A chat cut short reports `stopped`.
//! 2. A [`Halt`] ends the run: Linq refused the API token (`401`), or progress could no longer
//!    be recorded (a journal that cannot be written). Nothing goes out after it, not even a
//!    read, and not a call that was waiting for its turn.
//!
//! The token is made once, where the command starts watching for signals, and every part that
//! stops holds a clone of it: the Linq client (before each request it sends, and in its
//! pauses), the apply engine (before a chat, before a step), the poller (in its sleeps), the
//! workflows of `ops` (which drop their reads at a signal, before anything is written) and the
//! wait for the state lock. Asking is cheap; [`Stop::stopped`] waits for it. The first signal
//! and the first halt are kept, each once, whichever comes first; a second signal is the
//! signal watch's (it exits at once).

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// The stop of one command. Cheap to clone; every clone is the same token.
#[derive(Debug, Clone)]
pub struct Stop {
    reasons: Arc<watch::Sender<Reasons>>,
}

/// What stopped the command so far.
#[derive(Debug, Clone, Default)]
struct Reasons {
    signal: Option<Signal>,
    halt: Option<Halt>,
}

/// A signal that stops roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, Ctrl-C.
    Interrupt,
    /// SIGTERM, as CI runners send to cancel a job.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl Signal {
    /// 128 + the signal's number, as shells report a process the signal ended.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
            Signal::Hangup => 129,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }
}

/// Why a run halted: nothing goes out after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// Linq refused the API token (`401`), as its answer says: every call would be refused.
    Unauthorized(String),
    /// A record of the journal could not be written (the store's error): a call made past this
    /// point could not be recovered after a crash.
    Unrecorded(String),
    /// The journal could not be begun (the store's error): no call was made.
    Unbegun(String),
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Halt::Unauthorized(answer) => write!(f, "Linq refused the API token: {answer}"),
            Halt::Unrecorded(error) => write!(f, "cannot record progress, so no further calls are made: {error}"),
            Halt::Unbegun(error) => f.write_str(error),
        }
    }
}

/// Why a command stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Signal(Signal),
    Halt(Halt),
}

/// A request that wants to start, as the rules above tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A read: it still goes out after a signal.
    Read,
    /// An add or a remove.
    Change,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// A token nothing stopped yet.
    pub fn new() -> Stop {
        Stop {
            reasons: Arc::new(watch::Sender::new(Reasons::default())),
        }
    }

    /// Asks the command to stop for `signal`; only the first signal is kept.
    pub fn signal(&self, signal: Signal) {
        self.reasons.send_if_modified(|reasons| {
            let first = reasons.signal.is_none();
            reasons.signal.get_or_insert(signal);
            first
        });
    }

    /// Halts the run for `halt`; only the first halt is kept.
    pub fn halt(&self, halt: Halt) {
        self.reasons.send_if_modified(|reasons| {
            let first = reasons.halt.is_none();
            reasons.halt.get_or_insert(halt);
            first
        });
    }

    /// The first signal, once one came.
    pub fn signalled(&self) -> Option<Signal> {
        self.reasons.borrow().signal
    }

    /// Why the run halted, once it did.
    pub fn halted(&self) -> Option<Halt> {
        self.reasons.borrow().halt.clone()
    }

    pub fn is_halted(&self) -> bool {
        self.reasons.borrow().halt.is_some()
    }

    /// True once anything stopped the command: a signal or a halt.
    pub fn is_stopped(&self) -> bool {
        let reasons = self.reasons.borrow();
        reasons.signal.is_some() || reasons.halt.is_some()
    }

    /// Why the command stops, the halt first (it stops more), once anything stopped it.
    pub fn reason(&self) -> Option<Reason> {
        let reasons = self.reasons.borrow();
        match (&reasons.halt, reasons.signal) {
            (Some(halt), _) => Some(Reason::Halt(halt.clone())),
            (None, Some(signal)) => Some(Reason::Signal(signal)),
            (None, None) => None,
        }
    }

    /// Why `request` may not start now (rules 1 and 2): after a halt nothing starts, after a
    /// signal no add or remove. `None` when it may.
    pub fn forbids(&self, request: Request) -> Option<Reason> {
        match self.reason()? {
            Reason::Signal(_) if request == Request::Read => None,
            reason => Some(reason),
        }
    }

    /// Resolves once anything stopped the command (at once when something did already).
    pub async fn stopped(&self) {
        self.wait_for(|reasons| reasons.signal.is_some() || reasons.halt.is_some())
            .await;
    }

    /// Resolves at the first signal (at once when one came already); a halt does not end it.
    pub async fn first_signal(&self) -> Signal {
        self.wait_for(|reasons| reasons.signal.is_some()).await;
        self.signalled().expect("waited for a signal")
    }

    async fn wait_for(&self, done: impl Fn(&Reasons) -> bool) {
        let mut reasons = self.reasons.subscribe();
        // The sender lives as long as this token, so the wait ends only when `done` holds.
        let _ = reasons.wait_for(done).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_signal_reads_still_go_out_and_after_a_halt_nothing_does() {
        let stop = Stop::new();
        assert!(!stop.is_stopped());
        assert_eq!(stop.forbids(Request::Change), None);
        stop.signal(Signal::Terminate);
        stop.signal(Signal::Interrupt);
        assert_eq!(stop.signalled(), Some(Signal::Terminate), "the first signal is kept");
        assert_eq!(stop.forbids(Request::Read), None);
        assert_eq!(stop.forbids(Request::Change), Some(Reason::Signal(Signal::Terminate)));
        assert!(!stop.is_halted());

        let halt = Halt::Unrecorded("disk full".to_owned());
        stop.halt(halt.clone());
        stop.halt(Halt::Unauthorized("401".to_owned()));
        assert_eq!(stop.halted(), Some(halt.clone()), "the first halt is kept");
        assert_eq!(stop.forbids(Request::Read), Some(Reason::Halt(halt.clone())));
        assert_eq!(stop.reason(), Some(Reason::Halt(halt)));
        assert_eq!(stop.signalled(), Some(Signal::Terminate), "the signal stays known");
    }

    #[test]
    fn a_halt_reads_as_the_run_reports_it() {
        assert_eq!(
            Halt::Unauthorized("Linq answered 401: no".to_owned()).to_string(),
            "Linq refused the API token: Linq answered 401: no"
        );
        assert_eq!(
            Halt::Unrecorded("lock lost".to_owned()).to_string(),
            "cannot record progress, so no further calls are made: lock lost"
        );
        assert_eq!(Halt::Unbegun("lock lost".to_owned()).to_string(), "lock lost");
    }

    /// A wait ends when a clone of the token is stopped, and a halt does not end a wait for a
    /// signal; the order of events says so, no clock.
    #[tokio::test]
    async fn waits_end_when_any_clone_is_stopped() {
        let stop = Stop::new();
        let waiting = tokio::spawn({
            let stop = stop.clone();
            async move {
                stop.stopped().await;
                stop.reason()
            }
        });
        let signal = tokio::spawn({
            let stop = stop.clone();
            async move { stop.first_signal().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished() && !signal.is_finished());
        stop.halt(Halt::Unbegun("gone".to_owned()));
        let reason = waiting.await.unwrap();
        assert_eq!(reason, Some(Reason::Halt(Halt::Unbegun("gone".to_owned()))));
        tokio::task::yield_now().await;
        assert!(!signal.is_finished(), "a halt is no signal");
        stop.signal(Signal::Hangup);
        assert_eq!(signal.await.unwrap(), Signal::Hangup);
        // Once stopped, a wait ends at once.
        stop.stopped().await;
    }
}
