//! Files that appear whole or not at all: a synced temporary file beside the target, then a
//! rename (or a link, for a file that must be new), then a sync of the folder. The file store
//! writes its state and lock files so, and the commands their plan and config files.
//!
//! A path that is a symbolic link is followed: the file it leads to is the one replaced, so the
//! link stays a link. A link that leads nowhere is refused rather than replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many symbolic links a path may go through (Linux's own limit).
const MAX_LINKS: usize = 40;

/// Writes `bytes` to `path` atomically: a synced temporary file in the same folder, renamed.
/// A `path` that is a symbolic link keeps it: the file it leads to is replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = resolve(path).map_err(|(_, problem)| io::Error::new(io::ErrorKind::NotFound, problem))?;
    let temp = write_temp(&target, "new", bytes)?;
    fs::rename(&temp, &target).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })?;
    sync_folder(&target)
}

/// Writes `bytes` to a new file at `path`, atomically, and fails with `AlreadyExists` when
/// anything (a file, a link) is already there: the file appears whole or not at all.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let beside = resolve(path).unwrap_or_else(|(target, _)| target);
    let temp = write_temp(&beside, "new", bytes)?;
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    linked?;
    sync_folder(&beside)
}

/// Where `path` leads through symbolic links: `path` itself when it is none, or a file that
/// does not exist yet. A link that leads nowhere gives the place it led to and why.
pub(super) fn resolve(path: &Path) -> Result<PathBuf, (PathBuf, String)> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let Ok(target) = fs::read_link(&current) else {
                    return Ok(current);
                };
                current = current.parent().unwrap_or(Path::new("")).join(target);
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound && current != path => {
                let problem = format!(
                    "`{}` is a symbolic link to `{}`, which does not exist",
                    path.display(),
                    current.display()
                );
                return Err((current, problem));
            }
            // A plain file, none yet, or one the operation itself reports on.
            _ => return Ok(current),
        }
    }
    let problem = format!("`{}` is a symbolic link that never ends (a loop)", path.display());
    Err((current, problem))
}

/// The folder `path` is in (`.` for a bare file name).
pub(super) fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` with `suffix` added to its name: `roster.state.json` + `.lock`.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A fresh temporary path beside `path`, hidden, naming what it is for.
pub(super) fn temp_path(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    folder(path).join(format!(".{name}.{suffix}.{}.tmp", uuid::Uuid::new_v4().simple()))
}

/// Writes `bytes` to a fresh temporary file beside `path` and syncs it.
pub(super) fn write_temp(path: &Path, suffix: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let temp = temp_path(path, suffix);
    let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    Ok(temp)
}

/// Syncs the folder `path` is in, so that a rename or a link into it is durable.
pub(super) fn sync_folder(path: &Path) -> io::Result<()> {
    File::open(folder(path))?.sync_all()
}
