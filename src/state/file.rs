//! The local file backend: `roster.state.json` with its `.backup`, `.lock` and `.journal`.
//!
//! Writes go to a temporary file in the same folder, are synced, and replace the state with a
//! rename, after the previous state has been linked to `.backup`; so after a crash at any
//! instant the state file is either the old or the new document, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use super::{JournalRecord, LockGuard, LockInfo, State, StateStore, STATE_VERSION};

/// The state kept in a local JSON file.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    /// The journal, opened on first append and kept open for the run.
    journal: Mutex<Option<File>>,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore {
            path: path.into(),
            journal: Mutex::new(None),
        }
    }

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

    fn folder(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Writes `bytes` to a fresh temporary file beside the state and syncs it.
    fn write_temp(&self, suffix: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = self
            .folder()
            .join(format!(".{name}.{suffix}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(error) = written {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        Ok(temp)
    }

    /// Replaces the file at `self.path` with `bytes` via a synced temporary file and a rename.
    fn replace_with(&self, bytes: &[u8]) -> io::Result<()> {
        let temp = self.write_temp("new", bytes)?;
        fs::rename(&temp, &self.path).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })?;
        self.sync_folder()
    }

    fn sync_folder(&self) -> io::Result<()> {
        File::open(self.folder())?.sync_all()
    }

    fn read_lock(&self) -> anyhow::Result<Option<LockInfo>> {
        let path = self.lock_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
                format!(
                    "lock file `{}` is not readable; remove it by hand if no run is active",
                    path.display()
                )
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("failed to read lock file `{}`", path.display())),
        }
    }
}

/// Writes `bytes` to `path` atomically: a synced temporary file in the same folder, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    FileStore::new(path).replace_with(bytes)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl StateStore for FileStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> anyhow::Result<Option<State>> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("failed to read state file `{}`", self.path.display()))
            }
        };
        parse_state(&bytes)
            .with_context(|| format!("state file `{}` was refused and left untouched", self.path.display()))
            .map(Some)
    }

    fn save(&self, state: &mut State) -> anyhow::Result<()> {
        let context = || format!("failed to write state file `{}`", self.path.display());
        state.serial += 1;
        let mut bytes = serde_json::to_vec_pretty(&*state).with_context(context)?;
        bytes.push(b'\n');
        let temp = self.write_temp("new", &bytes).with_context(context)?;
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
            state.serial -= 1;
        }
        result.with_context(context)
    }

    fn lock(&self, info: LockInfo, timeout: Duration) -> anyhow::Result<Box<dyn LockGuard>> {
        let path = self.lock_path();
        let bytes = serde_json::to_vec_pretty(&info)?;
        let deadline = Instant::now() + timeout;
        loop {
            // The lock appears whole or not at all: written aside, then linked into place,
            // which fails when another run already holds it.
            let temp = self
                .write_temp("lock", &bytes)
                .with_context(|| format!("failed to create lock file `{}`", path.display()))?;
            let linked = fs::hard_link(&temp, &path);
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => {
                    let _ = self.sync_folder();
                    return Ok(Box::new(FileLock { path, info }));
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(error).with_context(|| format!("failed to create lock file `{}`", path.display()))
                }
            }
            if Instant::now() >= deadline {
                let holder = self.read_lock()?;
                return Err(match holder {
                    Some(holder) => anyhow!(LockedError { path, holder }),
                    None => anyhow!(
                        "state lock `{}` was held and released while waiting; try again",
                        path.display()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    fn force_unlock(&self, id: &str) -> anyhow::Result<LockInfo> {
        let path = self.lock_path();
        let Some(holder) = self.read_lock()? else {
            bail!(
                "state `{}` is not locked (no `{}`)",
                self.path.display(),
                path.display()
            );
        };
        if holder.id != id {
            bail!(
                "lock id `{id}` does not match the lock on `{}`, which has id `{}`",
                self.path.display(),
                holder.id
            );
        }
        fs::remove_file(&path).with_context(|| format!("failed to remove lock file `{}`", path.display()))?;
        Ok(holder)
    }

    fn append_journal(&self, records: &[JournalRecord]) -> anyhow::Result<()> {
        let path = self.journal_path();
        let context = || format!("failed to write journal `{}`", path.display());
        let mut buffer = Vec::with_capacity(records.len() * 96);
        for record in records {
            serde_json::to_writer(&mut buffer, record)?;
            buffer.push(b'\n');
        }
        let mut journal = self.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if journal.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(context)?;
            self.sync_folder().with_context(context)?;
            *journal = Some(file);
        }
        let file = journal.as_mut().expect("journal opened above");
        file.write_all(&buffer)
            .and_then(|()| file.sync_data())
            .with_context(context)
    }

    fn read_journal(&self) -> anyhow::Result<Vec<JournalRecord>> {
        let path = self.journal_path();
        let text = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error).with_context(|| format!("failed to read journal `{}`", path.display())),
        };
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
                Err(error) => bail!("journal `{}` line {number} is corrupt: {error}", path.display()),
            }
        }
        Ok(records)
    }

    fn clear_journal(&self) -> anyhow::Result<()> {
        let path = self.journal_path();
        *self.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        match fs::remove_file(&path) {
            Ok(()) => self
                .sync_folder()
                .with_context(|| format!("failed to remove journal `{}`", path.display())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error).with_context(|| format!("failed to remove journal `{}`", path.display())),
        }
    }
}

