//! Handlers for data-subject requests (`/api/v1/requests…`, DSR-1, DSR-2)
//! — for registrars and the responsible person; supervisors may read.
//! Thin: each asks the access decision first (so a refused caller gets 403,
//! audited, whatever it sent and whether the request exists), reads the
//! body with the holds' JSON reader (Content-Type checked, capped at
//! `max_json_bytes`, unknown fields refused, errors naming a field at most
//! — these bodies carry phone numbers), calls one `Kirjuri` method and
//! shapes the answer. The rules are `kirjuri_app::requests`'.
//!
//! | | |
//! |---|---|
//! | `POST /api/v1/requests` | register → 201 `{id, reference, state, due_date}` |
//! | `GET /api/v1/requests` | the queue of open requests, overdue first |
//! | `GET /api/v1/requests/{id}` | one request: state, due date, days left, verification, timeline |
//! | `POST …/{id}/verification` | in person → 200 `{assurance, …}`; `send_to` → 202; `code` → 200 |
//! | `POST …/{id}/transition` | `{"transition"}` |
//! | `POST …/{id}/extension` | `{"months", "reason"}` |
//! | `POST …/{id}/refusal` | `{"ground", "reasoning"}`: propose |
//! | `POST …/{id}/refusal/approve` | a second registrar approves |
//! | `GET …/{id}/package?purpose=data_subject_request` | the access package, a streamed ZIP |
//! | `POST …/{id}/deliver` | a one-time link to the requester → 201 `{expires_at}` |
//! | `POST …/{id}/third-party-review` | `{"decision", "note"}`: the Art. 15(4) review |
//! | `POST …/{id}/execute` | `{"action": "erase"}` → 200 `{erased, kept, receipt}`; `{"action": "rectify", "contact", "changes"}` → 200 `{contact, changed_fields, version, notify_recipients}`; `{"action": "restrict" | "object" | "lift_restriction"}` → 200 `{action, state, limits}` |
//! | `GET …/{id}/receipt` | the signed erasure receipt |

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kirjuri_core::access::Action;
use serde::Deserialize;
use serde_json::json;

use super::Caller;
use super::params;
use super::retention::json_body;
use crate::error::Result;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::read::require_purpose;
use kirjuri_app::requests::{
    CloseTaskInput, ExecuteInput, RegisterInput, ReviewInput, VerificationInput,
    VerificationOutcome, parse_request_id,
};

/// `POST /api/v1/requests/{id}/transition`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    transition: String,
}

/// `POST /api/v1/requests/{id}/extension`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    months: u32,
    reason: String,
}

/// `POST /api/v1/requests/{id}/refusal`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalBody {
    /// Missing is the same as empty: a refusal without a legal ground, 422
    /// (reference K.58), not a malformed body.
    #[serde(default)]
    ground: String,
    reasoning: String,
}

/// Refuses a caller whose role may not `action` (403, audited).
async fn require(app: &Kirjuri, caller: &Caller, action: Action) -> Result<()> {
    Ok(app
        .require_requests(&caller.actor, caller.id, action)
        .await?)
}

