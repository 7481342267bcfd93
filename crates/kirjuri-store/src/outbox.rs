//! The durable outbox ([`OutboxStore`]): email and SMS waiting in the
//! database until the delivery job has handed them to a sender, so a
//! message survives a restart, a crash and a mail server that is down.
//!
//! A message's recipient and body are personal data and arrive sealed by
//! the vault ([`SealedSecret`]: its wrapped data key and the ciphertext);
//! what is stored in the clear names no one — the channel, a kind tag,
//! times, the delivery state, the attempt count and the last error as a
//! short code.
//!
//! Life of a message: `queued` → (claimed) `sending` → `sent`, or back to
//! `queued` with a later `next_attempt_at` (a retry), or `failed` (given
//! up). A claim lasts until `claimed_until`; a claim whose holder died runs
//! out and the message is due again, so nothing is lost. A claim is named by
//! its holder and attempt number ([`OutboxClaim`]): only the claim in force
//! may settle its message, so a worker that stalled past its lease cannot
//! overwrite what the next one decided.
//!
//! Written once for both backends over [`SqlStore`]: claiming is one
//! `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`, atomic on SQLite
//! (one writer at a time) and on PostgreSQL, where the inner select takes
//! `FOR UPDATE SKIP LOCKED` so concurrent claimers on other nodes take
//! disjoint messages without waiting — the one fragment that differs,
//! supplied by [`ClaimLock`]. [`insert_message`] runs on a connection, so a
//! later audited write (a data-subject request's change) can queue its
//! message in the same transaction.
//!
//! What this module is not: sealing (the application's), sending or the
//! retry policy (the application's delivery job).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Encode, Executor, Row, Type};
use uuid::Uuid;

use crate::backend::{Backend, SqlStore};
use crate::error::{Error, Result};
use crate::model::SealedSecret;

/// How a message leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxChannel {
    /// Email, through SMTP or the file sender.
    Email,
    /// SMS, through an SMS gateway or the file sender.
    Sms,
}

impl OutboxChannel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

impl FromStr for OutboxChannel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "email" => Ok(Self::Email),
            "sms" => Ok(Self::Sms),
            _ => Err(Error::Corrupt("outbox.channel: unknown value".into())),
        }
    }
}

impl fmt::Display for OutboxChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting for its `next_attempt_at`.
    Queued,
    /// Claimed by a sender until `claimed_until`.
    Sending,
    /// Handed over to the mail server or SMS gateway.
    Sent,
    /// Given up on: a permanent refusal, or too many attempts.
    Failed,
}

impl OutboxState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for OutboxState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "queued" => Ok(Self::Queued),
            "sending" => Ok(Self::Sending),
            "sent" => Ok(Self::Sent),
            "failed" => Ok(Self::Failed),
            _ => Err(Error::Corrupt("outbox.state: unknown value".into())),
        }
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxMessage {
    /// Its id (also what its data key is bound to).
    pub id: Uuid,
    /// How it leaves.
    pub channel: OutboxChannel,
    /// What it is, without personal data (`dsr.receipt`, `test`, …; 1–64
    /// characters).
    pub kind: String,
    /// The recipient and the body, sealed.
    pub sealed: SealedSecret,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it may first be sent.
    pub next_attempt_at: DateTime<Utc>,
}

/// Who holds a claimed message: the holder's name and the attempt number
/// the claim made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxClaim {
    /// The claiming process (its instance id).
    pub holder: String,
    /// The attempt this claim is (1 for the first).
    pub attempt: u32,
}

/// A message claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    /// Its id.
    pub id: Uuid,
    /// How it leaves.
    pub channel: OutboxChannel,
    /// What it is.
    pub kind: String,
    /// The recipient and the body, sealed.
    pub sealed: SealedSecret,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// The claim in force.
    pub claim: OutboxClaim,
}

/// What a sender's attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Handed over at `at`.
    Sent {
        /// When.
        at: DateTime<Utc>,
    },
    /// Not delivered; try again at `next_attempt_at`.
    Retry {
        /// When the attempt ended.
        at: DateTime<Utc>,
        /// When to try again.
        next_attempt_at: DateTime<Utc>,
        /// Why, as a code or short text without personal data (≤ 200
        /// characters).
        error: String,
    },
    /// Given up at `at`.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// Why, as [`Settlement::Retry`]'s `error`.
        error: String,
    },
}

