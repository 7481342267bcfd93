//! Who is looking at a page, in which language, for which purpose — and what
//! they see when something goes wrong.
//!
//! * [`Staff`] resolves the session cookie (never a bearer token: pages are
//!   for people) to the account, its session, the purpose chosen in the
//!   session and the account's language. Without a valid session the answer
//!   is a 303 to `/login?next=<this page>`, never the page.
//! * [`Posted`] is a form submission: a [`Staff`] plus the urlencoded body,
//!   accepted only when its `csrf_token` field is the session's CSRF token
//!   (SEC-4). The API's `Caller` wants the token in a header, which a plain
//!   HTML form cannot send; this is the form-field half of the same rule.
//! * [`PageError`] renders any [`Error`] as a page in plain language with
//!   its error code — never a stack trace, a cause, or a submitted value.
//!
//! Not here: the access decision (every page calls a `Kirjuri` method that
//! asks it) and the pages themselves.

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kirjuri_core::access::{Action, Actor, Object, authorize};
use kirjuri_core::ids::UserId;
use kirjuri_core::purpose::Purpose;
use kirjuri_core::role::Role;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::i18n::{Lang, Tr};
use super::{asset, html};
use crate::http::cookies;
pub use crate::http::cookies::cookie;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::session::Session;

/// The cookie that remembers the language before sign-in (and after).
pub const LANG_COOKIE: &str = "kirjuri_lang";

/// The largest form body a page accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Error codes with a translated explanation (`error.<code>`); any other
/// code gets the generic text, and every page shows the code itself.
pub const TRANSLATED_ERRORS: &[&str] = &[
    "generic",
    "not_found",
    "forbidden",
    "csrf_failed",
    "login_failed",
    "totp_required",
    "too_many_requests",
    "busy",
    "purpose_required",
    "purpose_unknown",
    "invalid_identifier",
    "invalid_parameter",
    "invalid_value",
    "weak_password",
    "common_password",
    "user_exists",
    "own_account",
    "last_admin",
    "nothing_to_change",
    "reason_required",
    "range_not_satisfiable",
    "body_too_large",
    "internal",
    "not_verified",
    "refusal_needs_approval",
    "transition_refused",
    "own_refusal",
    "code_wrong",
    "code_exhausted",
    "code_expired",
    "no_code",
    "request_changed",
    "request_closed",
    "refusal_pending",
    "no_refusal_proposed",
    "extension_refused",
    "invalid_body",
    "invalid_document_last4",
    "invalid_text",
    "unknown_identifier",
    "invalid_code",
];

/// A signed-in person looking at a page.
#[derive(Debug, Clone)]
pub struct Staff {
    /// For the access decision.
    pub actor: Actor,
    /// For the audit log.
    pub id: UserId,
    /// The browser session.
    pub session: Session,
    /// The purpose chosen in this session, if any (ACC-2).
    pub purpose: Option<Purpose>,
    /// The account's language.
    pub lang: Lang,
    /// This page's path and query, for `next=` links.
    pub here: String,
}

/// The language for a request without an account: the cookie's, or Finnish.
pub fn cookie_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::from_code)
        .unwrap_or(Lang::Fi)
}

/// The `Set-Cookie` value remembering a language for a year.
pub fn lang_cookie(lang: Lang, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}",
        lang.code()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("kirjuri_lang=fi; Path=/"))
}

/// `next` if it is a path on this site, else `None`: a sign-in link must
/// never send anyone elsewhere (an open redirect).
pub fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        && !next.starts_with("/login")
        // Form-only actions: coming back to them by GET would answer 405.
        && !next.starts_with("/logout")
        && !next.starts_with("/language")
        && !next.starts_with("/static/")
        && !next.starts_with("/api/");
    local.then(|| next.to_owned())
}

/// Percent-encodes a value for a query string.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The sign-in page, coming back to `here` afterwards.
pub fn to_login(here: &str) -> Response {
    match local_path(Some(here)) {
        Some(next) if next != "/" => {
            Redirect::to(&format!("/login?next={}", encode_query(&next))).into_response()
        }
        _ => Redirect::to("/login").into_response(),
    }
}

fn here(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned())
}

