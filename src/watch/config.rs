//! The config as `roster watch` keeps it: loaded at the start, and again when one of its files
//! changes (their modification times and sizes are compared at each poll). A config that no
//! longer loads is reported and the last good one kept, so a bad push never stops the watch.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::{self, ConfigErrors, Desired};

/// The config files' modification times and sizes, in path order.
type Stamp = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// The config in use, and what its files looked like when it was loaded.
pub struct Watched {
    paths: Vec<PathBuf>,
    pub desired: Desired,
    stamp: Stamp,
}

impl Watched {
    pub fn load(paths: Vec<PathBuf>) -> Result<Watched, ConfigErrors> {
        let stamp = stamp(&paths);
        let desired = config::load(&paths)?;
        Ok(Watched { paths, desired, stamp })
    }

    /// Loads the config again when a file changed: `None` when none did, else how many chats
    /// it now declares, or its errors (the last good config stays).
    pub fn reload(&mut self) -> Option<Result<usize, Vec<String>>> {
        let now = stamp(&self.paths);
        if now == self.stamp {
            return None;
        }
        self.stamp = now;
        Some(match config::load(&self.paths) {
            Ok(desired) => {
                self.desired = desired;
                Ok(self.desired.chats.len())
            }
            Err(errors) => Err(errors.0.iter().map(ToString::to_string).collect()),
        })
    }
}

fn stamp(paths: &[PathBuf]) -> Stamp {
    let mut stamp = Vec::new();
    for path in paths {
        walk(path, &mut stamp);
    }
    stamp.sort();
    stamp
}

/// Every file at or below `path` (a file, a folder, or nothing yet).
fn walk(path: &Path, stamp: &mut Stamp) {
    let Ok(meta) = std::fs::metadata(path) else {
        stamp.push((path.to_owned(), None, 0));
        return;
    };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                walk(&entry.path(), stamp);
            }
        }
    } else {
        stamp.push((path.to_owned(), meta.modified().ok(), meta.len()));
    }
}
