//! The local file backend: `roster.state.json` with its `.backup`, `.lock` and `.journal`.
//!
//! Writes go to a temporary file in the same folder, are synced, and replace the state with a
//! rename, after the previous state has been linked to `.backup`; so after a crash at any
//! instant the state file is either the old or the new document, never a torn one.
//!
//! A state path that is a symbolic link is followed: the file it leads to is the one read and
//! replaced, and the backup, lock and journal live beside that file, so two links to one state
//! share one lock. A link that leads nowhere is refused rather than replaced.
//!
//! # The lock
//!
//! The lock file names its holder, and the holder also keeps an OS lock (`flock`, a shared
//! one) on the lock file's inode for as long as it runs; the OS drops it when the process
//! ends, however it ends. So a run that finds a lock file can tell a live holder from a gone
//! one:
//!
//! 1. A lock file is created whole and already OS-locked: written aside, locked, then linked
//!    into place, which fails when one exists.
//! 2. A run that finds one takes an exclusive OS lock on it (never waiting). That fails while
//!    the holder runs.
//! 3. Holding it, the run checks that the lock path still leads to that inode (another run may
//!    have broken and replaced it meanwhile), that the holder ran on this host, and, where that
//!    is cheap to know, that its pid no longer runs. Then it renames its own lock file over the
//!    path: only the inode it holds the OS lock on is ever replaced, so of two runs breaking one
//!    stale lock, one wins and the other finds the winner's lock held.
//! 4. A holder unlinks its lock file while it still holds the OS lock, so a lock being released
//!    is never taken for a stale one.
//!
//! A lock from another host still needs `roster force-unlock ID`: its holder may be running.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::atomic::{self, resolve, sibling};
use super::error::JournalPlace;
use super::lock::{self, process_runs, Attempt, Locking, Unlock};
use super::{parse_state, JournalRecord, LockGuard, LockInfo, LockWait, State, StateError, StateStore, Version};

/// How often a run waiting for the lock looks again.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// The state kept in a local JSON file.
#[derive(Debug)]
pub struct FileStore {
    /// The state path as given (`--state`), for messages.
    given: PathBuf,
    /// The file read and replaced: `given`, or where its symbolic links lead.
    path: PathBuf,
    /// Why `given` cannot be used: a symbolic link that leads nowhere.
    broken_link: Option<String>,
    /// The journal, opened on first append and kept open for the run.
    journal: Mutex<JournalFile>,
}

