//! The HTTP API (the README's tables): routing, authentication of the
//! caller, body limits, and translating between HTTP and the application.
//! Handlers are thin: they parse, call one `Kirjuri` method, and shape the
//! answer. Access decisions and audit happen in the methods they call.

mod accounts;
mod audit;
pub mod connections;
mod contacts;
pub mod cookies;
mod disclosures;
mod forms;
mod incidents;
mod metrics;
pub mod openapi;
pub(crate) mod params;
pub mod range;
mod recipients;
mod register;
pub(crate) mod requests;
mod retention;
mod statistics;
mod surveys;
pub mod transport;

use std::future::Future;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use kirjuri_core::access::Actor;
use kirjuri_core::ids::UserId;
use kirjuri_core::ticket::TicketReference;
use tokio::net::TcpListener;
use tower_http::timeout::{RequestBodyTimeoutLayer, ResponseBodyTimeoutLayer};

use crate::error::{HttpError, Result};
use crate::http::openapi::operations;
use crate::ui;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::session::{self, Session};

/// The authenticated caller of a request: a bearer token (integrations,
/// scripts) or a browser session cookie (the UI). With a cookie, every unsafe
/// method (POST, PUT, PATCH, DELETE) must also carry the session's CSRF token
/// in `X-CSRF-Token`, or it is refused (403 `csrf_failed`) before the handler
/// runs; a bearer token needs none, as no browser attaches one by itself.
/// An `Authorization` header, when present, is the only credential looked at.
#[derive(Debug, Clone)]
pub struct Caller {
    /// For the access decision.
    pub actor: Actor,
    /// For the audit log.
    pub id: UserId,
    /// The browser session, when the caller came with a cookie.
    pub session: Option<Session>,
}

impl Caller {
    /// The actor with this request's ticket reference (`reason=`, ACC-1).
    pub fn actor_with_reason(&self, reason: Option<TicketReference>) -> Actor {
        let mut actor = self.actor.clone();
        actor.reason = reason;
        actor
    }
}

impl FromRequestParts<Kirjuri> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &Kirjuri) -> Result<Self> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| Error::Unauthenticated)?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or(Error::Unauthenticated)?
                .trim();
            let (actor, id) = app.authenticate_token(token).await?;
            return Ok(Caller {
                actor,
                id,
                session: None,
            });
        }
        let secret = cookies::session_secret(&parts.headers).ok_or(Error::Unauthenticated)?;
        let (actor, id, session) = app.authenticate_session(secret).await?;
        let safe = matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        if !safe {
            let presented = parts
                .headers
                .get(session::CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !session.csrf_matches(presented) {
                return Err(Error::CsrfFailed.into());
            }
        }
        Ok(Caller {
            actor,
            id,
            session: Some(session),
        })
    }
}

/// Whether a route may be reached without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed: only liveness, sign-in and static assets.
    Public,
    /// Every handler takes a [`Caller`] and calls the access decision.
    Guarded,
}

/// One route: the single list the router is built from and the
/// route-coverage test walks, so the two cannot drift apart.
pub struct RouteSpec {
    /// The axum path, e.g. `/api/v1/contacts/{id}`.
    pub path: &'static str,
    /// Public or guarded.
    pub access: Access,
    /// The handlers per method.
    pub handler: MethodRouter<Kirjuri>,
    /// The OpenAPI description of each method, for every API route
    /// (`/api/…` and the machine endpoints); empty for the UI's pages.
    pub doc: Vec<openapi::Op>,
}

impl RouteSpec {
    fn guarded(path: &'static str, handler: MethodRouter<Kirjuri>) -> Self {
        Self {
            path,
            access: Access::Guarded,
            handler,
            doc: Vec::new(),
        }
    }

    fn public(path: &'static str, handler: MethodRouter<Kirjuri>) -> Self {
        Self {
            path,
            access: Access::Public,
            handler,
            doc: Vec::new(),
        }
    }

    /// The OpenAPI description of the route's methods (`openapi::operations`).
    fn doc(mut self, doc: Vec<openapi::Op>) -> Self {
        self.doc = doc;
        self
    }
}

