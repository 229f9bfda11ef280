//! Adopting and watching chats: `import`, `refresh` and `plan --refresh`.

use anyhow::bail;

use super::super::{Context, Exit};
use crate::cli::{ApiArgs, ImportArgs, RefreshArgs};
use crate::config::Desired;
use crate::state::{FileStore, State};

pub fn import(_cx: &mut Context, _args: &ImportArgs) -> anyhow::Result<Exit> {
    bail!("import is being wired")
}

pub fn refresh(_cx: &mut Context, _args: &RefreshArgs) -> anyhow::Result<Exit> {
    bail!("refresh is being wired")
}

pub fn refreshed_state(
    _cx: &mut Context,
    _desired: &Desired,
    _store: &FileStore,
    _api: &ApiArgs,
) -> anyhow::Result<(State, bool)> {
    bail!("plan --refresh is being wired")
}
