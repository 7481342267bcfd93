//! Disclosures to recipients ([`DisclosureStore`], DIS-2; reference §4
//! F.33, F.35): the disclosure ledger — who asked for what to go to which
//! recipient, its scope (the contacts), its data categories, and who
//! approved or refused it — and the one-time links that hand an approved
//! disclosure's package to its recipient.
//!
//! The legal ground, the recipient's reference and any note arrive sealed
//! ([`SealedSecret`]); rows hold ids, states, categories and times. Every
//! write commits with its audit event. The four-eyes rule is enforced
//! here as well as in the application: a decision is one guarded `UPDATE`
//! that changes only a disclosure still awaiting approval and asked for by
//! someone else, so of parallel approvals exactly one wins, and the
//! schema's CHECK refuses a decider who is the requester. A link is used
//! once by one guarded `UPDATE` with the download's audit event.
//!
//! Not here: validation, sealing, the package (the application's
//! `disclosures`). Written once for both backends over [`SqlStore`].

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use sqlx::{ColumnIndex, Database, Encode, Executor, QueryBuilder, Type};
use uuid::Uuid;

use crate::audited::{self, AuditLog, Audited, Conn};
use crate::backend::{Backend, SqlStore};
use crate::error::Result;
use crate::model::{NewAuditEvent, SealedSecret};

/// The columns of a [`DisclosureRow`].
const COLUMNS: &str = "id, recipient_id, state, categories, sealed, wrapped_key, n_contacts, \
     requested_at, requested_by, decided_at, decided_by";

/// The columns of a [`DisclosureLinkRow`].
const LINK_COLUMNS: &str =
    "id, disclosure_id, token_hash, expires_at, created_at, created_by, used_at, revoked_at";

/// A disclosure awaiting a second person's decision.
pub const AWAITING: &str = "awaiting_approval";

/// An approved disclosure: its package may be released.
pub const APPROVED: &str = "approved";

/// A refused disclosure.
pub const REFUSED: &str = "refused";

/// A disclosure as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct DisclosureRow {
    /// Its id.
    pub id: Uuid,
    /// The recipient (`recipients.id`).
    pub recipient_id: Uuid,
    /// [`AWAITING`], [`APPROVED`] or [`REFUSED`].
    pub state: String,
    /// The data categories released, comma-separated wire names.
    pub categories: String,
    /// The legal ground, the reference, a note and a refusal's reason,
    /// sealed.
    pub sealed: SealedSecret,
    /// How many contacts it covers.
    pub n_contacts: u32,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// Who asked for it.
    pub requested_by: UserId,
    /// When it was approved or refused.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who approved or refused it (never its requester).
    pub decided_by: Option<UserId>,
}

impl fmt::Debug for DisclosureRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisclosureRow")
            .field("id", &self.id)
            .field("recipient_id", &self.recipient_id)
            .field("state", &self.state)
            .field("categories", &self.categories)
            .field("n_contacts", &self.n_contacts)
            .finish_non_exhaustive()
    }
}

/// An approval or refusal.
#[derive(Debug, Clone)]
pub struct DisclosureDecision {
    /// [`APPROVED`] or [`REFUSED`].
    pub state: &'static str,
    /// Who decides.
    pub by: UserId,
    /// When.
    pub at: DateTime<Utc>,
    /// The document sealed again with a refusal's reason, if it changes.
    pub sealed: Option<SealedSecret>,
}

/// What a decision found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// It was awaiting approval and now is decided.
    Done,
    /// Its requester tried to decide it: nothing changed.
    OwnRequest,
    /// It is decided already: nothing changed.
    AlreadyDecided,
    /// There is no such disclosure.
    NotFound,
}

