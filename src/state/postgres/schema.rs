//! The tables of the PostgreSQL backend, created on first use by versioned migrations.
//!
//! 1. Everything lives in the schema `roster`; `roster.migrations` lists the versions applied.
//! 2. A run first looks at that list (one query, no lock): at the latest version it goes on.
//! 3. Otherwise it migrates in one transaction that first takes a transaction-scoped advisory
//!    lock, so of two runs starting at once, one migrates and the other then finds nothing
//!    left to do. (A transaction-scoped lock works behind PgBouncer in transaction mode,
//!    where a session lock could be taken on one server connection and released on another.)
//! 4. The schema is created only when it does not exist: a role without CREATE on the
//!    database uses one an administrator created for it (`CREATE SCHEMA roster AUTHORIZATION
//!    role`), and every statement is idempotent, so a failed migration can simply run again.
//! 5. A database migrated by a newer roster is refused rather than written in an old shape.

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::describe_error;
use super::target::Target;
use crate::state::StateError;

/// The schema roster's tables live in.
pub const SCHEMA: &str = "roster";

/// The advisory lock key migrations serialize on ("roster" in ASCII).
const MIGRATION_LOCK: i64 = 0x726f_7374_6572;

/// The migrations, in order; version N is `MIGRATIONS[N - 1]`. Never edit one that shipped.
const MIGRATIONS: &[&str] = &[
    // 1: states, their kept versions, locks with a lease, the journal.
    "CREATE TABLE IF NOT EXISTS roster.states (
        name text PRIMARY KEY,
        lineage text NOT NULL,
        serial bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS roster.versions (
        name text NOT NULL,
        serial bigint NOT NULL,
        lineage text NOT NULL,
        document text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        written_by text NOT NULL,
        host text NOT NULL,
        operation text NOT NULL,
        PRIMARY KEY (name, serial)
    );
    CREATE TABLE IF NOT EXISTS roster.locks (
        name text PRIMARY KEY,
        id text NOT NULL,
        operation text NOT NULL,
        who text NOT NULL,
        host text NOT NULL,
        pid bigint NOT NULL,
        since text NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE IF NOT EXISTS roster.journal (
        name text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        record text NOT NULL,
        PRIMARY KEY (name, seq)
    );
    -- A state is a few MB of JSON: lz4 unpacks it several times faster than the default pglz,
    -- where the server has it (PostgreSQL 14 and later, built with lz4).
    DO $$ BEGIN
        EXECUTE 'ALTER TABLE roster.versions ALTER COLUMN document SET COMPRESSION lz4';
    EXCEPTION WHEN OTHERS THEN NULL;
    END $$;",
];

/// Brings the schema to the latest version (rules 2 to 5 of the module doc).
pub async fn migrate(client: &mut Client, target: &Target) -> Result<(), StateError> {
    if current_version(client).await? == Some(latest()) {
        return Ok(());
    }
    let context = |e: tokio_postgres::Error| migration_error(&e, target);
    let transaction = client.transaction().await.map_err(context)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(context)?;
    let exists: bool = transaction
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&SCHEMA],
        )
        .await
        .map_err(context)?
        .get(0);
    if !exists {
        transaction
            .batch_execute("CREATE SCHEMA roster")
            .await
            .map_err(context)?;
    }
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS roster.migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(context)?;
    let applied: i32 = transaction
        .query_one("SELECT coalesce(max(version), 0) FROM roster.migrations", &[])
        .await
        .map_err(context)?
        .get(0);
    check_not_newer(applied)?;
    for (version, sql) in (1..).zip(MIGRATIONS).skip(applied as usize) {
        transaction.batch_execute(sql).await.map_err(context)?;
        transaction
            .execute("INSERT INTO roster.migrations (version) VALUES ($1)", &[&version])
            .await
            .map_err(context)?;
    }
    transaction.commit().await.map_err(context)
}

fn latest() -> i32 {
    MIGRATIONS.len() as i32
}

/// The version applied, when the migrations table exists.
async fn current_version(client: &Client) -> Result<Option<i32>, StateError> {
    // One round trip: the table missing is the answer "none".
    let row = match client
        .query_one("SELECT max(version) FROM roster.migrations", &[])
        .await
    {
        Ok(row) => row,
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) || e.code() == Some(&SqlState::INVALID_SCHEMA_NAME) => {
            return Ok(None)
        }
        Err(e) => return Err(StateError::Server(describe_error(&e))),
    };
    let version: Option<i32> = row.get(0);
    if let Some(version) = version {
        check_not_newer(version)?;
    }
    Ok(version)
}

fn check_not_newer(version: i32) -> Result<(), StateError> {
    if version > latest() {
        return Err(StateError::Newer {
            found: version,
            known: latest(),
        });
    }
    Ok(())
}

fn migration_error(error: &tokio_postgres::Error, target: &Target) -> StateError {
    let privilege = error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE);
    StateError::Schema {
        target: target.to_string(),
        reason: describe_error(error),
        role: privilege.then(|| target.user.clone()),
    }
}