#[derive(Debug, Default)]
struct JournalFile {
    file: Option<File>,
    /// A failed append left bytes that could not be cut off: nothing more may follow them.
    torn: bool,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        let given = path.into();
        let (path, broken_link) = match resolve(&given) {
            Ok(target) => (target, None),
            Err((target, problem)) => (target, Some(problem)),
        };
        FileStore {
            given,
            path,
            broken_link,
            journal: Mutex::new(JournalFile::default()),
        }
    }

    /// The state file itself: the given path, or the file its symbolic links lead to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `roster.state.json.backup`: the previous state, kept by every write.
    pub fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".backup")
    }

    /// `roster.state.json.lock`: present while a run that may write holds the state.
    pub fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    /// `roster.state.json.journal`: calls made by a run whose results are not yet saved.
    pub fn journal_path(&self) -> PathBuf {
        sibling(&self.path, ".journal")
    }

    /// Refuses a state path that is a symbolic link leading nowhere.
    fn usable(&self) -> Result<(), StateError> {
        match &self.broken_link {
            Some(problem) => Err(StateError::BrokenLink(problem.clone())),
            None => Ok(()),
        }
    }

    /// A lock file holding `bytes`, written aside and already OS-locked (shared: readers of
    /// the holder's name are never blocked, and a breaker's exclusive lock fails).
    fn new_lock_file(&self, bytes: &[u8]) -> io::Result<(PathBuf, File)> {
        let temp = atomic::temp_path(&self.path, "lock");
        let mut file = OpenOptions::new().read(true).write(true).create_new(true).open(&temp)?;
        // A file system without OS locks leaves the lock file to the force-unlock of old:
        // nobody can take an exclusive lock on it there either, so it never counts as stale.
        let _ = file.lock_shared();
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(error) = written {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        Ok((temp, file))
    }

    fn sync_folder(&self) -> io::Result<()> {
        atomic::sync_folder(&self.path)
    }

    /// An I/O failure reading the lock file.
    fn lock_read_error(path: &Path) -> impl Fn(io::Error) -> StateError + '_ {
        move |error| StateError::io(format!("failed to read lock file `{}`", path.display()), error)
    }

    /// Looks at a lock file found in place (rules 2 and 3 of the module doc).
    fn probe(&self, path: &Path, host: &str) -> Result<Probe, StateError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Probe::Moved),
            Err(error) => return Err(Self::lock_read_error(path)(error)),
        };
        match file.try_lock() {
            Ok(()) => {}
            // Its holder runs; or OS locks are not available here, and only force-unlock helps.
            Err(TryLockError::WouldBlock | TryLockError::Error(_)) => return Ok(Probe::Held),
        }
        // Unreadable: left for the holder's name to fail on, with its own message.
        let Ok(holder) = serde_json::from_reader::<_, LockInfo>(&file) else {
            return Ok(Probe::Held);
        };
        if !still_at(path, &file, &holder.id) {
            return Ok(Probe::Moved);
        }
        if holder.host != host || process_runs(holder.pid) {
            return Ok(Probe::Held);
        }
        Ok(Probe::Stale(file, holder))
    }

    /// One try at linking a lock file of ours into place, breaking a stale one (rules 1 to 3
    /// of the module doc): the lock file taken and the holder it replaced, or `None` when held.
    fn link_lock(&self, info: &LockInfo, bytes: &[u8]) -> Result<Option<(File, Option<LockInfo>)>, StateError> {
        let path = self.lock_path();
        let context = |error| StateError::io(format!("failed to create lock file `{}`", path.display()), error);
        loop {
            let (temp, file) = self.new_lock_file(bytes).map_err(context)?;
            let taken = match fs::hard_link(&temp, &path) {
                Ok(()) => Ok(Some(None)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => match self.probe(&path, &info.host) {
                    // Still holding the OS lock on the stale inode: replace exactly it.
                    Ok(Probe::Stale(old, holder)) => {
                        let replaced = fs::rename(&temp, &path);
                        drop(old);
                        replaced.map(|()| Some(Some(holder))).map_err(context)
                    }
                    Ok(Probe::Moved) => {
                        let _ = fs::remove_file(&temp);
                        continue;
                    }
                    Ok(Probe::Held) => Ok(None),
                    Err(error) => Err(error),
                },
                Err(error) => Err(context(error)),
            };
            // Gone already when it was renamed into place.
            let _ = fs::remove_file(&temp);
            return Ok(taken?.map(|broke| (file, broke)));
        }
    }

    /// Writes `state` as it is, keeping the previous file as the backup.
    fn replace_state(&self, state: &State) -> Result<(), StateError> {
        self.usable()?;
        let context = || format!("failed to write state file `{}`", self.path.display());
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|error| StateError::Encode {
            context: context(),
            error,
        })?;
        bytes.push(b'\n');
        let temp = atomic::write_temp(&self.path, "new", &bytes).map_err(|e| StateError::io(context(), e))?;
        let result = (|| -> io::Result<()> {
            if self.path.exists() {
                // Link the current state to a temporary name, then rename it over the backup:
                // the backup is replaced atomically and the state file never goes missing.
                let backup_temp = sibling(&temp, ".backup");
                fs::hard_link(&self.path, &backup_temp).or_else(|_| fs::copy(&self.path, &backup_temp).map(drop))?;
                fs::rename(&backup_temp, self.backup_path())?;
            }
            fs::rename(&temp, &self.path)?;
            self.sync_folder()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(|e| StateError::io(context(), e))
    }

    /// The state in `path` and when it was written, if there is one; `refused` says what a
    /// state that does not parse is called.
    fn read_state(&self, path: &Path, refused: &str) -> Result<Option<(State, Option<String>)>, StateError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(StateError::io(
                    format!("failed to read state file `{}`", path.display()),
                    error,
                ))
            }
        };
        let state = parse_state(&bytes).map_err(|reason| StateError::Refused {
            what: format!("state file `{}` {refused}", path.display()),
            reason,
        })?;
        let written = fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .map(|at| humantime::format_rfc3339_millis(at).to_string());
        Ok(Some((state, written)))
    }

    /// The lines of the journal file, each parsed; a torn last line is left out.
    fn parse_journal(path: &Path, text: &[u8]) -> Result<Vec<JournalRecord>, StateError> {
        let mut records = Vec::new();
        let mut lines = text.split(|&b| b == b'\n').peekable();
        let mut number = 0;
        while let Some(line) = lines.next() {
            number += 1;
            let last = lines.peek().is_none();
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice(line) {
                Ok(record) => records.push(record),
                // A record torn by a crash mid-write is the last one and was never acted on:
                // its call went out only after the record was durable.
                Err(_) if last => break,
                Err(error) => {
                    let at = JournalPlace::Line {
                        path: path.to_path_buf(),
                        line: number,
                    };
                    return Err(corrupt_journal(at, &error));
                }
            }
        }
        Ok(records)
    }
}

