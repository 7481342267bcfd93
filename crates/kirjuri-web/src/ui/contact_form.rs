//! The public contact form (`GET/POST /contact`, issue 14 §3): a customer,
//! without signing in, writes to customer service — name, email and/or
//! phone, an optional customer number, the topic (`[forms] services`), the
//! message and one optional attachment — in Finnish, Swedish or English
//! (`?lang=`, else `Accept-Language`), without JavaScript.
//!
//! It is protected as the request page (`crate::ui::public`) is, and
//! shares its helpers: a per-address allowance of its own (`[forms]
//! public_per_address`; an empty bucket answers 429 with `Retry-After`
//! before a byte of the body is read), a form token in a `SameSite=Strict`
//! cookie scoped to `/contact`, a honeypot field, and limits — the whole
//! body at most the attachment's limit plus 64 KiB (refused by its declared
//! length, or cut off as it streams), each text field its own length, text
//! that is UTF-8 without control characters. Bad input re-renders the form
//! with an error summary linked to the fields, quoting back nothing that
//! failed, and stores nothing.
//!
//! The body is `multipart/form-data` (the file), read with axum's
//! `Multipart` behind a hard limit; the attachment is checked by its
//! content in `kirjuri_app::attachments`. A valid post calls
//! `Kirjuri::submit_form` (no account) and answers a receipt page with a
//! reference — no personal data is echoed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kirjuri_core::email::EmailAddress;
use kirjuri_core::phone::PhoneNumber;

use super::context::{Frame, PageError, with_header};
use super::html;
use super::i18n::{Lang, Tr};
use super::public::{
    FieldError, LangQuery, checked, chosen_lang, form_token_ok_at, new_form_token,
    with_form_cookie_at,
};
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::attachments::AttachmentPart;
use kirjuri_app::forms::{FormInput, reference};

/// The form token's cookie (its own: the request page's is scoped apart).
const FORM_COOKIE: &str = "kirjuri_contact_form";

/// Room for the text fields and the multipart framing beside the file.
const TEXT_ALLOWANCE: u64 = 64 * 1024;

/// The longest name, email, phone and customer number, in characters.
const MAX_NAME_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_PHONE_CHARS: usize = 40;
const MAX_ID_CHARS: usize = 64;

/// A topic in the select.
pub struct Topic {
    /// The service's configured name (the value posted).
    value: String,
    /// Its label in the page's language.
    label: String,
    /// Whether it was chosen.
    on: bool,
}

/// What was typed, given back when it passed its own check.
#[derive(Default)]
pub struct Values {
    name: String,
    email: String,
    phone: String,
    customer_number: String,
    service: String,
    message: String,
}

/// The form.
#[derive(Template)]
#[template(path = "public_contact.html")]
pub struct ContactFormPage {
    frame: Frame,
    t: Tr,
    token: String,
    topics: Vec<Topic>,
    values: Values,
    errors: Vec<FieldError>,
    /// An error not tied to one field (its code and key).
    general: Option<(&'static str, String)>,
    max_message_chars: usize,
    max_attachment_mib: u64,
}

impl ContactFormPage {
    /// `aria-describedby`/`aria-invalid` need the field's error key.
    fn error_of(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.key)
    }
}

/// The receipt.
#[derive(Template)]
#[template(path = "public_contact_sent.html")]
pub struct ContactSentPage {
    frame: Frame,
    t: Tr,
    reference: String,
}

fn frame(lang: Lang) -> Frame {
    let mut frame = Frame::anonymous(lang);
    frame.here = "/contact".to_owned();
    frame
}

fn form_page(
    app: &Kirjuri,
    lang: Lang,
    values: Values,
    errors: Vec<FieldError>,
    general: Option<Error>,
) -> Response {
    let token = match new_form_token() {
        Ok(token) => token,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let t = Tr::new(lang);
    let status = match (&general, errors.is_empty()) {
        (Some(e), _) => crate::error::status(e),
        (None, false) => StatusCode::BAD_REQUEST,
        (None, true) => StatusCode::OK,
    };
    let forms = &app.config.forms;
    let page = ContactFormPage {
        frame: frame(lang),
        t,
        token: token.clone(),
        topics: forms
            .services
            .iter()
            .map(|s| Topic {
                value: s.clone(),
                label: t.label("form_service", s),
                on: *s == values.service,
            })
            .collect(),
        values,
        errors,
        general: general.map(|e| {
            let code = e.code();
            (code, t.error_key("contact_form", code))
        }),
        max_message_chars: forms.max_message_chars,
        max_attachment_mib: forms.max_attachment_bytes.div_ceil(1 << 20),
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    with_form_cookie_at(
        response,
        FORM_COOKIE,
        "/contact",
        &token,
        app.secure_cookies(),
    )
}

/// `GET /contact` — the empty form.
pub async fn form(
    State(app): State<Kirjuri>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let lang = chosen_lang(query.lang.as_deref(), &headers);
    form_page(&app, lang, Values::default(), Vec::new(), None)
}

/// The posted fields, read from the multipart body.
#[derive(Default)]
struct Posted {
    fields: Vec<(String, String)>,
    attachment: Option<AttachmentPart>,
    /// A text field that was not UTF-8 (its name).
    not_utf8: Vec<String>,
}

impl Posted {
    fn one(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the multipart body within `limit` bytes.
async fn read_posted(request: Request, limit: u64) -> Result<Posted, Error> {
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let request = Request::from_parts(parts, Body::new(limited));
    let malformed = || Error::bad_request("invalid_parameter", "the form is malformed");
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| Error::UnsupportedMediaType("the form must be sent as multipart/form-data"))?;
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge { limit }
        } else {
            Error::bad_request("invalid_parameter", "the form is malformed")
        }
    };
    let mut posted = Posted::default();
    while let Some(field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachment" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let media_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(failed)?;
            // A browser sends an empty, unnamed part when no file was chosen.
            if !(bytes.is_empty() && file_name.is_empty()) && posted.attachment.is_none() {
                posted.attachment = Some(AttachmentPart {
                    name: file_name,
                    media_type,
                    bytes,
                });
            } else if posted.attachment.is_some() && !bytes.is_empty() {
                return Err(malformed());
            }
            continue;
        }
        let bytes = field.bytes().await.map_err(failed)?;
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => posted.fields.push((name, text)),
            Err(_) => posted.not_utf8.push(name),
        }
    }
    Ok(posted)
}

