//! Legal holds (RET-2): a hold keeps a contact, a recording, or every contact
//! a query matched past their retention deadlines, on a recorded ground,
//! with an owner answerable for it and a review date no further ahead than
//! `retention.hold_max_review_months`. Placed, listed, shown, reviewed and
//! lifted here — from the API (registrars, supervisors, administrators:
//! `Action::ManageHolds`) and from the command line (the operator) alike.
//!
//! Every change commits with its audit event (which names the hold by id;
//! the free-text ground and a lift's reason stay in the hold's row), and
//! every read and refusal is audited. A query hold ("all contacts of this
//! phone number between these dates") is evaluated once, when placed,
//! through the blind index as a search is; its `scope` records that a phone
//! number was used and the dates — never the number. Bad input is refused
//! before anything is stored.
//!
//! A query hold is a search of the register by phone number, and is treated
//! as one: from the API it needs the purpose `legal_claim` and a caller the
//! access decision lets search by identifier for it
//! (`SearchContacts` on `RegisterByIdentifier`) — a caller who may place
//! holds but not search is refused (403, audited) before anything is looked
//! up, so a miss (400 `no_match`) and a match tell it nothing. Every lookup,
//! hit or miss, is audited as a `contact.search` event (the number as a
//! keyed hash, the dates, the contacts found). The operator on the command
//! line places it for `legal_claim` implicitly, audited without an actor.
//!
//! Not here: what a hold keeps from the purge (the store's `expired_*`
//! queries decide that), or reminders before review dates.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use kirjuri_core::access::{Action, Actor, Object};
use kirjuri_core::audit::{AuditEvent, HashedCriterion};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::phone::PhoneNumber;
use kirjuri_core::purpose::Purpose;
use kirjuri_core::retention::{local_call_date, start_of_local_day};
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_store::{ContactFilter, HoldLift, HoldRow, HoldSummary, HoldTarget, IndexEntry};
use kirjuri_vault::IndexKind;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::auth::Acting;
use crate::error::{Error, Result};
use crate::intake::RECORDING;
use crate::retention::latest_review_date;

/// The longest a ground or a lift's reason may be, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// Contacts read per page while evaluating a query hold.
const QUERY_PAGE: u32 = 1000;

/// Targets per page of `show` unless asked otherwise, and at most.
const DEFAULT_TARGETS: u32 = 100;
const MAX_TARGETS: u32 = 1000;

/// What kind of ground a hold rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroundKind {
    /// A statute that requires keeping the data.
    Statute,
    /// A contract clause.
    Contract,
    /// A complaint being handled.
    Complaint,
    /// A case (a dispute, a claim, a court case).
    Case,
    /// An authority's request (police, a regulator).
    AuthorityRequest,
}

impl GroundKind {
    /// Every kind.
    pub const ALL: [GroundKind; 5] = [
        GroundKind::Statute,
        GroundKind::Contract,
        GroundKind::Complaint,
        GroundKind::Case,
        GroundKind::AuthorityRequest,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroundKind::Statute => "statute",
            GroundKind::Contract => "contract",
            GroundKind::Complaint => "complaint",
            GroundKind::Case => "case",
            GroundKind::AuthorityRequest => "authority_request",
        }
    }
}

impl fmt::Display for GroundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GroundKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        GroundKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_ground_kind",
                    "ground_kind must be one of statute, contract, complaint, case, \
                     authority_request",
                )
            })
    }
}

/// What a new hold is placed on.
#[derive(Clone, PartialEq, Eq)]
pub enum HoldOn {
    /// One contact, everything of it.
    Contact(ContactId),
    /// One recording (by its object id) and what is derived from it.
    Recording(ObjectId),
    /// Every contact of a phone number that started within the dates
    /// (inclusive, Helsinki days), as found when the hold is placed.
    Phone {
        /// The number, normalised.
        phone: PhoneNumber,
        /// The first day.
        from: NaiveDate,
        /// The last day.
        to: NaiveDate,
    },
}

impl fmt::Debug for HoldOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldOn::Contact(id) => f.debug_tuple("Contact").field(id).finish(),
            HoldOn::Recording(id) => f.debug_tuple("Recording").field(id).finish(),
            HoldOn::Phone { from, to, .. } => f
                .debug_struct("Phone")
                .field("phone", &"[redacted]")
                .field("from", from)
                .field("to", to)
                .finish(),
        }
    }
}