/// What a run found in the lock file's place.
enum Probe {
    /// Held by a live run, or one roster cannot prove gone.
    Held,
    /// Released or replaced while looking: look again at once.
    Moved,
    /// Left by a run of this host that is gone; the file is OS-locked exclusively by us.
    Stale(File, LockInfo),
}

/// Whether `path` still leads to the open `file` (the lock with id `id`).
#[cfg(unix)]
fn still_at(path: &Path, file: &File, _id: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(found)) => open.dev() == found.dev() && open.ino() == found.ino(),
        _ => false,
    }
}

/// Whether `path` still leads to the open `file` (the lock with id `id`): without inode
/// numbers, the lock id it holds tells.
#[cfg(not(unix))]
fn still_at(path: &Path, _file: &File, id: &str) -> bool {
    fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<LockInfo>(&bytes).ok())
        .is_some_and(|holder| holder.id == id)
}

/// `records` as the journal holds them: one JSON line each.
fn journal_lines(records: &[JournalRecord], context: &dyn Fn() -> String) -> Result<Vec<u8>, StateError> {
    let mut buffer = Vec::with_capacity(records.len() * 96);
    for record in records {
        serde_json::to_writer(&mut buffer, record).map_err(|error| StateError::Encode {
            context: context(),
            error,
        })?;
        buffer.push(b'\n');
    }
    Ok(buffer)
}

/// A journal record that does not parse, at `at`: serde's reason without its position (the
/// place names it).
pub(super) fn corrupt_journal(at: JournalPlace, error: &serde_json::Error) -> StateError {
    let mut reason = error.to_string();
    if let Some(cut) = reason.rfind(" at line ") {
        reason.truncate(cut);
    }
    StateError::CorruptJournal {
        at,
        column: error.column(),
        reason,
    }
}

impl Locking for FileStore {
    fn state_name(&self) -> String {
        self.describe()
    }

    fn lock_place(&self) -> String {
        self.lock_path().display().to_string()
    }

    fn lock_file(&self) -> Option<PathBuf> {
        Some(self.lock_path())
    }

    fn poll(&self) -> Duration {
        LOCK_POLL
    }

