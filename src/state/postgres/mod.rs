//! The PostgreSQL backend: one state, one lock and a history for every machine of a team.
//!
//! `--state postgres://…?name=STATE` keeps the state `STATE` in the schema `roster` (see
//! [`schema`]): its versions in `versions` (every serial, with when, who, host and operation),
//! which one is current in `states`, its lock in `locks`, its journal in `journal`.
//!
//! # The lock and fencing
//!
//! 1. The lock is a row: holder, operation, host, pid, since, and a lease that expires. It is
//!    taken by inserting the row, or by replacing one whose lease expired (the run that did so
//!    is named in a note). Times are the database's, so clocks of machines never disagree.
//! 2. While the run lives, a task renews the lease every third of its length. A lease that
//!    expired is never renewed: the run that held it has lost it for good.
//! 3. Every write is one transaction that first checks, with the lock row locked, that the row
//!    is still this run's and its lease unexpired; and a state write also that the stored
//!    serial is the one this run read. So a run whose lock was broken (`force-unlock`) or
//!    expired cannot write the state, nor journal a call it would then make.
//! 4. Journal appends are one statement each: a batch of records, in order, only if the lock
//!    holds. The apply engine sends one per batch, as it syncs the file journal once per batch.
//!
//! # Connections
//!
//! The store talks to the database on a thread of its own (a small runtime), so the trait
//! stays synchronous like the file store's, and the lease is renewed while the caller works.
//! A connection lost is not re-made for writes: the run stops making calls (its journal can no
//! longer be written), and the next run settles what was in flight. Releasing the lock is the
//! exception: it is tried on a fresh connection, so the next run need not wait for the lease.

mod schema;
mod target;
mod tls;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

pub use target::{is_url, redact, PasswordSources, SslMode, Target, DEFAULT_LEASE, DEFAULT_NAME};

use super::error::JournalPlace;
use super::file::corrupt_journal;
use super::lock::{self, Attempt, Locking, Unlock};
use super::{
    parse_state, ConnectCause, JournalRecord, LockGuard, LockInfo, LockWait, State, StateError, StateStore, Version,
};

/// How often a run waiting for the lock looks again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// The longest a run spends releasing its lock over a fresh connection when its own is gone.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The state kept in PostgreSQL.
pub struct PostgresStore {
    db: Arc<Db>,
}

/// The connection and the thread it runs on, shared by the store and its lock.
struct Db {
    target: Target,
    config: Config,
    /// The runtime the connection, the queries and the lease renewal run on.
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    /// Why the connection ended, once it did.
    closed: Arc<Mutex<Option<String>>>,
    /// The lock this run holds, for fenced writes and for who wrote a version.
    held: Mutex<Option<LockInfo>>,
    /// Held by each operation and each lease renewal: they share one connection, and a
    /// statement sent while another operation's transaction is open would run inside it.
    one_at_a_time: tokio::sync::Mutex<()>,
    /// The journal append, prepared on first use.
    append: tokio::sync::OnceCell<tokio_postgres::Statement>,
}

