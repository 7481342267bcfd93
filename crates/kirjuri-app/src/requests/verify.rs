//! Proving a requester's identity (DSR-2, reference §4 A.3–A.7):
//! `POST /api/v1/requests/{id}/verification` in its three shapes.
//!
//! - **In person** (`{"method": "in_person", "document_type",
//!   "document_last4"}`): the named registrar checked an identity
//!   document. Recorded: the method, assurance *high*, the registrar, the
//!   document's type — and its last four characters, sealed with the
//!   request's details; never a copy. The identifiers registered with the
//!   request count as proven by the registrar (basis `in_person_check`).
//! - **Send a code** (`{"method": "email_code" | "sms_code", "send_to":
//!   {"kind", "value"}}`): the address must be one of the request's own
//!   identifiers of the method's kind. The code leaves through the outbox,
//!   queued in the same transaction that stores its hash. A fresh code of
//!   `[requests] code_digits` digits replaces the request's previous code
//!   of that kind; only its keyed hash is stored (scoped to the request,
//!   the kind and the address), for `code_ttl_seconds` and `code_tries`
//!   tries.
//! - **Confirm a code** (`{"method", "code"}`): one try is taken in one
//!   guarded statement, then judged by core's `try_code`: accepted (the
//!   address is proven by `code`, a verification with the method's
//!   assurance is recorded and the code is used up), wrong (409
//!   `code_wrong`), out of tries or expired (the code is discarded; 409
//!   `code_exhausted` / `code_expired`), or no code left to try (409
//!   `no_code` — also for the right code after three wrong ones).
//!
//! A verification that brings the proven assurance up to what the
//! request's types need moves a `received` or `awaiting_identity` request
//! to `verified` (restarting a stopped clock).

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::ids::UserId;
use kirjuri_core::request::{
    Assurance, CodeOutcome, DocumentType, RequestState, Transition, VerificationMethod, try_code,
};
use kirjuri_store::requests::{CodeRow, IdentifierProof, RequestRow, VerificationRow};
use kirjuri_vault::IndexKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Extras, RequestView, Step, StoredClock, normalise_identifier};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// Where to send a code: `{"kind": "phone" | "email", "value"}`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendTo {
    pub kind: String,
    pub value: String,
}

/// `POST /api/v1/requests/{id}/verification`'s body, in any of its three
/// shapes (see the module docs).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationInput {
    pub method: String,
    #[serde(default)]
    pub document_type: Option<String>,
    #[serde(default)]
    pub document_last4: Option<String>,
    #[serde(default)]
    pub send_to: Option<SendTo>,
    #[serde(default)]
    pub code: Option<String>,
    /// For `strong_electronic`: what the identity provider returned.
    #[serde(default)]
    pub assertion: Option<String>,
}

impl std::fmt::Debug for VerificationInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationInput")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// A code on its way: which kind of address, and until when it works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeSent {
    pub method: VerificationMethod,
    pub sent_to: String,
    pub expires_at: DateTime<Utc>,
    pub tries: u32,
}

/// What a verification call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum VerificationOutcome {
    /// Identity checked (in person, or a code accepted): the request.
    Verified {
        /// The assurance this check gave.
        assurance: Assurance,
        /// The request after it.
        request: Box<RequestView>,
    },
    /// A code was made and stored (and, with an outbox, sent).
    CodeSent(CodeSent),
}

/// The index kind a code method sends to.
fn code_kind(method: VerificationMethod) -> Result<IndexKind> {
    match method {
        VerificationMethod::EmailCode => Ok(IndexKind::Email),
        VerificationMethod::SmsCode => Ok(IndexKind::Phone),
        _ => Err(Error::bad_request(
            "invalid_method",
            "method must be in_person, email_code or sms_code",
        )),
    }
}

/// What a code's hash is bound to: the request, the kind, the address.
fn code_scope(request: Uuid, kind: IndexKind, address_hash: &[u8]) -> Vec<u8> {
    let mut scope = Vec::with_capacity(16 + 16 + 32);
    scope.extend_from_slice(request.as_bytes());
    scope.extend_from_slice(kind.as_str().as_bytes());
    scope.push(0);
    scope.extend_from_slice(address_hash);
    scope
}

