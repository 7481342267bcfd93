//! Disclosures to recipients (DIS-2; notice §8; issue 13 §5; reference §4
//! F.33, F.35): nothing leaves the register for a recipient except through
//! a disclosure — a recipient of the register, the legal provision or
//! agreement, the recipient's case or reference number, the scope (the
//! contacts) and the data categories — asked for by one person and
//! approved by another, released as a minimal signed package, and
//! ledgered.
//!
//! - **Asking** (`POST /api/v1/disclosures`, [`Action::RequestDisclosure`]:
//!   supervisors, registrars and the responsible person): the recipient
//!   must be registered (422 `unknown_recipient`), every contact must exist
//!   (422 `unknown_contacts`, with a count and no id), the scope holds 1 to
//!   [`MAX_CONTACTS`] distinct contacts, texts are bounded single lines
//!   (the note may span lines). The legal ground, the reference and the
//!   note are sealed like a request's details (a police case number can
//!   itself say something about a person); the row keeps ids, the
//!   categories and the state.
//! - **Four eyes for every disclosure.** The issue demands a second person
//!   for authorities and police; Kirjuri asks it of every disclosure,
//!   processors and partners too — the simplest rule that cannot be
//!   misapplied, and a processor's or partner's data needs the same check
//!   of its scope. Approval and refusal are
//!   [`Action::ManageDisclosures`] (registrars, the responsible person)
//!   by someone other than the requester: the requester gets 403
//!   `four_eyes` (audited, denied), a second decision 409
//!   `already_decided`. The store decides in one guarded `UPDATE`, so of
//!   parallel approvals exactly one wins.
//! - **Restriction (Art. 18(2)).** A restricted subject's data may still go
//!   to an authority or the police: Art. 18(2) permits processing for
//!   legal claims and for reasons of important public interest, which an
//!   authority's request under a cited legal provision is. To a processor
//!   or partner — the controller's ordinary purposes — it is refused (422
//!   `restricted`, counting the contacts). A legal hold does not stand in
//!   the way: it keeps data, it does not forbid its disclosure.
//! - **The package** (`GET …/{id}/package`, registrars, once approved):
//!   a ZIP written by [`PackageWriter`] in constant memory, holding for
//!   each scoped contact `contacts/<id>.json` (category `metadata`: the
//!   row's metadata and the opened document, the agent by role) and
//!   `recordings/<id>/<kind>.<ext>` (category `recordings`: every stored
//!   object, original bytes, a recording checked against its intake
//!   digest), then the signed manifest of type [`PACKAGE_KIND`] with the
//!   disclosure's id, the recipient, the legal ground, the reference and
//!   the categories. What was erased or purged since is not refused: the
//!   manifest lists it under `unavailable` (contact, kind, reason), since
//!   the rest may still be due to the recipient.
//! - **The link** (`POST …/{id}/link`): a random token, kept only as its
//!   keyed hash (the delivery link's hash, with a scope of its own), valid
//!   `days` (1–30, default `[requests] link_days`), used once; a newer
//!   link revokes older unused ones. The answer carries the URL once; the
//!   registrar hands it to the recipient over their agreed channel. The
//!   recipient opens `/disclosure/download/<token>` and presses download;
//!   that POST marks the link used in the transaction that audits the
//!   release, so of two parallel downloads one gets the package.
//! - **The ledger.** Every state change, link and release is one audit
//!   event in the change's transaction, naming the disclosure and the
//!   recipient's id, never personal data. [`Kirjuri::disclosures_of`]
//!   lists a subject's disclosures for the access package (Art.
//!   15(1)(c)); the store's `disclosed_recipients` is what the Art. 19
//!   follow-up reads.
//!
//! Not here: HTTP and pages (the web layer), the ZIP format (`package`).

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt as _;
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::wire_enum;
use kirjuri_store::NewAuditEvent;
use kirjuri_store::disclosures::{
    APPROVED, AWAITING, Decided, DisclosureDecision, DisclosureLinkRow, DisclosureRow, REFUSED,
};
use kirjuri_vault::AuditSigner;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::DuplexStream;
use tokio_util::io::StreamReader;
use uuid::Uuid;

use crate::app::Kirjuri;
use crate::error::{Error, Result};
use crate::intake::RECORDING;
use crate::package::PackageWriter;
use crate::recipients::RecipientView;
use crate::register::RecipientKind;
use crate::requests::{AccessPackage, PackageCounts, extension, text};

