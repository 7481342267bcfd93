//! Satisfaction surveys' rows ([`SurveyStore`], SURV-1; issue 15 §4): each
//! service's settings, the invitations with their replies, the last
//! invitation per person, and the anonymous daily survey roll-ups. Written
//! once for both backends over [`SqlStore`].
//!
//! The rules the application decides (sampling, delay, quiet hours, who
//! may be surveyed) come in as values; this module makes the steps that
//! must be atomic atomic: an invitation is stored with its outbox message
//! in one transaction; "one invitation per person per period" is one
//! conditional upsert on `survey_recipients` in the transaction that marks
//! the invitation sent and counts it; a reply is taken only by an
//! invitation still open (`state = 'sent'`), counted in the same
//! transaction; the purge erases reply words and whole invitations by their
//! deadlines. A person is only ever a blind-index hash here.
//!
//! What this module is not: sealing (the application seals a reply's
//! words before they arrive), or the reports' disclosure control.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::survey::SurveySettings;
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};
use uuid::Uuid;

use crate::audited::{self, AuditLog, Audited, Conn};
use crate::backend::{Backend, SqlStore, Unique};
use crate::error::{Error, Result};
use crate::model::{NewAuditEvent, SealedSecret};
use crate::outbox::{NewOutboxMessage, insert_message};

/// The stored form of a day (as the contact roll-ups').
fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A service's survey settings, as stored: core's [`SurveySettings`] (the
/// one definition of the fields and their checks) and who changed them
/// when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyConfigRow {
    /// The service queue.
    pub service: String,
    /// The settings.
    pub settings: SurveySettings,
    /// Changes so far (1 for the first).
    pub version: u32,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// By whom.
    pub updated_by: UserId,
}

/// An invitation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Waiting in the outbox.
    Scheduled,
    /// Handed to the gateway.
    Sent,
    /// Stopped before sending (the reason is kept).
    Cancelled,
    /// Answered.
    Answered,
}

impl InvitationState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Scheduled => "scheduled",
            InvitationState::Sent => "sent",
            InvitationState::Cancelled => "cancelled",
            InvitationState::Answered => "answered",
        }
    }

    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "scheduled" => InvitationState::Scheduled,
            "sent" => InvitationState::Sent,
            "cancelled" => InvitationState::Cancelled,
            "answered" => InvitationState::Answered,
            _ => {
                return Err(Error::Corrupt(
                    "survey_invitations.state: unknown state".into(),
                ));
            }
        })
    }
}

/// A new invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// Its id.
    pub id: Uuid,
    /// The service whose settings it follows.
    pub service: String,
    /// The contact it follows.
    pub contact: ContactId,
    /// The person: the blind-index hash of the number (kind `phone`).
    pub phone_hash: Vec<u8>,
    /// `fi`, `sv` or `en`.
    pub language: String,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// When it is due (the outbox message's first attempt).
    pub due_at: DateTime<Utc>,
    /// When the row goes.
    pub retain_until: DateTime<Utc>,
}

/// A stored invitation, without its reply's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    /// Its id.
    pub id: Uuid,
    /// Its service.
    pub service: String,
    /// The contact it follows.
    pub contact: ContactId,
    /// The person's hash.
    pub phone_hash: Vec<u8>,
    /// Its outbox message.
    pub outbox_id: Uuid,
    /// Its state.
    pub state: InvitationState,
    /// Why it was cancelled.
    pub reason: Option<String>,
    /// When due.
    pub due_at: DateTime<Utc>,
    /// When sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// The score given.
    pub score: Option<u8>,
    /// Whether words of a reply are still kept (sealed).
    pub has_comment: bool,
}

/// A reply, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReply {
    /// The invitation it answers.
    pub invitation: Uuid,
    /// 1–5.
    pub score: u8,
    /// The words, sealed, if any.
    pub comment: Option<SealedSecret>,
    /// The gateway's id of the message (unique).
    pub gateway_id: String,
    /// When it arrived.
    pub answered_at: DateTime<Utc>,
    /// When its words are erased.
    pub comment_retain_until: DateTime<Utc>,
    /// The roll-up day (the Helsinki day the invitation was sent).
    pub day: NaiveDate,
}

