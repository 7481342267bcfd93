//! The HTTP API (DESIGN.md "Interfaces"): routing, authentication of the
//! caller, body limits, and translating between HTTP and the application.
//! Handlers are thin: they parse, call one `Kirjuri` method, and shape the
//! answer. Access decisions and audit happen in the methods they call.

mod contacts;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::routing::{get, put};
use kirjuri_core::access::Actor;
use kirjuri_core::ids::UserId;
use tokio::net::TcpListener;

use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// For the access decision.
    pub actor: Actor,
    /// For the audit log.
    pub id: UserId,
}

impl FromRequestParts<Kirjuri> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Kirjuri) -> Result<Self> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(Error::Unauthenticated)?;
        let value = value.to_str().map_err(|_| Error::Unauthenticated)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(Error::Unauthenticated)?
            .trim();
        let (actor, id) = app.authenticate_token(token).await?;
        Ok(Caller { actor, id })
    }
}

/// Every route of the API.
pub fn router(app: Kirjuri) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/api/v1/contacts",
            get(contacts::search).post(contacts::create),
        )
        .route("/api/v1/contacts/{id}", get(contacts::read))
        .route(
            "/api/v1/contacts/{id}/recording",
            put(contacts::upload_recording).get(contacts::download_recording),
        )
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

async fn healthz(State(_): State<Kirjuri>) -> &'static str {
    "ok"
}

async fn not_found() -> Error {
    Error::NotFound
}

async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    response
}

/// Serves the API on `listener` until `shutdown` resolves, then lets
/// in-flight requests (uploads included) finish before returning.
pub async fn serve(
    app: Kirjuri,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| Error::Internal(format!("the HTTP server failed: {e}")))
}
