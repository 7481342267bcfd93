//! Signing in and out, changing one's password, and choosing the language
//! (SEC-5, issue 4).
//!
//! Sign-in is the one form without a session, so it carries its own CSRF
//! token: `GET /login` sets a random `kirjuri_login` cookie (SameSite=Strict,
//! HttpOnly) and puts the same value in the form; a POST whose field and
//! cookie differ is refused. That stops another site from signing a browser
//! in to an account of its choosing (login CSRF).
//!
//! After sign-in the browser returns to `next` when it is a local path
//! (anything else is ignored: no open redirect), else to the purpose page.
//! The password is never put back into a form; when the account turns out
//! to need its TOTP code, the form is shown again with the code field.
//!
//! The language is stored on the account (`users.language`) and mirrored in
//! a cookie so the sign-in page after sign-out speaks it too.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::context::{
    Frame, PageError, Posted, Staff, cookie, cookie_lang, lang_cookie, local_path, read_form,
    see_other, with_header,
};
use super::html;
use super::i18n::{Lang, Tr};
use crate::http::cookies::{self, clear_session_cookie, session_cookie};
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;

/// The sign-in form's own CSRF cookie.
const LOGIN_COOKIE: &str = "kirjuri_login";

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    frame: Frame,
    t: Tr,
    next: String,
    name: String,
    show_totp: bool,
    message: Option<String>,
    code: Option<&'static str>,
    token: String,
}

/// `GET /login?next=…&lang=…`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
    signed_out: Option<String>,
}

fn login_page(
    lang: Lang,
    next: String,
    name: String,
    show_totp: bool,
    message: Option<(&'static str, String)>,
    secure: bool,
) -> Response {
    let Ok(token) = kirjuri_app::auth::random_secret("") else {
        return PageError::new(lang, Error::Internal("the system random source failed"))
            .into_response();
    };
    let token = token.expose_secret().to_owned();
    let (code, message) = match message {
        Some((code, key)) => (Some(code), Some(key)),
        None => (None, None),
    };
    let page = LoginPage {
        frame: Frame::anonymous(lang),
        t: Tr::new(lang),
        next,
        name,
        show_totp,
        message,
        code,
        token: token.clone(),
    };
    let secure = if secure { "; Secure" } else { "" };
    let cookie = HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/login; Max-Age=3600{secure}"
    ));
    let response = html(&page);
    match cookie {
        Ok(cookie) => with_header(response, header::SET_COOKIE, cookie),
        Err(_) => response,
    }
}

/// `GET /login`.
pub async fn login_form(
    State(app): State<Kirjuri>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = local_path(query.next.as_deref()).unwrap_or_default();
    // Already signed in: straight on.
    if let Some(secret) = cookies::session_secret(&headers)
        && app.authenticate_session(secret).await.is_ok()
    {
        return see_other(if next.is_empty() { "/" } else { &next });
    }
    let chosen = query.lang.as_deref().and_then(Lang::from_code);
    let lang = chosen.unwrap_or_else(|| cookie_lang(&headers));
    let message = query
        .signed_out
        .map(|_| ("signed_out", "login.signed_out".to_owned()));
    let response = login_page(
        lang,
        next,
        String::new(),
        false,
        message,
        app.secure_cookies(),
    );
    match chosen {
        Some(lang) => with_header(
            response,
            header::SET_COOKIE,
            lang_cookie(lang, app.secure_cookies()),
        ),
        None => response,
    }
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: Option<String>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    login_token: String,
}