/// `POST /contact` — store the message, or show the form again.
pub async fn submit(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let ip = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    let fallback = chosen_lang(None, &headers);
    if let Err(e) = app.take_public_form_allowance(ip) {
        let retry = match &e {
            Error::TooManyRequests {
                retry_after_seconds,
            } => *retry_after_seconds,
            _ => 60,
        };
        let response = PageError::new(fallback, e).into_response();
        return with_header(response, header::RETRY_AFTER, HeaderValue::from(retry));
    }
    let limit = app.config.forms.max_attachment_bytes + TEXT_ALLOWANCE;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return PageError::new(fallback, Error::TooLarge { limit }).into_response();
    }
    let posted = match read_posted(request, limit).await {
        Ok(posted) => posted,
        Err(e) => return PageError::new(fallback, e).into_response(),
    };
    let lang = chosen_lang(posted.one("lang"), &headers);
    if !form_token_ok_at(&headers, FORM_COOKIE, posted.one("form_token")) {
        return form_page(
            &app,
            lang,
            Values::default(),
            Vec::new(),
            Some(Error::CsrfFailed),
        );
    }
    // People never see the honeypot; a filled one is a robot's post.
    if posted.one("website").is_some_and(|v| !v.is_empty()) {
        let e = Error::bad_request("invalid_parameter", "the form is malformed");
        return form_page(&app, lang, Values::default(), Vec::new(), Some(e));
    }
    let mut errors = Vec::new();
    for field in &posted.not_utf8 {
        if let Some(known) = [
            "name",
            "email",
            "phone",
            "customer_number",
            "service",
            "message",
        ]
        .into_iter()
        .find(|f| f == field)
        {
            errors.push(FieldError {
                field: known,
                key: "public.control",
            });
        }
    }
    let forms = &app.config.forms;
    let mut values = Values {
        name: checked(
            posted.one("name"),
            "name",
            MAX_NAME_CHARS,
            false,
            &mut errors,
        ),
        email: checked(
            posted.one("email"),
            "email",
            MAX_EMAIL_CHARS,
            false,
            &mut errors,
        ),
        phone: checked(
            posted.one("phone"),
            "phone",
            MAX_PHONE_CHARS,
            false,
            &mut errors,
        ),
        customer_number: checked(
            posted.one("customer_number"),
            "customer_number",
            MAX_ID_CHARS,
            false,
            &mut errors,
        ),
        service: posted
            .one("service")
            .filter(|s| forms.services.iter().any(|known| known == s))
            .unwrap_or_default()
            .to_owned(),
        message: checked(
            posted.one("message"),
            "message",
            forms.max_message_chars,
            true,
            &mut errors,
        ),
    };
    if values.service.is_empty() {
        errors.push(FieldError {
            field: "service",
            key: "contact_form.need_service",
        });
    }
    if values.message.is_empty() && !errors.iter().any(|e| e.field == "message") {
        errors.push(FieldError {
            field: "message",
            key: "contact_form.need_message",
        });
    }
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
    if let Some(part) = &posted.attachment
        && let Err(e) = kirjuri_app::attachments::check_part(
            &app.config.attachments,
            part,
            1,
            forms.max_attachment_bytes,
        )
    {
        errors.push(FieldError {
            field: "attachment",
            key: attachment_error_key(e.code()),
        });
    }
    if !errors.is_empty() {
        return form_page(&app, lang, values, errors, None);
    }
    let filled = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let input = FormInput {
        external_id: None,
        submitted_at: None,
        service: values.service.clone(),
        name: filled(&values.name),
        email: filled(&values.email),
        phone: filled(&values.phone),
        customer_number: filled(&values.customer_number),
        message: values.message.clone(),
        language: Some(lang.code().to_owned()),
        attachments: posted.attachment.into_iter().collect(),
    };
    match app.submit_form(None, input).await {
        Ok((ack, _)) => {
            let page = ContactSentPage {
                frame: frame(lang),
                t: Tr::new(lang),
                reference: reference(&ack.contact_id),
            };
            // A 200 page, not a redirect: nothing goes into a URL.
            html(&page)
        }
        // The app names a field at most; the form keeps nothing that may
        // have failed.
        Err(e) => form_page(&app, lang, Values::default(), Vec::new(), Some(e)),
    }
}

/// The attachment's error text for a refusal's code.
fn attachment_error_key(code: &str) -> &'static str {
    match code {
        "body_too_large" => "contact_form.attachment_too_large",
        "attachment_type_mismatch" => "contact_form.attachment_mismatch",
        "attachment_name" | "attachment_empty" => "contact_form.attachment_unusable",
        _ => "contact_form.attachment_type",
    }
}
