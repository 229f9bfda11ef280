//! `roster state history|pull|push`: the kept versions of the state, on either backend.

use std::io::{Read, Write};
use std::path::Path;

use super::online::Online;
use super::{Context, Error, ErrorContext as _, Exit};
use crate::cli::StateCommand;
use crate::render::{Format, History};
use crate::state::{check_push, parse_state, Push, StateError};

pub fn run(cx: &mut Context, command: &StateCommand) -> Result<Exit, Error> {
    match command {
        StateCommand::History { format } => history(cx, *format),
        StateCommand::Pull { serial } => pull(cx, *serial),
        StateCommand::Push { file, force } => push(cx, file, *force),
    }
}

/// `roster state history`: the kept versions, newest first.
fn history(cx: &mut Context, format: Format) -> Result<Exit, Error> {
    let store = cx.store()?;
    let history = History::new(store.describe(), store.history()?);
    cx.write(&history, format)
        .context("failed to write the history to stdout")?;
    Ok(Exit::Success)
}

/// `roster state pull [--serial N]`: the state, or a kept version, as JSON.
fn pull(cx: &mut Context, serial: Option<u64>) -> Result<Exit, Error> {
    let store = cx.store()?;
    let state = match serial {
        None => store.load()?.ok_or_else(|| Error::NoState(store.describe()))?,
        Some(serial) => match store.version(serial)? {
            Some(state) => state,
            None => {
                let kept = store.history()?.iter().map(|v| v.serial).collect();
                return Err(Error::NotKept {
                    serial,
                    state: store.describe(),
                    kept,
                });
            }
        },
    };
    let mut bytes = serde_json::to_vec_pretty(&state).map_err(std::io::Error::from)?;
    bytes.push(b'\n');
    cx.ui
        .out
        .write_all(&bytes)
        .context("failed to write the state to stdout")?;
    Ok(Exit::Success)
}

/// `roster state push FILE [--force]`: replaces the state, under the lock (see
/// [`crate::state::check_push`] for when).
fn push(cx: &mut Context, file: &Path, force: bool) -> Result<Exit, Error> {
    let stdin = file == Path::new("-");
    let bytes = if stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("failed to read the state from standard input")?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("failed to read `{}`", file.display()))?
    };
    let pushed = parse_state(&bytes).map_err(|reason| StateError::Refused {
        what: match stdin {
            true => "the state on standard input was refused; nothing was written".to_owned(),
            false => format!("`{}` was refused; nothing was written", file.display()),
        },
        reason,
    })?;
    let online = Online::start(cx)?;
    let store = cx.store()?;
    let _lock = online.lock(cx, store.as_ref(), "push")?;
    // The store alone reads the journal: an open one means calls to settle first.
    let loaded = store.load_with_journal()?;
    if !loaded.journal.is_empty() {
        return Err(Error::PushUnsettled {
            journal: store.describe_journal(),
        });
    }
    let current = loaded.existed.then_some(loaded.state);
    match check_push(current.as_ref(), pushed, force)? {
        Push::Unchanged => cx.ui.status(format!(
            "`{}` holds this state already (serial {}); nothing was written.",
            store.describe(),
            current.as_ref().map_or(0, |s| s.serial)
        )),
        Push::Write(state) => {
            store.replace(&state, current.as_ref().map(|s| s.serial))?;
            cx.ui.status(format!(
                "Pushed the state (lineage `{}`, serial {}) to `{}`{}.",
                state.lineage,
                state.serial,
                store.describe(),
                match &current {
                    Some(current) => format!(", replacing serial {}", current.serial),
                    None => String::new(),
                }
            ));
        }
    }
    Ok(Exit::Success)
}
