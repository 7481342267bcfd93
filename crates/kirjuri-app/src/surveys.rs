//! Satisfaction surveys by SMS (SURV-1; issue 15 §4): each service's
//! settings (kept in the database, changed by supervisors, audited), the
//! invitation scheduled after a call, the check at send time, the reply
//! that comes back through the SMS gateway, and their purge.
//!
//! **Scheduling** ([`Kirjuri::schedule_survey`], called by intake when a
//! call with a caller number is newly stored): the service's settings, if
//! enabled, draw the sample; the invitation is due `delay_minutes` after
//! the call ended, moved out of the quiet hours on the Helsinki clock
//! (`kirjuri_core::survey::QuietHours`), and stored with its sealed outbox
//! message (kind [`INVITATION_KIND`]) in one transaction — unless the
//! person (the blind-index hash of the number) already has one scheduled
//! or was invited within the period, or is restricted or objected to
//! surveys now. A withheld number is never stored, so never invited.
//!
//! **At send time** ([`Kirjuri::survey_gate`], asked by the outbox just
//! before it hands the message to the gateway): the restriction and the
//! objection are checked again at that instant — an objection made a
//! second earlier stops the send — and the invitation is marked sent only
//! if the person was not invited within the period meanwhile (an atomic
//! upsert in the store), counted into the survey roll-ups in the same
//! transaction. A stopped invitation is cancelled with its reason,
//! audited; its message is given up with the reason as its error code.
//!
//! **Replies** ([`Kirjuri::receive_survey_reply`]): Kannel's smsbox
//! delivers a mobile-originated SMS to `GET /api/v1/surveys/replies`
//! (`get-url`), with `[surveys] reply_secret` in the query (compared by
//! digest, so timing says nothing), the gateway's message id, the sender's
//! number and the text. Only a reply from the number of an invitation sent
//! within `reply_window_hours` and not yet answered is taken, once: a
//! second reply, a late one, a reply from a number with no invitation, a
//! replayed message id, anything but a score 1–5 first — nothing is
//! stored. The score is counted; the words are personal data, sealed
//! under their own data key bound to the invitation, and erased by the
//! purge after `comment_retention_days`; the invitation itself goes after
//! `invitation_retention_days`. Logs carry ids, never a number or a word.
//!
//! What this module is not: the rules themselves (kirjuri-core `survey`),
//! the outbox, or the reports (`statistics`).

use chrono::{DateTime, Duration, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::contact::{Channel, ValidContact};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::phone::PhoneNumber;
use kirjuri_core::purpose::Purpose;
use kirjuri_core::statistics::rollup_day;
use kirjuri_core::survey::{PER_MILLE, QuietHours, Reply, SurveySettings, sampled};
use kirjuri_store::surveys::{
    InvitationState, NewInvitation, NewReply, SurveyConfigRow, SurveyPurge,
};
use kirjuri_store::{ClaimedMessage, NewAuditEvent, SealedSecret};
use kirjuri_vault::IndexKind;
use kirjuri_vault::{open_to_vec, seal_to_vec};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::app::Kirjuri;
use crate::error::{Error, Result};
use crate::outbox::Content;
use crate::outbox::config::SecretText;

/// The outbox kind of an invitation.
pub const INVITATION_KIND: &str = "survey.invitation";

/// The longest gateway message id.
const MAX_GATEWAY_ID: usize = 128;

/// The longest reply text taken from the gateway.
const MAX_REPLY_CHARS: usize = 1600;

/// How long the period rule remembers a person: the longest period.
const FORGET_AFTER_DAYS: i64 = kirjuri_core::survey::MAX_PERIOD_DAYS as i64;

/// `[surveys]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurveysConfig {
    /// The secret Kannel's `get-url` carries (`token=`); replies are
    /// refused while it is unset. Never serialised.
    #[serde(skip_serializing)]
    pub reply_secret: Option<SecretText>,
    /// How long after an invitation was sent a reply is taken.
    pub reply_window_hours: u32,
    /// How long a reply's words are kept.
    pub comment_retention_days: u32,
    /// How long an invitation (the person's hash, its score) is kept; the
    /// roll-ups keep the counts after.
    pub invitation_retention_days: u32,
}

