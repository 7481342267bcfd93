//! The public request page (`GET/POST /request`, DSR-1): anyone, without
//! signing in, asks for access, rectification, erasure, restriction,
//! objection, portability or information — in Finnish (the default, as the
//! privacy notice is Finnish), Swedish or English, chosen with the page's
//! links (`?lang=`) or the browser's `Accept-Language`. The page works
//! without JavaScript.
//!
//! What protects it, without a third-party CAPTCHA:
//! * **A per-address allowance**: every POST takes one from the client
//!   address's bucket (`[requests] public_per_address` per
//!   `public_window_seconds`), refused or not; an empty bucket answers 429
//!   with `Retry-After` before the body is read. The address is the TCP
//!   peer's: no proxy header is trusted, as for sign-in.
//! * **A form token**, as the sign-in form's: a random value set in a
//!   `SameSite=Strict`, `HttpOnly` cookie scoped to `/request` for an hour
//!   and echoed in a hidden field; a POST whose field and cookie differ is
//!   refused (403) — another site can neither read the value nor send the
//!   cookie.
//! * **Limits**: the body at most the pages' 64 KiB, each field its own
//!   length, no control characters, the email and phone checked by core's
//!   parsers, at least one type and one contact channel — and a honeypot
//!   field people never see. Bad input re-renders the form with an error
//!   summary linked to the fields, quoting nothing back that failed, and
//!   stores nothing.
//!
//! A valid post calls `Kirjuri::register_public_request` (channel `web`, no
//! account) — the same model as the API — and answers with the reference
//! and the due date; the receipt leaves through the outbox to the email
//! given. Not here: the rules (`kirjuri_app::requests`) and verifying the
//! requester's identity (a registrar's step; see ARCHITECTURE.md).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kirjuri_core::email::EmailAddress;
use kirjuri_core::phone::PhoneNumber;
use kirjuri_core::request::{OBJECTABLE_PURPOSES, RequestType};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::context::{Frame, PageError, cookie, read_form, with_header};
use super::html;
use super::i18n::{Lang, Tr};
use super::requests::Choice;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::requests::{Identifiers, MAX_NAME_CHARS, MAX_TEXT_CHARS, RegisterInput};

/// The form token's cookie.
const FORM_COOKIE: &str = "kirjuri_request_form";

/// The longest email address (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;
/// The longest phone number as typed.
const MAX_PHONE_CHARS: usize = 40;
/// The longest customer number or property id.
const MAX_ID_CHARS: usize = 64;

/// `?lang=` on the public page.
#[derive(Deserialize)]
pub struct LangQuery {
    #[serde(default)]
    pub(super) lang: Option<String>,
}

/// The language of a public page: `?lang=` (or the form's `lang`), else
/// the first language of `Accept-Language` the UI speaks, else Finnish.
pub(super) fn chosen_lang(explicit: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(lang) = explicit.and_then(Lang::from_code) {
        return lang;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|accept| {
            accept
                .split(',')
                .filter_map(|part| part.split(';').next())
                .filter_map(|tag| tag.trim().get(..2))
                .find_map(|code| Lang::from_code(&code.to_ascii_lowercase()))
        })
        .unwrap_or(Lang::Fi)
}

/// A field's error: the field's id and the message's key.
pub struct FieldError {
    /// The input's id (the summary links to it).
    pub field: &'static str,
    /// The translation key.
    pub key: &'static str,
}

/// The public form.
#[derive(Template)]
#[template(path = "public_request.html")]
pub struct FormPage {
    frame: Frame,
    t: Tr,
    token: String,
    types: Vec<Choice>,
    purposes: Vec<Choice>,
    /// What was typed, given back when it passed its own check.
    values: Values,
    errors: Vec<FieldError>,
    /// An error not tied to one field (its code and key).
    general: Option<(&'static str, String)>,
}

impl FormPage {
    /// Whether `field` has an error.
    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    /// `aria-describedby`/`aria-invalid` need the field's error key.
    fn error_of(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.key)
    }
}

/// The page after a request is registered.
#[derive(Template)]
#[template(path = "public_request_sent.html")]
pub struct SentPage {
    frame: Frame,
    t: Tr,
    reference: String,
    due: String,
}