/// A hold to place, as given (the command line and the API build these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    /// What it covers.
    pub on: HoldOn,
    /// Its kind of ground.
    pub ground_kind: GroundKind,
    /// The ground: a statute section, contract clause, case number….
    pub ground: String,
    /// The owner's account name.
    pub owner: String,
    /// The review date (a Helsinki day).
    pub review_by: NaiveDate,
    /// The day the hold ends by itself, if it does.
    pub expires_on: Option<NaiveDate>,
    /// The purpose stated; only `legal_claim` is accepted, and an API
    /// caller must state it for a query hold.
    pub purpose: Option<Purpose>,
}

/// A hold as shown: ids, names of staff accounts, dates; no personal data
/// of the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldView {
    /// The hold's id.
    pub id: Uuid,
    /// Its kind of ground.
    pub ground_kind: String,
    /// The ground.
    pub ground: String,
    /// The owner's account name (`null` if the account is gone).
    pub owner: Option<String>,
    /// The review date (Helsinki day).
    pub review_by: NaiveDate,
    /// The day it ends by itself (Helsinki), if it does.
    pub expires_on: Option<NaiveDate>,
    /// What it was placed on (`{"contact": id}`, `{"object": id}` or
    /// `{"query": {"phone": true, "from", "to", "matched"}}`).
    pub scope: serde_json::Value,
    /// How many contacts and objects it names.
    pub targets: u64,
    /// `active`, `lifted` or `expired`.
    pub state: &'static str,
    /// Whether it is active and its review date is within the reminder
    /// window (`retention.hold_reminder_days`) or past.
    pub due_for_review: bool,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// Who placed it (`null`: the operator, from the command line).
    pub created_by: Option<String>,
    /// When it was lifted.
    pub lifted_at: Option<DateTime<Utc>>,
    /// Who lifted it.
    pub lifted_by: Option<String>,
    /// Why it was lifted.
    pub lift_reason: Option<String>,
}

/// One target of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TargetView {
    /// The contact.
    pub contact_id: ContactId,
    /// The object, or `null` for the whole contact.
    pub object_id: Option<ObjectId>,
}

/// A hold with a page of its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldDetail {
    /// The hold.
    #[serde(flatten)]
    pub hold: HoldView,
    /// This page of its targets, in order.
    pub target_list: Vec<TargetView>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// A placed hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placed {
    /// The new hold's id.
    pub id: Uuid,
    /// How many targets it has.
    pub targets: u64,
}

/// Checks a free-text ground or reason: trimmed, 1..=500 characters, one
/// line without control characters.
fn text(value: &str, field: &'static str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::bad_request(
            "invalid_text",
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::bad_request(
            "invalid_text",
            format!("{field} must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "invalid_text",
            format!("{field} must be one line without control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Parses a `YYYY-MM-DD` date for `field`.
pub fn parse_date(value: &str, field: &'static str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        Error::bad_request(
            "invalid_date",
            format!("{field} must be a date as YYYY-MM-DD"),
        )
    })
}

/// Parses a hold id; a malformed one names nothing.
pub fn parse_hold_id(value: &str) -> Result<Uuid> {
    Uuid::parse_str(value.trim()).map_err(|_| Error::NotFound)
}

/// A hold as a caller wrote it — the API's JSON body, the flags of
/// `kirjuri hold add` — before anything in it is parsed.
/// [`HoldDraft::parse`] makes the [`NewHold`], refusing bad input with the
/// caller's own name for the field ([`DraftNames`]).
pub struct HoldDraft<'a> {
    /// What it is placed on.
    pub on: DraftTarget<'a>,
    /// Its kind of ground (`case`, `statute`, …).
    pub ground_kind: &'a str,
    /// The ground.
    pub ground: String,
    /// The owner's account name.
    pub owner: String,
    /// The review date, `YYYY-MM-DD`.
    pub review_by: &'a str,
    /// The day it ends by itself, `YYYY-MM-DD`, if it does.
    pub expires_on: Option<&'a str>,
    /// The purpose stated, if any.
    pub purpose: Option<&'a str>,
}

