//! The statistics' anonymous roll-ups ([`StatisticsStore`], STAT-1;
//! reference §4 L.63): one row per Helsinki day × channel × service ×
//! handling-time bucket with how many contacts it counts; per day closed ×
//! right × outcome × on time or late, how many data-subject requests
//! ([`count_request_closed`]); per day approved × recipient kind, how many
//! disclosures ([`count_disclosure_approved`]). Written once for both
//! backends over [`SqlStore`].
//!
//! A contact is counted by [`count_contact`] inside the transaction that
//! stores it, and only when it is stored — a retried delivery that finds its
//! external id already there counts nothing — so each contact is counted
//! exactly once, and the purge that later deletes it (or an erasure) leaves
//! the count alone: statistics outlive the data they were taken from, and
//! hold nothing that identifies anyone (no id, no identifier, no agent, no
//! time finer than a day).
//!
//! A request is counted when the change that closes it commits, a
//! disclosure when its approval does, in that same transaction; neither
//! count is ever decremented (the purge and erasure leave them, as they
//! leave the contacts' counts).
//!
//! Reads sum in the database over what a report does not break down by
//! ([`RollupGrouping`]).
//!
//! Contacts stored before the roll-ups existed wait in
//! `contact_rollup_backfill` (queued by the migration that made it) and
//! are counted by [`StatisticsStore::backfill_contact_rollups`], a batch
//! at a time: the transaction that deletes a batch of ids from the queue
//! counts exactly the ids its delete removed, so each is counted once —
//! across crashes (nothing commits half) and across processes and nodes
//! (of two deletes of one id, one finds it gone).
//!
//! What this module is not: disclosure control (kirjuri-core
//! `statistics`), or the reports built from these rows (the application).

use async_trait::async_trait;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use kirjuri_core::request::RequestType;
use kirjuri_core::statistics::{HandlingTime, rollup_day};
use sqlx::{ColumnIndex, Database, Encode, Executor, QueryBuilder, Type};
use uuid::Uuid;

use crate::audited::Conn;
use crate::backend::{Backend, SqlStore};
use crate::error::{Error, Result};
use crate::model::ContactRow;

/// The stored form of a day: `YYYY-MM-DD`, which sorts as the date.
fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// One roll-up row: how many contacts one day × channel × service ×
/// handling-time bucket counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupRow {
    /// The Helsinki calendar day.
    pub day: NaiveDate,
    /// The channel's wire name.
    pub channel: String,
    /// The service queue; empty for contacts without one.
    pub service: String,
    /// The handling-time bucket's wire name ([`HandlingTime::as_str`]).
    pub handling: String,
    /// How many contacts.
    pub contacts: u64,
}

/// One request roll-up row: how many requests closed on one day, for one
/// right, with one outcome, on time or late.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRollupRow {
    /// The Helsinki day it was closed.
    pub day: NaiveDate,
    /// The right exercised (a [`RequestType`]'s wire name).
    pub request_type: String,
    /// `answered`, `refused` or `withdrawn`.
    pub outcome: String,
    /// `on_time` (closed on or before its due date) or `late`.
    pub timeliness: String,
    /// How many.
    pub requests: u64,
}

/// One disclosure roll-up row: how many disclosures to one kind of
/// recipient were approved on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosureRollupRow {
    /// The Helsinki day it was approved.
    pub day: NaiveDate,
    /// The recipient's kind (`processor`, `partner`, `authority`, `police`).
    pub recipient_kind: String,
    /// How many.
    pub disclosures: u64,
}

/// Which columns a read of the roll-ups keeps apart; the others are summed
/// over in the database (so a year's report moves hundreds of rows, not
/// hundreds of thousands), and come back as `""` (a day: the window's
/// first with rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupGrouping {
    /// By day.
    pub day: bool,
    /// By channel.
    pub channel: bool,
    /// By service.
    pub service: bool,
    /// By handling-time bucket.
    pub handling: bool,
}

impl RollupGrouping {
    /// Every column apart: the rows as stored.
    pub const ALL: RollupGrouping = RollupGrouping {
        day: true,
        channel: true,
        service: true,
        handling: true,
    };
}

