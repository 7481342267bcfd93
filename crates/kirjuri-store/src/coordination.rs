//! Coordination between processes and nodes through the database: leases
//! that let a background job (the purge, checkpoint signing, later the
//! outbox) run on one node at a time, and the registry of running instances
//! whose heartbeats tell a survivor when an upload's writer is gone.
//!
//! One data folder on one machine also has file locks (`instances/*.lock`);
//! several nodes sharing a PostgreSQL database and an object store have only
//! this.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

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
}