/// The typed values a re-rendered form keeps (only those that passed).
#[derive(Default)]
pub struct Values {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// Customer number.
    pub customer_number: String,
    /// Property id.
    pub property_id: String,
    /// Description.
    pub description: String,
}

fn frame(lang: Lang) -> Frame {
    let mut frame = Frame::anonymous(lang);
    frame.here = "/request".to_owned();
    frame
}

fn form_page(
    lang: Lang,
    fields: &[(String, String)],
    values: Values,
    errors: Vec<FieldError>,
    general: Option<Error>,
    secure: bool,
) -> Response {
    let token = match new_form_token() {
        Ok(token) => token,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let t = Tr::new(lang);
    let has = |field: &str, value: &str| fields.iter().any(|(k, v)| k == field && v == value);
    let status = match (&general, errors.is_empty()) {
        (Some(e), _) => crate::error::status(e),
        (None, false) => StatusCode::BAD_REQUEST,
        (None, true) => StatusCode::OK,
    };
    let page = FormPage {
        frame: frame(lang),
        t,
        token: token.clone(),
        types: RequestType::ALL
            .iter()
            .map(|k| Choice::new(t, "request_type", k.as_str(), has("types", k.as_str())))
            .collect(),
        purposes: OBJECTABLE_PURPOSES
            .iter()
            .map(|p| {
                let on = has("objection_purposes", p.as_str());
                Choice::new(t, "purpose", p.as_str(), on)
            })
            .collect(),
        values,
        errors,
        general: general.map(|e| {
            let code = e.code();
            (code, t.error_key("public", code))
        }),
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    with_form_cookie(response, &token, secure)
}

/// A fresh form token, for a page's hidden field and its cookie.
pub(super) fn new_form_token() -> Result<String, Error> {
    Ok(kirjuri_app::auth::random_secret("")?
        .expose_secret()
        .to_owned())
}

/// `response` with the form token's cookie (scoped to `/request` and the
/// pages under it, an hour).
pub(super) fn with_form_cookie(response: Response, token: &str, secure: bool) -> Response {
    with_form_cookie_at(response, FORM_COOKIE, "/request", token, secure)
}

/// `response` with a public form's token in cookie `name`, scoped to
/// `path` for an hour (each public form has its own cookie).
pub(super) fn with_form_cookie_at(
    response: Response,
    name: &str,
    path: &str,
    token: &str,
    secure: bool,
) -> Response {
    let secure = if secure { "; Secure" } else { "" };
    match HeaderValue::from_str(&format!(
        "{name}={token}; HttpOnly; SameSite=Strict; Path={path}; Max-Age=3600{secure}"
    )) {
        Ok(cookie) => with_header(response, header::SET_COOKIE, cookie),
        Err(_) => response,
    }
}

/// Whether the posted `form_token` equals the cookie's, in constant time.
pub(super) fn form_token_ok(headers: &HeaderMap, given: Option<&str>) -> bool {
    form_token_ok_at(headers, FORM_COOKIE, given)
}

/// Whether the posted `form_token` equals cookie `name`'s, in constant time.
pub(super) fn form_token_ok_at(headers: &HeaderMap, name: &str, given: Option<&str>) -> bool {
    cookie(headers, name).is_some_and(|expected| {
        let given = given.unwrap_or("");
        let (a, b) = (expected.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    })
}

/// `GET /request` — the empty form.
pub async fn form(
    State(app): State<Kirjuri>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let lang = chosen_lang(query.lang.as_deref(), &headers);
    form_page(
        lang,
        &[],
        Values::default(),
        Vec::new(),
        None,
        app.secure_cookies(),
    )
}

/// A field's text: trimmed, or an error when too long or holding control
/// characters (a description may hold line breaks and tabs).
pub(super) fn checked(
    value: Option<&str>,
    field: &'static str,
    max: usize,
    multiline: bool,
    errors: &mut Vec<FieldError>,
) -> String {
    let value = value.unwrap_or("").trim();
    if value.chars().count() > max {
        errors.push(FieldError {
            field,
            key: "public.too_long",
        });
        return String::new();
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        errors.push(FieldError {
            field,
            key: "public.control",
        });
        return String::new();
    }
    value.to_owned()
}

/// `POST /request` — register the request, or show the form again.
pub async fn submit(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let secure = app.secure_cookies();
    let ip = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    let fallback = chosen_lang(None, &headers);
    if let Err(e) = app.take_public_request_allowance(ip) {
        let retry = match &e {
            Error::TooManyRequests {
                retry_after_seconds,
            } => *retry_after_seconds,
            _ => 60,
        };
        let response = PageError::new(fallback, e).into_response();
        return with_header(response, header::RETRY_AFTER, HeaderValue::from(retry));
    }
    let fields: Vec<(String, String)> = match read_form(body).await {
        Ok(bytes) => match serde_urlencoded::from_bytes(&bytes) {
            Ok(fields) => fields,
            Err(_) => {
                let e = Error::bad_request("invalid_parameter", "the form is malformed");
                return PageError::new(fallback, e).into_response();
            }
        },
        Err(e) => return PageError::new(fallback, e).into_response(),
    };
    let one = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let lang = chosen_lang(one("lang"), &headers);
    if !form_token_ok(&headers, one("form_token")) {
        return form_page(
            lang,
            &fields,
            Values::default(),
            Vec::new(),
            Some(Error::CsrfFailed),
            secure,
        );
    }
    // People never see the honeypot; a filled one is a robot's post.
    if one("website").is_some_and(|v| !v.is_empty()) {
        let e = Error::bad_request("invalid_parameter", "the form is malformed");
        return form_page(lang, &[], Values::default(), Vec::new(), Some(e), secure);
    }
    let mut errors = Vec::new();
    let types = all("types");
    if types.is_empty() {
        errors.push(FieldError {
            field: "type-access",
            key: "public.need_type",
        });
    }
    let mut values = Values {
        name: checked(one("name"), "name", MAX_NAME_CHARS, false, &mut errors),
        email: checked(one("email"), "email", MAX_EMAIL_CHARS, false, &mut errors),
        phone: checked(one("phone"), "phone", MAX_PHONE_CHARS, false, &mut errors),
        customer_number: checked(
            one("customer_number"),
            "customer_number",
            MAX_ID_CHARS,
            false,
            &mut errors,
        ),
        property_id: checked(
            one("property_id"),
            "property_id",
            MAX_ID_CHARS,
            false,
            &mut errors,
        ),
        description: checked(
            one("description"),
            "description",
            MAX_TEXT_CHARS,
            true,
            &mut errors,
        ),
    };
    if !values.email.is_empty() && EmailAddress::parse(&values.email, "email").is_err() {
        errors.push(FieldError {
            field: "email",
            key: "public.bad_email",
        });
        values.email.clear();
    }
    if !values.phone.is_empty() && PhoneNumber::parse(&values.phone, "phone").is_err() {
        errors.push(FieldError {
            field: "phone",
            key: "public.bad_phone",
        });
        values.phone.clear();
    }
    if values.email.is_empty()
        && values.phone.is_empty()
        && !errors
            .iter()
            .any(|e| e.field == "email" || e.field == "phone")
    {
        errors.push(FieldError {
            field: "email",
            key: "public.need_contact",
        });
    }
    if !errors.is_empty() {
        return form_page(lang, &fields, values, errors, None, secure);
    }
    let listed = |value: &str| -> Vec<String> {
        if value.is_empty() {
            Vec::new()
        } else {
            vec![value.to_owned()]
        }
    };
    let input = RegisterInput {
        types,
        channel: String::new(),
        language: lang.code().to_owned(),
        identifiers: Identifiers {
            phone: listed(&values.phone),
            email: listed(&values.email),
            customer_number: listed(&values.customer_number),
            property_id: listed(&values.property_id),
        },
        objection_purposes: all("objection_purposes"),
        received_at: None,
        name: (!values.name.is_empty()).then(|| values.name.clone()),
        description: (!values.description.is_empty()).then(|| values.description.clone()),
    };
    match app.register_public_request(input).await {
        Ok(registered) => {
            let page = SentPage {
                frame: frame(lang),
                t: Tr::new(lang),
                reference: registered.reference,
                due: registered.due_date.to_string(),
            };
            // A 200 page, not a redirect: the reference is shown once and is
            // not put in a URL a guesser could try.
            html(&page)
        }
        Err(e) => {
            // The app names a field at most; the form keeps nothing that
            // may have failed.
            form_page(
                lang,
                &fields,
                Values::default(),
                Vec::new(),
                Some(e),
                secure,
            )
        }
    }
}
