//! Data-subject requests (DSR-1, DSR-2, notice §11): registered by staff
//! (and, later, the public form), read one at a time or as the queue, moved
//! through core's one transition table, verified in person or by a
//! one-time code, extended once, refused only on a legal ground with a
//! second registrar's approval. The API and the command line call these
//! methods; the web layer only parses and shapes.
//!
//! - **Who.** Registrars and the responsible person handle requests
//!   (`Action::HandleRequests`); supervisors may follow them
//!   (`Action::ReadRequests`). Everyone else is refused 403 and the refusal
//!   audited, before any request is looked up.
//! - **What is kept, and how.** Everything the requester gave —
//!   identifiers as typed, a name, a description, later an extension's
//!   reason, a document's last four characters, a refusal's reasoning — is
//!   one JSON document sealed by the vault under its own data key, wrapped
//!   with the request's id as associated data, exactly as a contact's
//!   document is. Identifiers are also indexed with the contacts' blind
//!   index (same key, same normalisation), so a request finds its
//!   subject's contacts. Reads return no personal data at all: states,
//!   dates, methods, kinds of identifiers, account names.
//! - **Audit.** Every step is one [`steps::Step`]: the same facts become
//!   the timeline entry and the audit event, committed with the change. A
//!   refused step (an unverified request's start, a wrong code, approving
//!   one's own refusal) is audited with outcome `denied`.
//! - **The clock** is core's `RequestClock`; which states stop it is
//!   `[requests] pause_states` (default: `awaiting_identity`). Entering such
//!   a state pauses it, leaving resumes it, each a step of its own.
//! - **Refusal** is two steps: a registrar proposes it with a ground from
//!   [`RefusalGround`] and reasoning; another registrar (or the responsible
//!   person) approves it, which moves the request to `refused`. A plain
//!   `refuse` transition is refused (409 `refusal_needs_approval`).
//!
//! - **Letters** (`letters`): the one-time code, an extension's notice, the
//!   outcome of an answered request and
//!   a refusal (with the supervisory authority) are queued in the outbox in
//!   the same transaction as the change; the receipt, which carries the
//!   reference the store assigns on insert, is queued right after it.
//!
//! - **The access package** (`access`, `summary`): DSR-3's ZIP for a
//!   verified access or portability request; delivered to the requester
//!   through a one-time link (`delivery`), after the Art. 15(4) review
//!   where others' data is in it (`review`).
//!
//! - **Rectification** (`rectify`): a subject's contact corrected with
//!   its earlier version kept, readable by registrars only.
//!
//! Not here: erasure, or the public form's page (the web layer's; it calls
//! [`Kirjuri::register_public_request`]).

mod access;
mod config;
mod delivery;
mod duplicates;
mod eid;
mod execute;
mod follow_up;
mod letters;
mod limits;
mod rectify;
mod review;
mod steps;
mod subject;
mod summary;
mod verify;
mod watch;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Europe::Helsinki;
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::calendar::{CALENDAR_VERSION, HolidayPolicy};
use kirjuri_core::deadline::{Extension, Pause, RequestClock, received_date};
use kirjuri_core::email::EmailAddress;
use kirjuri_core::ids::{ObjectId, UserId};
use kirjuri_core::phone::PhoneNumber;
use kirjuri_core::property_id::PropertyId;
use kirjuri_core::purpose::Purpose;
use kirjuri_core::request::{
    Assurance, RequestChannel, RequestState, RequestType, Transition, objection_purposes,
};
use kirjuri_core::wire_enum;
use kirjuri_store::SealedSecret;
use kirjuri_store::requests::{
    IdentifierProof, NewRequest, RefusalProposal, RequestRow, RequestUpdate, VerificationRow,
};
use kirjuri_vault::{IndexKind, open_to_vec, seal_to_vec};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

pub(crate) use access::extension;
pub use access::{AccessPackage, PackageCounts};
pub use config::RequestsConfig;
pub use delivery::{DOWNLOAD_PATH, Delivered, DownloadLink, MAX_TOKEN_CHARS};
pub use duplicates::{DUPLICATE_WINDOW_DAYS, DuplicateView};
pub use eid::{EidAssertion, MAX_ASSERTION_BYTES, StrongIdentification};
pub use execute::{Erased, ExecuteInput, Executed};
pub use follow_up::{CloseTaskInput, RecipientTask};
pub use limits::{LimitView, Limited};
pub use rectify::{Changes, ContactVersion, Rectified};
pub use review::{MAX_NOTE_CHARS, ReviewDecision, ReviewInput};
pub use steps::Step;
pub use subject::{MAX_SUBJECT_CONTACTS, Subject};
pub use verify::{CodeSent, SendTo, VerificationInput, VerificationOutcome};
pub use watch::WatchReport;

use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// Identifiers of one kind a request may name, at most.
pub const MAX_IDENTIFIERS_PER_KIND: usize = 20;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest description or reasoning, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Open requests the queue shows at most.
const QUEUE_LIMIT: u32 = 1000;

wire_enum! {
    /// The requester's language: what their letters are written in.
    pub enum Language("language") {
        Fi = "fi",
        Sv = "sv",
        En = "en",
    }
}

