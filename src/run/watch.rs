//! `roster watch --listen ADDR`: options in, one library call ([`crate::watch::run`]), the
//! findings out on stdout as they come, and the signal's exit code when it stops.

use super::online::Online;
use super::{seconds, settle_options_of, Context, Error, Exit, Signal};
use crate::apply::ApplyOptions;
use crate::cli::WatchArgs;
use crate::state::LockInfo;
use crate::watch::{self, Findings, HealOptions, Options, Setup, Watched};

/// The longest a write of the watch waits for the state's lock when `--lock-timeout` does not
/// say: a scheduled apply usually takes a minute at most.
const DEFAULT_LOCK_WAIT: f64 = 60.0;

pub fn watch(cx: &mut Context, args: &WatchArgs) -> Result<Exit, Error> {
    let online = Online::start(cx)?;
    let secret = cx.env.webhook_secret.clone().ok_or(Error::NoWebhookSecret)?;
    let config = Watched::load(cx.config_paths())?;
    let client = online.client(cx, None)?;
    let store = cx.store()?;
    let election = cx.state.election().map(|at| cx.store_at(&at)).transpose()?;
    let options = options(cx, args);
    let stop = online.signals.stop();
    let listen = args.listen.clone();
    let findings = Findings {
        out: std::mem::replace(&mut cx.ui.out, Box::new(std::io::sink())),
        format: args.format,
        notify: None,
        dropped: 0,
    };
    online.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|error| watch::Error::Serve(std::io::Error::new(error.kind(), format!("`{listen}`: {error}"))))?;
        let setup = Setup {
            store: store.as_ref(),
            client: &client,
            stop: &stop,
            listener,
            secret,
            config,
            election,
        };
        watch::run(setup, &options, findings).await?;
        Ok::<_, Error>(())
    })?;
    cx.ui.status("Stopped watching; every write done was complete.");
    Ok(Exit::Interrupted(
        online.signals.received().unwrap_or(Signal::Interrupt),
    ))
}

/// The watch's options, from its flags.
fn options(cx: &Context, args: &WatchArgs) -> Options {
    let lock_wait = if cx.global.lock_timeout > 0.0 {
        cx.global.lock_timeout
    } else {
        DEFAULT_LOCK_WAIT
    };
    let heal = args.heal.then(|| HealOptions {
        apply: ApplyOptions {
            parallelism: args.parallelism,
            wait_timeout: seconds(args.wait_timeout),
            pending_timeout: seconds(args.pending.pending_timeout),
            clock: cx.env.clock.clone(),
            ..ApplyOptions::default()
        },
        give_up_after: args.give_up_after,
        backoff: seconds(args.heal_backoff),
    });
    Options {
        interval: seconds(args.interval),
        config_poll: seconds(args.config_poll),
        lock_wait: seconds(lock_wait),
        lock: LockInfo {
            id: String::new(),
            operation: "watch".to_owned(),
            who: cx.env.user.clone(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            since: String::new(),
        },
        read_parallelism: args.api.read_parallelism.max(1),
        pending_timeout: seconds(args.pending.pending_timeout),
        settle: settle_options_of(&args.api),
        clock: cx.env.clock.clone(),
        heal,
        queue: args.queue.max(1),
        seen: 100_000,
        read_timeout: seconds(args.read_timeout),
        notify: args.notify.clone(),
        config_paths: cx.config_paths(),
    }
}
