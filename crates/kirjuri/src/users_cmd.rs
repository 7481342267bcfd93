//! The operator's account commands beyond `user add` and `token create`:
//! `user list | disable | enable | unlock | set-role | agreement` and
//! `token list | revoke`. Each is one library call made with the operator's
//! authority (no acting account), audited like the API's equivalents, and
//! takes effect at once in a running `serve` on the same data folder.
//!
//! Only here can the `responsible` role be given or taken: the API refuses it
//! to everyone (ACC-1, notice §13).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use kirjuri_app::Kirjuri;
use kirjuri_app::auth::AccountChange;
use kirjuri_core::role::Role;
use secrecy::ExposeSecret;

/// Account administration.
#[derive(Debug, Subcommand)]
pub enum UserAdmin {
    /// List every account: role, state, second factor, agreement.
    List,
    /// Disable an account: its sessions end and its tokens are revoked at once
    /// (enabling it again brings none back).
    Disable {
        /// Account name.
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Account name.
        name: String,
    },
    /// Unlock an account locked after too many failed logins.
    Unlock {
        /// Account name.
        name: String,
    },
    /// Give an account a new generated password (printed once): its sessions
    /// end and its tokens are revoked. The only way to reset the responsible
    /// person's or a registrar's password.
    ResetPassword {
        /// Account name.
        name: String,
    },
    /// Give an account another role (the only way to give or take `responsible`).
    SetRole {
        /// Account name.
        name: String,
        /// agent, supervisor, admin, maintainer, registrar, responsible or integration.
        role: String,
    },
    /// Record or clear a maintainer's confidentiality-agreement reference.
    Agreement {
        /// Account name.
        name: String,
        /// The agreement's reference (e.g. a document number).
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        reference: Option<String>,
        /// Remove the reference on file.
        #[arg(long)]
        clear: bool,
    },
}

/// Token administration.
#[derive(Debug, Subcommand)]
pub enum TokenAdmin {
    /// List tokens (never the tokens themselves): id, owner, label, dates.
    List {
        /// Only this account's tokens.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke {
        /// The token's id (from `token list`).
        id: String,
    },
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// Runs a `user …` administration command.
pub async fn user(app: &Kirjuri, command: UserAdmin) -> Result<ExitCode> {
    let change = |name: String, change: AccountChange| async move {
        app.change_user(None, &name, &change)
            .await
            .with_context(|| format!("failed to change the account '{name}'"))
    };
    match command {
        UserAdmin::List => {
            let users = app.list_users(None).await?;
            println!("NAME\tROLE\tSTATE\tTOTP\tAGREEMENT");
            for user in users {
                let state = match (user.disabled, user.locked) {
                    (true, _) => "disabled",
                    (false, true) => "locked",
                    (false, false) => "active",
                };
                println!(
                    "{}\t{}\t{state}\t{}\t{}",
                    user.name,
                    user.role,
                    if user.totp_enabled { "yes" } else { "no" },
                    user.confidentiality_agreement.as_deref().unwrap_or("-"),
                );
            }
        }
        UserAdmin::Disable { name } => {
            let changes = AccountChange {
                disabled: Some(true),
                ..AccountChange::default()
            };
            change(name.clone(), changes).await?;
            println!("disabled '{name}': its sessions ended and its tokens were revoked");
        }
        UserAdmin::Enable { name } => {
            let changes = AccountChange {
                disabled: Some(false),
                ..AccountChange::default()
            };
            change(name.clone(), changes).await?;
            println!("enabled '{name}'");
        }
        UserAdmin::Unlock { name } => {
            app.unlock_user(None, &name)
                .await
                .with_context(|| format!("failed to unlock '{name}'"))?;
            println!("unlocked '{name}'");
        }
        UserAdmin::ResetPassword { name } => {
            let password = app
                .reset_password(None, &name)
                .await
                .with_context(|| format!("failed to reset the password of '{name}'"))?;
            println!(
                "reset the password of '{name}'; its sessions ended and its tokens were \
                 revoked; the new password (shown only now): {}",
                password.expose_secret()
            );
        }
        UserAdmin::SetRole { name, role } => {
            let role: Role = role.parse().context("invalid role")?;
            let changes = AccountChange {
                role: Some(role),
                ..AccountChange::default()
            };
            change(name.clone(), changes).await?;
            println!("'{name}' is now {role}");
        }
        UserAdmin::Agreement {
            name,
            reference,
            clear,
        } => {
            let agreement = match (reference, clear) {
                (Some(reference), false) => Some(reference),
                (None, true) => None,
                _ => bail!("give either --reference TEXT or --clear"),
            };
            let on_file = agreement.is_some();
            let changes = AccountChange {
                confidentiality_agreement: Some(agreement),
                ..AccountChange::default()
            };
            change(name.clone(), changes).await?;
            if on_file {
                println!("recorded a confidentiality agreement for '{name}'");
            } else {
                println!("cleared the confidentiality agreement of '{name}'");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `token …` administration command.
pub async fn token(app: &Kirjuri, command: TokenAdmin) -> Result<ExitCode> {
    match command {
        TokenAdmin::List { user } => {
            let tokens = app.list_tokens(None, user.as_deref()).await?;
            println!("ID\tUSER\tLABEL\tCREATED\tEXPIRES\tLAST_USED\tREVOKED");
            for token in tokens {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    token.id,
                    token.user,
                    token.label.as_deref().unwrap_or("-"),
                    when(Some(token.created_at)),
                    when(token.expires_at),
                    when(token.last_used_at),
                    when(token.revoked_at),
                );
            }
        }
        TokenAdmin::Revoke { id } => {
            app.revoke_token(None, &id)
                .await
                .with_context(|| format!("failed to revoke token {id}"))?;
            println!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
