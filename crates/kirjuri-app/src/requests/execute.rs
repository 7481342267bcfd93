//! Carrying out a verified request (DSR-4, issue 12 §7): `POST
//! /api/v1/requests/{id}/execute` with `{"action": "erase"}`, and the
//! signed erasure receipt it leaves (`GET /api/v1/requests/{id}/receipt`).
//!
//! **Erasure.** Everything of the subject's contacts (found by
//! [`Kirjuri::subject_of`], by proven identifiers only) that no active
//! legal hold keeps is destroyed on the purge's own path
//! ([`Kirjuri::erase_unheld`]: crypto-shredding, tombstones, the erasure
//! ledger). What stays is listed by the holds' ground kind and end date.
//! A statutory duty to keep is expressed as a hold with ground kind
//! `statute`; there is no second mechanism.
//!
//! **States.** Only a request in `verified` or `in_progress` may be
//! executed (anything else: 409 `not_verified`, audited as denied). A
//! `verified` request moves to `in_progress`; answering it (DSR-5, the
//! letter) stays the registrar's step, so execute never closes a request.
//!
//! **Once.** The execution claims the request first with the request's
//! optimistic version (a timeline step `erasure_started`): of two parallel
//! executions exactly one claims it; the other gets 409 `request_changed`.
//! A request with an `erasure_started` step refuses another erasure (409
//! `already_executed`); an execution that failed after its claim is
//! finished by the purge (its tombstones), not by executing again. The
//! signed receipt is kept in the `erased` step's facts (it holds no
//! personal data), so the registrar can fetch it again.
//!
//! **Rectification** (`{"action": "rectify", "contact", "changes"}`) is
//! dispatched to `rectify` once the request's state is checked.
//!
//! Each of erasure, rectification and restriction then queues the Art. 19
//! tasks for the recipients that received the data (`follow_up`).
//!
//! Not here: restriction, objection and their lifting (`limits`, which
//! shares this module's gate: [`Kirjuri::executable`] and
//! [`Kirjuri::started`]), the access package
//! (`access`), the letters (`letters`).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::deadline::RequestClock;
use kirjuri_core::ids::UserId;
use kirjuri_core::request::{RequestState, RequestType, Transition};
use kirjuri_store::requests::RequestRow;
use kirjuri_vault::AuditSigner;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::limits::{LimitAction, Limited};
use super::rectify::{Changes, Rectified};
use super::steps::Step;
use super::{Extras, StoredClock};
use crate::app::Kirjuri;
use crate::error::{Error, Result};
use crate::holds::local_day;
use crate::purge::ERASURE_REQUEST_REASON;
use crate::receipt::{self, Counts, ErasureReceipt, Kept, RECEIPT_TYPE};

/// The name the receipt's signing key is opened under.
const RECEIPT_SIGNER: &str = "erasure-receipt";

/// The timeline step that claims an erasure.
const STARTED: &str = "erasure_started";

/// The timeline step that records a finished erasure and its receipt.
const ERASED: &str = "erased";

/// `POST /api/v1/requests/{id}/execute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteInput {
    /// `erase`, `rectify`, `restrict`, `object`, `lift_restriction` or
    /// `override_objection`.
    pub action: String,
    /// For `rectify`: the contact to change.
    #[serde(default)]
    pub contact: Option<String>,
    /// For `rectify`: the new values.
    #[serde(default)]
    pub changes: Option<Changes>,
    /// For `override_objection`: the purpose whose objection is overridden.
    #[serde(default)]
    pub purpose: Option<String>,
    /// For `override_objection`: the compelling legitimate grounds (Art.
    /// 21(1)), kept sealed with the request.
    #[serde(default)]
    pub grounds: Option<String>,
}

/// What an execution did, by action.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Executed {
    /// `erase`.
    Erased(Erased),
    /// `rectify`.
    Rectified(Rectified),
    /// `restrict`, `object` or `lift_restriction`.
    Limited(Limited),
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// The action carried out.
    pub action: &'static str,
    /// The request's state afterwards.
    pub state: RequestState,
    /// What was destroyed.
    pub erased: Counts,
    /// What was kept, by ground and end date.
    pub kept: Vec<Kept>,
    /// The signed receipt file (as `kirjuri receipt verify` reads it).
    pub receipt: Value,
}

