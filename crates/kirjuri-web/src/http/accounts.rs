//! Handlers for accounts (SEC-5, ACC-1): `/api/v1/session…` (sign-in,
//! who-am-I, sign-out, password change, TOTP enrolment), `/api/v1/tokens…`
//! (own API tokens; an administrator's view of all) and `/api/v1/users…`
//! (administration). Thin: each parses, calls one `Kirjuri` method — which
//! asks the access decision and writes the audit event — and shapes the
//! answer. No handler ever echoes a password, token or code it was sent.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use kirjuri_core::access::Action;
use kirjuri_core::role::Role;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::Caller;
use super::params::query;
use crate::error::Result;
use crate::http::cookies::{clear_session_cookie, session_cookie};
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::auth::{AccountChange, TokenRequester};

/// Days an API-issued token lives when the request does not say (or
/// `token_max_lifetime_days`, if that is less).
const DEFAULT_TOKEN_DAYS: u32 = 90;

/// The client's address, for the per-address throttle. Without connection
/// info (in-process tests) every caller shares one bucket.
fn client_ip(connect: Option<Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip())
}

/// Unpacks a JSON body, answering in the API's error shape. serde's messages
/// can quote the input — here possibly a password — so only the name of a
/// missing or unknown field is passed on.
fn body<T: DeserializeOwned>(body: std::result::Result<Json<T>, JsonRejection>) -> Result<T> {
    match body {
        Ok(Json(value)) => Ok(value),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::UnsupportedMediaType(
            "the body must be sent as Content-Type: application/json",
        )
        .into()),
        Err(rejection) => {
            let text = rejection.body_text();
            let field = text.split('`').nth(1).unwrap_or("");
            let message = if text.contains("missing field") {
                format!("the body lacks the field '{field}'")
            } else if text.contains("unknown field") {
                format!("the body has an unknown field '{field}'")
            } else if text.contains("unknown variant") {
                format!(
                    "the value of a field is not one of the allowed ones (allowed: {})",
                    text.split("expected ")
                        .nth(1)
                        .unwrap_or("see the documentation")
                )
            } else {
                "the body is not JSON of the expected shape".to_owned()
            };
            Err(Error::bad_request("invalid_body", message).into())
        }
    }
}

/// `Some(value)` for a present field, also when it is `null` (`Some(None)`);
/// with `#[serde(default)]` an absent field stays `None`.
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

// --- session ----------------------------------------------------------------

/// `POST /api/v1/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    name: String,
    password: SecretString,
    #[serde(default)]
    totp: Option<SecretString>,
}

