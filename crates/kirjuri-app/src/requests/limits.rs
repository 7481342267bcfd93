//! Restriction and objection carried out (DSR-4; issue 12 §7): `POST
//! /api/v1/requests/{id}/execute` with `{"action": "restrict"}`,
//! `{"action": "object"}` or `{"action": "lift_restriction"}`.
//!
//! **What a limit binds.** The request's *proven* identifiers (the
//! subject as [`Kirjuri::subject_of`] finds them), stored as blind-index
//! hashes: every contact bearing one — delivered before or after — is
//! bound, through the one access decision, on every read path
//! (`subject_limits`). A restriction leaves storage, legal claims and the
//! subject's own request (Art. 18(2)); an objection stops the purposes the
//! request named (survey, training, quality assurance, development; Art.
//! 21). Limits outlive the request's own record: DSR retention deletes the
//! record, an objection stands.
//!
//! **Gate and once.** Restrict and object share erasure's gate (verified or
//! in progress, the type asked for; [`Kirjuri::executable`]) and move a
//! verified request to `in_progress`. A request restricts once and objects
//! once per purpose (409 `already_executed`); two parallel executions meet
//! the request's optimistic version, so one gets 409 `request_changed`.
//!
//! **Overriding an objection** (Art. 21(1), reference D.24): `{"action":
//! "override_objection", "purpose", "grounds"}` lifts the request's
//! objection to one purpose at once, when a registrar records compelling
//! legitimate grounds (at most [`MAX_GROUNDS_CHARS`] characters). The
//! grounds are sealed with the request (they may describe the person's
//! case); the timeline step and audit event name the purpose only. An
//! objection to surveys cannot be overridden: direct marketing yields to
//! every objection (Art. 21(3)).
//!
//! **Lifting** (Art. 18(3)): the subject is told first. Lifting queues the
//! notice in the same transaction and the restriction ends
//! `[requests] lift_notice_days` later (default 7), so the subject has
//! time to act before their data are processed again. It is allowed in any
//! state — a restriction is usually lifted after the request was answered
//! (say, when the disputed accuracy was checked). A requester without an
//! email or phone (a letter by post) gets no message from here; the step
//! says so, and the registrar sends the letter.

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::ids::UserId;
use kirjuri_core::purpose::Purpose;
use kirjuri_core::request::RequestType;
use kirjuri_store::limits::{LimitKind, LimitLift, NewSubjectLimit, SubjectLimitRow};
use kirjuri_store::requests::RequestRow;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::steps::Step;
use super::subject::Subject;
use super::{Extras, Language, StoredClock};
use crate::app::Kirjuri;
use crate::error::{Error, Result};
use crate::holds::local_day;

/// Longest compelling grounds.
pub const MAX_GROUNDS_CHARS: usize = 4000;

/// Compelling grounds recorded against an objection, sealed with the
/// request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Override {
    /// The purpose whose objection was overridden.
    purpose: Purpose,
    /// Why (the controller's compelling legitimate grounds).
    grounds: String,
    /// When.
    at: DateTime<Utc>,
}

/// A limit-making action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LimitAction {
    /// Restrict processing (Art. 18).
    Restrict,
    /// Object to the request's purposes (Art. 21).
    Object,
    /// Lift the request's restriction, after telling the subject.
    LiftRestriction,
    /// Lift the request's objection to `purpose` on recorded compelling
    /// grounds.
    OverrideObjection {
        /// The purpose, as given.
        purpose: String,
        /// The grounds, as given.
        grounds: String,
    },
}