impl Kirjuri {
    /// Carries out a verified request's `action`: `erase` here, `rectify`
    /// in `rectify`; `restrict`, `object` and `lift_restriction` in `limits`.
    pub async fn execute_request(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        input: ExecuteInput,
    ) -> Result<Executed> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let action = input.action.trim().to_owned();
        let action = action.as_str();
        // A field the action does not take is refused, not ignored: a
        // registrar who sent one meant something else.
        let rectifying = action == "rectify";
        let overriding = action == "override_objection";
        if (!rectifying && (input.contact.is_some() || input.changes.is_some()))
            || (!overriding && (input.purpose.is_some() || input.grounds.is_some()))
        {
            return Err(Error::bad_request(
                "invalid_parameter",
                "contact and changes go with rectify only; purpose and grounds with \
                 override_objection only",
            ));
        }
        let limit = match action {
            "erase" | "rectify" => None,
            "restrict" => Some(LimitAction::Restrict),
            "object" => Some(LimitAction::Object),
            "lift_restriction" => Some(LimitAction::LiftRestriction),
            "override_objection" => Some(LimitAction::OverrideObjection {
                purpose: input.purpose.clone().unwrap_or_default(),
                grounds: input.grounds.clone().unwrap_or_default(),
            }),
            _ => {
                return Err(Error::bad_request(
                    "invalid_action",
                    "action must be erase, rectify, restrict, object, lift_restriction or \
                     override_objection",
                ));
            }
        };
        if let Some(limit) = limit {
            // Art. 19 names restriction (not objection or its lifting).
            let found = if matches!(limit, LimitAction::Restrict) {
                let row = self.request_row(id).await?;
                let subject = self.subject_of(&row).await?;
                self.store.disclosed_recipients(&subject.contacts).await?
            } else {
                Vec::new()
            };
            let limited = self.execute_limit(actor_id, id, limit).await?;
            self.queue_recipient_tasks(actor_id, id, "restrict", &found)
                .await?;
            return Ok(Executed::Limited(limited));
        }
        if action == "rectify" {
            let row = self
                .executable(actor_id, id, action, RequestType::Rectification)
                .await?;
            let mut rectified = self.rectify(actor_id, row, input).await?;
            let found = self
                .store
                .disclosed_recipients(&[rectified.contact])
                .await?;
            rectified.notify_recipients = self
                .queue_recipient_tasks(actor_id, id, "rectify", &found)
                .await?
                .iter()
                .map(Uuid::to_string)
                .collect();
            return Ok(Executed::Rectified(rectified));
        }
        let row = self
            .executable(actor_id, id, action, RequestType::Erasure)
            .await?;
        let events = self.store.request_events(&row.id).await?;
        // A started one counts: two executions one after the other must not
        // both erase (the second would sign a receipt of nothing).
        if events.iter().any(|e| e.kind == ERASED || e.kind == STARTED) {
            return Err(Error::Conflict {
                code: "already_executed",
                message: "the erasure of this request was carried out already; fetch its \
                          receipt"
                    .into(),
            });
        }
        // Claim: of two parallel executions only one saves this version.
        let now = self.clock.now();
        let mut clock = StoredClock::load(&row)?;
        let mut steps = vec![Step::done(STARTED, json!({"action": action}))];
        let claimed = self.started(&row, &mut clock, now, &mut steps)?;
        self.save(claimed, &clock, now, actor_id, steps, Extras::default())
            .await?;