impl Default for SurveysConfig {
    fn default() -> Self {
        Self {
            reply_secret: None,
            reply_window_hours: 72,
            comment_retention_days: 90,
            invitation_retention_days: 180,
        }
    }
}

impl SurveysConfig {
    /// Refuses what cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        if !(1..=24 * 30).contains(&self.reply_window_hours) {
            return Err(Error::config("surveys.reply_window_hours", "must be 1–720"));
        }
        if self.comment_retention_days == 0
            || self.comment_retention_days > self.invitation_retention_days
        {
            return Err(Error::config(
                "surveys.comment_retention_days",
                "must be at least 1 and at most surveys.invitation_retention_days",
            ));
        }
        if self.invitation_retention_days > 3 * 366 {
            return Err(Error::config(
                "surveys.invitation_retention_days",
                "must be at most 1098",
            ));
        }
        if let Some(secret) = &self.reply_secret
            && secret.expose().len() < 16
        {
            return Err(Error::config(
                "surveys.reply_secret",
                "must be at least 16 characters",
            ));
        }
        Ok(())
    }
}

/// A service's settings as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveySettingsView {
    /// The service.
    pub service: String,
    /// Its settings.
    #[serde(flatten)]
    pub settings: SurveySettings,
    /// Changes so far.
    pub version: u32,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

impl SurveySettingsView {
    fn from_row(row: SurveyConfigRow) -> Self {
        Self {
            settings: row.settings,
            service: row.service,
            version: row.version,
            updated_at: row.updated_at,
        }
    }
}

/// What the outbox does with an invitation about to leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Send it.
    Send,
    /// Do not, ever; the code is the message's error.
    Stop(&'static str),
    /// Not now (quiet hours): at this instant.
    Wait(DateTime<Utc>),
}

/// A service name as a path gives it: the contacts' own rule.
fn check_service(service: &str) -> Result<()> {
    if service.is_empty() || service.chars().count() > 200 || service.chars().any(char::is_control)
    {
        return Err(Error::Unprocessable {
            code: "invalid_service",
            message: "a service is 1–200 characters without control characters".into(),
        });
    }
    Ok(())
}

/// A uniform draw in `0..1000`, from ring's generator.
fn draw() -> Result<u32> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("the random generator failed"))?;
    Ok(u32::from_be_bytes(bytes) % PER_MILLE)
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

