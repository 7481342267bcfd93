//! The plug-in point for strong electronic identification (reference §4
//! A.5: Suomi.fi e-Identification, bank ids, a mobile certificate). Kirjuri
//! speaks no identification protocol itself: a deployment that has one
//! gives [`Kirjuri::with_strong_identification`] an implementation of
//! [`StrongIdentification`], which turns the assertion the requester
//! brought back from the identity provider (a SAML response, an OIDC id
//! token, a signed ticket …) into an [`EidAssertion`]. Without one, a
//! `strong_electronic` verification is refused 409 `eid_not_configured`.
//!
//! What an assertion proves is the assurance the provider vouches for
//! (substantial or high) and the identifiers the provider — or the
//! utility's customer register behind it — ties to that person. Only the
//! request's identifiers among those become proven (basis
//! `strong_electronic`); an assertion that ties none of them proves
//! nothing about this request and is refused 409 `eid_no_match`. The
//! assertion itself is never stored; the verification records the method,
//! the assurance and the provider's name.

use std::fmt;

use async_trait::async_trait;
use kirjuri_core::ids::UserId;
use kirjuri_core::request::{Assurance, VerificationMethod};
use kirjuri_store::requests::{IdentifierProof, VerificationRow};
use kirjuri_vault::IndexKind;
use serde_json::json;
use uuid::Uuid;

use super::{Extras, Step, VerificationOutcome, normalise_identifier};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The longest assertion handed to a plug-in, in bytes.
pub const MAX_ASSERTION_BYTES: usize = 64 * 1024;

/// What a strong identification proved.
#[derive(Clone, PartialEq, Eq)]
pub struct EidAssertion {
    /// The provider's short name, for the record (`suomi.fi`, …).
    pub provider: String,
    /// The assurance the provider vouches for (eIDAS substantial or high).
    pub assurance: Assurance,
    /// Identifiers tied to the identified person, as `(kind, value)`.
    pub identifiers: Vec<(IndexKind, String)>,
}

impl fmt::Debug for EidAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EidAssertion")
            .field("provider", &self.provider)
            .field("assurance", &self.assurance)
            .field("identifiers", &self.identifiers.len())
            .finish()
    }
}

/// A strong electronic identification service.
#[async_trait]
pub trait StrongIdentification: Send + Sync + fmt::Debug {
    /// Checks `assertion` (at most [`MAX_ASSERTION_BYTES`]) for the request
    /// `request`: its signature, audience, freshness and that it was made
    /// for this request. A refusal is an [`Error`] with a clear code.
    async fn check(&self, request: Uuid, assertion: &str) -> Result<EidAssertion>;
}

impl Kirjuri {
    /// This application with `service` as its strong identification.
    #[must_use]
    pub fn with_strong_identification(
        mut self,
        service: std::sync::Arc<dyn StrongIdentification>,
    ) -> Self {
        self.strong_identification = Some(service);
        self
    }

    /// A `strong_electronic` verification of request `id` with `assertion`.
    pub(super) async fn verify_strong(
        &self,
        actor_id: UserId,
        id: Uuid,
        assertion: &str,
    ) -> Result<VerificationOutcome> {
        let Some(service) = self.strong_identification.clone() else {
            return Err(Error::Conflict {
                code: "eid_not_configured",
                message: "strong electronic identification is not configured on this server".into(),
            });
        };
        if assertion.is_empty() || assertion.len() > MAX_ASSERTION_BYTES {
            return Err(Error::bad_request(
                "invalid_assertion",
                format!("assertion must be 1–{MAX_ASSERTION_BYTES} bytes"),
            ));
        }
        let row = self.open_row(id).await?;
        let proved = service.check(id, assertion).await?;
        if proved.assurance < Assurance::Substantial {
            return Err(Error::Conflict {
                code: "eid_assurance_too_low",
                message: "strong identification must vouch for at least substantial assurance"
                    .into(),
            });
        }
        let indexer = self.keyring.blind_indexer();
        let mut vouched = Vec::new();
        for (kind, value) in &proved.identifiers {
            // An identifier the provider sends that Kirjuri cannot read is
            // not an error of the request's: it simply proves nothing.
            if let Ok((_, indexed)) = normalise_identifier(*kind, value) {
                vouched.push((kind.as_str(), indexer.hash(*kind, &indexed).to_vec()));
            }
        }
        let now = self.clock.now();
        let proof = IdentifierProof {
            by: "registrar".into(),
            basis: Some("strong_electronic".into()),
            at: now,
        };
        let proven: Vec<(String, Vec<u8>, IdentifierProof)> = self
            .store
            .request_identifiers(&id)
            .await?
            .into_iter()
            .filter(|i| vouched.iter().any(|(k, h)| *k == i.kind && *h == i.hash))
            .map(|i| (i.kind, i.hash, proof.clone()))
            .collect();
        if proven.is_empty() {
            return Err(Error::Conflict {
                code: "eid_no_match",
                message: "the identified person is tied to none of the request's identifiers"
                    .into(),
            });
        }
        let verification = VerificationRow {
            id: Uuid::now_v7(),
            method: VerificationMethod::StrongElectronic,
            assurance: proved.assurance,
            verifier: Some(actor_id),
            document_type: None,
            at: now,
        };
        let step = Step::done(
            "verified",
            json!({
                "method": VerificationMethod::StrongElectronic,
                "assurance": proved.assurance,
                "provider": proved.provider,
                "identifiers_proven": proven.len(),
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
}