impl Drop for Db {
    fn drop(&mut self) {
        // Never waits: the store may be dropped where blocking is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Connects to the database `url` names and brings its schema up to date. `user` is the
    /// default user name (libpq's: the login name).
    pub fn connect(url: &str, user: &str, passwords: &PasswordSources) -> Result<PostgresStore, StateError> {
        let target = Target::parse(url, user)?;
        let password = target.password(passwords)?;
        let mut config = Config::new();
        config
            .host(&target.host)
            .port(target.port)
            .user(&target.user)
            .dbname(&target.database)
            .application_name(&target.application_name)
            .connect_timeout(target.connect_timeout)
            .keepalives(true)
            .ssl_mode(match target.ssl_mode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
            });
        if let Some(password) = &password {
            config.password(password.as_bytes());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("roster-postgres")
            .enable_all()
            .build()
            .map_err(|e| StateError::io("failed to start the database thread", e))?;
        let closed = Arc::new(Mutex::new(None));
        let opened = {
            let (target, closed) = (target.clone(), closed.clone());
            block(&runtime, async move {
                let mut client = open(&config, &target, closed).await?;
                schema::migrate(&mut client, &target).await?;
                Ok::<_, StateError>((client, config))
            })
        };
        let (client, config) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(error)) | Err(error) => {
                // Never waits: this may run where blocking is not allowed.
                runtime.shutdown_background();
                return Err(error);
            }
        };
        Ok(PostgresStore {
            db: Arc::new(Db {
                target,
                config,
                runtime: Some(runtime),
                client,
                closed,
                held: Mutex::new(None),
                one_at_a_time: tokio::sync::Mutex::new(()),
                append: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The URL, without its password.
    pub fn target(&self) -> &Target {
        &self.db.target
    }

    /// Runs `work` on the database thread and waits for it.
    fn run<T, F>(&self, work: impl FnOnce(Arc<Db>) -> F) -> Result<T, StateError>
    where
        F: Future<Output = Result<T, StateError>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self
            .db
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the store");
        let (db, work) = (self.db.clone(), work(self.db.clone()));
        block(runtime, async move {
            let _alone = db.one_at_a_time.lock().await;
            work.await
        })?
    }

    /// The lock this run holds, or an error for a write without one.
    fn holder(&self) -> Result<LockInfo, StateError> {
        lock(&self.db.held).clone().ok_or_else(|| StateError::NotHeld {
            target: self.db.target.to_string(),
        })
    }

    /// Writes `state` as the next current version, fenced (rule 3 of the module doc).
    fn write(&self, state: &State, current: Option<u64>) -> Result<(), StateError> {
        let holder = self.holder()?;
        let document = serde_json::to_string(state).map_err(|error| StateError::Encode {
            context: "failed to serialize the state".to_owned(),
            error,
        })?;
        let (lineage, serial) = (state.lineage.clone(), state.serial as i64);
        self.run(move |db| async move {
            const DOING: &str = "failed to write the state";
            let fail = |e: tokio_postgres::Error| db.error(DOING, &e);
            let name = &db.target.name;
            let client = &db.client;
            db.transaction(DOING, async {
                db.fence(&holder).await?;
                let changed = match current {
                    Some(read) => {
                        client
                            .execute(
                                "UPDATE roster.states SET serial = $2, lineage = $3 WHERE name = $1 AND serial = $4",
                                &[name, &serial, &lineage, &(read as i64)],
                            )
                            .await
                    }
                    None => {
                        client
                            .execute(
                                "INSERT INTO roster.states (name, lineage, serial) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                                &[name, &lineage, &serial],
                            )
                            .await
                    }
                };
                let moved = changed.map_err(fail)? == 0;
                if moved {
                    let now: Option<i64> = client
                        .query_opt("SELECT serial FROM roster.states WHERE name = $1", &[name])
                        .await
                        .map_err(fail)?
                        .map(|row| row.get(0));
                    return Err(StateError::MovedOn {
                        target: db.target.to_string(),
                        read: current,
                        now,
                    });
                }
                client
                    .execute(
                        "INSERT INTO roster.versions (name, serial, lineage, document, written_by, host, operation) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[name, &serial, &lineage, &document, &holder.who, &holder.host, &holder.operation],
                    )
                    .await
                    .map_err(fail)?;
                Ok(())
            })
            .await
        })
    }

    /// One try at the lock row: `Ok(Ok(broke))` when taken, `Ok(Err(holder))` when held.
    fn take_row(&self, info: &LockInfo) -> Result<Result<Option<LockInfo>, LockInfo>, StateError> {
        let info = info.clone();
        self.run(move |db| async move {
            const DOING: &str = "failed to take the state lock";
            let fail = |e: tokio_postgres::Error| db.error(DOING, &e);
            let client = &db.client;
            let name = &db.target.name;
            let lease = db.target.lease.as_secs_f64();
            let pid = i64::from(info.pid);
            let values: [&(dyn tokio_postgres::types::ToSql + Sync); 8] =
                [name, &info.id, &info.operation, &info.who, &info.host, &pid, &info.since, &lease];
            loop {
                let inserted = client
                    .execute(
                        "INSERT INTO roster.locks (name, id, operation, who, host, pid, since, expires_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
                         ON CONFLICT (name) DO NOTHING",
                        &values,
                    )
                    .await
                    .map_err(fail)?;
                if inserted == 1 {
                    return Ok(Ok(None));
                }
                let found = db.transaction(DOING, async {
                    let Some(row) = client
                        .query_opt(
                            "SELECT id, operation, who, host, pid, since, expires_at <= now() FROM roster.locks WHERE name = $1 FOR UPDATE",
                            &[name],
                        )
                        .await
                        .map_err(fail)?
                    else {
                        return Ok(None);
                    };
                    let (holder, expired) = (lock_info(&row), row.get::<_, bool>(6));
                    if !expired {
                        return Ok(Some(Err(holder)));
                    }
                    client
                        .execute(
                            "UPDATE roster.locks SET id = $2, operation = $3, who = $4, host = $5, pid = $6, since = $7,
                             expires_at = now() + make_interval(secs => $8) WHERE name = $1",
                            &values,
                        )
                        .await
                        .map_err(fail)?;
                    Ok(Some(Ok(Some(holder))))
                });
                match found.await? {
                    Some(taken_or_held) => return Ok(taken_or_held),
                    // Released meanwhile: try again.
                    None => continue,
                }
            }
        })
    }
}

impl Db {
    /// Runs `work` in one transaction: committed when it succeeds, rolled back when it fails
    /// (a failure to begin or commit is an error of `doing`).
    async fn transaction<T>(
        &self,
        doing: &str,
        work: impl Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        let fail = |e: tokio_postgres::Error| self.error(doing, &e);
        self.client.batch_execute("BEGIN").await.map_err(fail)?;
        match work.await {
            Ok(done) => {
                self.client.batch_execute("COMMIT").await.map_err(fail)?;
                Ok(done)
            }
            Err(error) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(error)
            }
        }
    }

    /// An error of `doing`, saying whether the connection was lost, with what to do next.
    fn error(&self, doing: &str, error: &tokio_postgres::Error) -> StateError {
        let (doing, target) = (doing.to_owned(), self.target.to_string());
        if self.client.is_closed() || error.is_closed() {
            let why = lock(&self.closed).clone().unwrap_or_else(|| describe_error(error));
            return StateError::ConnectionLost { doing, target, why };
        }
        StateError::Database {
            doing,
            target,
            reason: describe_error(error),
        }
    }

    /// Checks, inside the open transaction, that `holder` still holds the lock with an
    /// unexpired lease, and keeps the lock row from changing until the transaction ends.
    async fn fence(&self, holder: &LockInfo) -> Result<(), StateError> {
        let held = self
            .client
            .query_opt(
                "SELECT 1 FROM roster.locks WHERE name = $1 AND id = $2 AND expires_at > now() FOR SHARE",
                &[&self.target.name, &holder.id],
            )
            .await
            .map_err(|e| self.error("failed to check the state lock", &e))?;
        if held.is_none() {
            return Err(self.lost(&holder.id));
        }
        Ok(())
    }

    fn lost(&self, id: &str) -> StateError {
        StateError::LockLost {
            id: id.to_owned(),
            target: self.target.to_string(),
        }
    }
}

/// A lock row's holder: its first six columns, as every query of the lock selects them.
fn lock_info(row: &tokio_postgres::Row) -> LockInfo {
    LockInfo {
        id: row.get(0),
        operation: row.get(1),
        who: row.get(2),
        host: row.get(3),
        pid: u32::try_from(row.get::<_, i64>(4)).unwrap_or_default(),
        since: row.get(5),
    }
}

/// Connects, and runs the connection on the current runtime, noting why it ends.
async fn open(config: &Config, target: &Target, closed: Arc<Mutex<Option<String>>>) -> Result<Client, StateError> {
    let connect_error = |e: tokio_postgres::Error| {
        let reason = describe_error(&e);
        let cause = match e.code() {
            Some(code)
                if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                ConnectCause::Authentication
            }
            Some(_) => ConnectCause::Refused,
            None if reason.contains("TLS") || reason.contains("certificate") => ConnectCause::Tls,
            None => ConnectCause::Unreachable,
        };
        StateError::Connect {
            target: target.to_string(),
            reason,
            cause,
        }
    };
    let client = match target.ssl_mode {
        SslMode::Disable => {
            let (client, connection) = config.connect(NoTls).await.map_err(connect_error)?;
            tokio::spawn(watch(connection, closed));
            client
        }
        SslMode::Prefer | SslMode::Require => {
            let (client, connection) = config
                .connect(tls::MakeRustls::unverified()?)
                .await
                .map_err(connect_error)?;
            tokio::spawn(watch(connection, closed));
            client
        }
        SslMode::VerifyFull => {
            let tls = tls::MakeRustls::verifying(target.ssl_root_cert.as_deref())?;
            let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
            tokio::spawn(watch(connection, closed));
            client
        }
    };
    Ok(client)
}

/// Drives a connection to its end and notes why it ended.
async fn watch<F: Future<Output = Result<(), tokio_postgres::Error>>>(
    connection: F,
    closed: Arc<Mutex<Option<String>>>,
) {
    let why = match connection.await {
        Ok(()) => "closed".to_owned(),
        Err(error) => describe_error(&error),
    };
    *lock(&closed) = Some(why);
}

/// The server's message for a database error, else the error and its causes.
pub(crate) fn describe_error(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return db.message().to_owned();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text
}

/// Runs `work` on `runtime` from any thread, within another runtime or not, and waits for it.
fn block<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, StateError> {
    let (sender, answer) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = sender.send(work.await);
    });
    answer.recv().map_err(|_| StateError::DatabaseThread)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Locking for PostgresStore {
    fn state_name(&self) -> String {
        self.describe()
    }

    fn lock_place(&self) -> String {
        self.describe()
    }

    fn poll(&self) -> Duration {
        LOCK_POLL
    }

    fn try_lock(&self, info: &LockInfo) -> Result<Attempt, StateError> {
        let broke = match self.take_row(info)? {
            Ok(broke) => broke,
            Err(holder) => return Ok(Attempt::Held(Some(holder))),
        };
        *lock(&self.db.held) = Some(info.clone());
        let renewal = self.renew(info);
        Ok(Attempt::Taken(Box::new(PostgresLock {
            db: self.db.clone(),
            info: info.clone(),
            broke,
            renewal,
        })))
    }

    fn read_lock(&self) -> Result<Option<LockInfo>, StateError> {
        self.run(|db| async move {
            let row = db
                .client
                .query_opt(
                    "SELECT id, operation, who, host, pid, since FROM roster.locks WHERE name = $1",
                    &[&db.target.name],
                )
                .await
                .map_err(|e| db.error("failed to read the state lock", &e))?;
            Ok(row.as_ref().map(lock_info))
        })
    }

    fn remove_lock(&self, id: &str) -> Result<Unlock, StateError> {
        let owned = id.to_owned();
        let removed = self.run(move |db| async move {
            let row = db
                .client
                .query_opt(
                    "DELETE FROM roster.locks WHERE name = $1 AND id = $2 RETURNING id, operation, who, host, pid, since",
                    &[&db.target.name, &owned],
                )
                .await
                .map_err(|e| db.error("failed to clear the state lock", &e))?;
            Ok(row.as_ref().map(lock_info))
        })?;
        Ok(match removed {
            Some(holder) => Unlock::Removed(holder),
            None => match self.read_lock()? {
                None => Unlock::Free,
                Some(holder) => Unlock::HeldBy(holder),
            },
        })
    }
}