wire_enum! {
    /// The legal grounds a request may be refused on (Art. 12(5), 15(4),
    /// 17(3), the Data Protection Act 1050/2018); the maintained list
    /// behind a refusal (reference §4 K.58).
    pub enum RefusalGround("refusal ground") {
        /// Art. 12(5)(b): manifestly unfounded.
        ManifestlyUnfounded = "manifestly_unfounded",
        /// Art. 12(5)(b): excessive, in particular repetitive.
        Excessive = "excessive",
        /// Art. 11(2), 12(2): the requester could not be identified.
        IdentityNotEstablished = "identity_not_established",
        /// Art. 15(4): a copy would adversely affect others' rights.
        RightsOfOthers = "rights_of_others",
        /// Art. 17(3)(b): a legal obligation to keep the data.
        LegalObligation = "legal_obligation",
        /// Art. 17(3)(e): the data are needed for legal claims.
        LegalClaims = "legal_claims",
        /// Data Protection Act 1050/2018 § 34: restriction of access.
        DataProtectionAct34 = "data_protection_act_34",
        /// Another statute, cited in the reasoning.
        OtherStatute = "other_statute",
    }
}

/// The identifiers a request names, as sent: phone numbers, email
/// addresses, customer numbers and property ids.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Identifiers {
    pub phone: Vec<String>,
    pub email: Vec<String>,
    pub customer_number: Vec<String>,
    pub property_id: Vec<String>,
}

impl std::fmt::Debug for Identifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identifiers([redacted])")
    }
}

/// `POST /api/v1/requests`' body: a request as staff register it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterInput {
    /// What is asked (wire names of [`RequestType`]), at least one.
    pub types: Vec<String>,
    /// `web`, `in_person`, `phone` or `letter`.
    pub channel: String,
    /// `fi`, `sv` or `en`.
    pub language: String,
    /// Whom it is about; at least one.
    #[serde(default)]
    pub identifiers: Identifiers,
    /// For an objection: the purposes objected to.
    #[serde(default)]
    pub objection_purposes: Vec<String>,
    /// RFC 3339; default now.
    #[serde(default)]
    pub received_at: Option<String>,
    /// The requester's name, as given.
    #[serde(default)]
    pub name: Option<String>,
    /// What they ask, in their words.
    #[serde(default)]
    pub description: Option<String>,
}

impl std::fmt::Debug for RegisterInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterInput")
            .field("types", &self.types)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// Everything personal about a request, sealed as one document.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Details {
    /// Identifiers, normalised.
    identifiers: Identifiers,
    name: Option<String>,
    description: Option<String>,
    extension_reason: Option<String>,
    document_last4: Vec<String>,
    refusal_reasoning: Option<String>,
    /// The Art. 15(4) review, once recorded.
    third_party_review: Option<review::ThirdPartyReview>,
    /// Compelling grounds recorded to override an objection (Art. 21(1)),
    /// by purpose.
    objection_overrides: Vec<limits::Override>,
}

/// The clock as stored in the clear: no reason text (that is sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredClock {
    policy: HolidayPolicy,
    extension: Option<StoredExtension>,
    pauses: Vec<StoredPause>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredExtension {
    months: u32,
    granted_on: NaiveDate,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPause {
    from: NaiveDate,
    until: Option<NaiveDate>,
}

impl StoredClock {
    fn of(clock: &RequestClock) -> Self {
        Self {
            policy: clock.policy,
            extension: clock.extension.as_ref().map(|e| StoredExtension {
                months: e.months,
                granted_on: e.granted_on,
            }),
            pauses: clock
                .pauses
                .iter()
                .map(|p| StoredPause {
                    from: p.from,
                    until: p.until,
                })
                .collect(),
        }
    }

    /// The clock of `row` (an extension's reason is not needed to count).
    fn load(row: &RequestRow) -> Result<RequestClock> {
        let stored: StoredClock = serde_json::from_str(&row.clock)
            .map_err(|e| Error::decode("a request's clock", row.id, &e))?;
        Ok(RequestClock {
            received: received_date(row.received_at),
            policy: stored.policy,
            extension: stored.extension.map(|e| Extension {
                months: e.months,
                reason: String::new(),
                granted_on: e.granted_on,
            }),
            pauses: stored
                .pauses
                .iter()
                .map(|p| Pause {
                    from: p.from,
                    until: p.until,
                })
                .collect(),
        })
    }
}

/// A registered request, as `POST /api/v1/requests` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registered {
    pub id: Uuid,
    pub reference: String,
    pub state: RequestState,
    pub due_date: NaiveDate,
}

/// One request of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueItem {
    pub id: Uuid,
    pub reference: String,
    pub types: Vec<RequestType>,
    pub channel: RequestChannel,
    pub state: RequestState,
    pub received_at: DateTime<Utc>,
    pub due_date: NaiveDate,
    /// 0 on the due day, negative when overdue.
    pub days_left: i64,
    pub overdue: bool,
    pub clock_paused: bool,
    pub assurance_needed: Assurance,
    pub assurance_proven: Option<Assurance>,
    pub refusal_proposed: bool,
}

