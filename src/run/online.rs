//! The commands that talk to Linq: apply, import, refresh and `plan --refresh`.

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::{plan_options, read_saved_plan, write_plan, Context, Exit, Signal, Signals, Stopped};
use crate::apply::{self, ApplyOptions, ApplyReport, BarProgress, LineProgress, NoProgress, Progress, TimingsProgress};
use crate::cli::{ApiArgs, ApplyArgs, Format};
use crate::linq::{self, Client, ClientConfig};
use crate::plan::{self, StateRef};
use crate::render::{self, TextOptions};
use crate::state::journal::{self, SettleOptions};
use crate::state::{FileStore, State, StateStore};

mod adopt;

pub use adopt::{import, refresh, refreshed_state};

/// Builds the Linq client from the token and base URL `main` read from the environment.
pub(super) fn client(cx: &Context, rate: Option<f64>) -> anyhow::Result<Client> {
    let Some(token) = cx.env.token.clone() else {
        bail!("no Linq API token: set `LINQ_API_V3_API_KEY`\nhint: `roster plan` works offline and needs no token");
    };
    let base_url = cx
        .env
        .base_url
        .clone()
        .unwrap_or_else(|| linq::DEFAULT_BASE_URL.to_owned());
    let mut config = ClientConfig::new(base_url, token);
    config.rate = rate;
    Ok(Client::new(config)?)
}

/// A duration from a count of seconds that `cli::seconds` checked (finite, 0 to 30 days).
pub(super) fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

/// A runtime for the API commands: I/O bound, so two worker threads are plenty.
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// Settles the journal an interrupted run left: accepted calls are folded into the state,
/// calls of unknown outcome are settled by reading their chats; then the state is saved and the
/// journal cleared. The caller holds the lock. A signal stops the reads: nothing is written and
/// the journal stays.
pub(super) async fn settle_journal(
    cx: &mut Context,
    store: &FileStore,
    state: &mut State,
    client: &Client,
    api: &ApiArgs,
    signals: &Signals,
) -> anyhow::Result<()> {
    let records = store.read_journal()?;
    if records.is_empty() {
        return Ok(());
    }
    let unsettled = journal::fold(state, &records);
    let options = SettleOptions {
        grace: seconds(api.settle_timeout),
        ..SettleOptions::default()
    };
    let settled = signals
        .unless_stopped(
            "Stopped while settling the calls of an interrupted run; nothing was written, and the journal is kept for the next run.",
            journal::settle(state, &unsettled, client, &options),
        )
        .await?
        .context("failed to settle the calls of an interrupted run; the journal is kept for the next attempt")?;
    cx.ui.status(format!(
        "Settled the journal of an interrupted run: {} landed, {} not made.",
        render::count(
            records
                .iter()
                .filter(|r| matches!(r, crate::state::JournalRecord::Accepted { .. }))
                .count()
                + settled.landed.len(),
            "call",
            "calls"
        ),
        settled.not_landed.len()
    ));
    store.save(state)?;
    store.clear_journal()
}

/// What apply says when it stops before its first call.
const CANCELLED: &str = "Apply cancelled; nothing was changed.";

/// Asks for `yes` on a terminal; refuses without one unless `--auto-approve`. A signal while
/// asking cancels the apply.
async fn approve(cx: &mut Context, args: &ApplyArgs, signals: &Signals) -> anyhow::Result<bool> {
    if args.auto_approve {
        return Ok(true);
    }
    if !cx.env.stdin_terminal {
        bail!("refusing to apply without approval: not on a terminal\nhint: review the plan and pass `--auto-approve`, or apply a saved plan with `roster apply PLANFILE`");
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
            let answer = answer.context("failed to read the answer")?.context("failed to read the answer")?;
            Ok(answer.trim() == "yes")
        }
        signal = signals.first() => {
            let _ = writeln!(cx.ui.err);
            Err(Stopped { signal, message: CANCELLED.to_owned() }.into())
        }
    }
}