impl Kirjuri {
    fn survey_event(
        &self,
        actor: Option<UserId>,
        action: &str,
        object: String,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            at: self.clock.now(),
            actor,
            action: action.into(),
            object: Some(object),
            purpose: Some(Purpose::Survey.as_str().into()),
            outcome: "success".into(),
            details,
        }
    }

    /// Every service's survey settings (supervisors, the responsible
    /// person).
    pub async fn survey_settings(
        &self,
        actor: &Actor,
        actor_id: UserId,
    ) -> Result<Vec<SurveySettingsView>> {
        self.authorize_register(actor, actor_id, Action::ConfigureSurveys, None)
            .await?;
        Ok(self
            .store
            .survey_configs()
            .await?
            .into_iter()
            .map(SurveySettingsView::from_row)
            .collect())
    }

    /// Sets a service's survey settings, audited (what changed, never the
    /// texts' words: they are not personal data, but the audit keeps only
    /// what a review needs). 409 `settings_changed` when another change
    /// won the race.
    pub async fn put_survey_settings(
        &self,
        actor: &Actor,
        actor_id: UserId,
        service: &str,
        settings: &SurveySettings,
    ) -> Result<SurveySettingsView> {
        self.authorize_register(actor, actor_id, Action::ConfigureSurveys, None)
            .await?;
        check_service(service)?;
        settings.check().map_err(|e| match e {
            kirjuri_core::Error::Refused { code, reason } => Error::Unprocessable {
                code,
                message: reason.into(),
            },
            other => Error::Unprocessable {
                code: "invalid_survey",
                message: other.to_string(),
            },
        })?;
        let current = self.store.survey_config(service).await?;
        let version = current.as_ref().map_or(1, |c| c.version.saturating_add(1));
        let row = SurveyConfigRow {
            service: service.to_owned(),
            settings: settings.clone(),
            version,
            updated_at: self.clock.now(),
            updated_by: actor_id,
        };
        let event = self.survey_event(
            Some(actor_id),
            "survey.configured",
            format!("survey_service:{service}"),
            json!({
                "version": version,
                "enabled": settings.enabled,
                "sample_per_mille": settings.sample_per_mille,
                "delay_minutes": settings.delay_minutes,
                "quiet_start": settings.quiet_start,
                "quiet_end": settings.quiet_end,
                "period_days": settings.period_days,
            }),
        );
        if !self.store.put_survey_config(&row, &event).await? {
            return Err(Error::Conflict {
                code: "settings_changed",
                message: "someone else changed these settings meanwhile; reload and try again"
                    .into(),
            });
        }
        Ok(SurveySettingsView::from_row(row))
    }

    /// Schedules an invitation after a newly stored contact, if its service
    /// surveys and the caller may be asked (see the module's doc). Returns
    /// the invitation's id, if one was scheduled.
    pub async fn schedule_survey(
        &self,
        contact_id: ContactId,
        contact: &ValidContact,
    ) -> Result<Option<Uuid>> {
        let document = &contact.document;
        if document.channel != Channel::CallIn {
            return Ok(None);
        }
        let Some(customer) = &document.customer else {
            return Ok(None);
        };
        let (Some(phone), false) = (&customer.phone, customer.phone_withheld) else {
            return Ok(None);
        };
        let Some(service) = &document.service else {
            return Ok(None);
        };
        let Some(config) = self.store.survey_config(service).await? else {
            return Ok(None);
        };
        let settings = &config.settings;
        if !settings.enabled || !sampled(settings.sample_per_mille, draw()?) {
            return Ok(None);
        }
        let Ok(quiet) = settings.check() else {
            return Ok(None);
        };
        let phone = PhoneNumber::parse(phone, "customer.phone")?;
        let hash = self
            .keyring
            .blind_indexer()
            .hash(IndexKind::Phone, phone.e164())
            .to_vec();
        let now = self.clock.now();
        if self
            .survey_blocked(&hash, &contact_id, now)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let ended = document
            .ended_at
            .unwrap_or(document.started_at)
            .with_timezone(&Utc);
        let due = quiet
            .next_allowed(ended.max(now) + Duration::minutes(i64::from(settings.delay_minutes)));
        let language = customer
            .language
            .as_deref()
            .filter(|l| matches!(*l, "fi" | "sv" | "en"))
            .unwrap_or("fi");
        let content = Content::sms(phone.e164(), settings.text(language))?;
        let mut message = self.seal_message(INVITATION_KIND, &content)?;
        message.next_attempt_at = due;
        let invitation = NewInvitation {
            id: Uuid::now_v7(),
            service: service.clone(),
            contact: contact_id,
            phone_hash: hash,
            language: language.to_owned(),
            created_at: now,
            due_at: due,
            retain_until: due
                + days(self.config.surveys.invitation_retention_days)
                + Duration::hours(i64::from(self.config.surveys.reply_window_hours)),
        };
        let event = self.survey_event(
            None,
            "survey.scheduled",
            format!("contact:{contact_id}"),
            json!({"invitation": invitation.id, "due_at": due}),
        );
        let scheduled = self
            .store
            .schedule_invitation(
                &invitation,
                &message,
                now - days(settings.period_days),
                &event,
            )
            .await?;
        if scheduled {
            tracing::info!(invitation = %invitation.id, contact = %contact_id, %due, "survey invitation scheduled");
        }
        Ok(scheduled.then_some(invitation.id))
    }

    /// Why the person or the contact may not be surveyed at `at`: a
    /// restriction or an objection to surveys in force.
    async fn survey_blocked(
        &self,
        phone_hash: &[u8],
        contact: &ContactId,
        at: DateTime<Utc>,
    ) -> Result<Option<&'static str>> {
        let limits = self.store.survey_limits(phone_hash, contact, at).await?;
        Ok(if limits.iter().any(|(kind, _)| kind == "restriction") {
            Some("survey_restricted")
        } else if limits
            .iter()
            .any(|(_, p)| p.as_deref() == Some(Purpose::Survey.as_str()))
        {
            Some("survey_objected")
        } else {
            None
        })
    }

    /// The check just before an invitation leaves (see the module's doc).
    pub(crate) async fn survey_gate(&self, message: &ClaimedMessage) -> Result<Gate> {
        let Some(invitation) = self.store.invitation_by_message(&message.id).await? else {
            return Ok(Gate::Stop("survey_unknown"));
        };
        match invitation.state {
            InvitationState::Cancelled | InvitationState::Answered => {
                return Ok(Gate::Stop("survey_cancelled"));
            }
            InvitationState::Scheduled | InvitationState::Sent => {}
        }
        let now = self.clock.now();
        let cancel = async |reason: &'static str| -> Result<Gate> {
            let event = self.survey_event(
                None,
                "survey.cancelled",
                format!("contact:{}", invitation.contact),
                json!({"invitation": invitation.id, "reason": reason}),
            );
            self.store
                .cancel_invitation(&invitation.id, reason, &event)
                .await?;
            tracing::info!(invitation = %invitation.id, reason, "survey invitation stopped at send time");
            Ok(Gate::Stop(reason))
        };
        if let Some(reason) = self
            .survey_blocked(&invitation.phone_hash, &invitation.contact, now)
            .await?
        {
            return cancel(reason).await;
        }
        let config = match self.store.survey_config(&invitation.service).await? {
            Some(config) if config.settings.enabled => config.settings,
            _ => return cancel("survey_disabled").await,
        };
        let quiet = QuietHours::parse(&config.quiet_start, &config.quiet_end)
            .map_err(|_| Error::Damaged("survey_configs: quiet hours unreadable".into()))?;
        if quiet.is_quiet(now) {
            return Ok(Gate::Wait(quiet.next_allowed(now)));
        }
        if invitation.state == InvitationState::Scheduled {
            let event = self.survey_event(
                None,
                "survey.sent",
                format!("contact:{}", invitation.contact),
                json!({"invitation": invitation.id}),
            );
            let marked = self
                .store
                .mark_invitation_sent(
                    &invitation.id,
                    now,
                    now - days(config.period_days),
                    rollup_day(now),
                    &event,
                )
                .await?;
            if !marked {
                return cancel("survey_period").await;
            }
        }
        Ok(Gate::Send)
    }

    /// A reply delivered by the SMS gateway (see the module's doc).
    /// `Ok(true)` when it was stored; `Ok(false)` when it matched nothing
    /// open (and nothing was stored).
    pub async fn receive_survey_reply(
        &self,
        token: Option<&str>,
        from: Option<&str>,
        text: Option<&str>,
        gateway_id: Option<&str>,
    ) -> Result<bool> {
        let Some(secret) = &self.config.surveys.reply_secret else {
            return Err(Error::NotFound);
        };
        let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
        let presented = token.ok_or(Error::Unauthenticated)?;
        if digest(presented).as_ref() != digest(secret.expose()).as_ref() {
            tracing::warn!("a survey reply with a wrong secret was refused");
            return Err(Error::Unauthenticated);
        }
        let invalid = |message: &str| Error::Unprocessable {
            code: "invalid_reply",
            message: message.into(),
        };
        let gateway_id = gateway_id
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= MAX_GATEWAY_ID
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .ok_or_else(|| invalid("id is the gateway's message id, 1–128 characters"))?;
        let text = text.ok_or_else(|| invalid("text is required"))?;
        if text.chars().count() > MAX_REPLY_CHARS {
            return Err(invalid("text is at most 1600 characters"));
        }
        // A malformed sender is a malformed delivery (422), as every other
        // field of it is; the number itself is never quoted.
        let phone = PhoneNumber::parse(from.ok_or_else(|| invalid("from is required"))?, "from")
            .map_err(|_| invalid("from is not a phone number"))?;
        let hash = self
            .keyring
            .blind_indexer()
            .hash(IndexKind::Phone, phone.e164())
            .to_vec();
        let now = self.clock.now();
        let window = Duration::hours(i64::from(self.config.surveys.reply_window_hours));
        let Some(invitation) = self.store.open_invitation(&hash, now - window).await? else {
            tracing::info!("a survey reply matched no open invitation; nothing stored");
            return Ok(false);
        };
        let Some(reply) = Reply::parse(text) else {
            tracing::info!(invitation = %invitation.id, "a survey reply without a score; nothing stored");
            return Ok(false);
        };
        let Some(sent_at) = invitation.sent_at else {
            return Ok(false);
        };
        let comment = match &reply.comment {
            None => None,
            Some(words) => Some(self.seal_comment(&invitation.id, words)?),
        };
        let event = self.survey_event(
            None,
            "survey.answered",
            format!("contact:{}", invitation.contact),
            json!({"invitation": invitation.id, "with_comment": comment.is_some()}),
        );
        let stored = self
            .store
            .record_reply(
                &NewReply {
                    invitation: invitation.id,
                    score: reply.score,
                    comment,
                    gateway_id: gateway_id.to_owned(),
                    answered_at: now,
                    comment_retain_until: now + days(self.config.surveys.comment_retention_days),
                    day: rollup_day(sent_at),
                },
                &event,
            )
            .await?;
        tracing::info!(invitation = %invitation.id, stored, "survey reply received");
        Ok(stored)
    }

    /// Seals a reply's words under a fresh data key bound to the invitation.
    fn seal_comment(&self, invitation: &Uuid, words: &str) -> Result<SealedSecret> {
        let object = ObjectId::from_uuid(*invitation);
        let key = self.keyring.generate_data_key()?;
        Ok(SealedSecret {
            wrapped_key: self.keyring.wrap(&key, &object)?,
            sealed: seal_to_vec(&key, &object, words.as_bytes())?,
        })
    }

    /// A reply's words, opened (for the data subject's access package and
    /// tests); `None` when none are kept.
    pub async fn survey_comment(&self, invitation: &Uuid) -> Result<Option<String>> {
        let Some(sealed) = self.store.reply_comment(invitation).await? else {
            return Ok(None);
        };
        let object = ObjectId::from_uuid(*invitation);
        let key = self.keyring.unwrap(&sealed.wrapped_key, &object)?;
        let plaintext = Zeroizing::new(open_to_vec(&key, &object, &sealed.sealed)?);
        String::from_utf8(plaintext.to_vec())
            .map(Some)
            .map_err(|_| Error::Damaged("a survey reply's words are not UTF-8".into()))
    }

    /// The survey invitations that followed `contacts`, as a subject's
    /// access package lists them (`surveys.json`), the reply's words opened.
    pub(crate) async fn surveys_of(
        &self,
        contacts: &[ContactId],
    ) -> Result<Vec<serde_json::Value>> {
        let mut listed = Vec::new();
        for invitation in self.store.invitations_for_contacts(contacts).await? {
            let comment = if invitation.has_comment {
                self.survey_comment(&invitation.id).await?
            } else {
                None
            };
            listed.push(json!({
                "contact": invitation.contact,
                "service": invitation.service,
                "state": invitation.state.as_str(),
                "sent_at": invitation.sent_at,
                "answered_at": invitation.answered_at,
                "score": invitation.score,
                "comment": comment,
            }));
        }
        Ok(listed)
    }

    /// Erases reply words and invitations past their deadlines at `now`
    /// (the purge's step).
    pub async fn purge_surveys(&self, now: DateTime<Utc>) -> Result<SurveyPurge> {
        Ok(self
            .store
            .purge_surveys(now, now - Duration::days(FORGET_AFTER_DAYS))
            .await?)
    }
}
