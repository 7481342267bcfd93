//! [`Coordination`] on SQLite: job leases and instance heartbeats. SQLite
//! serialises writers, so an upsert guarded by its `WHERE` is the whole lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use super::codec::{micros, time_from_micros};
use crate::coordination::Coordination;
use crate::error::Result;

#[async_trait]
impl Coordination for SqliteStore {
    async fn try_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "INSERT INTO job_leases (job, holder, until) VALUES (?1, ?2, ?4) \
             ON CONFLICT (job) DO UPDATE SET holder = ?2, until = ?4 \
             WHERE job_leases.holder = ?2 OR job_leases.until <= ?3",
        )
        .bind(job)
        .bind(holder)
        .bind(micros(now))
        .bind(micros(until))
        .execute(self.pool())
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM job_leases WHERE job = ? AND holder = ?")
            .bind(job)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, heartbeat_at) VALUES (?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = max(heartbeat_at, ?2)",
        )
        .bind(id)
        .bind(micros(at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn last_heartbeat(&self, id: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar("SELECT heartbeat_at FROM instances WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        at.map(|v| time_from_micros(v, "instances.heartbeat_at"))
            .transpose()
    }

    async fn remove_instance(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM instances WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
