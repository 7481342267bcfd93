//! Handlers for `/api/v1/contacts…`: create, read, search, the recording's,
//! the chat transcript's and the email message's upload and download, and the chat system's
//! signed webhook (`/api/v1/webhooks/chat`). A reader's `reason=` is parsed
//! here into a ticket reference (`INC-12345`) or refused (400
//! `invalid_reason`): it goes to the audit log, which is never purged, so
//! free text never may.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::BodyExt;
use kirjuri_core::access::Action;
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::ContactId;
use kirjuri_core::ticket::TicketReference;
use serde::Deserialize;
use serde_json::json;

use super::Caller;
use super::params::{self, content_type, require_content_type};
use crate::error::Result;
use crate::http::range::RangeHeader;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::intake::Created;
use kirjuri_app::read::RangeRequest;
use kirjuri_app::read::{RecordingBody, SearchQuery, require_purpose};

/// The `?purpose=` of a single read; anything else in the query is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    purpose: Option<String>,
    /// A ticket reference (`INC-12345`; a maintainer must give one, ACC-1).
    reason: Option<String>,
}

/// Parses `reason=`: absent or blank is none; anything else must be a
/// ticket reference (`INC-12345`), since it is kept in the audit log for
/// good and free text there would keep whatever personal data it held.
pub fn ticket_reference(reason: Option<&str>) -> kirjuri_app::Result<Option<TicketReference>> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(reason) => TicketReference::parse(reason, "reason")
            .map(Some)
            .map_err(|e| Error::bad_request("invalid_reason", e.to_string())),
    }
}

/// The acting account (with its stated reason) and the purpose of a single
/// read, from its query string; unknown parameters and a missing or unknown
/// purpose are refused.
pub(super) fn read_context(
    caller: &Caller,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(kirjuri_core::access::Actor, kirjuri_core::purpose::Purpose)> {
    let query = params::query(query)?;
    let purpose = require_purpose(query.purpose.as_deref())?;
    let reason = ticket_reference(query.reason.as_deref())?;
    Ok((caller.actor_with_reason(reason), purpose))
}

pub(super) fn contact_id(raw: &str) -> kirjuri_app::Result<ContactId> {
    // A malformed id cannot name anything: same answer as a missing one.
    raw.parse().map_err(|_| Error::NotFound)
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads a whole (small) body, refusing it (413) when its declared length
/// or the bytes that came pass `limit`.
pub(super) async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge {
            limit: limit as u64,
        }
        .into());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::TooLarge {
            limit: limit as u64,
        }
        .into()),
        Err(_) => Err(Error::BodyRead.into()),
    }
}

