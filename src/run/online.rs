//! The commands that talk to Linq: `apply` here, `import`, `refresh` and `plan --refresh` in
//! `adopt`; and the prologue they share, written once: [`Online`].

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, Write};

use super::{
    config_paths, plan_options, read_saved_plan, real_path, seconds, select, Context, Error, ErrorContext as _, Exit,
    HeldLock, Signal, Signals, Stopped,
};
use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::cli::{ApiArgs, ApplyArgs};
use crate::config::{self, Desired};
use crate::escape::Escaped;
use crate::linq::{self, Client, ClientConfig};
use crate::plan::{self, Plan, SavedPlan, StateRef};
use crate::render::{self, Format};
use crate::state::{Loaded, LockInfo, LockWait, PendingTimeout, StateError, StateLocation, StateStore};
use crate::sync::{self, Read, SettleOptions};

mod adopt;

pub use adopt::{import, refresh, refresh_in_memory};

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

    /// Settles the journal an interrupted run left (its accepted calls are in `loaded`
    /// already): calls of unknown outcome are settled by reading their chats, then the state is
    /// saved and the journal cleared. A signal stops the reads: nothing is written and the
    /// journal stays.
    pub async fn settle(
        &self,
        cx: &mut Context,
        session: &Session,
        loaded: &mut Loaded,
        api: &ApiArgs,
    ) -> Result<(), Error> {
        if loaded.journal.is_empty() {
            return Ok(());
        }
        let options = SettleOptions {
            grace: seconds(api.settle_timeout),
            ..SettleOptions::default()
        };
        let unsettled = std::mem::take(&mut loaded.journal.unsettled);
        let settled = self
            .signals
            .unless_stopped(
                "Stopped while settling the calls of an interrupted run; nothing was written, and the journal is kept for the next run.",
                sync::settle(&mut loaded.state, &unsettled, &session.client, &options),
            )
            .await?
            .context("failed to settle the calls of an interrupted run; the journal is kept for the next attempt")?;
        cx.ui.status(format!(
            "Settled the journal of an interrupted run: {} landed, {} not made.",
            render::count(loaded.journal.accepted + settled.landed.len(), "call", "calls"),
            settled.not_landed.len()
        ));
        session.store.save(&mut loaded.state)?;
        session.store.clear_journal()?;
        loaded.journal = Default::default();
        Ok(())
    }

    /// Reads the chats `ids` with a progress bar; a signal stops the reads with `stopped`.
    pub async fn read_chats(
        &self,
        cx: &Context,
        client: &Client,
        ids: Vec<String>,
        parallelism: usize,
        stopped: &str,
    ) -> Result<BTreeMap<String, Read>, Error> {
        let bar = cx.ui.progress(Some(ids.len()), "reading chats");
        let reads = self
            .signals
            .unless_stopped(stopped, sync::read_chats(client, ids, parallelism, &|| bar.inc(1)))
            .await;
        bar.finish_and_clear();
        Ok(reads??)
    }
}

/// What apply says when it stops before its first call.
const CANCELLED: &str = "Apply cancelled; nothing was changed.";

/// `roster apply [PLANFILE]`: the saved plan, checked, or a fresh one, shown and approved;
/// carried out; and the report.
pub fn apply(cx: &mut Context, args: &ApplyArgs) -> Result<Exit, Error> {
    let online = Online::start(cx)?;
    let saved = args.plan_file.as_deref().map(read_saved_plan).transpose()?;
    // A saved plan names the config and the state it was made from.
    let (config, state) = match &saved {
        Some(_)
            if !cx.global.config.is_empty() || !args.scope.targets.is_empty() || !args.scope.excludes.is_empty() =>
        {
            return Err(Error::SavedPlanScoped)
        }
        Some(saved) => (config_paths(&saved.config_paths), saved_state(cx, saved)),
        None => (cx.config_paths(), cx.state.clone()),
    };
    let desired = config::load(&config)?;
    let session = online.connect(cx, "apply", cx.store_at(&state)?, args.rate)?;
    online.block_on(async {
        let mut loaded = session.store.load_with_journal()?;
        let pending = cx.pending_timeout(&args.pending);
        let plan = match saved {
            Some(saved) => checked_saved_plan(&session, &mut loaded, saved, &desired, pending, args)?,
            None => match approved_fresh_plan(cx, &online, &session, &mut loaded, &desired, pending, args).await? {
                Approved::Plan(plan) => plan,
                Approved::Ends(exit) => return Ok(exit),
            },
        };
        online.signals.check(CANCELLED)?;
        let progress = cx.ui.apply_progress(cx.global.timings);
        let report = apply::apply(
            &plan,
            &mut loaded.state,
            session.store.as_ref(),
            &session.client,
            &apply_options(cx, args),
            progress.as_ref(),
        )
        .await;
        cx.write(&report, args.format)?;
        Ok(if report.interrupted {
            Exit::Interrupted(online.signals.received().unwrap_or(Signal::Interrupt))
        } else if report.is_success() {
            Exit::Success
        } else {
            Exit::Error
        })
    })
}

