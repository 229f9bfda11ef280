//! The commands that talk to Linq: `apply` (in `apply`), `import`, `refresh` and `plan
//! --refresh` (in `adopt`); and the prologue they share, written once: [`Online`], with how a
//! workflow's progress and errors reach the user ([`Shown`], [`op_error`]).

use std::future::Future;

use super::{seconds, Context, Error, ErrorContext as _, HeldLock, Signals, Stopped, Ui};
use crate::cli::ApiArgs;
use crate::escape::Escaped;
use crate::linq::{self, Client, ClientConfig};
use crate::ops::{self, Stage};
use crate::state::{Loaded, LockInfo, LockWait, StateError, StateStore};
use crate::sync::SettleOptions;

mod adopt;
mod apply;
mod shown;

pub use adopt::{import, refresh, refresh_in_memory};
pub use apply::apply;
pub(super) use shown::Shown;

/// What a command says when a signal stops it while it settles the journal.
const SETTLE_STOPPED: &str =
    "Stopped while settling the calls of an interrupted run; nothing was written, and the journal is kept for the next run.";

/// What every command that talks to Linq sets up: a runtime, and a watch for signals from the
/// command's start (so that one that comes before the lock is taken still ends it cleanly).
pub(super) struct Online {
    runtime: tokio::runtime::Runtime,
    pub signals: Signals,
}

/// A command's connection to Linq and its hold on the state.
pub(super) struct Session {
    pub client: Client,
    pub store: Box<dyn StateStore>,
    _lock: HeldLock,
}

impl Online {
    /// The runtime (I/O bound, so two worker threads are plenty) and the watch for signals.
    pub fn start(cx: &Context) -> Result<Online, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("failed to start the async runtime")?;
        let signals = Signals::watch(&runtime, cx.ui.quiet)?;
        Ok(Online { runtime, signals })
    }

    pub fn block_on<F: Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }

    /// The Linq client, from the token and base URL `main` read from the environment; `rate`
    /// caps its pace.
    pub fn client(&self, cx: &Context, rate: Option<f64>) -> Result<Client, Error> {
        let Some(token) = cx.env.token.clone() else {
            return Err(Error::NoToken);
        };
        let base_url = cx
            .env
            .base_url
            .clone()
            .unwrap_or_else(|| linq::DEFAULT_BASE_URL.to_owned());
        let mut config = ClientConfig::new(base_url, token);
        config.rate = rate;
        config.stop = self.signals.stop();
        Ok(Client::new(config)?)
    }

    /// The client, then `store`, locked for `operation`.
    pub fn connect(
        &self,
        cx: &mut Context,
        operation: &str,
        store: Box<dyn StateStore>,
        rate: Option<f64>,
    ) -> Result<Session, Error> {
        let client = self.client(cx, rate)?;
        let lock = self.lock(cx, store.as_ref(), operation)?;
        Ok(Session {
            client,
            store,
            _lock: lock,
        })
    }

    /// Takes the state lock for `operation`, waiting up to `--lock-timeout` unless a signal
    /// ends the wait, and hands it to the signal watch so that a second signal can release it.
    /// A stale lock of this host that was broken to take it is named in a note.
    pub fn lock(&self, cx: &mut Context, store: &dyn StateStore, operation: &str) -> Result<HeldLock, Error> {
        const STOPPED: &str = "Stopped before taking the state lock; nothing was changed.";
        let signals = &self.signals;
        signals.check(STOPPED)?;
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_owned(),
            who: cx.env.user.clone(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let timeout = seconds(cx.global.lock_timeout);
        let stop = signals.stop();
        // One look first, so that a run about to wait can say for whom.
        let guard = match store.lock(info.clone(), &LockWait::timeout(std::time::Duration::ZERO)) {
            Err(StateError::Locked { holder, .. }) if !timeout.is_zero() => {
                cx.ui.status(format!(
                    "Waiting up to {}s for the state lock held by {holder}...",
                    timeout.as_secs_f64(),
                ));
                store.lock(
                    info,
                    &LockWait {
                        timeout,
                        stop: Some(&stop),
                    },
                )
            }
            taken => taken,
        }
        .map_err(|error| match (error, signals.received()) {
            (StateError::LockWaitStopped { .. }, Some(signal)) => Error::Stopped(Stopped {
                signal,
                message: STOPPED.to_owned(),
            }),
            (error, _) => Error::State(error),
        })?;
        if let Some(stale) = guard.broke() {
            cx.ui.status(format!(
                "note: broke the stale lock `{}` of {stale}: {}",
                Escaped(&stale.id),
                guard.broke_because()
            ));
        }
        Ok(signals.hold(guard))
    }
}