/// What a [`HoldDraft`] is placed on, as written.
pub enum DraftTarget<'a> {
    /// A contact's id.
    Contact(&'a str),
    /// A recording's (object) id.
    Recording(&'a str),
    /// A phone number and the first and last day (`YYYY-MM-DD`).
    Phone {
        /// The number in any accepted form.
        phone: &'a str,
        /// The first day.
        from: &'a str,
        /// The last day.
        to: &'a str,
    },
}

/// How a caller names the fields of a [`HoldDraft`]: `review_by` in the
/// API's body is `--review` on the command line.
#[derive(Debug, Clone, Copy)]
pub struct DraftNames {
    /// The contact target.
    pub contact: &'static str,
    /// The recording target.
    pub recording: &'static str,
    /// A query's phone number.
    pub phone: &'static str,
    /// A query's first day.
    pub from: &'static str,
    /// A query's last day.
    pub to: &'static str,
    /// The review date.
    pub review_by: &'static str,
    /// The end date.
    pub expires_on: &'static str,
}

impl DraftNames {
    /// The flags of `kirjuri hold add`.
    pub const COMMAND_LINE: DraftNames = DraftNames {
        contact: "--contact",
        recording: "--recording",
        phone: "--phone",
        from: "--from",
        to: "--to",
        review_by: "--review",
        expires_on: "--expires",
    };
}

impl HoldDraft<'_> {
    /// The hold to place: the target first, then the ground's kind, the
    /// dates and the purpose, each refused (400) with the field's name as
    /// `names` gives it, never its value.
    pub fn parse(self, names: &DraftNames) -> Result<NewHold> {
        let bad_id = |field: &str, what: &str| {
            Error::bad_request("unknown_target", format!("{field} must be a {what}'s id"))
        };
        let on = match self.on {
            DraftTarget::Contact(id) => HoldOn::Contact(
                id.trim()
                    .parse()
                    .map_err(|_| bad_id(names.contact, "contact"))?,
            ),
            DraftTarget::Recording(id) => HoldOn::Recording(
                id.trim()
                    .parse()
                    .map_err(|_| bad_id(names.recording, "recording"))?,
            ),
            DraftTarget::Phone { phone, from, to } => HoldOn::Phone {
                phone: PhoneNumber::parse(phone, names.phone)?,
                from: parse_date(from, names.from)?,
                to: parse_date(to, names.to)?,
            },
        };
        Ok(NewHold {
            on,
            ground_kind: self.ground_kind.parse()?,
            ground: self.ground,
            owner: self.owner,
            review_by: parse_date(self.review_by, names.review_by)?,
            expires_on: self
                .expires_on
                .map(|d| parse_date(d, names.expires_on))
                .transpose()?,
            purpose: self.purpose.map(str::parse::<Purpose>).transpose()?,
        })
    }
}

/// A target cursor: `CONTACT` or `CONTACT:OBJECT`.
fn cursor(target: &HoldTarget) -> String {
    match target.object_id {
        Some(object) => format!("{}:{object}", target.contact_id),
        None => target.contact_id.to_string(),
    }
}

fn parse_cursor(value: &str) -> Result<HoldTarget> {
    let bad = || Error::bad_request("invalid_parameter", "after must be a cursor from `next`");
    let (contact, object) = match value.split_once(':') {
        Some((c, o)) => (c, Some(o)),
        None => (value, None),
    };
    Ok(HoldTarget {
        contact_id: contact.parse().map_err(|_| bad())?,
        object_id: object
            .map(|o| o.parse::<ObjectId>())
            .transpose()
            .map_err(|_| bad())?,
    })
}

/// The Helsinki day of an instant.
pub(crate) fn local_day(at: DateTime<Utc>) -> NaiveDate {
    local_call_date(at.fixed_offset())
}

impl Kirjuri {
    /// Refuses an operation on holds for an API caller whose role may not
    /// (the refusal is audited); the operator (`None`) may.
    pub async fn require_holds(&self, acting: Acting<'_>) -> Result<()> {
        if let Some((actor, id)) = acting {
            self.authorize_register(actor, id, Action::ManageHolds, None)
                .await?;
        }
        Ok(())
    }

    /// Checks a review date placed or moved at `now`: after today
    /// (Helsinki) and no later than the configured maximum ahead.
    fn check_review_date(&self, review_by: NaiveDate, now: DateTime<Utc>) -> Result<()> {
        let max = self.config.retention.hold_max_review_months;
        if review_by <= local_day(now) {
            return Err(Error::bad_request(
                "invalid_review_date",
                "review_by must be a date in the future",
            ));
        }
        if review_by > latest_review_date(now, max) {
            return Err(Error::bad_request(
                "invalid_review_date",
                format!("review_by may be at most {max} months ahead"),
            ));
        }
        Ok(())
    }

    /// The owner named: an enabled registrar, supervisor, administrator or
    /// responsible person's account.
    async fn hold_owner(&self, name: &str) -> Result<UserId> {
        let refused = || {
            Error::bad_request(
                "invalid_owner",
                "owner must be the name of an enabled registrar, supervisor, admin or \
                 responsible account",
            )
        };
        let name = UserName::parse(name.trim(), "owner").map_err(|_| refused())?;
        let user = self
            .store
            .user_by_name(name.as_str())
            .await?
            .ok_or_else(refused)?;
        let role_ok = matches!(
            user.role,
            Role::Registrar | Role::Supervisor | Role::Admin | Role::Responsible
        );
        if user.disabled || !role_ok {
            return Err(refused());
        }
        Ok(user.id)
    }