/// [`code_scope`], for the unit tests' known codes.
#[cfg(test)]
pub(super) fn scope_for_tests(request: Uuid, kind: IndexKind, address_hash: &[u8]) -> Vec<u8> {
    code_scope(request, kind, address_hash)
}

/// A document's last four characters: letters and digits, upper-cased.
fn last4(value: &str) -> Result<String> {
    let value = value.trim();
    if value.chars().count() != 4 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::bad_request(
            "invalid_document_last4",
            "document_last4 must be the document number's last four letters or digits",
        ));
    }
    Ok(value.to_ascii_uppercase())
}

impl Kirjuri {
    /// `POST /api/v1/requests/{id}/verification`: an in-person check, a
    /// code sent, or a code confirmed (see the module docs).
    pub async fn verify_request(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        input: VerificationInput,
    ) -> Result<VerificationOutcome> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let method: VerificationMethod = input.method.trim().parse()?;
        let only = |ok: bool, message: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(Error::bad_request("invalid_body", message))
            }
        };
        match method {
            VerificationMethod::InPerson => {
                only(
                    input.send_to.is_none() && input.code.is_none(),
                    "an in-person check takes document_type and document_last4 only",
                )?;
                let (Some(document), Some(digits)) = (&input.document_type, &input.document_last4)
                else {
                    return Err(Error::bad_request(
                        "invalid_body",
                        "an in-person check needs document_type and document_last4",
                    ));
                };
                let document: DocumentType = document.trim().parse()?;
                self.verify_in_person(actor_id, id, document, last4(digits)?)
                    .await
            }
            VerificationMethod::EmailCode | VerificationMethod::SmsCode => {
                only(
                    input.document_type.is_none() && input.document_last4.is_none(),
                    "a code check takes send_to (to send one) or code (to confirm it)",
                )?;
                match (&input.send_to, &input.code) {
                    (Some(to), None) => self
                        .send_code(actor_id, id, method, to)
                        .await
                        .map(VerificationOutcome::CodeSent),
                    (None, Some(code)) => self.confirm_code(actor_id, id, method, code).await,
                    _ => Err(Error::bad_request(
                        "invalid_body",
                        "give send_to to send a code, or code to confirm one — not both",
                    )),
                }
            }
            VerificationMethod::StrongElectronic => {
                only(
                    input.send_to.is_none()
                        && input.code.is_none()
                        && input.document_type.is_none()
                        && input.document_last4.is_none(),
                    "a strong electronic identification takes assertion only",
                )?;
                let Some(assertion) = &input.assertion else {
                    return Err(Error::bad_request(
                        "invalid_body",
                        "a strong electronic identification needs the provider's assertion",
                    ));
                };
                self.verify_strong(actor_id, id, assertion).await
            }
        }
    }

    async fn verify_in_person(
        &self,
        actor_id: UserId,
        id: Uuid,
        document: DocumentType,
        last4: String,
    ) -> Result<VerificationOutcome> {
        let row = self.open_row(id).await?;
        let now = self.clock.now();
        let mut details = self.open_details(&row)?;
        details.document_last4.push(last4);
        let mut row = row;
        row.details = self.seal_details(row.id, &details)?;
        let proof = IdentifierProof {
            by: "registrar".into(),
            basis: Some("in_person_check".into()),
            at: now,
        };
        let proven = self
            .store
            .request_identifiers(&id)
            .await?
            .into_iter()
            .filter(|i| i.proof.is_none())
            .map(|i| (i.kind, i.hash, proof.clone()))
            .collect();
        let verification = VerificationRow {
            id: Uuid::now_v7(),
            method: VerificationMethod::InPerson,
            assurance: VerificationMethod::InPerson.assurance(),
            verifier: Some(actor_id),
            document_type: Some(document),
            at: now,
        };
        let step = Step::done(
            "verified",
            json!({
                "method": VerificationMethod::InPerson,
                "assurance": verification.assurance,
                "document_type": document,
            }),
        );
        self.record_verification(
            row,
            now,
            actor_id,
            step,
            verification,
            Extras {
                proven,
                ..Extras::default()
            },
        )
        .await
    }

    /// Stores a verification, raising the proven assurance and, when it
    /// now reaches what is needed, moving an unverified request on to
    /// `verified`.
    pub(super) async fn record_verification(
        &self,
        mut row: RequestRow,
        now: DateTime<Utc>,
        actor_id: UserId,
        step: Step,
        verification: VerificationRow,
        mut extras: Extras,
    ) -> Result<VerificationOutcome> {
        let assurance = verification.assurance;
        extras.verification = Some(verification);
        let proven = row.assurance_proven.map_or(assurance, |p| p.max(assurance));
        row.assurance_proven = Some(proven);
        let mut clock = StoredClock::load(&row)?;
        let mut steps = vec![step];
        let unverified = matches!(
            row.state,
            RequestState::Received | RequestState::AwaitingIdentity
        );
        if unverified && proven >= row.assurance_needed {
            let next = row
                .state
                .apply(Transition::Verify, Some(proven), row.assurance_needed)?;
            steps.push(Step::done(
                "moved",
                json!({"transition": Transition::Verify, "from": row.state, "to": next}),
            ));
            self.enter(&mut row, &mut clock, next, now, &mut steps)?;
        }
        let request = self.save(row, &clock, now, actor_id, steps, extras).await?;
        Ok(VerificationOutcome::Verified {
            assurance,
            request: Box::new(request),
        })
    }

    async fn send_code(
        &self,
        actor_id: UserId,
        id: Uuid,
        method: VerificationMethod,
        to: &SendTo,
    ) -> Result<CodeSent> {
        let kind = code_kind(method)?;
        if to.kind.trim() != kind.as_str() {
            return Err(Error::bad_request(
                "invalid_body",
                format!("{method} sends to send_to.kind \"{}\"", kind.as_str()),
            ));
        }
        let (address, indexed) = normalise_identifier(kind, &to.value)?;
        let address_hash = self.keyring.blind_indexer().hash(kind, &indexed).to_vec();
        let row = self.open_row(id).await?;
        let known = self
            .store
            .request_identifiers(&id)
            .await?
            .iter()
            .any(|i| i.kind == kind.as_str() && i.hash == address_hash);
        if !known {
            return Err(Error::bad_request(
                "unknown_identifier",
                "send_to must be one of the request's own phone numbers or email addresses",
            ));
        }
        let policy = &self.config.requests;
        let now = self.clock.now();
        let codes = self.keyring.one_time_codes();
        let code = codes.generate(policy.code_digits)?;
        let ttl = TimeDelta::seconds(i64::try_from(policy.code_ttl_seconds).unwrap_or(900));
        let stored = CodeRow {
            kind: kind.as_str().to_owned(),
            code_hash: codes
                .hash(&code_scope(row.id, kind, &address_hash), code.expose())
                .to_vec(),
            address_hash,
            expires_at: now + ttl,
            tries_left: policy.code_tries,
            created_at: now,
        };
        let message = self.code_message(
            kind == IndexKind::Email,
            &address,
            row.language.parse()?,
            code.expose(),
            policy.code_ttl_seconds.div_ceil(60),
        )?;
        let step = Step::done(
            "code_sent",
            json!({"method": method, "kind": kind.as_str()}),
        );
        match self
            .store
            .put_code(
                &id,
                &stored,
                Some(&message),
                &step.timeline(now, Some(actor_id)),
                &step.audit(now, Some(actor_id), Some(id)),
            )
            .await
        {
            Ok(()) => {}
            Err(kirjuri_store::Error::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        }
        Ok(CodeSent {
            method,
            sent_to: kind.as_str().to_owned(),
            expires_at: stored.expires_at,
            tries: stored.tries_left,
        })
    }

    async fn confirm_code(
        &self,
        actor_id: UserId,
        id: Uuid,
        method: VerificationMethod,
        code: &str,
    ) -> Result<VerificationOutcome> {
        let kind = code_kind(method)?;
        let code = code.trim();
        if !kirjuri_vault::otp::DIGITS.contains(&u32::try_from(code.len()).unwrap_or(0))
            || !code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::bad_request(
                "invalid_code",
                "code must be the 6 to 10 digits that were sent",
            ));
        }
        let row = self.open_row(id).await?;
        let now = self.clock.now();
        let detail = json!({"method": method, "kind": kind.as_str()});
        let tried = Step::done("code_tried", detail.clone());
        let taken = self
            .store
            .take_code_try(
                &id,
                kind.as_str(),
                &tried.audit(now, Some(actor_id), Some(id)),
            )
            .await?;
        let Some(taken) = taken else {
            self.audit_step(
                actor_id,
                Some(id),
                &Step::refused("code_rejected", "no_code", detail),
            )
            .await?;
            return Err(Error::Conflict {
                code: "no_code",
                message: "this request has no code to try: none was sent, or it expired or ran \
                          out of tries; send a new one"
                    .into(),
            });
        };
        let matched = self.keyring.one_time_codes().matches(
            &code_scope(id, kind, &taken.address_hash),
            code,
            &taken.code_hash,
        );
        let expired = now >= taken.expires_at;
        match try_code(taken.tries_left.saturating_add(1), expired, matched) {
            CodeOutcome::Accepted => {
                let assurance = method.assurance();
                let verification = VerificationRow {
                    id: Uuid::now_v7(),
                    method,
                    assurance,
                    verifier: Some(actor_id),
                    document_type: None,
                    at: now,
                };
                let step = Step::done(
                    "verified",
                    json!({"method": method, "assurance": assurance, "kind": kind.as_str()}),
                );
                let proof = IdentifierProof {
                    by: "code".into(),
                    basis: None,
                    at: now,
                };
                self.record_verification(
                    row,
                    now,
                    actor_id,
                    step,
                    verification,
                    Extras {
                        proven: vec![(kind.as_str().to_owned(), taken.address_hash, proof)],
                        discard_code: Some(kind.as_str().to_owned()),
                        ..Extras::default()
                    },
                )
                .await
            }
            CodeOutcome::Wrong { tries_left } => {
                let mut detail = detail;
                if let Some(map) = detail.as_object_mut() {
                    map.insert("tries_left".into(), json!(tries_left));
                }
                self.audit_step(
                    actor_id,
                    Some(id),
                    &Step::refused("code_rejected", "code_wrong", detail),
                )
                .await?;
                Err(code_refusal(CodeOutcome::Wrong { tries_left }).1)
            }
            outcome @ (CodeOutcome::Exhausted | CodeOutcome::Expired) => {
                let (code, refusal) = code_refusal(outcome);
                let step = Step::refused("code_discarded", code, detail);
                self.store
                    .discard_code(
                        &id,
                        kind.as_str(),
                        &step.timeline(now, Some(actor_id)),
                        &step.audit(now, Some(actor_id), Some(id)),
                    )
                    .await?;
                Err(refusal)
            }
        }
    }
}

/// A refused code try (`Wrong`, `Expired` or `Exhausted`; an accepted one
/// is not refused and answers as exhausted, which no caller asks for): the
/// refusal's code for its step and the caller's 409 — one wording for the
/// registrar's check and the requester's download alike.
pub(super) fn code_refusal(outcome: CodeOutcome) -> (&'static str, Error) {
    let (code, message) = match outcome {
        CodeOutcome::Wrong { tries_left } => (
            "code_wrong",
            format!("the code is wrong; {tries_left} tries left"),
        ),
        CodeOutcome::Expired => (
            "code_expired",
            "the code has expired; send a new one".to_owned(),
        ),
        CodeOutcome::Exhausted | CodeOutcome::Accepted => (
            "code_exhausted",
            "the code is wrong and has no tries left; it is discarded — send a new one".to_owned(),
        ),
    };
    (code, Error::Conflict { code, message })
}