/// `POST /api/v1/session` — sign in; sets the session cookie.
pub async fn login(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: std::result::Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response> {
    let ip = client_ip(connect);
    let request = body(request)?;
    let signed_in = app
        .login(
            &request.name,
            &request.password,
            request.totp.as_ref().map(|t| t.expose_secret()),
            ip,
        )
        .await?;
    let cookie = session_cookie(&signed_in.secret, app.secure_cookies())?;
    let mut response = Json(json!({
        "user": signed_in.user,
        "role": signed_in.role,
        "csrf_token": signed_in.session.csrf_token(),
    }))
    .into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /api/v1/session` — who am I.
pub async fn whoami(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ManageOwnAccount, None)
        .await?;
    let user = app
        .store
        .user(&caller.id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    Ok(Json(json!({
        "user": caller.actor.name,
        "role": caller.actor.role,
        "csrf_token": caller.session.as_ref().map(|s| s.csrf_token()),
        "totp_enabled": user.totp_enabled,
        "confidentiality_agreement": user.confidentiality_agreement.is_some(),
    }))
    .into_response())
}

/// `DELETE /api/v1/session` — sign out; clears the cookie.
pub async fn logout(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    let Some(session) = &caller.session else {
        return Err(Error::bad_request(
            "no_session",
            "signing out ends a browser session; revoke a token with DELETE /api/v1/tokens/{id}",
        )
        .into());
    };
    app.logout(&caller.actor, session).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        clear_session_cookie(app.secure_cookies()),
    );
    Ok(response)
}

/// `POST /api/v1/session/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: SecretString,
    new_password: SecretString,
}

/// `POST /api/v1/session/password` — change one's own password (from a
/// session only); the caller's other sessions and all their tokens end.
pub async fn change_password(
    State(app): State<Kirjuri>,
    caller: Caller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: std::result::Result<Json<PasswordBody>, JsonRejection>,
) -> Result<Response> {
    let request = body(request)?;
    app.change_password(
        &caller.actor,
        caller.id,
        caller.session.as_ref(),
        &request.current_password,
        &request.new_password,
        client_ip(connect),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/session/totp`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeginTotpBody {
    password: SecretString,
    /// A current code of the second factor in force, to replace it.
    #[serde(default)]
    current_code: Option<SecretString>,
}

/// `POST /api/v1/session/totp` — begin TOTP enrolment (from a session, with
/// the password, and the current code to replace a second factor).
pub async fn begin_totp(
    State(app): State<Kirjuri>,
    caller: Caller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: std::result::Result<Json<BeginTotpBody>, JsonRejection>,
) -> Result<Response> {
    let request = body(request)?;
    let enrolment = app
        .begin_totp(
            &caller.actor,
            caller.id,
            caller.session.as_ref(),
            &request.password,
            request.current_code.as_ref().map(|c| c.expose_secret()),
            client_ip(connect),
        )
        .await?;
    Ok(Json(json!({
        "secret": enrolment.secret.expose_secret(),
        "otpauth_uri": enrolment.uri.expose_secret(),
        "confirm": "POST /api/v1/session/totp/confirm with {\"code\": \"123456\"} to finish",
    }))
    .into_response())
}

/// `POST /api/v1/session/totp/confirm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpBody {
    code: SecretString,
}

/// `POST /api/v1/session/totp/confirm` — finish enrolment with a valid code.
pub async fn confirm_totp(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Json<TotpBody>, JsonRejection>,
) -> Result<Response> {
    let request = body(request)?;
    app.confirm_totp(
        &caller.actor,
        caller.id,
        caller.session.as_ref(),
        request.code.expose_secret(),
    )
    .await?;
    Ok(Json(json!({"totp_enabled": true})).into_response())
}

// --- tokens -----------------------------------------------------------------

/// `GET /api/v1/tokens?user=…`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensQuery {
    user: Option<String>,
}

/// `GET /api/v1/tokens` — one's own tokens; an administrator sees all.
pub async fn list_tokens(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<TokensQuery>, QueryRejection>,
) -> Result<Response> {
    let request = query(request)?;
    let tokens = app
        .list_tokens(Some((&caller.actor, caller.id)), request.user.as_deref())
        .await?;
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// `POST /api/v1/tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The caller's password, re-entered.
    password: SecretString,
    /// A current TOTP code, if the caller's account has a second factor.
    #[serde(default)]
    totp: Option<SecretString>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u32>,
    #[serde(default)]
    user: Option<String>,
}

/// `POST /api/v1/tokens` — issue a token (shown once): from a browser
/// session, with the password (and code) re-entered.
pub async fn create_token(
    State(app): State<Kirjuri>,
    caller: Caller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: std::result::Result<Json<TokenBody>, JsonRejection>,
) -> Result<Response> {
    let request = body(request)?;
    let max = app.config.token_max_lifetime_days;
    let days = request
        .expires_in_days
        .unwrap_or(DEFAULT_TOKEN_DAYS.min(max));
    if days == 0 || days > max {
        return Err(Error::bad_request(
            "invalid_parameter",
            format!("expires_in_days must be between 1 and {max}"),
        )
        .into());
    }
    let expires_at = app.token_expiry(days)?;
    let requester = TokenRequester {
        actor: &caller.actor,
        actor_id: caller.id,
        session: caller.session.as_ref(),
        password: &request.password,
        code: request.totp.as_ref().map(|c| c.expose_secret()),
        ip: client_ip(connect),
    };
    let (id, token) = app
        .create_token_as(
            requester,
            request.user.as_deref(),
            request.label,
            expires_at,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "token": token.expose_secret(),
            "expires_at": expires_at,
        })),
    )
        .into_response())
}

/// `DELETE /api/v1/tokens/{id}` — revoke.
pub async fn revoke_token(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    app.revoke_token(Some((&caller.actor, caller.id)), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// --- users ------------------------------------------------------------------

/// `GET /api/v1/users` — every account (administrators).
pub async fn list_users(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    let users = app.list_users(Some((&caller.actor, caller.id))).await?;
    Ok(Json(json!({ "users": users })).into_response())
}

/// `POST /api/v1/users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    name: String,
    role: Role,
    #[serde(default)]
    password: Option<SecretString>,
}

/// `POST /api/v1/users` — create an account; without a password one is
/// generated and returned once.
pub async fn create_user(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Json<NewUserBody>, JsonRejection>,
) -> Result<Response> {
    let request = body(request)?;
    let (password, generated) = match request.password {
        Some(password) => (password, false),
        None => (kirjuri_app::auth::generate_password()?, true),
    };
    let id = app
        .add_user_as(
            Some((&caller.actor, caller.id)),
            &request.name,
            request.role,
            &password,
        )
        .await?;
    let mut answer = json!({"id": id, "name": request.name, "role": request.role});
    if generated && let Some(map) = answer.as_object_mut() {
        map.insert("password".into(), json!(password.expose_secret()));
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `PATCH /api/v1/users/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeUserBody {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    confidentiality_agreement: Option<Option<String>>,
}

/// `PATCH /api/v1/users/{name}` — role, disabled, confidentiality agreement.
pub async fn change_user(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(name): Path<String>,
    request: std::result::Result<Json<ChangeUserBody>, JsonRejection>,
) -> Result<Response> {
    let request = body(request)?;
    let change = AccountChange {
        role: request.role,
        disabled: request.disabled,
        confidentiality_agreement: request.confidentiality_agreement,
    };
    let user = app
        .change_user(Some((&caller.actor, caller.id)), &name, &change)
        .await?;
    Ok(Json(user).into_response())
}

/// `POST /api/v1/users/{name}/unlock`.
pub async fn unlock_user(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response> {
    let user = app
        .unlock_user(Some((&caller.actor, caller.id)), &name)
        .await?;
    Ok(Json(user).into_response())
}

/// `POST /api/v1/users/{name}/password` — reset; the new password is
/// returned once and every session of the account ends.
pub async fn reset_password(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response> {
    let password = app
        .reset_password(Some((&caller.actor, caller.id)), &name)
        .await?;
    Ok(Json(json!({"password": password.expose_secret()})).into_response())
}
