//! Stopping cleanly on a signal: SIGINT (Ctrl-C), SIGTERM and SIGHUP; Ctrl-C only on Windows.
//!
//! The commands that talk to Linq watch for them from their start to their end, before the
//! lock is taken. The first signal asks the command to stop: no new call starts, the calls in
//! flight finish, what Linq accepted is saved, the lock is released, and roster exits with
//! 128 + the signal's number (130, 143, 129). A second signal leaves at once, but releases the
//! lock first: `process::exit` runs no destructors, so the command hands its lock to
//! [`Signals::hold`], where the watcher can reach it. The journal, durable before every call,
//! stays for the next run to settle the calls that were in flight.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;

use crate::state::{LockGuard, LockInfo};
pub use crate::stop::Signal;
use crate::stop::Stop;

/// What a person does to send `signal` again.
fn again(signal: Signal) -> String {
    match signal {
        Signal::Interrupt => "Press Ctrl-C again".to_owned(),
        other => format!("Send {} again", other.name()),
    }
}

/// A command stopped by a signal before its end. Not an error: [`super::execute`] prints the
/// message (what was done and what was not) and exits with the signal's code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Stopped {
    pub signal: Signal,
    pub message: String,
}

/// The lock a command holds, where a second signal can release it.
type Held = Arc<Mutex<Option<Box<dyn LockGuard>>>>;

/// Watches for signals while a command runs, and makes the command's [`Stop`]: the first
/// signal is its reason.
pub struct Signals {
    stop: Stop,
    held: Held,
}

impl Signals {
    /// Starts watching on `runtime`; the handlers are in place when this returns, and from
    /// then on a signal no longer ends the process by itself.
    pub fn watch(runtime: &tokio::runtime::Runtime, quiet: bool) -> anyhow::Result<Signals> {
        let _entered = runtime.enter();
        let mut incoming = Incoming::new().context("failed to watch for signals")?;
        let stop = Stop::new();
        let held: Held = Arc::new(Mutex::new(None));
        let (asked, lock) = (stop.clone(), held.clone());
        runtime.spawn(async move {
            let Some(signal) = incoming.next().await else {
                return;
            };
            asked.signal(signal);
            if !quiet {
                eprintln!(
                    "Stopping ({}): no new call starts; the calls in flight finish, then the lock is released. {} to exit at once.",
                    signal.name(),
                    again(signal)
                );
            }
            let Some(again) = incoming.next().await else {
                return;
            };
            // Release the lock before leaving: nothing after `exit` would.
            drop(lock.lock().unwrap_or_else(PoisonError::into_inner).take());
            eprintln!(
                "Exiting at once ({}): the lock is released; the journal keeps the calls in flight for the next run to settle.",
                again.name()
            );
            std::process::exit(again.exit_code().into());
        });
        Ok(Signals { stop, held })
    }

    /// The first signal, once one came.
    pub fn received(&self) -> Option<Signal> {
        self.stop.signalled()
    }

    /// The command's stop: for the client (and through it the apply engine) and the lock wait.
    pub fn stop(&self) -> Stop {
        self.stop.clone()
    }

    /// Resolves at the first signal (at once when one came already).
    pub async fn first(&self) -> Signal {
        self.stop.first_signal().await
    }

    /// Stops with `message` when a signal came already.
    pub fn check(&self, message: &str) -> Result<(), Stopped> {
        match self.received() {
            Some(signal) => Err(Stopped {
                signal,
                message: message.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Runs `work` (reads that write nothing) unless a signal comes first; then the work is
    /// dropped, calls in flight with it, and the command stops with `message`.
    pub async fn unless_stopped<T>(&self, message: &str, work: impl Future<Output = T>) -> Result<T, Stopped> {
        self.check(message)?;
        tokio::select! {
            done = work => Ok(done),
            signal = self.first() => Err(Stopped { signal, message: message.to_owned() }),
        }
    }

    /// Keeps the command's lock where a second signal can release it; dropping the returned
    /// handle releases it as usual.
    pub fn hold(&self, guard: Box<dyn LockGuard>) -> HeldLock {
        let info = guard.info().clone();
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(guard);
        HeldLock {
            held: self.held.clone(),
            info,
        }
    }
}

/// The command's lock, kept in [`Signals`]; released when dropped.
pub struct HeldLock {
    held: Held,
    info: LockInfo,
}

impl HeldLock {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        drop(self.held.lock().unwrap_or_else(PoisonError::into_inner).take());
    }
}

/// The signals the operating system delivers to roster.
#[cfg(unix)]
struct Incoming {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Incoming {
    fn new() -> std::io::Result<Incoming> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Incoming {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            got = self.interrupt.recv() => got.map(|()| Signal::Interrupt),
            got = self.terminate.recv() => got.map(|()| Signal::Terminate),
            got = self.hangup.recv() => got.map(|()| Signal::Hangup),
        }
    }
}

/// Ctrl-C, the one signal Windows delivers to a console program in this sense.
#[cfg(windows)]
struct Incoming {
    ctrl_c: tokio::signal::windows::CtrlC,
}

#[cfg(windows)]
impl Incoming {
    fn new() -> std::io::Result<Incoming> {
        Ok(Incoming {
            ctrl_c: tokio::signal::windows::ctrl_c()?,
        })
    }

    async fn next(&mut self) -> Option<Signal> {
        self.ctrl_c.recv().await.map(|()| Signal::Interrupt)
    }
}