/// Parses a state document, refusing newer versions with a message that says so.
pub fn parse_state(bytes: &[u8]) -> anyhow::Result<State> {
    #[derive(serde::Deserialize)]
    struct Probe {
        version: serde_json::Value,
    }
    match serde_json::from_slice::<State>(bytes) {
        Ok(state) if state.version == STATE_VERSION => Ok(state),
        Ok(state) => Err(version_error(state.version)),
        Err(error) => match serde_json::from_slice::<Probe>(bytes) {
            Ok(Probe {
                version: serde_json::Value::Number(n),
            }) if n.as_u64().is_some_and(|v| v != u64::from(STATE_VERSION)) => {
                Err(version_error(n.as_u64().unwrap_or_default() as u32))
            }
            _ if bytes.is_empty() => Err(anyhow!("the file is empty")),
            _ => Err(anyhow!("not a valid roster state ({error})")),
        },
    }
    .map_err(|error| anyhow!("{error}\nhint: restore it from its `.backup` or from version control, or fix it by hand"))
}

fn version_error(version: u32) -> anyhow::Error {
    if version > STATE_VERSION {
        anyhow!("its format version {version} is newer than this roster understands ({STATE_VERSION}); upgrade roster")
    } else {
        anyhow!("its format version {version} is not supported (expected {STATE_VERSION})")
    }
}

/// The lock could not be taken: someone else holds it.
#[derive(Debug, thiserror::Error)]
#[error("state is locked by `{}` ({}@{}, pid {}, since {}) via `{}`\nhint: if that run was killed, clear the lock with `roster force-unlock {}`", holder.operation, holder.who, holder.host, holder.pid, holder.since, path.display(), holder.id)]
pub struct LockedError {
    pub path: PathBuf,
    pub holder: LockInfo,
}

/// Removes the lock file when dropped, if it is still ours.
struct FileLock {
    path: PathBuf,
    info: LockInfo,
}

impl LockGuard for FileLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let ours = fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<LockInfo>(&bytes).ok())
            .is_some_and(|holder| holder.id == self.info.id);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Handle;
    use crate::state::{ChatState, Op};

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
        let names: Vec<String> = fs::read_dir(store.folder())
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
        let held = store.lock(info("first"), Duration::ZERO).unwrap();
        let Err(error) = store.lock(info("second"), Duration::from_millis(120)) else {
            panic!("the lock is held")
        };
        let locked = error.downcast_ref::<LockedError>().expect("a LockedError");
        assert_eq!(locked.holder.id, "first");
        assert!(error.to_string().contains("roster force-unlock first"), "{error}");
        drop(held);
        assert!(!store.lock_path().exists());
        let again = store.lock(info("third"), Duration::ZERO).unwrap();
        assert_eq!(again.info().id, "third");
    }

    #[test]
    fn a_waiting_run_gets_the_lock_once_it_is_released() {
        let (_dir, store) = store();
        let held = store.lock(info("first"), Duration::ZERO).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let second = store.lock(info("second"), Duration::from_secs(30)).unwrap();
        assert_eq!(second.info().id, "second");
        release.join().unwrap();
    }

    #[test]
    fn force_unlock_needs_the_holders_id() {
        let (_dir, store) = store();
        let held = store.lock(info("abc"), Duration::ZERO).unwrap();
        assert!(store.force_unlock("xyz").is_err());
        assert!(store.lock_path().exists());
        assert_eq!(store.force_unlock("abc").unwrap().id, "abc");
        assert!(!store.lock_path().exists());
        // The guard of a lock cleared by hand does not remove another run's lock.
        let other = store.lock(info("def"), Duration::ZERO).unwrap();
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
}
