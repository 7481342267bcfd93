//! The PostgreSQL adapter: [`PostgresStore`] implements [`Store`] with
//! PostgreSQL's SQL and its own migrations (`migrations/postgres`), for
//! several Kirjuri nodes sharing one database. It behaves exactly as the
//! SQLite adapter does — the same error mapping, orderings and microsecond
//! timestamps; the shared contract tests run against both — and this module
//! owns what differs: connecting, privileges, and the transaction
//! discipline. The queries live in one submodule per area, or, where both
//! backends share them, in the crate's `*_sql` modules.
//!
//! **Roles.** Two ways to run:
//! * One role: [`PostgresStore::open`] connects, applies any pending
//!   migration and serves — the simple case, where the application's role
//!   owns the schema. The audit tables' triggers still refuse UPDATE,
//!   DELETE and TRUNCATE, but an owner could drop them.
//! * Two roles (recommended for production): the schema owner runs
//!   [`PostgresStore::migrate`]`(owner_url, Some("kirjuri_app"))` — at
//!   deployment, or from an operator's command — which applies the
//!   migrations and then grants the application's role (created beforehand
//!   by the DBA, e.g. `CREATE ROLE kirjuri_app LOGIN PASSWORD '…'`) exactly
//!   what it needs: SELECT and INSERT on the audit tables (`audit_events`,
//!   `audit_checkpoints`, `audit_refs`), SELECT on `audit_log` and the
//!   migration history, and SELECT, INSERT, UPDATE, DELETE on every other
//!   table. The nodes then serve with [`PostgresStore::connect`]`(app_url)`,
//!   which never migrates and refuses a schema older than the build. The
//!   application can then not rewrite the audit log even by mistake or
//!   through an injected statement: the database refuses it for lack of
//!   privilege, before any trigger runs. Grants are recomputed on every
//!   `migrate`, so tables added by later migrations are covered.
//!
//! **TLS.** sqlx is built with rustls (ring, the system's trust roots): a
//! URL with `sslmode=verify-full` (and `sslrootcert=FILE` for a private CA)
//! refuses a server without a valid certificate for its host name.
//!
//! **Audit order across nodes.** Every transaction that appends to the
//! audit log starts with `Backend::begin_write` (the audited writes
//! through `crate::audited`'s `write_audited`): `BEGIN ISOLATION
//! LEVEL READ COMMITTED` and a transaction-scoped advisory lock
//! ([`AUDIT_LOCK`]) held until commit or rollback. Under it the audit
//! module numbers events `max(seq) + 1`, so sequence numbers are commit
//! order without gaps on any number of nodes — the invariant AUD-2's Merkle
//! tree needs. Taking the lock first, before any row lock, means writers
//! queue on it and never deadlock with each other; it also serialises
//! writers as SQLite does, so the two adapters' races resolve alike.
//! Read committed matters: each statement after the lock sees every commit
//! made before it was granted (a repeatable-read snapshot would be older).
//! Writes that append nothing (touching a token or session, leases,
//! heartbeats, preferences) are single statements outside the lock.
//!
//! **Uniqueness** is the constraints' job (external id, one object per
//! contact and kind, user name, token and session hashes), with
//! `ON CONFLICT DO NOTHING` and a re-read where the contract wants the
//! existing row, so it holds across nodes whatever the lock does.
//!
//! What this module is not: the retention queries (`retention`, written
//! against the same helpers: `write_audited`, `codec`) and
//! the schema itself (the migrations).

mod accounts;
mod audit;
mod codec;
mod import;
mod objects;
mod retention;

use std::collections::HashSet;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Acquire, Postgres, Transaction};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::ContactFilter;

/// The schema, embedded at compile time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock every audit-appending transaction holds until it ends
/// ("kirjuri" and 1, as a bigint). Advisory locks are per database, so
/// databases on one server do not contend.
pub(crate) const AUDIT_LOCK: i64 = 0x6b69_726a_7572_6901;

/// The advisory lock that makes storing a checkpoint a compare-and-set.
const CHECKPOINT_LOCK: i64 = 0x6b69_726a_7572_6902;

/// The advisory lock that serialises granting privileges (concurrent GRANTs
/// on one table can fail with "tuple concurrently updated").
const GRANT_LOCK: i64 = 0x6b69_726a_7572_6903;

/// Connections per node. Writers queue on the audit lock anyway; readers
/// (searches, recordings' metadata, audit verification) use the rest.
const MAX_CONNECTIONS: u32 = 16;

/// Tables the application may only read and append to.
const APPEND_ONLY: &[&str] = &["audit_events", "audit_checkpoints", "audit_refs"];

/// Tables the application may only read.
const READ_ONLY: &[&str] = &["audit_log", "_sqlx_migrations"];

