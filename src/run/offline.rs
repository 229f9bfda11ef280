//! The commands that read only local files and the state: `validate`, `show` and
//! `force-unlock`.

use std::collections::BTreeMap;

use super::{read_saved_plan, Context, Error, ErrorContext as _, Exit};
use crate::cli::ShowArgs;
use crate::render::{self, StateShown};

/// `roster validate`: the config loaded and checked, and a line that says so.
pub fn validate(cx: &mut Context) -> Result<Exit, Error> {
    let desired = cx.load_desired()?;
    let _ = render::validated(&desired, &mut *cx.ui.out);
    Ok(Exit::Success)
}

/// `roster show [PLANFILE]`: a saved plan, or the state.
pub fn show(cx: &mut Context, args: &ShowArgs) -> Result<Exit, Error> {
    if let Some(path) = &args.plan_file {
        let saved = read_saved_plan(path)?;
        cx.write(&saved.plan, args.format)
            .context("failed to write the plan to stdout")?;
        return Ok(Exit::Success);
    }
    let store = cx.store()?;
    let Some(state) = store.load()? else {
        cx.ui.status(format!(
            "No state yet at `{}`: run `roster import` to adopt existing chats.",
            store.describe()
        ));
        return Ok(Exit::Success);
    };
    let shown = StateShown {
        state: &state,
        names: config_names(cx),
    };
    cx.write(&shown, args.format)
        .context("failed to write the state to stdout")?;
    Ok(Exit::Success)
}

/// The chats' names in the config, for the chats Linq gives none; none when the config does not
/// load (the state shows without it; a config named on the command line says why).
fn config_names(cx: &mut Context) -> BTreeMap<String, String> {
    match cx.load_desired() {
        Ok(desired) => (desired.chats.into_iter())
            .filter_map(|(id, chat)| Some((id, chat.name?)))
            .collect(),
        Err(errors) => {
            if !cx.global.config.is_empty() {
                cx.ui.warn(&format!(
                    "the chats are shown without the config's names: the config has {}",
                    render::count(errors.0.len(), "error", "errors")
                ));
            }
            BTreeMap::new()
        }
    }
}

/// `roster force-unlock ID`: clears the lock of a killed run.
pub fn force_unlock(cx: &mut Context, id: &str) -> Result<Exit, Error> {
    let holder = cx.store()?.force_unlock(id)?;
    let _ = render::unlocked(&holder, &mut *cx.ui.out);
    Ok(Exit::Success)
}
