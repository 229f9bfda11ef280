//! `roster watch`: keeps the state true between scheduled runs, from Linq's signed webhooks
//! and a refresh on an interval.
//!
//! - `verify.rs`: is this webhook Linq's (signature, timestamp).
//! - `event.rs`: what a verified webhook names (event id, type, chat).
//! - `seen.rs`: each event id handled once, in bounded memory.
//! - `receiver.rs`: the HTTP routes (`POST /webhooks/linq`, `GET /healthz`, `GET /metrics`),
//!   answering at once and queueing the work.
//! - `worker.rs`: the work: reads of the chats named, recorded as `refresh` records them, with
//!   the state's lock only to write; the interval; the config reloaded.
//! - `heal.rs`: `--heal`, with a back-off per chat and giving up on a chat that drifts back.
//! - `finding.rs`, `notify.rs`: what it reports, on stdout and to `--notify URL`.
//! - `metrics.rs`: counters for `/metrics` and `/healthz`.
//! - `config.rs`: the config, loaded again when its files change.
//!
//! With a PostgreSQL state, two watches elect one leader through a lock row of its own (the
//! state's name with `.watch`), so that the state's own lock stays free for `apply`: the other
//! answers `503` and stands by until the leader's lease expires. A leader whose lease could
//! not be renewed steps down and stands by in turn.

mod config;
mod event;
mod finding;
mod heal;
mod metrics;
mod notify;
mod receiver;
mod seen;
mod verify;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

pub use config::Watched;
pub use event::{parse, Envelope, Kind, Malformed};
pub use finding::{Finding, Findings, FINDINGS_FORMAT_VERSION};
pub use heal::HealOptions;
pub use metrics::Metrics;
pub use notify::NotifyError;
pub use receiver::MAX_BODY;
pub use seen::Seen;
pub use verify::{sign, verify, Rejected, Secret, MAX_SKEW};

use crate::clock::Clock;
use crate::linq::Client;
use crate::state::{LockInfo, LockWait, StateError, StateStore};
use crate::stop::Stop;
use crate::sync::SettleOptions;

/// How a watch runs.
#[derive(Clone)]
pub struct Options {
    /// How often every managed chat is refreshed (jittered by a tenth).
    pub interval: Duration,
    /// How often the config files are looked at for changes.
    pub config_poll: Duration,
    /// How long a write waits for the state's lock (a running `apply`).
    pub lock_wait: Duration,
    /// Who holds the lock when the watch writes (its id and time are set at each write).
    pub lock: LockInfo,
    pub read_parallelism: usize,
    pub pending_timeout: Duration,
    pub settle: SettleOptions,
    pub clock: Clock,
    pub heal: Option<HealOptions>,
    /// Webhooks that may wait for the worker; more are answered `503`.
    pub queue: usize,
    /// Event ids remembered to handle each once.
    pub seen: usize,
    /// How long a webhook's body may take to arrive whole.
    pub read_timeout: Duration,
    /// `--notify URL`.
    pub notify: Option<String>,
    pub config_paths: Vec<PathBuf>,
}

/// Why a watch cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot serve webhooks: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Serve(_) => Some("check that `--listen` names a free address of this host".to_owned()),
            Error::Notify(NotifyError::Url(_)) => Some("give `--notify` an `https://` URL".to_owned()),
            Error::Notify(NotifyError::Client(_)) => None,
            Error::State(error) => error.hint(),
        }
    }
}

/// What a watch is given besides its options.
pub struct Setup<'a> {
    pub store: &'a dyn StateStore,
    pub client: &'a Client,
    pub stop: &'a Stop,
    pub listener: tokio::net::TcpListener,
    pub secret: Secret,
    pub config: Watched,
    /// The store whose lock elects the leader (PostgreSQL); `None` leads at once.
    pub election: Option<Box<dyn StateStore>>,
}