impl StateStore for PostgresStore {
    fn describe(&self) -> String {
        self.db.target.to_string()
    }

    fn describe_journal(&self) -> String {
        format!("the journal of `{}`", self.db.target)
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        let document = self.run(|db| async move {
            let row = db
                .client
                .query_opt(
                    "SELECT v.document FROM roster.states s JOIN roster.versions v ON v.name = s.name AND v.serial = s.serial WHERE s.name = $1",
                    &[&db.target.name],
                )
                .await
                .map_err(|e| db.error("failed to read the state", &e))?;
            Ok(row.map(|row| row.get::<_, String>(0)))
        })?;
        document
            .map(|document| {
                parse_state(document.as_bytes()).map_err(|reason| StateError::Refused {
                    what: format!("the state in `{}` was refused and left untouched", self.db.target),
                    reason,
                })
            })
            .transpose()
    }

    /// Fenced: written only while this run holds the lock and the stored serial is `read`.
    fn replace(&self, state: &State, read: Option<u64>) -> Result<(), StateError> {
        self.write(state, read)
    }

    fn lock(&self, info: LockInfo, wait: &LockWait<'_>) -> Result<Box<dyn LockGuard>, StateError> {
        lock::wait(self, &info, wait)
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        lock::force_unlock(self, id)
    }