pub fn apply(cx: &mut Context, args: &ApplyArgs) -> anyhow::Result<Exit> {
    let runtime = runtime()?;
    let signals = Signals::watch(&runtime, cx.ui.quiet)?;
    let saved = args.plan_file.as_deref().map(read_saved_plan).transpose()?;
    if let Some(saved) = &saved {
        if !cx.global.config.is_empty() || !args.scope.targets.is_empty() {
            bail!("a saved plan is applied exactly as made: `--config` and `--target` cannot be given with PLANFILE");
        }
        cx.global.config = saved.config_paths.clone();
        cx.global.state = saved.state_path.clone();
    }
    let desired = cx.load_desired()?;
    let client = client(cx, args.rate)?;
    let store = cx.store();
    let _lock = cx.lock(&store, "apply", &signals)?;
    runtime.block_on(async {
        let mut state = match store.load()? {
            Some(state) => state,
            // A plan made before any state existed names the lineage the new state takes.
            None => State { lineage: saved.as_ref().map_or_else(|| State::new().lineage, |s| s.plan.state.lineage.clone()), ..State::new() },
        };
        let pending = cx.pending_timeout(&args.pending);
        let plan = if let Some(saved) = saved {
            // The journal is settled only after the staleness check: a saved plan made while a
            // journal was pending is stale once settling writes the state.
            saved.check_fresh(&desired.digest, &StateRef { lineage: state.lineage.clone(), serial: state.serial })?;
            if !store.read_journal()?.is_empty() {
                bail!(
                    "plan is stale: an interrupted apply left calls to settle in `{}`; nothing was sent\nhint: run `roster refresh` to settle them (it applies nothing), then `roster plan --out FILE` again",
                    store.journal_path().display()
                );
            }
            // Its checksum is unkeyed: trust no step of it that the config and state do not give.
            saved.check_derived(&desired, &state, pending).with_context(|| {
                let path = args.plan_file.clone().unwrap_or_default();
                format!("plan file `{}` was refused", path.display())
            })?;
            saved.plan
        } else {
            settle_journal(cx, &store, &mut state, &client, &args.api, &signals).await?;
            let plan = plan::plan(&desired, &state, &plan_options(&args.scope, pending))?;
            if !cx.ui.quiet || !plan.is_empty() {
                if args.format == Format::Json {
                    // Stdout carries the JSON report alone; people still see the plan.
                    let options = TextOptions { color: cx.ui.err_color, ..cx.text_options() };
                    render::plan_text(&plan, options, &mut *cx.ui.err).context("failed to write the plan to stderr")?;
                } else {
                    write_plan(cx, &plan, Format::Text)?;
                }
            }
            if plan.is_empty() {
                if args.format == Format::Json {
                    render::write_json(&mut cx.ui.out, &ApplyReport::new())?;
                }
                return Ok(Exit::Success);
            }
            if !approve(cx, args, &signals).await? {
                cx.ui.status(CANCELLED);
                return Ok(Exit::Error);
            }
            plan
        };
        signals.check(CANCELLED)?;
        let options = ApplyOptions {
            parallelism: args.parallelism.max(1),
            adaptive: !args.fixed_parallelism,
            rate: args.rate,
            wait_timeout: seconds(args.wait_timeout),
            pending_timeout: seconds(args.pending.pending_timeout),
            clock: cx.env.clock.clone(),
            ..ApplyOptions::default()
        };
        let verbose = cx.ui.verbose;
        let progress: Box<dyn Progress> = match (cx.ui.quiet, cx.ui.interactive, cx.global.timings) {
            (true, _, false) => Box::new(NoProgress),
            (true, _, true) => Box::new(TimingsProgress::new(NoProgress, std::io::stderr())),
            (false, true, false) => Box::new(BarProgress::new().verbose(verbose)),
            (false, true, true) => Box::new(TimingsProgress::new(BarProgress::new().verbose(verbose), std::io::stderr())),
            (false, false, false) => Box::new(LineProgress::new(std::io::stderr()).verbose(verbose)),
            (false, false, true) => Box::new(TimingsProgress::new(
                LineProgress::new(std::io::stderr()).verbose(verbose),
                std::io::stderr(),
            )),
        };
        let report = apply::apply(&plan, &mut state, &store, &client, &options, progress.as_ref(), signals.stop()).await;
        match args.format {
            Format::Json => render::write_json(&mut cx.ui.out, &report)?,
            Format::Text | Format::Markdown => {
                let options = cx.text_options();
                render::apply_report_text(&report, options, &mut cx.ui.out)?
            }
        }
        Ok(if report.interrupted {
            Exit::Interrupted(signals.received().unwrap_or(Signal::Interrupt))
        } else if report.is_success() {
            Exit::Success
        } else {
            Exit::Error
        })
    })
}