/// Runs the watch until a signal: serves webhooks, leads (or stands by, then leads), and works.
pub async fn run(setup: Setup<'_>, options: &Options, mut findings: Findings) -> Result<(), Error> {
    let Setup {
        store,
        client,
        stop,
        listener,
        secret,
        config,
        election,
    } = setup;
    let address = listener.local_addr().map_err(Error::Serve)?;
    let notifier = spawn_notifier(options, &mut findings)?;
    let metrics = Arc::new(Metrics::new(Instant::now()));
    let (queue, work) = mpsc::channel(options.queue.max(1));
    let mut worker = worker::Worker::new(store, client, stop, options, config, metrics.clone(), findings);
    let receiver = Arc::new(receiver::Receiver {
        secret,
        seen: Mutex::new(Seen::new(options.seen)),
        queue,
        managed: worker.managed.clone(),
        metrics: metrics.clone(),
        read_timeout: options.read_timeout,
        interval: options.interval,
    });
    let server = {
        let stop = stop.clone();
        let router = receiver::router(receiver);
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    stop.first_signal().await;
                })
                .await
        })
    };
    worker.findings.report(Finding::Listening {
        address: address.to_string(),
    });
    let led = lead_and_work(election, &mut worker, work, options, stop).await;
    drop(worker);
    let _ = server.await;
    if let Some(notifier) = notifier {
        // The findings of the last moments still go out, for a while.
        let _ = tokio::time::timeout(Duration::from_secs(5), notifier).await;
    }
    led
}

/// Leads (or stands by, then leads) and works until a signal; a leader whose lease is lost
/// steps down and stands by again.
async fn lead_and_work(
    election: Option<Box<dyn StateStore>>,
    worker: &mut worker::Worker<'_>,
    mut work: mpsc::Receiver<Envelope>,
    options: &Options,
    stop: &Stop,
) -> Result<(), Error> {
    let election: Option<Arc<dyn StateStore>> = election.map(Arc::from);
    let mut again = false;
    while stop.signalled().is_none() {
        let guard = lead(election.clone(), worker, options, stop, again).await?;
        if stop.signalled().is_some() {
            break;
        }
        match worker.run(&mut work, guard.as_deref()).await {
            worker::Ended::Stopped => break,
            worker::Ended::LostLead => {
                worker.metrics.leading.store(false, Relaxed);
                worker.findings.report(Finding::Standby {
                    holder: "nobody: this watch's lease could not be renewed".to_owned(),
                });
                again = true;
            }
        }
    }
    Ok(())
}

/// The notifier's task, its queue handed to `findings`.
fn spawn_notifier(options: &Options, findings: &mut Findings) -> Result<Option<tokio::task::JoinHandle<()>>, Error> {
    let Some(url) = &options.notify else { return Ok(None) };
    let (url, client) = notify::client(url)?;
    let (sender, receiver) = mpsc::channel(notify::QUEUE);
    findings.notify = Some(sender);
    Ok(Some(tokio::spawn(notify::run(url, client, receiver, |why| {
        eprintln!("warning: a finding could not be posted to --notify: {why}");
    }))))
}

/// Waits to lead: at once without an election store; else until its lock is this process's
/// (standing by meanwhile, the metrics saying so). The guard leads while held.
async fn lead(
    election: Option<Arc<dyn StateStore>>,
    worker: &mut worker::Worker<'_>,
    options: &Options,
    stop: &Stop,
    again: bool,
) -> Result<Option<Box<dyn crate::state::LockGuard>>, Error> {
    let Some(election) = election else { return Ok(None) };
    let info = |operation: &str| LockInfo {
        id: uuid::Uuid::new_v4().to_string(),
        operation: operation.to_owned(),
        since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        ..options.lock.clone()
    };
    match election.lock(info("watch"), &LockWait::timeout(Duration::ZERO)) {
        Ok(guard) => {
            if again {
                worker.metrics.leading.store(true, Relaxed);
                worker.findings.report(Finding::Leading);
            }
            return Ok(Some(guard));
        }
        Err(StateError::Locked { holder, .. }) => {
            worker.metrics.leading.store(false, Relaxed);
            worker.findings.report(Finding::Standby {
                holder: holder.to_string(),
            });
        }
        Err(error) => return Err(error.into()),
    }
    let (stop, lock) = (stop.clone(), info("watch"));
    let waited = tokio::task::spawn_blocking(move || {
        let wait = LockWait {
            timeout: Duration::from_secs(30 * 24 * 3600),
            stop: Some(&stop),
        };
        election.lock(lock, &wait)
    })
    .await;
    match waited {
        Ok(Ok(guard)) => {
            worker.metrics.leading.store(true, Relaxed);
            worker.findings.report(Finding::Leading);
            Ok(Some(guard))
        }
        // A signal ended the wait: the standby stops without having led.
        Ok(Err(StateError::LockWaitStopped { .. })) | Err(_) => Ok(None),
        Ok(Err(error)) => Err(error.into()),
    }
}
