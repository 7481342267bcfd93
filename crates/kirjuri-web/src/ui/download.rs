//! The public download pages of an access package's delivery link
//! (reference §4 C.19): `GET /request/download/{token}` shows until when
//! the link works, a button that sends a fresh one-time code to the
//! address the link went to (`POST …/{token}/code`) and a code-entry form
//! (`POST …/{token}`) whose right code streams the ZIP. No sign-in, no
//! JavaScript; Finnish, Swedish or English — the request's language unless
//! `?lang=` (or the form's `lang`) says otherwise.
//!
//! Protected as the public request form is (`public`): the same form token
//! (cookie scoped to `/request`, echoed in a hidden field; 403 when they
//! differ) and a per-address allowance of its own taken by every POST (429
//! with `Retry-After`). A link that is unknown, used, revoked or expired
//! answers 410 with a page that says to ask for a new link; a token that
//! cannot be one (too long, not base64url) 400. The rules — the code's
//! tries, the single use, the audit — are `kirjuri_app::requests`'.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono_tz::Europe::Helsinki;

use super::context::{Frame, PageError, read_form, with_header};
use super::html;
use super::i18n::{Lang, Tr};
use super::public::{LangQuery, chosen_lang, form_token_ok, new_form_token, with_form_cookie};
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::requests::{DOWNLOAD_PATH, DownloadLink};

/// The link's page.
#[derive(Template)]
#[template(path = "public_download.html")]
pub struct DownloadPage {
    frame: Frame,
    t: Tr,
    /// The form token.
    token: String,
    /// The link's token, for the forms' actions.
    link: String,
    /// Until when the link works, in Helsinki time.
    expires: String,
    /// Where the code goes (a translation key).
    sent_to_key: &'static str,
    /// A notice's translation key (the code was sent).
    notice: Option<&'static str>,
    /// An error's code and translation key.
    error: Option<(&'static str, String)>,
}

/// The page of a link that no longer works (410).
#[derive(Template)]
#[template(path = "public_download_gone.html")]
pub struct GonePage {
    frame: Frame,
    t: Tr,
}

fn frame(lang: Lang, link: &str) -> Frame {
    let mut frame = Frame::anonymous(lang);
    // The token is the URL already; the language links keep it.
    frame.here = format!("{DOWNLOAD_PATH}{link}");
    frame
}

/// The 410 page.
fn gone_page(lang: Lang, link: &str) -> Response {
    let mut response = html(&GonePage {
        frame: frame(lang, link),
        t: Tr::new(lang),
    });
    *response.status_mut() = StatusCode::GONE;
    response
}

/// The link's page with `notice` or `error`, a fresh form token in its
/// cookie.
fn link_page(
    lang: Lang,
    link: &str,
    shown: &DownloadLink,
    notice: Option<&'static str>,
    error: Option<Error>,
    secure: bool,
) -> Response {
    let token = match new_form_token() {
        Ok(token) => token,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let t = Tr::new(lang);
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let page = DownloadPage {
        frame: frame(lang, link),
        t,
        token: token.clone(),
        link: link.to_owned(),
        expires: shown
            .expires_at
            .with_timezone(&Helsinki)
            .format("%-d.%-m.%Y %H:%M")
            .to_string(),
        sent_to_key: if shown.sent_to == "email" {
            "download.to_email"
        } else {
            "download.to_phone"
        },
        notice,
        error: error.map(|e| {
            let code = e.code();
            (code, t.error_key("download", code))
        }),
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    with_form_cookie(response, &token, secure)
}

/// An error before or instead of the link's page: 410's own page, else
/// the plain error page.
fn failed(lang: Lang, link: &str, error: Error) -> Response {
    match error {
        Error::Gone { .. } => gone_page(lang, link),
        e => PageError::new(lang, e).into_response(),
    }
}

/// `GET /request/download/{token}`.
pub async fn page(
    State(app): State<Kirjuri>,
    headers: HeaderMap,
    Path(link): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let fallback = chosen_lang(query.lang.as_deref(), &headers);
    match app.download_link(&link).await {
        Ok(shown) => {
            let lang = query
                .lang
                .as_deref()
                .and_then(Lang::from_code)
                .or_else(|| Lang::from_code(&shown.language))
                .unwrap_or(fallback);
            link_page(lang, &link, &shown, None, None, app.secure_cookies())
        }
        Err(e) => failed(fallback, &link, e),
    }
}

/// What every POST does first: the allowance, the form, the form token.
/// Answers the form's fields and language, or the response to send.
async fn posted(
    app: &Kirjuri,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    link: &str,
    body: axum::body::Body,
) -> Result<(Vec<(String, String)>, Lang), Response> {
    let ip = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    let fallback = chosen_lang(None, headers);
    if let Err(e) = app.take_public_download_allowance(ip) {
        let retry = match &e {
            Error::TooManyRequests {
                retry_after_seconds,
            } => *retry_after_seconds,
            _ => 60,
        };
        let response = PageError::new(fallback, e).into_response();
        return Err(with_header(
            response,
            header::RETRY_AFTER,
            HeaderValue::from(retry),
        ));
    }
    let fields: Vec<(String, String)> = match read_form(body).await {
        Ok(bytes) => match serde_urlencoded::from_bytes(&bytes) {
            Ok(fields) => fields,
            Err(_) => {
                let e = Error::bad_request("invalid_parameter", "the form is malformed");
                return Err(PageError::new(fallback, e).into_response());
            }
        },
        Err(e) => return Err(PageError::new(fallback, e).into_response()),
    };
    let one = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let lang = chosen_lang(one("lang"), headers);
    if !form_token_ok(headers, one("form_token")) {
        return Err(match app.download_link(link).await {
            Ok(shown) => link_page(
                lang,
                link,
                &shown,
                None,
                Some(Error::CsrfFailed),
                app.secure_cookies(),
            ),
            Err(e) => failed(lang, link, e),
        });
    }
    Ok((fields, lang))
}

/// `POST /request/download/{token}/code` — send a fresh code.
pub async fn send_code(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Path(link): Path<String>,
    body: axum::body::Body,
) -> Response {
    let (_, lang) = match posted(&app, connect, &headers, &link, body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    match app.send_download_code(&link).await {
        Ok(shown) => link_page(
            lang,
            &link,
            &shown,
            Some("download.code_sent"),
            None,
            app.secure_cookies(),
        ),
        Err(e) => failed(lang, &link, e),
    }
}

/// `POST /request/download/{token}` with `code` — the ZIP, or the page
/// again with what went wrong.
pub async fn download(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Path(link): Path<String>,
    body: axum::body::Body,
) -> Response {
    let (fields, lang) = match posted(&app, connect, &headers, &link, body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let code = fields
        .iter()
        .find(|(k, _)| k == "code")
        .map_or("", |(_, v)| v.as_str());
    match app.download_package(&link, code).await {
        Ok(package) => match crate::http::requests::zip_response(package) {
            Ok(response) => response,
            Err(e) => PageError::new(lang, e.0).into_response(),
        },
        Err(e @ (Error::Conflict { .. } | Error::BadRequest { .. })) => {
            // A wrong, used-up or malformed code: the page again, saying so.
            match app.download_link(&link).await {
                Ok(shown) => link_page(lang, &link, &shown, None, Some(e), app.secure_cookies()),
                Err(gone) => failed(lang, &link, gone),
            }
        }
        Err(e) => failed(lang, &link, e),
    }
}