/// The statistics' roll-ups, on either database.
#[async_trait]
pub trait StatisticsStore: Send + Sync {
    /// The roll-up rows of the days `from ..= to`, by day, channel, service
    /// and bucket.
    async fn contact_rollups(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RollupRow>> {
        self.grouped_contact_rollups(from, to, RollupGrouping::ALL)
            .await
    }

    /// The same, summed over the columns `grouping` does not keep apart.
    async fn grouped_contact_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        grouping: RollupGrouping,
    ) -> Result<Vec<RollupRow>>;

    /// Adds `rows` to the roll-ups (summing into existing rows): the
    /// benchmark's seeding and a backfill's, never intake's (which counts
    /// in its own transaction).
    async fn add_contact_rollups(&self, rows: &[RollupRow]) -> Result<()>;

    /// The request roll-up rows of the days `from ..= to`, by day, right,
    /// outcome and timeliness.
    async fn request_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<RequestRollupRow>>;

    /// The disclosure roll-up rows of the days `from ..= to`, by day and
    /// recipient kind.
    async fn disclosure_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DisclosureRollupRow>>;
    /// Counts up to `batch` of the contacts stored before the roll-ups
    /// existed, each exactly once, in one transaction; returns how many
    /// (0 when none is left). Idempotent and resumable: a counted contact
    /// has left the queue, and intake never queues one.
    async fn backfill_contact_rollups(&self, batch: u32) -> Result<u64>;

    /// How many contacts still wait to be counted.
    async fn contact_rollup_backlog(&self) -> Result<u64>;
}

/// Adds `rows` to the roll-ups, summing into existing rows, on `conn`.
async fn add_rows<DB: Backend>(conn: &mut DB::Connection, rows: &[RollupRow]) -> Result<()>
where
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: Default,
{
    // A few thousand rows a statement keeps under both backends'
    // bound-parameter limits.
    for chunk in rows.chunks(2000) {
        let mut query = QueryBuilder::<DB>::new(
            "INSERT INTO contact_rollups (day, channel, service, handling, contacts) ",
        );
        let mut values = Vec::with_capacity(chunk.len());
        for row in chunk {
            let contacts = i64::try_from(row.contacts)
                .map_err(|_| Error::Corrupt("contact_rollups.contacts: too large".into()))?;
            values.push((day_text(row.day), row, contacts));
        }
        query.push_values(values, |mut b, (day, row, contacts)| {
            b.push_bind(day)
                .push_bind(row.channel.clone())
                .push_bind(row.service.clone())
                .push_bind(row.handling.clone())
                .push_bind(contacts);
        });
        query.push(
            " ON CONFLICT (day, channel, service, handling) \
             DO UPDATE SET contacts = contact_rollups.contacts + excluded.contacts",
        );
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(|err| DB::write_error(err, &[], "contact roll-up"))?;
    }
    Ok(())
}

/// Whether a request closed at `closed_at` with due date `due` closed in
/// time: on or before the due date, on the Helsinki calendar.
pub fn timeliness(closed_at: DateTime<Utc>, due: NaiveDate) -> &'static str {
    if rollup_day(closed_at) <= due {
        "on_time"
    } else {
        "late"
    }
}

/// Counts a request that is closed now — once for each right it asked
/// for — on the Helsinki day of `closed_at`, with its `outcome` and whether
/// that day is on or before its `due` date. Runs inside the transaction
/// that closes it; the caller counts only a request that was open.
pub(crate) async fn count_request_closed<DB: Backend>(
    conn: &mut DB::Connection,
    types: &[RequestType],
    outcome: &str,
    closed_at: DateTime<Utc>,
    due: NaiveDate,
) -> Result<()>
where
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let day = day_text(rollup_day(closed_at));
    let on_time = timeliness(closed_at, due);
    let mut counted: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    counted.sort_unstable();
    counted.dedup();
    for request_type in counted {
        sqlx::query(
            "INSERT INTO request_rollups (day, request_type, outcome, timeliness, requests) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (day, request_type, outcome, timeliness) \
             DO UPDATE SET requests = request_rollups.requests + 1",
        )
        .bind(day.as_str())
        .bind(request_type)
        .bind(outcome)
        .bind(on_time)
        .execute(&mut *conn)
        .await
        .map_err(|err| DB::write_error(err, &[], "request roll-up"))?;
    }
    Ok(())
}