impl FromRequestParts<Kirjuri> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Kirjuri) -> Result<Self, Response> {
        let here = here(parts);
        let lang = cookie_lang(&parts.headers);
        let Some(secret) = cookies::session_secret(&parts.headers) else {
            return Err(to_login(&here));
        };
        let (actor, id, session) = match app.authenticate_session(secret).await {
            Ok(found) => found,
            Err(Error::Unauthenticated) => return Err(to_login(&here)),
            Err(e) => return Err(PageError::new(lang, e).into_response()),
        };
        let preferences = match app.store.session_preferences(&session.id()).await {
            Ok(p) => p,
            Err(e) => return Err(PageError::new(lang, e.into()).into_response()),
        };
        Ok(Staff {
            actor,
            id,
            session,
            purpose: preferences.purpose.and_then(|p| p.parse().ok()),
            lang: preferences
                .language
                .as_deref()
                .and_then(Lang::from_code)
                .unwrap_or(lang),
            here,
        })
    }
}

impl Staff {
    /// Translations in this person's language.
    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }

    /// The purpose chosen in this session, or the purpose page (coming back
    /// here afterwards): no personal data shows before a purpose is chosen.
    #[allow(
        clippy::result_large_err,
        reason = "the error is the redirect a handler returns at once; boxing it buys nothing"
    )]
    pub fn require_purpose(&self) -> Result<Purpose, Response> {
        self.purpose.ok_or_else(|| {
            let next = local_path(Some(&self.here)).unwrap_or_else(|| "/search".into());
            Redirect::to(&format!("/purpose?next={}", encode_query(&next))).into_response()
        })
    }

    /// Whether the access decision lets this person read the audit log. The
    /// decision is pure, so asking it decides nothing and audits nothing.
    pub fn may_read_audit(&self) -> bool {
        authorize(&self.actor, Action::ReadAudit, Object::Register, None).is_allowed()
    }

    /// The page frame: header, navigation, purpose, language switch.
    pub fn frame(&self) -> Frame {
        Frame {
            t: self.tr(),
            user: Some(self.actor.name.as_str().to_owned()),
            role: Some(self.actor.role),
            purpose: self.purpose,
            csrf: self.session.csrf_token().to_owned(),
            here: local_path(Some(&self.here)).unwrap_or_else(|| "/search".into()),
            show_admin: matches!(self.actor.role, Role::Admin | Role::Responsible),
            show_audit: self.may_read_audit(),
            show_requests: authorize(&self.actor, Action::ReadRequests, Object::Register, None)
                .is_allowed(),
            show_statistics: authorize(&self.actor, Action::ReadStatistics, Object::Register, None)
                .is_allowed(),
            show_surveys: authorize(
                &self.actor,
                Action::ConfigureSurveys,
                Object::Register,
                None,
            )
            .is_allowed(),
        }
    }

    /// An error, as a page in this person's language.
    pub fn error(&self, error: Error) -> Response {
        PageError::with_frame(self.frame(), error).into_response()
    }
}

/// What every page's header needs.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Translations.
    pub t: Tr,
    /// The signed-in account's name.
    pub user: Option<String>,
    /// Its role.
    pub role: Option<Role>,
    /// The purpose chosen in the session.
    pub purpose: Option<Purpose>,
    /// The session's CSRF token, for the header's forms.
    pub csrf: String,
    /// This page (a local path), for `next=`.
    pub here: String,
    /// Whether to link the administration pages.
    pub show_admin: bool,
    /// Whether to link the audit view.
    pub show_audit: bool,
    /// Whether to link the data-subject requests (registrars, the
    /// responsible person, supervisors).
    pub show_requests: bool,
    /// Whether to link the statistics (supervisors, registrars, the
    /// responsible person).
    pub show_statistics: bool,
    /// Whether to link the survey settings (supervisors).
    pub show_surveys: bool,
}

impl Frame {
    /// The frame of a page nobody is signed in to.
    pub fn anonymous(lang: Lang) -> Self {
        Self {
            t: Tr::new(lang),
            user: None,
            role: None,
            purpose: None,
            csrf: String::new(),
            // The page the language links lead to: sign-in, unless the
            // public request page sets its own.
            here: "/login".into(),
            show_admin: false,
            show_audit: false,
            show_requests: false,
            show_statistics: false,
            show_surveys: false,
        }
    }

    /// Every language, for the switcher.
    pub fn languages(&self) -> [Lang; 3] {
        Lang::ALL
    }

    /// The chosen purpose's label.
    pub fn purpose_label(&self) -> String {
        self.purpose
            .map(|p| self.t.label("purpose", p.as_str()))
            .unwrap_or_default()
    }

    /// The role's label.
    pub fn role_label(&self) -> String {
        self.role
            .map(|r| self.t.label("role", r.as_str()))
            .unwrap_or_default()
    }