/// `POST /api/v1/requests` — 201 `{id, reference, state, due_date}`.
pub async fn register(
    State(app): State<Kirjuri>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: RegisterInput = json_body(&app, &headers, body).await?;
    let registered = app
        .register_request(&caller.actor, caller.id, input)
        .await?;
    let mut response = (StatusCode::CREATED, Json(&registered)).into_response();
    if let Ok(location) = format!("/api/v1/requests/{}", registered.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/requests` — `{"requests": [...]}`, overdue first.
pub async fn queue(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    let requests = app.request_queue(&caller.actor, caller.id).await?;
    Ok(Json(json!({ "requests": requests })).into_response())
}

/// `GET /api/v1/requests/{id}`.
pub async fn show(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    require(&app, &caller, Action::ReadRequests).await?;
    let view = app
        .read_request(&caller.actor, caller.id, parse_request_id(&id)?)
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/requests/{id}/verification` — in person or a code
/// confirmed: 200 `{assurance, state, verification, request}`; a code
/// sent: 202 `{method, sent_to, expires_at, tries}`.
pub async fn verification(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: VerificationInput = json_body(&app, &headers, body).await?;
    let outcome = app
        .verify_request(&caller.actor, caller.id, parse_request_id(&id)?, input)
        .await?;
    Ok(match outcome {
        VerificationOutcome::Verified { assurance, request } => Json(json!({
            "assurance": assurance,
            "state": request.state,
            "verification": request.verification,
            "request": request,
        }))
        .into_response(),
        VerificationOutcome::CodeSent(sent) => (StatusCode::ACCEPTED, Json(sent)).into_response(),
    })
}

/// `POST /api/v1/requests/{id}/transition` `{"transition"}`.
pub async fn transition(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: TransitionBody = json_body(&app, &headers, body).await?;
    let view = app
        .move_request(
            &caller.actor,
            caller.id,
            parse_request_id(&id)?,
            &input.transition,
        )
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/requests/{id}/extension` `{"months", "reason"}`.
pub async fn extension(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: ExtensionBody = json_body(&app, &headers, body).await?;
    let view = app
        .extend_request(
            &caller.actor,
            caller.id,
            parse_request_id(&id)?,
            input.months,
            &input.reason,
        )
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/requests/{id}/refusal` `{"ground", "reasoning"}`.
pub async fn propose_refusal(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: RefusalBody = json_body(&app, &headers, body).await?;
    let view = app
        .propose_refusal(
            &caller.actor,
            caller.id,
            parse_request_id(&id)?,
            &input.ground,
            &input.reasoning,
        )
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/requests/{id}/refusal/approve` (no body).
pub async fn approve_refusal(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let view = app
        .approve_refusal(&caller.actor, caller.id, parse_request_id(&id)?)
        .await?;
    Ok(Json(view).into_response())
}

/// `GET /api/v1/requests/{id}/package` — the one parameter.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageQuery {
    purpose: Option<String>,
}

/// `GET /api/v1/requests/{id}/package?purpose=data_subject_request` — the
/// access package, streamed as it is written (`application/zip`, named
/// after the request's reference).
pub async fn package(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<PackageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let query = params::query(query)?;
    let purpose = require_purpose(query.purpose.as_deref())?;
    let package = app
        .access_package(&caller.actor, caller.id, parse_request_id(&id)?, purpose)
        .await?;
    zip_response(package)
}

/// An access package as a response: streamed as it is written
/// (`application/zip`, named after the request's reference, never cached)
/// — for staff and for the requester's delivery link alike.
pub fn zip_response(package: kirjuri_app::requests::AccessPackage) -> Result<Response> {
    let disposition = format!("attachment; filename=\"{}.zip\"", package.reference);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(package.body));
    Ok(axum::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .map_err(|e| kirjuri_app::Error::Other {
            step: "failed to build a response",
            source: Box::new(e),
        })?)
}

/// `POST /api/v1/requests/{id}/deliver` (no body) — 201 `{expires_at}`:
/// the link went to the requester's proven address; staff never get it.
pub async fn deliver(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let delivered = app
        .deliver_package(&caller.actor, caller.id, parse_request_id(&id)?)
        .await?;
    Ok((StatusCode::CREATED, Json(delivered)).into_response())
}

/// `POST /api/v1/requests/{id}/third-party-review` `{"decision", "note"}`
/// — the request after it.
pub async fn third_party_review(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: ReviewInput = json_body(&app, &headers, body).await?;
    let view = app
        .review_third_parties(&caller.actor, caller.id, parse_request_id(&id)?, input)
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/requests/{id}/execute` `{"action"}` — 200 with what was
/// done and, for an erasure, the signed receipt.
pub async fn execute(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: ExecuteInput = json_body(&app, &headers, body).await?;
    let executed = app
        .execute_request(&caller.actor, caller.id, parse_request_id(&id)?, input)
        .await?;
    Ok(Json(executed).into_response())
}

/// `GET /api/v1/requests/{id}/receipt` — the signed erasure receipt file.
pub async fn receipt(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    require(&app, &caller, Action::ReadRequests).await?;
    let receipt = app
        .request_receipt(&caller.actor, caller.id, parse_request_id(&id)?)
        .await?;
    Ok(Json(receipt).into_response())
}

/// `GET /api/v1/requests/{id}/recipient-tasks` — the request's Art. 19
/// follow-up tasks.
pub async fn recipient_tasks(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    require(&app, &caller, Action::ReadRequests).await?;
    let tasks = app
        .recipient_tasks(&caller.actor, caller.id, parse_request_id(&id)?)
        .await?;
    Ok(Json(json!({ "tasks": tasks })).into_response())
}

/// `POST /api/v1/requests/{id}/recipient-tasks/{task}` —
/// `{"outcome": "notified"|"impossible"|"disproportionate", "reason"?}`.
pub async fn close_recipient_task(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path((id, task)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::HandleRequests).await?;
    let input: CloseTaskInput = json_body(&app, &headers, body).await?;
    let task = task
        .parse()
        .map_err(|_| kirjuri_app::error::Error::NotFound)?;
    let closed = app
        .close_recipient_task(
            &caller.actor,
            caller.id,
            parse_request_id(&id)?,
            task,
            input,
        )
        .await?;
    Ok(Json(closed).into_response())
}