    fn append_journal(&self, records: &[JournalRecord]) -> Result<(), StateError> {
        let holder = self.holder()?;
        let lines = journal_lines(records)?;
        let count = lines.len() as u64;
        self.run(move |db| async move {
            let fail = |e: tokio_postgres::Error| db.error("failed to write the journal", &e);
            // Prepared once per run: then each batch is one round trip.
            let append = db
                .append
                .get_or_try_init(|| {
                    db.client.prepare(
                        "WITH held AS (
                            SELECT 1 FROM roster.locks WHERE name = $1 AND id = $2 AND expires_at > now() FOR SHARE
                         )
                         INSERT INTO roster.journal (name, record)
                         SELECT $1, r.record FROM unnest($3::text[]) WITH ORDINALITY AS r(record, n)
                         WHERE EXISTS (SELECT 1 FROM held) ORDER BY r.n",
                    )
                })
                .await
                .map_err(fail)?;
            let written = db
                .client
                .execute(append, &[&db.target.name, &holder.id, &lines])
                .await
                .map_err(fail)?;
            if written != count {
                return Err(db.lost(&holder.id));
            }
            Ok(())
        })
    }

    fn read_journal(&self) -> Result<Vec<JournalRecord>, StateError> {
        let rows = self.run(|db| async move {
            let rows = db
                .client
                .query(
                    "SELECT seq, record FROM roster.journal WHERE name = $1 ORDER BY seq",
                    &[&db.target.name],
                )
                .await
                .map_err(|e| db.error("failed to read the journal", &e))?;
            Ok(rows
                .into_iter()
                .map(|row| (row.get::<_, i64>(0), row.get::<_, String>(1)))
                .collect::<Vec<_>>())
        })?;
        rows.into_iter()
            .map(|(seq, record)| {
                serde_json::from_str(&record).map_err(|error| {
                    let at = JournalPlace::Row {
                        target: self.describe(),
                        seq,
                    };
                    corrupt_journal(at, &error)
                })
            })
            .collect()
    }

    /// One transaction: the journal rows of this state deleted and `records` written, under
    /// the fence, so that no crash leaves the journal without what must stay open.
    fn replace_journal(&self, records: &[JournalRecord]) -> Result<(), StateError> {
        let holder = self.holder()?;
        let lines = journal_lines(records)?;
        self.run(move |db| async move {
            const DOING: &str = "failed to write the journal";
            db.transaction(DOING, async {
                db.fence(&holder).await?;
                let fail = |e: tokio_postgres::Error| db.error(DOING, &e);
                db.client
                    .execute("DELETE FROM roster.journal WHERE name = $1", &[&db.target.name])
                    .await
                    .map_err(fail)?;
                db.client
                    .execute(
                        "INSERT INTO roster.journal (name, record)
                         SELECT $1, r.record FROM unnest($2::text[]) WITH ORDINALITY AS r(record, n) ORDER BY r.n",
                        &[&db.target.name, &lines],
                    )
                    .await
                    .map_err(fail)?;
                Ok(())
            })
            .await
        })
    }

    fn clear_journal(&self) -> Result<(), StateError> {
        let holder = self.holder()?;
        self.run(move |db| async move {
            const DOING: &str = "failed to clear the journal";
            db.transaction(DOING, async {
                db.fence(&holder).await?;
                db.client
                    .execute("DELETE FROM roster.journal WHERE name = $1", &[&db.target.name])
                    .await
                    .map_err(|e| db.error(DOING, &e))?;
                Ok(())
            })
            .await
        })
    }

    fn history(&self) -> Result<Vec<Version>, StateError> {
        self.run(|db| async move {
            let rows = db
                .client
                .query(
                    "SELECT v.serial, v.lineage,
                        to_char(v.written_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                        v.written_by, v.host, v.operation, v.serial = s.serial
                     FROM roster.versions v LEFT JOIN roster.states s ON s.name = v.name
                     WHERE v.name = $1 ORDER BY v.serial DESC",
                    &[&db.target.name],
                )
                .await
                .map_err(|e| db.error("failed to read the history", &e))?;
            Ok(rows
                .into_iter()
                .map(|row| Version {
                    serial: row.get::<_, i64>(0) as u64,
                    lineage: row.get(1),
                    written_at: Some(row.get(2)),
                    who: Some(row.get(3)),
                    host: Some(row.get(4)),
                    operation: Some(row.get(5)),
                    current: row.get::<_, Option<bool>>(6).unwrap_or(false),
                })
                .collect())
        })
    }

    fn version(&self, serial: u64) -> Result<Option<State>, StateError> {
        let document = self.run(move |db| async move {
            let row = db
                .client
                .query_opt(
                    "SELECT document FROM roster.versions WHERE name = $1 AND serial = $2",
                    &[&db.target.name, &(serial as i64)],
                )
                .await
                .map_err(|e| db.error("failed to read the history", &e))?;
            Ok(row.map(|row| row.get::<_, String>(0)))
        })?;
        document
            .map(|document| {
                parse_state(document.as_bytes()).map_err(|reason| StateError::Refused {
                    what: format!("serial {serial} in `{}` is not a readable state", self.db.target),
                    reason,
                })
            })
            .transpose()
    }
}

