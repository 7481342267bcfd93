//! Handlers for legal holds (`/api/v1/holds…`, RET-2) and the retention
//! overview (`GET /api/v1/retention`, RET-1…RET-3) — for registrars,
//! supervisors and administrators. Thin: each asks the access decision first
//! (so a refused caller is told 403 and audited whatever it sent), parses,
//! calls one `Kirjuri` method, and shapes the answer.
//!
//! A query hold (`query: {phone, from, to}`) is a search by phone number and
//! must state `"purpose": "legal_claim"`; see `kirjuri_app::holds`.
//!
//! Bodies are read up to `max_json_bytes` and parsed with unknown fields
//! refused; a parse error names the field at most, never a value — a query
//! hold's body carries a phone number.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use kirjuri_core::access::Action;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Caller;
use super::params::{content_type, query};
use crate::error::Result;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::holds::{DraftNames, DraftTarget, HoldDraft, NewHold, parse_date, parse_hold_id};

/// `POST /api/v1/holds`: exactly one of `contact`, `recording`, `query`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    recording: Option<String>,
    #[serde(default)]
    query: Option<QueryBody>,
    /// Defaults to `case`.
    #[serde(default)]
    ground_kind: Option<String>,
    ground: String,
    owner: String,
    review_by: String,
    #[serde(default)]
    expires_at: Option<String>,
    /// `legal_claim`: required with `query` (a search by phone number).
    #[serde(default)]
    purpose: Option<String>,
}

/// A query hold: all contacts of a phone number within the dates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    phone: String,
    from: String,
    to: String,
}

/// `POST /api/v1/holds/{id}/lift`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftBody {
    reason: String,
}

/// `POST /api/v1/holds/{id}/review`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    review_by: String,
}

/// `GET /api/v1/holds?all=true`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    all: Option<bool>,
}

/// `GET /api/v1/holds/{id}?after=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/v1/retention?days=N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionQuery {
    #[serde(default)]
    days: Option<u32>,
}

/// Reads and parses a small JSON body: Content-Type checked, size capped,
/// unknown fields refused, and errors that name a field at most.
pub(super) async fn json_body<T: DeserializeOwned>(
    app: &Kirjuri,
    headers: &HeaderMap,
    body: Body,
) -> kirjuri_app::Result<T> {
    if content_type(headers) != "application/json" {
        return Err(Error::UnsupportedMediaType(
            "the body must be sent as Content-Type: application/json",
        ));
    }
    let limit = app.config.max_json_bytes;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Error::TooLarge {
                limit: limit as u64,
            });
        }
        Err(_) => return Err(Error::BodyRead),
    };
    serde_json::from_slice(&bytes).map_err(|e| describe_json_error(&e))
}

/// serde's message for a JSON error can quote the input; only the name of a
/// missing or unknown field is passed on.
fn describe_json_error(e: &serde_json::Error) -> Error {
    let text = e.to_string();
    let field = text.split('`').nth(1).unwrap_or("");
    let message = if e.is_syntax() || e.is_eof() {
        "the body is not valid JSON".to_owned()
    } else if text.starts_with("missing field") {
        format!("the body lacks the field '{field}'")
    } else if text.starts_with("unknown field") {
        format!("the body has an unknown field '{field}'")
    } else {
        "the body is not JSON of the expected shape (dates and texts are strings)".to_owned()
    };
    Error::bad_request("invalid_body", message)
}

/// The API's names for a hold body's fields, for refusals.
const BODY_NAMES: DraftNames = DraftNames {
    contact: "contact",
    recording: "recording",
    phone: "query.phone",
    from: "query.from",
    to: "query.to",
    review_by: "review_by",
    expires_on: "expires_at",
};

impl HoldBody {
    fn into_new_hold(self) -> Result<NewHold> {
        let on = match (&self.contact, &self.recording, &self.query) {
            (Some(contact), None, None) => DraftTarget::Contact(contact),
            (None, Some(recording), None) => DraftTarget::Recording(recording),
            (None, None, Some(query)) => DraftTarget::Phone {
                phone: &query.phone,
                from: &query.from,
                to: &query.to,
            },
            _ => {
                return Err(Error::bad_request(
                    "invalid_body",
                    "name exactly one of contact, recording or query",
                )
                .into());
            }
        };
        let draft = HoldDraft {
            on,
            ground_kind: self.ground_kind.as_deref().unwrap_or("case"),
            ground: self.ground,
            owner: self.owner,
            review_by: &self.review_by,
            expires_on: self.expires_at.as_deref(),
            purpose: self.purpose.as_deref(),
        };
        Ok(draft.parse(&BODY_NAMES)?)
    }
}

