//! `GET /metrics` (Prometheus/OpenMetrics text) and the middleware that
//! counts every request by its route *template* — never the concrete path,
//! which may carry an id or an identifier. Thin: the access decision
//! (maintainers and administrators, by bearer token or session) and the
//! values are `kirjuri_app::metrics`'s.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Caller;
use crate::error::Result;
use kirjuri_app::app::Kirjuri;

/// What Prometheus asks for first and parses; the text ends with `# EOF`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`.
pub async fn scrape(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    let text = app.metrics_text(&caller.actor, caller.id).await?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    Ok(response)
}

/// Counts the request once its answer's head is ready, labelled by the
/// matched route's template (`unmatched` when no route matched).
pub async fn count(State(app): State<Kirjuri>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    app.metrics.request(
        route.as_deref(),
        method.as_str(),
        response.status().as_u16(),
    );
    response
}