/// Counts disclosure `id`, approved at `approved_at`, by its recipient's
/// kind (read in the same transaction; the recipient's name never leaves
/// it). Runs inside the transaction that approves it.
pub(crate) async fn count_disclosure_approved<DB: Backend>(
    conn: &mut DB::Connection,
    id: uuid::Uuid,
    approved_at: DateTime<Utc>,
) -> Result<()>
where
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> uuid::Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let day = day_text(rollup_day(approved_at));
    sqlx::query(
        "INSERT INTO disclosure_rollups (day, recipient_kind, disclosures) \
         SELECT $1, r.kind, 1 FROM disclosures d JOIN recipients r ON r.id = d.recipient_id \
         WHERE d.id = $2 \
         ON CONFLICT (day, recipient_kind) \
         DO UPDATE SET disclosures = disclosure_rollups.disclosures + 1",
    )
    .bind(day.as_str())
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|err| DB::write_error(err, &[], "disclosure roll-up"))?;
    Ok(())
}

/// A stored day.
fn parse_day(text: &str, column: &'static str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Error::Corrupt(format!("{column}: not a date")))
}

/// Counts a newly stored contact into its roll-up row. Runs inside the
/// transaction that inserted it.
pub(crate) async fn count_contact<DB: Backend>(
    conn: &mut DB::Connection,
    contact: &ContactRow,
) -> Result<()>
where
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let day = day_text(rollup_day(contact.started_at));
    let handling = HandlingTime::of(contact.started_at, contact.ended_at);
    sqlx::query(
        "INSERT INTO contact_rollups (day, channel, service, handling, contacts) \
         VALUES ($1, $2, $3, $4, 1) \
         ON CONFLICT (day, channel, service, handling) \
         DO UPDATE SET contacts = contact_rollups.contacts + 1",
    )
    .bind(day.as_str())
    .bind(contact.channel.as_str())
    .bind(contact.service.as_deref().unwrap_or(""))
    .bind(handling.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|err| DB::write_error(err, &[], "contact roll-up"))?;
    Ok(())
}