    fn try_lock(&self, info: &LockInfo) -> Result<Attempt, StateError> {
        self.usable()?;
        let bytes = serde_json::to_vec_pretty(info).map_err(|error| StateError::Encode {
            context: format!("failed to create lock file `{}`", self.lock_path().display()),
            error,
        })?;
        let Some((file, broke)) = self.link_lock(info, &bytes)? else {
            return Ok(Attempt::Held(None));
        };
        let _ = self.sync_folder();
        Ok(Attempt::Taken(Box::new(FileLock {
            path: self.lock_path(),
            info: info.clone(),
            file,
            broke,
        })))
    }

    fn read_lock(&self) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| StateError::LockUnreadable { path, error }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(Self::lock_read_error(&path)(error)),
        }
    }

    fn remove_lock(&self, id: &str) -> Result<Unlock, StateError> {
        let path = self.lock_path();
        let Some(holder) = self.read_lock()? else {
            return Ok(Unlock::Free);
        };
        if holder.id != id {
            return Ok(Unlock::HeldBy(holder));
        }
        fs::remove_file(&path)
            .map_err(|e| StateError::io(format!("failed to remove lock file `{}`", path.display()), e))?;
        Ok(Unlock::Removed(holder))
    }
}

impl StateStore for FileStore {
    fn describe(&self) -> String {
        self.given.display().to_string()
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        self.usable()?;
        let loaded = self.read_state(&self.path, "was refused and left untouched")?;
        Ok(loaded.map(|(state, _)| state))
    }

    /// The lock makes the file this run's alone: `read` was checked under it.
    fn replace(&self, state: &State, _read: Option<u64>) -> Result<(), StateError> {
        self.replace_state(state)
    }

    fn lock(&self, info: LockInfo, wait: &LockWait<'_>) -> Result<Box<dyn LockGuard>, StateError> {
        lock::wait(self, &info, wait)
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        lock::force_unlock(self, id)
    }

    fn append_journal(&self, records: &[JournalRecord]) -> Result<(), StateError> {
        let path = self.journal_path();
        let context = || format!("failed to write journal `{}`", path.display());
        let buffer = journal_lines(records, &context)?;
        let io_error = |error| StateError::io(context(), error);
        let mut journal = self.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if journal.torn {
            return Err(StateError::TornJournal(path));
        }
        if journal.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_error)?;
            self.sync_folder().map_err(io_error)?;
            journal.file = Some(file);
        }
        let file = journal.file.as_mut().expect("journal opened above");
        let length = file.metadata().map_err(io_error)?.len();
        let written = file.write_all(&buffer).and_then(|()| file.sync_data());
        if let Err(error) = written {
            // Part of the records may be on disk: cut them off, or a later record would turn
            // the fragment into a corrupt line in the middle of the journal.
            if file.set_len(length).and_then(|()| file.sync_data()).is_err() {
                journal.torn = true;
            }
            return Err(io_error(error));
        }
        Ok(())
    }

    fn read_journal(&self) -> Result<Vec<JournalRecord>, StateError> {
        let path = self.journal_path();
        match fs::read(&path) {
            Ok(text) => Self::parse_journal(&path, &text),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(StateError::io(
                format!("failed to read journal `{}`", path.display()),
                error,
            )),
        }
    }

    fn describe_journal(&self) -> String {
        self.journal_path().display().to_string()
    }

    /// A temporary file renamed over the journal: the old journal or the new, whatever crash.
    fn replace_journal(&self, records: &[JournalRecord]) -> Result<(), StateError> {
        if records.is_empty() {
            return self.clear_journal();
        }
        let path = self.journal_path();
        let context = || format!("failed to write journal `{}`", path.display());
        let buffer = journal_lines(records, &context)?;
        // The next append opens the new file.
        *self.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = JournalFile::default();
        super::write_atomic(&path, &buffer).map_err(|error| StateError::io(context(), error))
    }

    fn clear_journal(&self) -> Result<(), StateError> {
        let path = self.journal_path();
        let context = |error| StateError::io(format!("failed to remove journal `{}`", path.display()), error);
        *self.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = JournalFile::default();
        match fs::remove_file(&path) {
            Ok(()) => self.sync_folder().map_err(context),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(context(error)),
        }
    }

    /// A file keeps two versions: the state and its `.backup`. Older ones live where the file
    /// is versioned, such as git (the scheduled CI recipe commits every change).
    fn history(&self) -> Result<Vec<Version>, StateError> {
        self.usable()?;
        let mut versions = Vec::new();
        for (path, current) in [(self.path.clone(), true), (self.backup_path(), false)] {
            if let Some((state, written_at)) = self.read_state(&path, "was refused")? {
                versions.push(Version {
                    serial: state.serial,
                    lineage: state.lineage,
                    written_at,
                    who: None,
                    host: None,
                    operation: None,
                    current,
                });
            }
        }
        Ok(versions)
    }

    fn version(&self, serial: u64) -> Result<Option<State>, StateError> {
        self.usable()?;
        for path in [self.path.clone(), self.backup_path()] {
            if let Some((state, _)) = self.read_state(&path, "was refused")? {
                if state.serial == serial {
                    return Ok(Some(state));
                }
            }
        }
        Ok(None)
    }
}