/// Every route of the API. Add new routes here — nowhere else.
pub fn routes() -> Vec<RouteSpec> {
    vec![
        RouteSpec::public("/healthz", get(healthz)).doc(operations::healthz()),
        RouteSpec::public("/api/v1/openapi.json", get(openapi::serve)).doc(operations::openapi()),
        RouteSpec::guarded("/metrics", get(metrics::scrape)).doc(operations::metrics()),
        RouteSpec::guarded(
            "/api/v1/contacts",
            get(contacts::search).post(contacts::create),
        )
        .doc(operations::contacts()),
        RouteSpec::guarded("/api/v1/contacts/{id}", get(contacts::read)).doc(operations::contact()),
        RouteSpec::guarded("/api/v1/contacts/{id}/history", get(contacts::history))
            .doc(operations::contact_history()),
        RouteSpec::guarded("/api/v1/audit", get(audit::list)).doc(operations::audit()),
        RouteSpec::guarded(
            "/api/v1/contacts/{id}/recording",
            put(contacts::upload_recording).get(contacts::download_recording),
        )
        .doc(operations::recording()),
        RouteSpec::guarded(
            "/api/v1/contacts/{id}/transcript",
            put(contacts::upload_transcript).get(contacts::download_transcript),
        )
        .doc(operations::transcript()),
        RouteSpec::guarded(
            "/api/v1/contacts/{id}/message",
            put(contacts::upload_message).get(contacts::download_message),
        )
        .doc(operations::message()),
        RouteSpec::guarded("/api/v1/forms", post(forms::submit)).doc(operations::forms()),
        RouteSpec::guarded("/api/v1/contacts/{id}/form", get(forms::read)).doc(operations::form()),
        RouteSpec::guarded("/api/v1/contacts/{id}/attachments", get(forms::list))
            .doc(operations::attachments()),
        RouteSpec::guarded(
            "/api/v1/contacts/{id}/attachments/{object}",
            get(forms::download),
        )
        .doc(operations::attachment()),
        // The chat system's webhook: its HMAC signature is its credential.
        RouteSpec::public("/api/v1/webhooks/chat", post(contacts::chat_webhook))
            .doc(operations::chat_webhook()),
        RouteSpec::guarded(
            "/api/v1/contacts/{id}/recording/playback",
            get(contacts::playback_recording),
        )
        .doc(operations::playback()),
        RouteSpec::guarded(
            "/api/v1/contacts/{id}/recording/peaks",
            get(contacts::recording_peaks),
        )
        .doc(operations::peaks()),
        // Sign-in (POST) is public; who-am-I (GET) and sign-out (DELETE) take a Caller.
        RouteSpec::public(
            "/api/v1/session",
            post(accounts::login)
                .get(accounts::whoami)
                .delete(accounts::logout),
        )
        .doc(operations::session()),
        RouteSpec::guarded("/api/v1/session/password", post(accounts::change_password))
            .doc(operations::password()),
        RouteSpec::guarded("/api/v1/session/totp", post(accounts::begin_totp))
            .doc(operations::totp()),
        RouteSpec::guarded("/api/v1/session/totp/confirm", post(accounts::confirm_totp))
            .doc(operations::totp_confirm()),
        RouteSpec::guarded(
            "/api/v1/tokens",
            get(accounts::list_tokens).post(accounts::create_token),
        )
        .doc(operations::tokens()),
        RouteSpec::guarded("/api/v1/tokens/{id}", delete(accounts::revoke_token))
            .doc(operations::token()),
        RouteSpec::guarded(
            "/api/v1/users",
            get(accounts::list_users).post(accounts::create_user),
        )
        .doc(operations::users()),
        RouteSpec::guarded("/api/v1/holds", get(retention::list).post(retention::place))
            .doc(operations::holds()),
        RouteSpec::guarded("/api/v1/holds/{id}", get(retention::show)).doc(operations::hold()),
        RouteSpec::guarded("/api/v1/holds/{id}/lift", post(retention::lift))
            .doc(operations::lift()),
        RouteSpec::guarded("/api/v1/holds/{id}/review", post(retention::review))
            .doc(operations::review()),
        RouteSpec::guarded("/api/v1/retention", get(retention::overview))
            .doc(operations::retention()),
        RouteSpec::guarded("/api/v1/processing-record", get(register::record))
            .doc(operations::processing_record()),
        RouteSpec::guarded("/api/v1/statistics/contacts", get(statistics::contacts))
            .doc(operations::statistics()),
        RouteSpec::guarded("/api/v1/statistics/surveys", get(statistics::surveys))
            .doc(operations::survey_statistics()),
        RouteSpec::guarded("/api/v1/statistics/requests", get(statistics::requests))
            .doc(operations::request_statistics()),
        RouteSpec::guarded(
            "/api/v1/statistics/disclosures",
            get(statistics::disclosures),
        )
        .doc(operations::disclosure_statistics()),
        RouteSpec::guarded("/api/v1/surveys/settings", get(surveys::list))
            .doc(operations::survey_settings()),
        RouteSpec::guarded("/api/v1/surveys/settings/{service}", put(surveys::put))
            .doc(operations::survey_setting()),
        // Kannel's delivery of a reply SMS: the secret in its query is the
        // credential (`http::surveys`).
        RouteSpec::public("/api/v1/surveys/replies", get(surveys::reply))
            .doc(operations::survey_replies()),
        RouteSpec::guarded(
            "/api/v1/requests",
            get(requests::queue).post(requests::register),
        )
        .doc(operations::requests()),
        RouteSpec::guarded("/api/v1/requests/{id}", get(requests::show)).doc(operations::request()),
        RouteSpec::guarded(
            "/api/v1/requests/{id}/verification",
            post(requests::verification),
        )
        .doc(operations::verification()),
        RouteSpec::guarded(
            "/api/v1/requests/{id}/transition",
            post(requests::transition),
        )
        .doc(operations::transition()),
        RouteSpec::guarded("/api/v1/requests/{id}/extension", post(requests::extension))
            .doc(operations::extension()),
        RouteSpec::guarded(
            "/api/v1/requests/{id}/refusal",
            post(requests::propose_refusal),
        )
        .doc(operations::refusal()),
        RouteSpec::guarded(
            "/api/v1/requests/{id}/refusal/approve",
            post(requests::approve_refusal),
        )
        .doc(operations::approve_refusal()),
        RouteSpec::guarded("/api/v1/requests/{id}/package", get(requests::package))
            .doc(operations::request_package()),
        RouteSpec::guarded("/api/v1/requests/{id}/deliver", post(requests::deliver))
            .doc(operations::deliver()),
        RouteSpec::guarded(
            "/api/v1/requests/{id}/third-party-review",
            post(requests::third_party_review),
        )
        .doc(operations::third_party_review()),
        RouteSpec::guarded("/api/v1/requests/{id}/execute", post(requests::execute))
            .doc(operations::execute()),
        RouteSpec::guarded("/api/v1/requests/{id}/receipt", get(requests::receipt))
            .doc(operations::receipt()),
        RouteSpec::guarded(
            "/api/v1/requests/{id}/recipient-tasks",
            get(requests::recipient_tasks),
        )
        .doc(operations::recipient_tasks()),
        RouteSpec::guarded(
            "/api/v1/requests/{id}/recipient-tasks/{task}",
            post(requests::close_recipient_task),
        )
        .doc(operations::recipient_task()),
        RouteSpec::guarded(
            "/api/v1/recipients",
            get(recipients::list).post(recipients::add),
        )
        .doc(operations::recipients()),
        RouteSpec::guarded(
            "/api/v1/incidents",
            get(incidents::list).post(incidents::record),
        )
        .doc(operations::incidents()),
        RouteSpec::guarded("/api/v1/incidents/{id}", get(incidents::show))
            .doc(operations::incident()),
        RouteSpec::guarded("/api/v1/incidents/{id}/updates", post(incidents::update))
            .doc(operations::incident_updates()),
        RouteSpec::guarded("/api/v1/incidents/{id}/impact", post(incidents::impact))
            .doc(operations::incident_impact()),
        RouteSpec::guarded(
            "/api/v1/disclosures",
            get(disclosures::list).post(disclosures::request),
        )
        .doc(operations::disclosures()),
        RouteSpec::guarded("/api/v1/disclosures/{id}", get(disclosures::show))
            .doc(operations::disclosure()),
        RouteSpec::guarded(
            "/api/v1/disclosures/{id}/approve",
            post(disclosures::approve),
        )
        .doc(operations::approve_disclosure()),
        RouteSpec::guarded("/api/v1/disclosures/{id}/refuse", post(disclosures::refuse))
            .doc(operations::refuse_disclosure()),
        RouteSpec::guarded(
            "/api/v1/disclosures/{id}/package",
            get(disclosures::package),
        )
        .doc(operations::disclosure_package()),
        RouteSpec::guarded("/api/v1/disclosures/{id}/link", post(disclosures::link))
            .doc(operations::disclosure_link()),
        RouteSpec::guarded("/api/v1/users/{name}", patch(accounts::change_user))
            .doc(operations::user()),
        RouteSpec::guarded("/api/v1/users/{name}/unlock", post(accounts::unlock_user))
            .doc(operations::unlock()),
        RouteSpec::guarded(
            "/api/v1/users/{name}/password",
            post(accounts::reset_password),
        )
        .doc(operations::reset_password()),
        // The web UI (issue 4). Pages answer an anonymous caller with a 303
        // to /login, never the page; sign-in and static assets are public.
        RouteSpec::public(
            "/login",
            get(ui::account::login_form).post(ui::account::login),
        ),
        RouteSpec::public("/static/{*path}", get(ui::asset::serve)),
        // The privacy notice (NOT-1): public, no sign-in.
        RouteSpec::public("/privacy", get(ui::privacy::notice)),
        RouteSpec::public("/privacy/versions", get(ui::privacy::versions)),
        RouteSpec::public("/privacy/versions/{version}", get(ui::privacy::version)),
        // The public request page (DSR-1): no account; its own form token
        // and a per-address allowance (`ui::public`).
        RouteSpec::public("/request", get(ui::public::form).post(ui::public::submit)),
        // The public contact form; its own body limit (the attachment's),
        // enforced in the handler after the allowance is taken.
        RouteSpec::public(
            "/contact",
            get(ui::contact_form::form)
                .post(ui::contact_form::submit)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        // The access package's delivery link (C.19): no account; the link's
        // token, a one-time code to the proven address, the same form token
        // and an allowance of its own (`ui::download`).
        RouteSpec::public(
            "/request/download/{token}",
            get(ui::download::page).post(ui::download::download),
        ),
        RouteSpec::public(
            "/request/download/{token}/code",
            post(ui::download::send_code),
        ),
        // A disclosure's one-time link (DIS-2): no account; the link's
        // token alone, used once by the POST (`ui::disclosures`).
        RouteSpec::public(
            "/disclosure/download/{token}",
            get(ui::disclosures::link_page).post(ui::disclosures::link_download),
        ),
        RouteSpec::guarded("/", get(ui::home)),
        RouteSpec::guarded("/logout", post(ui::account::logout)),
        RouteSpec::guarded(
            "/password",
            get(ui::account::password_form).post(ui::account::change_password),
        ),
        RouteSpec::guarded("/language", post(ui::account::set_language)),
        RouteSpec::guarded("/purpose", get(ui::purpose::form).post(ui::purpose::choose)),
        RouteSpec::guarded("/search", get(ui::search::form).post(ui::search::search)),
        RouteSpec::guarded("/contacts/{id}", get(ui::contact::page)),
        RouteSpec::guarded("/audit", get(ui::audit::page)),
        RouteSpec::guarded("/requests", get(ui::requests::queue)),
        RouteSpec::guarded("/incidents", get(ui::incidents::list)),
        RouteSpec::guarded(
            "/incidents/new",
            get(ui::incidents::new_form).post(ui::incidents::record),
        ),
        RouteSpec::guarded(
            "/incidents/{id}",
            get(ui::incidents::page).post(ui::incidents::act),
        ),
        RouteSpec::guarded("/disclosures", get(ui::disclosures::list)),
        RouteSpec::guarded("/statistics", get(ui::statistics::page)),
        RouteSpec::guarded("/surveys", get(ui::surveys::page).post(ui::surveys::save)),
        RouteSpec::guarded(
            "/recipients",
            get(ui::recipients::page).post(ui::recipients::add),
        ),
        RouteSpec::guarded(
            "/disclosures/new",
            get(ui::disclosures::new_form).post(ui::disclosures::create),
        ),
        RouteSpec::guarded(
            "/disclosures/{id}",
            get(ui::disclosures::page).post(ui::disclosures::act),
        ),
        RouteSpec::guarded(
            "/requests/new",
            get(ui::requests::new_form).post(ui::requests::register),
        ),
        RouteSpec::guarded(
            "/requests/{id}",
            get(ui::requests::page).post(ui::requests::act),
        ),
        RouteSpec::guarded(
            "/admin/users",
            get(ui::admin::users).post(ui::admin::add_user),
        ),
        RouteSpec::guarded("/admin/users/{name}", post(ui::admin::user_action)),
        RouteSpec::guarded("/admin/registrars", post(ui::admin::registrar)),
        RouteSpec::guarded("/admin/tokens", get(ui::admin::tokens)),
        RouteSpec::guarded("/admin/tokens/{id}/revoke", post(ui::admin::revoke_token)),
    ]
}

/// The application's router, built from [`routes`].
pub fn router(app: Kirjuri) -> Router {
    let tls = app.config.tls_cert.is_some();
    let idle = std::time::Duration::from_secs(app.config.body_idle_timeout_seconds);
    let mut router = Router::new();
    for spec in routes() {
        router = router.route(spec.path, spec.handler);
    }
    router
        .fallback(not_found)
        // A method a path does not take gets the one error shape too (axum's
        // own 405 has an empty body); axum still adds the `Allow` header.
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the router's matching (route_layer would miss the
        // fallback): every answer is counted, by template.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            metrics::count,
        ))
        .layer(axum::middleware::map_response_with_state(
            tls,
            transport::security_headers,
        ))
        .layer(axum::middleware::from_fn(close_after_refused_body))
        // A client that stops sending (or reading) for this long is cut off;
        // long uploads and downloads are fine as long as bytes keep moving.
        .layer(RequestBodyTimeoutLayer::new(idle))
        .layer(ResponseBodyTimeoutLayer::new(idle))
        .with_state(app)
}