impl PostgresStore {
    /// Starts renewing the lease of `info` (rule 2 of the module doc).
    fn renew(&self, info: &LockInfo) -> tokio::task::JoinHandle<()> {
        let db = self.db.clone();
        let id = info.id.clone();
        let runtime = self
            .db
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the store");
        runtime.spawn(async move {
            let every = db.target.lease / 3;
            loop {
                tokio::time::sleep(every).await;
                let _alone = db.one_at_a_time.lock().await;
                let renewed = db
                    .client
                    .execute(
                        "UPDATE roster.locks SET expires_at = now() + make_interval(secs => $3)
                         WHERE name = $1 AND id = $2 AND expires_at > now()",
                        &[&db.target.name, &id, &db.target.lease.as_secs_f64()],
                    )
                    .await;
                // Lost, or no connection: fenced writes now fail, and say why.
                if !matches!(renewed, Ok(1)) {
                    return;
                }
            }
        })
    }
}

/// Holds the lock row; deleting it on drop.
struct PostgresLock {
    db: Arc<Db>,
    info: LockInfo,
    broke: Option<LockInfo>,
    renewal: tokio::task::JoinHandle<()>,
}

impl LockGuard for PostgresLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn broke(&self) -> Option<&LockInfo> {
        self.broke.as_ref()
    }

    fn broke_because(&self) -> &'static str {
        "its lease expired"
    }

    /// The renewal ends only when a renewal failed (rule 2): the lease is gone or going.
    fn lost(&self) -> bool {
        self.renewal.is_finished()
    }
}

