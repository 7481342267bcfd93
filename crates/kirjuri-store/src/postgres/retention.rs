//! [`RetentionStore`] on PostgreSQL: legal holds, the purge's queries and
//! one-way steps, tombstones. (Being written — issue 5.)

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId};
use uuid::Uuid;

use super::PostgresStore;
use crate::error::Result;
use crate::model::{ContactRow, NewAuditEvent, ObjectRow};
use crate::retention::{
    Deadline, DeadlineChange, HoldLift, HoldRow, HoldSummary, HoldTarget, RetentionStore, Shred,
    ShredMode, TombstoneRow, TombstoneStep,
};

#[async_trait]
#[allow(unused_variables, clippy::todo)]
impl RetentionStore for PostgresStore {
    async fn insert_hold(
        &self,
        hold: &HoldRow,
        targets: &[HoldTarget],
        audit: &NewAuditEvent,
    ) -> Result<()> {
        todo!()
    }
    async fn hold(&self, id: &Uuid) -> Result<Option<HoldSummary>> {
        todo!()
    }
    async fn holds(&self, active_at: Option<DateTime<Utc>>) -> Result<Vec<HoldSummary>> {
        todo!()
    }
    async fn hold_targets(
        &self,
        id: &Uuid,
        after: Option<HoldTarget>,
        limit: u32,
    ) -> Result<Vec<HoldTarget>> {
        todo!()
    }
    async fn holds_for_contact(&self, contact: &ContactId) -> Result<Vec<HoldRow>> {
        todo!()
    }
    async fn lift_hold(&self, id: &Uuid, lift: &HoldLift, audit: &NewAuditEvent) -> Result<bool> {
        todo!()
    }
    async fn set_hold_review(
        &self,
        id: &Uuid,
        review_by: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        todo!()
    }
    async fn mark_hold_reminded(
        &self,
        id: &Uuid,
        at: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        todo!()
    }
    async fn expired_objects(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ObjectId)>,
        limit: u32,
    ) -> Result<Vec<ObjectRow>> {
        todo!()
    }
    async fn expired_contacts(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ContactId)>,
        limit: u32,
    ) -> Result<Vec<ContactRow>> {
        todo!()
    }
    async fn shred_objects(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ObjectId>> {
        todo!()
    }
    async fn erase_contacts(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ContactId>> {
        todo!()
    }
    async fn unfinished_tombstones(&self, limit: u32) -> Result<Vec<TombstoneRow>> {
        todo!()
    }
    async fn mark_tombstones(
        &self,
        ids: &[Uuid],
        step: TombstoneStep,
        at: DateTime<Utc>,
    ) -> Result<()> {
        todo!()
    }
    async fn tombstones_for_contact(&self, contact: &ContactId) -> Result<Vec<TombstoneRow>> {
        todo!()
    }
    async fn tombstone(&self, id: &Uuid) -> Result<Option<TombstoneRow>> {
        todo!()
    }
    async fn count_tombstones(&self) -> Result<u64> {
        todo!()
    }
    async fn upcoming_deadlines(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Deadline>> {
        todo!()
    }
    async fn shorten_deadlines(
        &self,
        changes: &[DeadlineChange],
        audit: &[NewAuditEvent],
    ) -> Result<u64> {
        todo!()
    }
}