    /// Checks the purpose of a new hold: `legal_claim` or none, and for an
    /// API caller's query hold `legal_claim` and a caller who may search
    /// the register by identifier for it (a refusal is audited).
    async fn check_hold_purpose(&self, acting: Acting<'_>, new: &NewHold) -> Result<()> {
        if new.purpose.is_some_and(|p| p != Purpose::LegalClaim) {
            return Err(Error::bad_request(
                "invalid_purpose",
                "a hold is placed for the purpose legal_claim",
            ));
        }
        let (HoldOn::Phone { .. }, Some((actor, id))) = (&new.on, acting) else {
            return Ok(());
        };
        if new.purpose.is_none() {
            return Err(Error::bad_request(
                "purpose_required",
                "a query hold searches the register by phone number: state \"purpose\": \"legal_claim\"",
            ));
        }
        self.authorize_on(
            actor,
            id,
            Action::SearchContacts,
            Object::RegisterByIdentifier,
            Some(Purpose::LegalClaim),
        )
        .await?;
        Ok(())
    }

    /// The targets a new hold names, and the scope to record. A query
    /// hold's lookup is audited as a search, whether it finds anything.
    async fn hold_targets_for(
        &self,
        acting: Acting<'_>,
        on: &HoldOn,
    ) -> Result<(Vec<HoldTarget>, serde_json::Value)> {
        match on {
            HoldOn::Contact(id) => {
                let contact = self.store.contact(id).await?.ok_or_else(|| {
                    Error::bad_request("unknown_target", "no contact has this id")
                })?;
                if contact.is_erased() {
                    return Err(Error::Conflict {
                        code: "target_erased",
                        message: "this contact was erased; nothing of it is left to hold".into(),
                    });
                }
                Ok((
                    vec![HoldTarget {
                        contact_id: *id,
                        object_id: None,
                    }],
                    json!({ "contact": id }),
                ))
            }
            HoldOn::Recording(id) => {
                let object = self
                    .store
                    .object(id)
                    .await?
                    .filter(|o| o.kind == RECORDING)
                    .ok_or_else(|| {
                        Error::bad_request("unknown_target", "no recording has this id")
                    })?;
                Ok((
                    vec![HoldTarget {
                        contact_id: object.contact_id,
                        object_id: Some(*id),
                    }],
                    json!({ "object": id }),
                ))
            }
            HoldOn::Phone { phone, from, to } => {
                if from > to {
                    return Err(Error::bad_request(
                        "invalid_date",
                        "the query's from must not be after its to",
                    ));
                }
                let indexer = self.keyring.blind_indexer();
                let phone_hash = indexer.hash(IndexKind::Phone, phone.e164());
                let mut filter = ContactFilter {
                    index: vec![IndexEntry {
                        kind: IndexKind::Phone.as_str().to_owned(),
                        hash: phone_hash.to_vec(),
                    }],
                    from: Some(start_of_local_day(*from)),
                    to: Some(start_of_local_day(to.succ_opt().unwrap_or(*to))),
                    limit: QUERY_PAGE,
                    ..ContactFilter::default()
                };
                let mut targets = Vec::new();
                loop {
                    let page = self.store.search_contacts(&filter).await?;
                    targets.extend(page.iter().filter(|c| !c.is_erased()).map(|c| HoldTarget {
                        contact_id: c.id,
                        object_id: None,
                    }));
                    if page.len() < QUERY_PAGE as usize {
                        break;
                    }
                    filter.before = page.last().map(|c| (c.started_at, c.id));
                }
                let searched = AuditEvent::Search {
                    purpose: Purpose::LegalClaim,
                    criteria: vec![HashedCriterion {
                        kind: IndexKind::Phone.as_str().to_owned(),
                        hash: hex::encode(phone_hash),
                    }],
                    filters: json!({
                        "from": from.to_string(),
                        "to": to.to_string(),
                        "hold": true,
                    }),
                    results: targets.iter().map(|t| t.contact_id).collect(),
                };
                self.audit(acting.map(|(_, id)| id), &searched).await?;
                if targets.is_empty() {
                    return Err(Error::bad_request(
                        "no_match",
                        "no stored contact of that phone number started within the dates; \
                         nothing was held",
                    ));
                }
                let scope = json!({"query": {
                    "phone": true,
                    "from": from.to_string(),
                    "to": to.to_string(),
                    "matched": targets.len(),
                }});
                Ok((targets, scope))
            }
        }
    }