impl LimitAction {
    fn name(&self) -> &'static str {
        match self {
            LimitAction::Restrict => "restrict",
            LimitAction::Object => "object",
            LimitAction::LiftRestriction => "lift_restriction",
            LimitAction::OverrideObjection { .. } => "override_objection",
        }
    }

    fn needs(&self) -> RequestType {
        match self {
            LimitAction::Restrict | LimitAction::LiftRestriction => RequestType::Restriction,
            LimitAction::Object | LimitAction::OverrideObjection { .. } => RequestType::Objection,
        }
    }

    /// Whether it may be done in any state (it lifts what a request made,
    /// usually after the request was answered).
    fn lifts(&self) -> bool {
        matches!(
            self,
            LimitAction::LiftRestriction | LimitAction::OverrideObjection { .. }
        )
    }
}

/// A restriction or objection of a request, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitView {
    /// Its id.
    pub id: Uuid,
    /// `restriction` or `objection`.
    pub kind: &'static str,
    /// For an objection, the purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it ends (or ended), once lifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<DateTime<Utc>>,
}

/// What a restriction, objection or lifting did.
#[derive(Debug, Clone, Serialize)]
pub struct Limited {
    /// The action carried out.
    pub action: &'static str,
    /// The request's state afterwards.
    pub state: kirjuri_core::request::RequestState,
    /// The request's restrictions and objections, as they now stand.
    pub limits: Vec<LimitView>,
}

impl From<&SubjectLimitRow> for LimitView {
    fn from(row: &SubjectLimitRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind.as_str(),
            purpose: row.purpose.clone(),
            created_at: row.created_at,
            lifted_at: row.lifted_at,
        }
    }
}

fn already(what: &str) -> Error {
    Error::Conflict {
        code: "already_executed",
        message: format!("{what} of this request was carried out already"),
    }
}