/// A message as the operator sees it: never its recipient or body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its id.
    pub id: Uuid,
    /// How it leaves.
    pub channel: OutboxChannel,
    /// What it is.
    pub kind: String,
    /// Where it is in its life.
    pub state: OutboxState,
    /// Claims so far.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it is next due (for a queued message).
    pub next_attempt_at: DateTime<Utc>,
    /// Until when a sender holds it (for a message being sent).
    pub claimed_until: Option<DateTime<Utc>>,
    /// When it was sent or given up on.
    pub settled_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// The outbox side of the database; every [`Store`](crate::Store) is one.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues a message. A reused id is
    /// [`Error::Conflict`]`("outbox message")`.
    async fn enqueue_message(&self, message: &NewOutboxMessage) -> Result<()>;

    /// Claims up to `limit` messages due at `now` for `holder` until
    /// `until`, oldest due first: queued ones whose `next_attempt_at` has
    /// come, and ones whose claim ran out (their sender died). Each claim
    /// counts an attempt. Atomic across processes and nodes: no message is
    /// claimed twice while a claim on it is in force.
    async fn claim_messages(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>>;

    /// Settles a claimed message: sent, queued again for later, or failed.
    /// `false` (and nothing changed) when `claim` is no longer the claim in
    /// force — it ran out and another sender took the message over.
    async fn settle_message(
        &self,
        id: &Uuid,
        claim: &OutboxClaim,
        settlement: &Settlement,
    ) -> Result<bool>;

    /// The newest `limit` messages, newest first, without their sealed
    /// content.
    async fn outbox_messages(&self, limit: u32) -> Result<Vec<OutboxEntry>>;

    /// One message, without its sealed content.
    async fn outbox_message(&self, id: &Uuid) -> Result<Option<OutboxEntry>>;

    /// How many messages are in each state, per kind (for `/metrics` and
    /// `kirjuri doctor`): `(state, kind, count)`, only non-zero counts.
    async fn outbox_depth(&self) -> Result<Vec<(OutboxState, String, u64)>>;
}

/// The one SQL fragment the claim writes differently per database: how the
/// inner select locks the rows it picks.
pub(crate) trait ClaimLock {
    /// Appended to the select of due messages.
    const LOCK_DUE: &'static str;
}

impl ClaimLock for sqlx::Sqlite {
    // One writer at a time: the statement is atomic as it stands.
    const LOCK_DUE: &'static str = "";
}

impl ClaimLock for sqlx::Postgres {
    // Concurrent claimers skip each other's rows instead of waiting, and a
    // row settled meanwhile is re-checked against the WHERE.
    const LOCK_DUE: &'static str = " FOR UPDATE SKIP LOCKED";
}

/// The columns an [`OutboxEntry`] reads.
const ENTRY_COLUMNS: &str = "id, channel, kind, state, attempts, created_at, next_attempt_at, \
                             claimed_until, settled_at, last_error";

/// Queues `message` on `conn`, inside whatever transaction the caller runs
/// (so an audited write can queue the message it causes).
pub(crate) async fn insert_message<DB: Backend>(
    conn: &mut DB::Connection,
    message: &NewOutboxMessage,
) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::query(
        "INSERT INTO outbox (id, channel, kind, wrapped_key, sealed, created_at, state, \
             attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7)",
    )
    .bind(&message.id)
    .bind(message.channel.as_str())
    .bind(message.kind.as_str())
    .bind(message.sealed.wrapped_key.as_slice())
    .bind(message.sealed.sealed.as_slice())
    .bind(DB::time(message.created_at))
    .bind(DB::time(message.next_attempt_at))
    .execute(conn)
    .await
    // The primary key is the only unique constraint.
    .map_err(|err| crate::codec::write_error(err, &[], "outbox message", |_, _| false))?;
    Ok(())
}

/// An attempt count as stored and read back.
fn attempt_number(row_value: u64) -> Result<u32> {
    u32::try_from(row_value).map_err(|_| Error::Corrupt("outbox.attempts: too large".into()))
}

fn entry_from_row<DB: Backend>(row: &DB::Row) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: DB::get_uuid(row, "id")?,
        channel: DB::get_text(row, "channel")?.parse()?,
        kind: DB::get_text(row, "kind")?,
        state: DB::get_text(row, "state")?.parse()?,
        attempts: attempt_number(DB::get_count(row, "attempts")?)?,
        created_at: DB::get_time(row, "created_at")?,
        next_attempt_at: DB::get_time(row, "next_attempt_at")?,
        claimed_until: DB::get_opt_time(row, "claimed_until")?,
        settled_at: DB::get_opt_time(row, "settled_at")?,
        last_error: DB::get_opt_text(row, "last_error")?,
    })
}

