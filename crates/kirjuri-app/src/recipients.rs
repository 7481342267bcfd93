//! The recipients register (DIS-1; notice §8, §9; issue 13 §4): `POST
//! /api/v1/recipients` and `GET /api/v1/recipients`. A recipient is an
//! organisation data may be disclosed to — a processor (with the reference
//! of its Art. 28 agreement and the purposes it may serve), a partner, an
//! authority or the police — with the country it is in. A country outside
//! the EU/EEA is refused with 422 `outside_eea` and the reason (the notice
//! promises no transfer outside it); a code that is no country, or a
//! territory declared instead of its state, is 422 `invalid_country`.
//!
//! Registrars keep the register (`Action::ManageDisclosures`); supervisors
//! may read it. Every registration is audited in the same transaction.
//! Disclosures, which will name a recipient, are not here.

use chrono::{DateTime, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::ids::UserId;
use kirjuri_core::location::{LocationError, check_country};
use kirjuri_core::purpose::Purpose;
use kirjuri_store::NewAuditEvent;
use kirjuri_store::recipients::RecipientRow;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::app::Kirjuri;
use crate::error::{Error, Result};
use crate::register::RecipientKind;

/// Longest name or agreement reference.
const MAX_TEXT: usize = 200;

/// Recipients listed at most.
const MAX_LISTED: u32 = 1000;

/// `POST /api/v1/recipients`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientInput {
    /// The organisation's name.
    pub name: String,
    /// `processor`, `partner`, `authority` or `police`.
    pub kind: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// A processor's agreement reference (required for one).
    #[serde(default)]
    pub agreement: Option<String>,
    /// The purposes a processor or partner may serve (required for them).
    #[serde(default)]
    pub purposes: Vec<String>,
}

/// A recipient, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    /// Its id.
    pub id: Uuid,
    /// The organisation's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its country.
    pub country: String,
    /// A processor's agreement reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<String>,
    /// The purposes it may serve.
    pub purposes: Vec<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl From<&RecipientRow> for RecipientView {
    fn from(row: &RecipientRow) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            kind: row.kind.clone(),
            country: row.country.clone(),
            agreement: row.agreement.clone(),
            purposes: row
                .purposes
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            created_at: row.created_at,
        }
    }
}

/// A one-line text of at most [`MAX_TEXT`] characters, trimmed.
fn line(field: &'static str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "invalid_parameter",
            format!("{field} must be 1–{MAX_TEXT} characters on one line"),
        ));
    }
    Ok(value.to_owned())
}

/// The country, if it is in the EU/EEA (else 422 with the reason).
fn eea_country(country: &str) -> Result<&'static str> {
    check_country(country).map_err(|e| match e {
        LocationError::OutsideEea(_) => Error::Unprocessable {
            code: "outside_eea",
            message: format!(
                "country: {e}; a recipient there would be a transfer the privacy notice rules out"
            ),
        },
        _ => Error::Unprocessable {
            code: "invalid_country",
            message: format!("country: {e}"),
        },
    })
}

impl Kirjuri {
    /// Registers a recipient (registrars).
    pub async fn add_recipient(
        &self,
        actor: &Actor,
        actor_id: UserId,
        input: RecipientInput,
    ) -> Result<RecipientView> {
        self.authorize_register(actor, actor_id, Action::ManageDisclosures, None)
            .await?;
        let name = line("name", &input.name)?;
        let kind: RecipientKind = input.kind.parse()?;
        let country = eea_country(input.country.trim())?;
        let agreement = input
            .agreement
            .as_deref()
            .map(|a| line("agreement", a))
            .transpose()?;
        if input.purposes.len() > Purpose::ALL.len() {
            return Err(Error::bad_request(
                "invalid_parameter",
                "purposes names each purpose at most once",
            ));
        }
        let mut purposes: Vec<Purpose> = Vec::new();
        for name in &input.purposes {
            let purpose: Purpose = name.parse()?;
            if !purposes.contains(&purpose) {
                purposes.push(purpose);
            }
        }
        match kind {
            RecipientKind::Processor if agreement.is_none() => {
                return Err(Error::bad_request(
                    "agreement_required",
                    "a processor needs the reference of its data-processing agreement \
                     (GDPR Art. 28) in agreement",
                ));
            }
            RecipientKind::Processor | RecipientKind::Partner if purposes.is_empty() => {
                return Err(Error::bad_request(
                    "purposes_required",
                    "a processor or partner serves only the controller's purposes: name them \
                     in purposes",
                ));
            }
            _ => {}
        }
        let now = self.clock.now();
        let row = RecipientRow {
            id: Uuid::now_v7(),
            name,
            kind: kind.as_str().to_owned(),
            country: country.to_owned(),
            agreement,
            purposes: purposes
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            created_at: now,
            created_by: actor_id,
            removed_at: None,
        };
        let audit = NewAuditEvent {
            at: now,
            actor: Some(actor_id),
            action: "recipient.added".into(),
            object: Some(format!("recipient:{}", row.id)),
            purpose: None,
            outcome: "success".into(),
            details: json!({"kind": row.kind, "country": row.country}),
        };
        match self.store.insert_recipient(&row, &audit).await {
            Ok(()) => Ok(RecipientView::from(&row)),
            Err(kirjuri_store::Error::Conflict(_)) => Err(Error::Conflict {
                code: "recipient_exists",
                message: "a recipient of this name is registered already".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The recipients register, by name.
    pub async fn recipients(&self, actor: &Actor, actor_id: UserId) -> Result<Vec<RecipientView>> {
        self.authorize_register(actor, actor_id, Action::ReadDisclosures, None)
            .await?;
        Ok(self
            .store
            .recipients(MAX_LISTED)
            .await?
            .iter()
            .map(RecipientView::from)
            .collect())
    }
}
