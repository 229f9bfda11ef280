//! The commands that read only local files and the state: `validate`, `show` and
//! `force-unlock`.

use super::{read_saved_plan, Context, Error, ErrorContext as _, Exit};
use crate::cli::ShowArgs;
use crate::render;

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
    cx.write(&state, args.format)
        .context("failed to write the state to stdout")?;
    Ok(Exit::Success)
}

/// `roster force-unlock ID`: clears the lock of a killed run.
pub fn force_unlock(cx: &mut Context, id: &str) -> Result<Exit, Error> {
    let holder = cx.store()?.force_unlock(id)?;
    let _ = render::unlocked(&holder, &mut *cx.ui.out);
    Ok(Exit::Success)
}
