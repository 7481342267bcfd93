//! Coordination between processes and nodes through the database: leases
//! that let a background job (the purge, checkpoint signing, later the
//! outbox) run on one node at a time, and the registry of running instances
//! whose heartbeats tell a survivor when an upload's writer is gone.
//!
//! One data folder on one machine also has file locks (`instances/*.lock`);
//! several nodes sharing a PostgreSQL database and an object store have only
//! this.
//!
//! Both adapters implement it with the same queries, written once here over
//! [`SqlStore`]: an upsert guarded by its `WHERE` is atomic on either
//! database (SQLite serialises writers; PostgreSQL locks the conflicting
//! row and evaluates the `WHERE` on its latest version), so of many nodes
//! trying at once exactly one takes a free or expired lease.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, Type};

use crate::backend::{Backend, SqlStore};
use crate::error::{Error, Result};

/// The coordination side of the database; every [`Store`](crate::Store) is
/// one.
#[async_trait]
pub trait Coordination: Send + Sync {
    /// Takes the lease on `job` for `holder` until `until` if nobody holds
    /// it, its lease ended at or before `now`, or `holder` already holds it
    /// (a renewal). Atomic across processes and nodes: of many callers at
    /// once, exactly one gets `true`.
    async fn try_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Gives up `holder`'s lease on `job` (nothing if it holds none).
    async fn release_lease(&self, job: &str, holder: &str) -> Result<()>;

    /// Records that instance `id` is alive at `at` (registering it on first
    /// call).
    async fn heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<()>;

    /// The last heartbeat of instance `id`, if it ever sent one and has not
    /// been removed.
    async fn last_heartbeat(&self, id: &str) -> Result<Option<DateTime<Utc>>>;

    /// Forgets instance `id` (it stopped, or a survivor cleaned up after it).
    async fn remove_instance(&self, id: &str) -> Result<()>;

    /// The database server's clock (for a shared database, another
    /// machine's), to compare with this one's.
    async fn database_now(&self) -> Result<DateTime<Utc>>;
}

#[async_trait]
impl<S: SqlStore> Coordination for S
where
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut <S::Db as sqlx::Database>::Connection: Executor<'c, Database = S::Db>,
{
    async fn try_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "INSERT INTO job_leases (job, holder, until) VALUES ($1, $2, $4) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE job_leases.holder = excluded.holder OR job_leases.until <= $3",
        )
        .bind(job)
        .bind(holder)
        .bind(S::Db::time(now))
        .bind(S::Db::time(until))
        .execute(self.sql_pool())
        .await?;
        Ok(S::Db::rows_affected(&taken) == 1)
    }

    async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(self.sql_pool())
            .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "INSERT INTO instances (id, heartbeat_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE \
             SET heartbeat_at = {}(instances.heartbeat_at, excluded.heartbeat_at)",
            S::Db::GREATEST
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(S::Db::time(at))
            .execute(self.sql_pool())
            .await?;
        Ok(())
    }

    async fn last_heartbeat(&self, id: &str) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query("SELECT heartbeat_at FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| S::Db::get_time(&row, "heartbeat_at"))
            .transpose()
    }

    async fn remove_instance(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(self.sql_pool())
            .await?;
        Ok(())
    }

    async fn database_now(&self) -> Result<DateTime<Utc>> {
        let row = sqlx::query(S::Db::NOW_MICROS)
            .fetch_one(self.sql_pool())
            .await?;
        let micros = S::Db::get_int(&row, "t")?;
        DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| Error::Corrupt("the database's clock".into()))
    }
}
