//! The Art. 15(4) review (reference §4 C.18): a copy must not adversely
//! affect the rights and freedoms of others, so before an access package
//! that holds someone else's data is released — to staff or through a
//! delivery link — a registrar decides, once, whether those contacts'
//! recordings go out (`release`) or stay out (`withhold`), with a short
//! note (`POST /api/v1/requests/{id}/third-party-review`).
//!
//! **When a contact has a third party.** A contact's document names two
//! people: a `customer` that names someone (a name, phone or email) *and*
//! a `contact_person` that names someone (a name or phone) — e.g. a
//! property manager calling about a tenant's connection. The recording of
//! such a call holds the other person's voice and words whichever of the
//! two the requester is. One exception: a contact person with the
//! customer's own phone number and no other name than the customer's is
//! the customer again, not a second person. A contact with only one of
//! the two (or neither) has no third party; nor does the staff member who
//! handled it (staff are named by role in the package, `access`).
//!
//! **What the decision does.** While any of the subject's contacts has a
//! third party and no review is recorded, both the staff package and a
//! delivery link answer 409 `third_party_review_needed` (audited as a
//! refused release). `withhold` leaves those contacts' stored objects (the
//! recording and what is derived from it) out of the package; the contact
//! itself stays, and the summary and the manifest list the withheld
//! contacts under Art. 15(4). `release` lets the package be whole. A later
//! review replaces an earlier one. The decision is a timeline step and an
//! audit event; the note is sealed with the request's details (it may
//! describe people), never in the timeline.

use chrono::{DateTime, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::contact::ContactDocument;
use kirjuri_core::ids::UserId;
use kirjuri_core::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Extras, RequestView, Step, StoredClock, text};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The longest review note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

wire_enum! {
    /// What the Art. 15(4) review decided.
    pub enum ReviewDecision("decision") {
        /// The others' data may go out with the package.
        Release = "release",
        /// The recordings of contacts with a third party stay out.
        Withhold = "withhold",
    }
}

/// A recorded review, sealed with the request's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThirdPartyReview {
    pub(crate) decision: ReviewDecision,
    pub(crate) note: String,
    pub(crate) by: UserId,
    pub(crate) at: DateTime<Utc>,
}

/// `POST /api/v1/requests/{id}/third-party-review`'s body.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// `release` or `withhold`.
    pub decision: String,
    /// Why, in at most [`MAX_NOTE_CHARS`] characters.
    pub note: String,
}

impl std::fmt::Debug for ReviewInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewInput")
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

/// Whether `document` names a second person besides its customer (see the
/// module docs for the exact rule).
pub(crate) fn has_third_party(document: &ContactDocument) -> bool {
    let (Some(customer), Some(person)) = (&document.customer, &document.contact_person) else {
        return false;
    };
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let customer_named =
        present(&customer.name) || present(&customer.phone) || present(&customer.email);
    let person_named = present(&person.name) || present(&person.phone);
    if !(customer_named && person_named) {
        return false;
    }
    let same_phone = present(&person.phone) && person.phone == customer.phone;
    let same_name = !present(&person.name) || person.name == customer.name;
    !(same_phone && same_name)
}

impl Kirjuri {
    /// Records the Art. 15(4) review of request `id` (`POST
    /// /api/v1/requests/{id}/third-party-review`): a timeline step and an
    /// audit event with the decision; the note sealed.
    pub async fn review_third_parties(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        input: ReviewInput,
    ) -> Result<RequestView> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let decision: ReviewDecision = input.decision.trim().parse().map_err(|_| {
            Error::bad_request("invalid_decision", "decision must be release or withhold")
        })?;
        let note = text(&input.note, "note", MAX_NOTE_CHARS, true)?;
        let row = self.open_row(id).await?;
        let now = self.clock.now();
        let clock = StoredClock::load(&row)?;
        let mut details = self.open_details(&row)?;
        details.third_party_review = Some(ThirdPartyReview {
            decision,
            note,
            by: actor_id,
            at: now,
        });
        let mut row = row;
        row.details = self.seal_details(row.id, &details)?;
        let step = Step::done("third_party_reviewed", json!({"decision": decision}));
        self.save(row, &clock, now, actor_id, vec![step], Extras::default())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kirjuri_core::contact::{ContactPerson, Customer};

    fn document(customer: Option<Customer>, person: Option<ContactPerson>) -> ContactDocument {
        let mut document: ContactDocument = serde_json::from_value(json!({
            "channel": "call_in",
            "started_at": "2026-03-02T10:00:00+02:00",
            "agent": "aatu",
        }))
        .unwrap();
        document.customer = customer;
        document.contact_person = person;
        document
    }

    fn customer(name: &str, phone: &str) -> Customer {
        Customer {
            name: Some(name.into()),
            phone: Some(phone.into()),
            ..Customer::default()
        }
    }

    fn person(name: Option<&str>, phone: Option<&str>) -> ContactPerson {
        ContactPerson {
            name: name.map(Into::into),
            phone: phone.map(Into::into),
        }
    }

    #[test]
    fn a_third_party_is_a_second_named_person() {
        let tiina = customer("Tiina", "+358407654321");
        assert!(has_third_party(&document(
            Some(tiina.clone()),
            Some(person(Some("Isännöinti Oy"), None))
        )));
        assert!(has_third_party(&document(
            Some(tiina.clone()),
            Some(person(None, Some("+358401112222")))
        )));
        // One person, or the customer again under the contact person.
        assert!(!has_third_party(&document(Some(tiina.clone()), None)));
        assert!(!has_third_party(&document(
            None,
            Some(person(Some("Isännöinti Oy"), None))
        )));
        assert!(!has_third_party(&document(
            Some(tiina.clone()),
            Some(person(None, Some("+358407654321")))
        )));
        assert!(!has_third_party(&document(
            Some(tiina),
            Some(person(Some("  "), None))
        )));
        assert!(!has_third_party(&document(
            Some(Customer::default()),
            Some(person(Some("Isännöinti Oy"), None))
        )));
    }
}
