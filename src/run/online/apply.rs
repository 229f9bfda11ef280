//! `roster apply [PLANFILE]`: the saved plan, checked, or a fresh one, shown and approved;
//! carried out by the engine ([`crate::apply`]); and the report.

use std::io::{BufRead, Write};

use super::super::{
    check_keys, config_paths, note_no_state, plan_options, read_saved_plan, real_path, seconds, select, Context, Error,
    ErrorContext as _, Exit, Signal, Signals, Stopped,
};
use super::{confirm, refuse_foreign_lines, settle, Online, Session};
use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::cli::ApplyArgs;
use crate::config::{self, Desired};
use crate::plan::{self, Plan, SavedPlan, StateRef};
use crate::render::Format;
use crate::state::{Loaded, PendingTimeout, StateLocation};

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
        if !loaded.existed {
            note_no_state(&mut cx.ui, &session.store.describe());
        }
        let pending = cx.pending_timeout(&args.pending);
        let plan = match saved {
            Some(saved) => {
                let plan = checked_saved_plan(&session, &mut loaded, saved, &desired, pending, args)?;
                refuse_foreign_lines(&online, &session.client, &desired, &loaded.state, &plan.selection).await?;
                confirm(&online, &session.client, CANCELLED).await?;
                plan
            }
            None => match approved_fresh_plan(cx, &online, &session, &mut loaded, &desired, pending, args).await? {
                Approved::Plan(plan) => *plan,
                Approved::Ends(exit) => return Ok(exit),
            },
        };
        online.signals.check(CANCELLED)?;
        let progress = cx.ui.apply_progress(cx.global.timings);
        let options = ApplyOptions {
            // Creates an interrupted run left open, that settling could not settle yet.
            open_creates: loaded.journal.creates.clone(),
            ..apply_options(cx, args)
        };
        let report = apply::apply(
            &plan,
            &mut loaded.state,
            session.store.as_ref(),
            &session.client,
            &options,
            progress.as_ref(),
        )
        .await;
        cx.write(&report, args.format)?;
        Ok(if report.interrupted {
            Exit::Interrupted(online.signals.received().unwrap_or(Signal::Interrupt))
        } else if !report.unknown.is_empty() {
            return Err(Error::UnknownChats(report.unknown));
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
    Plan(Box<Plan>),
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
    // Checked before settling, which writes the state: a key that stands for no chat, or a
    // selection refused, changes nothing.
    check_keys(desired, &loaded.state)?;
    let selection = select(&args.scope, Some(desired), &loaded.state)?;
    refuse_foreign_lines(online, &session.client, desired, &loaded.state, &selection).await?;
    // Settling confirms the address itself when there is a journal to settle.
    settle(cx, online, session, loaded, &args.api).await?;
    let plan = plan::plan(desired, &loaded.state, &plan_options(&args.scope, selection, pending))?;
    if !cx.ui.quiet || plan.has_changes() {
        if args.format == Format::Json {
            // Stdout carries the JSON report alone; people still see the plan.
            cx.write_err(&plan, Format::Text)
                .context("failed to write the plan to stderr")?;
        } else {
            cx.write(&plan, Format::Text)
                .context("failed to write the plan to stdout")?;
            // Before the first call: where stdout and stderr share a log (CI), the plan comes
            // before the progress of its calls.
            cx.ui.out.flush().context("failed to write the plan to stdout")?;
        }
    }
    // Nothing to do (at most members who left on their own, who are not re-added).
    if !plan.has_changes() {
        if args.format == Format::Json {
            cx.write(&ApplyReport::new(), Format::Json)?;
        }
        return Ok(Approved::Ends(Exit::Success));
    }
    // Before the question: a wrong address or token is not worth a `yes`.
    confirm(online, &session.client, CANCELLED).await?;
    if !approve(cx, args, &online.signals).await? {
        cx.ui.status(CANCELLED);
        return Ok(Approved::Ends(Exit::Error));
    }
    Ok(Approved::Plan(Box::new(plan)))
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