/// How settling the journal waits, from the command's flags.
pub(super) fn settle_options(api: &ApiArgs) -> SettleOptions {
    SettleOptions {
        grace: seconds(api.settle_timeout),
        ..SettleOptions::default()
    }
}

/// Settles the journal an interrupted run left in `loaded`, before anything else writes the
/// state ([`ops::settle`]), saying what it found.
pub(super) async fn settle(
    cx: &mut Context,
    online: &Online,
    session: &Session,
    loaded: &mut Loaded,
    api: &ApiArgs,
) -> Result<(), Error> {
    let stop = online.signals.stop();
    let mut shown = Shown::new(&mut cx.ui);
    ops::settle(
        session.store.as_ref(),
        loaded,
        &session.client,
        &stop,
        &settle_options(api),
        &mut |event| shown.show(event),
    )
    .await
    .map_err(op_error(SETTLE_STOPPED))?;
    Ok(())
}

/// Confirms that `client` talks to Linq with a token Linq takes, before the command's first
/// read of a chat ([`ops::confirm`]); a signal meanwhile stops the command with `stopped`.
pub(super) async fn confirm(online: &Online, client: &Client, stopped: &'static str) -> Result<(), Error> {
    ops::confirm(client, &online.signals.stop())
        .await
        .map_err(op_error(stopped))?;
    Ok(())
}

/// A workflow's error as the command's: a stop says `stopped` (or, while settling, that the
/// journal is kept) and ends with the signal's code.
pub(super) fn op_error(stopped: &'static str) -> impl Fn(ops::Error) -> Error {
    move |error| match error {
        ops::Error::Stopped { signal, stage } => Error::Stopped(Stopped {
            signal,
            message: match stage {
                Stage::Settling => SETTLE_STOPPED,
                Stage::Reading => stopped,
            }
            .to_owned(),
        }),
        ops::Error::State(error) => Error::State(error),
        error => Error::Ops(error),
    }
}

/// Refuses, before any call that changes anything, the creates in scope whose `from` is not
/// one of the partner's lines ([`ops::foreign_lines`]), each at its `create` in the config.
pub(super) async fn refuse_foreign_lines(
    online: &Online,
    client: &Client,
    desired: &crate::config::Desired,
    state: &crate::state::State,
    selection: &crate::plan::Selection,
) -> Result<(), Error> {
    let problems = ops::foreign_lines(client, &online.signals.stop(), creates_of(desired, state, selection))
        .await
        .map_err(op_error(CHECK_STOPPED))?;
    match problems.is_empty() {
        true => Ok(()),
        false => Err(Error::Config(desired.locate(problems))),
    }
}

/// What a command says when a signal stops it while it checks the lines of its creates.
const CHECK_STOPPED: &str = "Stopped while checking the lines of the chats to create; nothing was sent or written.";

/// The chats in scope that a plan would create: a `create` and no chat for the key, neither
/// named by the config (`id:`, a chat id as key) nor known to the state (under the key or a
/// `previously:` one); each with its line.
fn creates_of<'a>(
    desired: &'a crate::config::Desired,
    state: &'a crate::state::State,
    selection: &'a crate::plan::Selection,
) -> impl Iterator<Item = (&'a str, &'a crate::handle::Handle)> + 'a {
    let own = state.own_keys();
    let known = move |key: &str| state.chat_for(key, &own).is_some();
    (desired.chats.iter())
        .filter(|(key, _)| selection.includes(key))
        .filter(move |(key, chat)| {
            chat.named_id(key).is_none() && !known(key) && !chat.previously.iter().any(|old| known(old))
        })
        .filter_map(|(key, chat)| chat.create.as_ref().map(|create| (key.as_str(), &create.from)))
}
