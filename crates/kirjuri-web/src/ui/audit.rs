//! The audit view (AUD-1, issue 4) for supervisors and registrars: the log a
//! page at a time, filtered by contact (any id an event names) or by the
//! account that acted. It calls `Kirjuri::read_audit`, which asks the access
//! decision and audits the reading itself; the filters in the URL are ids
//! and staff account names, never a customer's data.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::context::{Frame, Staff, encode_query, filled};
use super::format;
use super::html;
use super::i18n::Tr;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::audit::{AuditEntry, AuditQuery};

/// Events per page.
const PAGE: u32 = 100;

/// One event, as listed.
pub struct Line {
    /// Sequence number.
    pub seq: i64,
    /// When.
    pub at: String,
    /// Who.
    pub who: String,
    /// What (label).
    pub action: String,
    /// On what (an id).
    pub object: String,
    /// The contact the event concerns, when it names one (a link).
    pub contact: Option<String>,
    /// Purpose label.
    pub purpose: String,
    /// Outcome label.
    pub outcome: String,
    /// The stated reason, a denial's reason code, or a recording's byte range.
    pub detail: String,
}

impl Line {
    fn new(entry: &AuditEntry, t: Tr) -> Self {
        let details = &entry.details;
        let mut detail = Vec::new();
        if let Some(reason) = details.get("reason").and_then(|r| r.as_str()) {
            detail.push(reason.to_owned());
        }
        if let Some(range) = details.get("range").and_then(|r| r.as_array())
            && range.len() == 2
        {
            detail.push(format!(
                "{}–{}",
                range[0].as_u64().unwrap_or(0),
                range[1].as_u64().unwrap_or(0)
            ));
        }
        if let Some(results) = details.get("results").and_then(|r| r.as_array()) {
            detail.push(t.f("audit.results", results.len()));
        }
        let contact = details
            .get("contact")
            .and_then(|c| c.as_str())
            .map(str::to_owned)
            .or_else(|| {
                matches!(entry.action.as_str(), "contact.viewed" | "contact.created")
                    .then(|| entry.object.clone())
                    .flatten()
            });
        Self {
            seq: entry.seq,
            at: chrono::DateTime::parse_from_rfc3339(&entry.at)
                .map(format::time_fixed)
                .unwrap_or_else(|_| entry.at.clone()),
            who: entry.actor.clone().unwrap_or_else(|| "—".into()),
            action: t.label("action", &entry.action.replace('.', "_")),
            object: entry.object.clone().unwrap_or_default(),
            contact,
            purpose: entry
                .purpose
                .as_deref()
                .map(|p| t.label("purpose", p))
                .unwrap_or_default(),
            outcome: t.label("outcome", &entry.outcome),
            detail: detail.join(" · "),
        }
    }
}

/// The audit page.
#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPageView {
    frame: Frame,
    t: Tr,
    contact: String,
    user: String,
    lines: Vec<Line>,
    next: Option<String>,
}

/// `GET /audit?contact=…&user=…&after=…`.
#[derive(Debug, Default, Deserialize)]
pub struct AuditForm {
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    after: Option<i64>,
}

/// `GET /audit`.
pub async fn page(
    State(app): State<Kirjuri>,
    staff: Staff,
    Query(form): Query<AuditForm>,
) -> Response {
    let t = staff.tr();
    let contact = filled(&form.contact);
    let user = filled(&form.user);
    let query = AuditQuery {
        contact: contact.clone(),
        user: user.clone(),
        action: None,
        after: form.after,
        limit: Some(PAGE),
    };
    let page = match app.read_audit(&staff.actor, staff.id, &query).await {
        Ok(page) => page,
        Err(e) => return staff.error(e),
    };
    let next = page.next.map(|after| {
        let mut link = format!("/audit?after={after}");
        if let Some(c) = &contact {
            link.push_str(&format!("&contact={}", encode_query(c)));
        }
        if let Some(u) = &user {
            link.push_str(&format!("&user={}", encode_query(u)));
        }
        link
    });
    html(&AuditPageView {
        frame: staff.frame(),
        t,
        contact: contact.unwrap_or_default(),
        user: user.unwrap_or_default(),
        lines: page.events.iter().map(|e| Line::new(e, t)).collect(),
        next,
    })
}