/// One survey roll-up row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyRollupRow {
    /// The Helsinki day the invitations were sent.
    pub day: NaiveDate,
    /// The service.
    pub service: String,
    /// Invitations sent.
    pub invited: u64,
    /// Of which answered.
    pub answered: u64,
    /// Answers giving each score, 1 to 5.
    pub scores: [u64; 5],
}

/// What the purge did to surveys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SurveyPurge {
    /// Reply words erased.
    pub comments: u64,
    /// Invitations deleted.
    pub invitations: u64,
}

/// Surveys, on either database.
#[async_trait]
pub trait SurveyStore: Send + Sync {
    /// Every service's settings, by service.
    async fn survey_configs(&self) -> Result<Vec<SurveyConfigRow>>;

    /// One service's settings.
    async fn survey_config(&self, service: &str) -> Result<Option<SurveyConfigRow>>;

    /// Stores `row` as the service's settings if its version is the next
    /// (1 for a new service); `false` when someone changed them meanwhile.
    async fn put_survey_config(&self, row: &SurveyConfigRow, audit: &NewAuditEvent)
    -> Result<bool>;

    /// Stores `invitation` with its outbox `message`, unless the person
    /// already has one scheduled or was invited after `invited_after`
    /// (`false`, nothing stored).
    async fn schedule_invitation(
        &self,
        invitation: &NewInvitation,
        message: &NewOutboxMessage,
        invited_after: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool>;

    /// The invitation carried by outbox message `outbox_id`.
    async fn invitation_by_message(&self, outbox_id: &Uuid) -> Result<Option<InvitationRow>>;

    /// The invitation with this id.
    async fn invitation(&self, id: &Uuid) -> Result<Option<InvitationRow>>;

    /// The invitations that followed any of `contacts` (a subject's access
    /// package), oldest first.
    async fn invitations_for_contacts(&self, contacts: &[ContactId]) -> Result<Vec<InvitationRow>>;

    /// The limits in force at `at` on the person `phone_hash` or on the
    /// contact (through its own blind-index entries), as `(kind, purpose)`.
    async fn survey_limits(
        &self,
        phone_hash: &[u8],
        contact: &ContactId,
        at: DateTime<Utc>,
    ) -> Result<Vec<(String, Option<String>)>>;

    /// Marks a scheduled invitation sent at `at` and counts it on `day`,
    /// if the person was last invited at or before `invited_after` (or by
    /// this invitation); `false`, and nothing changed, otherwise.
    async fn mark_invitation_sent(
        &self,
        id: &Uuid,
        at: DateTime<Utc>,
        invited_after: DateTime<Utc>,
        day: NaiveDate,
        audit: &NewAuditEvent,
    ) -> Result<bool>;

    /// Cancels a scheduled invitation with `reason`; `false` if it was not
    /// scheduled.
    async fn cancel_invitation(
        &self,
        id: &Uuid,
        reason: &str,
        audit: &NewAuditEvent,
    ) -> Result<bool>;

    /// The person's open invitation (sent after `sent_after`, not yet
    /// answered), newest first.
    async fn open_invitation(
        &self,
        phone_hash: &[u8],
        sent_after: DateTime<Utc>,
    ) -> Result<Option<InvitationRow>>;

    /// Stores `reply` on its invitation if it is still open, and counts it;
    /// `false` (nothing stored) if it is not, or the gateway id was seen.
    async fn record_reply(&self, reply: &NewReply, audit: &NewAuditEvent) -> Result<bool>;

    /// An invitation's sealed reply words, if kept.
    async fn reply_comment(&self, invitation: &Uuid) -> Result<Option<SealedSecret>>;

    /// Erases reply words due at `now`, deletes invitations due, and
    /// forgets people last invited before `forget_before`.
    async fn purge_surveys(
        &self,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<SurveyPurge>;

    /// The survey roll-ups of `from ..= to`, by day and service.
    async fn survey_rollups(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<SurveyRollupRow>>;
}

const CONFIG_COLUMNS: &str = "service, enabled, sample_per_mille, delay_minutes, quiet_start, \
     quiet_end, period_days, text_fi, text_sv, text_en, version, updated_at, updated_by";

const INVITATION_COLUMNS: &str = "id, service, contact_id, phone_hash, outbox_id, state, \
     reason, due_at, sent_at, answered_at, score, reply_sealed IS NOT NULL AS has_comment";

fn small<T: TryFrom<i64>>(value: i64, what: &'static str) -> Result<T> {
    T::try_from(value).map_err(|_| Error::Corrupt(format!("{what}: out of range")))
}

fn config_from_row<DB: Backend>(row: &DB::Row) -> Result<SurveyConfigRow> {
    Ok(SurveyConfigRow {
        service: DB::get_text(row, "service")?,
        settings: SurveySettings {
            enabled: DB::get_int(row, "enabled")? != 0,
            sample_per_mille: small(DB::get_int(row, "sample_per_mille")?, "sample_per_mille")?,
            delay_minutes: small(DB::get_int(row, "delay_minutes")?, "delay_minutes")?,
            quiet_start: DB::get_text(row, "quiet_start")?,
            quiet_end: DB::get_text(row, "quiet_end")?,
            period_days: small(DB::get_int(row, "period_days")?, "period_days")?,
            text_fi: DB::get_text(row, "text_fi")?,
            text_sv: DB::get_text(row, "text_sv")?,
            text_en: DB::get_text(row, "text_en")?,
        },
        version: small(DB::get_int(row, "version")?, "version")?,
        updated_at: DB::get_time(row, "updated_at")?,
        updated_by: UserId::from_uuid(DB::get_uuid(row, "updated_by")?),
    })
}

fn invitation_from_row<DB: Backend>(row: &DB::Row) -> Result<InvitationRow> {
    Ok(InvitationRow {
        id: DB::get_uuid(row, "id")?,
        service: DB::get_text(row, "service")?,
        contact: ContactId::from_uuid(DB::get_uuid(row, "contact_id")?),
        phone_hash: DB::get_bytes(row, "phone_hash")?,
        outbox_id: DB::get_uuid(row, "outbox_id")?,
        state: InvitationState::parse(&DB::get_text(row, "state")?)?,
        reason: DB::get_opt_text(row, "reason")?,
        due_at: DB::get_time(row, "due_at")?,
        sent_at: DB::get_opt_time(row, "sent_at")?,
        answered_at: DB::get_opt_time(row, "answered_at")?,
        score: DB::get_opt_int(row, "score")?
            .map(|s| small(s, "score"))
            .transpose()?,
        has_comment: DB::get_bool(row, "has_comment")?,
    })
}

#[async_trait]
impl<S> SurveyStore for S
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Vec<u8>>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> <S::Db as Backend>::Time: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: Default,
{
    async fn survey_configs(&self) -> Result<Vec<SurveyConfigRow>> {
        let sql = format!("SELECT {CONFIG_COLUMNS} FROM survey_configs ORDER BY service");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(config_from_row::<S::Db>).collect()
    }

    async fn survey_config(&self, service: &str) -> Result<Option<SurveyConfigRow>> {
        let sql = format!("SELECT {CONFIG_COLUMNS} FROM survey_configs WHERE service = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(service)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|r| config_from_row::<S::Db>(&r)).transpose()
    }

    async fn put_survey_config(
        &self,
        row: &SurveyConfigRow,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let values = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13";
            let sql = if row.version <= 1 {
                format!(
                    "INSERT INTO survey_configs ({CONFIG_COLUMNS}) VALUES ({values}) \
                     ON CONFLICT (service) DO NOTHING"
                )
            } else {
                "UPDATE survey_configs SET enabled = $2, sample_per_mille = $3, \
                         delay_minutes = $4, quiet_start = $5, quiet_end = $6, \
                         period_days = $7, text_fi = $8, text_sv = $9, text_en = $10, \
                         version = $11, updated_at = $12, updated_by = $13 \
                     WHERE service = $1 AND version = $11 - 1"
                    .to_owned()
            };
            let settings = &row.settings;
            let result = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(row.service.as_str())
                .bind(i64::from(settings.enabled))
                .bind(i64::from(settings.sample_per_mille))
                .bind(i64::from(settings.delay_minutes))
                .bind(settings.quiet_start.as_str())
                .bind(settings.quiet_end.as_str())
                .bind(i64::from(settings.period_days))
                .bind(settings.text_fi.as_str())
                .bind(settings.text_sv.as_str())
                .bind(settings.text_en.as_str())
                .bind(i64::from(row.version.max(1)))
                .bind(S::Db::time(row.updated_at))
                .bind(*row.updated_by.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(|err| S::Db::write_error(err, &[], "survey settings"))?;
            let changed = S::Db::rows_affected(&result) == 1;
            Ok(Audited::commit_if(changed, changed, [audit]))
        })
        .await
    }

    async fn schedule_invitation(
        &self,
        invitation: &NewInvitation,
        message: &NewOutboxMessage,
        invited_after: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let busy = sqlx::query(
                "SELECT 1 AS one FROM survey_invitations \
                     WHERE phone_hash = $1 AND state = 'scheduled' \
                 UNION ALL \
                 SELECT 1 AS one FROM survey_recipients \
                     WHERE phone_hash = $1 AND invited_at > $2",
            )
            .bind(invitation.phone_hash.as_slice())
            .bind(S::Db::time(invited_after))
            .fetch_optional(&mut *tx)
            .await?;
            if busy.is_some() {
                return Ok(Audited::roll_back(false));
            }
            insert_message::<S::Db>(&mut *tx, message).await?;
            sqlx::query(
                "INSERT INTO survey_invitations (id, service, contact_id, phone_hash, language, \
                     outbox_id, state, created_at, due_at, retain_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $9)",
            )
            .bind(invitation.id)
            .bind(invitation.service.as_str())
            .bind(*invitation.contact.as_uuid())
            .bind(invitation.phone_hash.as_slice())
            .bind(invitation.language.as_str())
            .bind(message.id)
            .bind(S::Db::time(invitation.created_at))
            .bind(S::Db::time(invitation.due_at))
            .bind(S::Db::time(invitation.retain_until))
            .execute(&mut *tx)
            .await
            .map_err(|err| S::Db::write_error(err, &[], "survey invitation"))?;
            Ok(Audited::commit(true, [audit]))
        })
        .await
    }

    async fn invitation_by_message(&self, outbox_id: &Uuid) -> Result<Option<InvitationRow>> {
        let sql =
            format!("SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE outbox_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*outbox_id)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|r| invitation_from_row::<S::Db>(&r)).transpose()
    }

    async fn invitation(&self, id: &Uuid) -> Result<Option<InvitationRow>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|r| invitation_from_row::<S::Db>(&r)).transpose()
    }