/// `POST /api/v1/contacts`.
pub async fn create(
    State(app): State<Kirjuri>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::CreateContact, None)
        .await?;
    require_content_type(
        &headers,
        "application/json",
        "a contact must be sent as Content-Type: application/json",
    )?;
    let bytes = read_limited(&headers, body, app.config.max_json_bytes).await?;
    let input = ContactInput::from_json(&bytes)?;
    let (id, created) = app.create_contact(Some(caller.id), input).await?;
    let mut response = (created_status(created), Json(json!({ "id": id }))).into_response();
    if let Ok(location) = format!("/api/v1/contacts/{id}").parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/contacts/{id}?purpose=…`.
pub async fn read(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let view = app
        .read_contact(&actor, caller.id, contact_id(&id)?, purpose)
        .await?;
    Ok(Json(view).into_response())
}

/// `GET /api/v1/contacts/{id}/history?purpose=data_subject_request`: the
/// contact's earlier versions kept by rectifications, opened — for those
/// who handle data-subject requests only.
pub async fn history(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let versions = app
        .contact_history(&actor, caller.id, contact_id(&id)?, purpose)
        .await?;
    Ok(Json(json!({ "contact": id, "versions": versions })).into_response())
}

/// `GET /api/v1/contacts?phone=…&purpose=…`.
pub async fn search(
    State(app): State<Kirjuri>,
    caller: Caller,
    query: std::result::Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = params::query(query)?;
    let actor = caller.actor_with_reason(ticket_reference(query.reason.as_deref())?);
    let found = app.search(&actor, caller.id, &query).await?;
    Ok(Json(json!({
        "contacts": found.contacts,
        "count": found.contacts.len(),
        "withheld": found.withheld,
    }))
    .into_response())
}

/// `PUT /api/v1/contacts/{id}/recording` — the WAV body, streamed.
pub async fn upload_recording(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::UploadRecording, None)
        .await?;
    let id = contact_id(&id)?;
    if !matches!(
        content_type(&headers),
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave"
    ) {
        return Err(Error::UnsupportedMediaType(
            "a recording must be sent as Content-Type: audio/wav",
        )
        .into());
    }
    let limit = app.config.max_recording_bytes;
    if declared_length(&headers).is_some_and(|n| n > limit) {
        return Err(Error::TooLarge { limit }.into());
    }
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(|e| e.to_string()));
    let (ack, created) = app
        .store_recording(Some(caller.id), id, stream, limit)
        .await?;
    let status = if created == Created::New {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ack)).into_response())
}

/// `GET /api/v1/contacts/{id}/recording?purpose=…`, honouring `Range`.
pub async fn download_recording(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    send_recording(&app, &caller, &id, &headers, query, Rendition::Original).await
}

/// `GET /api/v1/contacts/{id}/recording/playback?purpose=…`: 16-bit PCM WAV
/// that every browser plays, honouring `Range` for seeking.
pub async fn playback_recording(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    send_recording(&app, &caller, &id, &headers, query, Rendition::Playback).await
}

/// Which form of a recording a read sends.
#[derive(Debug, Clone, Copy)]
enum Rendition {
    /// The stored file, as a download.
    Original,
    /// 16-bit PCM for the browser's player, inline.
    Playback,
}

/// A recording read: the purpose from the query, the range from `Range`,
/// then the bytes in the asked-for form.
async fn send_recording(
    app: &Kirjuri,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
    rendition: Rendition,
) -> Result<Response> {
    let (actor, purpose) = read_context(caller, query)?;
    let range = RangeHeader::from_headers(headers);
    let (id, range) = (contact_id(id)?, range_request(&range));
    match rendition {
        Rendition::Original => audio_response(
            app.read_recording(&actor, caller.id, id, purpose, range)
                .await?,
            "attachment",
        ),
        Rendition::Playback => audio_response(
            app.read_playback(&actor, caller.id, id, purpose, range)
                .await?,
            "inline",
        ),
    }
}

/// `GET /api/v1/contacts/{id}/recording/peaks?purpose=…`: the waveform.
pub async fn recording_peaks(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let peaks = app
        .read_peaks(&actor, caller.id, contact_id(&id)?, purpose)
        .await?;
    Ok(Json(peaks).into_response())
}

/// A WAV body, whole (200) or one range (206).
fn audio_response(body: RecordingBody, disposition: &'static str) -> Result<Response> {
    let mut builder = axum::http::Response::builder()
        .header(header::CONTENT_TYPE, "audio/wav")
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::ACCEPT_RANGES, "bytes");
    builder = match &body.range {
        Some(range) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", range.start(), range.end(), body.total_len),
            )
            .header(header::CONTENT_LENGTH, range.end() - range.start() + 1),
        None => builder
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, body.total_len),
    };
    Ok(builder
        .body(Body::from_stream(body.stream))
        .map_err(|e| Error::Other {
            step: "failed to build a response",
            source: Box::new(e),
        })?)
}

/// The parsed `Range`, as the application takes it.
fn range_request(range: &Option<RangeHeader>) -> Option<&dyn RangeRequest> {
    range.as_ref().map(|r| r as &dyn RangeRequest)
}

/// `PUT /api/v1/contacts/{id}/transcript` — a chat's transcript JSON,
/// answered like a recording (201 with its sha256, the same bytes again 200,
/// different bytes 409).
pub async fn upload_transcript(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::UploadRecording, None)
        .await?;
    let id = contact_id(&id)?;
    require_content_type(
        &headers,
        "application/json",
        "a transcript must be sent as Content-Type: application/json",
    )?;
    let bytes = read_limited(&headers, body, kirjuri_core::transcript::MAX_BYTES).await?;
    let (ack, created) = app.store_transcript(Some(caller.id), id, &bytes).await?;
    Ok((created_status(created), Json(ack)).into_response())
}

/// `GET /api/v1/contacts/{id}/transcript?purpose=…`: the transcript as
/// delivered.
pub async fn download_transcript(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let bytes = app
        .read_transcript(&actor, caller.id, contact_id(&id)?, purpose)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

/// `PUT /api/v1/contacts/{id}/message` — an email contact's whole RFC 5322
/// message (`message/rfc822`), stored bit-exact and answered like a
/// recording (201 with its sha256, the same bytes again 200, different
/// bytes 409).
pub async fn upload_message(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::UploadRecording, None)
        .await?;
    let id = contact_id(&id)?;
    require_content_type(
        &headers,
        "message/rfc822",
        "a message must be sent as Content-Type: message/rfc822",
    )?;
    let bytes = read_limited(&headers, body, app.config.email.max_message_bytes).await?;
    let (ack, created) = app.store_message(Some(caller.id), id, &bytes).await?;
    Ok((created_status(created), Json(ack)).into_response())
}

/// `GET /api/v1/contacts/{id}/message?purpose=…`: the message as
/// delivered, bit for bit.
pub async fn download_message(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let bytes = app
        .read_message(&actor, caller.id, contact_id(&id)?, purpose)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822"),
            (header::CONTENT_DISPOSITION, "attachment"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /api/v1/webhooks/chat`: the chat system's signed delivery of a
/// contact and its transcript. Public: the HMAC signature is its credential,
/// checked before the body is parsed.
pub async fn chat_webhook(
    State(app): State<Kirjuri>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    // The contact and the transcript, each within its own bound.
    let limit = kirjuri_core::transcript::MAX_BYTES + app.config.max_json_bytes;
    let bytes = read_limited(&headers, body, limit).await?;
    let signature = headers
        .get(kirjuri_app::transcripts::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let (ack, created) = app.receive_chat_webhook(signature, &bytes).await?;
    Ok((created_status(created), Json(ack)).into_response())
}

/// 201 for what was new, 200 for the same delivery again.
pub(super) fn created_status(created: Created) -> StatusCode {
    if created == Created::New {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}