    /// The URL of a static asset (with its content hash, so it can be cached
    /// for good).
    pub fn asset(&self, name: &str) -> String {
        asset::url(name)
    }

    /// `here`, percent-encoded for a query string.
    pub fn here_encoded(&self) -> String {
        encode_query(&self.here)
    }
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct PageError {
    /// The frame.
    pub frame: Frame,
    /// Translations.
    pub t: Tr,
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable error code.
    pub code: &'static str,
    /// The translation key of the explanation.
    pub key: String,
}

impl PageError {
    /// An error page without a signed-in frame.
    pub fn new(lang: Lang, error: Error) -> Self {
        Self::with_frame(Frame::anonymous(lang), error)
    }

    /// An error page inside the signed-in frame.
    pub fn with_frame(frame: Frame, error: Error) -> Self {
        let (status, code) = (crate::error::status(&error), error.code());
        if status.is_server_error() {
            // The cause is for the operator's log (lower layers never quote
            // values); the page shows the code only.
            tracing::error!(code, error = ?error, "page failed");
        }
        let translated = if status.is_server_error() {
            "internal"
        } else {
            code
        };
        let key = if TRANSLATED_ERRORS.contains(&translated) {
            format!("error.{translated}")
        } else {
            "error.generic".to_owned()
        };
        Self {
            t: frame.t,
            frame,
            status,
            code,
            key,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = html(&self);
        *response.status_mut() = status;
        response
    }
}

/// A form submitted from a page: the person, and the form's fields. The
/// session's CSRF token must come in the `csrf_token` field.
#[derive(Debug)]
pub struct Posted<T> {
    /// Who submitted it.
    pub staff: Staff,
    /// The fields.
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

impl<T: DeserializeOwned + Send> FromRequest<Kirjuri> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, app: &Kirjuri) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let staff = Staff::from_request_parts(&mut parts, app).await?;
        let bytes = match read_form(body).await {
            Ok(bytes) => bytes,
            Err(e) => return Err(staff.error(e)),
        };
        let csrf: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            staff.error(Error::bad_request(
                "invalid_parameter",
                "the form is malformed",
            ))
        })?;
        if !staff.session.csrf_matches(&csrf.csrf_token) {
            return Err(staff.error(Error::CsrfFailed));
        }
        // serde's messages can quote the input; the page gets a code only.
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            staff.error(Error::bad_request(
                "invalid_parameter",
                "the form is malformed",
            ))
        })?;
        Ok(Posted { staff, form })
    }
}

/// Reads a form body of at most [`MAX_FORM_BYTES`].
pub async fn read_form(body: Body) -> Result<bytes::Bytes, Error> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::TooLarge {
            limit: MAX_FORM_BYTES as u64,
        }),
        Err(_) => Err(Error::BodyRead),
    }
}

/// A form field that may be blank: `None` when empty or only spaces.
pub fn filled(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Status 303 to `to`, the answer to a successful form.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Adds a header to a response, ignoring a value that cannot be one.
pub fn with_header(
    mut response: Response,
    name: header::HeaderName,
    value: HeaderValue,
) -> Response {
    response.headers_mut().append(name, value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_accepted_as_next() {
        for good in ["/search", "/contacts/0192f5c4?x=1", "/audit?user=aino"] {
            assert_eq!(local_path(Some(good)).as_deref(), Some(good), "{good}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
            "/search\r\nSet-Cookie: x",
            "/login?next=/x",
            "",
            "search",
            "/api/v1/contacts",
            "/logout",
        ] {
            assert_eq!(local_path(Some(bad)), None, "{bad}");
        }
        assert_eq!(local_path(None), None);
    }

    #[test]
    fn the_sign_in_redirect_carries_the_page_encoded() {
        let response = to_login("/contacts/abc?x=1&y=2");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[header::LOCATION],
            "/login?next=/contacts/abc%3Fx%3D1%26y%3D2"
        );
    }

    #[test]
    fn an_error_page_shows_a_code_and_plain_words_but_never_the_cause() {
        let page = PageError::new(
            Lang::En,
            Error::Damaged("secret cause Matti Meikäläinen".into()),
        );
        let body = page.render().unwrap();
        assert!(body.contains("internal"));
        assert!(!body.contains("Matti"));
        assert!(!body.contains("secret cause"));
        let not_yours = PageError::new(Lang::Fi, Error::NotFound).render().unwrap();
        assert!(not_yours.contains("not_found"));
        assert!(not_yours.contains("lang=\"fi\""));
    }
}