/// Holds the lock: the lock file, and the OS lock on it for as long as this run lives.
struct FileLock {
    path: PathBuf,
    info: LockInfo,
    /// The lock file, OS-locked (shared) while open.
    file: File,
    /// The stale lock this one replaced.
    broke: Option<LockInfo>,
}

impl LockGuard for FileLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn broke(&self) -> Option<&LockInfo> {
        self.broke.as_ref()
    }
}

impl Drop for FileLock {
    /// Removes the lock file if it is still ours (not cleared by `force-unlock` and retaken),
    /// while the OS lock is still held; the OS lock goes when `file` closes, after this.
    fn drop(&mut self) {
        if still_at(&self.path, &self.file, &self.info.id) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Handle;
    use crate::hint::Hint;
    use crate::op::Op;
    use crate::state::ChatState;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("roster.state.json"));
        (dir, store)
    }

    fn info(id: &str) -> LockInfo {
        LockInfo {
            id: id.to_owned(),
            operation: "apply".to_owned(),
            who: "ci".to_owned(),
            host: "runner".to_owned(),
            pid: 42,
            since: "2026-11-25T10:00:00Z".to_owned(),
        }
    }

    #[test]
    fn save_bumps_the_serial_and_keeps_the_previous_state_as_backup() {
        let (_dir, store) = store();
        assert_eq!(store.load().unwrap(), None);
        let mut state = State::new();
        store.save(&mut state).unwrap();
        assert_eq!(state.serial, 1);
        assert!(!store.backup_path().exists(), "nothing to back up yet");
        let first = fs::read(store.path()).unwrap();
        state.chats.insert("c1".into(), ChatState::default());
        store.save(&mut state).unwrap();
        assert_eq!(state.serial, 2);
        assert_eq!(fs::read(store.backup_path()).unwrap(), first);
        assert_eq!(store.load().unwrap(), Some(state.clone()));
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(atomic::folder(store.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn broken_states_are_refused_with_the_reason() {
        let (_dir, store) = store();
        for (text, reason) in [
            ("", "the file is empty"),
            (
                "{\"version\": 1, \"lineage\": \"x\", \"serial\"",
                "not a valid roster state",
            ),
            ("{\"version\": 3, \"whatever\": []}", "format version 3 is newer"),
            (
                "{\"version\": 0, \"lineage\": \"x\", \"serial\": 1, \"chats\": {}}",
                "format version 0 is not supported",
            ),
        ] {
            fs::write(store.path(), text).unwrap();
            let error = format!("{:#}", store.load().unwrap_err());
            assert!(error.contains(reason), "{text:?}: {error}");
            assert!(error.contains("roster.state.json"), "{error}");
            assert_eq!(fs::read_to_string(store.path()).unwrap(), text, "left untouched");
        }
    }

    #[test]
    fn the_lock_is_exclusive_names_its_holder_and_is_released_on_drop() {
        let (_dir, store) = store();
        let held = store.lock(info("first"), &LockWait::timeout(Duration::ZERO)).unwrap();
        let Err(error) = store.lock(info("second"), &LockWait::timeout(Duration::from_millis(120))) else {
            panic!("the lock is held")
        };
        let StateError::Locked { holder, .. } = &error else {
            panic!("a lock held: {error}")
        };
        assert_eq!(holder.id, "first");
        let hint = error.hint().unwrap_or_default();
        assert!(hint.contains("--lock-timeout"), "{hint}");
        drop(held);
        assert!(!store.lock_path().exists());
        let again = store.lock(info("third"), &LockWait::timeout(Duration::ZERO)).unwrap();
        assert_eq!(again.info().id, "third");
    }

    #[test]
    fn a_waiting_run_gets_the_lock_once_it_is_released() {
        let (_dir, store) = store();
        let held = store.lock(info("first"), &LockWait::timeout(Duration::ZERO)).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let second = store
            .lock(info("second"), &LockWait::timeout(Duration::from_secs(30)))
            .unwrap();
        assert_eq!(second.info().id, "second");
        release.join().unwrap();
    }

    #[test]
    fn force_unlock_needs_the_holders_id() {
        let (_dir, store) = store();
        let held = store.lock(info("abc"), &LockWait::timeout(Duration::ZERO)).unwrap();
        assert!(store.force_unlock("xyz").is_err());
        assert!(store.lock_path().exists());
        assert_eq!(store.force_unlock("abc").unwrap().id, "abc");
        assert!(!store.lock_path().exists());
        // The guard of a lock cleared by hand does not remove another run's lock.
        let other = store.lock(info("def"), &LockWait::timeout(Duration::ZERO)).unwrap();
        drop(held);
        assert!(store.lock_path().exists());
        drop(other);
        assert!(store.force_unlock("def").is_err(), "not locked");
    }

    #[test]
    fn the_journal_ignores_a_torn_last_record_but_not_a_corrupt_middle() {
        let (_dir, store) = store();
        let intent = JournalRecord::Intent {
            id: 1,
            chat: "c1".into(),
            op: Op::Add,
            handle: Handle::parse("+15550001").unwrap(),
        };
        store
            .append_journal(&[
                JournalRecord::Begin {
                    lineage: "l".into(),
                    serial: 1,
                },
                intent.clone(),
            ])
            .unwrap();
        let mut bytes = fs::read(store.journal_path()).unwrap();
        bytes.extend_from_slice(b"{\"type\":\"accep");
        fs::write(store.journal_path(), &bytes).unwrap();
        assert_eq!(store.read_journal().unwrap().len(), 2);
        bytes.extend_from_slice(b"\n{\"type\":\"failed\",\"id\":1}\n");
        fs::write(store.journal_path(), &bytes).unwrap();
        assert!(store.read_journal().is_err());
        store.clear_journal().unwrap();
        assert!(store.read_journal().unwrap().is_empty());
    }

    #[test]
    fn replacing_the_journal_swaps_it_whole_and_later_appends_go_to_the_new_one() {
        let (_dir, store) = store();
        let begin = |serial| JournalRecord::Begin {
            lineage: "l".into(),
            serial,
        };
        store
            .append_journal(&[begin(1), JournalRecord::Failed { id: 1 }])
            .unwrap();
        store.replace_journal(&[begin(2)]).unwrap();
        store.append_journal(&[JournalRecord::Failed { id: 9 }]).unwrap();
        assert_eq!(
            store.read_journal().unwrap(),
            [begin(2), JournalRecord::Failed { id: 9 }],
            "the old records gone, the new ones kept, the append after them"
        );
        store.replace_journal(&[]).unwrap();
        assert!(!store.journal_path().exists(), "nothing to keep: no journal");
    }

    /// This host's name, as a lock taken here records it.
    fn here(id: &str) -> LockInfo {
        LockInfo {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            ..info(id)
        }
    }

    /// A pid no process has: above the largest Linux hands out (2^22).
    const NO_PID: u32 = 0x7fff_fff0;

    /// Writes a lock file by hand, as a killed run leaves it: no process holds an OS lock on it.
    fn leave_lock(store: &FileStore, holder: &LockInfo) {
        fs::write(store.lock_path(), serde_json::to_vec(holder).unwrap()).unwrap();
    }

    fn now() -> LockWait<'static> {
        LockWait::timeout(Duration::ZERO)
    }

    #[test]
    fn a_lock_left_by_a_gone_run_of_this_host_is_broken_and_named() {
        let (_dir, store) = store();
        leave_lock(
            &store,
            &LockInfo {
                pid: NO_PID,
                ..here("gone")
            },
        );
        let taken = store.lock(here("new"), &now()).unwrap();
        assert_eq!(
            taken.broke(),
            Some(&LockInfo {
                pid: NO_PID,
                ..here("gone")
            })
        );
        assert_eq!(store.read_lock().unwrap().unwrap().id, "new");
        drop(taken);
        assert!(!store.lock_path().exists(), "released as usual");
        // Nothing is left beside the state either.
        assert_eq!(fs::read_dir(atomic::folder(store.path())).unwrap().count(), 0);
    }

    #[test]
    fn a_lock_of_another_host_or_of_a_running_pid_is_not_broken() {
        let (_dir, store) = store();
        #[allow(unused_mut)]
        let mut holders = vec![LockInfo {
            pid: NO_PID,
            ..info("elsewhere")
        }];
        // The process that started this test runs, on this host (only Linux can tell).
        #[cfg(target_os = "linux")]
        holders.push(LockInfo {
            pid: std::os::unix::process::parent_id(),
            ..here("running")
        });
        for holder in holders {
            leave_lock(&store, &holder);
            let error = store.lock(here("new"), &now()).map(|_| ()).unwrap_err();
            let StateError::Locked { holder: locked, .. } = &error else {
                panic!("a lock held: {error}")
            };
            assert_eq!(**locked, holder);
            assert_eq!(store.read_lock().unwrap(), Some(holder), "left in place");
        }
    }

    #[test]
    fn a_running_holder_keeps_its_lock_whatever_its_file_says() {
        let (_dir, store) = store();
        let held = store.lock(here("live"), &now()).unwrap();
        // The file names a pid that does not run; the holder's OS lock still says it does.
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(store.lock_path())
            .unwrap();
        file.write_all(
            &serde_json::to_vec(&LockInfo {
                pid: NO_PID,
                ..here("live")
            })
            .unwrap(),
        )
        .unwrap();
        let other = FileStore::new(store.path());
        let error = other.lock(here("second"), &now()).map(|_| ()).unwrap_err();
        let StateError::Locked { holder, .. } = &error else {
            panic!("a lock held: {error}")
        };
        assert_eq!(holder.id, "live");
        drop(held);
        assert!(!store.lock_path().exists());
    }

    #[test]
    fn of_runs_breaking_one_stale_lock_at_once_exactly_one_takes_it() {
        for round in 0..30 {
            let (_dir, store) = store();
            leave_lock(
                &store,
                &LockInfo {
                    pid: NO_PID,
                    ..here("gone")
                },
            );
            let start = std::sync::Barrier::new(4);
            let results: Vec<Result<Box<dyn LockGuard>, StateError>> = std::thread::scope(|scope| {
                let runs: Vec<_> = (0..4)
                    .map(|i| {
                        let (start, path) = (&start, store.path());
                        scope.spawn(move || {
                            let run = FileStore::new(path);
                            start.wait();
                            run.lock(here(&format!("run{i}")), &now())
                        })
                    })
                    .collect();
                runs.into_iter().map(|run| run.join().unwrap()).collect()
            });
            let won: Vec<&Box<dyn LockGuard>> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(won.len(), 1, "round {round}: one run takes the lock");
            assert_eq!(won[0].broke().map(|b| b.id.as_str()), Some("gone"));
            assert_eq!(store.read_lock().unwrap().unwrap().id, won[0].info().id);
            for lost in results.iter().filter_map(|r| r.as_ref().err()) {
                assert!(matches!(lost, StateError::Locked { .. }), "round {round}: {lost:#}");
            }
            drop(results);
            assert!(!store.lock_path().exists(), "round {round}");
        }
    }

    #[test]
    fn a_stop_request_ends_the_wait_for_the_lock() {
        let (_dir, store) = store();
        let _held = store.lock(here("first"), &now()).unwrap();
        let stop = crate::stop::Stop::new();
        stop.signal(crate::stop::Signal::Interrupt);
        let wait = LockWait {
            timeout: Duration::from_secs(600),
            stop: Some(&stop),
        };
        let error = store.lock(here("second"), &wait).map(|_| ()).unwrap_err();
        assert!(matches!(error, StateError::LockWaitStopped { .. }), "{error:#}");
        assert_eq!(store.read_lock().unwrap().unwrap().id, "first");
    }

    /// A failed append leaves no fragment behind for a later record to turn into a corrupt line
    /// in the middle. A write fails part-way for real here: this test runs itself again in a
    /// child process under `ulimit -f` (with SIGXFSZ ignored, so the write returns `EFBIG`).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_journal_append_is_cut_back_so_later_records_stay_whole() {
        const CHILD: &str = "ROSTER_TEST_FULL_JOURNAL_DIR";
        if let Some(dir) = std::env::var_os(CHILD) {
            append_until_full(Path::new(&dir));
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new("sh")
            .args(["-c", r#"trap '' XFSZ; ulimit -f 4 && exec "$0" "$@""#])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state::file::tests::a_failed_journal_append_is_cut_back_so_later_records_stay_whole",
                "--nocapture",
            ])
            .env(CHILD, dir.path())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(said.contains("1 passed"), "the child ran the test: {said}");
        // What the child left reads whole, its last record included.
        let records = FileStore::new(dir.path().join("roster.state.json"))
            .read_journal()
            .unwrap();
        assert_eq!(records.last(), Some(&JournalRecord::Failed { id: 0 }));
    }

    /// The child's side: fills the journal up to the file size limit, then appends a record
    /// too big for the room left (it fails) and one small enough (it must succeed).
    #[cfg(target_os = "linux")]
    fn append_until_full(dir: &Path) {
        let limits = fs::read_to_string("/proc/self/limits").unwrap();
        let limit: u64 = limits
            .lines()
            .find(|line| line.starts_with("Max file size"))
            .and_then(|line| line.split_whitespace().nth(3))
            .and_then(|soft| soft.parse().ok())
            .expect("a file size limit");
        let store = FileStore::new(dir.join("roster.state.json"));
        let big = JournalRecord::Intent {
            id: 1,
            chat: "c".repeat(200),
            op: Op::Add,
            handle: Handle::parse("+15550001").unwrap(),
        };
        let size = |record: &JournalRecord| serde_json::to_vec(record).unwrap().len() as u64 + 1;
        let length = || fs::metadata(store.journal_path()).map_or(0, |m| m.len());
        let mut id = 100;
        while limit - length() >= size(&big) {
            store.append_journal(&[JournalRecord::Failed { id }]).unwrap();
            id += 1;
        }
        let before = length();
        assert!(store.append_journal(&[big]).is_err(), "the big record does not fit");
        assert_eq!(length(), before, "cut back to the last whole record");
        store
            .append_journal(&[JournalRecord::Failed { id: 0 }])
            .expect("a small record still fits after the failed one");
        let records = store.read_journal().unwrap();
        assert_eq!(records.len() as u64, id - 100 + 1);
    }
}
