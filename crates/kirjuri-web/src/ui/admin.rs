//! Administration pages (SEC-5, ACC-1, notice §13): accounts — add, change
//! role, disable and enable, unlock, reset the password, record a
//! maintainer's confidentiality-agreement reference — and API tokens (list,
//! revoke). The responsible person names and removes registrars here too.
//!
//! Each action calls the same `Kirjuri` method as the JSON API
//! (`add_user_as`, `change_user`, `unlock_user`, `reset_password`,
//! `list_tokens`, `revoke_token`), which asks the access decision and
//! writes the audit event; the page only shapes forms and results. A
//! generated or reset password is shown once, on the page that answers the
//! POST, and is never put in a URL.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kirjuri_core::role::Role;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::context::{Frame, Posted, Staff, TRANSLATED_ERRORS, filled, see_other};
use super::format;
use super::html;
use super::i18n::Tr;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::auth::{AccountChange, TokenView, UserView};

/// A role in a form's list.
pub struct RoleOption {
    /// Wire name.
    pub value: &'static str,
    /// Label.
    pub label: String,
}

/// An account, as listed.
pub struct UserLine {
    /// Login name.
    pub name: String,
    /// Role (wire name).
    pub role: &'static str,
    /// Role label.
    pub role_label: String,
    /// Disabled.
    pub disabled: bool,
    /// Locked after failed sign-ins.
    pub locked: bool,
    /// TOTP enrolled.
    pub totp: bool,
    /// The agreement reference on file.
    pub agreement: String,
    /// Whether the account is a maintainer (the agreement field shows).
    pub maintainer: bool,
    /// Whether an administrator may reset its password (not the responsible
    /// person's nor a registrar's: only the operator can).
    pub resettable: bool,
    /// Created.
    pub created: String,
}

impl UserLine {
    fn new(user: &UserView, t: Tr) -> Self {
        Self {
            name: user.name.clone(),
            role: user.role.as_str(),
            role_label: t.label("role", user.role.as_str()),
            disabled: user.disabled,
            locked: user.locked,
            totp: user.totp_enabled,
            agreement: user.confidentiality_agreement.clone().unwrap_or_default(),
            maintainer: user.role == Role::Maintainer,
            resettable: !matches!(user.role, Role::Responsible | Role::Registrar),
            created: format::date(user.created_at),
        }
    }
}

/// The accounts page.
#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    frame: Frame,
    t: Tr,
    /// `None` for the responsible person, who names registrars only.
    users: Option<Vec<UserLine>>,
    roles: Vec<RoleOption>,
    registrar_form: bool,
    notice: Option<String>,
    error: Option<(&'static str, String)>,
    /// A password to show once: (account, password).
    password: Option<(String, String)>,
}

fn roles(t: Tr, with_registrar: bool) -> Vec<RoleOption> {
    Role::ALL
        .into_iter()
        // The responsible role is given only at the command line; registrars
        // are named by the responsible person.
        .filter(|r| *r != Role::Responsible && (with_registrar || *r != Role::Registrar))
        .map(|r| RoleOption {
            value: r.as_str(),
            label: t.label("role", r.as_str()),
        })
        .collect()
}

async fn users_page(
    app: &Kirjuri,
    staff: &Staff,
    notice: Option<String>,
    error: Option<Error>,
    password: Option<(String, String)>,
) -> Response {
    let t = staff.tr();
    let registrar_form = staff.actor.role == Role::Responsible;
    let users = if staff.actor.role == Role::Responsible {
        None
    } else {
        match app.list_users(Some((&staff.actor, staff.id))).await {
            Ok(users) => Some(users.iter().map(|u| UserLine::new(u, t)).collect()),
            Err(e) => return staff.error(e),
        }
    };
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let error = error.map(|e| {
        let code = e.code();
        let key = if TRANSLATED_ERRORS.contains(&code) {
            format!("error.{code}")
        } else {
            "error.generic".to_owned()
        };
        (code, key)
    });
    let mut response = html(&UsersPage {
        frame: staff.frame(),
        t,
        users,
        roles: roles(t, false),
        registrar_form,
        notice,
        error,
        password,
    });
    *response.status_mut() = status;
    response
}

/// `GET /admin/users`.
pub async fn users(State(app): State<Kirjuri>, staff: Staff) -> Response {
    users_page(&app, &staff, None, None, None).await
}

/// The add-account form.
#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: Option<String>,
}

/// `POST /admin/users` — add an account.
pub async fn add_user(State(app): State<Kirjuri>, posted: Posted<NewUserForm>) -> Response {
    let Posted { staff, form } = posted;
    let t = staff.tr();
    let role: Role = match form.role.parse() {
        Ok(role) => role,
        Err(e) => return users_page(&app, &staff, None, Some(Error::from(e)), None).await,
    };
    let (password, generated) = match filled(&form.password) {
        Some(p) => (SecretString::from(p), false),
        None => match kirjuri_app::auth::generate_password() {
            Ok(p) => (p, true),
            Err(e) => return staff.error(e),
        },
    };
    let name = form.name.trim().to_owned();
    match app
        .add_user_as(Some((&staff.actor, staff.id)), &name, role, &password)
        .await
    {
        Ok(_) => {
            let shown = generated.then(|| (name.clone(), password.expose_secret().to_owned()));
            let notice = Some(t.f("admin.user_added", &name));
            users_page(&app, &staff, notice, None, shown).await
        }
        Err(e) => users_page(&app, &staff, None, Some(e), None).await,
    }
}