    async fn invitations_for_contacts(&self, contacts: &[ContactId]) -> Result<Vec<InvitationRow>> {
        let mut found = Vec::new();
        for chunk in contacts.chunks(500) {
            let mut query = sqlx::QueryBuilder::<S::Db>::new(format!(
                "SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE contact_id IN ("
            ));
            let mut ids = query.separated(", ");
            for contact in chunk {
                ids.push_bind(*contact.as_uuid());
            }
            query.push(") ORDER BY created_at, id");
            let rows = query.build().fetch_all(self.sql_pool()).await?;
            for row in &rows {
                found.push(invitation_from_row::<S::Db>(row)?);
            }
        }
        Ok(found)
    }

    async fn survey_limits(
        &self,
        phone_hash: &[u8],
        contact: &ContactId,
        at: DateTime<Utc>,
    ) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT l.kind AS kind, l.purpose AS purpose \
             FROM subject_limit_identifiers AS li \
             JOIN subject_limits AS l ON l.id = li.limit_id \
             WHERE (l.lifted_at IS NULL OR l.lifted_at > $1) \
               AND ((li.kind = 'phone' AND li.hash = $2) \
                 OR EXISTS (SELECT 1 FROM contact_index AS i \
                     WHERE i.contact_id = $3 AND i.kind = li.kind AND i.hash = li.hash))",
        )
        .bind(S::Db::time(at))
        .bind(phone_hash)
        .bind(*contact.as_uuid())
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    S::Db::get_text(row, "kind")?,
                    S::Db::get_opt_text(row, "purpose")?,
                ))
            })
            .collect()
    }

    async fn mark_invitation_sent(
        &self,
        id: &Uuid,
        at: DateTime<Utc>,
        invited_after: DateTime<Utc>,
        day: NaiveDate,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let row = sqlx::query(
                "SELECT phone_hash, service FROM survey_invitations \
                 WHERE id = $1 AND state = 'scheduled'",
            )
            .bind(*id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(Audited::roll_back(false));
            };
            let hash = S::Db::get_bytes(&row, "phone_hash")?;
            let service = S::Db::get_text(&row, "service")?;
            // The period rule, atomically: the person's row is taken only
            // if their last invitation is old enough (or this one).
            let reserved = sqlx::query(
                "INSERT INTO survey_recipients (phone_hash, invitation_id, invited_at) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (phone_hash) DO UPDATE \
                     SET invitation_id = excluded.invitation_id, invited_at = excluded.invited_at \
                     WHERE survey_recipients.invited_at <= $4 \
                        OR survey_recipients.invitation_id = excluded.invitation_id",
            )
            .bind(hash.as_slice())
            .bind(*id)
            .bind(S::Db::time(at))
            .bind(S::Db::time(invited_after))
            .execute(&mut *tx)
            .await?;
            if S::Db::rows_affected(&reserved) != 1 {
                return Ok(Audited::roll_back(false));
            }
            sqlx::query(
                "UPDATE survey_invitations SET state = 'sent', sent_at = $2 \
                 WHERE id = $1 AND state = 'scheduled'",
            )
            .bind(*id)
            .bind(S::Db::time(at))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO survey_rollups (day, service, invited) VALUES ($1, $2, 1) \
                 ON CONFLICT (day, service) DO UPDATE SET invited = survey_rollups.invited + 1",
            )
            .bind(day_text(day))
            .bind(service)
            .execute(&mut *tx)
            .await?;
            Ok(Audited::commit(true, [audit]))
        })
        .await
    }

    async fn cancel_invitation(
        &self,
        id: &Uuid,
        reason: &str,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let result = sqlx::query(
                "UPDATE survey_invitations SET state = 'cancelled', reason = $2 \
                 WHERE id = $1 AND state = 'scheduled'",
            )
            .bind(*id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
            let changed = S::Db::rows_affected(&result) == 1;
            Ok(Audited::commit_if(changed, changed, [audit]))
        })
        .await
    }

    async fn open_invitation(
        &self,
        phone_hash: &[u8],
        sent_after: DateTime<Utc>,
    ) -> Result<Option<InvitationRow>> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM survey_invitations \
             WHERE phone_hash = $1 AND state = 'sent' AND sent_at > $2 \
             ORDER BY sent_at DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(phone_hash)
            .bind(S::Db::time(sent_after))
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|r| invitation_from_row::<S::Db>(&r)).transpose()
    }

    async fn record_reply(&self, reply: &NewReply, audit: &NewAuditEvent) -> Result<bool> {
        if !(1..=5).contains(&reply.score) {
            return Err(Error::Corrupt("a survey score is 1–5".into()));
        }
        audited::write_audited_if(self, async |tx| {
            let result = sqlx::query(
                "UPDATE survey_invitations SET state = 'answered', answered_at = $2, \
                     score = $3, reply_key = $4, reply_sealed = $5, reply_gateway_id = $6, \
                     reply_retain_until = $7 \
                 WHERE id = $1 AND state = 'sent'",
            )
            .bind(reply.invitation)
            .bind(S::Db::time(reply.answered_at))
            .bind(i64::from(reply.score))
            .bind(reply.comment.as_ref().map(|c| c.wrapped_key.clone()))
            .bind(reply.comment.as_ref().map(|c| c.sealed.clone()))
            .bind(reply.gateway_id.as_str())
            .bind(S::Db::time(reply.comment_retain_until))
            .execute(&mut *tx)
            .await;
            let result = match result {
                Ok(result) => result,
                Err(err) => {
                    return match S::Db::write_error(
                        err,
                        &[Unique::new(
                            "survey_invitations.reply_gateway_id",
                            "survey_invitations_reply_gateway_id_key",
                            "survey reply",
                        )],
                        "survey reply",
                    ) {
                        // A replayed delivery: nothing stored.
                        Error::Conflict(_) => Ok(Audited::roll_back(false)),
                        other => Err(other),
                    };
                }
            };
            if S::Db::rows_affected(&result) != 1 {
                return Ok(Audited::roll_back(false));
            }
            let score_column = ["score_1", "score_2", "score_3", "score_4", "score_5"]
                [usize::from(reply.score - 1)];
            let service = sqlx::query("SELECT service FROM survey_invitations WHERE id = $1")
                .bind(reply.invitation)
                .fetch_one(&mut *tx)
                .await?;
            let sql = format!(
                "INSERT INTO survey_rollups (day, service, answered, {score_column}) \
                 VALUES ($1, $2, 1, 1) \
                 ON CONFLICT (day, service) DO UPDATE SET \
                     answered = survey_rollups.answered + 1, \
                     {score_column} = survey_rollups.{score_column} + 1"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(day_text(reply.day))
                .bind(S::Db::get_text(&service, "service")?)
                .execute(&mut *tx)
                .await?;
            Ok(Audited::commit(true, [audit]))
        })
        .await
    }

    async fn reply_comment(&self, invitation: &Uuid) -> Result<Option<SealedSecret>> {
        let row = sqlx::query(
            "SELECT reply_key, reply_sealed FROM survey_invitations \
             WHERE id = $1 AND reply_sealed IS NOT NULL",
        )
        .bind(*invitation)
        .fetch_optional(self.sql_pool())
        .await?;
        row.map(|row| {
            Ok(SealedSecret {
                wrapped_key: S::Db::get_bytes(&row, "reply_key")?,
                sealed: S::Db::get_bytes(&row, "reply_sealed")?,
            })
        })
        .transpose()
    }

    async fn purge_surveys(
        &self,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<SurveyPurge> {
        let mut tx = self.sql_pool().begin().await?;
        let comments = sqlx::query(
            "UPDATE survey_invitations SET reply_key = NULL, reply_sealed = NULL \
             WHERE reply_sealed IS NOT NULL AND reply_retain_until <= $1",
        )
        .bind(S::Db::time(now))
        .execute(&mut *tx)
        .await?;
        // A scheduled one waits for its send (which cancels or sends it).
        let invitations = sqlx::query(
            "DELETE FROM survey_invitations WHERE retain_until <= $1 AND state <> 'scheduled'",
        )
        .bind(S::Db::time(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM survey_recipients WHERE invited_at < $1")
            .bind(S::Db::time(forget_before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(SurveyPurge {
            comments: S::Db::rows_affected(&comments),
            invitations: S::Db::rows_affected(&invitations),
        })
    }

    async fn survey_rollups(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<SurveyRollupRow>> {
        let rows = sqlx::query(
            "SELECT day, service, invited, answered, score_1, score_2, score_3, score_4, \
                 score_5 FROM survey_rollups WHERE day >= $1 AND day <= $2 \
             ORDER BY day, service",
        )
        .bind(day_text(from))
        .bind(day_text(to))
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                let day = S::Db::get_text(row, "day")?;
                let mut scores = [0u64; 5];
                for (i, column) in ["score_1", "score_2", "score_3", "score_4", "score_5"]
                    .iter()
                    .enumerate()
                {
                    scores[i] = S::Db::get_count(row, column)?;
                }
                Ok(SurveyRollupRow {
                    day: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                        .map_err(|_| Error::Corrupt("survey_rollups.day: not a date".into()))?,
                    service: S::Db::get_text(row, "service")?,
                    invited: S::Db::get_count(row, "invited")?,
                    answered: S::Db::get_count(row, "answered")?,
                    scores,
                })
            })
            .collect()
    }
}