/// `POST /login`.
pub async fn login(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let lang = cookie_lang(&headers);
    let secure = app.secure_cookies();
    let form: LoginForm = match read_form(body).await {
        Ok(bytes) => match serde_urlencoded::from_bytes(&bytes) {
            Ok(form) => form,
            Err(_) => {
                return PageError::new(
                    lang,
                    Error::bad_request("invalid_parameter", "the form is malformed"),
                )
                .into_response();
            }
        },
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let next = local_path(form.next.as_deref()).unwrap_or_default();
    let name = form.name.trim().chars().take(64).collect::<String>();
    let token_ok = cookie(&headers, LOGIN_COOKIE).is_some_and(|expected| {
        let (a, b) = (expected.as_bytes(), form.login_token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    });
    if !token_ok {
        let mut response = login_page(
            lang,
            next,
            name,
            false,
            Some(("csrf_failed", "login.expired".to_owned())),
            secure,
        );
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    let ip = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    let password = SecretString::from(form.password);
    let totp = form.totp.as_deref().filter(|c| !c.trim().is_empty());
    let signed_in = match app.login(&name, &password, totp, ip).await {
        Ok(signed_in) => signed_in,
        Err(e) => {
            let (status, code) = (crate::error::status(&e), e.code());
            let (show_totp, key) = match &e {
                Error::TotpRequired => (true, "login.totp_needed"),
                Error::LoginFailed => (totp.is_some(), "error.login_failed"),
                Error::TooManyRequests { .. } => (false, "error.too_many_requests"),
                Error::Busy => (false, "error.busy"),
                _ => return PageError::new(lang, e).into_response(),
            };
            let mut response = login_page(
                lang,
                next,
                name,
                show_totp,
                Some((code, key.to_owned())),
                secure,
            );
            *response.status_mut() = status;
            return response;
        }
    };
    let preferences = match app.store.session_preferences(&signed_in.session.id()).await {
        Ok(p) => p,
        Err(e) => return PageError::new(lang, e.into()).into_response(),
    };
    // The account's language wins; an account without one adopts the
    // language chosen on the sign-in page, if any.
    let lang = match preferences.language.as_deref().and_then(Lang::from_code) {
        Some(stored) => stored,
        None => {
            if let Some(chosen) =
                cookie(&headers, super::context::LANG_COOKIE).and_then(Lang::from_code)
                && let Err(e) = app
                    .store
                    .set_user_language(&signed_in.session.user(), Some(chosen.code()))
                    .await
            {
                return PageError::new(lang, e.into()).into_response();
            }
            lang
        }
    };
    let Ok(session_cookie) = session_cookie(&signed_in.secret, secure) else {
        return PageError::new(
            lang,
            Error::Internal("a session secret is not a valid cookie value"),
        )
        .into_response();
    };
    let mut response = see_other(if next.is_empty() { "/" } else { &next });
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie);
    headers.append(header::SET_COOKIE, lang_cookie(lang, secure));
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_static("kirjuri_login=; Path=/login; Max-Age=0"),
    );
    response
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct EmptyForm {}

/// `POST /logout`.
pub async fn logout(State(app): State<Kirjuri>, posted: Posted<EmptyForm>) -> Response {
    let staff = posted.staff;
    if let Err(e) = app.logout(&staff.actor, &staff.session).await {
        return staff.error(e);
    }
    let mut response = see_other("/login?signed_out=1");
    response.headers_mut().append(
        header::SET_COOKIE,
        clear_session_cookie(app.secure_cookies()),
    );
    response
}

/// The password page.
#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    frame: Frame,
    t: Tr,
    message: Option<String>,
    code: Option<&'static str>,
    done: bool,
}

/// `GET /password`.
pub async fn password_form(staff: Staff) -> Response {
    html(&PasswordPage {
        frame: staff.frame(),
        t: staff.tr(),
        message: None,
        code: None,
        done: false,
    })
}

/// The password form's fields.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /password` — the account's other sessions end.
pub async fn change_password(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    posted: Posted<PasswordForm>,
) -> Response {
    let ip = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    let Posted { staff, form } = posted;
    let page = |message: Option<(&'static str, &str)>, done: bool| {
        let mut response = html(&PasswordPage {
            frame: staff.frame(),
            t: staff.tr(),
            code: message.map(|(code, _)| code),
            message: message.map(|(_, key)| key.to_owned()),
            done,
        });
        if message.is_some() {
            *response.status_mut() = StatusCode::BAD_REQUEST;
        }
        response
    };
    if form.new_password != form.confirm_password {
        return page(Some(("password_mismatch", "password.mismatch")), false);
    }
    let result = app
        .change_password(
            &staff.actor,
            staff.id,
            Some(&staff.session),
            &SecretString::from(form.current_password),
            &SecretString::from(form.new_password),
            ip,
        )
        .await;
    match result {
        Ok(()) => page(None, true),
        Err(e @ (Error::Forbidden(_) | Error::BadRequest { .. })) => {
            let code = e.code();
            let key = match code {
                "forbidden" => "password.wrong_current",
                "common_password" => "error.common_password",
                _ => "error.weak_password",
            };
            page(Some((code, key)), false)
        }
        Err(e) => staff.error(e),
    }
}

/// The language switch's fields.
#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /language` — stores the language on the account.
pub async fn set_language(State(app): State<Kirjuri>, posted: Posted<LanguageForm>) -> Response {
    let Posted { staff, form } = posted;
    let Some(lang) = Lang::from_code(&form.lang) else {
        return staff.error(Error::bad_request(
            "invalid_value",
            "not a language of the UI",
        ));
    };
    if let Err(e) = app
        .store
        .set_user_language(&staff.id, Some(lang.code()))
        .await
    {
        return staff.error(e.into());
    }
    let next = local_path(form.next.as_deref()).unwrap_or_else(|| "/".into());
    with_header(
        see_other(&next),
        header::SET_COOKIE,
        lang_cookie(lang, app.secure_cookies()),
    )
}