    /// Places a hold; answers its id and how many targets it has. Nothing
    /// is stored unless everything checks out.
    pub async fn place_hold(&self, acting: Acting<'_>, new: NewHold) -> Result<Placed> {
        self.require_holds(acting).await?;
        let now = self.clock.now();
        let ground = text(&new.ground, "ground")?;
        self.check_review_date(new.review_by, now)?;
        if let Some(expires) = new.expires_on
            && expires <= local_day(now)
        {
            return Err(Error::bad_request(
                "invalid_date",
                "expires_at must be a date in the future",
            ));
        }
        let owner = self.hold_owner(&new.owner).await?;
        self.check_hold_purpose(acting, &new).await?;
        let (targets, scope) = self.hold_targets_for(acting, &new.on).await?;
        let id = Uuid::now_v7();
        let row = HoldRow {
            id,
            ground_kind: new.ground_kind.as_str().to_owned(),
            ground,
            owner,
            review_by: start_of_local_day(new.review_by),
            expires_at: new.expires_on.map(start_of_local_day),
            scope,
            created_at: now,
            created_by: acting
                .map(|(_, id)| id)
                .unwrap_or_else(|| UserId::from_uuid(Uuid::nil())),
            lifted_at: None,
            lifted_by: None,
            lift_reason: None,
            reminded_at: None,
        };
        let count = targets.len() as u64;
        let event = AuditEvent::HoldPlaced {
            hold: id,
            targets: count,
            ground_kind: new.ground_kind.as_str(),
        };
        let audit = to_row(now, acting.map(|(_, id)| id), &event);
        match self.store.insert_hold(&row, &targets, &audit).await {
            Ok(()) => Ok(Placed { id, targets: count }),
            // A target deleted between the check and the insert.
            Err(kirjuri_store::Error::NotFound) => Err(Error::bad_request(
                "unknown_target",
                "a contact or recording the hold names no longer exists",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Active holds (or every hold ever placed, with `all`), by review date.
    pub async fn list_holds(&self, acting: Acting<'_>, all: bool) -> Result<Vec<HoldView>> {
        self.require_holds(acting).await?;
        let now = self.clock.now();
        let holds = self.store.holds((!all).then_some(now)).await?;
        self.audit(
            acting.map(|(_, id)| id),
            &AuditEvent::HoldsRead { hold: None },
        )
        .await?;
        self.hold_views(holds).await
    }

    /// One hold with a page of its targets (`after`: the previous page's
    /// `next`; `limit` 1..=1000, default 100).
    pub async fn show_hold(
        &self,
        acting: Acting<'_>,
        id: Uuid,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<HoldDetail> {
        self.require_holds(acting).await?;
        let limit = limit.unwrap_or(DEFAULT_TARGETS);
        if limit == 0 || limit > MAX_TARGETS {
            return Err(Error::bad_request(
                "invalid_parameter",
                format!("limit must be between 1 and {MAX_TARGETS}"),
            ));
        }
        let after = after
            .filter(|a| !a.is_empty())
            .map(parse_cursor)
            .transpose()?;
        let summary = self.store.hold(&id).await?.ok_or(Error::NotFound)?;
        let mut targets = self.store.hold_targets(&id, after, limit + 1).await?;
        let more = targets.len() > limit as usize;
        targets.truncate(limit as usize);
        self.audit(
            acting.map(|(_, id)| id),
            &AuditEvent::HoldsRead { hold: Some(id) },
        )
        .await?;
        let next = if more {
            targets.last().map(cursor)
        } else {
            None
        };
        let mut views = self.hold_views(vec![summary]).await?;
        let hold = views.pop().ok_or(Error::NotFound)?;
        Ok(HoldDetail {
            hold,
            target_list: targets
                .iter()
                .map(|t| TargetView {
                    contact_id: t.contact_id,
                    object_id: t.object_id,
                })
                .collect(),
            next,
        })
    }

    /// Lifts a hold with a reason; the purge may then take what it kept.
    pub async fn lift_hold(&self, acting: Acting<'_>, id: Uuid, reason: &str) -> Result<HoldView> {
        self.require_holds(acting).await?;
        let reason = text(reason, "reason")?;
        let now = self.clock.now();
        let lift = HoldLift {
            at: now,
            by: acting
                .map(|(_, id)| id)
                .unwrap_or_else(|| UserId::from_uuid(Uuid::nil())),
            reason,
        };
        let audit = to_row(
            now,
            acting.map(|(_, id)| id),
            &AuditEvent::HoldLifted { hold: id },
        );
        match self.store.lift_hold(&id, &lift, &audit).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::Conflict {
                    code: "already_lifted",
                    message: "this hold was already lifted".into(),
                });
            }
            Err(kirjuri_store::Error::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        }
        self.one_hold_view(id).await
    }

    /// Moves an active hold's review date.
    pub async fn review_hold(
        &self,
        acting: Acting<'_>,
        id: Uuid,
        review_by: NaiveDate,
    ) -> Result<HoldView> {
        self.require_holds(acting).await?;
        let now = self.clock.now();
        let summary = self.store.hold(&id).await?.ok_or(Error::NotFound)?;
        if !summary.hold.is_active(now) {
            return Err(Error::Conflict {
                code: "hold_not_active",
                message: "this hold was lifted or has expired; its review date no longer matters"
                    .into(),
            });
        }
        self.check_review_date(review_by, now)?;
        let audit = to_row(
            now,
            acting.map(|(_, id)| id),
            &AuditEvent::HoldReviewMoved { hold: id },
        );
        match self
            .store
            .set_hold_review(&id, start_of_local_day(review_by), &audit)
            .await
        {
            Ok(()) => {}
            Err(kirjuri_store::Error::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        }
        self.one_hold_view(id).await
    }

    async fn one_hold_view(&self, id: Uuid) -> Result<HoldView> {
        let summary = self.store.hold(&id).await?.ok_or(Error::NotFound)?;
        self.hold_views(vec![summary])
            .await?
            .pop()
            .ok_or(Error::NotFound)
    }

    /// Shapes holds for display, resolving each account's name once.
    pub async fn hold_views(&self, holds: Vec<HoldSummary>) -> Result<Vec<HoldView>> {
        let now = self.clock.now();
        let reminder = TimeDelta::days(i64::from(self.config.retention.hold_reminder_days));
        let mut names: HashMap<UserId, Option<String>> = HashMap::new();
        let mut views = Vec::with_capacity(holds.len());
        for HoldSummary { hold, targets } in holds {
            let owner = self.account_name(&mut names, hold.owner).await?;
            let created_by = self.account_name(&mut names, hold.created_by).await?;
            let lifted_by = match hold.lifted_by {
                Some(id) => self.account_name(&mut names, id).await?,
                None => None,
            };
            let active = hold.is_active(now);
            let state = if hold.lifted_at.is_some() {
                "lifted"
            } else if active {
                "active"
            } else {
                "expired"
            };
            views.push(HoldView {
                id: hold.id,
                ground_kind: hold.ground_kind.clone(),
                ground: hold.ground.clone(),
                owner,
                review_by: local_day(hold.review_by),
                expires_on: hold.expires_at.map(local_day),
                scope: hold.scope.clone(),
                targets,
                state,
                due_for_review: active && hold.review_by - reminder <= now,
                created_at: hold.created_at,
                created_by,
                lifted_at: hold.lifted_at,
                lifted_by,
                lift_reason: hold.lift_reason.clone(),
            });
        }
        Ok(views)
    }

    async fn account_name(
        &self,
        names: &mut HashMap<UserId, Option<String>>,
        id: UserId,
    ) -> Result<Option<String>> {
        if id.as_uuid().is_nil() {
            return Ok(None);
        }
        if let Some(name) = names.get(&id) {
            return Ok(name.clone());
        }
        let name = self.store.user(&id).await?.map(|u| u.name);
        names.insert(id, name.clone());
        Ok(name)
    }

    /// The holds with a target in this contact, for the contact view; `None`
    /// for a reader whose role may not see retention (nothing audited: the
    /// contact read is).
    pub async fn holds_of_contact(
        &self,
        actor: &Actor,
        contact: &ContactId,
    ) -> Result<Option<Vec<HoldRow>>> {
        let allowed = kirjuri_core::access::authorize(
            actor,
            Action::ReadRetention,
            kirjuri_core::access::Object::Register,
            None,
        )
        .is_allowed();
        if !allowed {
            return Ok(None);
        }
        Ok(Some(self.store.holds_for_contact(contact).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(on: DraftTarget<'_>) -> HoldDraft<'_> {
        HoldDraft {
            on,
            ground_kind: "case",
            ground: "Case 12/2026".to_owned(),
            owner: "sanna".to_owned(),
            review_by: "2027-01-31",
            expires_on: Some("2027-06-30"),
            purpose: Some("legal_claim"),
        }
    }

    fn refusal(draft: HoldDraft<'_>) -> (&'static str, String) {
        match draft.parse(&DraftNames::COMMAND_LINE) {
            Err(Error::BadRequest { code, message }) => (code, message),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_draft_parses_into_the_hold_it_describes() {
        let contact = ContactId::new_v7();
        let id = contact.to_string();
        let hold = draft(DraftTarget::Contact(&format!(" {id} ")))
            .parse(&DraftNames::COMMAND_LINE)
            .unwrap();
        assert_eq!(hold.on, HoldOn::Contact(contact));
        assert_eq!(hold.ground_kind, GroundKind::Case);
        assert_eq!(hold.ground, "Case 12/2026");
        assert_eq!(hold.owner, "sanna");
        assert_eq!(
            hold.review_by,
            NaiveDate::from_ymd_opt(2027, 1, 31).unwrap()
        );
        assert_eq!(hold.expires_on, NaiveDate::from_ymd_opt(2027, 6, 30));
        assert_eq!(hold.purpose, Some(Purpose::LegalClaim));

        let phone = draft(DraftTarget::Phone {
            phone: "040 123 4567",
            from: "2026-01-01",
            to: "2026-12-31",
        })
        .parse(&DraftNames::COMMAND_LINE)
        .unwrap();
        let HoldOn::Phone { phone, from, to } = phone.on else {
            panic!("not a phone hold");
        };
        assert_eq!(phone.e164(), "+358401234567");
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-01-01".into(), "2026-12-31".into())
        );
    }

    #[test]
    fn a_bad_draft_is_refused_naming_the_field_as_the_caller_wrote_it() {
        let (code, message) = refusal(draft(DraftTarget::Contact("0401234567")));
        assert_eq!(code, "unknown_target");
        assert_eq!(message, "--contact must be a contact's id");
        let (code, message) = refusal(draft(DraftTarget::Recording("x")));
        assert_eq!(code, "unknown_target");
        assert_eq!(message, "--recording must be a recording's id");
        let (code, message) = refusal(draft(DraftTarget::Phone {
            phone: "040 123 4567",
            from: "spring",
            to: "2026-12-31",
        }));
        assert_eq!(code, "invalid_date");
        assert!(message.starts_with("--from "), "{message}");
        let mut late = draft(DraftTarget::Contact("01890000-0000-7000-8000-000000000000"));
        late.review_by = "next year";
        let (code, message) = refusal(late);
        assert_eq!(code, "invalid_date");
        assert!(message.starts_with("--review "), "{message}");
        assert!(!message.contains("next year"), "{message}");
    }

    #[test]
    fn ground_kinds_parse_from_their_names_only() {
        for kind in GroundKind::ALL {
            assert_eq!(kind.as_str().parse::<GroundKind>().unwrap(), kind);
        }
        for bad in ["", "Case", "court", "case "] {
            let error = bad.parse::<GroundKind>().unwrap_err();
            assert_eq!(error.code(), "invalid_ground_kind");
        }
    }

    #[test]
    fn a_ground_is_trimmed_and_must_be_one_line_of_1_to_500_characters() {
        assert_eq!(
            text("  Consumer Protection Act 5:14 ", "ground").unwrap(),
            "Consumer Protection Act 5:14"
        );
        assert!(text("", "ground").is_err());
        assert!(text("   ", "ground").is_err());
        assert!(text("a\nb", "ground").is_err());
        assert!(text("a\u{7}b", "ground").is_err());
        assert!(text(&"ä".repeat(500), "ground").is_ok());
        let error = text(&"x".repeat(10_000), "ground").unwrap_err();
        assert!(error.to_string().contains("at most 500"), "{error}");
        assert!(!error.to_string().contains("xxx"));
    }

    #[test]
    fn target_cursors_round_trip() {
        let contact = ContactId::new_v7();
        let object = ObjectId::new_v7();
        for target in [
            HoldTarget {
                contact_id: contact,
                object_id: None,
            },
            HoldTarget {
                contact_id: contact,
                object_id: Some(object),
            },
        ] {
            assert_eq!(parse_cursor(&cursor(&target)).unwrap(), target);
        }
        assert!(parse_cursor("nonsense").is_err());
    }

    #[test]
    fn a_query_hold_never_debug_prints_its_number() {
        let on = HoldOn::Phone {
            phone: PhoneNumber::parse("040 123 4567", "phone").unwrap(),
            from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
        };
        let printed = format!("{on:?}");
        assert!(!printed.contains("4567"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    fn date(text: &str) -> NaiveDate {
        parse_date(text, "test").unwrap()
    }

    /// A data folder at 23:30 UTC on 31 Jan 2026 — already 1 Feb in
    /// Helsinki — with the supervisor `sanna`, the agent `aino` and one
    /// contact.
    async fn app_with_contact() -> (tempfile::TempDir, Kirjuri, ContactId) {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data: dir.path().to_path_buf(),
            ..crate::Config::default()
        };
        let now = DateTime::parse_from_rfc3339("2026-01-31T23:30:00Z").unwrap();
        let clock = std::sync::Arc::new(kirjuri_core::clock::FixedClock::new(now.to_utc()));
        let app = Kirjuri::open(config, clock).await.unwrap();
        let password = secrecy::SecretString::from("A-Long-Test-Passw0rd-For-Holds");
        app.add_user("sanna", Role::Supervisor, &password)
            .await
            .unwrap();
        app.add_user("aino", Role::Agent, &password).await.unwrap();
        let input = kirjuri_core::contact::ContactInput::from_json(
            br#"{"channel": "call_in", "started_at": "2026-01-15T10:00:00+02:00", "agent": "aino"}"#,
        )
        .unwrap();
        let (id, _) = app.create_contact(None, input).await.unwrap();
        (dir, app, id)
    }

    fn new_hold(contact: ContactId, review_by: &str) -> NewHold {
        NewHold {
            on: HoldOn::Contact(contact),
            ground_kind: GroundKind::Case,
            ground: "District court case L 26/1234".into(),
            owner: "sanna".into(),
            review_by: date(review_by),
            expires_on: None,
            purpose: None,
        }
    }

    #[tokio::test]
    async fn the_review_date_must_be_after_today_and_at_most_24_months_ahead_in_helsinki() {
        let (_dir, app, contact) = app_with_contact().await;
        // Today is 1 Feb 2026 in Helsinki (still 31 Jan in UTC).
        for refused in ["2026-01-31", "2026-02-01", "2028-02-02"] {
            let error = app
                .place_hold(None, new_hold(contact, refused))
                .await
                .unwrap_err();
            assert_eq!(error.code(), "invalid_review_date", "{refused}");
        }
        for allowed in ["2026-02-02", "2028-02-01"] {
            app.place_hold(None, new_hold(contact, allowed))
                .await
                .unwrap();
        }
        let holds = app.list_holds(None, false).await.unwrap();
        assert_eq!(holds.len(), 2);
        // Stored as Helsinki midnights, shown as the dates given.
        assert_eq!(holds[0].review_by, date("2026-02-02"));
        let row = app.store.hold(&holds[0].id).await.unwrap().unwrap().hold;
        assert_eq!(
            row.review_by,
            DateTime::parse_from_rfc3339("2026-02-01T22:00:00Z")
                .unwrap()
                .to_utc()
        );
    }

    #[tokio::test]
    async fn an_owner_must_be_an_enabled_account_that_answers_for_holds() {
        let (_dir, app, contact) = app_with_contact().await;
        for owner in ["aino", "nobody", "not a name!"] {
            let mut hold = new_hold(contact, "2026-06-01");
            hold.owner = owner.into();
            let error = app.place_hold(None, hold).await.unwrap_err();
            assert_eq!(error.code(), "invalid_owner", "{owner}");
        }
        assert!(app.list_holds(None, true).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_hold_is_due_for_review_within_the_reminder_window_and_an_expired_one_cannot_be_moved()
     {
        let (_dir, app, contact) = app_with_contact().await;
        let soon = app
            .place_hold(None, new_hold(contact, "2026-02-10"))
            .await
            .unwrap();
        let later = app
            .place_hold(None, new_hold(contact, "2026-06-01"))
            .await
            .unwrap();
        let mut expiring = new_hold(contact, "2026-06-01");
        expiring.expires_on = Some(date("2026-02-02"));
        let expiring = app.place_hold(None, expiring).await.unwrap();
        let views = app.list_holds(None, true).await.unwrap();
        let due = |id: Uuid| views.iter().find(|v| v.id == id).unwrap().due_for_review;
        assert!(due(soon.id), "9 days ahead is within the 14-day window");
        assert!(!due(later.id));
        // A day and a half later the expiring hold has ended by itself.
        let clock = kirjuri_core::clock::FixedClock::new(
            DateTime::parse_from_rfc3339("2026-02-02T12:00:00Z")
                .unwrap()
                .to_utc(),
        );
        let app = Kirjuri {
            clock: std::sync::Arc::new(clock),
            ..app
        };
        let view = app.show_hold(None, expiring.id, None, None).await.unwrap();
        assert_eq!(view.hold.state, "expired");
        let error = app
            .review_hold(None, expiring.id, date("2026-05-01"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "hold_not_active");
        let active: Vec<Uuid> = app
            .list_holds(None, false)
            .await
            .unwrap()
            .iter()
            .map(|v| v.id)
            .collect();
        assert_eq!(active.len(), 2);
        assert!(!active.contains(&expiring.id));
    }

    #[test]
    fn dates_are_year_month_day() {
        assert_eq!(
            parse_date("2027-02-28", "review_by").unwrap(),
            NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
        );
        for bad in ["2027-02-30", "28.2.2027", "", "2027-2-28x"] {
            assert!(parse_date(bad, "review_by").is_err(), "{bad}");
        }
    }
}
