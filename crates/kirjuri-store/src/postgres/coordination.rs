//! [`Coordination`] on PostgreSQL: job leases and instance heartbeats, each
//! one statement. `INSERT … ON CONFLICT … DO UPDATE … WHERE` is atomic: the
//! conflicting row is locked and the `WHERE` evaluated on its latest
//! version, so of many nodes trying at once exactly one takes a free or
//! expired lease.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PostgresStore;
use super::codec::ts;
use crate::coordination::Coordination;
use crate::error::Result;

#[async_trait]
impl Coordination for PostgresStore {
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
        .bind(ts(now))
        .bind(ts(until))
        .execute(self.pool())
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, heartbeat_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE \
             SET heartbeat_at = greatest(instances.heartbeat_at, excluded.heartbeat_at)",
        )
        .bind(id)
        .bind(ts(at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn last_heartbeat(&self, id: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT heartbeat_at FROM instances WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn remove_instance(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