/// A request body shared between the handler and [`close_after_refused_body`],
/// which looks after the handler whether the body was read to its end.
struct SharedBody {
    slot: std::sync::Arc<std::sync::Mutex<Option<axum::body::Body>>>,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for SharedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, axum::Error>>>
    {
        let mut slot = match self.slot.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        let polled = match slot.as_mut() {
            Some(body) => std::pin::Pin::new(body).poll_frame(cx),
            None => std::task::Poll::Ready(None),
        };
        if matches!(polled, std::task::Poll::Ready(None)) {
            self.ended.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

/// A refusal sent before the request body was read to its end (401, 413,
/// 415, …) must not leave the unread rest to be taken for the next request
/// on a kept-alive connection, nor be lost to a reset because the client
/// was still sending. Such an answer carries `Connection: close`, and the
/// connection layer then lingers: it half-closes and discards what still
/// arrives, bounded in bytes, time and count (see `connections`). Nothing
/// of the body is ever buffered here.
async fn close_after_refused_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    if !has_body {
        return next.run(request).await;
    }
    let lingering = request
        .extensions()
        .get::<connections::Lingering>()
        .cloned();
    let (parts, body) = request.into_parts();
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(body)));
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shared = SharedBody {
        slot: std::sync::Arc::clone(&slot),
        ended: std::sync::Arc::clone(&ended),
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::new(shared));
    let mut response = next.run(request).await;
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let at_end = ended.load(std::sync::atomic::Ordering::Relaxed)
        || match slot.lock() {
            Ok(slot) => slot.as_ref().is_none_or(http_body::Body::is_end_stream),
            Err(poisoned) => poisoned
                .into_inner()
                .as_ref()
                .is_none_or(http_body::Body::is_end_stream),
        };
    if !at_end {
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        if let Some(lingering) = lingering {
            lingering.after_response();
        }
    }
    response
}