/// The manifest's `type`.
pub const PACKAGE_KIND: &str = "disclosure";

/// The most contacts one disclosure covers.
pub const MAX_CONTACTS: usize = 1000;

/// The longest legal ground or reference.
pub const MAX_LINE: usize = 200;

/// The longest note or refusal reason.
pub const MAX_NOTE: usize = 2000;

/// Disclosures listed at most.
const MAX_LISTED: u32 = 1000;

/// The public page's path, before the token.
pub const LINK_PATH: &str = "/disclosure/download/";

/// What a disclosure link's token hash is scoped to.
const TOKEN_SCOPE: &[u8] = b"kirjuri disclosure link v1";

/// Bytes buffered between the package writer and the response, at most.
const PIPE_BYTES: usize = 256 * 1024;

wire_enum! {
    /// A category of data a disclosure releases.
    pub enum Category("data category") {
        /// Each contact's record: its metadata and its document.
        Metadata = "metadata",
        /// Each contact's stored objects: the recording and what derives
        /// from it.
        Recordings = "recordings",
    }
}

/// The scope of a disclosure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeInput {
    /// The contacts' ids.
    pub contacts: Vec<Uuid>,
}

/// `POST /api/v1/disclosures`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureInput {
    /// The recipient's id in the register.
    pub recipient: Uuid,
    /// The legal provision or agreement the disclosure rests on.
    pub legal_ground: String,
    /// The recipient's case or reference number.
    pub reference: String,
    /// What is disclosed.
    pub scope: ScopeInput,
    /// The data categories (default: both).
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// A note for the approver.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/v1/disclosures/{id}/refuse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefuseInput {
    /// Why.
    pub reason: String,
}

/// `POST /api/v1/disclosures/{id}/link` (the body is optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// How many days the link works (1–30).
    #[serde(default)]
    pub days: Option<u32>,
}

/// What is sealed on a disclosure.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Grounds {
    legal_ground: String,
    reference: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    refusal_reason: Option<String>,
}

/// A disclosure as the API and the pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct DisclosureView {
    pub id: Uuid,
    /// `awaiting_approval`, `approved` or `refused`.
    pub state: String,
    pub recipient: RecipientView,
    pub legal_ground: String,
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub categories: Vec<String>,
    /// The contacts' ids (in a list: empty; see `n_contacts`).
    pub contacts: Vec<ContactId>,
    pub n_contacts: u32,
    pub requested_at: DateTime<Utc>,
    /// The requester's account name.
    pub requested_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal_reason: Option<String>,
    /// Whether the caller asked for it (and so may not decide it).
    pub requested_by_caller: bool,
}

/// `POST …/link`'s answer: the link, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct LinkCreated {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A live link, as its public page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The recipient's name.
    pub recipient: String,
    pub expires_at: DateTime<Utc>,
}

/// A disclosure of a subject's contacts, as the access package lists it
/// (Art. 15(1)(c)).
#[derive(Debug, Clone, Serialize)]
pub struct SubjectDisclosure {
    pub recipient: String,
    pub kind: String,
    pub country: String,
    pub legal_ground: String,
    /// When it was approved.
    pub date: Option<DateTime<Utc>>,
    /// The subject's contacts it covered.
    pub contacts: Vec<ContactId>,
}

/// One scoped contact, with what goes into the package.
struct Item {
    id: ContactId,
    row: Option<kirjuri_store::ContactRow>,
    objects: Vec<kirjuri_store::ObjectRow>,
    agent_role: String,
}

/// The link is gone: unknown, used, revoked or expired alike.
fn gone() -> Error {
    Error::Gone {
        what: "this disclosure link",
        tombstone: Value::Null,
    }
}