/// One identity check, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckView {
    pub method: kirjuri_core::request::VerificationMethod,
    pub assurance: Assurance,
    /// The registrar's account name.
    pub verifier: Option<String>,
    pub document_type: Option<kirjuri_core::request::DocumentType>,
    pub at: DateTime<Utc>,
}

/// One identifier of a request, as shown: its kind and proof, never its
/// value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentifierView {
    pub kind: String,
    /// `code` or `registrar`; `null` while unproven.
    pub proven_by: Option<String>,
    pub basis: Option<String>,
}

/// Where a request's identity stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationView {
    /// Whether the proven assurance reaches what the types need.
    pub verified: bool,
    pub needed: Assurance,
    pub proven: Option<Assurance>,
    pub checks: Vec<CheckView>,
    pub identifiers: Vec<IdentifierView>,
}

/// A proposed refusal, as shown (its reasoning stays sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalView {
    pub ground: String,
    pub proposed_by: Option<String>,
    pub proposed_at: DateTime<Utc>,
}

/// An entry of the timeline, as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// The account's name; `null` for the requester or the system.
    pub actor: Option<String>,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// The extension, as shown (its reason stays sealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExtensionView {
    pub months: u32,
    pub granted_on: NaiveDate,
}

/// A request, as `GET /api/v1/requests/{id}` answers: no personal data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestView {
    pub id: Uuid,
    pub reference: String,
    pub types: Vec<RequestType>,
    pub channel: RequestChannel,
    pub language: String,
    pub state: RequestState,
    pub received_at: DateTime<Utc>,
    pub due_date: NaiveDate,
    /// `null` once closed.
    pub days_left: Option<i64>,
    pub overdue: bool,
    pub clock_paused: bool,
    pub calendar_version: String,
    pub extension: Option<ExtensionView>,
    pub objection_purposes: Vec<Purpose>,
    pub verification: VerificationView,
    /// How many contacts the proven identifiers find (at most
    /// [`MAX_SUBJECT_CONTACTS`] + 1): what a package or an execution would
    /// cover.
    pub subject_contacts: usize,
    /// Other requests within [`DUPLICATE_WINDOW_DAYS`] that cover one of
    /// its identifiers and ask for one of the same rights.
    pub possible_duplicates: Vec<DuplicateView>,
    /// The restrictions and objections it made, with their liftings.
    pub limits: Vec<LimitView>,
    pub refusal: Option<RefusalView>,
    pub timeline: Vec<TimelineEntry>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub retain_until: Option<DateTime<Utc>>,
}

/// Parses a request id; a malformed one names nothing.
pub fn parse_request_id(value: &str) -> Result<Uuid> {
    Uuid::parse_str(value.trim()).map_err(|_| Error::NotFound)
}