/// A one-time link to an approved disclosure's package.
#[derive(Clone, PartialEq, Eq)]
pub struct DisclosureLinkRow {
    /// Its id.
    pub id: Uuid,
    /// The disclosure.
    pub disclosure_id: Uuid,
    /// The token's keyed hash.
    pub token_hash: Vec<u8>,
    /// Until when it works.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: UserId,
    /// When it was used, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// When a newer link replaced it, if one did.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl DisclosureLinkRow {
    /// Whether it can still be used at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

impl fmt::Debug for DisclosureLinkRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisclosureLinkRow")
            .field("id", &self.id)
            .field("disclosure_id", &self.disclosure_id)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// The disclosure ledger, on either database.
#[async_trait]
pub trait DisclosureStore: Send + Sync {
    /// Stores a disclosure and its `contacts` (distinct) with `audit`.
    async fn insert_disclosure(
        &self,
        row: &DisclosureRow,
        contacts: &[ContactId],
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// The disclosure `id`.
    async fn disclosure(&self, id: &Uuid) -> Result<Option<DisclosureRow>>;

    /// Disclosures (in `state`, if given): those awaiting approval first,
    /// then newest first; at most `limit`.
    async fn disclosures(&self, state: Option<&str>, limit: u32) -> Result<Vec<DisclosureRow>>;

    /// The contacts disclosure `id` covers, in id order.
    async fn disclosure_contacts(&self, id: &Uuid) -> Result<Vec<ContactId>>;

    /// Approves or refuses disclosure `id` if it awaits approval and
    /// `decision.by` did not ask for it, with `audit`; otherwise changes
    /// nothing and says why.
    async fn decide_disclosure(
        &self,
        id: &Uuid,
        decision: &DisclosureDecision,
        audit: &NewAuditEvent,
    ) -> Result<Decided>;

    /// The recipients that received (by an approved disclosure) any of
    /// `contacts`: `(recipient id, disclosure id)`, each pair once, oldest
    /// disclosure first. The Art. 19 follow-up and the access package read
    /// this.
    async fn disclosed_recipients(&self, contacts: &[ContactId]) -> Result<Vec<(Uuid, Uuid)>>;

    /// Stores `link` with `audit`, revoking the disclosure's older unused
    /// links at its creation.
    async fn put_disclosure_link(
        &self,
        link: &DisclosureLinkRow,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// The link whose token hashes to `token_hash`.
    async fn disclosure_link(&self, token_hash: &[u8]) -> Result<Option<DisclosureLinkRow>>;

    /// Marks link `id` used at `now` with `audit` if it is live then;
    /// whether it was (of parallel uses exactly one gets `true`).
    async fn use_disclosure_link(
        &self,
        id: &Uuid,
        now: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool>;
}

fn from_row<DB: Backend>(row: &DB::Row) -> Result<DisclosureRow> {
    Ok(DisclosureRow {
        id: DB::get_uuid(row, "id")?,
        recipient_id: DB::get_uuid(row, "recipient_id")?,
        state: DB::get_text(row, "state")?,
        categories: DB::get_text(row, "categories")?,
        sealed: SealedSecret {
            wrapped_key: DB::get_bytes(row, "wrapped_key")?,
            sealed: DB::get_bytes(row, "sealed")?,
        },
        n_contacts: u32::try_from(DB::get_int(row, "n_contacts")?).unwrap_or(u32::MAX),
        requested_at: DB::get_time(row, "requested_at")?,
        requested_by: UserId::from_uuid(DB::get_uuid(row, "requested_by")?),
        decided_at: DB::get_opt_time(row, "decided_at")?,
        decided_by: DB::get_opt_uuid(row, "decided_by")?.map(UserId::from_uuid),
    })
}

fn link_from_row<DB: Backend>(row: &DB::Row) -> Result<DisclosureLinkRow> {
    Ok(DisclosureLinkRow {
        id: DB::get_uuid(row, "id")?,
        disclosure_id: DB::get_uuid(row, "disclosure_id")?,
        token_hash: DB::get_bytes(row, "token_hash")?,
        expires_at: DB::get_time(row, "expires_at")?,
        created_at: DB::get_time(row, "created_at")?,
        created_by: UserId::from_uuid(DB::get_uuid(row, "created_by")?),
        used_at: DB::get_opt_time(row, "used_at")?,
        revoked_at: DB::get_opt_time(row, "revoked_at")?,
    })
}

#[async_trait]
impl<S> DisclosureStore for S
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> <S::Db as Backend>::Time: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    async fn insert_disclosure(
        &self,
        row: &DisclosureRow,
        contacts: &[ContactId],
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited(self, [audit], async |tx| {
            let sql = format!(
                "INSERT INTO disclosures ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(row.id)
                .bind(row.recipient_id)
                .bind(row.state.as_str())
                .bind(row.categories.as_str())
                .bind(row.sealed.sealed.clone())
                .bind(row.sealed.wrapped_key.clone())
                .bind(i64::from(row.n_contacts))
                .bind(S::Db::time(row.requested_at))
                .bind(*row.requested_by.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(|err| S::Db::write_error(err, &[], "disclosure"))?;
            // Bounded by the application (at most a thousand contacts), so
            // a few statements of a few hundred rows each.
            for chunk in contacts.chunks(200) {
                let mut query = QueryBuilder::<S::Db>::new(
                    "INSERT INTO disclosure_contacts (disclosure_id, contact_id) ",
                );
                query.push_values(chunk, |mut values, contact| {
                    values.push_bind(row.id).push_bind(*contact.as_uuid());
                });
                query.build().execute(&mut *tx).await?;
            }
            Ok(())
        })
        .await
    }

    async fn disclosure(&self, id: &Uuid) -> Result<Option<DisclosureRow>> {
        let sql = format!("SELECT {COLUMNS} FROM disclosures WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| from_row::<S::Db>(&row)).transpose()
    }

    async fn disclosures(&self, state: Option<&str>, limit: u32) -> Result<Vec<DisclosureRow>> {
        let mut query = QueryBuilder::<S::Db>::new(format!("SELECT {COLUMNS} FROM disclosures"));
        if let Some(state) = state {
            query.push(" WHERE state = ").push_bind(state);
        }
        query
            .push(
                " ORDER BY CASE WHEN state = 'awaiting_approval' THEN 0 ELSE 1 END, \
                 requested_at DESC, id DESC LIMIT ",
            )
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter().map(from_row::<S::Db>).collect()
    }

    async fn disclosure_contacts(&self, id: &Uuid) -> Result<Vec<ContactId>> {
        let rows = sqlx::query(
            "SELECT contact_id FROM disclosure_contacts WHERE disclosure_id = $1 \
             ORDER BY contact_id",
        )
        .bind(*id)
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| Ok(ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?)))
            .collect()
    }

    async fn decide_disclosure(
        &self,
        id: &Uuid,
        decision: &DisclosureDecision,
        audit: &NewAuditEvent,
    ) -> Result<Decided> {
        audited::write_audited_if(self, async |tx| {
            let mut query = QueryBuilder::<S::Db>::new("UPDATE disclosures SET state = ");
            query
                .push_bind(decision.state)
                .push(", decided_at = ")
                .push_bind(S::Db::time(decision.at))
                .push(", decided_by = ")
                .push_bind(*decision.by.as_uuid());
            if let Some(sealed) = &decision.sealed {
                query
                    .push(", sealed = ")
                    .push_bind(sealed.sealed.clone())
                    .push(", wrapped_key = ")
                    .push_bind(sealed.wrapped_key.clone());
            }
            query
                .push(" WHERE id = ")
                .push_bind(*id)
                .push(" AND state = 'awaiting_approval' AND requested_by <> ")
                .push_bind(*decision.by.as_uuid());
            let done = query.build().execute(&mut *tx).await?;
            if S::Db::rows_affected(&done) == 1 {
                if decision.state == APPROVED {
                    crate::statistics::count_disclosure_approved::<S::Db>(tx, *id, decision.at)
                        .await?;
                }
                return Ok(Audited::commit(Decided::Done, [audit]));
            }
            // Why not: read what is there, in the same transaction.
            let found = sqlx::query("SELECT state, requested_by FROM disclosures WHERE id = $1")
                .bind(*id)
                .fetch_optional(&mut *tx)
                .await?;
            let why = match found {
                None => Decided::NotFound,
                Some(row) if S::Db::get_text(&row, "state")? != AWAITING => Decided::AlreadyDecided,
                Some(_) => Decided::OwnRequest,
            };
            Ok(Audited::roll_back(why))
        })
        .await
    }

    async fn disclosed_recipients(&self, contacts: &[ContactId]) -> Result<Vec<(Uuid, Uuid)>> {
        let mut found: Vec<(Uuid, Uuid, DateTime<Utc>)> = Vec::new();
        for chunk in contacts.chunks(500) {
            let mut query = QueryBuilder::<S::Db>::new(
                "SELECT DISTINCT d.recipient_id AS recipient_id, d.id AS id, \
                 d.requested_at AS requested_at \
                 FROM disclosure_contacts AS c JOIN disclosures AS d ON d.id = c.disclosure_id \
                 WHERE d.state = 'approved' AND c.contact_id IN (",
            );
            let mut ids = query.separated(", ");
            for contact in chunk {
                ids.push_bind(*contact.as_uuid());
            }
            query.push(")");
            for row in query.build().fetch_all(self.sql_pool()).await? {
                let pair = (
                    S::Db::get_uuid(&row, "recipient_id")?,
                    S::Db::get_uuid(&row, "id")?,
                    S::Db::get_time(&row, "requested_at")?,
                );
                if !found.iter().any(|f| f.1 == pair.1) {
                    found.push(pair);
                }
            }
        }
        found.sort_by_key(|(_, id, at)| (*at, *id));
        Ok(found.into_iter().map(|(r, d, _)| (r, d)).collect())
    }

    async fn put_disclosure_link(
        &self,
        link: &DisclosureLinkRow,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited(self, [audit], async |tx| {
            sqlx::query(
                "UPDATE disclosure_links SET revoked_at = $1 \
                 WHERE disclosure_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(S::Db::time(link.created_at))
            .bind(link.disclosure_id)
            .execute(&mut *tx)
            .await?;
            let sql = format!(
                "INSERT INTO disclosure_links ({LINK_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(link.id)
                .bind(link.disclosure_id)
                .bind(link.token_hash.clone())
                .bind(S::Db::time(link.expires_at))
                .bind(S::Db::time(link.created_at))
                .bind(*link.created_by.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(|err| S::Db::write_error(err, &[], "disclosure link"))?;
            Ok(())
        })
        .await
    }

    async fn disclosure_link(&self, token_hash: &[u8]) -> Result<Option<DisclosureLinkRow>> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM disclosure_links WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| link_from_row::<S::Db>(&row)).transpose()
    }

    async fn use_disclosure_link(
        &self,
        id: &Uuid,
        now: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let used = sqlx::query(
                "UPDATE disclosure_links SET used_at = $1 \
                 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
            )
            .bind(S::Db::time(now))
            .bind(*id)
            .execute(&mut *tx)
            .await?;
            Ok(Audited::commit_if(
                S::Db::rows_affected(&used) == 1,
                S::Db::rows_affected(&used) == 1,
                [audit],
            ))
        })
        .await
    }
}
