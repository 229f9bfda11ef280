//! Taking and clearing the lock, written once for both backends: the wait for a lock another
//! run holds (try, look again every little while, name the holder once the wait runs out,
//! stop when asked) and `force-unlock`'s refusals. A backend says only how one try goes, who
//! holds the lock, and how its lock is removed ([`Locking`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{LockGuard, LockInfo, LockWait, StateError};

/// What a backend's lock does, for [`wait`] and [`force_unlock`].
pub(super) trait Locking {
    /// The state, for messages.
    fn state_name(&self) -> String;
    /// Where the lock is, for messages: the lock file, or the database state.
    fn lock_place(&self) -> String;
    /// The lock file, for a backend that has one: named when there is no lock to clear.
    fn lock_file(&self) -> Option<PathBuf> {
        None
    }
    /// How long a waiting run waits between tries.
    fn poll(&self) -> Duration;
    /// One try at the lock, never waiting: the lock, or who holds it when the try saw that.
    fn try_lock(&self, info: &LockInfo) -> Result<Attempt, StateError>;
    /// Who holds the lock now, if anyone.
    fn read_lock(&self) -> Result<Option<LockInfo>, StateError>;
    /// Removes the lock if `id` is its holder's.
    fn remove_lock(&self, id: &str) -> Result<Unlock, StateError>;
}

/// How one try at the lock went.
pub(super) enum Attempt {
    Taken(Box<dyn LockGuard>),
    /// Another run holds it: named when the try read its holder.
    Held(Option<LockInfo>),
}

/// How a removal of the lock went.
pub(super) enum Unlock {
    /// The lock of this holder is gone.
    Removed(LockInfo),
    /// Nobody holds the lock.
    Free,
    /// Another holder has it, and keeps it.
    HeldBy(LockInfo),
}

/// Takes the lock for `info`, trying again every [`Locking::poll`] until `wait.timeout` has
/// passed (then the holder is named) or `wait`'s stop token says to stop.
pub(super) fn wait(
    backend: &impl Locking,
    info: &LockInfo,
    wait: &LockWait<'_>,
) -> Result<Box<dyn LockGuard>, StateError> {
    let deadline = Instant::now() + wait.timeout;
    loop {
        if wait.stopped() {
            return Err(StateError::LockWaitStopped {
                lock: backend.lock_place(),
            });
        }
        let holder = match backend.try_lock(info)? {
            Attempt::Taken(guard) => return Ok(guard),
            Attempt::Held(holder) => holder,
        };
        if Instant::now() >= deadline {
            let holder = match holder {
                Some(holder) => Some(holder),
                None => backend.read_lock()?,
            };
            let lock = backend.lock_place();
            return Err(match holder {
                Some(holder) => StateError::Locked {
                    lock,
                    running_here: holder.host == info.host && process_runs(holder.pid),
                    holder: Box::new(holder),
                },
                None => StateError::LockReleased { lock },
            });
        }
        std::thread::sleep(backend.poll().min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Whether process `pid` of this host may still run. Linux's `/proc` answers cheaply (a zombie
/// has closed its files, so it counts as gone); elsewhere the free OS lock is the answer.
pub(super) fn process_runs(pid: u32) -> bool {
    // A pid recorded by an earlier process and now ours: this process holds no other lock.
    if pid == std::process::id() {
        return false;
    }
    if cfg!(target_os = "linux") && Path::new("/proc/self/stat").exists() {
        return match fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state letter follows the command name, which is in parentheses.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_none_or(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
            Err(_) => false,
        };
    }
    false
}

/// Clears the lock of the holder with id `id`, left by a killed run.
pub(super) fn force_unlock(backend: &impl Locking, id: &str) -> Result<LockInfo, StateError> {
    match backend.remove_lock(id)? {
        Unlock::Removed(holder) => Ok(holder),
        Unlock::Free => Err(StateError::NotLocked {
            state: backend.state_name(),
            lock_file: backend.lock_file(),
        }),
        Unlock::HeldBy(holder) => Err(StateError::WrongLockId {
            given: id.to_owned(),
            state: backend.state_name(),
            held: holder.id,
        }),
    }
}