/// The longest `last_error` kept (the column's limit), cut at a character
/// boundary.
const MAX_ERROR_CHARS: usize = 200;

fn short_error(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

#[async_trait]
impl<S: SqlStore> OutboxStore for S
where
    S::Db: ClaimLock,
    for<'q> &'q Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> Vec<u8>: Decode<'r, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as sqlx::Database>::Row>,
    for<'c> &'c mut <S::Db as sqlx::Database>::Connection: Executor<'c, Database = S::Db>,
{
    async fn enqueue_message(&self, message: &NewOutboxMessage) -> Result<()> {
        let mut conn = self.sql_pool().acquire().await?;
        insert_message::<S::Db>(&mut conn, message).await
    }

    async fn claim_messages(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>> {
        let sql = format!(
            "UPDATE outbox SET state = 'sending', claimed_by = $1, claimed_until = $2, \
                 attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox \
                 WHERE (state = 'queued' AND next_attempt_at <= $3) \
                    OR (state = 'sending' AND claimed_until <= $3) \
                 ORDER BY next_attempt_at, id LIMIT $4{}) \
             RETURNING id, channel, kind, wrapped_key, sealed, created_at, attempts",
            <S::Db as ClaimLock>::LOCK_DUE
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(holder)
            .bind(S::Db::time(until))
            .bind(S::Db::time(now))
            .bind(i64::from(limit))
            .fetch_all(self.sql_pool())
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok(ClaimedMessage {
                    id: S::Db::get_uuid(row, "id")?,
                    channel: S::Db::get_text(row, "channel")?.parse()?,
                    kind: S::Db::get_text(row, "kind")?,
                    sealed: SealedSecret {
                        wrapped_key: row.try_get("wrapped_key")?,
                        sealed: row.try_get("sealed")?,
                    },
                    created_at: S::Db::get_time(row, "created_at")?,
                    claim: OutboxClaim {
                        holder: holder.to_owned(),
                        attempt: attempt_number(S::Db::get_count(row, "attempts")?)?,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING gives no order: oldest queued first.
        claimed.sort_by_key(|m| (m.created_at, m.id));
        Ok(claimed)
    }

    async fn settle_message(
        &self,
        id: &Uuid,
        claim: &OutboxClaim,
        settlement: &Settlement,
    ) -> Result<bool> {
        const CLAIM_IN_FORCE: &str =
            "WHERE id = $1 AND state = 'sending' AND claimed_by = $2 AND attempts = $3";
        let attempt = i64::from(claim.attempt);
        let query = match settlement {
            Settlement::Sent { at } => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE outbox SET state = 'sent', claimed_by = NULL, claimed_until = NULL, \
                     settled_at = $4, last_error = NULL {CLAIM_IN_FORCE}"
            )))
            .bind(id)
            .bind(claim.holder.as_str())
            .bind(attempt)
            .bind(S::Db::time(*at)),
            Settlement::Retry {
                at: _,
                next_attempt_at,
                error,
            } => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE outbox SET state = 'queued', claimed_by = NULL, claimed_until = NULL, \
                     next_attempt_at = $4, last_error = $5 {CLAIM_IN_FORCE}"
            )))
            .bind(id)
            .bind(claim.holder.as_str())
            .bind(attempt)
            .bind(S::Db::time(*next_attempt_at))
            .bind(short_error(error)),
            Settlement::Failed { at, error } => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE outbox SET state = 'failed', claimed_by = NULL, claimed_until = NULL, \
                     settled_at = $4, last_error = $5 {CLAIM_IN_FORCE}"
            )))
            .bind(id)
            .bind(claim.holder.as_str())
            .bind(attempt)
            .bind(S::Db::time(*at))
            .bind(short_error(error)),
        };
        let done = query.execute(self.sql_pool()).await?;
        Ok(S::Db::rows_affected(&done) == 1)
    }

    async fn outbox_messages(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(entry_from_row::<S::Db>).collect()
    }

    async fn outbox_depth(&self) -> Result<Vec<(OutboxState, String, u64)>> {
        let rows = sqlx::query(
            "SELECT state, kind, count(*) AS n FROM outbox GROUP BY state, kind ORDER BY state, kind",
        )
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    S::Db::get_text(row, "state")?.parse()?,
                    S::Db::get_text(row, "kind")?,
                    S::Db::get_count(row, "n")?,
                ))
            })
            .collect()
    }

    async fn outbox_message(&self, id: &Uuid) -> Result<Option<OutboxEntry>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.sql_pool())
            .await?
            .as_ref()
            .map(entry_from_row::<S::Db>)
            .transpose()
    }
}