/// [`Store`] on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// The connection pool; cloning the store shares it.
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`),
    /// applying any migration it lacks — the one-role setup, where the
    /// connecting role owns the schema. Any number of nodes may open the
    /// same database at once: migrations are serialised by the migrator's
    /// own advisory lock.
    #[tracing::instrument(skip_all)]
    pub async fn open(url: &str) -> Result<Self> {
        let pool = connect_pool(url).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Connects as the application's role without migrating. Refuses a
    /// database whose schema lacks one of this build's migrations (run
    /// [`PostgresStore::migrate`] as the owner first).
    #[tracing::instrument(skip_all)]
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = connect_pool(url).await?;
        check_schema(&pool).await?;
        Ok(Self { pool })
    }

    /// Brings the schema at `owner_url` up to date, connected as its owner,
    /// and — with `app_role` — grants that role what the application needs
    /// and no more (see the module docs): on the audit tables only SELECT
    /// and INSERT. The role must exist. Safe to run again and from several
    /// nodes at once.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(owner_url: &str, app_role: Option<&str>) -> Result<()> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options(owner_url)?)
            .await?;
        let migrated = MIGRATOR.run(&pool).await.map_err(Error::from);
        let granted = match (migrated, app_role) {
            (Ok(()), Some(role)) => grant(&pool, role).await,
            (result, _) => result,
        };
        pool.close().await;
        granted
    }

    /// The connection pool, for what the trait does not cover (diagnostics,
    /// backups, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL's plan for the contact search `filter` would run, one line
    /// per row of `EXPLAIN` — for diagnostics, benchmarks and the test that
    /// keeps the phone lookup on its indexes.
    pub async fn explain_search(&self, filter: &ContactFilter) -> Result<Vec<String>> {
        let mut query = crate::contacts_sql::search_query::<Postgres>("EXPLAIN ", filter);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok(sqlx::Row::try_get::<String, _>(row, 0)?))
            .collect()
    }

    /// Starts a write transaction holding the audit lock until it ends:
    /// every transaction that appends an audit event must begin here (see
    /// the module docs; [`Backend::begin_write`]).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Postgres::begin_write(&self.pool).await
    }
}

/// Starts a read committed transaction that first takes the
/// transaction-scoped advisory lock `lock`, held until it ends.
async fn begin_locked(pool: &PgPool, lock: i64) -> Result<Transaction<'static, Postgres>> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Connection options from a URL. The URL may hold a password; it is never
/// logged, and sqlx's parse errors do not repeat it.
fn options(url: &str) -> Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)?.application_name("kirjuri"))
}

/// How long a statement waits for a pooled connection: when the server is
/// down, sqlx keeps trying to connect until then, and the request is
/// answered 503 `database_unavailable` after it rather than hanging.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn connect_pool(url: &str) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options(url)?)
        .await?)
}

/// Fails unless every migration of this build has been applied.
async fn check_schema(pool: &PgPool) -> Result<()> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(
                |err| match err.as_database_error().and_then(|db| db.code()) {
                    // 42P01: no migration table at all.
                    Some(code) if code == "42P01" => schema_behind(None),
                    _ => Error::Database(err),
                },
            )?;
    let applied: HashSet<i64> = applied.into_iter().collect();
    match MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .find(|m| !applied.contains(&m.version))
    {
        Some(missing) => Err(schema_behind(Some(missing.version))),
        None => Ok(()),
    }
}

fn schema_behind(version: Option<i64>) -> Error {
    let what = match version {
        Some(version) => format!("the database schema lacks migration {version}"),
        None => "the database has no Kirjuri schema".to_owned(),
    };
    Error::Migrate(sqlx::migrate::MigrateError::Execute(
        sqlx::Error::Configuration(
            format!("{what}; run the migrations as the schema's owner first").into(),
        ),
    ))
}

/// Grants `role` the application's privileges on every table of the
/// current schema, replacing whatever it had; one transaction.
async fn grant(pool: &PgPool, role: &str) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(GRANT_LOCK)
        .execute(&mut *tx)
        .await?;
    let (exists, is_owner): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1), $1 = current_user",
    )
    .bind(role)
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(Error::Database(sqlx::Error::Configuration(
            format!("the application role {role:?} does not exist; create it first").into(),
        )));
    }
    if is_owner {
        // The owner has every privilege; revoking would lock it out.
        return Ok(());
    }
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *tx)
        .await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
         ORDER BY tablename",
    )
    .fetch_all(&mut *tx)
    .await?;
    let role = quote_ident(role);
    let mut statements = vec![format!(
        "GRANT USAGE ON SCHEMA {} TO {role}",
        quote_ident(&schema)
    )];
    for table in &tables {
        let privileges = if APPEND_ONLY.contains(&table.as_str()) {
            "SELECT, INSERT"
        } else if READ_ONLY.contains(&table.as_str()) {
            "SELECT"
        } else {
            "SELECT, INSERT, UPDATE, DELETE"
        };
        let table = quote_ident(table);
        statements.push(format!("REVOKE ALL ON TABLE {table} FROM {role}"));
        statements.push(format!("GRANT {privileges} ON TABLE {table} TO {role}"));
    }
    for statement in statements {
        // Identifiers are quoted; nothing else is interpolated.
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl crate::backend::SqlStore for PostgresStore {
    type Db = Postgres;

    fn sql_pool(&self) -> &sqlx::Pool<Postgres> {
        &self.pool
    }
}
