//! `roster state history|pull|push`: the kept versions of the state, on either backend.

use std::io::{Read, Write};

use anyhow::Context as _;

use super::{Context, Exit, Signals};
use crate::cli::{Format, StateCommand};
use crate::render;
use crate::state::{check_push, parse_state, Push};

pub fn run(cx: &mut Context, command: &StateCommand) -> anyhow::Result<Exit> {
    match command {
        StateCommand::History { format } => history(cx, *format),
        StateCommand::Pull { serial } => pull(cx, *serial),
        StateCommand::Push { file, force } => push(cx, file, *force),
    }
}

fn history(cx: &mut Context, format: Format) -> anyhow::Result<Exit> {
    let store = cx.store()?;
    let versions = store.history()?;
    let out = &mut *cx.ui.out;
    match format {
        Format::Json => render::history_json(&store.describe(), &versions, out),
        Format::Text | Format::Markdown => render::history_text(&store.describe(), &versions, out),
    }
    .context("failed to write the history to stdout")?;
    Ok(Exit::Success)
}

fn pull(cx: &mut Context, serial: Option<u64>) -> anyhow::Result<Exit> {
    let store = cx.store()?;
    let state = match serial {
        None => store.load()?.with_context(|| {
            format!(
                "no state yet at `{}`\nhint: `roster import` adopts existing chats",
                store.describe()
            )
        })?,
        Some(serial) => store.version(serial)?.with_context(|| {
            let kept: Vec<String> = store
                .history()
                .unwrap_or_default()
                .iter()
                .map(|v| v.serial.to_string())
                .collect();
            format!(
                "serial {serial} is not kept in `{}`{}\nhint: `roster state history` lists the kept versions",
                store.describe(),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!(" (kept: {})", kept.join(", "))
                }
            )
        })?,
    };
    let mut bytes = serde_json::to_vec_pretty(&state)?;
    bytes.push(b'\n');
    cx.ui
        .out
        .write_all(&bytes)
        .context("failed to write the state to stdout")?;
    Ok(Exit::Success)
}

fn push(cx: &mut Context, file: &std::path::Path, force: bool) -> anyhow::Result<Exit> {
    let bytes = if file == std::path::Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("failed to read the state from standard input")?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("failed to read `{}`", file.display()))?
    };
    let pushed = parse_state(&bytes).with_context(|| match file.to_str() {
        Some("-") => "the state on standard input was refused; nothing was written".to_owned(),
        _ => format!("`{}` was refused; nothing was written", file.display()),
    })?;
    let runtime = super::online::runtime()?;
    let signals = Signals::watch(&runtime, cx.ui.quiet)?;
    let store = cx.store()?;
    let store = &*store;
    let _lock = cx.lock(store, "push", &signals)?;
    if !store.read_journal()?.is_empty() {
        anyhow::bail!(
            "an interrupted apply left calls to settle in {}; nothing was written\nhint: run `roster refresh` to settle them first (it applies nothing)",
            store.describe_journal()
        );
    }
    let current = store.load()?;
    match check_push(current.as_ref(), pushed, force)? {
        Push::Unchanged => cx.ui.status(format!(
            "`{}` holds this state already (serial {}); nothing was written.",
            store.describe(),
            current.as_ref().map_or(0, |s| s.serial)
        )),
        Push::Write(state) => {
            store.push(&state, current.as_ref().map(|s| s.serial))?;
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