#[async_trait]
impl<S> StatisticsStore for S
where
    S: SqlStore,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: Default,
{
    async fn grouped_contact_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        grouping: RollupGrouping,
    ) -> Result<Vec<RollupRow>> {
        // Only fixed fragments go into the SQL; the window is bound.
        let kept = [
            ("day", grouping.day),
            ("channel", grouping.channel),
            ("service", grouping.service),
            ("handling", grouping.handling),
        ];
        let columns: Vec<String> = kept
            .iter()
            .map(|(column, keep)| match (keep, *column) {
                (true, c) => c.to_owned(),
                (false, "day") => "MIN(day) AS day".to_owned(),
                (false, c) => format!("'' AS {c}"),
            })
            .collect();
        let group: Vec<&str> = kept
            .iter()
            .filter(|(_, keep)| *keep)
            .map(|(c, _)| *c)
            .collect();
        let group_by = if group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {0} ORDER BY {0}", group.join(", "))
        };
        let sql = format!(
            "SELECT {}, CAST(SUM(contacts) AS BIGINT) AS contacts FROM contact_rollups \
             WHERE day >= $1 AND day <= $2{group_by}",
            columns.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(day_text(from))
            .bind(day_text(to))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter()
            // No row in the window: SUM over nothing is one row of NULLs.
            .filter(|row| S::Db::get_opt_text(row, "day").ok().flatten().is_some())
            .map(|row| {
                let day = S::Db::get_text(row, "day")?;
                let contacts = S::Db::get_int(row, "contacts")?;
                Ok(RollupRow {
                    day: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                        .map_err(|_| Error::Corrupt("contact_rollups.day: not a date".into()))?,
                    channel: S::Db::get_text(row, "channel")?,
                    service: S::Db::get_text(row, "service")?,
                    handling: S::Db::get_text(row, "handling")?,
                    contacts: u64::try_from(contacts)
                        .map_err(|_| Error::Corrupt("contact_rollups.contacts: negative".into()))?,
                })
            })
            .collect()
    }

    async fn add_contact_rollups(&self, rows: &[RollupRow]) -> Result<()> {
        let mut tx = self.sql_pool().begin().await?;
        add_rows::<S::Db>(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn request_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<RequestRollupRow>> {
        let rows = sqlx::query(
            "SELECT day, request_type, outcome, timeliness, requests FROM request_rollups \
             WHERE day >= $1 AND day <= $2 ORDER BY day, request_type, outcome, timeliness",
        )
        .bind(day_text(from))
        .bind(day_text(to))
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RequestRollupRow {
                    day: parse_day(&S::Db::get_text(row, "day")?, "request_rollups.day")?,
                    request_type: S::Db::get_text(row, "request_type")?,
                    outcome: S::Db::get_text(row, "outcome")?,
                    timeliness: S::Db::get_text(row, "timeliness")?,
                    requests: S::Db::get_count(row, "requests")?,
                })
            })
            .collect()
    }

    async fn disclosure_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DisclosureRollupRow>> {
        let rows = sqlx::query(
            "SELECT day, recipient_kind, disclosures FROM disclosure_rollups \
             WHERE day >= $1 AND day <= $2 ORDER BY day, recipient_kind",
        )
        .bind(day_text(from))
        .bind(day_text(to))
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DisclosureRollupRow {
                    day: parse_day(&S::Db::get_text(row, "day")?, "disclosure_rollups.day")?,
                    recipient_kind: S::Db::get_text(row, "recipient_kind")?,
                    disclosures: S::Db::get_count(row, "disclosures")?,
                })
            })
            .collect()
    }

    async fn backfill_contact_rollups(&self, batch: u32) -> Result<u64> {
        let mut tx = self.sql_pool().begin().await?;
        // The delete is the marker: only the ids it removed are counted here.
        let taken = sqlx::query(
            "DELETE FROM contact_rollup_backfill WHERE contact_id IN \
                 (SELECT contact_id FROM contact_rollup_backfill ORDER BY contact_id LIMIT $1) \
             RETURNING contact_id",
        )
        .bind(i64::from(batch))
        .fetch_all(&mut *tx)
        .await?;
        let ids = taken
            .iter()
            .map(|row| S::Db::get_uuid(row, "contact_id"))
            .collect::<Result<Vec<Uuid>>>()?;
        let mut counts: BTreeMap<(NaiveDate, String, String, &'static str), u64> = BTreeMap::new();
        for chunk in ids.chunks(500) {
            let mut query = QueryBuilder::<S::Db>::new(
                "SELECT channel, started_at, ended_at, service FROM contacts WHERE id IN (",
            );
            let mut bound = query.separated(", ");
            for id in chunk {
                bound.push_bind(*id);
            }
            query.push(")");
            // A queued id without its row (never the case: an erased contact
            // keeps its row) has nothing to count.
            for row in query.build().fetch_all(&mut *tx).await? {
                let started = S::Db::get_time(&row, "started_at")?;
                let ended = S::Db::get_opt_time(&row, "ended_at")?;
                let key = (
                    rollup_day(started),
                    S::Db::get_text(&row, "channel")?,
                    S::Db::get_opt_text(&row, "service")?.unwrap_or_default(),
                    HandlingTime::of(started, ended).as_str(),
                );
                *counts.entry(key).or_default() += 1;
            }
        }
        let rows: Vec<RollupRow> = counts
            .into_iter()
            .map(|((day, channel, service, handling), contacts)| RollupRow {
                day,
                channel,
                service,
                handling: handling.to_owned(),
                contacts,
            })
            .collect();
        add_rows::<S::Db>(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    async fn contact_rollup_backlog(&self) -> Result<u64> {
        let row = sqlx::query("SELECT count(*) AS n FROM contact_rollup_backfill")
            .fetch_one(self.sql_pool())
            .await?;
        S::Db::get_count(&row, "n")
    }
}