impl Kirjuri {
    /// Carries out `action` on request `id` (see the module's text).
    pub(super) async fn execute_limit(
        &self,
        actor_id: UserId,
        id: Uuid,
        action: LimitAction,
    ) -> Result<Limited> {
        let name = action.name();
        let row = if action.lifts() {
            let row = self.request_row(id).await?;
            if !row.types.contains(&action.needs()) {
                return Err(Error::Conflict {
                    code: "not_requested",
                    message: format!("the request does not ask for {}", action.needs()),
                });
            }
            row
        } else {
            self.executable(actor_id, id, name, action.needs()).await?
        };
        let existing = self.store.request_limits(&row.id).await?;
        let now = self.clock.now();
        let mut clock = StoredClock::load(&row)?;
        let mut steps = Vec::new();
        let mut extras = Extras::default();
        let new_limit = |kind: LimitKind, purpose: Option<Purpose>, identifiers| NewSubjectLimit {
            id: Uuid::now_v7(),
            kind,
            purpose: purpose.map(|p| p.as_str().to_owned()),
            created_at: now,
            created_by: actor_id,
            identifiers,
        };
        let row = match action {
            LimitAction::Restrict => {
                if existing.iter().any(|l| l.kind == LimitKind::Restriction) {
                    return Err(already("the restriction"));
                }
                let subject = self.proven_subject(&row).await?;
                extras.limits.new.push(new_limit(
                    LimitKind::Restriction,
                    None,
                    subject.proven.clone(),
                ));
                steps.push(Step::done(
                    "restricted",
                    json!({
                        "identifiers": subject.proven.len(),
                        "contacts": subject.contacts.len(),
                    }),
                ));
                self.started(&row, &mut clock, now, &mut steps)?
            }
            LimitAction::Object => {
                let done: Vec<&str> = existing
                    .iter()
                    .filter(|l| l.kind == LimitKind::Objection)
                    .filter_map(|l| l.purpose.as_deref())
                    .collect();
                let missing: Vec<Purpose> = row
                    .objection_purposes
                    .iter()
                    .copied()
                    .filter(|p| !done.contains(&p.as_str()))
                    .collect();
                if missing.is_empty() {
                    return Err(already("the objection"));
                }
                let subject = self.proven_subject(&row).await?;
                for purpose in &missing {
                    extras.limits.new.push(new_limit(
                        LimitKind::Objection,
                        Some(*purpose),
                        subject.proven.clone(),
                    ));
                }
                steps.push(Step::done(
                    "objected",
                    json!({
                        "purposes": missing,
                        "identifiers": subject.proven.len(),
                        "contacts": subject.contacts.len(),
                    }),
                ));
                self.started(&row, &mut clock, now, &mut steps)?
            }
            LimitAction::LiftRestriction => {
                let Some(restriction) = existing
                    .iter()
                    .find(|l| l.kind == LimitKind::Restriction && l.lifted_at.is_none())
                else {
                    return Err(Error::Conflict {
                        code: "not_restricted",
                        message: "the request has no restriction in force to lift".into(),
                    });
                };
                let lifts_at =
                    now + TimeDelta::days(i64::from(self.config.requests.lift_notice_days));
                let language: Language = row.language.parse()?;
                let details = self.open_details(&row)?;
                let notice =
                    self.lift_message(&details, language, &row.reference, local_day(lifts_at))?;
                let notified = notice.is_some();
                extras.messages.extend(notice);
                extras.limits.lift.push(LimitLift {
                    id: restriction.id,
                    at: lifts_at,
                    by: actor_id,
                });
                steps.push(Step::done(
                    "restriction_lift",
                    json!({"lifts_at": lifts_at, "notice_queued": notified}),
                ));
                row
            }
            LimitAction::OverrideObjection { purpose, grounds } => {
                let purpose: Purpose = purpose.trim().parse()?;
                if purpose == Purpose::Survey {
                    return Err(Error::Unprocessable {
                        code: "objection_absolute",
                        message: "an objection to surveys (direct marketing) cannot be \
                                  overridden (GDPR Art. 21(3))"
                            .into(),
                    });
                }
                let grounds = grounds.trim();
                if grounds.is_empty() || grounds.chars().count() > MAX_GROUNDS_CHARS {
                    return Err(Error::bad_request(
                        "grounds_required",
                        format!(
                            "grounds: the compelling legitimate grounds, 1–{MAX_GROUNDS_CHARS} \
                             characters"
                        ),
                    ));
                }
                let Some(objection) = existing.iter().find(|l| {
                    l.kind == LimitKind::Objection
                        && l.lifted_at.is_none()
                        && l.purpose.as_deref() == Some(purpose.as_str())
                }) else {
                    return Err(Error::Conflict {
                        code: "not_objected",
                        message: format!(
                            "the request has no objection to {purpose} in force to override"
                        ),
                    });
                };
                extras.limits.lift.push(LimitLift {
                    id: objection.id,
                    at: now,
                    by: actor_id,
                });
                let mut details = self.open_details(&row)?;
                details.objection_overrides.push(Override {
                    purpose,
                    grounds: grounds.to_owned(),
                    at: now,
                });
                let mut row = row;
                row.details = self.seal_details(row.id, &details)?;
                steps.push(Step::done(
                    "objection_overridden",
                    json!({"purpose": purpose}),
                ));
                row
            }
        };
        let view = self.save(row, &clock, now, actor_id, steps, extras).await?;
        Ok(Limited {
            action: name,
            state: view.state,
            limits: view.limits,
        })
    }

    /// The request's subject, refused (409 `no_proven_identifiers`) when no
    /// identifier of it is proven: a limit must bind someone.
    async fn proven_subject(&self, row: &RequestRow) -> Result<Subject> {
        let subject = self.subject_of(row).await?;
        if subject.proven.is_empty() {
            return Err(Error::Conflict {
                code: "no_proven_identifiers",
                message: "none of the request's identifiers is proven; prove one (a one-time \
                          code or a registrar's check) before carrying it out"
                    .into(),
            });
        }
        Ok(subject)
    }
}

/// The request's limits as its view lists them.
pub(super) fn views(limits: &[SubjectLimitRow]) -> Vec<LimitView> {
    limits.iter().map(LimitView::from).collect()
}
