//! The one audit call, and reading the log back. Every read and write of
//! personal data goes through [`Kirjuri::audit`] (reads: appended before the
//! data is returned; if the append fails the read is refused) or hands
//! [`to_row`]'s output to a store write so event and change commit in one
//! transaction. [`Kirjuri::read_audit`] answers `GET /api/v1/audit` for
//! supervisors and registrars — itself audited.
//!
//! The signed Merkle tree over the stored rows (AUD-2) is `audit_chain`;
//! callers here do not change for it.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::UserId;
use kirjuri_core::username::UserName;
use kirjuri_store::{AuditFilter, AuditRecord, GroupWrite, NewAuditEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// Events per page unless the caller asks for fewer or more.
const DEFAULT_LIMIT: u32 = 100;
/// The most events one page may hold.
const MAX_LIMIT: u32 = 1000;

/// Turns a typed event into the stored row.
pub fn to_row(at: DateTime<Utc>, actor: Option<UserId>, event: &AuditEvent) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor,
        action: event.action().to_owned(),
        object: event.object(),
        purpose: event.purpose().map(|p| p.as_str().to_owned()),
        outcome: event.outcome().as_str().to_owned(),
        details: event.details(),
    }
}

/// `GET /api/v1/audit`'s query. Unknown parameters are refused, so a typo
/// never widens a query into the whole log.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events naming this id (a contact, a recording, an account): "who
    /// accessed contact X".
    pub contact: Option<String>,
    /// Events done by the account with this name: "what did user Y do".
    pub user: Option<String>,
    /// Events with this action, e.g. `recording.read`.
    pub action: Option<String>,
    /// The cursor: only events after this sequence number.
    pub after: Option<i64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One event as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Position in the log.
    pub seq: i64,
    /// When it happened (RFC 3339, UTC, microseconds).
    pub at: String,
    /// The acting account's name, resolved now; `null` for the system or an
    /// account that no longer exists.
    pub actor: Option<String>,
    /// The acting account's id, as stored.
    pub actor_id: Option<UserId>,
    /// What was done.
    pub action: String,
    /// What it was done to (an id).
    pub object: Option<String>,
    /// The stated purpose.
    pub purpose: Option<String>,
    /// `success` or `denied`.
    pub outcome: String,
    /// Further facts: ids and keyed hashes only.
    pub details: Value,
}

/// A page of the log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    /// The events, in sequence order.
    pub events: Vec<AuditEntry>,
    /// Pass as `after` for the next page; `null` when this is the last.
    pub next: Option<i64>,
}

impl Kirjuri {
    /// Appends an event on its own (reads and denials), answering once it
    /// is durable. Fails closed: the caller must not return data when this
    /// errs. Concurrent appends share one commit (`group_commit`), so
    /// eight readers seeking at once wait for about one fsync, not eight.
    pub async fn audit(&self, actor: Option<UserId>, event: &AuditEvent) -> Result<()> {
        self.group
            .write(GroupWrite::Audit(to_row(self.clock.now(), actor, event)))
            .await?;
        Ok(())
    }

    /// A page of the audit log for a supervisor or registrar (everyone else
    /// is refused, and the refusal audited). The read is audited — with the
    /// query by ids, never a name — before the page is returned; if that
    /// append fails, nothing is returned.
    pub async fn read_audit(
        &self,
        actor: &Actor,
        actor_id: UserId,
        query: &AuditQuery,
    ) -> Result<AuditPage> {
        self.authorize_register(actor, actor_id, Action::ReadAudit, None)
            .await?;
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(Error::bad_request(
                "invalid_parameter",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = query.after.unwrap_or(0);
        if after < 0 {
            return Err(Error::bad_request(
                "invalid_parameter",
                "after must be a sequence number (0 or more)",
            ));
        }
        let reference = match &query.contact {
            Some(id) => Some(
                uuid::Uuid::parse_str(id)
                    .map_err(|_| Error::bad_request("invalid_parameter", "contact must be an id"))?
                    .hyphenated()
                    .to_string(),
            ),
            None => None,
        };
        if let Some(action) = &query.action
            && (action.is_empty()
                || action.len() > 64
                || !action
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'))
        {
            return Err(Error::bad_request(
                "invalid_parameter",
                "action must be an action name such as contact.viewed",
            ));
        }
        // A name that matches no account finds nothing (and says so no
        // differently from an account that did nothing).
        let user = match &query.user {
            Some(name) => {
                let name = UserName::parse(name, "user")?;
                Some(self.store.user_by_name(name.as_str()).await?.map(|u| u.id))
            }
            None => None,
        };
        let records = match user {
            Some(None) => Vec::new(),
            _ => {
                self.store
                    .search_audit(&AuditFilter {
                        reference: reference.clone(),
                        actor: user.flatten(),
                        action: query.action.clone(),
                        after_seq: after,
                        // One more than asked shows whether a next page exists.
                        limit: limit + 1,
                    })
                    .await?
            }
        };
        let more = records.len() > limit as usize;
        let records = &records[..records.len().min(limit as usize)];
        let event = AuditEvent::AuditRead {
            filters: json!({
                "contact": reference,
                "user": user.flatten(),
                "user_unknown": matches!(user, Some(None)),
                "action": query.action,
                "after": after,
                "limit": limit,
            }),
            returned: records.len(),
        };
        self.audit(Some(actor_id), &event).await?;
        let events = self.entries(records).await?;
        let next = if more {
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(AuditPage { events, next })
    }

    /// Shapes stored records for the API, resolving each actor's name once.
    async fn entries(&self, records: &[AuditRecord]) -> Result<Vec<AuditEntry>> {
        let mut names: HashMap<UserId, Option<String>> = HashMap::new();
        let mut entries = Vec::with_capacity(records.len());
        for record in records {
            let event = &record.event;
            let actor = match event.actor {
                Some(id) => match names.get(&id) {
                    Some(name) => name.clone(),
                    None => {
                        let name = self.store.user(&id).await?.map(|u| u.name);
                        names.insert(id, name.clone());
                        name
                    }
                },
                None => None,
            };
            entries.push(AuditEntry {
                seq: record.seq,
                at: event.at.to_rfc3339_opts(SecondsFormat::Micros, true),
                actor,
                actor_id: event.actor,
                action: event.action.clone(),
                object: event.object.clone(),
                purpose: event.purpose.clone(),
                outcome: event.outcome.clone(),
                details: event.details.clone(),
            });
        }
        Ok(entries)
    }
}