async fn healthz(State(_): State<Kirjuri>) -> &'static str {
    "ok"
}

async fn not_found() -> HttpError {
    HttpError(Error::NotFound)
}

async fn method_not_allowed() -> HttpError {
    HttpError(Error::MethodNotAllowed)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets
/// in-flight requests (uploads included) finish before returning. The
/// connection limits (`header_read_timeout_seconds`,
/// `keep_alive_idle_seconds`, `max_connections`) are checked first.
pub async fn serve(
    app: Kirjuri,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> kirjuri_app::Result<()> {
    let limits = connections::Limits::from_config(&app.config)?;
    let tls = match (&app.config.tls_cert, &app.config.tls_key) {
        (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(transport::load_tls(
            cert, key,
        )?)),
        (None, None) => None,
        _ => {
            return Err(Error::config(
                "tls_cert",
                "and tls_key go together: set both, or neither",
            ));
        }
    };
    connections::run(listener, tls, router(app), limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use kirjuri_core::clock::SystemClock;
    use tower::ServiceExt;

    use super::*;
    use kirjuri_app::config::Config;

    /// The only routes that may answer without credentials: health, the API
    /// description, sign-in, assets, the public request form and the privacy
    /// notice.
    const PUBLIC_ALLOWED: &[&str] = &[
        "/healthz",
        "/api/v1/openapi.json",
        "/api/v1/session",
        "/login",
        "/static/{*path}",
        "/request",
        "/contact",
        "/request/download/{token}",
        "/request/download/{token}/code",
        "/disclosure/download/{token}",
        "/privacy",
        "/privacy/versions",
        "/privacy/versions/{version}",
        "/api/v1/webhooks/chat",
        "/api/v1/surveys/replies",
    ];

    fn concrete(path: &str) -> String {
        path.split('/')
            .map(|part| match part {
                p if p.starts_with("{*") => "x.css".to_owned(),
                p if p.starts_with('{') => "0192f5c4-8f5e-7000-8000-000000000001".to_owned(),
                p => p.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[tokio::test]
    async fn every_route_but_health_sign_in_and_static_assets_refuses_an_anonymous_caller() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data: dir.path().to_path_buf(),
            ..Config::default()
        };
        let app = Kirjuri::open(config, Arc::new(SystemClock)).await.unwrap();
        let specs = routes();
        assert!(specs.len() >= 4);
        for spec in &specs {
            if spec.access == Access::Public {
                assert!(
                    PUBLIC_ALLOWED.contains(&spec.path),
                    "{} must not be public",
                    spec.path
                );
                continue;
            }
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ] {
                let request = Request::builder()
                    .method(method.clone())
                    .uri(format!("{}?purpose=quality_assurance", concrete(spec.path)))
                    .header("content-type", "application/json")
                    .body(Body::from("{}"))
                    .unwrap();
                let response = router(app.clone()).oneshot(request).await.unwrap();
                let status = response.status();
                // An HTML page sends an anonymous browser to sign in (and
                // back); it never answers 200.
                let to_sign_in = !spec.path.starts_with("/api/")
                    && status == StatusCode::SEE_OTHER
                    && response.headers()[axum::http::header::LOCATION]
                        .to_str()
                        .unwrap()
                        .starts_with("/login");
                assert!(
                    status == StatusCode::UNAUTHORIZED
                        || status == StatusCode::METHOD_NOT_ALLOWED
                        || to_sign_in,
                    "{method} {} answered {status} to an anonymous caller",
                    spec.path
                );
            }
        }
    }
}