/// A free text: trimmed, 1..=`max` characters, no control characters but
/// (when `multiline`) newlines and tabs.
pub(crate) fn text(
    value: &str,
    field: &'static str,
    max: usize,
    multiline: bool,
) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::bad_request(
            "invalid_text",
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(Error::bad_request(
            "invalid_text",
            format!("{field} must be at most {max} characters"),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Err(Error::bad_request(
            "invalid_text",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A customer number as contacts take it: trimmed, 1–64 printable
/// characters.
fn customer_number(value: &str) -> Result<String> {
    let number = value.trim();
    if number.is_empty() || number.chars().count() > 64 || number.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "invalid_identifier",
            "identifiers.customer_number: each must be 1–64 printable characters",
        ));
    }
    Ok(number.to_owned())
}

/// Normalises one list of identifiers with `normalise`, dropping
/// duplicates, refusing more than [`MAX_IDENTIFIERS_PER_KIND`].
fn normalise_all(
    values: &[String],
    field: &'static str,
    normalise: impl Fn(&str) -> Result<(String, String)>,
) -> Result<Vec<(String, String)>> {
    if values.len() > MAX_IDENTIFIERS_PER_KIND {
        return Err(Error::bad_request(
            "too_many_identifiers",
            format!("{field}: at most {MAX_IDENTIFIERS_PER_KIND} per kind"),
        ));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for value in values {
        let pair = normalise(value)?;
        if !out.iter().any(|(_, index)| *index == pair.1) {
            out.push(pair);
        }
    }
    Ok(out)
}

/// An identifier as kept (for sending) and as indexed, per kind.
pub(crate) fn normalise_identifier(kind: IndexKind, value: &str) -> Result<(String, String)> {
    Ok(match kind {
        IndexKind::Phone => {
            let phone = PhoneNumber::parse(value, "identifiers.phone")?;
            (phone.e164().to_owned(), phone.e164().to_owned())
        }
        IndexKind::Email => {
            let email = EmailAddress::parse(value, "identifiers.email")?;
            (email.as_str().to_owned(), email.index_form())
        }
        IndexKind::PropertyId => {
            let id = PropertyId::parse(value, "identifiers.property_id")?;
            (id.canonical(), id.canonical())
        }
        IndexKind::CustomerNumber => {
            let number = customer_number(value)?;
            (number.clone(), number)
        }
        _ => {
            return Err(Error::bad_request(
                "invalid_identifier",
                "identifiers: phone, email, customer_number or property_id",
            ));
        }
    })
}

/// Parses a list of wire names, refusing an unknown one.
fn parse_all<T: std::str::FromStr<Err = kirjuri_core::Error> + PartialEq>(
    values: &[String],
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for value in values {
        let parsed: T = value.parse()?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok(out)
}

/// The Helsinki day of an instant.
fn today(now: DateTime<Utc>) -> NaiveDate {
    received_date(now)
}

/// A request's record may go this long after closure.
fn retain_until(closed: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    closed
        .checked_add_months(Months::new(12 * years))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Kirjuri {
    /// Refuses (403, audited) a caller whose role may not do `action` to
    /// requests.
    pub async fn require_requests(
        &self,
        actor: &Actor,
        actor_id: UserId,
        action: Action,
    ) -> Result<()> {
        self.authorize_register(actor, actor_id, action, None)
            .await
            .map(|_| ())
    }

    /// Seals a request's details under a fresh data key, with its id as
    /// associated data — as a contact's document is sealed.
    fn seal_details(&self, id: Uuid, details: &Details) -> Result<SealedSecret> {
        self.seal_json(id, "a request's details", details)
    }

    /// Seals `value` as JSON under a fresh data key wrapped with `id` as
    /// associated data (a request's details, a disclosure's grounds).
    pub(crate) fn seal_json<T: Serialize>(
        &self,
        id: Uuid,
        what: &'static str,
        value: &T,
    ) -> Result<SealedSecret> {
        let object = ObjectId::from_uuid(id);
        let key = self.keyring.generate_data_key()?;
        let plaintext = Zeroizing::new(
            serde_json::to_vec(value).map_err(|source| Error::Encode { what, source })?,
        );
        Ok(SealedSecret {
            sealed: seal_to_vec(&key, &object, &plaintext)?,
            wrapped_key: self.keyring.wrap(&key, &object)?,
        })
    }

    /// Opens what [`Kirjuri::seal_json`] sealed under `id`.
    pub(crate) fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        id: Uuid,
        what: &'static str,
        sealed: &SealedSecret,
    ) -> Result<T> {
        let object = ObjectId::from_uuid(id);
        let key = self.keyring.unwrap(&sealed.wrapped_key, &object)?;
        let plaintext = Zeroizing::new(open_to_vec(&key, &object, &sealed.sealed)?);
        serde_json::from_slice(&plaintext).map_err(|e| Error::decode(what, id, &e))
    }

    /// Opens a request's details.
    fn open_details(&self, row: &RequestRow) -> Result<Details> {
        self.open_json(row.id, "a request", &row.details)
    }

    /// The request `id`, or 404.
    async fn request_row(&self, id: Uuid) -> Result<RequestRow> {
        self.store.request(&id).await?.ok_or(Error::NotFound)
    }

    /// Registers a request (`POST /api/v1/requests`): validated and
    /// normalised, its due date counted from `received_at` (default now),
    /// its details sealed, its identifiers blind-indexed, in state
    /// `received`; audited as `request.registered`.
    pub async fn register_request(
        &self,
        actor: &Actor,
        actor_id: UserId,
        input: RegisterInput,
    ) -> Result<Registered> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        self.register(Some(actor_id), input).await
    }

    /// Registers a request sent with the public form (`/request`): no
    /// account, channel `web`, received now; otherwise exactly as staff
    /// register one. The caller (the web layer) has already applied the
    /// per-address allowance ([`Kirjuri::take_public_request_allowance`]).
    pub async fn register_public_request(&self, mut input: RegisterInput) -> Result<Registered> {
        input.channel = RequestChannel::Web.as_str().to_owned();
        input.received_at = None;
        self.register(None, input).await
    }

    /// Takes one post from client address `ip`'s allowance for the public
    /// form, or refuses with [`Error::TooManyRequests`].
    pub fn take_public_request_allowance(&self, ip: std::net::IpAddr) -> Result<()> {
        self.public_request_throttle
            .reserve(ip, self.clock.now())
            .map_err(|retry_after| Error::TooManyRequests {
                retry_after_seconds: retry_after,
            })
    }

    /// [`Kirjuri::register_request`]'s work, by `created_by` (`None`: the
    /// requester, through the public form).
    async fn register(
        &self,
        created_by: Option<UserId>,
        input: RegisterInput,
    ) -> Result<Registered> {
        let now = self.clock.now();
        let types: Vec<RequestType> = parse_all(&input.types)?;
        if types.is_empty() {
            return Err(Error::bad_request(
                "invalid_body",
                "types must name at least one of access, rectification, erasure, restriction, \
                 objection, portability, information",
            ));
        }
        let channel: RequestChannel = input.channel.parse()?;
        let language: Language = input.language.parse()?;
        let purposes: Vec<Purpose> = parse_all(&input.objection_purposes)?;
        let purposes = objection_purposes(&types, &purposes)?;
        let received_at = match &input.received_at {
            Some(text) => DateTime::parse_from_rfc3339(text.trim())
                .map_err(|_| {
                    Error::bad_request(
                        "invalid_date",
                        "received_at must be an RFC 3339 time, e.g. 2026-01-31T09:30:00+02:00",
                    )
                })?
                .to_utc(),
            None => now,
        };
        if received_at > now + chrono::TimeDelta::minutes(5) {
            return Err(Error::bad_request(
                "invalid_date",
                "received_at must not be in the future",
            ));
        }
        if received_at.year() < 2000 {
            return Err(Error::bad_request(
                "invalid_date",
                "received_at must be in this century",
            ));
        }
        let ids = &input.identifiers;
        let groups = [
            (IndexKind::Phone, &ids.phone, "identifiers.phone"),
            (IndexKind::Email, &ids.email, "identifiers.email"),
            (
                IndexKind::CustomerNumber,
                &ids.customer_number,
                "identifiers.customer_number",
            ),
            (
                IndexKind::PropertyId,
                &ids.property_id,
                "identifiers.property_id",
            ),
        ];
        let indexer = self.keyring.blind_indexer();
        let mut kept = Identifiers::default();
        let mut index = Vec::new();
        for (kind, values, field) in groups {
            let normalised = normalise_all(values, field, |v| normalise_identifier(kind, v))?;
            for (keep, indexed) in normalised {
                index.push((
                    kind.as_str().to_owned(),
                    indexer.hash(kind, &indexed).to_vec(),
                ));
                match kind {
                    IndexKind::Phone => kept.phone.push(keep),
                    IndexKind::Email => kept.email.push(keep),
                    IndexKind::CustomerNumber => kept.customer_number.push(keep),
                    _ => kept.property_id.push(keep),
                }
            }
        }
        if index.is_empty() {
            return Err(Error::bad_request(
                "invalid_body",
                "identifiers must name at least one phone, email, customer_number or property_id",
            ));
        }
        let details = Details {
            identifiers: kept,
            name: input
                .name
                .as_deref()
                .map(|n| text(n, "name", MAX_NAME_CHARS, false))
                .transpose()?,
            description: input
                .description
                .as_deref()
                .map(|d| text(d, "description", MAX_TEXT_CHARS, true))
                .transpose()?,
            ..Details::default()
        };
        let id = Uuid::now_v7();
        let policy = &self.config.requests;
        let mut clock = RequestClock::new(received_date(received_at), policy.holidays);
        let state = RequestState::Received;
        if policy.pauses(state) {
            clock.pause(today(now))?;
        }
        let row = RequestRow {
            id,
            reference: String::new(),
            types: types.clone(),
            channel,
            language: language.as_str().to_owned(),
            state,
            received_at,
            due_date: clock.due_date(today(now)),
            calendar_version: CALENDAR_VERSION.to_owned(),
            clock: clock_json(&clock)?,
            assurance_needed: policy.assurance.needed(&types),
            assurance_proven: None,
            objection_purposes: purposes,
            refusal: None,
            details: self.seal_details(id, &details)?,
            version: 1,
            created_at: now,
            created_by,
            closed_at: None,
            retain_until: None,
        };
        let step = Step::done(
            "registered",
            json!({
                "types": types,
                "channel": channel,
                "identifiers": index.len(),
                "due_date": row.due_date,
            }),
        );
        let year = now.with_timezone(&Helsinki).year();
        let new = NewRequest {
            event: step.timeline(now, created_by),
            row,
            identifiers: index,
            messages: Vec::new(),
        };
        let reference = self
            .store
            .insert_request(&new, year, &step.audit(now, created_by, Some(id)))
            .await?;
        // The receipt names the reference, which exists only now. A failure
        // to queue it does not undo the registration (the registrar can
        // tell the requester the reference); it is logged by id.
        match self.receipt_message(&details, language, &reference, new.row.due_date) {
            Ok(Some(message)) => {
                if let Err(e) = self.store.enqueue_message(&message).await {
                    tracing::error!(request = %id, error = %e, "the receipt was not queued");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(request = %id, error = %e, "the receipt was not sealed"),
        }
        Ok(Registered {
            id,
            reference,
            state,
            due_date: new.row.due_date,
        })
    }

    /// One request (`GET /api/v1/requests/{id}`), audited as
    /// `request.read`.
    pub async fn read_request(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<RequestView> {
        self.require_requests(actor, actor_id, Action::ReadRequests)
            .await?;
        let row = self.request_row(id).await?;
        self.audit_step(actor_id, Some(id), &Step::done("read", json!({})))
            .await?;
        self.request_view(row).await
    }

    /// The open requests (`GET /api/v1/requests`): overdue first, then by
    /// days left; audited as `request.queue_read`.
    pub async fn request_queue(&self, actor: &Actor, actor_id: UserId) -> Result<Vec<QueueItem>> {
        self.require_requests(actor, actor_id, Action::ReadRequests)
            .await?;
        let today = today(self.clock.now());
        let rows = self.store.open_requests(QUEUE_LIMIT).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let clock = StoredClock::load(&row)?;
            let due_date = clock.due_date(today);
            let days_left = clock.days_left(today);
            items.push(QueueItem {
                id: row.id,
                reference: row.reference,
                types: row.types,
                channel: row.channel,
                state: row.state,
                received_at: row.received_at,
                due_date,
                days_left,
                overdue: days_left < 0,
                clock_paused: clock.is_paused(),
                assurance_needed: row.assurance_needed,
                assurance_proven: row.assurance_proven,
                refusal_proposed: row.refusal.is_some(),
            });
        }
        items.sort_by(|a, b| {
            (a.days_left, a.received_at, a.id).cmp(&(b.days_left, b.received_at, b.id))
        });
        self.audit_step(
            actor_id,
            None,
            &Step::done("queue_read", json!({"returned": items.len()})),
        )
        .await?;
        Ok(items)
    }

    /// Moves a request (`POST /api/v1/requests/{id}/transition`) through
    /// core's transition table. `refuse` goes through
    /// [`Kirjuri::propose_refusal`] and [`Kirjuri::approve_refusal`]; a
    /// `verify` or `start` before identity is proven well enough is refused
    /// (409 `not_verified`) and audited.
    pub async fn move_request(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        transition: &str,
    ) -> Result<RequestView> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let transition: Transition = transition.trim().parse()?;
        let row = self.request_row(id).await?;
        let proven_enough = row
            .assurance_proven
            .is_some_and(|p| p >= row.assurance_needed);
        // A closed request refuses every move alike (core says so first).
        let open = !row.state.is_final();
        if open && transition == Transition::Refuse {
            return Err(Error::Conflict {
                code: "refusal_needs_approval",
                message: "a refusal needs a legal ground and a second registrar: propose it with \
                          POST …/refusal, another registrar approves it with POST …/refusal/approve"
                    .into(),
            });
        }
        let next = if open && transition == Transition::Verify && !proven_enough {
            Err(kirjuri_core::Error::Refused {
                code: "not_verified",
                reason: "identity is not proven well enough for this request: verify it in \
                         person or by a one-time code first",
            })
        } else {
            row.state
                .apply(transition, row.assurance_proven, row.assurance_needed)
        };
        let next = match next {
            Ok(next) => next,
            Err(refusal) => {
                return Err(self
                    .refuse_step(actor_id, &row, transition.as_str(), refusal)
                    .await?);
            }
        };
        let now = self.clock.now();
        let mut clock = StoredClock::load(&row)?;
        let mut steps = Vec::new();
        let from = row.state;
        let mut row = row;
        // The requester is told the outcome, in the same transaction (DSR-5).
        let mut extras = Extras::default();
        if next == RequestState::Answered {
            let language: Language = row.language.parse()?;
            let details = self.open_details(&row)?;
            extras.messages.extend(self.outcome_message(
                &details,
                language,
                &row.reference,
                &row.types,
            )?);
        }
        self.enter(&mut row, &mut clock, next, now, &mut steps)?;
        steps.insert(
            0,
            Step::done(
                "moved",
                json!({"transition": transition, "from": from, "to": next}),
            ),
        );
        self.save(row, &clock, now, actor_id, steps, extras).await
    }

    /// Audits a refused step and turns core's refusal into the caller's
    /// 409.
    async fn refuse_step(
        &self,
        actor_id: UserId,
        row: &RequestRow,
        step: &str,
        refusal: kirjuri_core::Error,
    ) -> Result<Error> {
        let code = match &refusal {
            kirjuri_core::Error::Refused { code, .. } => *code,
            _ => "transition_refused",
        };
        self.audit_step(
            actor_id,
            Some(row.id),
            &Step::refused(
                "step_refused",
                code,
                json!({"step": step, "state": row.state}),
            ),
        )
        .await?;
        Ok(refusal.into())
    }

    /// Extends a request once (`POST /api/v1/requests/{id}/extension`): by
    /// one or two months, before the due date, with a reason (sealed; it
    /// is for the requester's notice).
    pub async fn extend_request(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        months: u32,
        reason: &str,
    ) -> Result<RequestView> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let reason = text(
            reason,
            "reason",
            kirjuri_core::deadline::MAX_REASON_CHARS,
            true,
        )?;
        let row = self.open_row(id).await?;
        let now = self.clock.now();
        let mut clock = StoredClock::load(&row)?;
        if let Err(refusal) = clock.extend(months, &reason, today(now)) {
            return Err(self.refuse_step(actor_id, &row, "extend", refusal).await?);
        }
        let mut details = self.open_details(&row)?;
        let due = clock.due_date(today(now));
        let notice = self.extension_message(
            &details,
            row.language.parse()?,
            &row.reference,
            due,
            &reason,
        )?;
        details.extension_reason = Some(reason);
        let mut row = row;
        row.details = self.seal_details(row.id, &details)?;
        let step = Step::done("extended", json!({"months": months, "due_date": due}));
        let extras = Extras {
            messages: notice.into_iter().collect(),
            ..Extras::default()
        };
        self.save(row, &clock, now, actor_id, vec![step], extras)
            .await
    }

    /// Proposes refusing a request (`POST /api/v1/requests/{id}/refusal`)
    /// on a legal ground with reasoning; another registrar must approve it.
    pub async fn propose_refusal(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        ground: &str,
        reasoning: &str,
    ) -> Result<RequestView> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        // No refusal without a legal ground from the list (K.58): 422.
        let ground: RefusalGround = ground.trim().parse().map_err(|_| Error::Unprocessable {
            code: "invalid_ground",
            message: format!(
                "a refusal needs a legal ground, one of {}",
                RefusalGround::ALL
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        let reasoning = text(reasoning, "reasoning", MAX_TEXT_CHARS, true)?;
        let row = self.open_row(id).await?;
        if row.refusal.is_some() {
            return Err(Error::Conflict {
                code: "refusal_pending",
                message: "a refusal of this request is already waiting for approval".into(),
            });
        }
        let now = self.clock.now();
        let clock = StoredClock::load(&row)?;
        let mut details = self.open_details(&row)?;
        details.refusal_reasoning = Some(reasoning);
        let mut row = row;
        row.details = self.seal_details(row.id, &details)?;
        row.refusal = Some(RefusalProposal {
            ground: ground.as_str().to_owned(),
            by: actor_id,
            at: now,
        });
        let step = Step::done("refusal_proposed", json!({"ground": ground}));
        self.save(row, &clock, now, actor_id, vec![step], Extras::default())
            .await
    }

    /// Approves a proposed refusal (`POST
    /// /api/v1/requests/{id}/refusal/approve`): only someone other than
    /// its proposer (403 `forbidden`, audited, for the proposer), which
    /// moves the request to `refused`.
    pub async fn approve_refusal(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<RequestView> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let row = self.open_row(id).await?;
        let Some(proposal) = row.refusal.clone() else {
            return Err(Error::Conflict {
                code: "no_refusal_proposed",
                message: "no refusal of this request is waiting for approval".into(),
            });
        };
        if proposal.by == actor_id {
            self.audit_step(
                actor_id,
                Some(id),
                &Step::refused(
                    "step_refused",
                    "own_refusal",
                    json!({"step": Transition::Refuse, "state": row.state}),
                ),
            )
            .await?;
            return Err(Error::Forbidden(
                "a refusal needs a second registrar's approval; you proposed this one",
            ));
        }
        let next = match row.state.apply(
            Transition::Refuse,
            row.assurance_proven,
            row.assurance_needed,
        ) {
            Ok(next) => next,
            Err(refusal) => {
                return Err(self
                    .refuse_step(actor_id, &row, Transition::Refuse.as_str(), refusal)
                    .await?);
            }
        };
        let now = self.clock.now();
        let mut clock = StoredClock::load(&row)?;
        let from = row.state;
        let mut steps = vec![
            Step::done("refusal_approved", json!({"ground": proposal.ground})),
            Step::done(
                "moved",
                json!({"transition": Transition::Refuse, "from": from, "to": next}),
            ),
        ];
        let details = self.open_details(&row)?;
        let ground: RefusalGround = proposal.ground.parse()?;
        let letter = self.refusal_message(
            &details,
            row.language.parse()?,
            &row.reference,
            ground,
            details.refusal_reasoning.as_deref().unwrap_or(""),
        )?;
        let mut row = row;
        self.enter(&mut row, &mut clock, next, now, &mut steps)?;
        let extras = Extras {
            messages: letter.into_iter().collect(),
            ..Extras::default()
        };
        self.save(row, &clock, now, actor_id, steps, extras).await
    }

    /// The request `id` if it is still open; 409 `request_closed` if not.
    async fn open_row(&self, id: Uuid) -> Result<RequestRow> {
        let row = self.request_row(id).await?;
        if row.state.is_final() {
            return Err(Error::Conflict {
                code: "request_closed",
                message: format!(
                    "the request is {}; nothing more can be done to it",
                    row.state
                ),
            });
        }
        Ok(row)
    }

    /// Puts `row` into state `next`: stops or restarts the clock as the
    /// pause policy says (each a step), and closes it in a final state.
    fn enter(
        &self,
        row: &mut RequestRow,
        clock: &mut RequestClock,
        next: RequestState,
        now: DateTime<Utc>,
        steps: &mut Vec<Step>,
    ) -> Result<()> {
        let policy = &self.config.requests;
        let day = today(now);
        let pause = !next.is_final() && policy.pauses(next);
        if pause && !clock.is_paused() {
            clock.pause(day)?;
            steps.push(Step::done("clock_paused", json!({"state": next})));
        } else if !pause && clock.is_paused() {
            clock.resume(day)?;
            steps.push(Step::done("clock_resumed", json!({"state": next})));
        }
        if next.is_final() {
            row.closed_at = Some(now);
            row.retain_until = Some(retain_until(now, policy.retention_years));
        }
        row.state = next;
        Ok(())
    }

    /// Stores a changed request with its steps (timeline and audit) and
    /// `extras`, then shows it. A concurrent change wins: 409
    /// `request_changed`.
    async fn save(
        &self,
        mut row: RequestRow,
        clock: &RequestClock,
        now: DateTime<Utc>,
        actor_id: UserId,
        steps: Vec<Step>,
        extras: Extras,
    ) -> Result<RequestView> {
        row.clock = clock_json(clock)?;
        row.due_date = clock.due_date(today(now));
        row.calendar_version = CALENDAR_VERSION.to_owned();
        let expected_version = row.version;
        row.version += 1;
        let audit: Vec<_> = steps
            .iter()
            .map(|s| s.audit(now, Some(actor_id), Some(row.id)))
            .collect();
        let update = RequestUpdate {
            events: steps
                .iter()
                .map(|s| s.timeline(now, Some(actor_id)))
                .collect(),
            row,
            expected_version,
            verification: extras.verification,
            proven: extras.proven,
            discard_code: extras.discard_code,
            messages: extras.messages,
            limits: extras.limits,
        };
        match self.store.update_request(&update, &audit).await {
            Ok(()) => {}
            Err(kirjuri_store::Error::Conflict(_)) => {
                return Err(Error::Conflict {
                    code: "request_changed",
                    message: "the request changed while this was being done; read it and try \
                              again"
                        .into(),
                });
            }
            Err(kirjuri_store::Error::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        }
        self.request_view(update.row).await
    }

    /// Appends one step's audit event on its own (reads and refusals).
    async fn audit_step(&self, actor_id: UserId, request: Option<Uuid>, step: &Step) -> Result<()> {
        self.store
            .append_audit(&step.audit(self.clock.now(), Some(actor_id), request))
            .await?;
        Ok(())
    }

    /// Shapes a request for display, resolving account names.
    async fn request_view(&self, row: RequestRow) -> Result<RequestView> {
        let today = today(self.clock.now());
        let clock = StoredClock::load(&row)?;
        let identifiers = self.store.request_identifiers(&row.id).await?;
        let subject_contacts = self
            .store
            .contacts_bearing_any(
                &subject::proven_entries(&identifiers),
                MAX_SUBJECT_CONTACTS + 1,
            )
            .await?
            .len();
        let possible_duplicates = self.possible_duplicates(&row, &identifiers).await?;
        let limits = limits::views(&self.store.request_limits(&row.id).await?);
        let checks = self.store.request_verifications(&row.id).await?;
        let events = self.store.request_events(&row.id).await?;
        let mut names: HashMap<UserId, Option<String>> = HashMap::new();
        let mut name = async |id: Option<UserId>| -> Result<Option<String>> {
            let Some(id) = id else { return Ok(None) };
            if let Some(name) = names.get(&id) {
                return Ok(name.clone());
            }
            let found = self.store.user(&id).await?.map(|u| u.name);
            names.insert(id, found.clone());
            Ok(found)
        };
        let mut check_views = Vec::with_capacity(checks.len());
        for check in checks {
            check_views.push(CheckView {
                method: check.method,
                assurance: check.assurance,
                verifier: name(check.verifier).await?,
                document_type: check.document_type,
                at: check.at,
            });
        }
        let mut timeline = Vec::with_capacity(events.len());
        for event in events {
            timeline.push(TimelineEntry {
                at: event.at,
                actor: name(event.actor).await?,
                kind: event.kind,
                detail: event.detail,
            });
        }
        let refusal = match &row.refusal {
            Some(proposal) => Some(RefusalView {
                ground: proposal.ground.clone(),
                proposed_by: name(Some(proposal.by)).await?,
                proposed_at: proposal.at,
            }),
            None => None,
        };
        let created_by = name(row.created_by).await?;
        let open = !row.state.is_final();
        let days_left = open.then(|| clock.days_left(today));
        Ok(RequestView {
            id: row.id,
            reference: row.reference,
            types: row.types,
            channel: row.channel,
            language: row.language,
            state: row.state,
            received_at: row.received_at,
            due_date: if open {
                clock.due_date(today)
            } else {
                row.due_date
            },
            days_left,
            overdue: days_left.is_some_and(|d| d < 0),
            clock_paused: open && clock.is_paused(),
            calendar_version: row.calendar_version,
            extension: clock.extension.as_ref().map(|e| ExtensionView {
                months: e.months,
                granted_on: e.granted_on,
            }),
            objection_purposes: row.objection_purposes,
            verification: VerificationView {
                verified: row
                    .assurance_proven
                    .is_some_and(|p| p >= row.assurance_needed),
                needed: row.assurance_needed,
                proven: row.assurance_proven,
                checks: check_views,
                identifiers: identifiers
                    .into_iter()
                    .map(|i| IdentifierView {
                        kind: i.kind,
                        proven_by: i.proof.as_ref().map(|p| p.by.clone()),
                        basis: i.proof.and_then(|p| p.basis),
                    })
                    .collect(),
            },
            subject_contacts,
            possible_duplicates,
            limits,
            refusal,
            timeline,
            created_at: row.created_at,
            created_by,
            closed_at: row.closed_at,
            retain_until: row.retain_until,
        })
    }
}

/// What a change records besides the request itself.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    verification: Option<VerificationRow>,
    proven: Vec<(String, Vec<u8>, IdentifierProof)>,
    discard_code: Option<String>,
    messages: Vec<kirjuri_store::NewOutboxMessage>,
    limits: kirjuri_store::limits::LimitChanges,
}

/// The clock's stored JSON.
fn clock_json(clock: &RequestClock) -> Result<String> {
    serde_json::to_string(&StoredClock::of(clock)).map_err(|source| Error::Encode {
        what: "a request's clock",
        source,
    })
}

#[cfg(test)]
mod schema_coverage;
#[cfg(test)]
mod tests;