/// One account action.
#[derive(Deserialize)]
pub struct UserActionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    agreement: Option<String>,
}

/// `POST /admin/users/{name}` — `action` = `role`, `disable`, `enable`,
/// `unlock`, `reset_password` or `agreement`.
pub async fn user_action(
    State(app): State<Kirjuri>,
    Path(name): Path<String>,
    posted: Posted<UserActionForm>,
) -> Response {
    let Posted { staff, form } = posted;
    let t = staff.tr();
    let acting = Some((&staff.actor, staff.id));
    let result: Result<Option<(String, String)>, Error> = match form.action.as_str() {
        "role" => match form.role.as_deref().unwrap_or("").parse::<Role>() {
            Ok(role) => app
                .change_user(
                    acting,
                    &name,
                    &AccountChange {
                        role: Some(role),
                        ..AccountChange::default()
                    },
                )
                .await
                .map(|_| None),
            Err(e) => Err(Error::from(e)),
        },
        "disable" | "enable" => app
            .change_user(
                acting,
                &name,
                &AccountChange {
                    disabled: Some(form.action == "disable"),
                    ..AccountChange::default()
                },
            )
            .await
            .map(|_| None),
        "agreement" => app
            .change_user(
                acting,
                &name,
                &AccountChange {
                    confidentiality_agreement: Some(filled(&form.agreement)),
                    ..AccountChange::default()
                },
            )
            .await
            .map(|_| None),
        "unlock" => app.unlock_user(acting, &name).await.map(|_| None),
        "reset_password" => app
            .reset_password(acting, &name)
            .await
            .map(|p| Some((name.clone(), p.expose_secret().to_owned()))),
        _ => Err(Error::bad_request("invalid_value", "unknown action")),
    };
    match result {
        Ok(password) => {
            let notice = Some(t.f("admin.done", &name));
            users_page(&app, &staff, notice, None, password).await
        }
        Err(e) => users_page(&app, &staff, None, Some(e), None).await,
    }
}

/// The responsible person's registrar form.
#[derive(Deserialize)]
pub struct RegistrarForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    action: String,
}

/// `POST /admin/registrars` — name (`action=name`) or remove
/// (`action=remove`, back to agent) a registrar.
pub async fn registrar(State(app): State<Kirjuri>, posted: Posted<RegistrarForm>) -> Response {
    let Posted { staff, form } = posted;
    let t = staff.tr();
    let role = if form.action == "remove" {
        Role::Agent
    } else {
        Role::Registrar
    };
    let name = form.name.trim().to_owned();
    let result = app
        .change_user(
            Some((&staff.actor, staff.id)),
            &name,
            &AccountChange {
                role: Some(role),
                ..AccountChange::default()
            },
        )
        .await;
    match result {
        Ok(_) => {
            let notice = Some(t.f("admin.done", &name));
            users_page(&app, &staff, notice, None, None).await
        }
        Err(e) => users_page(&app, &staff, None, Some(e), None).await,
    }
}

/// A token, as listed.
pub struct TokenLine {
    /// Its id.
    pub id: String,
    /// Owner.
    pub user: String,
    /// Label.
    pub label: String,
    /// Issued.
    pub created: String,
    /// Expires.
    pub expires: String,
    /// Last used.
    pub last_used: String,
    /// Revoked.
    pub revoked: String,
}

impl TokenLine {
    fn new(token: &TokenView) -> Self {
        Self {
            id: token.id.to_string(),
            user: token.user.clone(),
            label: token.label.clone().unwrap_or_default(),
            created: format::time(token.created_at),
            expires: token.expires_at.map(format::time).unwrap_or_default(),
            last_used: token.last_used_at.map(format::time).unwrap_or_default(),
            revoked: token.revoked_at.map(format::time).unwrap_or_default(),
        }
    }
}

/// The tokens page.
#[derive(Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    frame: Frame,
    t: Tr,
    tokens: Vec<TokenLine>,
}

async fn tokens_page(app: &Kirjuri, staff: &Staff) -> Response {
    match app.list_tokens(Some((&staff.actor, staff.id)), None).await {
        Ok(tokens) => html(&TokensPage {
            frame: staff.frame(),
            t: staff.tr(),
            tokens: tokens.iter().map(TokenLine::new).collect(),
        }),
        Err(e) => staff.error(e),
    }
}

/// `GET /admin/tokens` — one's own tokens; an administrator sees all.
pub async fn tokens(State(app): State<Kirjuri>, staff: Staff) -> Response {
    tokens_page(&app, &staff).await
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(app): State<Kirjuri>,
    Path(id): Path<String>,
    posted: Posted<super::account::EmptyForm>,
) -> Response {
    let staff = posted.staff;
    match app.revoke_token(Some((&staff.actor, staff.id)), &id).await {
        Ok(()) => see_other("/admin/tokens"),
        Err(e) => staff.error(e),
    }
}