        let subject = self.subject_of(&row).await?;
        // Read before the contacts go: the disclosures keep their ids.
        let found = self.store.disclosed_recipients(&subject.contacts).await?;
        let erasure = self
            .erase_unheld(&subject.contacts, ERASURE_REQUEST_REASON)
            .await?;
        let kept = self.kept_grounds(&erasure).await?;
        let executed_at = self.clock.now();
        let receipt = ErasureReceipt {
            kind: RECEIPT_TYPE.to_owned(),
            v: 1,
            receipt_id: Uuid::now_v7(),
            request_reference: row.reference.clone(),
            executed_at: executed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            erased: Counts {
                contacts: erasure.contacts,
                objects: erasure.objects,
            },
            kept: kept.clone(),
            ledger_block: erasure.ledger_block,
        };
        let signer = AuditSigner::open_or_create(&self.config.audit_key_file(), RECEIPT_SIGNER)?;
        let signed = receipt::sign(&receipt, &signer)?;
        let receipt_value: Value =
            serde_json::from_str(&signed).map_err(|source| Error::Encode {
                what: "an erasure receipt",
                source,
            })?;
        let row = self.request_row(id).await?;
        let clock = StoredClock::load(&row)?;
        let step = Step::done(
            ERASED,
            json!({
                "contacts": erasure.contacts,
                "objects": erasure.objects,
                "kept": kept,
                "unfinished_steps": erasure.failures.len(),
                "receipt": receipt_value,
            }),
        );
        let state = row.state;
        self.save(
            row,
            &clock,
            executed_at,
            actor_id,
            vec![step],
            Extras::default(),
        )
        .await?;
        self.queue_recipient_tasks(actor_id, id, "erase", &found)
            .await?;
        Ok(Executed::Erased(Erased {
            action: "erase",
            state,
            erased: receipt.erased,
            kept,
            receipt: receipt_value,
        }))
    }

    /// The request `id`, if it may be carried out for `action`: verified
    /// or in progress (else 409 `not_verified`, audited as refused) and
    /// asking for `needed` (else 409 `not_requested`).
    pub(super) async fn executable(
        &self,
        actor_id: UserId,
        id: Uuid,
        action: &str,
        needed: RequestType,
    ) -> Result<RequestRow> {
        let row = self.request_row(id).await?;
        if !matches!(row.state, RequestState::Verified | RequestState::InProgress) {
            self.audit_step(
                actor_id,
                Some(row.id),
                &Step::refused(
                    "execute_refused",
                    "not_verified",
                    json!({"action": action, "state": row.state}),
                ),
            )
            .await?;
            return Err(Error::Conflict {
                code: "not_verified",
                message: format!(
                    "the request is {}; only a verified request can be carried out",
                    row.state
                ),
            });
        }
        if !row.types.contains(&needed) {
            return Err(Error::Conflict {
                code: "not_requested",
                message: format!("the request does not ask for {needed}"),
            });
        }
        Ok(row)
    }

    /// `row` as carrying out its work leaves it: a verified request moves
    /// to `in_progress` (through core's transition table, as a registrar's
    /// `start`, with its step); one in progress stays.
    pub(super) fn started(
        &self,
        row: &RequestRow,
        clock: &mut RequestClock,
        now: DateTime<Utc>,
        steps: &mut Vec<Step>,
    ) -> Result<RequestRow> {
        let mut started = row.clone();
        if row.state == RequestState::Verified {
            let next = row.state.apply(
                Transition::Start,
                row.assurance_proven,
                row.assurance_needed,
            )?;
            steps.push(Step::done(
                "moved",
                json!({"transition": Transition::Start, "from": row.state, "to": next}),
            ));
            self.enter(&mut started, clock, next, now, steps)?;
        }
        Ok(started)
    }

    /// The signed receipt of a request's erasure (`GET
    /// /api/v1/requests/{id}/receipt`), or 404 if none was made.
    pub async fn request_receipt(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<Value> {
        self.require_requests(actor, actor_id, Action::ReadRequests)
            .await?;
        let row = self.request_row(id).await?;
        let events = self.store.request_events(&row.id).await?;
        let receipt = events
            .into_iter()
            .rev()
            .find(|e| e.kind == ERASED)
            .and_then(|e| e.detail.get("receipt").cloned())
            .ok_or(Error::NotFound)?;
        self.audit_step(
            actor_id,
            Some(row.id),
            &Step::done("receipt_read", json!({})),
        )
        .await?;
        Ok(receipt)
    }

    /// What an erasure left, by the ground of each active hold on it and
    /// the hold's end date; one entry per (ground, end date).
    async fn kept_grounds(&self, erasure: &crate::purge::Erasure) -> Result<Vec<Kept>> {
        let now = self.clock.now();
        let mut grounds: BTreeMap<(String, Option<String>), Counts> = BTreeMap::new();
        for contact in &erasure.kept_contacts {
            let holds = self.store.holds_for_contact(contact).await?;
            let objects = erasure.kept_objects.get(contact).copied().unwrap_or(0);
            for hold in holds.iter().filter(|h| h.is_active(now)) {
                // The day as the hold shows it (`HoldView::expires_on`).
                let until = hold.expires_at.map(|at| local_day(at).to_string());
                let counts = grounds
                    .entry((hold.ground_kind.clone(), until))
                    .or_default();
                counts.contacts += 1;
                counts.objects += objects;
            }
        }
        Ok(grounds
            .into_iter()
            .map(|((ground, until), counts)| Kept {
                ground,
                until,
                counts,
            })
            .collect())
    }
}