impl Drop for PostgresLock {
    /// Deletes the lock row if it is still this run's, over a fresh connection when this run's
    /// was lost; a release that fails leaves the row to expire with its lease.
    fn drop(&mut self) {
        self.renewal.abort();
        *lock(&self.db.held) = None;
        let Some(runtime) = self.db.runtime.as_ref() else {
            return;
        };
        let (db, id) = (self.db.clone(), self.info.id.clone());
        let _ = block(runtime, async move {
            let _alone = db.one_at_a_time.lock().await;
            const DELETE: &str = "DELETE FROM roster.locks WHERE name = $1 AND id = $2";
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&db.target.name, &id];
            if db.client.execute(DELETE, &params).await.is_ok() {
                return;
            }
            let mut config = db.config.clone();
            config.connect_timeout(RELEASE_TIMEOUT);
            let fresh = tokio::time::timeout(RELEASE_TIMEOUT, async {
                let client = open(&config, &db.target, Arc::new(Mutex::new(None))).await.ok()?;
                client.execute(DELETE, &params).await.ok()
            });
            let _ = fresh.await;
        });
    }
}

/// The journal `records` as the rows' text, one JSON object each.
fn journal_lines(records: &[JournalRecord]) -> Result<Vec<String>, StateError> {
    records
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<String>, _>>()
        .map_err(|error| StateError::Encode {
            context: "failed to write the journal".to_owned(),
            error,
        })
}