/// `POST /api/v1/holds` — place a hold; 201 `{id, targets}`.
pub async fn place(
    State(app): State<Kirjuri>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let acting = Some((&caller.actor, caller.id));
    app.require_holds(acting).await?;
    let request: HoldBody = json_body(&app, &headers, body).await?;
    let placed = app.place_hold(acting, request.into_new_hold()?).await?;
    let mut response = (StatusCode::CREATED, Json(placed)).into_response();
    if let Ok(location) = format!("/api/v1/holds/{}", placed.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/holds[?all=true]` — active holds, or all.
pub async fn list(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response> {
    let acting = Some((&caller.actor, caller.id));
    app.require_holds(acting).await?;
    let request = query(request)?;
    let holds = app.list_holds(acting, request.all.unwrap_or(false)).await?;
    Ok(Json(json!({ "holds": holds })).into_response())
}

/// `GET /api/v1/holds/{id}?after=&limit=` — a hold and a page of targets.
pub async fn show(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    request: std::result::Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Response> {
    let acting = Some((&caller.actor, caller.id));
    app.require_holds(acting).await?;
    let request = query(request)?;
    let detail = app
        .show_hold(
            acting,
            parse_hold_id(&id)?,
            request.after.as_deref(),
            request.limit,
        )
        .await?;
    Ok(Json(detail).into_response())
}

/// `POST /api/v1/holds/{id}/lift` `{reason}`.
pub async fn lift(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let acting = Some((&caller.actor, caller.id));
    app.require_holds(acting).await?;
    let request: LiftBody = json_body(&app, &headers, body).await?;
    let hold = app
        .lift_hold(acting, parse_hold_id(&id)?, &request.reason)
        .await?;
    Ok(Json(hold).into_response())
}

/// `POST /api/v1/holds/{id}/review` `{review_by}`.
pub async fn review(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let acting = Some((&caller.actor, caller.id));
    app.require_holds(acting).await?;
    let request: ReviewBody = json_body(&app, &headers, body).await?;
    let review_by = parse_date(&request.review_by, "review_by")?;
    let hold = app
        .review_hold(acting, parse_hold_id(&id)?, review_by)
        .await?;
    Ok(Json(hold).into_response())
}

/// `GET /api/v1/retention?days=N` — what expires soon, active holds,
/// policies.
pub async fn overview(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<RetentionQuery>, QueryRejection>,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ReadRetention, None)
        .await?;
    let request = query(request)?;
    let overview = app
        .retention_overview(&caller.actor, caller.id, request.days)
        .await?;
    Ok(Json(overview).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_fields_and_never_quote_values() {
        let cases: [(&str, &str); 4] = [
            (r#"{"query": {"phone": 4012345678}}"#, "expected shape"),
            (
                r#"{"ground": "x", "nickname": "0401234567"}"#,
                "unknown field 'nickname'",
            ),
            (r#"{"ground": "#, "not valid JSON"),
            (r#"{}"#, "lacks the field"),
        ];
        for (input, expected) in cases {
            let error = serde_json::from_slice::<HoldBody>(input.as_bytes())
                .err()
                .unwrap();
            let message = describe_json_error(&error).to_string();
            assert!(message.contains(expected), "{input}: {message}");
            assert!(!message.contains("4012345678"), "{message}");
            assert!(!message.contains("0401234567"), "{message}");
        }
    }

    #[test]
    fn a_hold_body_names_exactly_one_target() {
        let both: HoldBody = serde_json::from_str(
            r#"{"contact": "0192f5c4-8f5e-7000-8000-000000000001",
                "recording": "0192f5c4-8f5e-7000-8000-000000000002",
                "ground": "g", "owner": "o", "review_by": "2027-01-01"}"#,
        )
        .unwrap();
        assert!(both.into_new_hold().is_err());
        let none: HoldBody =
            serde_json::from_str(r#"{"ground": "g", "owner": "o", "review_by": "2027-01-01"}"#)
                .unwrap();
        assert!(none.into_new_hold().is_err());
    }
}