fn categories_of(row: &DisclosureRow) -> Vec<String> {
    row.categories
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether disclosure `row` releases its contacts' recordings.
pub(crate) fn releases_recordings(row: &DisclosureRow) -> bool {
    categories_of(row)
        .iter()
        .any(|c| c == Category::Recordings.as_str())
}

/// How the audit log names disclosure `id` (an event's `object`).
pub(crate) fn disclosure_ref(id: Uuid) -> String {
    format!("disclosure:{id}")
}

/// The parsed disclosure id (or any id a disclosure names), or 404.
pub fn parse_disclosure_id(value: &str) -> Result<Uuid> {
    Uuid::parse_str(value.trim()).map_err(|_| Error::NotFound)
}

impl Kirjuri {
    /// One audit event about disclosure `row`, naming its recipient.
    fn disclosure_event(
        &self,
        at: DateTime<Utc>,
        actor: Option<UserId>,
        action: &str,
        outcome: &str,
        id: Uuid,
        details: Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            at,
            actor,
            action: format!("disclosure.{action}"),
            object: Some(disclosure_ref(id)),
            purpose: None,
            outcome: outcome.into(),
            details,
        }
    }

    /// The disclosure `id`, or 404.
    async fn disclosure_row(&self, id: Uuid) -> Result<DisclosureRow> {
        self.store.disclosure(&id).await?.ok_or(Error::NotFound)
    }

    /// `POST /api/v1/disclosures`: validates and stores a disclosure
    /// awaiting approval (see the module docs).
    pub async fn request_disclosure(
        &self,
        actor: &Actor,
        actor_id: UserId,
        input: DisclosureInput,
    ) -> Result<DisclosureView> {
        self.authorize_register(actor, actor_id, Action::RequestDisclosure, None)
            .await?;
        let legal_ground = text(&input.legal_ground, "legal_ground", MAX_LINE, false)?;
        let reference = text(&input.reference, "reference", MAX_LINE, false)?;
        let note = input
            .note
            .as_deref()
            .map(|n| text(n, "note", MAX_NOTE, true))
            .transpose()?;
        let mut categories: Vec<Category> = Vec::new();
        let given = input
            .categories
            .unwrap_or_else(|| vec!["metadata".into(), "recordings".into()]);
        if given.is_empty() || given.len() > Category::ALL.len() {
            return Err(Error::bad_request(
                "invalid_parameter",
                "categories names metadata and/or recordings, each once",
            ));
        }
        for name in &given {
            let category: Category = name.parse()?;
            if !categories.contains(&category) {
                categories.push(category);
            }
        }
        categories.sort();
        let n = input.scope.contacts.len();
        if n == 0 || n > MAX_CONTACTS {
            return Err(Error::bad_request(
                "invalid_scope",
                format!("scope.contacts must name 1–{MAX_CONTACTS} contacts"),
            ));
        }
        let mut contacts: Vec<ContactId> = input
            .scope
            .contacts
            .iter()
            .map(|c| ContactId::from_uuid(*c))
            .collect();
        contacts.sort();
        contacts.dedup();
        let Some(recipient) = self
            .store
            .recipient(&input.recipient)
            .await?
            .filter(|r| r.removed_at.is_none())
        else {
            return Err(Error::Unprocessable {
                code: "unknown_recipient",
                message: "recipient: no such recipient in the register".into(),
            });
        };
        let mut missing = 0usize;
        for contact in &contacts {
            if self.store.contact(contact).await?.is_none() {
                missing += 1;
            }
        }
        if missing > 0 {
            return Err(Error::Unprocessable {
                code: "unknown_contacts",
                message: format!("scope.contacts: {missing} of them are not in the register"),
            });
        }
        let kind: RecipientKind = recipient.kind.parse()?;
        if matches!(kind, RecipientKind::Processor | RecipientKind::Partner) {
            let limits = self.limits_on(&contacts).await?;
            let restricted = limits.values().filter(|l| l.restricted).count();
            if restricted > 0 {
                return Err(Error::Unprocessable {
                    code: "restricted",
                    message: format!(
                        "{restricted} of the contacts' subjects have restricted processing \
                         (GDPR Art. 18); only an authority or the police may receive them"
                    ),
                });
            }
        }
        let id = Uuid::now_v7();
        let grounds = Grounds {
            legal_ground,
            reference,
            note,
            refusal_reason: None,
        };
        let now = self.clock.now();
        let row = DisclosureRow {
            id,
            recipient_id: recipient.id,
            state: AWAITING.to_owned(),
            categories: categories
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(","),
            sealed: self.seal_json(id, "a disclosure's grounds", &grounds)?,
            n_contacts: u32::try_from(contacts.len()).unwrap_or(u32::MAX),
            requested_at: now,
            requested_by: actor_id,
            decided_at: None,
            decided_by: None,
        };
        let audit = self.disclosure_event(
            now,
            Some(actor_id),
            "requested",
            "success",
            id,
            json!({"recipient": recipient.id, "kind": recipient.kind,
                   "categories": row.categories, "contacts": row.n_contacts}),
        );
        self.store
            .insert_disclosure(&row, &contacts, &audit)
            .await?;
        self.disclosure_view(&row, actor_id, false).await
    }

    /// `row` as shown to `caller`, with its contacts if `with_contacts`.
    async fn disclosure_view(
        &self,
        row: &DisclosureRow,
        caller: UserId,
        with_contacts: bool,
    ) -> Result<DisclosureView> {
        let grounds: Grounds = self.open_json(row.id, "a disclosure", &row.sealed)?;
        let recipient = self
            .store
            .recipient(&row.recipient_id)
            .await?
            .ok_or(Error::Internal("a disclosure's recipient is gone"))?;
        let name = async |id: UserId| -> Result<String> {
            Ok(match self.store.user(&id).await? {
                Some(user) => user.name.as_str().to_owned(),
                None => "staff".to_owned(),
            })
        };
        let decided_by = match row.decided_by {
            Some(id) => Some(name(id).await?),
            None => None,
        };
        Ok(DisclosureView {
            id: row.id,
            state: row.state.clone(),
            recipient: RecipientView::from(&recipient),
            legal_ground: grounds.legal_ground,
            reference: grounds.reference,
            note: grounds.note,
            categories: categories_of(row),
            contacts: if with_contacts {
                self.store.disclosure_contacts(&row.id).await?
            } else {
                Vec::new()
            },
            n_contacts: row.n_contacts,
            requested_at: row.requested_at,
            requested_by: name(row.requested_by).await?,
            decided_at: row.decided_at,
            decided_by,
            refusal_reason: grounds.refusal_reason,
            requested_by_caller: row.requested_by == caller,
        })
    }

    /// `GET /api/v1/disclosures[?state=]`: those awaiting approval first.
    pub async fn disclosures(
        &self,
        actor: &Actor,
        actor_id: UserId,
        state: Option<&str>,
    ) -> Result<Vec<DisclosureView>> {
        self.authorize_register(actor, actor_id, Action::ReadDisclosures, None)
            .await?;
        if let Some(state) = state
            && ![AWAITING, APPROVED, REFUSED].contains(&state)
        {
            return Err(Error::bad_request(
                "invalid_parameter",
                "state is awaiting_approval, approved or refused",
            ));
        }
        let rows = self.store.disclosures(state, MAX_LISTED).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(self.disclosure_view(row, actor_id, false).await?);
        }
        Ok(views)
    }

    /// `GET /api/v1/disclosures/{id}`.
    pub async fn disclosure(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<DisclosureView> {
        self.authorize_register(actor, actor_id, Action::ReadDisclosures, None)
            .await?;
        let row = self.disclosure_row(id).await?;
        self.disclosure_view(&row, actor_id, true).await
    }

    /// `POST /api/v1/disclosures/{id}/approve`.
    pub async fn approve_disclosure(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<DisclosureView> {
        self.decide(actor, actor_id, id, None).await
    }

    /// `POST /api/v1/disclosures/{id}/refuse`.
    pub async fn refuse_disclosure(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        input: RefuseInput,
    ) -> Result<DisclosureView> {
        self.authorize_register(actor, actor_id, Action::ManageDisclosures, None)
            .await?;
        let reason = text(&input.reason, "reason", MAX_NOTE, true)?;
        self.decide(actor, actor_id, id, Some(reason)).await
    }

    /// Approves (`refusal`: `None`) or refuses disclosure `id`, by someone
    /// other than its requester.
    async fn decide(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        refusal: Option<String>,
    ) -> Result<DisclosureView> {
        self.authorize_register(actor, actor_id, Action::ManageDisclosures, None)
            .await?;
        let row = self.disclosure_row(id).await?;
        let (state, action) = match refusal {
            None => (APPROVED, "approved"),
            Some(_) => (REFUSED, "refused"),
        };
        let sealed = match refusal {
            None => None,
            Some(reason) => {
                let mut grounds: Grounds = self.open_json(row.id, "a disclosure", &row.sealed)?;
                grounds.refusal_reason = Some(reason);
                Some(self.seal_json(row.id, "a disclosure's grounds", &grounds)?)
            }
        };
        let now = self.clock.now();
        let decision = DisclosureDecision {
            state,
            by: actor_id,
            at: now,
            sealed,
        };
        let detail = json!({"recipient": row.recipient_id});
        let audit = self.disclosure_event(now, Some(actor_id), action, "success", id, detail);
        match self.store.decide_disclosure(&id, &decision, &audit).await? {
            Decided::Done => {}
            Decided::NotFound => return Err(Error::NotFound),
            Decided::AlreadyDecided => {
                return Err(Error::Conflict {
                    code: "already_decided",
                    message: "this disclosure is approved or refused already".into(),
                });
            }
            Decided::OwnRequest => {
                let denied = self.disclosure_event(
                    now,
                    Some(actor_id),
                    action,
                    "denied",
                    id,
                    json!({"recipient": row.recipient_id, "reason": "four_eyes"}),
                );
                self.store.append_audit(&denied).await?;
                return Err(Error::FourEyes(
                    "a disclosure needs a second person: someone other than its requester \
                     approves or refuses it",
                ));
            }
        }
        let row = self.disclosure_row(id).await?;
        self.disclosure_view(&row, actor_id, true).await
    }

    /// An approved disclosure, or 409 `not_approved`.
    async fn approved(&self, id: Uuid) -> Result<DisclosureRow> {
        let row = self.disclosure_row(id).await?;
        if row.state != APPROVED {
            return Err(Error::Conflict {
                code: "not_approved",
                message: "a disclosure's package is released only once it is approved".into(),
            });
        }
        Ok(row)
    }

    /// `GET /api/v1/disclosures/{id}/package`: audits the release, then
    /// streams the package (registrars, approved disclosures only).
    pub async fn disclosure_package(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<AccessPackage> {
        self.authorize_register(actor, actor_id, Action::ManageDisclosures, None)
            .await?;
        let row = self.approved(id).await?;
        let (items, counts) = self.disclosure_items(&row).await?;
        let now = self.clock.now();
        let audit = self.disclosure_event(
            now,
            Some(actor_id),
            "package_released",
            "success",
            id,
            json!({"recipient": row.recipient_id, "via": "staff", "counts": counts}),
        );
        self.store.append_audit(&audit).await?;
        self.start_disclosure_package(row, items, counts, now).await
    }

    /// `POST /api/v1/disclosures/{id}/link`: a one-time link for the
    /// recipient, shown once.
    pub async fn disclosure_link_create(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        input: LinkInput,
    ) -> Result<LinkCreated> {
        self.authorize_register(actor, actor_id, Action::ManageDisclosures, None)
            .await?;
        let days = input.days.unwrap_or(self.config.requests.link_days);
        if !(1..=30).contains(&days) {
            return Err(Error::bad_request(
                "invalid_parameter",
                "days must be 1 to 30",
            ));
        }
        let row = self.approved(id).await?;
        let base = self.public_base()?;
        let token = crate::auth::random_secret("")?;
        let now = self.clock.now();
        let link = DisclosureLinkRow {
            id: Uuid::now_v7(),
            disclosure_id: row.id,
            token_hash: self.scoped_token_hash(TOKEN_SCOPE, token.expose_secret())?,
            expires_at: now + TimeDelta::days(i64::from(days)),
            created_at: now,
            created_by: actor_id,
            used_at: None,
            revoked_at: None,
        };
        let audit = self.disclosure_event(
            now,
            Some(actor_id),
            "link_created",
            "success",
            id,
            json!({"recipient": row.recipient_id, "link": link.id, "expires_at": link.expires_at}),
        );
        self.store.put_disclosure_link(&link, &audit).await?;
        Ok(LinkCreated {
            url: format!(
                "{}{LINK_PATH}{}",
                base.trim_end_matches('/'),
                token.expose_secret()
            ),
            expires_at: link.expires_at,
        })
    }

    /// The live link with `token` and its disclosure, or 410.
    async fn live_disclosure_link(
        &self,
        token: &str,
    ) -> Result<(DisclosureLinkRow, DisclosureRow)> {
        let hash = self.scoped_token_hash(TOKEN_SCOPE, token)?;
        let link = match self.store.disclosure_link(&hash).await? {
            Some(link) if link.is_live(self.clock.now()) => link,
            _ => return Err(gone()),
        };
        let row = self.disclosure_row(link.disclosure_id).await?;
        if row.state != APPROVED {
            return Err(gone());
        }
        Ok((link, row))
    }

    /// `GET /disclosure/download/{token}`: the live link, or 410.
    pub async fn disclosure_link_info(&self, token: &str) -> Result<LinkInfo> {
        let (link, row) = self.live_disclosure_link(token).await?;
        let recipient = self
            .store
            .recipient(&row.recipient_id)
            .await?
            .ok_or(Error::Internal("a disclosure's recipient is gone"))?;
        Ok(LinkInfo {
            recipient: recipient.name,
            expires_at: link.expires_at,
        })
    }

    /// `POST /disclosure/download/{token}`: the package, once.
    pub async fn disclosure_link_download(&self, token: &str) -> Result<AccessPackage> {
        let (link, row) = self.live_disclosure_link(token).await?;
        let (items, counts) = self.disclosure_items(&row).await?;
        let now = self.clock.now();
        let audit = self.disclosure_event(
            now,
            None,
            "package_released",
            "success",
            row.id,
            json!({"recipient": row.recipient_id, "via": "link", "link": link.id,
                   "counts": counts}),
        );
        if !self
            .store
            .use_disclosure_link(&link.id, now, &audit)
            .await?
        {
            return Err(gone());
        }
        self.start_disclosure_package(row, items, counts, now).await
    }

    /// What the package of `row` holds.
    async fn disclosure_items(&self, row: &DisclosureRow) -> Result<(Vec<Item>, PackageCounts)> {
        let recordings = releases_recordings(row);
        let mut counts = PackageCounts::default();
        let mut items = Vec::new();
        for id in self.store.disclosure_contacts(&row.id).await? {
            let contact = self.store.contact(&id).await?;
            let objects = match &contact {
                Some(c) if recordings && !c.is_erased() => {
                    self.store.objects_for_contact(&id).await?
                }
                _ => Vec::new(),
            };
            for object in &objects {
                if object.kind == RECORDING {
                    counts.recordings += 1;
                } else {
                    counts.other_objects += 1;
                }
            }
            let agent_role = match &contact {
                Some(c) => match self.store.user_by_name(&c.agent).await? {
                    Some(user) => user.role.as_str().to_owned(),
                    None => "staff".to_owned(),
                },
                None => "staff".to_owned(),
            };
            if contact.as_ref().is_some_and(|c| !c.is_erased()) {
                counts.contacts += 1;
            }
            items.push(Item {
                id,
                row: contact,
                objects,
                agent_role,
            });
        }
        Ok((items, counts))
    }

    /// Starts writing a released disclosure's package.
    async fn start_disclosure_package(
        &self,
        row: DisclosureRow,
        items: Vec<Item>,
        counts: PackageCounts,
        now: DateTime<Utc>,
    ) -> Result<AccessPackage> {
        let signer = AuditSigner::open_or_create(
            &self.config.audit_key_file(),
            &crate::audit_chain::origin(&self.store.audit_log_id().await?),
        )?;
        let grounds: Grounds = self.open_json(row.id, "a disclosure", &row.sealed)?;
        let recipient = self
            .store
            .recipient(&row.recipient_id)
            .await?
            .ok_or(Error::Internal("a disclosure's recipient is gone"))?;
        let mut details = serde_json::Map::new();
        details.insert("disclosure".into(), json!(row.id));
        details.insert(
            "recipient".into(),
            json!({"id": recipient.id, "name": recipient.name, "kind": recipient.kind,
                   "country": recipient.country}),
        );
        details.insert("legal_ground".into(), json!(grounds.legal_ground));
        details.insert("reference".into(), json!(grounds.reference));
        details.insert("categories".into(), json!(categories_of(&row)));
        details.insert(
            "counts".into(),
            json!({"contacts": counts.contacts, "recordings": counts.recordings,
                   "other_objects": counts.other_objects}),
        );
        let (sink, body) = tokio::io::duplex(PIPE_BYTES);
        let app = self.clone();
        let id = row.id;
        tokio::spawn(async move {
            let written = app
                .write_disclosure(sink, &row, items, details, now, &signer)
                .await;
            if let Err(e) = written {
                tracing::warn!(disclosure = %id, code = e.code(), error = %e,
                    "a disclosure package was cut off");
            }
        });
        Ok(AccessPackage {
            reference: format!("disclosure-{id}"),
            counts,
            body,
        })
    }

    /// Writes the package's files, then the signed manifest.
    async fn write_disclosure(
        &self,
        sink: DuplexStream,
        row: &DisclosureRow,
        items: Vec<Item>,
        mut details: serde_json::Map<String, Value>,
        now: DateTime<Utc>,
        signer: &AuditSigner,
    ) -> Result<()> {
        let categories = categories_of(row);
        let metadata = categories.iter().any(|c| c == Category::Metadata.as_str());
        let recordings = categories
            .iter()
            .any(|c| c == Category::Recordings.as_str());
        let mut writer = PackageWriter::new(sink);
        let mut unavailable = Vec::new();
        for item in &items {
            let Some(contact) = item.row.as_ref().filter(|c| !c.is_erased()) else {
                unavailable
                    .push(json!({"contact": item.id, "kind": "contact", "reason": "erased"}));
                continue;
            };
            if metadata {
                let document = self.package_document(
                    &contact.id,
                    &contact.document_key,
                    &contact.sealed_document,
                )?;
                let objects: Vec<Value> = item
                    .objects
                    .iter()
                    .map(|o| {
                        json!({"id": o.id, "kind": o.kind, "sha256": o.sha256,
                                    "bytes": o.plaintext_len})
                    })
                    .collect();
                let value = json!({
                    "id": contact.id,
                    "channel": contact.channel,
                    "started_at": contact.started_at,
                    "ended_at": contact.ended_at,
                    "service": contact.service,
                    "agent_role": item.agent_role,
                    "document": document,
                    "objects": objects,
                });
                let bytes = serde_json::to_vec_pretty(&value).map_err(|source| Error::Encode {
                    what: "a contact for a disclosure",
                    source,
                })?;
                writer
                    .add_bytes(&format!("contacts/{}.json", contact.id), &bytes)
                    .await?;
            }
            if recordings {
                for object in &item.objects {
                    let path = format!(
                        "recordings/{}/{}.{}",
                        contact.id,
                        object.kind,
                        extension(&object.kind)
                    );
                    let stream = Box::pin(self.object_plaintext(object).await?)
                        .map_err(std::io::Error::other);
                    let listed = writer.add(&path, StreamReader::new(stream)).await?;
                    if object.kind == RECORDING && listed.sha256 != object.sha256 {
                        return Err(Error::Integrity(kirjuri_vault::Error::Integrity(format!(
                            "recording {} does not hash to its intake digest",
                            object.id
                        ))));
                    }
                }
                for tombstone in self.store.tombstones_for_contact(&contact.id).await? {
                    unavailable.push(json!({"contact": contact.id, "kind": tombstone.kind,
                                            "reason": tombstone.reason}));
                }
            }
        }
        if !unavailable.is_empty() {
            details.insert("unavailable".into(), Value::Array(unavailable));
        }
        writer.finish(PACKAGE_KIND, details, now, signer).await?;
        Ok(())
    }

    /// The approved disclosures that covered any of `contacts`, for the
    /// subject's access package (Art. 15(1)(c)).
    pub(crate) async fn disclosures_of(
        &self,
        contacts: &[ContactId],
    ) -> Result<Vec<SubjectDisclosure>> {
        let mut listed = Vec::new();
        for (recipient_id, id) in self.store.disclosed_recipients(contacts).await? {
            let row = self.disclosure_row(id).await?;
            let grounds: Grounds = self.open_json(row.id, "a disclosure", &row.sealed)?;
            let recipient = self
                .store
                .recipient(&recipient_id)
                .await?
                .ok_or(Error::Internal("a disclosure's recipient is gone"))?;
            let covered = self.store.disclosure_contacts(&id).await?;
            listed.push(SubjectDisclosure {
                recipient: recipient.name,
                kind: recipient.kind,
                country: recipient.country,
                legal_ground: grounds.legal_ground,
                date: row.decided_at,
                contacts: covered
                    .into_iter()
                    .filter(|c| contacts.contains(c))
                    .collect(),
            });
        }
        Ok(listed)
    }
}