/// Where a saved plan's state is. A plan keeps a URL without its password: the same URL given
/// now (`--state`, `ROSTER_STATE`) may bring it.
fn saved_state(cx: &Context, saved: &SavedPlan) -> StateLocation {
    cx.state.or_saved(&saved.state)
}

/// How the engine runs, from apply's flags.
fn apply_options(cx: &Context, args: &ApplyArgs) -> ApplyOptions {
    ApplyOptions {
        parallelism: args.parallelism.max(1),
        adaptive: !args.fixed_parallelism,
        rate: args.rate,
        wait_timeout: seconds(args.wait_timeout),
        pending_timeout: seconds(args.pending.pending_timeout),
        clock: cx.env.clock.clone(),
        ..ApplyOptions::default()
    }
}

/// The saved plan, once it is shown to be exactly what the config and the state give now.
fn checked_saved_plan(
    session: &Session,
    loaded: &mut Loaded,
    saved: SavedPlan,
    desired: &Desired,
    pending: PendingTimeout,
    args: &ApplyArgs,
) -> Result<Plan, Error> {
    if !loaded.existed {
        // A plan made before any state existed names the lineage the new state takes.
        loaded.state.lineage = saved.plan.state.lineage.clone();
    }
    // The journal is settled only after the staleness check: a saved plan made while a journal
    // was pending is stale once settling writes the state.
    let state = &loaded.state;
    saved.check_fresh(
        &desired.digest,
        &StateRef {
            lineage: state.lineage.clone(),
            serial: state.serial,
        },
    )?;
    if !loaded.journal.is_empty() {
        return Err(Error::SavedPlanUnsettled {
            journal: session.store.describe_journal(),
        });
    }
    // Its checksum is unkeyed: trust no step of it that the config and state do not give.
    saved
        .check_derived(desired, state, pending, &real_path)
        .with_context(|| {
            let path = args.plan_file.clone().unwrap_or_default();
            format!("plan file `{}` was refused", path.display())
        })?;
    Ok(saved.plan)
}

/// A fresh plan to apply, or how apply ends without one.
enum Approved {
    Plan(Plan),
    Ends(Exit),
}

/// Settles the journal, makes a fresh plan and shows it; an empty plan ends the apply, and
/// any other is applied once approved.
async fn approved_fresh_plan(
    cx: &mut Context,
    online: &Online,
    session: &Session,
    loaded: &mut Loaded,
    desired: &Desired,
    pending: PendingTimeout,
    args: &ApplyArgs,
) -> Result<Approved, Error> {
    // Resolved before settling, which writes the state: a selection refused changes nothing.
    let selection = select(&args.scope, Some(desired), &loaded.state)?;
    online.settle(cx, session, loaded, &args.api).await?;
    let plan = plan::plan(desired, &loaded.state, &plan_options(&args.scope, selection, pending))?;
    if !cx.ui.quiet || !plan.is_empty() {
        if args.format == Format::Json {
            // Stdout carries the JSON report alone; people still see the plan.
            cx.write_err(&plan, Format::Text)
                .context("failed to write the plan to stderr")?;
        } else {
            cx.write(&plan, Format::Text)
                .context("failed to write the plan to stdout")?;
        }
    }
    if plan.is_empty() {
        if args.format == Format::Json {
            cx.write(&ApplyReport::new(), Format::Json)?;
        }
        return Ok(Approved::Ends(Exit::Success));
    }
    if !approve(cx, args, &online.signals).await? {
        cx.ui.status(CANCELLED);
        return Ok(Approved::Ends(Exit::Error));
    }
    Ok(Approved::Plan(plan))
}

/// Asks for `yes` on a terminal; refuses without one unless `--auto-approve`. A signal while
/// asking cancels the apply.
async fn approve(cx: &mut Context, args: &ApplyArgs, signals: &Signals) -> Result<bool, Error> {
    if args.auto_approve {
        return Ok(true);
    }
    if !cx.env.stdin_terminal {
        return Err(Error::NotApproved);
    }
    let _ = cx.ui.out.flush();
    let _ = write!(
        cx.ui.err,
        "\nDo you want to apply these changes? Only `yes` is accepted: "
    );
    let _ = cx.ui.err.flush();
    // Read on a thread of its own: a read of the terminal goes on after a signal, and the
    // question must end with it. (The thread is left blocked; the process ends soon after.)
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line).map(|_| line);
        let _ = sender.send(read);
    });
    tokio::select! {
        answer = answer => {
            let answer = answer
                .map_err(anyhow::Error::new)
                .context("failed to read the answer")?
                .context("failed to read the answer")?;
            Ok(answer.trim() == "yes")
        }
        signal = signals.first() => {
            let _ = writeln!(cx.ui.err);
            Err(Stopped { signal, message: CANCELLED.to_owned() }.into())
        }
    }
}
